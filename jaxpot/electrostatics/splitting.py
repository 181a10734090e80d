"""Ewald splitting parameters chosen from a requested accuracy.

The Coulomb sum is split at ``alpha`` (Å^-1) into a real-space part ``erfc(alpha r) / r`` summed
to ``r_cut`` and a reciprocal part ``exp(-k^2 / 4 alpha^2) / k^2`` summed to ``k_cut``.  For a
relative accuracy ``eps`` both tails are cut where their Gaussian factor is ``eps``::

    alpha = sqrt(-ln eps) / r_cut          (exp(-alpha^2 r_cut^2) = eps)
    k_cut = 2 alpha sqrt(-ln eps)           (exp(-k_cut^2 / 4 alpha^2) = eps)

(the choice of GROMACS' ``ewald-rtol`` and of Kolafa & Perram, Mol. Sim. 9, 351 (1992), whose
error estimates are both proportional to these factors).  ``accuracy`` is therefore the relative
size of the neglected terms, not LAMMPS' absolute force accuracy (which is relative to the force
between two unit charges 1 Å apart).  The reciprocal sum keeps every wave vector of the box
``|m_d| <= ceil(|a_d| k_cut / 2 pi)``, a superset of the sphere ``|k| <= k_cut``, so the energy
is smooth in the cell (no k-vector enters or leaves under strain).

Smooth PME (:mod:`jaxpot.electrostatics.pme_mesh`) interpolates charges onto a mesh with
cardinal B-splines of ``order`` p; its aliasing error falls like ``(h alpha)^p`` for mesh
spacing ``h``.  :func:`pme_mesh_spacing` picks ``h = c_p eps^(1/p) / alpha`` with ``c_p``
measured against plain Ewald on random ionic cells (tests/test_electrostatics.py), so that PME
meets the requested accuracy too.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

#: smallest relative accuracy each float type can deliver (the sums lose ~3 digits)
_FLOOR = {"float32": 1e-5, "float64": 1e-13}
#: c_p of the mesh spacing rule, per B-spline order (measured; see the module docstring)
_MESH_FACTOR = {4: 1.0, 6: 1.4, 8: 1.4}
#: most mesh points a PME part may ask for (about 8 GB of complex128 work arrays)
MAX_MESH_POINTS = 512 ** 3


class Splitting(NamedTuple):
    """``alpha`` Å^-1, ``r_cut`` Å, ``k_cut`` Å^-1 (see the module docstring)."""

    alpha: float
    r_cut: float
    k_cut: float

    @property
    def wavelength(self) -> float:
        """Shortest wavelength ``2 pi / k_cut`` (Å): the reciprocal grid spacing of Ewald."""
        return 2.0 * math.pi / self.k_cut


def check_accuracy(accuracy: float, name: str = "accuracy") -> float:
    """A relative accuracy in (0, 0.1]; below 1e-13 float64 cannot deliver it."""
    try:
        eps = float(accuracy)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in (0, 0.1], got {accuracy!r}") from None
    if not (np.isfinite(eps) and 0 < eps <= 0.1):
        raise ValueError(f"{name} must be a relative accuracy in (0, 0.1], got {accuracy!r}")
    if eps < _FLOOR["float64"]:
        raise ValueError(f"{name}={eps:g} cannot be met: float64 sums deliver about "
                         f"{_FLOOR['float64']:g} at best")
    return eps


def check_dtype_accuracy(accuracy: float, dtype, name: str) -> None:
    """Raise if ``dtype`` arithmetic cannot deliver ``accuracy`` (float32 below 1e-5)."""
    floor = _FLOOR.get(np.dtype(dtype).name, 0.0)
    if accuracy < floor:
        raise ValueError(f"{name}: accuracy={accuracy:g} cannot be met in {np.dtype(dtype).name}"
                         f" (about {floor:g} at best); enable float64 "
                         "(jax.config.update('jax_enable_x64', True)) or ask for less")


def ewald_splitting(accuracy: float, r_cut: float) -> Splitting:
    """``alpha`` and ``k_cut`` for a relative ``accuracy`` and real-space cutoff ``r_cut`` (Å)."""
    eps = check_accuracy(accuracy)
    if not (np.isfinite(r_cut) and r_cut > 0):
        raise ValueError(f"r_cut must be a positive finite length in Å, got {r_cut!r}")
    p = -math.log(0.5 * eps)  # each of the two tails gets half the error budget
    alpha = math.sqrt(p) / float(r_cut)
    return Splitting(alpha=alpha, r_cut=float(r_cut), k_cut=2.0 * alpha * math.sqrt(p))


def pme_mesh_spacing(alpha: float, accuracy: float, order: int) -> float:
    """Mesh spacing ``h`` (Å) for B-splines of ``order`` to reach ``accuracy`` at ``alpha``."""
    if order not in _MESH_FACTOR:
        raise ValueError(f"PME order must be one of {sorted(_MESH_FACTOR)} (even B-spline "
                         f"orders), got {order!r}")
    return _MESH_FACTOR[order] * check_accuracy(accuracy) ** (1.0 / order) / alpha


def fft_size(n: int, minimum: int = 1) -> int:
    """Smallest ``2^a 3^b 5^c >= max(n, minimum)`` (sizes FFTs are fast at)."""
    n = max(int(n), int(minimum), 1)
    while True:
        m = n
        for f in (2, 3, 5):
            while m % f == 0:
                m //= f
        if m == 1:
            return n
        n += 1


def part_grid(grid: tuple[int, ...], grid_spacing: float, spacing: float) -> tuple[int, ...]:
    """Points a part of spacing ``spacing`` needs along each lattice vector, from a neighbor
    list's ``reciprocal_grid`` made at ``grid_spacing`` <= ``spacing``."""
    return tuple(max(1, math.ceil(g * grid_spacing / spacing - 1e-9)) for g in grid)
