"""The terms of the Ewald sum for point charges in a periodic cell (pure, jittable functions).

For charges ``q`` (e) at ``positions`` in a cell of volume ``V``, in units of
``e^2 / (4 pi eps0)`` (multiply by :data:`jaxpot.units.coulomb` for eV)::

    E = 1/2 sum_{i,j,n}' q_i q_j erfc(alpha r_ijn) / r_ijn                  (real space)
      + 2 pi / V sum_{k != 0} exp(-k^2 / 4 alpha^2) / k^2 |S(k)|^2         (reciprocal)
      - alpha / sqrt(pi) sum_i q_i^2                                        (self)
      - pi Q^2 / (2 V alpha^2)                                              (neutralising
                                                                             background)

with ``S(k) = sum_j q_j exp(i k.r_j)`` and ``Q = sum_i q_i``; the background term is the energy
of a uniform compensating charge (zero for a neutral cell).  Real space runs over the neighbor
list within ``r_cut``; the reciprocal sum over the box of integer vectors ``m``
(``k = 2 pi m cell^-T``) in slabs of complex matrix products (:func:`reciprocal`).  Phases use
fractional coordinates, ``k.r = 2 pi m.s``.

Per-atom energies split each term by atom: half of each real-space pair,
``q_i Re(exp(-i k.r_i) S(k))`` of the reciprocal sum, the own self term, and the background in
proportion to ``q_i Q`` (LAMMPS' ``compute pe/atom`` split for ``ewald``).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxpot.neighbors import half_pair_vectors, neighbor_vectors
from jaxpot.types import Array


def _pair_energy(r: Array, within: Array, alpha: float, r_cut: float) -> Array:
    r_safe = jnp.where(within, r, r_cut)
    return jnp.where(within, jax.scipy.special.erfc(alpha * r_safe) / r_safe, 0.0)


def real_space_atomic(charges: Array, positions: Array, cell: Array, neighbors,
                      alpha: float, r_cut: float) -> Array:
    """(N,) per-atom real-space energies (e^2/Å): half of each pair within ``r_cut``."""
    n = positions.shape[0]
    if getattr(neighbors, "half_i", None) is not None:
        i, j, vectors, mask = half_pair_vectors(positions, cell, neighbors)
        sq = jnp.sum(vectors * vectors, axis=-1)
        within = mask & (sq < r_cut * r_cut)
        r = jnp.sqrt(jnp.where(within, sq, r_cut * r_cut))
        q = jnp.concatenate([charges, jnp.zeros((1,), charges.dtype)])
        half = 0.5 * q[i] * q[j] * _pair_energy(r, within, alpha, r_cut)
        return jnp.zeros(n + 1, half.dtype).at[i].add(half).at[j].add(half)[:n]
    vectors, mask = neighbor_vectors(positions, cell, neighbors)
    sq = jnp.sum(vectors * vectors, axis=-1)
    within = mask & (sq < r_cut * r_cut)
    r = jnp.sqrt(jnp.where(within, sq, r_cut * r_cut))
    q = jnp.concatenate([charges, jnp.zeros((1,), charges.dtype)])
    pair = _pair_energy(r, within, alpha, r_cut) * q[neighbors.idx]
    return 0.5 * charges * jnp.sum(pair, axis=1)


def real_space(charges, positions, cell, neighbors, alpha: float, r_cut: float) -> Array:
    """Real-space energy (e^2/Å), each pair once when the list has a half list."""
    if getattr(neighbors, "half_i", None) is None:
        return jnp.sum(real_space_atomic(charges, positions, cell, neighbors, alpha, r_cut))
    i, j, vectors, mask = half_pair_vectors(positions, cell, neighbors)
    sq = jnp.sum(vectors * vectors, axis=-1)
    within = mask & (sq < r_cut * r_cut)
    r = jnp.sqrt(jnp.where(within, sq, r_cut * r_cut))
    q = jnp.concatenate([charges, jnp.zeros((1,), charges.dtype)])
    return jnp.sum(q[i] * q[j] * _pair_energy(r, within, alpha, r_cut))


def _axis_phases(frac: Array, box: tuple[int, int, int]) -> list[Array]:
    """Per axis ``d``, the (N, 2 box[d] + 1) factors ``exp(2 pi i s_d m_d)``, ``m_d = -b..b``."""
    dtype = jnp.complex128 if frac.dtype == jnp.float64 else jnp.complex64
    out = []
    for d, b in enumerate(box):
        m = jnp.arange(-b, b + 1, dtype=frac.dtype)
        phase = 2.0 * jnp.pi * frac[:, d:d + 1] * m
        out.append(jax.lax.complex(jnp.cos(phase), jnp.sin(phase)).astype(dtype))
    return out


def _slab_weights(a: Array, cell: Array, alpha: float, box: tuple[int, int, int]) -> Array:
    """(2b1+1, 2b2+1) weights ``(2 pi / V) exp(-k^2/4 alpha^2) / k^2`` of the slab ``m_0 = a``
    (0 at ``m = 0``)."""
    m1 = jnp.arange(-box[1], box[1] + 1, dtype=cell.dtype)
    m2 = jnp.arange(-box[2], box[2] + 1, dtype=cell.dtype)
    recip = jnp.linalg.inv(cell).T  # rows: reciprocal vectors / 2 pi
    k = 2.0 * jnp.pi * (a.astype(cell.dtype) * recip[0] + m1[:, None, None] * recip[1]
                        + m2[None, :, None] * recip[2])
    k2 = jnp.sum(k * k, axis=-1)
    real = k2 > 0
    k2_safe = jnp.where(real, k2, 1.0)
    volume = jnp.abs(jnp.linalg.det(cell))
    return jnp.where(real, 2.0 * jnp.pi / volume * jnp.exp(-k2_safe / (4 * alpha * alpha))
                     / k2_safe, 0.0)


def reciprocal(charges: Array, positions: Array, cell: Array, alpha: float,
               box: tuple[int, int, int], atomic: bool = False) -> Array:
    """Reciprocal-space energy (e^2/Å) over the integer box ``|m_d| <= box[d]`` (per atom if
    ``atomic``).

    The box is swept in slabs ``m_0 = a >= 0`` (slab ``-a`` equals slab ``a``: ``S(-k)`` is the
    conjugate of ``S(k)``); within a slab ``S(m) = sum_j q_j e_0[j,a] e_1[j,m_1] e_2[j,m_2]`` is
    one complex matrix product of the per-axis phase factors, so no sine or cosine is taken
    per atom and wave vector.  Memory is ``O(N (2 b + 1))`` per slab.
    """
    box = tuple(int(b) for b in box)
    frac = positions @ jnp.linalg.inv(cell)
    e0, e1, e2 = _axis_phases(frac, box)
    qc = charges.astype(e0.dtype)

    @jax.checkpoint
    def slab(a):
        qa = qc * e0[:, box[0] + a]
        s = (qa[:, None] * e1).T @ e2  # (2b1+1, 2b2+1) structure factors
        weight = _slab_weights(a, cell, alpha, box) * jnp.where(a > 0, 2.0, 1.0)
        if atomic:  # q_i Re(conj(e_i(k)) S(k)) w(k) summed over the slab
            u = (weight * s) @ jnp.conj(e2).T  # (2b1+1, N)
            per_atom = jnp.sum(jnp.conj(e1).T * u, axis=0) * jnp.conj(e0[:, box[0] + a])
            return charges * jnp.real(per_atom)
        return jnp.sum(weight * (jnp.real(s) ** 2 + jnp.imag(s) ** 2))

    return jnp.sum(jax.lax.map(slab, jnp.arange(box[0] + 1)), axis=0)


def self_energy_atomic(charges: Array, alpha: float) -> Array:
    """(N,) ``-alpha / sqrt(pi) q_i^2`` (e^2/Å)."""
    return -alpha / math.sqrt(math.pi) * charges * charges


def background_atomic(charges: Array, cell: Array, alpha: float) -> Array:
    """(N,) share ``-pi q_i Q / (2 V alpha^2)`` of the neutralising-background energy."""
    volume = jnp.abs(jnp.linalg.det(cell))
    return -jnp.pi * charges * jnp.sum(charges) / (2.0 * volume * alpha * alpha)
