"""QUIP's ``soap`` radial basis (``radial_basis=EQUISPACED_GAUSS``, QUIP/GAP's default).

n_max Gaussians of width ``sigma`` centred at r_a = (a - 1) * r_b / n_max, a = 1..n_max, where
r_b = r_cut + sigma sqrt(2 * 10 ln 10) (QUIP's ``basis_error_exponent=10``).  The radial integral
of a neighbour Gaussian at distance r against Gaussian a, for each l, is

    g_la(r) = i_l(2 alpha r r_a) exp(-alpha (r^2 + r_a^2)),        alpha = 1 / (2 sigma^2),

with the modified spherical Bessel function i_l evaluated by QUIP's upward recursion (from
sinh/cosh, i_{l} = i_{l-2} - (2l - 1) i_{l-1} / x).  The coefficients are
c_ln = sum_a g_la(r) T_an with T = C^-1 L, C_ab = exp(-alpha (r_a - r_b)^2) the Gaussians'
covariance and L the lower Cholesky factor of their r^2-weighted overlap S (S = L L^T).  The
centre atom's own Gaussian contributes c_0n = L_1n.  This is the algorithm of GAP's
``descriptors.F90`` (``soap_initialise`` / ``soap_calc``), re-derived and written here for JAX.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np
from scipy.special import erf

BASIS_ERROR_EXPONENT = 10.0


@functools.lru_cache(maxsize=32)
def quip_gauss_basis(r_cut: float, n_max: int, sigma: float):
    """(r_a (n_max,), T (n_max, n_max), centre row L_1n (n_max,)) for QUIP's Gaussian basis."""
    alpha = 0.5 / sigma ** 2
    r_basis_cut = r_cut + sigma * np.sqrt(2.0 * BASIS_ERROR_EXPONENT * np.log(10.0))
    r_a = np.arange(n_max) * (r_basis_cut / n_max)
    ri, rj = r_a[:, None], r_a[None, :]
    covariance = np.exp(-alpha * (ri - rj) ** 2)
    s = ri + rj  # r^2-weighted overlap of two Gaussians on [0, inf), closed form
    overlap = (np.exp(-alpha * (ri ** 2 + rj ** 2)) * np.sqrt(2.0) * alpha ** 1.5 * s
               + alpha * np.exp(-0.5 * alpha * (ri - rj) ** 2) * np.sqrt(np.pi)
               * (1.0 + alpha * s ** 2) * (1.0 + erf(np.sqrt(alpha / 2.0) * s)))
    overlap = overlap / np.sqrt(128.0 * alpha ** 5)
    try:
        lower = np.linalg.cholesky(overlap)
        transform = np.linalg.solve(covariance, lower)
    except np.linalg.LinAlgError as err:
        raise ValueError(f"QUIP's Gaussian basis is singular for n_max={n_max}, "
                         f"sigma={sigma}, r_cut={r_cut}: lower n_max") from err
    return r_a, transform, lower[0].copy()


def quip_radial(r, l_max: int, r_cut: float, n_max: int, sigma: float) -> list:
    """QUIP radial coefficients: list over l of (..., n_max) for distances ``r`` (Å, > 0)."""
    r_a, transform, _ = quip_gauss_basis(r_cut, n_max, sigma)
    alpha = 0.5 / sigma ** 2
    r = r[..., None]
    ra = jnp.asarray(r_a, r.dtype)
    x = 2.0 * alpha * r * ra
    at_origin = x == 0.0
    x_safe = jnp.where(at_origin, 1.0, x)
    exp_m = jnp.exp(-alpha * (r - ra) ** 2)
    exp_p = jnp.exp(-alpha * (r + ra) ** 2)
    previous = 0.5 * (exp_m + exp_p) / x_safe  # i_{-1}
    current = jnp.where(at_origin, jnp.exp(-alpha * (ra ** 2 + r ** 2)),
                        0.5 * (exp_m - exp_p) / x_safe)
    t = jnp.asarray(transform, r.dtype)
    out = [current @ t]
    for l in range(1, l_max + 1):
        previous, current = current, previous - (2 * l - 1) * current / x_safe
        out.append(jnp.where(at_origin, 0.0, current) @ t)
    return out
