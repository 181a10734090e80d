"""Which stop configurations to label: greedy max-min distance or greedy D-optimality in the
model's feature space.

Features are each atom's SOAP vector in the distance reference's settings
(:func:`jaxpot.uncertainty.distance.features`: QUIP's normalised SOAP, unit length, distances
in [0, 2]).  Both methods take the best candidate, add its atoms to the pool of labelled atoms,
and repeat up to ``limit``.

``"maxmin"`` (default, farthest point): a structure's novelty is the largest, over its atoms,
of the distance to the nearest pool atom of the same species (one new environment makes a
structure new); the most novel candidate is taken.

``"dopt"`` (D-optimality, as ACE/MTP's MaxVol active sets): per species s the pool gives
A_s = lam I + sum x x^T (F, F), lam = :data:`LAMBDA` (a direction seen with residual below
sqrt(lam) = 1e-3 of the unit features counts as unexplored).  The candidate of largest gain
log det(A + X^T X) - log det A = sum_s log det(I + X_s A_s^{-1} X_s^T) is taken (X_s (n_s, F):
its atoms of species s).  An atom's extrapolation grade is gamma = x^T A_s^{-1} x (MTP's grade
in this regularised form: below 1 for pool atoms); see :func:`extrapolation_grade`.

Near-duplicates, under both methods: candidates of max-min novelty below ``min_novelty`` (a
feature distance) are reported, not labelled.  The gain cannot tell them: a copy of a pool
structure still adds about log 2 per direction it spans.  ``"dopt"`` also stops, reporting the
rest as duplicates, when the best gain is below ``min_gain`` (default 0: never).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy.linalg import solve_triangular

from jaxpot.model import EnergyModel

#: the selection methods of :func:`select`
METHODS = ("maxmin", "dopt")
#: lam, the ridge of the D-optimal information matrices lam I + sum x x^T (unit-length features)
LAMBDA = 1e-6


class Selection(NamedTuple):
    """Chosen candidate indices in labelling order, their score when chosen (max-min novelty,
    or the log-det gain of ``"dopt"``), and the indices left out as near-duplicates."""

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


def _add(pool: dict, x: np.ndarray, numbers: np.ndarray) -> None:
    """Append the atoms of one structure, ``x`` (N, F), to ``pool`` (species -> (P, F))."""
    for s in np.unique(numbers):
        mine = x[numbers == s]
        pool[int(s)] = np.concatenate([pool[int(s)], mine]) if int(s) in pool else mine


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


def greedy_max_min(features: Sequence[np.ndarray], numbers: Sequence[np.ndarray],
                   pool_features: Sequence[np.ndarray], pool_numbers: Sequence[np.ndarray],
                   limit: int, min_novelty: float) -> Selection:
    """Up to ``limit`` of the candidates (atoms ``features[i]`` (N_i, F) of species
    ``numbers[i]`` (N_i,)) by greedy max-min novelty against the pool's atoms."""
    pool = _pool(pool_features, pool_numbers)
    remaining = list(range(len(features)))
    chosen, scores, duplicates = [], [], ()
    while remaining and len(chosen) < limit:
        values = [novelty(features[i], numbers[i], pool) for i in remaining]
        best = int(np.argmax(values))
        if values[best] < min_novelty:
            duplicates = tuple(remaining)
            break
        pick = remaining.pop(best)
        chosen.append(pick)
        scores.append(float(values[best]))
        _add(pool, features[pick], numbers[pick])
    return Selection(tuple(chosen), tuple(scores), duplicates)


def information(features: Sequence[np.ndarray], numbers: Sequence[np.ndarray], dim: int,
                lam: float = LAMBDA) -> dict[int, np.ndarray]:
    """Per species s, A_s = lam I + sum over its atoms of x x^T (dim, dim), float64."""
    out: dict[int, np.ndarray] = {}
    for x, z in zip(features, numbers):
        _inform(out, x, z, lam)
    return out


def _inform(info: dict, x: np.ndarray, numbers: np.ndarray, lam: float) -> None:
    for s in np.unique(numbers):
        mine = np.asarray(x[numbers == s], np.float64)
        start = info.get(int(s), lam * np.eye(mine.shape[1]))
        info[int(s)] = start + mine.T @ mine


def _factors(info: dict, dim: int, lam: float) -> dict:
    """Lower Cholesky factors L (dim, dim) of each A_s; key None: lam I's (a species unseen)."""
    out = {s: np.linalg.cholesky(a) for s, a in info.items()}
    out[None] = np.sqrt(lam) * np.eye(dim)
    return out


def _whitened(x: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """L^{-1} X^T (F, n) of atoms ``x`` (n, F): its columns' squared norms are x^T A^{-1} x."""
    return solve_triangular(factor, np.asarray(x, np.float64).T, lower=True)


def log_det_gain(x: np.ndarray, factor: np.ndarray) -> float:
    """log det(I + X A^{-1} X^T) = log det(A + X^T X) - log det(A) of atoms X (n, F), given
    the lower Cholesky factor of A (F, F); through the smaller of the n x n, F x F forms."""
    y = _whitened(x, factor)
    gram = y.T @ y if y.shape[1] <= y.shape[0] else y @ y.T
    return 2.0 * float(np.sum(np.log(np.diag(np.linalg.cholesky(np.eye(len(gram)) + gram)))))


def _gain(x: np.ndarray, numbers: np.ndarray, factors: dict) -> float:
    return sum(log_det_gain(x[numbers == s], factors.get(int(s), factors[None]))
               for s in np.unique(numbers))


def extrapolation_grade(features: Sequence[np.ndarray], numbers: Sequence[np.ndarray],
                        pool_features: Sequence[np.ndarray], pool_numbers: Sequence[np.ndarray],
                        lam: float = LAMBDA) -> np.ndarray:
    """(M,) each structure's grade: max over its atoms x of x^T A_s^{-1} x, A_s the pool's
    information matrix of the atom's species (module docstring)."""
    if not len(features):
        return np.zeros(0)
    dim = features[0].shape[1]
    factors = _factors(information(pool_features, pool_numbers, dim, lam), dim, lam)
    return np.array([_grade(x, z, factors) for x, z in zip(features, numbers)])


def _grade(x: np.ndarray, numbers: np.ndarray, factors: dict) -> float:
    return max(float(np.max(np.sum(_whitened(x[numbers == s], factors.get(int(s), factors[None]))
                                   ** 2, axis=0))) for s in np.unique(numbers))


def greedy_d_optimal(features: Sequence[np.ndarray], numbers: Sequence[np.ndarray],
                     pool_features: Sequence[np.ndarray], pool_numbers: Sequence[np.ndarray],
                     limit: int, min_gain: float = 0.0, *, min_novelty: float = 0.0,
                     lam: float = LAMBDA) -> Selection:
    """Up to ``limit`` of the candidates (atoms ``features[i]`` (N_i, F) of species
    ``numbers[i]`` (N_i,)) by greedy log-det gain against the pool and the chosen ones;
    near-duplicates: novelty below ``min_novelty``, or every gain below ``min_gain``."""
    if not len(features) or limit <= 0:
        return Selection((), (), ())
    dim = features[0].shape[1]
    info = information(pool_features, pool_numbers, dim, lam)
    pool = _pool(pool_features, pool_numbers)
    remaining = list(range(len(features)))
    chosen, gains, duplicates = [], [], []
    while remaining and len(chosen) < limit:
        if min_novelty > 0:
            near = [i for i in remaining if novelty(features[i], numbers[i], pool) < min_novelty]
            duplicates += near
            remaining = [i for i in remaining if i not in near]
            if not remaining:
                break
        factors = _factors(info, dim, lam)
        values = [_gain(features[i], numbers[i], factors) for i in remaining]
        best = int(np.argmax(values))
        if values[best] < min_gain:
            duplicates += remaining
            break
        pick = remaining.pop(best)
        chosen.append(pick)
        gains.append(float(values[best]))
        _inform(info, features[pick], numbers[pick], lam)
        _add(pool, features[pick], numbers[pick])
    return Selection(tuple(chosen), tuple(gains), tuple(sorted(duplicates)))


def select(model: EnergyModel, settings: dict, candidates: Sequence, labelled: Sequence,
           limit: int, min_novelty: float, *, method: str = "maxmin",
           min_gain: float = 0.0) -> Selection:
    """Up to ``limit`` candidates (``ase.Atoms``) not near-duplicates of the ``labelled`` frames
    by ``method``, ``"maxmin"`` or ``"dopt"`` (module docstring)."""
    if method not in METHODS:
        raise ValueError(f"select: method must be one of {', '.join(map(repr, METHODS))}, "
                         f"got {method!r}")
    if not candidates or limit <= 0:
        return Selection((), (), ())
    feats = atom_features(model, settings, list(labelled) + list(candidates))
    n_lab = len(labelled)
    args = (feats[n_lab:], [a.numbers for a in candidates], feats[:n_lab],
            [a.numbers for a in labelled], limit)
    if method == "maxmin":
        return greedy_max_min(*args, min_novelty)
    return greedy_d_optimal(*args, min_gain, min_novelty=min_novelty)
