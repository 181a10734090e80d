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
list within ``r_cut``; the reciprocal sum over half of the box of integer vectors ``m``
(``k = 2 pi m cell^-T``, ``k`` and ``-k`` contribute alike) in blocks, so memory stays
``O(N)`` per block.  Phases use fractional coordinates, ``k.r = 2 pi m.s``.

Per-atom energies split each term by atom: half of each real-space pair,
``q_i Re(exp(-i k.r_i) S(k))`` of the reciprocal sum, the own self term, and the background in
proportion to ``q_i Q`` (LAMMPS' ``compute pe/atom`` split for ``ewald``).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.neighbors import half_pair_vectors, neighbor_vectors
from jaxpot.types import Array

_BLOCK_ELEMENTS = 1 << 20  # atoms x wave vectors handled at once in the reciprocal sum


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


@functools.lru_cache(maxsize=64)
def half_box(box: tuple[int, int, int]) -> np.ndarray:
    """(M, 3) int vectors ``m`` of ``|m_d| <= box[d]``, one of each pair ``{m, -m}``, no 0."""
    axes = [np.arange(-b, b + 1) for b in box]
    m = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    positive = (m[:, 0] > 0) | ((m[:, 0] == 0) & ((m[:, 1] > 0)
                                                  | ((m[:, 1] == 0) & (m[:, 2] > 0))))
    return m[positive].astype(np.int32)


def _blocks(m: np.ndarray, n_atoms: int) -> np.ndarray:
    """``m`` padded with zero vectors (weight 0) to (B, block, 3)."""
    block = max(1, min(len(m), _BLOCK_ELEMENTS // max(n_atoms, 1)))
    count = -(-len(m) // block)
    padded = np.zeros((count * block, 3), np.int32)
    padded[:len(m)] = m
    return padded.reshape(count, block, 3)


def _wave_terms(m: Array, cell: Array, alpha: float):
    """Weights ``(4 pi / V) exp(-k^2/4 alpha^2) / k^2`` (0 for padding ``m = 0``)."""
    k = 2.0 * jnp.pi * m.astype(cell.dtype) @ jnp.linalg.inv(cell).T
    k2 = jnp.sum(k * k, axis=-1)
    real = k2 > 0
    k2_safe = jnp.where(real, k2, 1.0)
    volume = jnp.abs(jnp.linalg.det(cell))
    return jnp.where(real, 4.0 * jnp.pi / volume * jnp.exp(-k2_safe / (4 * alpha * alpha))
                     / k2_safe, 0.0)


def reciprocal(charges: Array, positions: Array, cell: Array, alpha: float,
               box: tuple[int, int, int], atomic: bool = False) -> Array:
    """Reciprocal-space energy (e^2/Å) over the half box of ``m`` (per atom if ``atomic``)."""
    frac = positions @ jnp.linalg.inv(cell)
    blocks = jnp.asarray(_blocks(half_box(tuple(int(b) for b in box)), positions.shape[0]))

    @jax.checkpoint
    def block(m):
        phase = 2.0 * jnp.pi * frac @ m.astype(frac.dtype).T  # (N, B)
        c, s = jnp.cos(phase), jnp.sin(phase)
        s_re, s_im = charges @ c, charges @ s
        weight = _wave_terms(m, cell, alpha)
        if atomic:
            return charges * ((c * s_re + s * s_im) @ weight)
        return jnp.sum(weight * (s_re * s_re + s_im * s_im))

    return jnp.sum(jax.lax.map(block, blocks), axis=0)


def self_energy_atomic(charges: Array, alpha: float) -> Array:
    """(N,) ``-alpha / sqrt(pi) q_i^2`` (e^2/Å)."""
    return -alpha / math.sqrt(math.pi) * charges * charges


def background_atomic(charges: Array, cell: Array, alpha: float) -> Array:
    """(N,) share ``-pi q_i Q / (2 V alpha^2)`` of the neutralising-background energy."""
    volume = jnp.abs(jnp.linalg.det(cell))
    return -jnp.pi * charges * jnp.sum(charges) / (2.0 * volume * alpha * alpha)
