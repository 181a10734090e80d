"""Real spherical harmonics Y_lm of unit vectors by Cartesian recurrences (jittable).

Orthonormal on the sphere (∫ Y_lm Y_l'm' dΩ = δ_ll' δ_mm'), order m = -l, ..., l within each
l, the usual real combinations of the complex Y_l^m:

    Y_l0 = K_l0 P_l^0(z),   Y_lm = √2 K_lm P_l^m(z) cos(m φ),   Y_l,-m = √2 K_lm P_l^m(z) sin(m φ)

with K_lm = sqrt((2l+1)/4π (l-m)!/(l+m)!) and P_l^m without the Condon–Shortley phase, so
Y_lm = √2 (-1)^m Re Y_l^m and Y_l,-m = √2 (-1)^m Im Y_l^m of the complex (SciPy) ones.
Evaluated as polynomials in x, y, z (no angles, no pole singularity):
sin^m θ cos mφ and sin^m θ sin mφ are Re and Im of (x + iy)^m, and P_l^m(z) / sin^m θ obeys
the standard three-term recurrence in l.  This is the convention of Wikipedia's table of real
spherical harmonics (tested against SciPy); e3nn orders and signs the same functions
differently, which leaves any rotational invariant (the SOAP power spectrum) unchanged.
Replaces ``e3nn_jax.spherical_harmonics`` in SOAP (one dependency fewer).
"""

from __future__ import annotations

from math import factorial

import jax.numpy as jnp
import numpy as np


def _normalisation(l: int, m: int) -> float:
    k = np.sqrt((2 * l + 1) / (4 * np.pi) * factorial(l - m) / factorial(l + m))
    return float(k if m == 0 else np.sqrt(2.0) * k)


def real_spherical_harmonics(unit_vectors, l_max: int) -> list:
    """Y_lm of unit vectors (..., 3): list over l of arrays (..., 2l+1), m = -l..l."""
    x, y, z = unit_vectors[..., 0], unit_vectors[..., 1], unit_vectors[..., 2]
    cos_m, sin_m = [jnp.ones_like(x)], [jnp.zeros_like(x)]  # Re, Im of (x + i y)^m
    for _ in range(l_max):
        c, s = cos_m[-1], sin_m[-1]
        cos_m.append(x * c - y * s)
        sin_m.append(x * s + y * c)
    # q[l][m] = P_l^m(z) / sin^m(theta), no Condon-Shortley phase
    q = [[None] * (l + 1) for l in range(l_max + 1)]
    diagonal = jnp.ones_like(z)
    for m in range(l_max + 1):
        if m > 0:
            diagonal = (2 * m - 1) * diagonal
        q[m][m] = diagonal
        if m + 1 <= l_max:
            q[m + 1][m] = (2 * m + 1) * z * diagonal
        for l in range(m + 2, l_max + 1):
            q[l][m] = ((2 * l - 1) * z * q[l - 1][m] - (l + m - 1) * q[l - 2][m]) / (l - m)
    out = []
    for l in range(l_max + 1):
        negative = [_normalisation(l, m) * q[l][m] * sin_m[m] for m in range(l, 0, -1)]
        positive = [_normalisation(l, m) * q[l][m] * cos_m[m] for m in range(1, l + 1)]
        out.append(jnp.stack(negative + [_normalisation(l, 0) * q[l][0]] + positive, axis=-1))
    return out
