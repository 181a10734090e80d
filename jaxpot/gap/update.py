"""Incremental GAP updates (active learning): add labelled configurations, and optionally sparse
points, to a fitted GAP without fitting it again from scratch.

    result = gap.fit(frames_a, settings)
    state = gap.update_state(result, frames_a)             # the fit's QR, sparse points, data
    new = gap.update(state, frames_b)                      # new.model, new.posterior, new.state
    new = gap.update(new.state, frames_c, add_sparse=10)   # + up to 10 SOAP points per species

gap.fit solves [W K_NM; U] alpha ~= [W y; 0] (W = 1/sigma per row, K_MM + jitter = U^T U) by a
streamed QR (:mod:`jaxpot.training.qr`) and keeps its final state (R, Q^T y) in
``GapFit.continuation``.  What is exact:

* Same sparse set (``add_sparse=None``): the new frames' kernel rows (energies, forces, virials,
  weighed as gap.fit weighs them: default_sigma, config_type_sigma, per-configuration sigmas,
  sigma_per_atom) are absorbed into that QR; no old row is recomputed.  Cost: the new frames'
  rows and O(n_new M^2) for the QR, plus the M^3 solve.  The result is gap.fit on old + new
  frames with the same sparse points, to round-off (the QR blocks are grouped differently).
* New sparse points (``add_sparse=n`` or ``"all"``): new columns need every old row's kernel
  values at the new points, and the old rows against the old points too (the new columns'
  Q^T mixes them; without the rows only the normal equations, which square the condition
  number, could update R), and K_MM's factor U changes.  So the update recomputes the rows of
  every frame the state keeps against the union sparse set and factorises again from the new
  U: gap.fit's rows-and-QR stage over all frames, skipping its SOAP pass over the old frames
  and the sparse selection.  Exactly gap.fit on all frames with the union sparse set.
* e0 stays the fit's values (with ``e0="average"`` a refit would average over the new data
  too) and the distance_2b grid stays the fit's; :func:`refit_settings` gives the settings
  under which gap.fit on the state's frames reproduces the state's sparse set and e0.

New sparse points come from the new frames' environments, per centre species, among those
that are distinct and not already sparse points: ``add_sparse=n`` takes, greedily, the one
the current sparse set represents worst, largest residual prior variance
k(x, x) - k_x^T (K_MM + jitter)^-1 k_x (the part of a local energy's variance that no data can
reduce with this sparse set), each pick conditioning the next (pivoted Cholesky), so no two
are near-duplicates; it stops early below 1e-8 delta^2.  ``"all"``: every such environment.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import scipy.linalg

from jaxpot.batch import check_frames, frame_pairs
from jaxpot.gap.data_checks import check_config_type_sigma, check_label_names, check_sees_neighbours
from jaxpot.gap.design import gap_terms, set_alpha, soap_features, sparse_covariance
from jaxpot.gap.fit import (
    Continuation,
    GapFit,
    Problem,
    _model,
    _pair_sparse_points,
    _reference_energies,
    _stack,
    _subtract_baseline,
    _Terms,
    observation_blocks,
)
from jaxpot.gap.labels import TrainingDataError, read_all
from jaxpot.gap.settings import GapSettings
from jaxpot.gap.terms import soap_gp_descriptor
from jaxpot.gap.uncertainty import Posterior, model_digest
from jaxpot.model import EnergyModel
from jaxpot.structure import check_frames as check_atoms
from jaxpot.training.checkpoint import differing_parts, fingerprint
from jaxpot.training.qr import QRState, cholesky_upper, qr_init, qr_solve, qr_update

#: greedy sparse points stop when the largest residual prior variance is below this x delta^2
RESIDUAL_FLOOR = 1e-8


class UpdateState(NamedTuple):
    """Everything an update continues from (immutable; arrays are not modified in place).

    settings: the fit's. species: Z in column order. e0: (S,) eV, frozen. soap_sparse (M, F)
    grouped by centre species with soap_counts per species; pair_sparse (T, M2) the distance_2b
    grid (None where a term is absent). kmm_factor: U. qr: the QR of [W K_NM; U] and [W y; 0].
    frames: every labelled configuration absorbed, in order (kept by reference: do not modify
    them; add_sparse reads them again). baseline: the Δ-learning model or None. data: the
    fingerprint of ``frames``, checked before they are read again.
    """

    settings: GapSettings
    species: tuple[int, ...]
    e0: np.ndarray
    soap_sparse: np.ndarray | None
    soap_counts: tuple[int, ...]
    pair_sparse: np.ndarray | None
    kmm_factor: np.ndarray
    qr: QRState
    frames: tuple
    baseline: EnergyModel | None
    data: str

    @property
    def terms(self) -> _Terms:
        return _Terms(self.species, self.e0, self.soap_sparse, self.soap_counts,
                      self.pair_sparse)


class GapUpdate(NamedTuple):
    """Result of :func:`update`: :class:`~jaxpot.gap.fit.GapFit`'s fields (model, gap, posterior,
    e0, timings, n_observations: all rows, settings: with e0 as fitted), the new ``state`` for
    the next update and ``added``: {Z: sparse points added}."""

    model: EnergyModel
    gap: EnergyModel
    posterior: Posterior
    e0: dict
    timings: dict
    n_observations: int
    settings: GapSettings
    state: UpdateState
    added: dict


def update_state(result: GapFit | GapUpdate, frames: Sequence, *,
                 baseline: EnergyModel | None = None) -> UpdateState:
    """The :class:`UpdateState` of a fit: ``frames`` and ``baseline`` must be those gap.fit was
    given (checked by fingerprint: settings, structures, labels).  A :class:`GapUpdate`'s own
    ``state`` is returned as is."""
    if isinstance(result, GapUpdate):
        return result.state
    cont = getattr(result, "continuation", None)
    if not isinstance(cont, Continuation):
        raise ValueError("update_state needs a GapFit from gap.fit (its continuation holds the "
                         "QR state); this result has none")
    frames = check_atoms(frames, "frames")
    data = fingerprint((result.settings, baseline and baseline.spec), frames)
    if data != cont.data:
        parts = [{"settings": "settings or baseline"}.get(p, p)
                 for p in differing_parts(cont.data, data)]
        raise ValueError(
            f"update_state: the {' and '.join(parts)} differ from the fit's: pass the frames "
            "(same order, same labels) and the baseline that gap.fit was given")
    terms = gap_terms(result.gap)
    species = tuple(int(z) for z in result.e0)
    soap_sparse, counts, pair_sparse = None, (), None
    if terms.soap is not None:
        soap_sparse = np.array(terms.soap.params["sparse"], float)
        counts = tuple(int(c) for c in _config(terms.soap)["n_sparse"])
    if terms.pair is not None:
        pair_sparse = np.array(terms.pair.params["sparse"], float)
    return UpdateState(result.settings, species, np.array(list(result.e0.values()), float),
                       soap_sparse, counts, pair_sparse,
                       np.array(result.posterior.kmm_factor, float), cont.qr, tuple(frames),
                       baseline, fingerprint(None, frames))


def update(state: UpdateState, frames: Sequence, *, add_sparse: int | str | None = None,
           settings: GapSettings | None = None, source: str = "new data") -> GapUpdate:
    """Add labelled ``frames`` to a fitted GAP (module docstring: what is exact, the costs).

    Args:
        state: :func:`update_state` of a fit, or the ``state`` of a previous update.
        frames: labelled ``ase.Atoms``, species among the fit's.
        add_sparse: None (the sparse set is kept), a count per centre species, or ``"all"``.
        settings: None (the state's), or the same settings with at most the sparse-point
            choices changed and config_type_sigma entries added for config_types that no
            absorbed frame has; anything that changes the old rows is refused.
        source: name of the data in error messages.
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    frames = check_atoms(frames, "frames")
    if not frames:
        raise TrainingDataError(f"{source}: no configurations")
    _check_species(state, frames, source)
    state = _check_settings(state, settings)
    s = state.settings
    check_config_type_sigma(list(state.frames) + frames, s.config_type_sigma,
                            s.names.config_type, f"{source} and the fitted data")
    new = _problem(state, state.terms, frames, source)
    timings["neighbors"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    added: dict = {}
    if not add_sparse:
        u, problem = state.kmm_factor, new
        qr = _absorb(state.qr, new)
    else:
        terms, added = _add_points(state, new, add_sparse)
        timings["sparse_points"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if fingerprint(None, state.frames) != state.data:
            raise ValueError("the frames kept in the update state were modified since they "
                             "were absorbed; adding sparse points reads them again")
        old = _problem(state, terms, list(state.frames), "training data")
        problem = Problem(old.frames + new.frames, old.observations + new.observations, terms,
                          old.unfitted, old.pairs + new.pairs, {})
        u = cholesky_upper(sparse_covariance(problem.unfitted), s.sparse_jitter)
        qr = _absorb(qr_init(u), problem)
    timings["kernel_rows_and_qr"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    alpha = qr_solve(qr)
    timings["solve"] = time.perf_counter() - t0
    gap_model = set_alpha(problem.unfitted, alpha)
    model = gap_model if state.baseline is None else state.baseline + gap_model
    t = problem.terms
    every = state.frames + tuple(frames)
    new_state = state._replace(soap_sparse=t.soap_sparse, soap_counts=t.soap_counts,
                               kmm_factor=u, qr=qr, frames=every, data=fingerprint(None, every))
    e0 = dict(zip(state.species, state.e0.tolist()))
    return GapUpdate(model, gap_model, Posterior(u, qr.r, model_digest(gap_model)), e0, timings,
                     qr.n_rows, s.replace(e0=e0), new_state, added)


def refit_settings(state: UpdateState) -> GapSettings:
    """Settings under which ``gap.fit(list(state.frames), ...)`` reproduces the state's SOAP
    sparse points (``sparse_method="index_file"``, indices of the environments in gap.fit's
    order) and e0 (a {Z: eV} mapping): a fresh fit to compare an update with.  The distance_2b
    grid cannot be given to gap.fit: a ValueError when the fresh grid would differ."""
    s, frames = state.settings, list(state.frames)
    template = _model(s, _Terms(state.species, state.e0), None)
    pairs = [frame_pairs(template, a) for a in frames]
    out = s.replace(e0=dict(zip(state.species, state.e0.tolist())))
    if state.pair_sparse is not None:
        grid = _pair_sparse_points(s, frames, pairs, state.species)
        if grid.shape != state.pair_sparse.shape or not np.allclose(
                grid, state.pair_sparse, rtol=0.0, atol=1e-12):
            raise ValueError("a fresh fit on these frames would choose another distance_2b grid "
                             "(the update keeps the first fit's): no settings reproduce it")
    if state.soap_sparse is None:
        return out
    envs = _environments(state, template, frames, pairs)
    indices = {}
    for z, points in zip(state.species, _split(state)):
        found = []
        for p in points:
            dist = np.sum((envs[z] - p) ** 2, axis=1)
            k = int(np.argmin(dist))
            if dist[k] > 1e-16:
                raise ValueError(f"a sparse point of Z={z} is not an environment of the state's "
                                 "frames")
            found.append(k)
        indices[z] = found
    return out.replace(soap=dataclasses.replace(s.soap, sparse_method="index_file"),
                       sparse_indices=indices)


# ---------------------------------------------------------------------------------- internals
def _config(term) -> dict:
    import json
    return json.loads(term.spec)["config"]


def _split(state: UpdateState) -> list[np.ndarray]:
    """The SOAP sparse points of each centre species."""
    return np.split(state.soap_sparse, np.cumsum(state.soap_counts)[:-1])


def _check_species(state: UpdateState, frames, source: str) -> None:
    from ase.data import chemical_symbols
    known = set(state.species)
    for i, atoms in enumerate(frames):
        extra = sorted({int(z) for z in atoms.numbers} - known)
        if extra:
            names = ", ".join(f"Z={z} ({chemical_symbols[z]})" for z in extra)
            raise TrainingDataError(
                f"{source}, configuration {i}: species {names} not in the fitted GAP (species "
                f"{list(state.species)}): a new species needs its own e0, descriptors and "
                "sparse points; refit with gap.fit on all the data")


def _normalized(s: GapSettings) -> GapSettings:
    """The settings without what only chooses sparse points, e0 and config_type_sigma."""
    soap = s.soap and dataclasses.replace(s.soap, n_sparse=1, sparse_method="cur_points")
    pair = s.distance_2b and dataclasses.replace(s.distance_2b, n_sparse=1,
                                                 sparse_method="uniform")
    return s.replace(soap=soap, distance_2b=pair, e0=0.0, seed=0, cur_iterations=1,
                     sparse_indices=None, config_type_sigma=None)


def _check_settings(state: UpdateState, settings: GapSettings | None) -> UpdateState:
    if settings is None or settings == state.settings:
        return state
    if not isinstance(settings, GapSettings):
        raise TypeError(f"settings must be GapSettings, got {type(settings).__name__}")
    a, b = _normalized(state.settings), _normalized(settings)
    differ = [f.name for f in dataclasses.fields(a) if getattr(a, f.name) != getattr(b, f.name)]
    if settings.e0 != state.settings.e0 and (isinstance(settings.e0, str) or not np.array_equal(
            _reference_energies(settings.e0, state.species, [], [], "settings"), state.e0)):
        differ.append("e0")
    key = state.settings.names.config_type
    seen = {str(f.info.get(key, "default")) for f in state.frames}
    old, new = state.settings.config_type_sigma or {}, settings.config_type_sigma or {}
    for ct in sorted(seen):
        if tuple(map(float, old.get(ct, ()))) != tuple(map(float, new.get(ct, ()))):
            differ.append(f"config_type_sigma[{ct!r}]")
    if differ:
        raise ValueError(
            f"update: settings differ from the fitted state's in {differ}; the absorbed rows "
            "were computed and weighed with the fit's, so an update cannot change these: "
            "refit with gap.fit (an update may change only sparse-point choices and add "
            "config_type_sigma entries for config_types new to the data)")
    return state._replace(settings=settings)


def _problem(state: UpdateState, terms: _Terms, frames: list, source: str) -> Problem:
    """Labels (baseline subtracted), neighbor data and the unfitted model of ``terms``: what
    gap.fit's ``prepare`` makes, with the state's species, e0 and sparse points."""
    s = state.settings
    check_label_names(frames, s.names, source, s.fit_virials)
    obs = read_all(frames, source, s.names, s.default_sigma, s.config_type_sigma,
                   s.sigma_per_atom, s.fit_virials)
    check_sees_neighbours(frames, {name: d.cutoff for name, d in (
        ("soap", s.soap), ("distance_2b", s.distance_2b)) if d is not None}, source)
    if state.baseline is not None:
        obs = _subtract_baseline(state.baseline, frames, obs, source)
    unfitted = _model(s, terms, np.zeros(terms.n_soap + terms.n_pair))
    check_frames(unfitted, frames, source)
    return Problem(frames, obs, terms, unfitted, [frame_pairs(unfitted, a) for a in frames], {})


def _absorb(qr: QRState, problem: Problem) -> QRState:
    """Stream the problem's rows into ``qr`` in whole configurations, as gap.fit does."""
    block_rows = max(2 * len(qr.r), 512)
    buffer: list = []
    for block in observation_blocks(problem):
        if buffer and block.frame != buffer[-1].frame and \
                sum(len(b.rows) for b in buffer) >= block_rows:
            qr, buffer = qr_update(qr, *_stack(buffer)), []
        buffer.append(block)
    return qr_update(qr, *_stack(buffer)) if buffer else qr


def _environments(state: UpdateState, model, frames, pairs) -> dict:
    """SOAP vectors of every environment of ``frames`` per centre species, in gap.fit's order."""
    desc = soap_gp_descriptor(gap_terms(model).soap)
    per_species: dict[int, list] = {z: [np.zeros((0, desc.n_features))] for z in state.species}
    for i, x in soap_features(desc, model, frames, pairs):
        for z in state.species:
            per_species[z].append(x[frames[i].numbers == z])
    return {z: np.concatenate(v) for z, v in per_species.items()}


def _add_points(state: UpdateState, new: Problem, add_sparse) -> tuple[_Terms, dict]:
    """The state's terms with SOAP sparse points added from ``new``'s environments."""
    if state.soap_sparse is None:
        raise ValueError("add_sparse needs a SOAP term (the distance_2b grid stays the fit's)")
    if add_sparse != "all" and (isinstance(add_sparse, (bool, str)) or
                                not float(add_sparse).is_integer() or add_sparse < 0):
        raise ValueError(f"add_sparse must be None, a count per species or 'all', got "
                         f"{add_sparse!r:.40}")
    soap = gap_terms(new.unfitted).soap
    zeta, delta = int(_config(soap)["zeta"]), float(soap.params["delta"])
    envs = _environments(state, new.unfitted, new.frames, new.pairs)
    u, at = state.kmm_factor, 0
    points, counts, added = [], [], {}
    for z, old in zip(state.species, _split(state)):
        block = u[at:at + len(old), at:at + len(old)]  # U is block diagonal over species
        at += len(old)
        cand = envs[z]
        cand = cand[np.sort(np.unique(np.round(cand, 10), axis=0, return_index=True)[1])]
        known = {tuple(p) for p in np.round(old, 10)}
        cand = cand[[tuple(c) not in known for c in np.round(cand, 10)]]
        if add_sparse == "all":
            picks = list(range(len(cand)))
        else:
            picks = _greedy(cand, old, block, delta, zeta, int(add_sparse))
        points += [old, cand[picks]]
        counts.append(len(old) + len(picks))
        added[z] = len(picks)
    terms = _Terms(state.species, state.e0, np.concatenate(points), tuple(counts),
                   state.pair_sparse)
    return terms, added


def _greedy(cand, old, u, delta: float, zeta: int, n: int) -> list[int]:
    """Pivoted Cholesky over the candidates' residual prior variance given the old points."""
    if len(cand) == 0 or n == 0:
        return []
    def kernel(a, b):
        return delta ** 2 * (a @ b.T) ** zeta
    v = scipy.linalg.solve_triangular(u, kernel(old, cand), trans="T", lower=False) \
        if len(old) else np.zeros((0, len(cand)))
    resid = delta ** 2 * np.sum(cand * cand, axis=1) ** zeta - np.sum(v * v, axis=0)
    picks: list[int] = []
    chol: list[np.ndarray] = []
    for _ in range(min(n, len(cand))):
        j = int(np.argmax(resid))
        if resid[j] <= RESIDUAL_FLOOR * delta ** 2:
            break
        g = kernel(cand, cand[j:j + 1])[:, 0] - v.T @ v[:, j] - sum(c * c[j] for c in chol)
        c = g / np.sqrt(resid[j])
        chol.append(c)
        picks.append(j)
        resid = resid - c * c
        resid[picks] = -np.inf
    return picks
