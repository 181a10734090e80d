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
caller.  Here overflow is a sticky bitmask naming its cause, set inside jit, and
:func:`reallocate_if_needed` / :func:`jaxpot.driver.run_chunks` (host side) answer it with a
larger list; the calculator and the run driver do it for you.

In a list with per-part views (a sum of models with different cutoffs) rows are sorted by
distance, so a shorter cutoff's neighbors are a prefix of each row; other lists skip the sort
(half the cost of a build).  A flat *half list* (each pair once) serves pair models.

Modules: :mod:`.core` (the pytree, pair vectors, half list), :mod:`.build` (jittable builds
and the skin update), :mod:`.host` (builds on the host, also from inside jit),
:mod:`.binned` (the host's numba-compiled cell list for large cells; vesin serves the rest),
:mod:`.allocate` (host-side allocation and reallocation), :mod:`.capacities` (the sizes
capacities are rounded up to).

Building is ``O(N)`` with a cell list (bins at least ``cutoff + skin`` wide, 27 neighbor bins) and
``O(N^2 S)`` all-pairs (``S`` lattice images) for small cells; both are jittable and processed in
blocks of centers so memory stays linear in ``N``.  ``method="host"`` (what ``"auto"`` picks on a
CPU backend from 256 atoms) rebuilds through ``jax.pure_callback`` on the host (the binned
search of :mod:`.binned` in cells three list radii across, vesin's C++ cell list elsewhere),
about 10-40x cheaper than XLA:CPU's build; lists for models that read only the half list
(``EnergyModel.uses_rows`` False: pair potentials, EAM) then skip the dense rows.
"""


from __future__ import annotations

import functools

from jaxpot.neighbors.allocate import (
    allocate_for_model,
    allocate_neighbor_list,
    check_min_distance,
    host_all_pairs,
    host_neighbor_arrays,
    host_pair_distances,
    reallocate,
    reallocate_if_needed,
)
from jaxpot.neighbors.build import needs_rebuild, rebuild_neighbor_list, update_neighbor_list
from jaxpot.neighbors.capacities import fine_ladder, ladder
from jaxpot.neighbors.core import (
    BIN_CAPACITY,
    CAPACITY,
    GEOMETRY,
    OVERFLOW_CAUSES,
    VIEW_CAPACITY,
    NeighborList,
    NeighborListFns,
    NeighborListOverflowError,
    half_list_numpy,
    half_pair_vectors,
    lattice_shift,
    neighbor_components,
    neighbor_vectors,
    overflow_causes,
    pad_neighbor_list,
    reciprocal_grid,
    slot_sum,
)


def neighbor_list(cutoff: float, skin: float = 0.0, capacity_multiplier: float = 1.25,
                  method: str = "auto") -> NeighborListFns:
    """jax-md-style pair of functions for a neighbor list of radius ``cutoff + skin`` (Å)."""
    allocate = functools.partial(allocate_neighbor_list, cutoff=cutoff, skin=skin,
                                 capacity_multiplier=capacity_multiplier, method=method)
    return NeighborListFns(allocate=allocate, update=update_neighbor_list)


__all__ = ["BIN_CAPACITY", "CAPACITY", "GEOMETRY", "OVERFLOW_CAUSES", "VIEW_CAPACITY",
           "NeighborList", "NeighborListFns", "NeighborListOverflowError", "allocate_for_model",
           "allocate_neighbor_list", "check_min_distance", "fine_ladder", "half_list_numpy",
           "half_pair_vectors", "host_all_pairs", "host_neighbor_arrays", "host_pair_distances",
           "ladder", "lattice_shift", "needs_rebuild", "neighbor_components", "neighbor_list",
           "neighbor_vectors", "overflow_causes", "pad_neighbor_list", "reallocate",
           "reciprocal_grid", "reallocate_if_needed", "rebuild_neighbor_list", "slot_sum",
           "update_neighbor_list"]
