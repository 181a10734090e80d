"""Smooth cutoff functions and NaN-safe distances shared by every model.

Each cutoff ``f(r)`` is 1 (or its smooth onset) at short range and exactly 0 for ``r >= r_cut``;
all are written so that gradients are finite and zero beyond the cutoff.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxpot.types import Array


def safe_norm(vectors: Array, mask: Array | None = None, axis: int = -1) -> Array:
    """Euclidean norm whose gradient is finite everywhere (double-``where`` trick).

    Entries where ``mask`` is False (or the vector is exactly zero) return 0 with zero gradient.
    """
    sq = jnp.sum(vectors * vectors, axis=axis)
    ok = sq > 0.0
    if mask is not None:
        ok = ok & mask
    safe_sq = jnp.where(ok, sq, 1.0)
    return jnp.where(ok, jnp.sqrt(safe_sq), 0.0)


def cosine_cutoff(r: Array, r_cut: float) -> Array:
    """Behler's cosine cutoff ``0.5 (cos(pi r / r_cut) + 1)`` for r < r_cut, else 0."""
    x = jnp.clip(r / r_cut, 0.0, 1.0)
    return jnp.where(r < r_cut, 0.5 * (jnp.cos(jnp.pi * x) + 1.0), 0.0)


def cosine_switch(r: Array, r_on: float, r_cut: float) -> Array:
    """1 below ``r_on``, cosine decay to 0 at ``r_cut`` (QUIP/GAP-style transition width)."""
    x = jnp.clip((r - r_on) / (r_cut - r_on), 0.0, 1.0)
    return jnp.where(r < r_cut, 0.5 * (jnp.cos(jnp.pi * x) + 1.0), 0.0)


def polynomial_cutoff(r: Array, r_cut: float, p: int = 6) -> Array:
    """DimeNet/NequIP polynomial envelope of order p: C^(p-1)... smooth, 1 at 0, 0 at r_cut."""
    x = jnp.clip(r / r_cut, 0.0, 1.0)
    f = (1.0 - 0.5 * (p + 1) * (p + 2) * x**p + p * (p + 2) * x ** (p + 1)
         - 0.5 * p * (p + 1) * x ** (p + 2))
    return jnp.where(r < r_cut, f, 0.0)


def smoothstep_switch(r: Array, r_on: float, r_cut: float) -> Array:
    """Quintic smoothstep (C2), 1 below ``r_on`` and 0 above ``r_cut`` (ASE Morse ``fcut``)."""
    s = jnp.clip(1.0 - (r - r_on) / (r_cut - r_on), 0.0, 1.0)
    return 6.0 * s**5 - 15.0 * s**4 + 10.0 * s**3


def squared_polynomial_switch(r: Array, r_on: float, r_cut: float) -> Array:
    """C1 switch in r^2 used by ASE's ``LennardJones(smooth=True)``; 1 below r_on, 0 above r_cut."""
    return polynomial_switch_of_squared(r * r, r_on, r_cut)


def polynomial_switch_of_squared(r2: Array, r_on: float, r_cut: float) -> Array:
    """:func:`squared_polynomial_switch` as a function of ``r2 = r^2`` (Å^2)."""
    ro2, rc2 = r_on * r_on, r_cut * r_cut
    inner = (rc2 - r2) ** 2 * (rc2 + 2.0 * r2 - 3.0 * ro2) / (rc2 - ro2) ** 3
    return jnp.where(r2 < ro2, 1.0, jnp.where(r2 < rc2, inner, 0.0))
