"""Jitted molecular dynamics with any jaxpot model.

    from jaxpot import md
    integrator = md.langevin(model, timestep=1.0, temperature=300, friction=0.01)
    result = md.run(integrator, atoms, 10_000, temperature=300, trajectory="nvt.extxyz")
    result.atoms, result.log.temperature

Integrators (:mod:`.integrators`, :mod:`.nose_hoover`, :mod:`.npt`) are ``(init, step)``
pairs of pure functions over a frozen :class:`MDState`; :func:`run` (:mod:`.run`) drives them
in jitted chunks with neighbor-list reallocation, logging, trajectories, checkpoints and
fault checks; :func:`run_replicas` (:mod:`.replicas`) runs one system at several
temperatures, seeds or parameters in one vmapped jit, and :func:`run_batch` (:mod:`.batch`)
systems of different sizes; :func:`metadynamics` (:mod:`.metadynamics`) wraps an integrator
with a well-tempered metadynamics bias on :mod:`.collective_variables`; :mod:`.observables`
turns trajectories into RDF, MSD, diffusion, VACF, VDOS and ionic conductivity.  Units: fs,
K, 1/fs, GPa at the interface; ASE's internally.
"""

from jaxpot.md import collective_variables
from jaxpot.md.batch import run_batch
from jaxpot.md.integrators import langevin, nve
from jaxpot.md.metadynamics import Hills, metadynamics
from jaxpot.md.nose_hoover import nose_hoover
from jaxpot.md.npt import npt
from jaxpot.md.output import MDLog
from jaxpot.md.replicas import ReplicaResult, run_replicas
from jaxpot.md.run import MDResult, run
from jaxpot.md.state import (
                             CellState,
                             ChainState,
                             Integrator,
                             MDError,
                             MDState,
                             kinetic_energy,
                             maxwell_boltzmann,
                             temperature,
)

__all__ = ["CellState", "ChainState", "Hills", "Integrator", "MDError", "MDLog", "MDResult",
           "MDState", "ReplicaResult", "collective_variables", "kinetic_energy", "langevin",
           "maxwell_boltzmann", "metadynamics", "nose_hoover", "npt", "nve", "run", "run_batch",
           "run_replicas", "temperature"]
