"""Interatomic distances of training data, and a cutoff that must reach a neighbour.

A descriptor whose cutoff is below the nearest-neighbour distance of every training frame sees
isolated atoms only: its fit has constant features, zero forces, and (for an MTP) a radial
basis with nothing in range.  :func:`check_sees_neighbours` refuses such a cutoff before the
fit, naming the setting, its cutoff and the shortest distance in the data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np


class CutoffError(ValueError):
    """A descriptor cutoff within which no training frame has a neighbour."""


def shortest_distance(frames, cutoff: float = 6.0) -> float:
    """Shortest interatomic distance (Å) within ``cutoff`` over the frames, periodic images
    (an atom's own included) counted; inf when no pair is that close."""
    from ase.neighborlist import neighbor_list
    best = float("inf")
    for atoms in frames:
        d = neighbor_list("d", atoms, cutoff)
        if len(d):
            best = min(best, float(d.min()))
    return best


def sees_a_neighbour(frames: Sequence, cutoff: float,
                     pair_cutoff: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
                     ) -> bool:
    """Whether any frame has a pair closer than ``cutoff`` (Å), or than ``pair_cutoff(Z_i,
    Z_j)`` (arrays of atomic numbers -> Å, at most ``cutoff``) when given."""
    from ase.neighborlist import neighbor_list
    for atoms in frames:
        i, j, d = neighbor_list("ijd", atoms, cutoff)
        if not len(d):
            continue
        limit = cutoff if pair_cutoff is None else pair_cutoff(atoms.numbers[i],
                                                               atoms.numbers[j])
        if np.any(d < limit):
            return True
    return False


def check_sees_neighbours(frames: Sequence, cutoff: float, setting: str,
                          pair_cutoff=None) -> None:
    """Refuse (CutoffError) a cutoff (Å) within which no frame has a neighbour; ``setting``
    names what sets it (``"[snap] rcutfac = 0.5 (pair cutoff rcutfac (R_a + R_b))"``)."""
    if sees_a_neighbour(frames, cutoff, pair_cutoff):
        return
    search = max(3.0 * cutoff, 8.0)
    nearest = shortest_distance(frames, search)
    shown = (f"{nearest:.4g} Å" if math.isfinite(nearest) else
             f"no pair within {search:.3g} Å")
    raise CutoffError(
        f"{setting} gives a cutoff of {cutoff:.4g} Å, below the shortest interatomic distance "
        f"in the training data ({shown}): no atom has a neighbour within it, so the fitted "
        "model's forces would all be zero; raise the cutoff above the nearest-neighbour "
        "distance (typically past the first neighbour shell)")
