"""Static tables of the SNAP bispectrum: Clebsch–Gordan blocks and LAMMPS's component order.

Angular momenta are in LAMMPS's doubled units (``j = 2J``, so j = 0..twojmax) and magnetic
indices run 0..j (m = 2M + j over 2).  Everything here is NumPy, computed once per
``twojmax`` (cached), and hashable inputs only.
"""

from __future__ import annotations

from functools import cache
from math import factorial, sqrt

import numpy as np


def clebsch_gordan(j1: int, j2: int, j: int) -> np.ndarray:
    """Clebsch–Gordan block C[m1, m2, m] = <j1/2 M1 j2/2 M2 | j/2 M> with M = m - j/2 etc.

    Shape (j1+1, j2+1, j+1); Racah's formula (Condon–Shortley phases), zero where M1 + M2 != M.
    """
    if not (abs(j1 - j2) <= j <= j1 + j2 and (j1 + j2 - j) % 2 == 0):
        raise ValueError(f"({j1}, {j2}, {j}) is not a valid coupling (doubled units)")
    out = np.zeros((j1 + 1, j2 + 1, j + 1))
    delta = sqrt(factorial((j1 + j2 - j) // 2) * factorial((j1 - j2 + j) // 2)
                 * factorial((-j1 + j2 + j) // 2) / factorial((j1 + j2 + j) // 2 + 1))
    for m1 in range(j1 + 1):
        a2 = 2 * m1 - j1
        for m2 in range(j2 + 1):
            b2 = 2 * m2 - j2
            c2 = a2 + b2
            if abs(c2) > j:
                continue
            m = (c2 + j) // 2
            total = 0.0
            lo = max(0, -(j - j2 + a2) // 2, -(j - j1 - b2) // 2)
            hi = min((j1 + j2 - j) // 2, (j1 - a2) // 2, (j2 + b2) // 2)
            for z in range(lo, hi + 1):
                total += (-1) ** z / (
                    factorial(z) * factorial((j1 + j2 - j) // 2 - z)
                    * factorial((j1 - a2) // 2 - z) * factorial((j2 + b2) // 2 - z)
                    * factorial((j - j2 + a2) // 2 + z) * factorial((j - j1 - b2) // 2 + z))
            norm = sqrt(factorial((j1 + a2) // 2) * factorial((j1 - a2) // 2)
                        * factorial((j2 + b2) // 2) * factorial((j2 - b2) // 2)
                        * factorial((j + c2) // 2) * factorial((j - c2) // 2) * (j + 1))
            out[m1, m2, m] = total * delta * norm
    return out


@cache
def bispectrum_indices(twojmax: int) -> tuple[tuple[int, int, int], ...]:
    """(j1, j2, j) of each bispectrum component in LAMMPS ``compute sna/atom`` order:
    j1 = 0..twojmax, j2 = 0..j1, j = j1-j2..min(twojmax, j1+j2) step 2, kept if j >= j1."""
    out = []
    for j1 in range(twojmax + 1):
        for j2 in range(j1 + 1):
            for j in range(j1 - j2, min(twojmax, j1 + j2) + 1, 2):
                if j >= j1:
                    out.append((j1, j2, j))
    return tuple(out)


def n_bispectrum(twojmax: int) -> int:
    """Number of bispectrum components for ``twojmax`` (30 for 6, 55 for 8)."""
    return len(bispectrum_indices(twojmax))


@cache
def cg_blocks(twojmax: int) -> tuple[np.ndarray, ...]:
    """Clebsch–Gordan block of each component of :func:`bispectrum_indices` (cached)."""
    return tuple(clebsch_gordan(*t) for t in bispectrum_indices(twojmax))


def quadratic_pairs(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LAMMPS's quadratic order: for k = 0..n-1, (k, k) then (k, l) for l > k.

    Returns (first, second, factor) index arrays with factor 0.5 on the diagonal (the
    quadratic feature is factor * B_first * B_second, as ``compute sna/atom`` writes it)."""
    first, second, factor = [], [], []
    for k in range(n):
        for l in range(k, n):
            first.append(k)
            second.append(l)
            factor.append(0.5 if k == l else 1.0)
    return np.array(first), np.array(second), np.array(factor)
