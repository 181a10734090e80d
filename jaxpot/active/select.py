"""Which stop configurations to label: greedy max-min distance in the model's feature space.

Features are each atom's SOAP vector in the distance reference's settings
(:func:`jaxpot.uncertainty.distance.features`: QUIP's normalised SOAP, so distances lie in
[0, 2]).  A structure's novelty with respect to a pool of labelled atoms is the largest, over
its atoms, of the distance to the nearest pool atom of the same species: one new environment
makes a structure new.  Greedy max-min (farthest point) selection takes the most novel
candidate, adds its atoms to the pool, and repeats; candidates whose novelty falls below
``min_novelty`` are near-duplicates of a labelled or chosen structure and are not labelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from jaxpot.model import EnergyModel


class Selection(NamedTuple):
    """Chosen candidate indices in labelling order, their novelty when chosen, and the
    indices left out as near-duplicates."""

    chosen: tuple[int, ...]
    novelty: tuple[float, ...]
    duplicates: tuple[int, ...]


def atom_features(model: EnergyModel, settings: dict, frames: Sequence) -> list[np.ndarray]:
    """Per-atom features (N_i, F) of ``frames`` (the distance reference's SOAP)."""
    from jaxpot.uncertainty.distance import features
    return features(model, settings, list(frames)) if len(frames) else []


def _pool(features: Sequence[np.ndarray], numbers: Sequence[np.ndarray]) -> dict:
    out: dict[int, list] = {}
    for x, z in zip(features, numbers):
        for s in np.unique(z):
            out.setdefault(int(s), []).append(x[z == s])
    return {s: np.concatenate(v) for s, v in out.items()}


def novelty(x: np.ndarray, numbers: np.ndarray, pool: dict) -> float:
    """max over atoms of the distance to the nearest same-species pool atom (inf when the
    pool has no atom of a species)."""
    worst = 0.0
    for s in np.unique(numbers):
        ref = pool.get(int(s))
        if ref is None or not len(ref):
            return float("inf")
        mine = x[numbers == s]
        d2 = np.sum(mine * mine, 1)[:, None] + np.sum(ref * ref, 1)[None, :] \
            - 2.0 * mine @ ref.T
        worst = max(worst, float(np.sqrt(np.maximum(d2.min(axis=1), 0.0)).max()))
    return worst


def select(model: EnergyModel, settings: dict, candidates: Sequence, labelled: Sequence,
           limit: int, min_novelty: float) -> Selection:
    """Up to ``limit`` candidates (``ase.Atoms``) by greedy max-min novelty against the
    ``labelled`` frames (module docstring)."""
    if not candidates or limit <= 0:
        return Selection((), (), ())
    feats = atom_features(model, settings, list(labelled) + list(candidates))
    n_lab = len(labelled)
    pool = _pool(feats[:n_lab], [a.numbers for a in labelled])
    cand = feats[n_lab:]
    remaining = list(range(len(candidates)))
    chosen, scores, duplicates = [], [], ()
    while remaining and len(chosen) < limit:
        values = [novelty(cand[i], candidates[i].numbers, pool) for i in remaining]
        best = int(np.argmax(values))
        if values[best] < min_novelty:
            duplicates = tuple(remaining)
            break
        pick = remaining.pop(best)
        chosen.append(pick)
        scores.append(float(values[best]))
        for s in np.unique(candidates[pick].numbers):
            mine = cand[pick][candidates[pick].numbers == s]
            pool[int(s)] = np.concatenate([pool[int(s)], mine]) if int(s) in pool else mine
    return Selection(tuple(chosen), tuple(scores), duplicates)
