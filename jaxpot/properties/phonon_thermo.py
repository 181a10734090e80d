"""Harmonic thermodynamics from phonon frequencies on a q-mesh (phonopy's units and formulas).

Per primitive cell: F = sum hbar w / 2 + kT ln(1 - exp(-hbar w / kT)),
S = sum -k ln(1 - exp(-x)) + k x / (exp(x) - 1), C_v = sum k x^2 exp(x) / (exp(x) - 1)^2,
averaged over the mesh, with x = hbar w / kT; modes below ``cutoff_frequency`` (THz) skipped.
Returned in kJ/mol (F) and J/K/mol (S, C_v) as phonopy's ``ThermalProperties``.

A dynamically unstable crystal (imaginary modes, stored as negative frequencies) has no
harmonic free energy: rather than dropping those modes silently, :func:`thermal_properties`
raises.  The three acoustic modes at Gamma (the three smallest |f| there, as phonopy picks
them) are exempt, and so is any mode within ``imaginary_tolerance`` of zero.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from ase import units

_H_EV_S = 2 * np.pi * units._hbar / units._e  # Planck constant, eV s
_EV_TO_KJ_PER_MOL = units._e * units._Nav / 1000.0
IMAGINARY_TOLERANCE_THZ = 1e-3


class ThermalProperties(NamedTuple):
    temperatures: np.ndarray  # K
    free_energy: np.ndarray  # kJ/mol
    entropy: np.ndarray  # J/K/mol
    heat_capacity: np.ndarray  # J/K/mol


def check_no_imaginary_modes(frequencies_thz, tolerance: float = IMAGINARY_TOLERANCE_THZ,
                             gamma_index: int | None = None) -> None:
    """Raise ValueError naming the number of imaginary modes and the most negative frequency
    (THz) if any of the (nq, nmodes) ``frequencies_thz`` is below ``-tolerance`` THz, or any is
    not finite.  With ``gamma_index`` (the row of q = 0) the three acoustic modes there are
    exempt."""
    f = np.array(frequencies_thz, float).reshape(len(frequencies_thz), -1)
    if not np.all(np.isfinite(f)):
        raise ValueError(f"{int((~np.isfinite(f)).sum())} phonon frequencies are NaN or inf")
    if gamma_index is not None:
        acoustic = np.argsort(np.abs(f[gamma_index]))[:3]
        f[gamma_index, acoustic] = 0.0
    imaginary = f < -abs(tolerance)
    if imaginary.any():
        q_rows = np.unique(np.nonzero(imaginary)[0])
        raise ValueError(
            f"dynamically unstable: {int(imaginary.sum())} imaginary modes (frequency < "
            f"-{abs(tolerance):g} THz) at {len(q_rows)} of {f.shape[0]} q-points, most negative "
            f"{f.min():.4g} THz; harmonic thermodynamics is undefined (relax the structure or "
            f"pick a stable phase)")


def thermal_properties(frequencies_thz, temperatures, cutoff_frequency: float = 1e-5,
                       imaginary_tolerance: float = IMAGINARY_TOLERANCE_THZ,
                       gamma_index: int | None = None) -> ThermalProperties:
    """Thermodynamics from (nq, nmodes) frequencies in THz at ``temperatures`` (K, >= 0).

    Modes below ``cutoff_frequency`` (THz) are skipped, as in phonopy.  ``gamma_index``: the row
    of ``frequencies_thz`` at q = 0, whose three acoustic modes may be any small number.

    Raises:
        ValueError: imaginary modes below ``-imaginary_tolerance`` THz (see
            :func:`check_no_imaginary_modes`), non-finite frequencies, or temperatures that are
            negative or not finite.
    """
    check_no_imaginary_modes(frequencies_thz, imaginary_tolerance, gamma_index)
    f = np.asarray(frequencies_thz, float).reshape(len(frequencies_thz), -1)
    nq = f.shape[0]
    energies = f[f > cutoff_frequency] * 1e12 * _H_EV_S  # eV
    temps = np.atleast_1d(np.asarray(temperatures, float))
    if not np.all(np.isfinite(temps)) or np.any(temps < 0):
        raise ValueError(f"temperatures must be finite and >= 0 K, got {temps.tolist()}")
    free, entropy, cv = [], [], []
    for t in temps:
        zero_point = 0.5 * energies.sum()
        if t <= 0:
            free.append(zero_point)
            entropy.append(0.0)
            cv.append(0.0)
            continue
        kt = units.kB * t
        x = energies / kt
        free.append(zero_point + kt * np.log1p(-np.exp(-x)).sum())
        entropy.append(units.kB * (-np.log1p(-np.exp(-x)) + x / np.expm1(x)).sum())
        cv.append(units.kB * (x ** 2 * np.exp(x) / np.expm1(x) ** 2).sum())
    scale = _EV_TO_KJ_PER_MOL / nq
    return ThermalProperties(temps, np.array(free) * scale, np.array(entropy) * scale * 1000.0,
                             np.array(cv) * scale * 1000.0)
