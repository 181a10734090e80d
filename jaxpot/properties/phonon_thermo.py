"""Harmonic thermodynamics from phonon frequencies on a q-mesh (phonopy's units and formulas).

Per primitive cell: F = sum hbar w / 2 + kT ln(1 - exp(-hbar w / kT)),
S = sum -k ln(1 - exp(-x)) + k x / (exp(x) - 1), C_v = sum k x^2 exp(x) / (exp(x) - 1)^2,
averaged over the mesh, with x = hbar w / kT; modes below ``cutoff_frequency`` (THz) skipped.
Returned in kJ/mol (F) and J/K/mol (S, C_v) as phonopy's ``ThermalProperties``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from ase import units

_H_EV_S = 2 * np.pi * units._hbar / units._e  # Planck constant, eV s
_EV_TO_KJ_PER_MOL = units._e * units._Nav / 1000.0


class ThermalProperties(NamedTuple):
    temperatures: np.ndarray  # K
    free_energy: np.ndarray  # kJ/mol
    entropy: np.ndarray  # J/K/mol
    heat_capacity: np.ndarray  # J/K/mol


def thermal_properties(frequencies_thz, temperatures, cutoff_frequency: float = 1e-5
                       ) -> ThermalProperties:
    """Thermodynamics from (nq, nmodes) frequencies in THz at ``temperatures`` (K)."""
    f = np.asarray(frequencies_thz, float).reshape(len(frequencies_thz), -1)
    nq = f.shape[0]
    energies = f[f > cutoff_frequency] * 1e12 * _H_EV_S  # eV
    temps = np.atleast_1d(np.asarray(temperatures, float))
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
