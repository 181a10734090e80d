"""Shared set-up for property calculations: arrays, neighbor list and species check."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.compiler import run_once_programs
from jaxpot.model import EnergyModel, check_host_inputs
from jaxpot.neighbors import NeighborList, allocate_for_model
from jaxpot.precision import check_precision
from jaxpot.space import voigt_strain_to_full
from jaxpot.structure import Structure, StructureError, as_structure, check_species_known


class Prepared(NamedTuple):
    """A structure as arrays plus a neighbor list for ``model.cutoff + skin``."""

    structure: Structure
    neighbors: NeighborList

    @property
    def positions(self):
        return self.structure.positions

    @property
    def cell(self):
        return self.structure.cell

    @property
    def species(self):
        return self.structure.species


def prepare(model: EnergyModel, atoms, skin: float = 0.0) -> Prepared:
    """Validate ``atoms`` (ase.Atoms or Structure) for ``model`` and build a neighbor list."""
    check_precision(model, "jaxpot.properties")
    structure = as_structure(atoms, dtype=jnp.result_type(float))
    check_species_known(np.asarray(structure.species), model.species, model.name)
    check_host_inputs(model, np.asarray(structure.species))
    nbrs = allocate_for_model(model, np.asarray(structure.positions),
                              np.asarray(structure.cell), structure.pbc, skin=skin)
    return Prepared(structure, nbrs)


def require_periodic(atoms, what: str) -> Structure:
    """``atoms`` (ase.Atoms or Structure) as a Structure; raise :class:`StructureError` naming
    the pbc unless it is periodic along all three lattice vectors (``what`` names the caller)."""
    structure = as_structure(atoms)
    if not all(structure.pbc):
        raise StructureError(f"{what} needs a periodic structure (pbc True along all three "
                             f"lattice vectors), got pbc={[bool(p) for p in structure.pbc]}")
    return structure


class StrainDerivatives(NamedTuple):
    """Derivatives of E(e, r): Voigt strain e (6,) and positions r (N, 3); eV, Å."""

    de_de: jnp.ndarray  # (6,)
    d2e_dee: jnp.ndarray  # (6, 6)
    d2e_drr: jnp.ndarray  # (N, 3, N, 3) the force-constant matrix
    d2e_dre: jnp.ndarray  # (N, 3, 6)


#: the most atoms whose second-derivative programs (elastic constants, bulk modulus, force
#: constants) compile without XLA's optimisation (:data:`jaxpot.compiler.RUN_ONCE`): they run
#: once per structure, and for a small cell compiling is most of the wait (a default SOAP GAP,
#: 2-atom Si: elastic constants 49.8 s compile + 0.25 s run, without optimisation 30.4 +
#: 0.31 s); their run time grows as N^2 (54 atoms: force constants 53.8 + 7.7 s against 32.3 +
#: 19.9 s), so larger cells keep the optimised program
SECOND_DERIVATIVES_RUN_ONCE_MAX_ATOMS = 32


def _voigt_strain_derivatives(model: EnergyModel, positions, cell, species,
                              neighbors) -> StrainDerivatives:
    n = positions.shape[0]

    def energy(x):  # x = (e (6,), r (3N,))
        deformation = jnp.eye(3, dtype=x.dtype) + voigt_strain_to_full(x[:6])
        r = x[6:].reshape(n, 3)
        return model.energy(r @ deformation, cell @ deformation, species, neighbors)

    def gradient(x):
        g = jax.grad(energy)(x)
        return g, g

    x = jnp.concatenate([jnp.zeros(6, positions.dtype), positions.reshape(-1)])
    h, g = jax.jacfwd(gradient, has_aux=True)(x)
    return StrainDerivatives(g[:6], h[:6, :6], h[6:, 6:].reshape(n, 3, n, 3),
                             h[6:, :6].reshape(n, 3, 6))


_voigt_programs = run_once_programs(_voigt_strain_derivatives)


def voigt_strain_derivatives(model: EnergyModel, positions, cell, species,
                             neighbors) -> StrainDerivatives:
    """dE/de and the whole Hessian of E over (e, r) at zero engineering Voigt strain e (6,)
    applied as x -> x (I + eps(e)) to positions r and cell, in one forward-over-reverse pass
    and one compiled program (a Hessian per block traced the model once per block: a SOAP
    GAP's elastic constants compiled 26 s).  Elastic constants and the bulk modulus share it."""
    program = _voigt_programs.for_atoms(positions.shape[0],
                                        SECOND_DERIVATIVES_RUN_ONCE_MAX_ATOMS)
    return program(model, positions, cell, species, neighbors)
