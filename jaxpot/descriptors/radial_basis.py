"""Radial parts of the SOAP neighbour-density expansion.

Each ``*_radial`` function maps neighbour distances ``r`` (N, K) in Å to the radial integrals
R_ln(r) (N, K, n_max) for one angular channel l: the overlap of an orthonormal radial basis
function g_nl with the Gaussian of a neighbour at distance r, projected on Y_lm, so that the
density coefficients are c_nlm = sum_j w_j R_ln(r_ij) Y_lm(r_ij) (+ the centre atom's own
Gaussian, R_0n(0) Y_00).  Host-side basis construction (NumPy/SciPy) happens once per set of
hyperparameters; the returned arrays are constants inside jit.

Two dscribe 2.1 bases (``SOAP(rbf=...)``):

* ``"gto"``: g_nl(r) = sum_k beta_lnk r^l exp(-alpha_lk r^2), alphas chosen so that each
  primitive decays to 1e-3 at radii evenly spaced in [1, r_cut], Löwdin-orthonormalised.  The
  Gaussian-GTO integral has a closed form (``gto_radial``).
* ``"polynomial"``: g_n(r) = sum_k beta_nk (r_cut - r)^(k+2), Löwdin-orthonormalised on
  [0, r_cut].  dscribe integrates it on a 100-point Gauss-Legendre grid with the modified
  spherical Bessel functions from upward recurrence; ``polynomial_radial`` reproduces that
  quadrature, including dscribe's quirks (Gaussian tails dropped where r + r_ij > 5 Å or
  r - r_ij > 5 Å, negative Bessel values for l >= 2 clipped to zero), so the features equal
  dscribe's; they are not the exact integral.
"""

from __future__ import annotations

from functools import lru_cache

import jax.numpy as jnp
import numpy as np
from scipy.linalg import sqrtm
from scipy.special import gamma

DECAY = 1e-3  # dscribe's decay threshold for GTO primitives and for the cutoff padding
_N_QUADRATURE = 100  # dscribe's radial grid for the polynomial basis
_EXP_RANGE = 5.0  # Å; dscribe drops exp(-eta (r +- r_ij)^2) beyond this (see module doc)
_FOUR_PI_SQUARED = 39.478417604  # dscribe's truncated constant, kept for exact agreement


def _inverse_sqrt(overlap: np.ndarray, what: str) -> np.ndarray:
    beta = sqrtm(np.linalg.inv(overlap))
    if np.iscomplexobj(beta):
        if np.abs(beta.imag).max() > 1e-10:
            raise ValueError(f"the {what} basis cannot be orthonormalised (overlap matrix not "
                             "positive definite); lower n_max or raise r_cut")
        beta = beta.real
    return beta


@lru_cache(maxsize=64)
def gto_basis(r_cut: float, n_max: int, l_max: int) -> tuple[np.ndarray, np.ndarray]:
    """dscribe's GTO exponents alpha (l_max+1, n_max) in 1/Å² and Löwdin matrices beta
    (l_max+1, n_max, n_max)."""
    radii = np.linspace(1.0, r_cut, n_max)
    alphas = np.zeros((l_max + 1, n_max))
    betas = np.zeros((l_max + 1, n_max, n_max))
    for l in range(l_max + 1):
        a = -np.log(DECAY / radii ** l) / radii ** 2
        overlap = 0.5 * gamma(l + 1.5) * (a[:, None] + a[None, :]) ** (-l - 1.5)
        alphas[l], betas[l] = a, _inverse_sqrt(overlap, "GTO")
    return alphas, betas


@lru_cache(maxsize=64)
def _gto_tables(r_cut: float, n_max: int, l_max: int, sigma: float):
    """Closed-form Gaussian x GTO integral: R_ln(r) = sum_k P_lnk r^l exp(E_lk r^2)."""
    alphas, betas = gto_basis(r_cut, n_max, l_max)
    two_s2 = 2.0 * sigma ** 2
    shrink = 1.0 / (1.0 + two_s2 * alphas)  # (L, K)
    exponents = -alphas * shrink
    ls = np.arange(l_max + 1)[:, None]
    # (pi/2) sqrt(4 pi) (2 sigma^2)^{3/2} beta (1 + 2 sigma^2 alpha)^{-(l + 3/2)}
    prefactors = (0.5 * np.pi * np.sqrt(4 * np.pi) * two_s2 ** 1.5 * betas
                  * (np.sqrt(shrink) * shrink ** (ls + 1))[:, None, :])
    return exponents, prefactors  # (L, K), (L, N, K)


def gto_radial(r, l: int, r_cut: float, n_max: int, l_max: int, sigma: float):
    """dscribe GTO radial integrals R_ln(r) (N, K, n_max) for distances r (N, K) Å."""
    exponents, prefactors = _gto_tables(r_cut, n_max, l_max, sigma)
    prim = jnp.exp((r * r)[..., None] * exponents[l]) * (r ** l)[..., None]  # (N, K, Kb)
    return jnp.einsum("nkb,mb->nkm", prim, prefactors[l])


def gto_centre(r_cut: float, n_max: int, l_max: int, sigma: float) -> np.ndarray:
    """R_0n(0) (n_max,) for the centre atom's own Gaussian."""
    return _gto_tables(r_cut, n_max, l_max, sigma)[1][0].sum(axis=1)


@lru_cache(maxsize=64)
def polynomial_basis(r_cut: float, n_max: int) -> tuple[np.ndarray, np.ndarray]:
    """dscribe's polynomial basis on its quadrature grid: nodes rx (100,) Å and the quadrature
    matrix G (n_max, 100) = r^2 w g_n(r) (Gauss-Legendre weights w, interval [0, r_cut])."""
    k = np.arange(1, n_max + 1)
    overlap = 2 * r_cut ** (7.0 + k[:, None] + k[None, :]) / (
        (5.0 + k[:, None] + k[None, :]) * (6.0 + k[:, None] + k[None, :])
        * (7.0 + k[:, None] + k[None, :]))
    betas = _inverse_sqrt(overlap, "polynomial")
    x, w = np.polynomial.legendre.leggauss(_N_QUADRATURE)
    rx = r_cut * 0.5 * (x + 1)
    g = betas @ (r_cut - rx)[None, :] ** (k[:, None] + 2)
    return rx, rx ** 2 * w * g


def _polynomial_scale(r_cut: float) -> float:
    # dscribe multiplies p by 4 pi^2 r_cut^2: 4 pi from the angular integral, r_cut/2 from the
    # quadrature interval, applied here to each coefficient as its square root
    return float(np.sqrt(_FOUR_PI_SQUARED) * r_cut)


def polynomial_bessel(r, l_max: int, r_cut: float, sigma: float):
    """exp(-eta (r^2 + x^2)) i_l(2 eta r x) on dscribe's grid x, by dscribe's recurrence.

    Args:
        r: (N, K) neighbour distances in Å (> 0 where used).
        l_max: largest l.
        r_cut: cutoff (sets the grid) in Å.
        sigma: Gaussian width in Å.

    Returns:
        list of l_max+1 arrays (N, K, 100).
    """
    eta = 1.0 / (2.0 * sigma ** 2)
    rx, _ = polynomial_basis(r_cut, 1)
    ri = r[..., None]
    diff, summ = rx - ri, rx + ri
    minus = jnp.where(diff > _EXP_RANGE, 0.0, jnp.exp(-eta * diff * diff))
    plus = jnp.where(summ > _EXP_RANGE, 0.0, jnp.exp(-eta * summ * summ))
    inv = (0.25 / eta * (1.0 / ri)) * (1.0 / rx)  # 1 / (4 eta r_ij x), dscribe's rounding
    bessel = [inv * (minus - plus)]
    if l_max > 0:
        bessel.append(inv * (minus + plus - 2 * bessel[0]))
    for l in range(2, l_max + 1):
        value = bessel[l - 2] - inv * (4 * l - 2) * bessel[l - 1]
        bessel.append(jnp.where(value < 0, 0.0, value))
    return bessel


def polynomial_radial(bessel_l, r_cut: float, n_max: int):
    """dscribe polynomial radial integrals (N, K, n_max) from ``polynomial_bessel(...)[l]``."""
    _, quad = polynomial_basis(r_cut, n_max)
    return _polynomial_scale(r_cut) * jnp.einsum("nkw,mw->nkm", bessel_l, quad)


def polynomial_centre(r_cut: float, n_max: int, sigma: float) -> np.ndarray:
    """R_0n(0) (n_max,) of the polynomial basis: i_0(0) = 1, so the integrand is
    exp(-eta x^2) on the grid (dscribe adds this term separately)."""
    rx, quad = polynomial_basis(r_cut, n_max)
    return _polynomial_scale(r_cut) * quad @ np.exp(-rx ** 2 / (2 * sigma ** 2))
