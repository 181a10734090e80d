"""Neighbor lists: one dense ``(N, K)`` pytree used by every model, built all-pairs or by cell list.

A :class:`NeighborList` stores, for each atom ``i``, up to ``K`` neighbors ``idx[i, k]`` and the
integer lattice image ``shifts[i, k]`` of that neighbor, so that the pair vector is

    r_ij = positions[j] - positions[i] + shifts[i, k] @ cell.

The list is *full* (each pair appears from both sides), contains every image within
``cutoff + skin`` (also images beyond the nearest one, so a 2-atom primitive cell with a 5 Å
cutoff is right), and padding entries hold ``idx == N``.  Because shifts are integers and
vectors are formed from ``positions`` and ``cell``, a homogeneous strain of both acts on every
pair vector exactly: stress by autodiff needs no special handling.

Why not ``jax_md.partition.neighbor_list``: jax-md stores lattice vectors as columns, cannot hold
several images of one neighbor (so small cells need supercells), and leaves overflow to every
caller.  Here overflow is a sticky ``did_overflow`` flag set inside jit, and
:func:`reallocate_if_needed` (host side) answers it with a larger capacity; the calculator and the
MD runner call it for you.

Building is ``O(N)`` with a cell list (bins at least ``cutoff + skin`` wide, 27 neighbor bins) and
``O(N^2 S)`` all-pairs (``S`` lattice images) for small cells; both are jittable and processed in
blocks of centers so memory stays linear in ``N``.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.pytree import pytree_dataclass, static_field
from jaxpot.space import perpendicular_widths
from jaxpot.structure import StructureError, validate_atoms_input
from jaxpot.types import Array

_BLOCK_ELEMENTS = 1 << 21  # candidate pairs processed at once (memory bound of a build)
_NEIGHBOR_OFFSETS = np.array(list(itertools.product((-1, 0, 1), repeat=3)), dtype=np.int32)

#: overflow causes, one bit each (``NeighborList.overflow``), as jax-md's partition.py does
CAPACITY = 1  # an atom has more neighbors than the K slots
BIN_CAPACITY = 2  # a cell-list bin holds more atoms than its capacity
GEOMETRY = 4  # the cell shrank below the image range / bin width, or an atom left the open box
VIEW_CAPACITY = 8  # more neighbors within a part's cutoff than that part's slots
OVERFLOW_CAUSES = {CAPACITY: "neighbor capacity", BIN_CAPACITY: "cell-list bin capacity",
                   GEOMETRY: "cell or box geometry (cell shrank or an atom left the box)",
                   VIEW_CAPACITY: "capacity of a part's cutoff view"}


class NeighborListOverflowError(RuntimeError):
    """Raised when a neighbor list overflowed and could not be reallocated."""


@pytree_dataclass
class NeighborList:
    """Dense neighbor list; see the module docstring.

    Attributes:
        idx: (N, K) int32 neighbor indices, ``N`` marks padding; each row is sorted by
            distance at the last build, so a shorter cutoff's neighbors are a prefix.
        shifts: (N, K, 3) int32 lattice image of each neighbor.
        half_i, half_j, half_shifts: (E,), (E,), (E, 3) int32: each pair once (the "half
            list", ``i < j`` or a positive image of a self pair), flat and padded with
            ``N``; pair models sum over it (half the work of the full rows, no K padding).
            None when the list was allocated without it.
        reference_positions: (N, 3) Å positions at the last build (for the skin test).
        reference_cell: (3, 3) Å cell at the last build.
        overflow: () int32 bitmask, sticky; non-zero when the list could not hold every
            neighbor (bits ``CAPACITY``, ``BIN_CAPACITY``, ``GEOMETRY``, ``VIEW_CAPACITY``).
        max_count: () int32, the largest number of neighbors of one atom at the last build.
        max_occupancy: () int32, the fullest bin at the last build (cell list only).
        binning_origin, binning_frame: frame of the cell-list bins for open directions.
        view_cutoffs, view_capacities: shorter cutoffs (Å) of the parts of a sum and the
            number of leading slots that hold every neighbor within each (plus skin).
    """

    idx: Array
    shifts: Array
    half_i: Array | None
    half_j: Array | None
    half_shifts: Array | None
    reference_positions: Array
    reference_cell: Array
    overflow: Array
    max_count: Array
    max_occupancy: Array
    binning_origin: Array
    binning_frame: Array
    cutoff: float = static_field()
    skin: float = static_field()
    pbc: tuple[bool, bool, bool] = static_field()
    method: str = static_field()
    image_range: tuple[int, int, int] = static_field()
    grid: tuple[int, int, int] = static_field()
    bin_capacity: int = static_field()
    capacity_multiplier: float = static_field()
    view_cutoffs: tuple[float, ...] = static_field(default=())
    view_capacities: tuple[int, ...] = static_field(default=())

    @property
    def did_overflow(self) -> Array:
        """() bool: the list could not hold every neighbor (see :attr:`overflow` for why)."""
        return self.overflow != 0

    def within(self, cutoff: float) -> "NeighborList":
        """The list as seen by a model of shorter ``cutoff`` (Å): the leading slots of each row.

        Rows are sorted by distance, so the neighbors within ``cutoff + skin`` are the first
        ``view_capacities[v]`` slots of the smallest view with ``view_cutoffs[v] >= cutoff``.
        Without such a view the whole list is returned (still correct, just not cheaper).
        """
        if cutoff >= self.cutoff:
            return self
        fits = [(c, k) for c, k in zip(self.view_cutoffs, self.view_capacities) if c >= cutoff]
        if not fits:
            return self
        c, k = min(fits)
        if k >= self.capacity:
            return self.replace(cutoff=c, view_cutoffs=(), view_capacities=())
        return self.replace(idx=self.idx[:, :k], shifts=self.shifts[:, :k], half_i=None,
                            half_j=None, half_shifts=None, cutoff=c, view_cutoffs=(),
                            view_capacities=())

    @property
    def has_half_list(self) -> bool:
        return self.half_i is not None

    @property
    def capacity(self) -> int:
        """K, the number of neighbor slots per atom."""
        return int(self.idx.shape[1])

    @property
    def n_atoms(self) -> int:
        return int(self.idx.shape[0])

    @property
    def list_cutoff(self) -> float:
        """``cutoff + skin``, the radius within which every pair is stored."""
        return self.cutoff + self.skin

    def pairs(self) -> tuple[Array, Array, Array, Array]:
        """Flat views ``(i, j, shifts, mask)`` of shapes (N*K,), (N*K,), (N*K, 3), (N*K,)."""
        n, k = self.idx.shape
        i = jnp.repeat(jnp.arange(n, dtype=jnp.int32), k)
        j = self.idx.reshape(-1)
        return i, j, self.shifts.reshape(-1, 3), j < n

    def to_numpy_pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Host copy of the valid pairs ``(i, j, S)`` as ``ase.neighborlist.neighbor_list('ijS')``."""
        i, j, s, m = (np.asarray(a) for a in self.pairs())
        return i[m], j[m], s[m]


def overflow_causes(nbrs: NeighborList) -> list[str]:
    """Human-readable causes of an overflow (empty when the list is fine)."""
    bits = int(nbrs.overflow)
    return [text for bit, text in OVERFLOW_CAUSES.items() if bits & bit]


class NeighborListFns(NamedTuple):
    """``allocate(positions, cell, pbc)`` on the host and jittable ``update(positions, cell, nbrs)``."""

    allocate: Callable[..., NeighborList]
    update: Callable[[Array, Array, NeighborList], NeighborList]


def neighbor_list(cutoff: float, skin: float = 0.0, capacity_multiplier: float = 1.25,
                  method: str = "auto") -> NeighborListFns:
    """jax-md-style pair of functions for a neighbor list of radius ``cutoff + skin`` (Å)."""
    allocate = functools.partial(allocate_neighbor_list, cutoff=cutoff, skin=skin,
                                 capacity_multiplier=capacity_multiplier, method=method)
    return NeighborListFns(allocate=allocate, update=update_neighbor_list)


# --------------------------------------------------------------------------------------------
# jittable pieces
# --------------------------------------------------------------------------------------------


def neighbor_vectors(positions: Array, cell: Array, nbrs: NeighborList) -> tuple[Array, Array]:
    """Pair vectors (N, K, 3) Å from each atom to its neighbors and a validity mask (N, K).

    Padding entries get the zero vector; callers combine ``mask`` with their own cutoff.
    """
    n = positions.shape[0]
    padded = jnp.concatenate([positions, jnp.zeros((1, 3), positions.dtype)], axis=0)
    vectors = padded[nbrs.idx] - positions[:, None, :] + lattice_shift(nbrs.shifts, cell)
    mask = nbrs.idx < n
    return jnp.where(mask[..., None], vectors, 0.0), mask


def lattice_shift(shifts: Array, cell: Array) -> Array:
    """Cartesian image offsets ``shifts @ cell`` (..., 3) Å (one dot, so the cell gradient,
    i.e. the stress, is one contraction over the pairs)."""
    return jnp.einsum("...a,ab->...b", shifts.astype(cell.dtype), cell)


def half_pair_vectors(positions: Array, cell: Array, nbrs: NeighborList
                      ) -> tuple[Array, Array, Array, Array]:
    """Each pair once: (i (E,), j (E,), vectors r_j - r_i + S cell (E, 3) Å, mask (E,)).

    Padding edges hold ``i = j = N``, the zero vector and mask False."""
    n = positions.shape[0]
    padded = jnp.concatenate([positions, jnp.zeros((1, 3), positions.dtype)], axis=0)
    i, j = nbrs.half_i, nbrs.half_j
    vectors = padded[j] - padded[i] + lattice_shift(nbrs.half_shifts, cell)
    mask = i < n
    return i, j, jnp.where(mask[:, None], vectors, 0.0), mask


def _forward(i, j, shifts):
    """True for the slot that represents its pair in the half list."""
    s0, s1, s2 = shifts[..., 0], shifts[..., 1], shifts[..., 2]
    positive = (s0 > 0) | ((s0 == 0) & ((s1 > 0) | ((s1 == 0) & (s2 > 0))))
    return (i < j) | ((i == j) & positive)


def _half_list(idx: Array, shifts: Array, capacity: int):
    """Compact the forward slots of the dense list into flat (capacity,) arrays (jittable).

    Returns half_i, half_j, half_shifts and the number of pairs (overflow when > capacity)."""
    n, k = idx.shape
    i = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32)[:, None], (n, k)).reshape(-1)
    j = idx.reshape(-1)
    s = shifts.reshape(-1, 3)
    keep = (j < n) & _forward(i, j, s)
    slot = jnp.cumsum(keep) - 1
    slot = jnp.where(keep & (slot < capacity), slot, capacity)
    hi = jnp.full((capacity + 1,), n, jnp.int32).at[slot].set(i, mode="drop")[:capacity]
    hj = jnp.full((capacity + 1,), n, jnp.int32).at[slot].set(j, mode="drop")[:capacity]
    hs = jnp.zeros((capacity + 1, 3), jnp.int32).at[slot].set(s, mode="drop")[:capacity]
    return hi, hj, hs, jnp.sum(keep)


def half_list_numpy(idx: np.ndarray, shifts: np.ndarray, capacity: int | None = None,
                    pad: int | None = None):
    """Host version of the half list: (half_i, half_j, half_shifts, count)."""
    n, k = idx.shape
    i = np.repeat(np.arange(n, dtype=np.int32), k)
    j = idx.reshape(-1)
    s = shifts.reshape(-1, 3)
    s0, s1, s2 = s[:, 0], s[:, 1], s[:, 2]
    positive = (s0 > 0) | ((s0 == 0) & ((s1 > 0) | ((s1 == 0) & (s2 > 0))))
    keep = (j < n) & ((i < j) | ((i == j) & positive))
    count = int(keep.sum())
    capacity = count if capacity is None else capacity
    pad = n if pad is None else pad
    hi = np.full(capacity, pad, np.int32)
    hj = np.full(capacity, pad, np.int32)
    hs = np.zeros((capacity, 3), np.int32)
    m = min(count, capacity)
    hi[:m], hj[:m], hs[:m] = i[keep][:m], j[keep][:m], s[keep][:m]
    return hi, hj, hs, count


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
    return frac - image, image.astype(jnp.int32), frame


def _compact(keep: Array, cand_j: Array, cand_shift: Array, cand_d2: Array, capacity: int,
             n: int):
    """Pack the kept candidates of one center into ``capacity`` slots sorted by distance
    (the nearest ones when there are too many); returns idx, shifts, count, squared distances."""
    slot = jnp.cumsum(keep) - 1
    slot = jnp.where(keep & (slot < capacity), slot, capacity)
    idx = jnp.full((capacity + 1,), n, jnp.int32).at[slot].set(cand_j, mode="drop")
    shifts = jnp.zeros((capacity + 1, 3), jnp.int32).at[slot].set(cand_shift, mode="drop")
    d2 = jnp.full((capacity + 1,), jnp.inf, cand_d2.dtype).at[slot].set(cand_d2, mode="drop")
    order = jnp.argsort(d2[:capacity])
    return idx[:capacity][order], shifts[:capacity][order], jnp.sum(keep), d2[:capacity][order]


def _select(centers, cand_j, cand_m, cand_ok, wpos, image, frame, cutoff2, capacity, n,
            cand_zero=None):
    """Distance test and compaction for a block of centers.

    ``cand_m`` is the lattice offset of the candidate relative to the wrapped frame; the stored
    shift converts it to the caller's (possibly unwrapped) positions: ``m - image_j + image_i``.
    """
    ri = wpos[centers]  # (B, 3)
    rj = wpos[jnp.minimum(cand_j, n - 1)]  # (B, M, 3)
    vec = rj + cand_m.astype(wpos.dtype) @ frame - ri[:, None, :]
    d2 = jnp.sum(vec * vec, axis=-1)
    if cand_zero is None:
        cand_zero = jnp.all(cand_m == 0, axis=-1)
    self_pair = (cand_j == centers[:, None]) & cand_zero
    keep = cand_ok & (d2 < cutoff2) & ~self_pair & (centers[:, None] < n)
    shift = cand_m - image[jnp.minimum(cand_j, n - 1)] + image[jnp.minimum(centers, n - 1)][:, None, :]
    return jax.vmap(lambda k, j, s, d: _compact(k, j, s, d, capacity, n))(keep, cand_j, shift, d2)


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
    cand_j = jnp.tile(jnp.arange(n, dtype=jnp.int32), s)  # (N*S,)
    cand_m = jnp.repeat(offsets, n, axis=0)  # (N*S, 3)
    cand_zero = jnp.asarray(np.repeat(~np.any(offsets_np != 0, axis=1), n))
    size, nblocks = _blocks(n, n * s)
    centers = jnp.arange(size * nblocks, dtype=jnp.int32).reshape(nblocks, size)
    cutoff2 = (nbrs.cutoff + nbrs.skin) ** 2

    def block(c):
        b = c.shape[0]
        return _select(c, jnp.broadcast_to(cand_j, (b, n * s)),
                       jnp.broadcast_to(cand_m, (b, n * s, 3)), jnp.ones((b, n * s), bool),
                       wpos, image, frame, cutoff2, capacity, n,
                       jnp.broadcast_to(cand_zero, (b, n * s)))

    idx, shifts, counts, d2 = jax.lax.map(block, centers)
    # the image range must still reach cutoff + skin in the current cell
    widths = _perpendicular_widths_jnp(frame)
    need = jnp.ceil((nbrs.cutoff + nbrs.skin) / widths)
    geometry_ok = jnp.all(jnp.where(jnp.asarray(nbrs.pbc), need <= jnp.asarray(nbrs.image_range), True))
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

    offsets = jnp.asarray(_NEIGHBOR_OFFSETS)  # (27, 3)
    per_center = 27 * cap
    size, nblocks = _blocks(n, per_center)
    centers = jnp.arange(size * nblocks, dtype=jnp.int32).reshape(nblocks, size)
    cutoff2 = (nbrs.cutoff + nbrs.skin) ** 2

    def block(c):
        b = c.shape[0]
        nb3 = bin3[jnp.minimum(c, n - 1)][:, None, :] + offsets[None]  # (B, 27, 3)
        m = jnp.where(pbc, jnp.floor_divide(nb3, grid), 0)
        wrapped_bin = jnp.where(pbc, jnp.mod(nb3, grid), nb3)
        ok_bin = jnp.all((wrapped_bin >= 0) & (wrapped_bin < grid), axis=-1)  # (B, 27)
        flat = jnp.clip(wrapped_bin, 0, grid - 1) @ strides
        cand_j = bin_atoms[flat].reshape(b, per_center)
        cand_m = jnp.repeat(m, cap, axis=1).reshape(b, per_center, 3)
        cand_ok = (jnp.repeat(ok_bin, cap, axis=1) & (cand_j < n)).reshape(b, per_center)
        cand_zero = jnp.repeat(jnp.all(m == 0, axis=-1), cap, axis=1)
        return _select(c, cand_j, cand_m, cand_ok, wpos, image, frame, cutoff2, capacity, n,
                       cand_zero)

    idx, shifts, nbr_counts, d2 = jax.lax.map(block, centers)
    widths = _perpendicular_widths_jnp(frame)
    geometry_ok = jnp.all(widths / grid >= nbrs.cutoff + nbrs.skin) & inside
    return (idx.reshape(-1, capacity)[:n], shifts.reshape(-1, capacity, 3)[:n],
            nbr_counts.reshape(-1)[:n], max_occupancy, geometry_ok, d2.reshape(-1, capacity)[:n])


def _build(positions: Array, cell: Array, nbrs: NeighborList, capacity: int):
    if nbrs.method == "cell_list":
        return _build_cell_list(positions, cell, nbrs, capacity)
    return _build_all_pairs(positions, cell, nbrs, capacity)


def rebuild_neighbor_list(positions: Array, cell: Array, nbrs: NeighborList) -> NeighborList:
    """Rebuild the list at ``positions`` and ``cell`` with the same capacity (jittable)."""
    idx, shifts, counts, occupancy, geometry_ok, d2 = _build(positions, cell, nbrs, nbrs.capacity)
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


def needs_rebuild(positions: Array, cell: Array, nbrs: NeighborList) -> Array:
    """True when some pair may have entered ``cutoff`` since the last build (skin criterion).

    With a cell change ``F = ref_cell^-1 cell``, a pair vector moves by at most
    ``2 max|u| + (cutoff+skin) ||F - I||`` where ``u`` are the non-affine displacements.
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
    max_u = jnp.sqrt(jnp.max(jnp.sum(u * u, axis=-1)))
    return 2.0 * max_u + (nbrs.cutoff + nbrs.skin) * strain >= nbrs.skin


def update_neighbor_list(positions: Array, cell: Array, nbrs: NeighborList) -> NeighborList:
    """Jittable update: rebuild only when the skin criterion asks for it.

    The returned list has ``did_overflow`` set if it could not hold every neighbor; check it
    on the host with :func:`reallocate_if_needed`.
    """
    return jax.lax.cond(needs_rebuild(positions, cell, nbrs),
                        lambda: rebuild_neighbor_list(positions, cell, nbrs), lambda: nbrs)


# --------------------------------------------------------------------------------------------
# host-side allocation
# --------------------------------------------------------------------------------------------


def _open_frame(positions: np.ndarray, cell: np.ndarray, pbc, margin: float):
    """Binning frame and origin: lattice rows for periodic directions, a box around the atoms
    (plus ``margin``) orthogonal to them for open directions."""
    frame = np.array(cell, dtype=float)
    origin = np.zeros(3)
    periodic = [d for d in range(3) if pbc[d]]
    open_dirs = [d for d in range(3) if not pbc[d]]
    if not open_dirs:
        return frame, origin
    basis = [frame[d] / np.linalg.norm(frame[d]) for d in periodic]
    for d in open_dirs:
        for trial in list(np.eye(3)[d:]) + list(np.eye(3)[:d]):
            v = trial.copy()
            for b in basis:
                v -= np.dot(v, b) * b
            if np.linalg.norm(v) > 1e-6:
                break
        v /= np.linalg.norm(v)
        basis.append(v)
        proj = positions @ v
        lo, hi = proj.min() - margin, proj.max() + margin
        frame[d] = v * (hi - lo)
        origin += v * lo
    return frame, origin


def allocate_neighbor_list(positions, cell, pbc=(True, True, True), *, cutoff: float,
                           skin: float = 0.0, capacity_multiplier: float = 1.25,
                           method: str = "auto", min_capacity: int = 0,
                           view_cutoffs=(), half: bool = True,
                           min_grid: tuple[int, int, int] | None = None,
                           min_bin_capacity: int = 0, min_half_capacity: int = 0
                           ) -> NeighborList:
    """Build a neighbor list on the host, choosing static capacities from the structure.

    Args:
        positions: (N, 3) Å. cell: (3, 3) Å, rows are lattice vectors. pbc: 3 bools.
        cutoff: model cutoff in Å; skin: Verlet buffer in Å (pairs within cutoff+skin are kept).
        capacity_multiplier: head-room factor on neighbor and bin capacities.
        method: ``"all_pairs"``, ``"cell_list"`` or ``"auto"`` (cell list for large cells).
        min_capacity: lower bound on K (used when reallocating after an overflow).
        view_cutoffs: shorter cutoffs (Å) of parts of a sum (``model.part_cutoffs``); each
            gets a prefix view (:meth:`NeighborList.within`).
        half: also keep the flat half list (each pair once) that pair models sum over.
        min_grid, min_bin_capacity: cell-list bounds kept from an earlier allocation (so a
            reallocated list stays valid at the geometry that overflowed too).
    """
    positions_np = np.asarray(positions, dtype=float)
    cell_np = np.asarray(cell, dtype=float)
    pbc = tuple(bool(p) for p in np.broadcast_to(np.asarray(pbc, dtype=bool), (3,)))
    n = positions_np.shape[0]
    validate_atoms_input(positions_np, cell_np, np.ones(max(n, 0), int), pbc)
    if not (np.isfinite(cutoff) and cutoff > 0 and np.isfinite(skin) and skin >= 0):
        raise ValueError(f"cutoff must be a finite length > 0 Å and skin a finite length >= 0 Å,"
                         f" got cutoff={cutoff}, skin={skin}")
    if not (np.isfinite(capacity_multiplier) and capacity_multiplier >= 1.0):
        raise ValueError(f"capacity_multiplier must be >= 1, got {capacity_multiplier}")
    radius = cutoff + skin
    views = tuple(sorted({float(c) for c in view_cutoffs if 0 < float(c) < cutoff}))
    frame, origin = _open_frame(positions_np, cell_np, pbc, margin=radius)
    widths = perpendicular_widths(frame)
    grid = _grid(widths, radius, pbc, n)
    if min_grid is not None:
        grid = tuple(min(g, m) for g, m in zip(grid, min_grid))
    cell_list_ok = all(g >= 3 for g, p in zip(grid, pbc) if p)
    if method == "auto":
        method = "cell_list" if (cell_list_ok and n >= 256) else "all_pairs"
    if method == "cell_list" and not cell_list_ok:
        raise ValueError(f"cell_list needs >= 3 bins of width cutoff+skin={radius} Å along each "
                         f"periodic direction; the cell allows {grid}. Use method='all_pairs'.")
    if method not in ("cell_list", "all_pairs"):
        raise ValueError(f"unknown neighbor-list method {method!r}")
    image_range = tuple(int(math.ceil(radius / w)) if p else 0 for w, p in zip(widths, pbc))
    dtype = (jax.dtypes.canonicalize_dtype(positions.dtype) if hasattr(positions, "dtype")
             else jnp.result_type(float))
    bin_capacity = 0
    if method == "cell_list":
        frac = np.linalg.solve(frame.T, (positions_np - origin).T).T
        frac = np.where(pbc, frac - np.floor(frac), frac)
        b = np.clip(np.floor(frac * np.array(grid)).astype(int), 0, np.array(grid) - 1)
        occ = np.bincount(np.ravel_multi_index(b.T, grid), minlength=int(np.prod(grid)))
        bin_capacity = max(int(math.ceil(occ.max() * capacity_multiplier)) + 1,
                           int(min_bin_capacity))
    else:
        grid = (1, 1, 1)
    template = NeighborList(
        idx=jax.device_put(np.zeros((n, 1), np.int32)),
        shifts=jax.device_put(np.zeros((n, 1, 3), np.int32)),
        half_i=None, half_j=None, half_shifts=None,
        reference_positions=jax.device_put(np.asarray(positions_np, dtype)),
        reference_cell=jax.device_put(np.asarray(cell_np, dtype)), overflow=jax.device_put(np.int32(0)),
        max_count=jax.device_put(np.int32(0)), max_occupancy=jax.device_put(np.int32(0)),
        binning_origin=jax.device_put(np.asarray(origin, dtype)), binning_frame=jax.device_put(np.asarray(frame, dtype)),
        cutoff=float(cutoff), skin=float(skin), pbc=pbc, method=method, image_range=image_range,
        grid=grid, bin_capacity=bin_capacity, capacity_multiplier=float(capacity_multiplier))
    pos = jax.device_put(np.asarray(positions_np, dtype))
    cel = jax.device_put(np.asarray(cell_np, dtype))
    if method == "all_pairs":  # host build: no compilation for one-off lists of small cells
        idx, shifts, dist, max_count = host_all_pairs(
            positions_np, frame, origin, pbc, image_range, radius, capacity_multiplier,
            min_capacity)
        capacity = idx.shape[1]
        nbrs = template.replace(
            idx=jax.device_put(idx), shifts=jax.device_put(shifts),
            max_count=jax.device_put(np.int32(max_count)))
        if half:
            count = half_list_numpy(idx, shifts)[3]
            hi, hj, hs, _ = half_list_numpy(idx, shifts, _half_capacity(
                count, capacity_multiplier, min_half_capacity))
            nbrs = nbrs.replace(half_i=jax.device_put(hi), half_j=jax.device_put(hj),
                                half_shifts=jax.device_put(hs))
        return _with_views(nbrs, dist, views, capacity_multiplier)
    counted = _jit_rebuild(pos, cel, template)  # capacity 1: only counts matter
    max_count = int(counted.max_count)
    capacity = max(int(math.ceil(max_count * capacity_multiplier)), 1, int(min_capacity))
    template = template.replace(idx=jax.device_put(np.zeros((n, capacity), np.int32)),
                                shifts=jax.device_put(np.zeros((n, capacity, 3), np.int32)))
    nbrs = _jit_rebuild(pos, cel, template)
    if half:
        count = half_list_numpy(np.asarray(nbrs.idx), np.asarray(nbrs.shifts))[3]
        e = _half_capacity(count, capacity_multiplier, min_half_capacity)
        nbrs = _jit_rebuild(pos, cel, nbrs.replace(
            half_i=jax.device_put(np.zeros((e,), np.int32)),
            half_j=jax.device_put(np.zeros((e,), np.int32)),
            half_shifts=jax.device_put(np.zeros((e, 3), np.int32))))
    if bool(nbrs.did_overflow):
        raise NeighborListOverflowError("neighbor list overflowed right after allocation "
                                        f"(max_count={int(nbrs.max_count)}, capacity={capacity}; "
                                        f"{', '.join(overflow_causes(nbrs))})")
    vec, mask = neighbor_vectors(pos, cel, nbrs)
    dist = np.where(np.asarray(mask), np.linalg.norm(np.asarray(vec), axis=-1), np.inf)
    return _with_views(nbrs, dist, views, capacity_multiplier)


def allocate_for_model(model, positions, cell, pbc=(True, True, True), *, skin: float = 0.0,
                       **kwargs) -> NeighborList:
    """:func:`allocate_neighbor_list` at ``model.cutoff`` with a view per part cutoff."""
    return allocate_neighbor_list(positions, cell, pbc, cutoff=model.cutoff, skin=skin,
                                  view_cutoffs=getattr(model, "part_cutoffs", ()), **kwargs)


def _half_capacity(count: int, multiplier: float, minimum: int) -> int:
    return max(int(math.ceil(count * multiplier)), 1, int(minimum))


def _grid(widths, radius: float, pbc, n: int) -> tuple[int, int, int]:
    """Cell-list grid: bins at least ``radius`` wide; open directions get at most as many bins
    as keep the total below ``max(64, 8 N)`` (a far-away atom must not ask for GBs of bins)."""
    grid = [int(max(1, math.floor(w / radius))) for w in widths]
    limit = max(64, 8 * n)
    while np.prod(grid, dtype=float) > limit and any(g > 3 for g, p in zip(grid, pbc) if not p):
        d = max((d for d in range(3) if not pbc[d]), key=lambda d: grid[d])
        grid[d] = max(3, grid[d] // 2)
    return tuple(grid)


def _with_views(nbrs: NeighborList, dist: np.ndarray, views, multiplier: float) -> NeighborList:
    """Attach prefix views for shorter cutoffs (rows are sorted by distance)."""
    if not views:
        return nbrs
    caps = []
    for c in views:
        count = int(np.max(np.sum(dist < c + nbrs.skin, axis=1), initial=0))
        caps.append(min(nbrs.capacity, max(1, int(math.ceil(count * multiplier)))))
    return nbrs.replace(view_cutoffs=tuple(views), view_capacities=tuple(caps))


_jit_rebuild = jax.jit(rebuild_neighbor_list)


def host_all_pairs(positions, frame, origin, pbc, image_range, radius, capacity_multiplier=1.0,
                   min_capacity: int = 0):
    """Host (NumPy, vectorised) all-pairs build; same pairs and shift convention as the jitted
    builder, rows sorted by distance.

    Returns (idx (N, K) with N as padding, shifts (N, K, 3), dist (N, K) Å with inf padding,
    max_count)."""
    frac = np.linalg.solve(frame.T, (positions - origin).T).T
    image = np.where(pbc, np.floor(frac), 0.0).astype(np.int64)
    wpos = (frac - image) @ frame
    ranges = [np.arange(-r, r + 1) for r in image_range]
    offsets = np.array(list(itertools.product(*ranges)), dtype=np.int64).reshape(-1, 3)
    zero = np.all(offsets == 0, axis=1)
    lattice = offsets @ frame
    n = positions.shape[0]
    centers, neighbors, images, dists = [], [], [], []
    block = max(1, _BLOCK_ELEMENTS // max(1, n * len(offsets)))
    for start in range(0, n, block):
        c = np.arange(start, min(n, start + block))
        vec = wpos[None, :, None, :] + lattice[None, None] - wpos[c][:, None, None, :]
        d2 = np.einsum("bjsx,bjsx->bjs", vec, vec)
        keep = d2 < radius * radius
        keep &= ~((np.arange(n)[None, :, None] == c[:, None, None]) & zero[None, None, :])
        b, js, ss = np.nonzero(keep)
        centers.append(c[b])
        neighbors.append(js)
        images.append(ss)
        dists.append(np.sqrt(d2[b, js, ss]))
    ci, cj, cs, cd = (np.concatenate(x) for x in (centers, neighbors, images, dists))
    order = np.lexsort((cd, ci))  # by center, then distance
    ci, cj, cs, cd = ci[order], cj[order], cs[order], cd[order]
    counts = np.bincount(ci, minlength=n)
    max_count = int(counts.max(initial=0))
    capacity = max(int(math.ceil(max_count * capacity_multiplier)), 1, int(min_capacity))
    rank = np.arange(len(ci)) - np.repeat(np.cumsum(counts) - counts, counts)
    idx = np.full((n, capacity), n, np.int32)
    shifts = np.zeros((n, capacity, 3), np.int32)
    dist = np.full((n, capacity), np.inf)
    idx[ci, rank] = cj
    shifts[ci, rank] = offsets[cs] - image[cj] + image[ci]
    dist[ci, rank] = cd
    return idx, shifts, dist, max_count


def host_neighbor_arrays(positions, cell, pbc, radius: float):
    """(idx, shifts, dist) of all pairs within ``radius`` Å, rows sorted, exact capacity: the
    NumPy path (no JAX arrays, no compilation) used for batches of small structures."""
    positions = np.asarray(positions, float)
    cell = np.asarray(cell, float)
    pbc = tuple(bool(p) for p in np.broadcast_to(np.asarray(pbc, bool), (3,)))
    frame, origin = _open_frame(positions, cell, pbc, margin=radius)
    widths = perpendicular_widths(frame)
    image_range = tuple(int(math.ceil(radius / w)) if p else 0 for w, p in zip(widths, pbc))
    return host_all_pairs(positions, frame, origin, pbc, image_range, radius)[:3]


def reallocate_if_needed(positions, cell, nbrs: NeighborList) -> tuple[NeighborList, bool]:
    """Host side: if ``nbrs`` overflowed, allocate a larger list; returns (list, reallocated?)."""
    if not bool(nbrs.did_overflow):
        return nbrs, False
    return reallocate(positions, cell, nbrs), True


def reallocate(positions, cell, nbrs: NeighborList, keep_grid_of: NeighborList | None = None
               ) -> NeighborList:
    """A list for ``positions``/``cell`` with more room than ``nbrs`` (capacities grown by its
    multiplier, at least what overflowed); with ``keep_grid_of`` the cell-list grid is no finer
    than that list's, so the new list also fits the geometry that list was built for."""
    grown = int(math.ceil(max(int(nbrs.max_count), nbrs.capacity) * nbrs.capacity_multiplier))
    min_grid = None
    if keep_grid_of is not None and keep_grid_of.method == "cell_list":
        min_grid = keep_grid_of.grid
    bin_capacity = 0
    if nbrs.method == "cell_list":
        bin_capacity = int(math.ceil(max(int(nbrs.max_occupancy), nbrs.bin_capacity)
                                     * nbrs.capacity_multiplier))
    views = nbrs.view_cutoffs
    half_grown = 0 if nbrs.half_i is None else int(
        math.ceil(nbrs.half_i.shape[0] * nbrs.capacity_multiplier))
    return allocate_neighbor_list(positions, cell, nbrs.pbc, cutoff=nbrs.cutoff, skin=nbrs.skin,
                                  capacity_multiplier=nbrs.capacity_multiplier, method="auto",
                                  min_capacity=grown, view_cutoffs=views,
                                  half=nbrs.half_i is not None, min_grid=min_grid,
                                  min_bin_capacity=bin_capacity, min_half_capacity=half_grown)


def check_min_distance(positions, cell, nbrs: NeighborList, min_distance: float) -> None:
    """Raise :class:`StructureError` naming the first pair of atoms closer than ``min_distance`` Å."""
    vec, mask = neighbor_vectors(jnp.asarray(positions), jnp.asarray(cell), nbrs)
    d = np.where(np.asarray(mask), np.linalg.norm(np.asarray(vec), axis=-1), np.inf)
    if d.size and d.min() < min_distance:
        i, k = np.unravel_index(np.argmin(d), d.shape)
        j = int(np.asarray(nbrs.idx)[i, k])
        raise StructureError(f"atoms {i} and {j} overlap: distance {d[i, k]:.3g} Å "
                             f"< {min_distance} Å")
