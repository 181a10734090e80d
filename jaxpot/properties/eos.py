"""Equation of state: E(V) scan and third-order Birch–Murnaghan fit, plus the autodiff bulk
modulus ``B = V d2E/dV2`` under isotropic scaling with exact internal relaxation.

    E(V) = E0 + 9 V0 B0 / 16 { [x - 1]^3 B0' + [x - 1]^2 [6 - 4 x] },   x = (V0 / V)^(2/3)
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import curve_fit

from jaxpot.model import EnergyModel
from jaxpot.properties._common import prepare
from jaxpot.properties.relax import relax
from jaxpot.space import volume
from jaxpot.structure import StructureError, as_structure
from jaxpot.units import GPa


class EOSResult(NamedTuple):
    """Birch–Murnaghan fit: V0 Å^3, E0 eV, B0 GPa, B0' and the scanned data (per cell)."""

    v0: float
    e0: float
    b0: float
    b0_prime: float
    volumes: np.ndarray
    energies: np.ndarray


def birch_murnaghan(v, e0, v0, b0, b0p):
    """Third-order Birch–Murnaghan energy; B0 in eV/Å^3."""
    x = (v0 / v) ** (2.0 / 3.0)
    return e0 + 9.0 * v0 * b0 / 16.0 * ((x - 1.0) ** 3 * b0p + (x - 1.0) ** 2 * (6.0 - 4.0 * x))


def fit_birch_murnaghan(volumes, energies) -> EOSResult:
    """Least-squares Birch–Murnaghan fit of E(V) (Å^3, eV)."""
    volumes, energies = np.asarray(volumes, float), np.asarray(energies, float)
    a, b, c = np.polyfit(volumes, energies, 2)
    v0 = -b / (2 * a)
    guess = (a * v0 ** 2 + b * v0 + c, v0, 2 * a * v0, 4.0)
    popt, _ = curve_fit(birch_murnaghan, volumes, energies, p0=guess, maxfev=20000)
    e0, v0, b0, b0p = popt
    return EOSResult(float(v0), float(e0), float(b0 / GPa), float(b0p), volumes, energies)


def equation_of_state(model: EnergyModel, atoms, strains=(-0.03, -0.0225, -0.015, -0.0075, 0.0,
                                                     0.0075, 0.015, 0.0225, 0.03),
                      volumes=None, relax_ions: bool = True) -> EOSResult:
    """E(V) scan of isotropically scaled copies of ``atoms`` and a Birch–Murnaghan fit.

    Args:
        model: any jaxpot model. atoms: ase.Atoms or Structure (periodic).
        strains: linear strains s, each cell (and positions) scaled by ``1 + s``.
        volumes: cell volumes in Å^3 to scan instead of ``strains`` (at least 4).
        relax_ions: relax ions at fixed cell for each volume (FIRE, fmax 1e-6 eV/Å).

    Returns:
        :class:`EOSResult` per cell of ``atoms`` (V0 Å^3, E0 eV, B0 GPa, B0').
    """
    base = as_structure(atoms).to_ase()
    if not base.pbc.all():
        raise StructureError(f"equation of state needs a periodic structure, got pbc={base.pbc}")
    if volumes is not None:
        strains = (np.asarray(volumes, float) / base.get_volume()) ** (1.0 / 3.0) - 1.0
    strains = np.asarray(strains, float)
    if strains.ndim != 1 or len(strains) < 4 or np.any(strains <= -1):
        raise ValueError(f"need at least 4 positive volumes / strains > -1, got {strains}")
    scanned, energies = [], []
    for s in strains:
        scaled = base.copy()
        scaled.set_cell(base.cell.array * (1.0 + s), scale_atoms=True)
        if relax_ions:
            energy = relax(model, scaled, relax_cell=False, fmax=1e-6).energy
        else:
            prep = prepare(model, scaled)
            energy = float(_energy(model, prep.positions, prep.cell, prep.species, prep.neighbors))
        scanned.append(scaled.get_volume())
        energies.append(energy)
    return fit_birch_murnaghan(scanned, energies)


@jax.jit
def _energy(model, positions, cell, species, neighbors):
    return model.energy(positions, cell, species, neighbors)


def bulk_modulus(model: EnergyModel, atoms) -> float:
    """B = V d2E/dV2 (GPa) by autodiff under isotropic scaling, with exact ionic relaxation
    (the relaxed-ion response from the position Hessian, as for elastic constants)."""
    prep = prepare(model, atoms)
    pos0, cell0 = prep.positions, prep.cell
    v0 = float(volume(cell0))

    def energy(log_scale, positions):  # linear scale exp(s): V = V0 exp(3 s)
        f = jnp.exp(log_scale)
        return model.energy(positions * f, cell0 * f, prep.species, prep.neighbors)

    zero = jnp.asarray(0.0, pos0.dtype)
    d1 = float(jax.jit(jax.grad(energy))(zero, pos0))
    d2 = float(jax.jit(jax.hessian(energy, argnums=0))(zero, pos0))
    n = pos0.shape[0]
    h = np.asarray(jax.jit(jax.hessian(energy, argnums=1))(zero, pos0)).reshape(3 * n, 3 * n)
    mixed = jax.jit(jax.jacfwd(jax.grad(energy, argnums=1), argnums=0))(zero, pos0)
    mixed = np.asarray(mixed).reshape(-1)
    w, v = np.linalg.eigh(0.5 * (h + h.T))
    keep = np.abs(w) > 1e-8 * np.abs(w).max()
    proj = v[:, keep].T @ mixed
    d2 -= float(proj @ (proj / w[keep]))
    # s = ln(V/V0)/3: d2E/dV2 = (d2E/ds2 - 3 dE/ds) / (9 V^2)
    return (d2 - 3.0 * d1) / (9.0 * v0) / GPa
