"""The neighbor-list pytree, its overflow causes, pair vectors and the half list."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.pytree import pytree_dataclass, static_field
from jaxpot.types import Array

_BLOCK_ELEMENTS = 1 << 21  # candidate pairs processed at once (memory bound of a build)

#: overflow causes, one bit each (``NeighborList.overflow``), as jax-md's partition.py does
CAPACITY = 1  # an atom has more neighbors than the K slots
BIN_CAPACITY = 2  # a cell-list bin holds more atoms than its capacity
GEOMETRY = 4  # the cell shrank below the image range / bin width, an atom left the open box,
#              or the cell grew past the reciprocal grid of a long-range model
VIEW_CAPACITY = 8  # more neighbors within a part's cutoff than that part's slots
OVERFLOW_CAUSES = {CAPACITY: "neighbor capacity", BIN_CAPACITY: "cell-list bin capacity",
                   GEOMETRY: "cell or box geometry (cell shrank or grew past the reciprocal "
                             "grid, or an atom left the box)",
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
        reciprocal_spacing, reciprocal_grid: for long-range models (Ewald, PME), the
            reciprocal-space resolution (Å) the list was allocated for and the number of
            points ``ceil(|a_d| (1 + skin/(cutoff+skin)) / spacing)`` along each lattice
            vector (static, so k-vectors and meshes have fixed shapes between rebuilds);
            ``0.0`` and ``()`` when no part of the model works in reciprocal space.
        atom_count: () int32 or None: when set, atoms ``atom_count..N-1`` are padding (of a
            system padded to a batch's shape): a build gives them no neighbors and makes them
            nobody's neighbor.  None: every atom is real.
        rows: False for a list that holds only the half list (``idx`` and ``shifts`` have K =
            0): host-built lists of models that do not read rows (``EnergyModel.uses_rows``).
            :func:`neighbor_vectors` refuses such a list.
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
    stencil: int = static_field(default=1)
    reciprocal_spacing: float = static_field(default=0.0)
    reciprocal_grid: tuple[int, ...] = static_field(default=())
    atom_count: Array | None = None
    rows: bool = static_field(default=True)

    @property
    def did_overflow(self) -> Array:
        """() bool: the list could not hold every neighbor (see :attr:`overflow` for why)."""
        return self.overflow != 0

    def within(self, cutoff: float) -> NeighborList:
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
    def half_capacity(self) -> int:
        """E, the number of pair slots of the half list (0 without one)."""
        return 0 if self.half_i is None else int(self.half_i.shape[0])

    @property
    def n_atoms(self) -> int:
        return int(self.idx.shape[0])

    @property
    def list_cutoff(self) -> float:
        """``cutoff + skin``, the radius within which every pair is stored."""
        return self.cutoff + self.skin

    def pairs(self) -> tuple[Array, Array, Array, Array]:
        """Flat views ``(i, j, shifts, mask)`` of shapes (N*K,), (N*K,), (N*K, 3), (N*K,)."""
        require_rows(self)
        n, k = self.idx.shape
        i = jnp.repeat(jnp.arange(n, dtype=jnp.int32), k)
        j = self.idx.reshape(-1)
        return i, j, self.shifts.reshape(-1, 3), j < n

    def to_numpy_pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Host copy of the valid pairs ``(i, j, S)`` as
        ``ase.neighborlist.neighbor_list('ijS')``."""
        if not self.rows:  # the half list from both sides
            i, j, s = (np.asarray(a) for a in (self.half_i, self.half_j, self.half_shifts))
            m = i < self.n_atoms
            i, j, s = i[m], j[m], s[m]
            return np.concatenate([i, j]), np.concatenate([j, i]), np.concatenate([s, -s])
        i, j, s, m = (np.asarray(a) for a in self.pairs())
        return i[m], j[m], s[m]


def pad_neighbor_list(nbrs: NeighborList, n_atoms: int, capacity: int, half_capacity: int,
                      image_range: tuple[int, int, int], view_capacities: tuple[int, ...],
                      reciprocal_grid: tuple[int, ...] = ()) -> NeighborList:
    """A copy of an (unpadded, all-pairs or host) list for ``n_atoms >= N`` atoms, the last
    ones padding (``atom_count = N``), with larger static sizes shared by a batch of systems
    (host side).

    Rows keep their neighbors (sorted by distance) followed by padding slots; a larger image
    range or reciprocal grid only adds candidates, so the list stays exact.
    """
    n, k = nbrs.idx.shape
    if n_atoms < n or capacity < k or image_range < nbrs.image_range:
        raise ValueError(f"cannot pad a list of {n} atoms x {k} slots to {n_atoms} x {capacity}")
    extra = n_atoms - n

    def remap(a):  # padding marker N -> n_atoms
        a = np.asarray(a)
        return np.where(a < n, a, n_atoms).astype(np.int32)

    idx = np.full((n_atoms, capacity), n_atoms, np.int32)
    idx[:n, :k] = remap(nbrs.idx)
    shifts = np.zeros((n_atoms, capacity, 3), np.int32)
    shifts[:n, :k] = np.asarray(nbrs.shifts)
    half = {}
    if nbrs.half_i is not None:
        e = nbrs.half_i.shape[0]
        if half_capacity < e:
            raise ValueError(f"cannot pad a half list of {e} pairs to {half_capacity}")
        hi = np.full(half_capacity, n_atoms, np.int32)
        hj = np.full(half_capacity, n_atoms, np.int32)
        hs = np.zeros((half_capacity, 3), np.int32)
        hi[:e], hj[:e], hs[:e] = remap(nbrs.half_i), remap(nbrs.half_j), nbrs.half_shifts
        half = dict(half_i=jnp.asarray(hi), half_j=jnp.asarray(hj), half_shifts=jnp.asarray(hs))
    ref = np.asarray(nbrs.reference_positions)
    return nbrs.replace(
        idx=jnp.asarray(idx), shifts=jnp.asarray(shifts), **half,
        reference_positions=jnp.asarray(np.concatenate([ref, np.zeros((extra, 3), ref.dtype)])),
        image_range=tuple(image_range), view_capacities=tuple(view_capacities),
        reciprocal_grid=tuple(reciprocal_grid), atom_count=jnp.asarray(n, jnp.int32))


def reciprocal_grid(cell, spacing: float, margin: float = 0.0) -> tuple[int, int, int]:
    """Points ``ceil(|a_d| (1 + margin) / spacing)`` along each lattice vector (host side)."""
    lengths = np.linalg.norm(np.asarray(cell, dtype=float), axis=1)
    return tuple(int(max(1, math.ceil(length * (1.0 + margin) / spacing - 1e-9)))
                 for length in lengths)


def reciprocal_grid_ok(cell: Array, nbrs: NeighborList) -> Array:
    """() bool (jittable): the list's reciprocal grid still resolves ``cell`` at its spacing."""
    if not nbrs.reciprocal_grid:
        return jnp.asarray(True)
    lengths = jnp.linalg.norm(cell, axis=1)
    return jnp.all(lengths <= jnp.asarray(nbrs.reciprocal_grid, lengths.dtype)
                   * nbrs.reciprocal_spacing * (1.0 + 1e-9))


def overflow_causes(nbrs: NeighborList) -> list[str]:
    """Human-readable causes of an overflow (empty when the list is fine)."""
    bits = int(nbrs.overflow)
    return [text for bit, text in OVERFLOW_CAUSES.items() if bits & bit]


class NeighborListFns(NamedTuple):
    """``allocate(positions, cell, pbc)`` on the host and jittable
    ``update(positions, cell, nbrs)``."""

    allocate: Callable[..., NeighborList]
    update: Callable[[Array, Array, NeighborList], NeighborList]


# --------------------------------------------------------------------------------------------
# jittable pieces
# --------------------------------------------------------------------------------------------


def neighbor_vectors(positions: Array, cell: Array, nbrs: NeighborList) -> tuple[Array, Array]:
    """Pair vectors (N, K, 3) Å from each atom to its neighbors and a validity mask (N, K).

    Padding entries get the zero vector; callers combine ``mask`` with their own cutoff.
    """
    require_rows(nbrs)
    n = positions.shape[0]
    padded = jnp.concatenate([positions, jnp.zeros((1, 3), positions.dtype)], axis=0)
    vectors = padded[nbrs.idx] - positions[:, None, :] + lattice_shift(nbrs.shifts, cell)
    mask = nbrs.idx < n
    return jnp.where(mask[..., None], vectors, 0.0), mask


def neighbor_components(positions: Array, cell: Array, nbrs: NeighborList
                        ) -> tuple[tuple[Array, Array, Array], Array]:
    """Pair vectors from each atom to its neighbors as three (N, K) arrays x, y, z (Å), and
    the validity mask (N, K); :func:`neighbor_vectors` split by Cartesian component.

    Models written over the three components run their reverse mode on (N, K) arrays only:
    XLA:CPU pads and adds the cotangent of every slice of an (N, K, 3) array, which made
    Stillinger–Weber's forces 2x slower than the same sums over components."""
    require_rows(nbrs)
    n = positions.shape[0]
    mask = nbrs.idx < n
    s = nbrs.shifts.astype(cell.dtype)
    zero = jnp.zeros((1,), positions.dtype)

    def component(a):  # lattice_shift's column a, inline: slicing its (N, K, 3) result
        # costs the stress path the same pads (SW energy + forces + stress 7.6 -> 18.5 ms)
        column = jnp.concatenate([positions[:, a], zero])
        d = (column[nbrs.idx] - positions[:, a, None] + s[..., 0] * cell[0, a]
             + s[..., 1] * cell[1, a] + s[..., 2] * cell[2, a])
        return jnp.where(mask, d, 0.0)

    return (component(0), component(1), component(2)), mask


def slot_sum(a: Array, axis: int = 1) -> Array:
    """Sum of ``a`` over its slot axis (K neighbor slots; axis 1 of (N, K, ...) rows).

    With its YNNPACK fusions off (models with ``cpu_fusions=False``, in their MD chunk)
    XLA:CPU rewrites a reduction over more than 32 elements into a reduce-window pass that
    does not fuse with the producer of its operand, so each product summed over K > 32 slots
    would be written to memory and read back.  Here K = b x c (b, c <= 32) is summed over c,
    then over b, with an optimization barrier between the two (else XLA merges them back):
    Stillinger–Weber's forces at K = 35, 32,768 atoms, 57.7 -> 42.4 ms.  K without such a
    factorization (a prime, say) is summed as slices of at most 32 slots."""
    axis = axis % a.ndim
    k = a.shape[axis]
    if k <= 32:
        return jnp.sum(a, axis=axis)
    split = next((c for c in range(32, 1, -1) if k % c == 0 and k // c <= 32), None)
    if split is None:
        return sum(jnp.sum(jax.lax.slice_in_dim(a, lo, min(lo + 32, k), axis=axis), axis=axis)
                   for lo in range(0, k, 32))
    blocks = jnp.sum(a.reshape(a.shape[:axis] + (k // split, split) + a.shape[axis + 1:]),
                     axis=axis + 1)
    return jnp.sum(jax.lax.optimization_barrier(blocks), axis=axis)


def require_rows(nbrs) -> None:
    """Raise (at trace time) when ``nbrs`` has no dense rows (a half-list-only list)."""
    if not getattr(nbrs, "rows", True):
        raise ValueError("this neighbor list holds only the half list (rows=False, allocated "
                         "for a model with uses_rows=False) but the model reads the dense (N, K)"
                         " rows: allocate the list with rows=True (allocate_for_model does it "
                         "for the model it is given)")


def lattice_shift(shifts: Array, cell: Array) -> Array:
    """Cartesian image offsets ``shifts @ cell`` (..., 3) Å, as three scaled lattice vectors:
    XLA:CPU fuses them into the neighbor gathers, where a (P, 3) x (3, 3) dot is a kernel of
    its own (SW MD step of 4,096 atoms 14.3 -> 13.3 ms; the stress paths are unchanged)."""
    s = shifts.astype(cell.dtype)
    return s[..., 0:1] * cell[0] + s[..., 1:2] * cell[1] + s[..., 2:3] * cell[2]


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


