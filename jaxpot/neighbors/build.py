"""Jittable neighbor-list builds (all pairs, cell list) and the skin-criterion update."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from jax import custom_batching

from jaxpot.neighbors.core import (
    _BLOCK_ELEMENTS,
    BIN_CAPACITY,
    CAPACITY,
    GEOMETRY,
    VIEW_CAPACITY,
    NeighborList,
    _half_list,
    reciprocal_grid_ok,
)
from jaxpot.neighbors.host import host_rebuild
from jaxpot.types import Array


def _stencil_offsets(stencil: int) -> np.ndarray:
    """Bin offsets (S, 3) reaching ``stencil`` bins each way ((2s+1)^3 of them)."""
    r = range(-stencil, stencil + 1)
    return np.array(list(itertools.product(r, r, r)), dtype=np.int32)

def _frame(cell: Array, nbrs: NeighborList) -> Array:
    """Binning frame: periodic rows are the current lattice vectors, open rows are fixed."""
    pbc = jnp.asarray(nbrs.pbc)
    return jnp.where(pbc[:, None], cell.astype(nbrs.binning_frame.dtype), nbrs.binning_frame)


def _wrapped(positions: Array, cell: Array, nbrs: NeighborList):
    """Fractional coordinates in the binning frame, wrapped along periodic directions.

    Returns (wrapped fractional (N,3), integer image of each atom (N,3), frame (3,3)).
    """
    frame = _frame(cell, nbrs)
    frac = jnp.linalg.solve(frame.T, (positions - nbrs.binning_origin).T).T
    pbc = jnp.asarray(nbrs.pbc)
    image = jnp.where(pbc, jnp.floor(frac), 0.0)
    wrapped = frac - image
    # a tiny negative coordinate wraps to 1 - eps, which rounds to 1.0 (in float32 below
    # ~6e-8): that point is the next image's 0.0
    up = pbc & (wrapped >= 1.0)
    return jnp.where(up, 0.0, wrapped), (image + up).astype(jnp.int32), frame


def _compact(keep: Array, cand_d2: Array, capacity: int, sort: bool = True):
    """Slots of the kept candidates of one center, sorted by distance if ``sort`` (only lists
    with per-part views need it; sorting is half the cost of a build) (the first
    ``capacity`` kept ones when there are too many; the count reports the overflow).

    Returns candidate positions (capacity,), which slots are real, the count and the squared
    distances.  The k-th kept candidate is found by a binary search in the running count of
    kept ones (gathers only: XLA:CPU runs a scatter of every candidate several times slower).
    """
    m = keep.shape[0]
    running = jnp.cumsum(keep.astype(jnp.int32))
    pos = jnp.searchsorted(running, jnp.arange(1, capacity + 1, dtype=jnp.int32), side="left",
                           method="scan_unrolled")
    ok = pos < m
    pos = jnp.minimum(pos, m - 1)
    d2 = jnp.where(ok, cand_d2[pos], jnp.inf)
    if not sort:
        return pos, ok, running[-1], d2
    order = jnp.argsort(d2)
    return pos[order], ok[order], running[-1], d2[order]


def _select(centers, cand_j, group_m, group_ok, per_group: int, wpos, image, frame, cutoff2,
            capacity: int, n: int, sort: bool = True, live=None):
    """Distance test and compaction for a block of B centers.

    Candidates come in G groups of ``per_group`` atoms sharing one lattice offset
    ``group_m`` (B, G, 3) relative to the wrapped frame (a neighbor bin, or a lattice image);
    ``cand_j`` is (B, G * per_group).  The stored shift converts the offset to the caller's
    (possibly unwrapped) positions: ``m - image_j + image_i``; it is formed only for the
    ``capacity`` kept slots.  Atoms at index ``live`` and above (padding) take no part.
    """
    b, g = group_m.shape[:2]
    safe_j = jnp.minimum(cand_j, n - 1)
    safe_c = jnp.minimum(centers, n - 1)
    offset = group_m.astype(wpos.dtype) @ frame - wpos[safe_c][:, None, :]  # (B, G, 3)
    vec = wpos[safe_j].reshape(b, g, per_group, 3) + offset[:, :, None, :]
    d2 = jnp.sum(vec * vec, axis=-1).reshape(b, g * per_group)
    zero = jnp.repeat(jnp.all(group_m == 0, axis=-1), per_group, axis=1)
    live = n if live is None else live
    keep = (jnp.repeat(group_ok, per_group, axis=1) & (cand_j < live) & (d2 < cutoff2)
            & ~((cand_j == centers[:, None]) & zero) & (centers[:, None] < live))
    pos, ok, count, d2 = jax.vmap(lambda k, d: _compact(k, d, capacity, sort))(keep, d2)
    j = jnp.take_along_axis(cand_j, pos, axis=1)
    m = jnp.take_along_axis(group_m, (pos // per_group)[:, :, None], axis=1)
    shift = m - image[jnp.minimum(j, n - 1)] + image[safe_c][:, None, :]
    idx = jnp.where(ok, j, n).astype(jnp.int32)
    return idx, jnp.where(ok[:, :, None], shift, 0).astype(jnp.int32), count, d2


def _blocks(n: int, per_center: int) -> tuple[int, int]:
    """Block size and number of blocks so that one block holds <= _BLOCK_ELEMENTS candidates."""
    size = max(1, min(n, _BLOCK_ELEMENTS // max(per_center, 1)))
    return size, -(-n // size)


def _build_all_pairs(positions, cell, nbrs: NeighborList, capacity: int):
    n = positions.shape[0]
    wpos_frac, image, frame = _wrapped(positions, cell, nbrs)
    wpos = wpos_frac @ frame
    ranges = [np.arange(-r, r + 1) for r in nbrs.image_range]
    offsets_np = np.array(list(itertools.product(*ranges)), dtype=np.int32).reshape(-1, 3)
    offsets = jnp.asarray(offsets_np)
    s = offsets.shape[0]
    cand_j = jnp.tile(jnp.arange(n, dtype=jnp.int32), s)  # (S*N,): image-major groups
    size, nblocks = _blocks(n, n * s)
    centers = jnp.arange(size * nblocks, dtype=jnp.int32).reshape(nblocks, size)
    cutoff2 = (nbrs.cutoff + nbrs.skin) ** 2

    def block(c):
        b = c.shape[0]
        return _select(c, jnp.broadcast_to(cand_j, (b, n * s)),
                       jnp.broadcast_to(offsets, (b, s, 3)), jnp.ones((b, s), bool), n,
                       wpos, image, frame, cutoff2, capacity, n, bool(nbrs.view_cutoffs),
                       nbrs.atom_count)

    idx, shifts, counts, d2 = jax.lax.map(block, centers)
    # the image range must still reach cutoff + skin in the current cell
    widths = _perpendicular_widths_jnp(frame)
    need = jnp.ceil((nbrs.cutoff + nbrs.skin) / widths)
    geometry_ok = jnp.all(jnp.where(jnp.asarray(nbrs.pbc),
                                    need <= jnp.asarray(nbrs.image_range), True))
    return (idx.reshape(-1, capacity)[:n], shifts.reshape(-1, capacity, 3)[:n],
            counts.reshape(-1)[:n], jnp.int32(0), geometry_ok, d2.reshape(-1, capacity)[:n])


def _perpendicular_widths_jnp(frame: Array) -> Array:
    vol = jnp.abs(jnp.linalg.det(frame))
    areas = jnp.stack([jnp.linalg.norm(jnp.cross(frame[(i + 1) % 3], frame[(i + 2) % 3]))
                       for i in range(3)])
    return vol / areas


def _build_cell_list(positions, cell, nbrs: NeighborList, capacity: int):
    n = positions.shape[0]
    grid = jnp.asarray(nbrs.grid, jnp.int32)
    nbins = int(np.prod(nbrs.grid))
    cap = nbrs.bin_capacity
    pbc = jnp.asarray(nbrs.pbc)
    frac, image, frame = _wrapped(positions, cell, nbrs)
    wpos = frac @ frame
    inside = jnp.all((frac >= 0.0) & (frac < 1.0))
    bin3 = jnp.clip(jnp.floor(frac * grid).astype(jnp.int32), 0, grid - 1)
    strides = jnp.asarray([nbrs.grid[1] * nbrs.grid[2], nbrs.grid[2], 1], jnp.int32)
    bin_id = bin3 @ strides
    order = jnp.argsort(bin_id)
    counts = jnp.zeros((nbins,), jnp.int32).at[bin_id].add(1)
    starts = jnp.cumsum(counts) - counts
    sorted_bins = bin_id[order]
    slot = jnp.arange(n, dtype=jnp.int32) - starts[sorted_bins]
    slot = jnp.where(slot < cap, slot, cap)
    bin_atoms = jnp.full((nbins, cap + 1), n, jnp.int32).at[sorted_bins, slot].set(
        order.astype(jnp.int32), mode="drop")[:, :cap]
    max_occupancy = jnp.max(counts)

    offsets = jnp.asarray(_stencil_offsets(nbrs.stencil))  # (S, 3)
    n_offsets = offsets.shape[0]
    per_center = n_offsets * cap
    size, nblocks = _blocks(n, per_center)
    centers = jnp.arange(size * nblocks, dtype=jnp.int32).reshape(nblocks, size)
    cutoff2 = (nbrs.cutoff + nbrs.skin) ** 2

    def block(c):
        b = c.shape[0]
        nb3 = bin3[jnp.minimum(c, n - 1)][:, None, :] + offsets[None]  # (B, S, 3)
        m = jnp.where(pbc, jnp.floor_divide(nb3, grid), 0)
        wrapped_bin = jnp.where(pbc, jnp.mod(nb3, grid), nb3)
        ok_bin = jnp.all((wrapped_bin >= 0) & (wrapped_bin < grid), axis=-1)  # (B, S)
        flat = jnp.clip(wrapped_bin, 0, grid - 1) @ strides
        cand_j = bin_atoms[flat].reshape(b, per_center)
        return _select(c, cand_j, m, ok_bin, cap, wpos, image, frame, cutoff2, capacity, n,
                       bool(nbrs.view_cutoffs), nbrs.atom_count)

    idx, shifts, nbr_counts, d2 = jax.lax.map(block, centers)
    widths = _perpendicular_widths_jnp(frame)
    geometry_ok = jnp.all(widths / grid * nbrs.stencil >= nbrs.cutoff + nbrs.skin) & inside
    return (idx.reshape(-1, capacity)[:n], shifts.reshape(-1, capacity, 3)[:n],
            nbr_counts.reshape(-1)[:n], max_occupancy, geometry_ok, d2.reshape(-1, capacity)[:n])


def _build(positions: Array, cell: Array, nbrs: NeighborList, capacity: int):
    if nbrs.method == "cell_list":
        return _build_cell_list(positions, cell, nbrs, capacity)
    return _build_all_pairs(positions, cell, nbrs, capacity)


def rebuild_neighbor_list(positions: Array, cell: Array, nbrs: NeighborList) -> NeighborList:
    """Rebuild the list at ``positions`` and ``cell`` with the same capacity (jittable)."""
    if nbrs.method == "host":
        return _rebuild_on_host(positions, cell, nbrs)
    idx, shifts, counts, occupancy, geometry_ok, d2 = _build(positions, cell, nbrs, nbrs.capacity)
    geometry_ok = geometry_ok & reciprocal_grid_ok(cell, nbrs)
    max_count = jnp.max(counts).astype(jnp.int32)
    bits = jnp.where(max_count > nbrs.capacity, CAPACITY, 0) | jnp.where(geometry_ok, 0, GEOMETRY)
    if nbrs.method == "cell_list":
        bits = bits | jnp.where(occupancy > nbrs.bin_capacity, BIN_CAPACITY, 0)
    for c, k in zip(nbrs.view_cutoffs, nbrs.view_capacities):
        view_count = jnp.max(jnp.sum(d2 < (c + nbrs.skin) ** 2, axis=1))
        bits = bits | jnp.where(view_count > k, VIEW_CAPACITY, 0)
    half = {}
    if nbrs.half_i is not None:
        hi, hj, hs, count = _half_list(idx, shifts, nbrs.half_i.shape[0])
        half = dict(half_i=hi, half_j=hj, half_shifts=hs)
        bits = bits | jnp.where(count > nbrs.half_i.shape[0], CAPACITY, 0)
    return nbrs.replace(idx=idx, shifts=shifts, **half, reference_positions=positions,
                        reference_cell=cell.astype(nbrs.reference_cell.dtype),
                        overflow=(nbrs.overflow | bits).astype(jnp.int32), max_count=max_count,
                        max_occupancy=occupancy.astype(jnp.int32))


def _rebuild_on_host(positions: Array, cell: Array, nbrs: NeighborList) -> NeighborList:
    idx, shifts, hi, hj, hs, max_count, half_count, view_counts = host_rebuild(
        positions, cell, nbrs)
    bits = (jnp.where((max_count > nbrs.capacity) & nbrs.rows, CAPACITY, 0)
            | jnp.where(reciprocal_grid_ok(cell, nbrs), 0, GEOMETRY))
    for v, k in enumerate(nbrs.view_capacities):
        bits = bits | jnp.where(view_counts[v] > k, VIEW_CAPACITY, 0)
    half = {}
    if nbrs.half_i is not None:
        half = dict(half_i=hi, half_j=hj, half_shifts=hs)
        bits = bits | jnp.where(half_count > nbrs.half_i.shape[0], CAPACITY, 0)
    return nbrs.replace(idx=idx, shifts=shifts, **half, reference_positions=positions,
                        reference_cell=cell.astype(nbrs.reference_cell.dtype),
                        overflow=(nbrs.overflow | bits).astype(jnp.int32), max_count=max_count)


def needs_rebuild(positions: Array, cell: Array, nbrs: NeighborList) -> Array:
    """True when some pair may have entered ``cutoff`` since the last build (skin criterion).

    With a cell change ``F = ref_cell^-1 cell``, a pair vector moves by at most
    ``|u_i| + |u_j| + (cutoff+skin) ||F - I||`` where ``u`` are the non-affine displacements;
    the two largest ``|u|`` bound the first two terms (LAMMPS's ``check yes`` uses twice the
    largest, which rebuilds earlier).
    """
    if nbrs.skin <= 0.0:
        return jnp.asarray(True)
    ref_cell = nbrs.reference_cell.astype(positions.dtype)
    if all(nbrs.pbc):
        deformation = jnp.linalg.solve(ref_cell, cell)
        u = positions - nbrs.reference_positions @ deformation
        strain = jnp.linalg.norm(deformation - jnp.eye(3, dtype=positions.dtype))
    else:
        u = positions - nbrs.reference_positions
        strain = jnp.where(jnp.all(cell == ref_cell), 0.0, jnp.inf)
    u2 = jnp.sum(u * u, axis=-1)
    first = jnp.argmax(u2)
    second = jnp.max(jnp.where(jnp.arange(u2.shape[0]) == first, 0.0, u2), initial=0.0)
    moved = jnp.sqrt(u2[first]) + jnp.sqrt(second)
    return moved + (nbrs.cutoff + nbrs.skin) * strain >= nbrs.skin


def _update_one(positions: Array, cell: Array, nbrs: NeighborList) -> NeighborList:
    return jax.lax.cond(needs_rebuild(positions, cell, nbrs),
                        lambda: rebuild_neighbor_list(positions, cell, nbrs), lambda: nbrs)


@custom_batching.custom_vmap
def _update_vmappable(positions: Array, cell: Array, nbrs: NeighborList) -> NeighborList:
    return _update_one(positions, cell, nbrs)


@_update_vmappable.def_vmap
def _update_batch(axis_size: int, in_batched, positions, cell, nbrs):
    """Under ``vmap`` (replicas, batches of systems) a ``lax.cond`` on a batched predicate
    becomes a select that runs the rebuild at every step; here the batch rebuilds only when
    some system needs it (all of them then, keeping the others' lists where they did not)."""
    def batched(x, is_batched):
        return x if is_batched else jnp.broadcast_to(x, (axis_size,) + jnp.shape(x))

    positions, cell, nbrs = jax.tree_util.tree_map(batched, (positions, cell, nbrs),
                                                   tuple(in_batched))
    need = jax.vmap(needs_rebuild)(positions, cell, nbrs)
    rebuilt = jax.lax.cond(jnp.any(need),
                           lambda: jax.vmap(rebuild_neighbor_list)(positions, cell, nbrs),
                           lambda: nbrs)
    out = jax.tree_util.tree_map(
        lambda new, old: jnp.where(need.reshape((-1,) + (1,) * (new.ndim - 1)), new, old),
        rebuilt, nbrs)
    return out, jax.tree_util.tree_map(lambda _: True, out)


@jax.custom_jvp
def update_neighbor_list(positions: Array, cell: Array, nbrs: NeighborList) -> NeighborList:
    """Jittable update: rebuild only when the skin criterion asks for it.

    The returned list has ``did_overflow`` set if it could not hold every neighbor; check it
    on the host with :func:`reallocate_if_needed`.  Under ``vmap`` one rebuild serves the
    batch (see ``_update_batch``); derivatives are those of the plain conditional rebuild.
    """
    return _update_vmappable(positions, cell, nbrs)


@update_neighbor_list.defjvp
def _update_jvp(primals, tangents):
    return jax.jvp(_update_one, primals, tangents)
