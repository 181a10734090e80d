"""Periodic cells: rows of ``cell`` are lattice vectors (ASE convention), positions are Cartesian Å.

All functions are pure and work on NumPy or JAX arrays.  Non-periodic directions are allowed
(``pbc`` False): they are never wrapped and never get image shifts.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxpot.types import Array


def volume(cell: Array) -> Array:
    """Cell volume |det(cell)| in Å^3 (left-handed cells give a positive volume)."""
    return jnp.abs(jnp.linalg.det(cell))


def to_fractional(positions: Array, cell: Array) -> Array:
    """Cartesian (N, 3) Å -> fractional (N, 3) coordinates, ``positions = frac @ cell``."""
    return jnp.linalg.solve(cell.T, positions.T).T


def to_cartesian(fractional: Array, cell: Array) -> Array:
    """Fractional (N, 3) -> Cartesian (N, 3) Å."""
    return fractional @ cell


def wrap_positions(positions: Array, cell: Array, pbc=(True, True, True)) -> Array:
    """Wrap positions into the home cell along periodic directions only."""
    frac = to_fractional(positions, cell)
    mask = jnp.asarray(pbc, dtype=bool)
    frac = jnp.where(mask, frac - jnp.floor(frac), frac)
    return frac @ cell


def perpendicular_widths(cell) -> np.ndarray:
    """Distances (Å) between opposite faces of the cell, (3,): ``V / |a_j x a_k|``.

    A sphere of radius r fits inside the cell along direction i when ``2 r <= width_i``.
    Works on host (NumPy) arrays.
    """
    cell = np.asarray(cell, dtype=float)
    vol = abs(np.linalg.det(cell))
    widths = np.empty(3)
    for i in range(3):
        j, k = (i + 1) % 3, (i + 2) % 3
        area = np.linalg.norm(np.cross(cell[j], cell[k]))
        widths[i] = vol / area if area > 0 else 0.0
    return widths


def apply_strain(positions: Array, cell: Array, strain: Array) -> tuple[Array, Array]:
    """Deform positions and cell homogeneously: ``x -> x (I + strain)`` (row vectors).

    ``strain`` is (3, 3); the symmetric part is used so that a rotation-free deformation
    results and derivatives are symmetric tensors.
    """
    eps = 0.5 * (strain + strain.T)
    deformation = jnp.eye(3, dtype=positions.dtype) + eps
    return positions @ deformation, cell @ deformation


VOIGT_PAIRS = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
"""Voigt order used everywhere (ASE): xx, yy, zz, yz, xz, xy."""


def full_to_voigt(tensor: Array) -> Array:
    """Symmetric (…, 3, 3) stress-like tensor -> (…, 6) Voigt vector (xx yy zz yz xz xy)."""
    return jnp.stack([tensor[..., i, j] for i, j in VOIGT_PAIRS], axis=-1)


def voigt_to_full(voigt: Array) -> Array:
    """(…, 6) Voigt stress vector -> symmetric (…, 3, 3) tensor."""
    xx, yy, zz, yz, xz, xy = (voigt[..., k] for k in range(6))
    return jnp.stack([jnp.stack([xx, xy, xz], -1),
                      jnp.stack([xy, yy, yz], -1),
                      jnp.stack([xz, yz, zz], -1)], -2)


def voigt_strain_to_full(voigt: Array) -> Array:
    """(6,) engineering Voigt strain (γ_yz = 2 ε_yz, …) -> symmetric (3, 3) strain tensor."""
    e1, e2, e3, e4, e5, e6 = (voigt[..., k] for k in range(6))
    return jnp.stack([jnp.stack([e1, e6 / 2, e5 / 2], -1),
                      jnp.stack([e6 / 2, e2, e4 / 2], -1),
                      jnp.stack([e5 / 2, e4 / 2, e3], -1)], -2)
