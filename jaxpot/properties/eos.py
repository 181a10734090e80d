"""Equation of state: E(V) scan and third-order Birch–Murnaghan fit, plus the autodiff bulk
modulus ``B = V d2E/dV2`` under isotropic scaling with exact internal relaxation.

    E(V) = E0 + 9 V0 B0 / 16 { [x - 1]^3 B0' + [x - 1]^2 [6 - 4 x] },   x = (V0 / V)^(2/3)
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np
from scipy.optimize import curve_fit

from jaxpot.model import EnergyModel
from jaxpot.properties._common import prepare, require_periodic, voigt_strain_derivatives
from jaxpot.properties.relax import relax
from jaxpot.space import volume
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


N_PARAMETERS = 4  # E0, V0, B0, B0'
MIN_RELATIVE_SPREAD = 1e-3  # (Vmax - Vmin) / Vmean below this cannot pin down B0 and B0'


def check_eos_volumes(volumes) -> np.ndarray:
    """``volumes`` (Å^3) as a float array; ValueError naming the problem unless they can
    determine a Birch–Murnaghan fit: 1-D, finite and positive, at least ``N_PARAMETERS`` of
    them, no duplicates, and a relative spread (Vmax - Vmin) / Vmean >= ``MIN_RELATIVE_SPREAD``."""
    v = np.asarray(volumes, float)
    if v.ndim != 1:
        raise ValueError(f"volumes must be a 1-D sequence, got shape {v.shape}")
    bad = np.flatnonzero(~np.isfinite(v) | (v <= 0))
    if bad.size:
        raise ValueError(f"volumes must be finite and positive, got {v[bad].tolist()} Å^3 "
                         f"at indices {bad.tolist()}")
    if len(v) < N_PARAMETERS:
        raise ValueError(f"too few volumes: {len(v)} for the {N_PARAMETERS} parameters of a "
                         f"Birch-Murnaghan fit (E0, V0, B0, B0'); need at least {N_PARAMETERS}")
    ordered = np.sort(v)
    duplicate = np.diff(ordered) <= 1e-9 * ordered[1:]
    if duplicate.any():
        raise ValueError(f"degenerate volumes: {sorted(set(ordered[1:][duplicate].tolist()))} "
                         f"Å^3 appear more than once; every scanned volume must be distinct")
    spread = (v.max() - v.min()) / v.mean()
    if spread < MIN_RELATIVE_SPREAD:
        raise ValueError(f"volume range too narrow: relative spread (Vmax - Vmin) / Vmean = "
                         f"{spread:.2e} < {MIN_RELATIVE_SPREAD:g} (linear strain range "
                         f"~{spread / 3:.1e}); B0 and B0' are not determined, scan a wider range")
    return v


def fit_birch_murnaghan(volumes, energies) -> EOSResult:
    """Least-squares Birch–Murnaghan fit of E(V) (Å^3, eV).

    Raises:
        ValueError: naming the problem when the data cannot determine the fit: too few,
            duplicate or too narrowly spread volumes (:func:`check_eos_volumes`), non-finite
            energies, no energy minimum (E(V) not convex), a one-sided scan (fitted V0 outside
            the sampled volumes) or a failed / unphysical fit (B0 <= 0).
    """
    volumes = check_eos_volumes(volumes)
    energies = np.asarray(energies, float)
    if energies.shape != volumes.shape:
        raise ValueError(f"energies have shape {energies.shape}, volumes {volumes.shape}")
    bad = np.flatnonzero(~np.isfinite(energies))
    if bad.size:
        raise ValueError(f"non-finite energies {energies[bad].tolist()} eV at volumes "
                         f"{volumes[bad].tolist()} Å^3 (indices {bad.tolist()})")
    vmin, vmax = volumes.min(), volumes.max()
    a, b, c = np.polyfit(volumes, energies, 2)
    if not a > 0:
        raise ValueError(f"E(V) has no minimum over the sampled volumes [{vmin:.6g}, "
                         f"{vmax:.6g}] Å^3 (parabola curvature {a:.3e} eV/Å^6 <= 0); sample "
                         f"volumes around the equilibrium volume")
    v0 = -b / (2 * a)
    guess = (a * v0 ** 2 + b * v0 + c, v0, 2 * a * v0, 4.0)
    try:  # trial steps may take V0 <= 0 (NaN powers); the result is checked below
        with np.errstate(invalid="ignore", over="ignore"):
            popt, _ = curve_fit(birch_murnaghan, volumes, energies, p0=guess, maxfev=20000)
    except RuntimeError as err:
        raise ValueError(f"Birch-Murnaghan fit failed over volumes [{vmin:.6g}, {vmax:.6g}] "
                         f"Å^3: {err}") from err
    e0, v0, b0, b0p = popt
    if not np.all(np.isfinite(popt)):
        raise ValueError(f"Birch-Murnaghan fit gave non-finite parameters {popt.tolist()}")
    if not vmin <= v0 <= vmax:
        end = "lower" if v0 < vmin else "upper"
        raise ValueError(f"one-sided volume scan: the fitted V0 = {v0:.6g} Å^3 lies outside the "
                         f"sampled volumes [{vmin:.6g}, {vmax:.6g}] Å^3 (the energy minimum is "
                         f"beyond the {end} end of the range); sample volumes on both sides "
                         f"of the minimum")
    if not b0 > 0:
        raise ValueError(f"Birch-Murnaghan fit gave a non-positive bulk modulus "
                         f"B0 = {b0 / GPa:.4g} GPa")
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

    Raises:
        StructureError: ``atoms`` is not periodic along all three lattice vectors.
        ValueError: volumes / strains that cannot determine the fit (checked before the scan),
            or a scan the fit cannot use (see :func:`fit_birch_murnaghan`).
    """
    base = require_periodic(atoms, "equation of state").to_ase()
    if volumes is not None:
        strains = (check_eos_volumes(volumes) / base.get_volume()) ** (1.0 / 3.0) - 1.0
    strains = np.asarray(strains, float)
    if strains.ndim != 1 or not np.all(np.isfinite(strains)) or np.any(strains <= -1):
        raise ValueError(f"strains must be a 1-D sequence of finite numbers > -1, got {strains}")
    check_eos_volumes(base.get_volume() * (1.0 + strains) ** 3)
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
    (the relaxed-ion response from the position Hessian, as for elastic constants).

    Raises:
        StructureError: ``atoms`` is not periodic along all three lattice vectors.
    """
    prep = prepare(model, require_periodic(atoms, "bulk modulus"))
    pos0, cell0 = prep.positions, prep.cell
    v0 = float(volume(cell0))

    # linear scale exp(s) (V = V0 exp(3 s)) is the Voigt strain s (1, 1, 1, 0, 0, 0) to first
    # order; its second-order term s^2 / 2 adds dE/ds to d2E/ds2 (the program elastic
    # constants compile: one for both)
    d = voigt_strain_derivatives(model, pos0, cell0, prep.species, prep.neighbors)
    iso = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    d1 = float(iso @ np.asarray(d.de_de))
    d2 = float(iso @ np.asarray(d.d2e_dee) @ iso) + d1
    n = pos0.shape[0]
    h = np.asarray(d.d2e_drr).reshape(3 * n, 3 * n)
    mixed = np.asarray(d.d2e_dre).reshape(3 * n, 6) @ iso
    w, v = np.linalg.eigh(0.5 * (h + h.T))
    keep = np.abs(w) > 1e-8 * np.abs(w).max()
    proj = v[:, keep].T @ mixed
    d2 -= float(proj @ (proj / w[keep]))
    # s = ln(V/V0)/3: d2E/dV2 = (d2E/ds2 - 3 dE/ds) / (9 V^2)
    return (d2 - 3.0 * d1) / (9.0 * v0) / GPa
