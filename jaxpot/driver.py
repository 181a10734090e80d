"""One run driver: jitted chunks of steps from the host, with neighbor-list reallocation.

Every loop in jaxpot (relaxation, molecular dynamics) is a jitted ``advance`` function that
runs a chunk of steps and updates its neighbor list inside jit.  :func:`run_chunks` calls it
from the host; when the list overflowed during a chunk it names the cause (capacity, bins,
geometry), discards the chunk, reallocates a larger list and replays the chunk from its start.
Results are therefore those of a run whose list was allocated large enough from the start:
no step ever used a truncated list.

:func:`refresh_neighbors` is the host-side counterpart for step-by-step callers (the ASE
calculator): skin check in NumPy, rebuild with at least the current capacity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from jaxpot.neighbors import (
    NeighborList,
    NeighborListOverflowError,
    allocate_for_model,
    overflow_causes,
    reallocate,
)

Advance = Callable[[Any, NeighborList], tuple[Any, NeighborList, Any]]
"""``advance(carry, neighbors) -> (carry, neighbors, outputs)``: one jitted chunk."""


class RunResult(NamedTuple):
    """Final carry and neighbor list, per-chunk outputs, and how often the list was regrown."""

    carry: Any
    neighbors: NeighborList
    outputs: list
    n_reallocations: int


def run_chunks(advance: Advance, carry, neighbors: NeighborList, *,
               n_chunks: int | None = None, finished: Callable[[Any, Any], bool] | None = None,
               on_chunk: Callable[[Any, Any], None] | None = None,
               max_reallocations: int = 20) -> RunResult:
    """Run ``advance`` chunk after chunk until ``n_chunks`` ran or ``finished(carry, outputs)``.

    Args:
        advance: jitted ``(carry, neighbors) -> (carry, neighbors, outputs)``; it must update
            the list inside jit (``update_neighbor_list``) and may stop early on overflow.
        carry: the loop state (a pytree). neighbors: its neighbor list.
        n_chunks: number of chunks to run (None: until ``finished``).
        finished: host predicate on the accepted chunk's carry and outputs.
        on_chunk: called with (carry, outputs) after each accepted chunk (logging, files).
        max_reallocations: give up (NeighborListOverflowError) after this many regrowths.
    """
    if n_chunks is None and finished is None:
        raise ValueError("run_chunks needs n_chunks or a finished predicate")
    outputs: list = []
    regrown = 0
    done = 0
    while n_chunks is None or done < n_chunks:
        new_carry, new_neighbors, out = advance(carry, neighbors)
        if bool(new_neighbors.did_overflow):
            regrown += 1
            if regrown > max_reallocations:
                raise NeighborListOverflowError(
                    f"neighbor list kept overflowing ({', '.join(overflow_causes(new_neighbors))})"
                    f" after {max_reallocations} reallocations in chunk {done}")
            neighbors = regrow(new_neighbors, neighbors)
            continue  # replay the chunk from its start with the larger list
        carry, neighbors = new_carry, new_neighbors
        outputs.append(out)
        done += 1
        if on_chunk is not None:
            on_chunk(carry, out)
        if finished is not None and finished(carry, out):
            break
    return RunResult(carry, neighbors, outputs, regrown)


def regrow(overflowed: NeighborList, start: NeighborList) -> NeighborList:
    """A list with room for the geometry where ``overflowed`` failed and for the chunk start.

    It is built at the failing geometry (its reference positions and cell) with capacities
    grown past what overflowed and a cell-list grid no finer than the start list's; the
    skin test then rebuilds it at the chunk's start positions when the chunk is replayed.
    """
    return reallocate(np.asarray(overflowed.reference_positions),
                      np.asarray(overflowed.reference_cell), overflowed, keep_grid_of=start)


def refresh_neighbors(model, positions: np.ndarray, cell: np.ndarray, pbc,
                      neighbors: NeighborList | None, *, skin: float,
                      capacity_multiplier: float) -> NeighborList:
    """Host-side neighbor maintenance for step-by-step callers (no compilation for small cells).

    Allocates when there is no list or the atom count / periodicity changed; rebuilds (keeping
    at least the current capacity, so compiled shapes stay) when the skin test fails.
    Capacities are rounded up to a coarse ladder, so many structures share few shapes.  Lists
    are of the model's kind: the half list alone for models that read no rows (pair, EAM),
    whose energy, forces and stress are as fast on it at a hundred atoms and faster above
    (4,000 atoms, with stress: LJ 5.5-6.0 ms on rows, 3.5-3.9 on the half list; EAM 34, 19;
    ``benchmarks/bench_list_kinds.py``).
    """
    pbc = tuple(bool(p) for p in np.broadcast_to(np.asarray(pbc, bool), (3,)))
    if (neighbors is None or neighbors.n_atoms != len(positions) or neighbors.pbc != pbc
            or neighbors.cutoff != model.cutoff):
        return allocate_for_model(model, positions, cell, pbc, skin=skin,
                                  capacity_multiplier=capacity_multiplier, round_capacities=True)
    if not host_needs_rebuild(positions, cell, neighbors):
        return neighbors
    return allocate_for_model(model, positions, cell, pbc, skin=skin,
                              capacity_multiplier=capacity_multiplier,
                              min_capacity=neighbors.capacity,
                              min_half_capacity=neighbors.half_capacity, round_capacities=True)


def host_needs_rebuild(positions: np.ndarray, cell: np.ndarray, nbrs: NeighborList) -> bool:
    """NumPy twin of :func:`jaxpot.neighbors.needs_rebuild` (same criterion)."""
    if nbrs.skin <= 0.0:
        return True
    ref_pos = np.asarray(nbrs.reference_positions, float)
    ref_cell = np.asarray(nbrs.reference_cell, float)
    cell = np.asarray(cell, float)
    if all(nbrs.pbc):
        deformation = np.linalg.solve(ref_cell, cell)
        u = positions - ref_pos @ deformation
        strain = np.linalg.norm(deformation - np.eye(3))
    else:
        u = positions - ref_pos
        strain = 0.0 if np.array_equal(cell, ref_cell) else np.inf
    max_u = float(np.sqrt(np.max(np.sum(u * u, axis=-1))))
    return 2.0 * max_u + (nbrs.cutoff + nbrs.skin) * strain >= nbrs.skin

