"""featomic's GTO radial integrals, tabulated on featomic's adaptive grid and evaluated inside
jit by cubic Hermite interpolation.

featomic 0.6 (``SoapPowerSpectrum``, ``basis=TensorProduct(radial=Gto(max_radial=n_max-1))``,
``density=Gaussian(width=sigma)``) expands an L2-normalised Gaussian density
(pi sigma^2)^(-3/4) exp(-r^2 / 2 sigma^2) on orthonormalised GTOs R_n(r) ∝ r^n exp(-r^2/2 s_n^2)
with s_n = r_cut max(sqrt(n), 1) / n_max (the same functions for every l).  The Gaussian-GTO
integral is, with c = 1/2 sigma^2, b_n = 1/2 s_n^2, a = (n + l + 3)/2 and z = c^2 r^2/(c + b_n),

    I_nl(r) = (pi/sigma^2)^{3/4} e^{-c r^2} (c r)^l (c + b_n)^{-a} Gamma(a)/Gamma(l+3/2)
              1F1(a; l + 3/2; z)

followed by the orthonormalisation matrix S^{-1/2} diag(norm_n).  featomic splines I_nl on
[0, r_cut] (cubic Hermite: values and analytic derivatives at the knots), starting from 10
even intervals and halving them until the mean absolute or the mean relative error at the
interval midpoints falls below ``accuracy`` (default 1e-8).  This module builds the same grid
on the host with SciPy's 1F1, so jaxpot's spline and featomic's agree to round-off; the spline
itself is accurate to about ``accuracy`` (pass a smaller one to approach the exact integral).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from scipy.special import gamma, hyp1f1

_INITIAL_INTERVALS = 10
_MAX_KNOTS = 10_000  # featomic's limit


class HermiteTable(NamedTuple):
    """Knots x (G,) Å, values (G, n) and derivatives (G, n) of one splined function."""

    knots: np.ndarray
    values: np.ndarray
    derivatives: np.ndarray


def featomic_gto_orthonormalisation(r_cut: float, n_max: int) -> tuple[np.ndarray, np.ndarray]:
    """GTO widths s_n (n_max,) Å and the matrix M (n_max, n_max) with R = M @ primitives."""
    n = np.arange(n_max, dtype=float)
    widths = r_cut * np.maximum(np.sqrt(n), 1.0) / n_max
    half = 0.5 * (3.0 + n[:, None] + n[None, :])
    s1, s2 = widths[:, None], widths[None, :]
    overlap = ((0.5 / s1 ** 2 + 0.5 / s2 ** 2) ** (-half) / (s1 ** n[:, None] * s2 ** n[None, :])
               * gamma(half) / ((s1 * s2) ** 1.5
                                * np.sqrt(gamma(n[:, None] + 1.5) * gamma(n[None, :] + 1.5))))
    eigenvalues, vectors = np.linalg.eigh(overlap)
    if eigenvalues.min() <= np.finfo(float).eps:
        raise ValueError(f"featomic GTO overlap matrix is singular; lower n_max (got {n_max})")
    inv_sqrt = (vectors / np.sqrt(eigenvalues)) @ vectors.T
    norm = np.sqrt(2.0 / (widths ** (2 * n + 3) * gamma(n + 1.5)))
    return widths, inv_sqrt * norm[None, :]


def featomic_gto_integral(r: np.ndarray, l: int, r_cut: float, n_max: int, sigma: float):
    """Exact I_nl(r) and dI/dr, each (len(r), n_max), on the host (featomic's formula)."""
    r = np.asarray(r, dtype=float)[:, None]
    widths, ortho = featomic_gto_orthonormalisation(r_cut, n_max)
    n = np.arange(n_max)[None, :]
    c = 1.0 / (2.0 * sigma ** 2)
    b_n = 1.0 / (2.0 * widths ** 2)[None, :]
    a, b = 0.5 * (n + l + 3), l + 1.5
    z = (c * r) ** 2 / (c + b_n)
    factor = (np.pi / sigma ** 2) ** 0.75 * np.exp(-c * r * r) * (c * r) ** l * (c + b_n) ** (-a)
    ratio = gamma(a) / gamma(b)
    values = factor * ratio * hyp1f1(a, b, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        grads = (factor * ratio * a / b * hyp1f1(a + 1, b + 1, z) * 2 * z / r
                 + values * (l / r - 2 * c * r))
    at_zero = r[:, 0] == 0.0
    if at_zero.any():  # the limit r -> 0: only l = 1 has a non-zero slope
        slope = (ratio * (np.pi / sigma ** 2) ** 0.75 * c * (c + b_n) ** (-a) if l == 1
                 else np.zeros_like(b_n))
        grads[at_zero] = slope
    return values @ ortho.T, grads @ ortho.T


def _hermite(x, knots, values, derivatives):
    """Cubic Hermite interpolation; works on NumPy (host) and JAX arrays alike."""
    xp = jnp if not isinstance(x, np.ndarray) else np
    step = (knots[-1] - knots[0]) / (len(knots) - 1)
    k = xp.clip(xp.floor(x / step).astype(int), 0, len(knots) - 2)
    x_k, x_k1 = knots[k], knots[k + 1]
    delta = x_k1 - x_k
    t = (x - x_k) / delta
    t2 = t * t
    t3 = t2 * t
    h00 = 2.0 * t3 - 3.0 * t2 + 1.0
    h10 = t3 - 2.0 * t2 + t
    h01 = -2.0 * t3 + 3.0 * t2
    h11 = t3 - t2
    d = delta[..., None]
    return (h00[..., None] * values[k] + h10[..., None] * d * derivatives[k]
            + h01[..., None] * values[k + 1] + h11[..., None] * d * derivatives[k + 1])


@lru_cache(maxsize=64)
def featomic_gto_table(l: int, r_cut: float, n_max: int, sigma: float,
                       accuracy: float) -> HermiteTable:
    """featomic's adaptive Hermite spline of I_nl on [0, r_cut] (module docstring)."""
    knots = np.linspace(0.0, r_cut, _INITIAL_INTERVALS + 1)
    knots[-1] = r_cut
    values, derivatives = featomic_gto_integral(knots, l, r_cut, n_max, sigma)
    while True:
        mid = 0.5 * (knots[:-1] + knots[1:])
        mid_values, mid_derivatives = featomic_gto_integral(mid, l, r_cut, n_max, sigma)
        error = np.abs(_hermite(mid, knots, values, derivatives) - mid_values)
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.mean(error / np.abs(mid_values))
        if error.mean() < accuracy or relative < accuracy:
            return HermiteTable(knots, values, derivatives)
        if 2 * len(knots) - 1 > _MAX_KNOTS:
            raise ValueError(f"spline accuracy {accuracy} not reachable with {_MAX_KNOTS} "
                             "knots; ask for a larger spline_accuracy")
        size = 2 * len(knots) - 1
        new_knots = np.empty(size)
        new_values = np.empty((size, n_max))
        new_derivs = np.empty((size, n_max))
        new_knots[0::2], new_knots[1::2] = knots, mid
        new_values[0::2], new_values[1::2] = values, mid_values
        new_derivs[0::2], new_derivs[1::2] = derivatives, mid_derivatives
        knots, values, derivatives = new_knots, new_values, new_derivs


def spline_radial(r, table: HermiteTable):
    """Splined radial integrals (..., n_max) at distances r (...) in [0, r_cut] Å (jittable)."""
    return _hermite(r, jnp.asarray(table.knots), jnp.asarray(table.values),
                    jnp.asarray(table.derivatives))
