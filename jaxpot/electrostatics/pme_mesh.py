"""Smooth particle-mesh Ewald reciprocal sum (Essmann et al., J. Chem. Phys. 103, 8577 (1995)).

Charges are spread onto a ``K1 x K2 x K3`` mesh in fractional coordinates with cardinal
B-splines ``M_p`` of order ``p``; the structure factor is the mesh's FFT corrected by the
Euler exponential spline factors ``|b_d(m_d)|^2``::

    E_rec = 2 pi / V sum_{m != 0} exp(-k^2 / 4 alpha^2) / k^2 B(m) |FFT(Q)(m)|^2

(``k = 2 pi m cell^-T``, in e^2/Å).  Each atom touches ``p^3`` mesh points; the FFT costs
``O(M log M)``.  Everything is differentiable (forces and stress by autodiff; the B-spline
weights are polynomials of the fractional coordinates).  Per-atom energies are
``e_i = q_i sum_g W_ig phi(g)`` with the mesh potential ``phi = size * IFFT(G FFT(Q))`` and the
atom's stencil weights ``W_ig``; they sum to ``E_rec``.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

from jaxpot.types import Array


def bspline_weights(t: Array, order: int) -> Array:
    """``M_p(t + j)`` for ``j = 0..p-1`` (..., p) at fractional offsets ``t`` in [0, 1)."""
    w = jnp.stack([t, 1.0 - t], axis=-1)  # M_2(t), M_2(t + 1)
    for n in range(3, order + 1):
        j = jnp.arange(n, dtype=t.dtype)
        x = t[..., None] + j  # points t + j, j = 0..n-1
        prev = jnp.concatenate([w, jnp.zeros_like(w[..., :1])], axis=-1)  # M_{n-1}(t + j)
        shifted = jnp.concatenate([jnp.zeros_like(w[..., :1]), w], axis=-1)  # M_{n-1}(t+j-1)
        w = (x * prev + (n - x) * shifted) / (n - 1)
    return w


@functools.lru_cache(maxsize=64)
def euler_factors(size: int, order: int) -> np.ndarray:
    """``|b(m)|^2`` for ``m = 0..size-1`` (Essmann eq. 4.4), NumPy float64."""
    knots = np.array([_bspline_at(k + 1.0, order) for k in range(order - 1)])
    m = np.arange(size)
    denom = np.abs(np.exp(2j * np.pi * np.outer(m, np.arange(order - 1)) / size) @ knots) ** 2
    return 1.0 / denom


def _bspline_at(x: float, order: int) -> float:
    """Cardinal B-spline ``M_p(x)`` (host, recursive definition)."""
    if order == 2:
        return max(0.0, 1.0 - abs(x - 1.0))
    return (x * _bspline_at(x, order - 1) + (order - x) * _bspline_at(x - 1.0, order - 1)) \
        / (order - 1)


def _stencil(positions: Array, cell: Array, mesh: tuple[int, int, int], order: int):
    """Mesh indices (N, p^3) and weights (N, p^3) of each atom's B-spline stencil."""
    frac = positions @ jnp.linalg.inv(cell)
    u = (frac - jnp.floor(frac)) * jnp.asarray(mesh, frac.dtype)
    base = jnp.floor(u)
    w = bspline_weights(u - base, order)  # (N, 3, p)
    j = jnp.arange(order)
    idx = (base.astype(jnp.int32)[..., None] - j) % jnp.asarray(mesh)[:, None]  # (N, 3, p)
    flat = (idx[:, 0, :, None, None] * mesh[1] + idx[:, 1, None, :, None]) * mesh[2] \
        + idx[:, 2, None, None, :]
    weight = w[:, 0, :, None, None] * w[:, 1, None, :, None] * w[:, 2, None, None, :]
    n = positions.shape[0]
    return flat.reshape(n, -1), weight.reshape(n, -1)


def _influence(cell: Array, alpha: float, mesh: tuple[int, int, int], order: int) -> Array:
    """``G(m) = 2 pi / V exp(-k^2/4 alpha^2) / k^2 B(m)`` on the rfft half mesh, 0 at m = 0,
    doubled where the half mesh stands for ``m`` and ``-m`` (built from 1-D factors, so no
    mesh-sized constant enters the program)."""
    k1, k2, k3 = mesh
    dtype = cell.dtype
    recip = 2.0 * jnp.pi * jnp.linalg.inv(cell).T  # rows b_d
    m1 = jnp.asarray(np.fft.fftfreq(k1, 1.0 / k1), dtype)
    m2 = jnp.asarray(np.fft.fftfreq(k2, 1.0 / k2), dtype)
    m3 = jnp.asarray(np.fft.rfftfreq(k3, 1.0 / k3), dtype)
    k = (m1[:, None, None, None] * recip[0] + m2[None, :, None, None] * recip[1]
         + m3[None, None, :, None] * recip[2])
    k2sum = jnp.sum(k * k, axis=-1)
    nonzero = k2sum > 0
    k2safe = jnp.where(nonzero, k2sum, 1.0)
    volume = jnp.abs(jnp.linalg.det(cell))
    g = 2.0 * jnp.pi / volume * jnp.exp(-k2safe / (4.0 * alpha * alpha)) / k2safe
    twice = np.full(k3 // 2 + 1, 2.0)
    twice[0] = 1.0
    if k3 % 2 == 0:
        twice[-1] = 1.0
    e1, e2 = (jnp.asarray(euler_factors(k, order), dtype) for k in (k1, k2))
    e3 = jnp.asarray(euler_factors(k3, order)[:k3 // 2 + 1] * twice, dtype)
    return jnp.where(nonzero, g, 0.0) * (e1[:, None, None] * e2[None, :, None]
                                         * e3[None, None, :])


def pme_reciprocal(charges: Array, positions: Array, cell: Array, alpha: float,
                   mesh: tuple[int, int, int], order: int, atomic: bool = False) -> Array:
    """Reciprocal-space energy (e^2/Å) by smooth PME (per atom if ``atomic``)."""
    flat, weight = _stencil(positions, cell, mesh, order)
    size = mesh[0] * mesh[1] * mesh[2]
    q_mesh = jnp.zeros(size, positions.dtype).at[flat].add(charges[:, None] * weight)
    q_mesh = q_mesh.reshape(mesh)
    f = jnp.fft.rfftn(q_mesh)
    g = _influence(cell, alpha, mesh, order)
    if not atomic:
        return jnp.sum(g * (f.real * f.real + f.imag * f.imag))
    # potential on the mesh: inverse transform of G F (G already doubled on the half mesh:
    # undo the doubling, irfftn restores the conjugate half)
    twice = jnp.where(jnp.arange(mesh[2] // 2 + 1) == 0, 1.0, 2.0)
    if mesh[2] % 2 == 0:
        twice = twice.at[-1].set(1.0)
    potential = jnp.fft.irfftn(g / twice * f, s=mesh) * size
    return charges * jnp.sum(weight * potential.reshape(-1)[flat], axis=1)
