"""Host-side allocation: static capacities from a structure, reallocation after overflow."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.neighbors.build import rebuild_neighbor_list
from jaxpot.neighbors.capacities import rounded_capacity
from jaxpot.neighbors.core import (
    _BLOCK_ELEMENTS,
    NeighborList,
    NeighborListOverflowError,
    half_list_numpy,
    overflow_causes,
    reciprocal_grid,
)
from jaxpot.neighbors.host import host_pairs, host_rows, pack_pairs
from jaxpot.space import perpendicular_widths
from jaxpot.structure import StructureError, validate_atoms_input

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
                           min_bin_capacity: int = 0, min_half_capacity: int = 0,
                           round_capacities: bool | str = False,
                           stencil: int | None = None,
                           reciprocal_spacing: float = 0.0, rows: bool = True) -> NeighborList:
    """Build a neighbor list on the host, choosing static capacities from the structure.

    Args:
        positions: (N, 3) Å. cell: (3, 3) Å, rows are lattice vectors. pbc: 3 bools.
        cutoff: model cutoff in Å; skin: Verlet buffer in Å (pairs within cutoff+skin are kept).
        capacity_multiplier: head-room factor on neighbor and bin capacities.
        method: ``"all_pairs"``, ``"cell_list"``, ``"host"`` (rebuilt on the host,
            see :mod:`jaxpot.neighbors.host`) or ``"auto"``: all pairs for fewer than 256
            atoms, else ``"host"`` on a CPU backend and the cell list on accelerators.
        min_capacity: lower bound on K (used when reallocating after an overflow).
        view_cutoffs: shorter cutoffs (Å) of parts of a sum (``model.part_cutoffs``); each
            gets a prefix view (:meth:`NeighborList.within`).
        half: also keep the flat half list (each pair once) that pair models sum over.
        min_grid, min_bin_capacity: cell-list bounds kept from an earlier allocation (so a
            reallocated list stays valid at the geometry that overflowed too).
        round_capacities: round K, the half-list and view capacities up to a coarse ladder
            (4, 6, 8, 12, 16, 24, ...) so that structures of similar density share compiled
            shapes (what the calculator uses when it sees many structures); ``"fine"``:
            16 steps per octave (:func:`.capacities.fine_ladder`, what MD runs use: a
            continued run of the same system reuses the compiled chunk).
        stencil: cell-list bins are ``(cutoff + skin) / stencil`` wide and each atom looks
            ``stencil`` bins each way; None picks 2 for large cells (about 2x fewer candidate
            pairs than 1, so rebuilds in MD are cheaper) and 1 otherwise.
        reciprocal_spacing: reciprocal-space resolution (Å) of a long-range part of the model
            (``model.reciprocal_spacing``); 0 for none.  A periodic cell then gets a static
            ``reciprocal_grid`` with head-room ``skin / (cutoff + skin)``: the largest strain
            before the skin criterion rebuilds the list, where the grid is checked again.
        rows: keep the dense (N, K) rows; ``rows=False`` (with ``half``) is honoured by
            ``method="host"`` lists only, for models that read the half list alone.
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
    if not (np.isfinite(reciprocal_spacing) and reciprocal_spacing >= 0):
        raise ValueError(f"reciprocal_spacing must be a finite length >= 0 Å, got "
                         f"{reciprocal_spacing}")
    radius = cutoff + skin
    k_grid = (reciprocal_grid(cell_np, reciprocal_spacing, skin / radius)
              if reciprocal_spacing > 0 and all(pbc) else ())
    views = tuple(sorted({float(c) for c in view_cutoffs if 0 < float(c) < cutoff}))
    frame, origin = _open_frame(positions_np, cell_np, pbc, margin=radius)
    widths = perpendicular_widths(frame)
    if stencil is None:
        fine = _grid(widths, radius / 2, pbc, n)
        stencil = (2 if n >= _FINE_STENCIL_ATOMS and all(g >= 5 for g, p in zip(fine, pbc) if p)
                   else 1)
    grid = _grid(widths, radius / stencil, pbc, n)
    if min_grid is not None:
        grid = tuple(min(g, m) for g, m in zip(grid, min_grid))
    cell_list_ok = all(g >= 2 * stencil + 1 for g, p in zip(grid, pbc) if p)
    if method == "auto":
        if n < 256:
            method = "all_pairs"
        elif jax.default_backend() == "cpu":
            method = "host"
        else:
            method = "cell_list" if cell_list_ok else "all_pairs"
    if method == "cell_list" and not cell_list_ok:
        raise ValueError(f"cell_list needs >= {2 * stencil + 1} bins of width (cutoff+skin)/"
                         f"{stencil}={radius / stencil} Å along each periodic direction; the "
                         f"cell allows {grid}. Use method='all_pairs'.")
    if method not in ("cell_list", "all_pairs", "host"):
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
        reference_cell=jax.device_put(np.asarray(cell_np, dtype)),
        overflow=jax.device_put(np.int32(0)),
        max_count=jax.device_put(np.int32(0)), max_occupancy=jax.device_put(np.int32(0)),
        binning_origin=jax.device_put(np.asarray(origin, dtype)),
        binning_frame=jax.device_put(np.asarray(frame, dtype)),
        cutoff=float(cutoff), skin=float(skin), pbc=pbc, method=method, image_range=image_range,
        grid=grid, bin_capacity=bin_capacity, capacity_multiplier=float(capacity_multiplier),
        stencil=int(stencil) if method == "cell_list" else 1,
        view_cutoffs=views, reciprocal_spacing=float(reciprocal_spacing) if k_grid else 0.0,
        reciprocal_grid=k_grid)  # builds sort rows by distance only when there are views
    pos = jax.device_put(np.asarray(positions_np, dtype))
    cel = jax.device_put(np.asarray(cell_np, dtype))
    if method == "host":
        template = template.replace(rows=bool(rows or not half or views))
        return _with_views(*allocate_on_host(template, positions_np, cell_np, min_capacity,
                                             half, min_half_capacity, round_capacities),
                           views, capacity_multiplier, round_capacities)
    if method == "all_pairs":  # host build: no compilation for one-off lists of small cells
        idx, shifts, dist, max_count = host_all_pairs(
            positions_np, frame, origin, pbc, image_range, radius, capacity_multiplier,
            min_capacity, round_capacities)
        capacity = idx.shape[1]
        nbrs = template.replace(
            idx=jax.device_put(idx), shifts=jax.device_put(shifts),
            max_count=jax.device_put(np.int32(max_count)))
        if half:
            count = half_list_numpy(idx, shifts)[3]
            hi, hj, hs, _ = half_list_numpy(idx, shifts, _half_capacity(
                count, capacity_multiplier, min_half_capacity, round_capacities))
            nbrs = nbrs.replace(half_i=jax.device_put(hi), half_j=jax.device_put(hj),
                                half_shifts=jax.device_put(hs))
        return _with_views(nbrs, dist, views, capacity_multiplier, round_capacities)
    counted = _jit_rebuild(pos, cel, template)  # capacity 1: only counts matter
    max_count = int(counted.max_count)
    capacity = rounded_capacity(max(int(math.ceil(max_count * capacity_multiplier)), 1,
                            int(min_capacity)), round_capacities)
    template = template.replace(idx=jax.device_put(np.zeros((n, capacity), np.int32)),
                                shifts=jax.device_put(np.zeros((n, capacity, 3), np.int32)))
    nbrs = _jit_rebuild(pos, cel, template)
    if half:
        count = half_list_numpy(np.asarray(nbrs.idx), np.asarray(nbrs.shifts))[3]
        e = _half_capacity(count, capacity_multiplier, min_half_capacity, round_capacities)
        nbrs = _jit_rebuild(pos, cel, nbrs.replace(
            half_i=jax.device_put(np.zeros((e,), np.int32)),
            half_j=jax.device_put(np.zeros((e,), np.int32)),
            half_shifts=jax.device_put(np.zeros((e, 3), np.int32))))
    if bool(nbrs.did_overflow):
        raise NeighborListOverflowError("neighbor list overflowed right after allocation "
                                        f"(max_count={int(nbrs.max_count)}, capacity={capacity}; "
                                        f"{', '.join(overflow_causes(nbrs))})")
    dist = host_pair_distances(positions_np, cell_np, nbrs.idx, nbrs.shifts)
    return _with_views(nbrs, dist, views, capacity_multiplier, round_capacities)


def allocate_on_host(template: NeighborList, positions: np.ndarray, cell: np.ndarray,
                     min_capacity: int, half: bool, min_half_capacity: int, rounded: bool | str):
    """A ``method="host"`` list (:func:`host_pairs`: the binned search or vesin; exact
    capacities times the multiplier, rounded as asked) and the (N, K) distances of its slots
    (for views)."""
    radius, multiplier = template.list_cutoff, template.capacity_multiplier
    i, j, sh, d = host_pairs(positions, cell, template.pbc, radius)
    n = positions.shape[0]
    max_count = int(np.max(np.bincount(np.concatenate([i, j]), minlength=n), initial=0))
    capacity = rounded_capacity(max(int(math.ceil(max_count * multiplier)), 1, int(min_capacity)),
                        rounded) if template.rows else 0
    e = _half_capacity(len(i), multiplier, min_half_capacity, rounded) if half else 0
    idx, shifts, hi, hj, hs, _, _, _ = pack_pairs(n, i, j, sh, d, capacity, e,
                                                   bool(template.view_cutoffs))
    nbrs = template.replace(idx=jax.device_put(idx), shifts=jax.device_put(shifts),
                            max_count=jax.device_put(np.int32(max_count)))
    if half:
        nbrs = nbrs.replace(half_i=jax.device_put(hi), half_j=jax.device_put(hj),
                            half_shifts=jax.device_put(hs))
    return nbrs, host_pair_distances(positions, cell, idx, shifts)


def allocate_for_model(model, positions, cell, pbc=(True, True, True), *, skin: float = 0.0,
                       **kwargs) -> NeighborList:
    """:func:`allocate_neighbor_list` at ``model.cutoff`` with a view per part cutoff and the
    reciprocal grid of its long-range parts."""
    kwargs.setdefault("rows", getattr(model, "uses_rows", True))
    return allocate_neighbor_list(positions, cell, pbc, cutoff=model.cutoff, skin=skin,
                                  view_cutoffs=getattr(model, "part_cutoffs", ()),
                                  reciprocal_spacing=getattr(model, "reciprocal_spacing", 0.0)
                                  or 0.0, **kwargs)


def _half_capacity(count: int, multiplier: float, minimum: int,
                   rounded: bool | str = False) -> int:
    return rounded_capacity(max(int(math.ceil(count * multiplier)), 1, int(minimum)), rounded)


_FINE_STENCIL_ATOMS = 1000


def _grid(widths, radius: float, pbc, n: int) -> tuple[int, int, int]:
    """Cell-list grid: bins at least ``radius`` wide; open directions get at most as many bins
    as keep the total below ``max(64, 8 N)`` (a far-away atom must not ask for GBs of bins)."""
    grid = [int(max(1, math.floor(w / radius))) for w in widths]
    limit = max(64, 8 * n)
    while np.prod(grid, dtype=float) > limit and any(g > 3 for g, p in zip(grid, pbc) if not p):
        d = max((d for d in range(3) if not pbc[d]), key=lambda d: grid[d])
        grid[d] = max(3, grid[d] // 2)
    return tuple(grid)


def _with_views(nbrs: NeighborList, dist: np.ndarray, views, multiplier: float,
                rounded: bool | str = False) -> NeighborList:
    """Attach prefix views for shorter cutoffs (rows are sorted by distance)."""
    if not views:
        return nbrs
    caps = []
    for c in views:
        count = int(np.max(np.sum(dist < c + nbrs.skin, axis=1), initial=0))
        caps.append(min(nbrs.capacity, rounded_capacity(max(1, int(math.ceil(count * multiplier))),
                                                rounded)))
    return nbrs.replace(view_cutoffs=tuple(views), view_capacities=tuple(caps))


_jit_rebuild = jax.jit(rebuild_neighbor_list)


def host_all_pairs(positions, frame, origin, pbc, image_range, radius, capacity_multiplier=1.0,
                   min_capacity: int = 0, round_capacity: bool | str = False):
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
        # squared distances component by component (no (B, N, S, 3) temporary)
        d2 = np.zeros((len(c), n, len(offsets)))
        for x in range(3):
            comp = wpos[None, :, None, x] + lattice[None, None, :, x] - wpos[c][:, None, None, x]
            d2 += comp * comp
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
    capacity = rounded_capacity(max(int(math.ceil(max_count * capacity_multiplier)), 1,
                            int(min_capacity)), round_capacity)
    rank = np.arange(len(ci)) - np.repeat(np.cumsum(counts) - counts, counts)
    idx = np.full((n, capacity), n, np.int32)
    shifts = np.zeros((n, capacity, 3), np.int32)
    dist = np.full((n, capacity), np.inf)
    idx[ci, rank] = cj
    shifts[ci, rank] = offsets[cs] - image[cj] + image[ci]
    dist[ci, rank] = cd
    return idx, shifts, dist, max_count


def host_neighbor_arrays(positions, cell, pbc, radius: float):
    """(idx, shifts, dist) of all pairs within ``radius`` Å, rows sorted by distance, exact
    capacity: the host path (binned search or vesin, no JAX arrays, no compilation) of
    batches of structures."""
    return host_rows(positions, cell, pbc, radius)[:3]


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
                                  capacity_multiplier=nbrs.capacity_multiplier,
                                  method="host" if nbrs.method == "host" else "auto",
                                  min_capacity=grown, view_cutoffs=views,
                                  half=nbrs.half_i is not None, min_grid=min_grid,
                                  min_bin_capacity=bin_capacity, min_half_capacity=half_grown,
                                  rows=nbrs.rows,
                                  stencil=nbrs.stencil if nbrs.method == "cell_list" else None,
                                  reciprocal_spacing=nbrs.reciprocal_spacing)


def host_pair_distances(positions, cell, idx, shifts) -> np.ndarray:
    """Distances (N, K) Å of a list's slots on the host (NumPy), inf on padding slots."""
    positions, idx = np.asarray(positions, float), np.asarray(idx)
    n = positions.shape[0]
    vec = positions[np.minimum(idx, n - 1)] - positions[:, None] \
        + np.asarray(shifts) @ np.asarray(cell, float)
    return np.where(idx < n, np.linalg.norm(vec, axis=-1), np.inf)


def check_min_distance(positions, cell, nbrs: NeighborList, min_distance: float) -> None:
    """Raise :class:`StructureError` naming the first pair of atoms closer than ``min_distance``
    Å (NumPy on the host: no compilation).  Lists without rows are checked on the half list."""
    pos, cell = np.asarray(positions, float), np.asarray(cell, float)
    n = len(pos)
    if nbrs.rows:
        d = host_pair_distances(pos, cell, nbrs.idx, nbrs.shifts)
        i, j, d = np.repeat(np.arange(n), d.shape[1]), np.asarray(nbrs.idx).reshape(-1), \
            d.reshape(-1)
    else:
        i, j, sh = (np.asarray(a) for a in (nbrs.half_i, nbrs.half_j, nbrs.half_shifts))
        vec = pos[np.minimum(j, n - 1)] - pos[np.minimum(i, n - 1)] + sh @ cell
        d = np.where(i < n, np.linalg.norm(vec, axis=-1), np.inf)
    if d.size and d.min() < min_distance:
        e = int(np.argmin(d))
        raise StructureError(f"atoms {int(i[e])} and {int(j[e])} overlap: distance "
                             f"{d[e]:.3g} Å < {min_distance} Å")
