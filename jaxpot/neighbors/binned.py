"""Half neighbor lists of large cells from a binned cell list compiled by numba (host side).

The MD loop rebuilds its list on the host every few steps (``method="host"``); for cells that
hold many atoms this search is faster than vesin's general one (4,000 LJ atoms, 153,000 pairs:
search 3.9 ms on two threads and 5.2 ms on one, vesin 9.2 ms on two and 13.8 ms on one, with
bins a whole radius wide; half as wide, the search takes 3.0 ms on one thread, the same pairs;
benchmarks/RESULTS.md and HISTORY.md):

* bins are parallelepipeds of the cell at least ``radius / REACH`` wide between opposite
  faces, so a pair within ``radius`` lies at most REACH bins apart along each axis, in any
  cell shape (LAMMPS bins at half the neighbor cutoff by default too);
* each pair is found once, from a half stencil (the later bins of the (2 REACH + 1)^3 around
  an atom's, and the later atoms of its own bin), without an ``i < j`` test per candidate;
* positions are wrapped into the cell and sorted by bin, so the bins along the last axis of a
  stencil row hold one contiguous range of candidates.

:func:`binned_pairs` applies where every periodic axis holds at least MIN_PERIODIC_BINS bins
(every neighbor then has a single image within ``radius``) and the cell is not singular;
elsewhere it returns None and the caller uses vesin, which handles small cells with several
images of one neighbor.  The kernels are compiled on first use and cached on disk by numba.
"""

from __future__ import annotations

import functools

import numpy as np

from jaxpot.neighbors.host_workers import Scratch, buffer, compile_kernel, in_threads, pool, workers

#: bins are at least radius / REACH wide, so a pair within the radius lies at most REACH bins
#: apart along each axis (LAMMPS bins at half the neighbor cutoff too)
REACH = 2
#: a periodic axis needs this many bins for the half stencil to find each pair once
MIN_PERIODIC_BINS = 2 * REACH + 1


def _sort_into_bins(frac, cell_t, periodic, nbins, lower, upper):
    """Wrapped, bin-sorted positions: (start (B+1,), order (N,), positions (N, 3) Å, image
    (N, 3) int32) where atom ``order[k]`` sits at ``positions[k] = r - image @ cell``."""
    n = frac.shape[0]
    b0, b1, b2 = nbins[0], nbins[1], nbins[2]
    image = np.zeros((n, 3), np.int32)
    bin_of = np.empty(n, np.int64)
    g = np.empty((n, 3))
    for a in range(n):
        key = 0
        for d in range(3):
            f = frac[a, d]
            if periodic[d]:
                fl = np.floor(f)
                image[a, d] = np.int32(fl)
                f -= fl
                k = np.int64(f * nbins[d])
            else:
                k = np.int64((f - lower[d]) / (upper[d] - lower[d]) * nbins[d]) \
                    if upper[d] > lower[d] else 0
            k = min(max(k, 0), nbins[d] - 1)
            g[a, d] = f
            key = key * nbins[d] + k
        bin_of[a] = key
    start = np.zeros(b0 * b1 * b2 + 1, np.int64)
    for a in range(n):
        start[bin_of[a] + 1] += 1
    for b in range(b0 * b1 * b2):
        start[b + 1] += start[b]
    fill = start[:-1].copy()
    order = np.empty(n, np.int64)
    for a in range(n):
        order[fill[bin_of[a]]] = a
        fill[bin_of[a]] += 1
    positions = np.empty((n, 3))
    images = np.empty((n, 3), np.int32)
    for k in range(n):
        a = order[k]
        for d in range(3):
            positions[k, d] = g[a, 0] * cell_t[d, 0] + g[a, 1] * cell_t[d, 1] + \
                g[a, 2] * cell_t[d, 2]
            images[k, d] = image[a, d]
    return start, order, positions, images


def _stencil_pairs(start, order, pos, image, cell_t, periodic, nbins, radius2, rows_lo,
                   rows_hi, out_i, out_j, out_s, counts):
    """The pairs within ``sqrt(radius2)`` whose first atom lies in the bin rows ``rows_lo <=
    c0 * nbins[1] + c1 < rows_hi``, each once, from the bins of :func:`_sort_into_bins` (at
    least a REACH-th of the radius wide): atom indices and shifts written to ``out_i``,
    ``out_j`` (C,) and ``out_s`` (C, 3), one added to ``counts`` (N,) of both atoms of each;
    returns how many there are (only counted past C).

    Each atom scans the half stencil as runs of bins along the last axis: the bins
    ``c2 - REACH ... c2 + REACH`` of one (c0, c1) row hold contiguous atoms, cut in up to
    three ranges where the row wraps around a periodic face (each with its own shift)."""
    b0, b1, b2 = nbins[0], nbins[1], nbins[2]
    reach = REACH
    capacity = out_i.shape[0]
    count = 0
    for c01 in range(rows_lo, rows_hi):
        c0, c1 = c01 // b1, c01 % b1
        for c2 in range(b2):
            b = (c0 * b1 + c1) * b2 + c2
            for k in range(start[b], start[b + 1]):
                ai = order[k]
                for o0 in range(0, reach + 1):  # the half stencil: rows after (0, 0)
                    d0, w0 = c0 + o0, 0
                    if d0 >= b0:
                        if not periodic[0]:
                            continue
                        d0, w0 = d0 - b0, 1
                    for o1 in range(-reach if o0 > 0 else 0, reach + 1):
                        d1, w1 = c1 + o1, 0
                        if d1 < 0 or d1 >= b1:
                            if not periodic[1]:
                                continue
                            d1, w1 = (d1 + b1, -1) if d1 < 0 else (d1 - b1, 1)
                        row = (d0 * b1 + d1) * b2
                        own = o0 == 0 and o1 == 0  # own row: own bin (later atoms) on
                        first, last = (c2 if own else c2 - reach), c2 + reach
                        for part in range(3):  # wrapped below 0, inside, wrapped past
                            if part == 1:
                                lo, hi, w2 = max(first, 0), min(last, b2 - 1), 0
                            elif not periodic[2]:
                                continue
                            elif part == 0:
                                if first >= 0:
                                    continue
                                lo, hi, w2 = first + b2, b2 - 1, -1
                            else:
                                if last < b2:
                                    continue
                                lo, hi, w2 = 0, last - b2, 1
                            jlo = k + 1 if own and part == 1 else start[row + lo]
                            jhi = start[row + hi + 1]
                            x0 = pos[k, 0] - (w0 * cell_t[0, 0] + w1 * cell_t[0, 1] +
                                              w2 * cell_t[0, 2])
                            x1 = pos[k, 1] - (w0 * cell_t[1, 0] + w1 * cell_t[1, 1] +
                                              w2 * cell_t[1, 2])
                            x2 = pos[k, 2] - (w0 * cell_t[2, 0] + w1 * cell_t[2, 1] +
                                              w2 * cell_t[2, 2])
                            for kk in range(jlo, jhi):
                                dx, dy, dz = pos[kk, 0] - x0, pos[kk, 1] - x1, \
                                    pos[kk, 2] - x2
                                if dx * dx + dy * dy + dz * dz < radius2:
                                    if count < capacity:
                                        aj = order[kk]
                                        out_i[count], out_j[count] = ai, aj
                                        out_s[count, 0] = w0 - image[kk, 0] + image[k, 0]
                                        out_s[count, 1] = w1 - image[kk, 1] + image[k, 1]
                                        out_s[count, 2] = w2 - image[kk, 2] + image[k, 2]
                                        counts[ai] += 1
                                        counts[aj] += 1
                                    count += 1
    return count


def _interleave(out_i, out_j, out_s, offsets, stride, capacity, pad, runs, row_lo, row_hi,
                i, j, shifts):
    """Rows ``row_lo <= k < row_hi`` of the half list (slots ``k * runs + r``): pair
    ``p = r * q + k`` of the found ones (chunk c holds pairs ``offsets[c] <= p <
    offsets[c + 1]`` from ``c * stride`` of the flat ``out_*``), so that the pairs form
    ``runs`` interleaved runs; in order (one run) where the runs do not fit the capacity;
    ``pad`` with zero shifts in the slots past the last pair of a run.

    Rows are copied ROW_TILE at a time, one run after another: each run reads on from where
    it stopped and writes within the tile's slots, which stay in cache (4,000 LJ atoms: 0.61
    -> 0.34 ms a thread, against a pass over the slots reading every run in turn)."""
    e = min(offsets[-1], capacity)
    q = -(-e // runs)
    width = runs if not (e == 0 or q * runs > capacity or e <= (runs - 1) * q) else 1
    rows = q if width > 1 else e
    row_hi = min(row_hi, rows)
    chunks = offsets.shape[0] - 1
    read = np.empty(width, np.int64)  # where run r reads next, and where its chunk ends
    stop = np.empty(width, np.int64)
    chunk = np.zeros(width, np.int64)
    valid = np.empty(width, np.int64)  # rows of run r that hold pairs
    for r in range(width):
        first = r * q if width > 1 else 0  # the pair in row 0 of run r
        p = min(first + row_lo, e)
        c = 0
        while c < chunks - 1 and p >= offsets[c + 1]:
            c += 1
        chunk[r] = c
        read[r] = c * stride + p - offsets[c]
        stop[r] = c * stride + offsets[c + 1] - offsets[c]
        valid[r] = min(row_hi, max(e - first, 0))
    for k0 in range(row_lo, row_hi, ROW_TILE):
        k1 = min(k0 + ROW_TILE, row_hi)
        for r in range(width):
            src, end, c = read[r], stop[r], chunk[r]
            for k in range(k0, k1):
                slot = k * width + r
                if k >= valid[r]:
                    i[slot], j[slot] = pad, pad
                    shifts[slot, 0], shifts[slot, 1], shifts[slot, 2] = 0, 0, 0
                    continue
                while src >= end:  # the next chunk's pairs
                    c += 1
                    src = c * stride
                    end = c * stride + offsets[c + 1] - offsets[c]
                i[slot], j[slot] = out_i[src], out_j[src]
                shifts[slot, 0], shifts[slot, 1], shifts[slot, 2] = \
                    out_s[src, 0], out_s[src, 1], out_s[src, 2]
                src += 1
            read[r], stop[r], chunk[r] = src, end, c


#: rows of the half list copied together by :func:`_interleave` (ROW_TILE * runs slots)
ROW_TILE = 256


@functools.cache
def _kernel(name: str):
    """The compiled kernel ``name`` (compiled once per process, loaded from numba's cache)."""
    return compile_kernel({"sort": _sort_into_bins, "search": _stencil_pairs,
                           "interleave": _interleave}[name])


#: at most this many bins per atom (a sparse system in a large cell gets wider bins)
BINS_PER_ATOM = 8


def bin_grid(cell: np.ndarray, pbc, radius: float, frac: np.ndarray):
    """Bins per axis (3,) int64 and the fractional range (lower, upper) of non-periodic axes,
    or None where the binned search does not apply (singular cell, a periodic axis thinner
    than MIN_PERIODIC_BINS * radius / REACH, non-finite or astronomically far positions).

    Bins are at least ``radius / REACH`` wide and at most BINS_PER_ATOM per atom."""
    volume = abs(float(np.linalg.det(cell)))
    if not volume > 1e-9 * max(float(np.abs(cell).max()), 1.0) ** 3:
        return None
    if not np.all(np.isfinite(frac)) or np.max(np.abs(frac), initial=0.0) > 2.0 ** 30:
        return None  # the caller's checks report non-finite positions
    spacing = 1.0 / np.linalg.norm(np.linalg.inv(cell), axis=0)  # between opposite faces, Å
    # open axes span their atoms (one column at a time: numpy's axis-0 reductions of an
    # (N, 3) array cost 9 ms at 256,000 atoms, a column's 0.3)
    lower, upper = np.zeros(3), np.ones(3)
    for d in np.flatnonzero(~np.asarray(pbc, bool)):
        lower[d], upper[d] = frac[:, d].min(initial=0.0), frac[:, d].max(initial=0.0)
    width = spacing * (upper - lower)
    nbins = np.maximum(np.floor(width * REACH / radius), 1.0)
    limit = max(BINS_PER_ATOM * frac.shape[0], 64)
    if np.prod(nbins) > limit:  # wider bins for a sparse system
        nbins = np.maximum(np.floor(nbins * (limit / np.prod(nbins)) ** (1.0 / 3.0)), 1.0)
    nbins = nbins.astype(np.int64)
    if np.any(np.asarray(pbc) & (nbins < MIN_PERIODIC_BINS)):
        return None
    return nbins, lower, upper


def binned_half_list(positions: np.ndarray, cell: np.ndarray, pbc, radius: float,
                     capacity: int | None = None, pad: int = -1, runs: int = 1,
                     scratch: Scratch | None = None):
    """Each pair within ``radius`` Å once: (i, j, S, n_pairs, max_count), i and j (E,)
    int32, S (E, 3) int32 with ``r_j - r_i + S @ cell`` the pair vector, the pairs stored
    as ``runs`` interleaved runs and padded with ``pad`` to ``capacity`` slots (None: exactly
    the pairs, in search order; fewer slots than pairs: the first ones), n_pairs the pairs
    found and max_count the most pairs of one atom; None where the search does not apply
    (see :func:`bin_grid`).  The search and the packing run on ``host_workers.workers()``
    threads; with ``scratch`` they write into its buffers (i, j and S are then views into
    them)."""
    positions = np.ascontiguousarray(positions, np.float64)
    cell = np.asarray(cell, np.float64)
    pbc = np.array([bool(p) for p in pbc])
    n = positions.shape[0]
    if n == 0 or abs(np.linalg.det(cell)) == 0:
        return None
    frac = np.ascontiguousarray(positions @ np.linalg.inv(cell))
    grid = bin_grid(cell, pbc, radius, frac)
    if grid is None:
        return None
    nbins, lower, upper = grid
    cell_t = np.ascontiguousarray(cell.T)
    start, order, pos, image = _kernel("sort")(frac, cell_t, pbc, nbins, lower, upper)
    chunks = min(workers(), int(nbins[0] * nbins[1]))
    # each thread the rows of bins (c0, c1) holding about n / chunks atoms
    row_starts = start[::int(nbins[2])]
    cuts = np.searchsorted(row_starts, np.arange(1, chunks) * n / chunks)
    slabs = list(zip([0, *cuts], [*cuts, len(row_starts) - 1]))
    expected = n * n / abs(np.linalg.det(cell)) * (2.0 / 3.0) * np.pi * radius ** 3
    guess = int(1.3 * expected / chunks) + 64 if np.all(pbc) else 16 * n // chunks + 64
    threads = pool(max(chunks - 1, 1))
    while True:  # again with room for every pair when the guess was short
        out = (buffer(scratch, "found_i", chunks * guess),
               buffer(scratch, "found_j", chunks * guess),
               buffer(scratch, "found_shifts", chunks * guess, 3))
        per_atom = np.zeros((chunks, n), np.int32)
        counts = in_threads(threads, _kernel("search"), [
            (start, order, pos, image, cell_t, pbc, nbins, float(radius) ** 2, lo, hi,
             *(x[c * guess:(c + 1) * guess] for x in out), per_atom[c])
            for c, (lo, hi) in enumerate(slabs)])
        if max(counts) <= guess:
            break
        guess = max(counts)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    pairs = int(offsets[-1])
    size = pairs if capacity is None else int(capacity)
    outputs = (buffer(scratch, "i", size), buffer(scratch, "j", size),
               buffer(scratch, "shifts", size, 3))
    _pack_runs(out, offsets, guess, size, pad, runs, outputs, threads, chunks)
    return (*outputs, pairs, int(per_atom.sum(axis=0).max()))


def _pack_runs(found, offsets, stride: int, size: int, pad: int, runs: int, outputs, threads,
               chunks: int):
    """The found pairs (chunk c: ``offsets[c] <= p < offsets[c + 1]`` from ``c * stride``
    of ``found``'s i, j, S) written into ``outputs`` (i, j (size,), S (size, 3)) as ``runs``
    interleaved runs (:func:`_interleave`, its rows split between ``chunks`` threads)."""
    e = min(int(offsets[-1]), size)
    q = -(-e // runs)
    rows = e if e == 0 or q * runs > size or e <= (runs - 1) * q else q  # as the kernel
    width = 1 if rows == e else runs
    i, j, shifts = outputs
    i[rows * width:], j[rows * width:], shifts[rows * width:] = pad, pad, 0
    in_threads(threads, _kernel("interleave"), [
        (*found, offsets, stride, size, int(pad), int(runs), c * rows // chunks,
         (c + 1) * rows // chunks, i, j, shifts) for c in range(chunks)])


def interleaved_half_list(i: np.ndarray, j: np.ndarray, s: np.ndarray, capacity: int,
                          pad: int, runs: int):
    """Half list arrays (capacity,) of the pairs ``(i, j, s)`` stored as ``runs``
    interleaved runs (pair k of run r at slot ``k * runs + r``), padded with ``pad`` and
    zero shifts; in order where the runs do not fit the capacity (one thread)."""
    found = tuple(np.ascontiguousarray(a, np.int32) for a in (i, j, s))
    outputs = (np.empty(capacity, np.int32), np.empty(capacity, np.int32),
               np.empty((capacity, 3), np.int32))
    offsets = np.array([0, len(found[0])], np.int64)
    _pack_runs(found, offsets, len(found[0]), capacity, pad, runs, outputs, None, 1)
    return outputs


def binned_pairs(positions: np.ndarray, cell: np.ndarray, pbc, radius: float):
    """Each pair within ``radius`` Å once, as ``vesin_pairs(..., full=False)``: (i, j, S)
    int32 with ``r_j - r_i + S @ cell`` the pair vector; None where the search does not
    apply (see :func:`bin_grid`)."""
    found = binned_half_list(positions, cell, pbc, radius)
    return None if found is None else found[:3]
