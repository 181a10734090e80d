"""Quasi-harmonic approximation: F(V, T) = E(V) + F_vib(V, T), minimised over V at each T.

Each volume is an isotropically scaled copy of the input cell (ions relaxed at fixed cell when
there are internal degrees of freedom); phonons come from the autodiff Hessian at each volume.
For each temperature F(V) is fitted with the same equation of state phonopy's QHA uses
(Birch–Murnaghan here), giving V(T), B(T) and the linear expansion alpha = (1/3V) dV/dT.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from jaxpot.model import EnergyModel
from jaxpot.properties._common import prepare, require_periodic
from jaxpot.properties.eos import check_eos_volumes, fit_birch_murnaghan
from jaxpot.properties.phonon_thermo import _EV_TO_KJ_PER_MOL
from jaxpot.properties.phonons import phonons
from jaxpot.properties.relax import relax


class QHAResult(NamedTuple):
    temperatures: np.ndarray  # K
    volumes: np.ndarray  # (nT,) equilibrium volume, Å^3 per cell
    bulk_modulus: np.ndarray  # (nT,) GPa
    thermal_expansion: np.ndarray  # (nT,) linear alpha, 1/K
    scan_volumes: np.ndarray  # (nV,)
    electronic_energies: np.ndarray  # (nV,) eV
    free_energies: np.ndarray  # (nT, nV) kJ/mol, F_vib
    entropies: np.ndarray  # (nT, nV) J/K/mol
    heat_capacities: np.ndarray  # (nT, nV) J/K/mol


def quasi_harmonic(model: EnergyModel, atoms, supercell=(3, 3, 3), temperatures=None,
                   strains=np.linspace(-0.012, 0.012, 7), mesh=(12, 12, 12),
                   relax_ions: bool = True) -> QHAResult:
    """QHA thermal expansion of the (relaxed) cell ``atoms``; see module docstring.

    Args:
        temperatures: K, finite, >= 0 and strictly increasing, at least two (default
            0..1000 K in steps of 10 K).
        strains: linear strains of the scanned cells (at least 4 distinct volumes).

    Raises:
        StructureError: ``atoms`` is not periodic along all three lattice vectors.
        ValueError: bad temperatures or strains; imaginary phonon modes at a scanned volume
            (naming the volume index, the number of modes and the most negative frequency);
            or a free-energy curve F(V) at some temperature that the equation of state cannot
            fit, e.g. its minimum outside the scanned volumes (naming the temperature).
    """
    require_periodic(atoms, "quasi-harmonic approximation")
    temps = np.arange(0.0, 1001.0, 10.0) if temperatures is None \
        else np.asarray(temperatures, float)
    if temps.ndim != 1 or len(temps) < 2 or not np.all(np.isfinite(temps)) \
            or np.any(temps < 0) or np.any(np.diff(temps) <= 0):
        raise ValueError(f"temperatures must be at least two finite, non-negative and strictly "
                         f"increasing values in K, got {temps.tolist()}")
    strains = np.asarray(strains, float)
    if strains.ndim != 1 or not np.all(np.isfinite(strains)) or np.any(strains <= -1):
        raise ValueError(f"strains must be a 1-D sequence of finite numbers > -1, got {strains}")
    check_eos_volumes(atoms.get_volume() * (1.0 + strains) ** 3)
    volumes, energies, free, entropy, cv = [], [], [], [], []
    for i, s in enumerate(strains):
        scaled = atoms.copy()
        scaled.set_cell(atoms.cell.array * (1.0 + s), scale_atoms=True)
        if relax_ions and len(scaled) > 1:
            result = relax(model, scaled, relax_cell=False, fmax=1e-7, symmetrize=True)
            scaled = result.atoms
            energy = result.energy
        else:
            prep = prepare(model, scaled)
            energy = float(jax.jit(model.energy)(prep.positions, prep.cell, prep.species,
                                                 prep.neighbors))
        ph = phonons(model, scaled, supercell)
        try:
            tp = ph.thermal_properties(temps, mesh)
        except ValueError as err:
            raise ValueError(f"QHA volume index {i} (strain {s:+.4g}, V = "
                             f"{scaled.get_volume():.6g} Å^3): {err}") from err
        volumes.append(scaled.get_volume())
        energies.append(energy)
        free.append(tp.free_energy)
        entropy.append(tp.entropy)
        cv.append(tp.heat_capacity)
    volumes, energies = np.array(volumes), np.array(energies)
    free, entropy, cv = np.array(free).T, np.array(entropy).T, np.array(cv).T
    v_t, b_t = [], []
    for t, f_vib in zip(temps, free):
        try:
            fit = fit_birch_murnaghan(volumes, energies + f_vib / _EV_TO_KJ_PER_MOL)
        except ValueError as err:
            raise ValueError(f"QHA free energy F(V) at T = {t:g} K: {err}; widen the strains "
                             f"or lower the temperatures") from err
        v_t.append(fit.v0)
        b_t.append(fit.b0)
    v_t = np.array(v_t)
    alpha = np.gradient(v_t, temps) / (3.0 * v_t)
    return QHAResult(temps, v_t, np.array(b_t), alpha, volumes, energies, free, entropy, cv)
