"""Neighbor lists built on the host (numba-compiled bins, or vesin), also from inside jit.

``method="host"`` lists are rebuilt by :func:`host_rebuild` through ``jax.pure_callback``:
the positions go to the host, and every pair within ``cutoff + skin`` is found by the binned
search of :mod:`jaxpot.neighbors.binned` in cells several radii across (MD), or else by
`vesin <https://github.com/Luthaf/vesin>`_ (any cell, any pbc, several images of one
neighbor); the pairs are packed into the list's static shapes.  On a CPU backend the host
and the device share memory, and a rebuild of a half list costs a fortieth of the XLA cell
list (4,000 LJ atoms: 7 ms against ~270 ms; benchmarks/RESULTS.md and HISTORY.md).  On an
accelerator every rebuild is a round trip to the host, so ``method="auto"`` keeps the jittable cell
list there.

The list is the same pytree as the other methods: dense rows (sorted by distance when the list
has per-part views) and the flat half list, overflow bits set when a capacity is exceeded
(the rows and half list are then truncated and the run driver reallocates).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.neighbors.binned import binned_half_list, binned_pairs, interleaved_half_list
from jaxpot.neighbors.core import NeighborList
from jaxpot.neighbors.host_workers import Scratch
from jaxpot.neighbors.rows_kernel import pack_rows


def _vesin():
    """vesin, imported on first use: when torch is installed vesin imports it (~2 s), which
    ``import jaxpot`` should not pay."""
    import vesin
    return vesin


def vesin_pairs(positions: np.ndarray, cell: np.ndarray, pbc, radius: float, full: bool,
                distances: bool = True):
    """Pairs ``(i, j, S, d)`` within ``radius`` Å: ``r_j - r_i + S @ cell``, as
    ``ase.neighborlist.neighbor_list('ijSd')``; ``full=False`` gives each pair once.

    i, j int32, S (P, 3) int32, d (P,) Å (None unless ``distances``)."""
    nl = _vesin().NeighborList(cutoff=float(radius), full_list=bool(full))
    out = nl.compute(np.asarray(positions, np.float64), np.asarray(cell, np.float64),
                     [bool(p) for p in pbc], quantities="ijSd" if distances else "ijS",
                     copy=False)  # views into nl's buffers: converted (copied) before return
    i, j, s = out[0].astype(np.int32), out[1].astype(np.int32), out[2].astype(np.int32)
    return i, j, s, (np.array(out[3]) if distances else None)


def _sorted_row_ranks(i: np.ndarray, d: np.ndarray, n: int):
    """Each pair's slot in its center's row, rows ordered by distance, and the row counts."""
    order = np.lexsort((d, i))
    counts = np.bincount(i, minlength=n)
    starts = (np.cumsum(counts) - counts).astype(np.int32)
    rank = np.empty(len(i), np.int32)
    rank[order] = np.arange(len(i), dtype=np.int32) - np.repeat(starts, counts)
    return rank, counts


def _put_rows(values: np.ndarray, flat: np.ndarray, size: int) -> np.ndarray:
    """(size, 3) int32 zeros with ``values`` (M, 3) at rows ``flat``: one 12-byte copy per
    entry (numpy copies void items faster than 3-int rows)."""
    out = np.zeros((size, 3), np.int32)
    item = np.dtype((np.void, 12))
    out.view(item).reshape(-1)[flat] = np.ascontiguousarray(values, np.int32).view(
        item).reshape(-1)
    return out


#: the half list is stored as this many interleaved runs of the search's order: vesin and
#: the binned search list each center's pairs one after another, and a scatter-add over such
#: a list (the reverse pass of a pair sum) adds into one atom many times in a row, which
#: XLA:CPU's scatter runs 3x slower than over spread indices (1.6 M pairs: 8.2 ms against
#: 2.5 ms); pair k of run r sits at slot ``k * runs + r``
#: (:func:`jaxpot.neighbors.binned.interleaved_half_list`)
HALF_LIST_RUNS = 16


def host_pairs(positions: np.ndarray, cell: np.ndarray, pbc, radius: float,
               distances: bool = True):
    """Pairs ``(i, j, S, d)`` within ``radius`` Å, each once (as :func:`vesin_pairs` with
    ``full=False``): the binned search of :mod:`jaxpot.neighbors.binned` where it applies
    (cells several cutoffs wide: MD), vesin elsewhere."""
    pairs = binned_pairs(positions, cell, pbc, radius)
    if pairs is None:
        return vesin_pairs(positions, cell, pbc, radius, full=False, distances=distances)
    i, j, s = pairs
    d = None
    if distances:
        positions = np.asarray(positions, np.float64)
        d = np.linalg.norm(positions[j] - positions[i] + s @ np.asarray(cell, np.float64),
                           axis=1)
    return i, j, s, d


def pack_pairs(n: int, i, j, s, d, capacity: int, half_capacity: int, sort_rows: bool,
               view_radii: tuple[float, ...] = (), pad: int | None = None):
    """Dense rows and half list from each pair once (host side).

    Args:
        n: atoms; i, j, s, d: half list from :func:`vesin_pairs` (``d`` may be None unless
        rows are sorted or views asked); capacity: K slots per row (0: no rows);
        half_capacity: E (0: no half list); sort_rows: rows by distance (for part views);
        view_radii: ``view cutoff + skin`` of each view; pad: padding index (default ``n``).

    Returns idx (n, K), shifts (n, K, 3), half_i, half_j (E,), half_shifts (E, 3), the largest
    row count, the number of pairs, and the largest row count within each view radius (V,).
    """
    pad = n if pad is None else pad
    hi, hj, hs = interleaved_half_list(i, j, s, half_capacity, pad, HALF_LIST_RUNS)
    if capacity == 0 and not view_radii:  # a list without rows: the half list only
        counts = np.bincount(i, minlength=n) + np.bincount(j, minlength=n)
        return (np.zeros((n, 0), np.int32), np.zeros((n, 0, 3), np.int32), hi, hj, hs,
                np.int32(counts.max(initial=0)), np.int32(len(i)), np.zeros((0,), np.int32))
    if not sort_rows and not view_radii:  # rows in list order, one compiled pass
        idx, shifts, counts = pack_rows(n, i, j, s, capacity, pad)
        return (idx, shifts, hi, hj, hs, np.int32(counts.max(initial=0)), np.int32(len(i)),
                np.zeros((0,), np.int32))
    ci = np.concatenate([i, j])
    cj = np.concatenate([j, i])
    cs = np.concatenate([s, -s])
    cd = np.concatenate([d, d])
    rank, counts = _sorted_row_ranks(ci, cd, n)
    flat = (ci if n * capacity < 2 ** 31 else ci.astype(np.int64)) * capacity + rank
    keep = rank < capacity
    if not keep.all():
        flat, cj, cs = flat[keep], cj[keep], cs[keep]
    idx = np.full(n * capacity, pad, np.int32)
    idx[flat] = cj
    shifts = _put_rows(cs, flat, n * capacity)
    views = np.array([np.max(np.bincount(ci[cd < r], minlength=n), initial=0)
                      for r in view_radii], np.int32)
    return (idx.reshape(n, capacity), shifts.reshape(n, capacity, 3), hi, hj, hs,
            np.int32(counts.max(initial=0)), np.int32(len(i)), views)


def host_rows(positions, cell, pbc, radius: float):
    """Every pair within ``radius`` Å, rows sorted by distance, exact capacity (host side).

    Returns idx (N, K) with N as padding, shifts (N, K, 3), dist (N, K) Å with inf padding,
    and the half list ``(i, j, S)`` (each pair once, unpadded)."""
    positions = np.asarray(positions, np.float64)
    n = positions.shape[0]
    i, j, s, d = host_pairs(positions, cell, pbc, radius)
    ci, cd = np.concatenate([i, j]), np.concatenate([d, d])
    rank, counts = _sorted_row_ranks(ci, cd, n)
    k = max(int(counts.max(initial=0)), 1)
    flat = ci.astype(np.int64) * k + rank
    idx = np.full(n * k, n, np.int32)
    dist = np.full(n * k, np.inf)
    idx[flat] = np.concatenate([j, i])
    shifts = _put_rows(np.concatenate([s, -s]), flat, n * k)
    dist[flat] = cd
    half = (i, j, s)
    return idx.reshape(n, k), shifts.reshape(n, k, 3), dist.reshape(n, k), half


def _host_build(static: tuple, scratch: Scratch, positions, cell, atom_count=None):
    """The pure callback: positions (N, 3), cell (3, 3) -> packed arrays (see pack_pairs);
    the half list of the binned search is written into ``scratch`` (the callback's results
    are copied into XLA's buffers)."""
    pbc, radius, capacity, half_capacity, sort_rows, view_radii = static
    positions = np.asarray(positions, np.float64)
    n_total = positions.shape[0]
    n = n_total if atom_count is None else int(atom_count)
    if capacity == 0 and not view_radii:  # a half list only (MD of pair and EAM models)
        found = binned_half_list(positions[:n], np.asarray(cell), pbc, radius, half_capacity,
                                 n_total, HALF_LIST_RUNS, scratch)
        if found is not None:
            hi, hj, hs, pairs, max_count = found
            return (np.zeros((n_total, 0), np.int32), np.zeros((n_total, 0, 3), np.int32), hi,
                    hj, hs, np.int32(max_count), np.int32(pairs), np.zeros((0,), np.int32))
    i, j, s, d = host_pairs(positions[:n], np.asarray(cell), pbc, radius,
                            distances=sort_rows or bool(view_radii))
    out = pack_pairs(n, i, j, s, d, capacity, half_capacity, sort_rows, view_radii,
                     pad=n_total)
    if n < n_total:  # padding atoms of a batch: empty rows
        idx = np.full((n_total, capacity), n_total, np.int32)
        shifts = np.zeros((n_total, capacity, 3), np.int32)
        idx[:n], shifts[:n] = out[0], out[1]
        out = (idx, shifts) + out[2:]
    return out


def host_rebuild(positions, cell, nbrs: NeighborList):
    """Jittable: ``(idx, shifts, half_i, half_j, half_shifts, max_count, half_count,
    view_counts)`` of the pairs at ``positions``/``cell``, built on the host (vesin).

    No derivative flows through the integer outputs (inputs are ``stop_gradient``-ed); under
    ``vmap`` the systems are built one after another."""
    n, k = nbrs.idx.shape
    e = 0 if nbrs.half_i is None else int(nbrs.half_i.shape[0])
    static = (nbrs.pbc, nbrs.list_cutoff, k, e, bool(nbrs.view_cutoffs),
              tuple(c + nbrs.skin for c in nbrs.view_cutoffs))
    i32 = jnp.int32
    shapes = (jax.ShapeDtypeStruct((n, k), i32), jax.ShapeDtypeStruct((n, k, 3), i32),
              jax.ShapeDtypeStruct((e,), i32), jax.ShapeDtypeStruct((e,), i32),
              jax.ShapeDtypeStruct((e, 3), i32), jax.ShapeDtypeStruct((), i32),
              jax.ShapeDtypeStruct((), i32),
              jax.ShapeDtypeStruct((len(nbrs.view_cutoffs),), i32))
    args = [jax.lax.stop_gradient(positions), jax.lax.stop_gradient(cell)]
    if nbrs.atom_count is not None:
        args.append(nbrs.atom_count)
    # buffers of this traced rebuild, kept between its calls (host_workers.Scratch)
    return jax.pure_callback(functools.partial(_host_build, static, Scratch()), shapes, *args,
                             vmap_method="sequential")
