"""Pair vectors of a full neighbor list with a gather-only reverse pass ("reverse slots").

Every model reads geometry through ``r_ik = x[idx[i, k]] - x[i] + shifts[i, k] @ cell``.  The
plain autodiff transpose of that gather is a scatter-add into ``x`` (slow on CPU, serialised on
GPU).  A full list holds each pair from both sides, so the slot ``(j, k')`` that points back from
``j`` to ``i`` with the opposite image exists; ``reverse[i, k]`` is its flat index.  Then

    dE/dx_i = sum_k g[reverse[i, k]] - sum_k g[i, k],     dE/dcell = sum_ik shifts_ik^T g_ik

is a gather and two row sums (``g = dE/dr``), exact, for pair, many-body and descriptor models
alike.  Reverse-over-reverse and forward-over-reverse (Hessians, training gradients of forces)
work through the same rule; pure forward mode (``jax.jvp`` of the energy) needs the plain
gather, selected by ``reverse is None``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.types import Array


def _orientation(i, j, shifts):
    """Canonical pair key: (a, b, shift of a->b) and which of the two directions this slot is."""
    s0, s1, s2 = shifts[..., 0], shifts[..., 1], shifts[..., 2]
    positive = (s0 > 0) | ((s0 == 0) & ((s1 > 0) | ((s1 == 0) & (s2 > 0))))
    forward = (i < j) | ((i == j) & positive)
    sign = jnp.where(forward, 1, -1)
    return (jnp.where(forward, i, j), jnp.where(forward, j, i), sign * s0, sign * s1, sign * s2,
            (~forward).astype(jnp.int32))


def reverse_slots(idx: Array, shifts: Array) -> tuple[Array, Array]:
    """Flat index (N, K) of the slot holding the same pair seen from the other atom.

    Args:
        idx: (N, K) int32 neighbor indices, ``N`` marks padding. shifts: (N, K, 3) int32 images.

    Returns:
        ``reverse`` (N, K) int32 with ``N*K`` for padding (and for a slot without partner), and
        ``symmetric`` () bool: every valid slot has its partner (always true for a complete
        full list; false only for an overflowed, truncated one).
    """
    n, k = idx.shape
    total = n * k
    i = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32)[:, None], (n, k)).reshape(-1)
    j = idx.reshape(-1)
    s = shifts.reshape(-1, 3)
    valid = j < n
    a, b, c0, c1, c2, direction = _orientation(i, j, s)
    a = jnp.where(valid, a, n)
    b = jnp.where(valid, b, n)
    slot = jnp.arange(total, dtype=jnp.int32)
    a, b, c0, c1, c2, direction, slot = jax.lax.sort(
        (a, b, c0, c1, c2, direction, slot), num_keys=6)
    same = (a[1:] == a[:-1]) & (b[1:] == b[:-1]) & (c0[1:] == c0[:-1]) & (c1[1:] == c1[:-1]) \
        & (c2[1:] == c2[:-1]) & (direction[1:] != direction[:-1]) & (a[1:] < n)
    with_next = jnp.concatenate([same, jnp.zeros((1,), bool)])
    with_prev = jnp.concatenate([jnp.zeros((1,), bool), same])
    nxt = jnp.concatenate([slot[1:], jnp.full((1,), total, jnp.int32)])
    prv = jnp.concatenate([jnp.full((1,), total, jnp.int32), slot[:-1]])
    partner = jnp.where(with_next, nxt, jnp.where(with_prev, prv, total))
    reverse = jnp.full((total,), total, jnp.int32).at[slot].set(partner)
    matched = jnp.zeros((total,), bool).at[slot].set(with_next | with_prev)
    symmetric = jnp.all(matched | ~valid)
    return reverse.reshape(n, k), symmetric


def reverse_slots_numpy(idx: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Host version of :func:`reverse_slots` (same result, no compilation)."""
    n, k = idx.shape
    total = n * k
    i = np.repeat(np.arange(n), k)
    j = idx.reshape(-1).astype(np.int64)
    s = shifts.reshape(-1, 3).astype(np.int64)
    valid = j < n
    key_fwd = np.stack([i, j, s[:, 0], s[:, 1], s[:, 2]], axis=1)[valid]
    key_rev = np.stack([j, i, -s[:, 0], -s[:, 1], -s[:, 2]], axis=1)[valid]
    slots = np.nonzero(valid)[0]
    order = np.lexsort(key_fwd.T[::-1])
    sorted_keys = key_fwd[order]
    pos = _lex_searchsorted(sorted_keys, key_rev)
    found = pos < len(order)
    found[found] &= np.all(sorted_keys[np.minimum(pos[found], len(order) - 1)] == key_rev[found],
                           axis=1)
    reverse = np.full(total, total, np.int32)
    reverse[slots[found]] = slots[order[pos[found]]]
    return reverse.reshape(n, k)


def _lex_searchsorted(sorted_keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Row-wise lexicographic searchsorted (keys as a structured view)."""
    dtype = np.dtype([(f"f{c}", np.int64) for c in range(sorted_keys.shape[1])])
    a = np.ascontiguousarray(sorted_keys).view(dtype).reshape(-1)
    q = np.ascontiguousarray(queries).view(dtype).reshape(-1)
    return np.searchsorted(a, q)


def _gather_vectors(positions, cell, idx, shifts):
    n = positions.shape[0]
    padded = jnp.concatenate([positions, jnp.zeros((1, 3), positions.dtype)], axis=0)
    vectors = padded[idx] - positions[:, None, :] + shifts.astype(positions.dtype) @ cell
    mask = idx < n
    return jnp.where(mask[..., None], vectors, 0.0)


@jax.custom_vjp
def _vectors_reverse_gather(positions, cell, idx, shifts, reverse):
    return _gather_vectors(positions, cell, idx, shifts)


def _fwd(positions, cell, idx, shifts, reverse):
    return _gather_vectors(positions, cell, idx, shifts), (idx, shifts, reverse, cell)


def _bwd(res, g):
    idx, shifts, reverse, cell = res
    n, k = idx.shape
    g = jnp.where((idx < n)[..., None], g, 0.0)
    flat = jnp.concatenate([g.reshape(n * k, 3), jnp.zeros((1, 3), g.dtype)], axis=0)
    incoming = jnp.sum(flat[reverse], axis=1)
    g_positions = incoming - jnp.sum(g, axis=1)
    g_cell = jnp.einsum("nka,nkb->ab", shifts.astype(g.dtype), g).astype(cell.dtype)
    return g_positions, g_cell, None, None, None


_vectors_reverse_gather.defvjp(_fwd, _bwd)


def pair_vectors(positions: Array, cell: Array, idx: Array, shifts: Array,
                 reverse: Array | None) -> Array:
    """Pair vectors (N, K, 3) Å, zero on padding slots; gather-only gradient when ``reverse``."""
    if reverse is None:
        return _gather_vectors(positions, cell, idx, shifts)
    return _vectors_reverse_gather(positions, cell, idx, shifts, reverse)
