"""Fit a GAP (SOAP dot-product kernel and/or distance_2b) to energies, forces and virials.

    from jaxpot import gap
    result = gap.fit(frames, gap.GapSettings(soap=gap.SoapSettings(cutoff=5.0, n_sparse=500)))
    result.model          # an EnergyModel (baseline + GAP terms): calculator, MD, properties
    jaxpot.save(result.model, "si.jaxpot")

Steps (each shows progress): neighbor data on the host and a few padded bucket shapes for the
whole training set (:mod:`jaxpot.batch`); SOAP vectors of every environment; sparse points per
centre species; K_MM; kernel rows of energies, forces and virials streamed batch by batch into
a tall-skinny QR (:mod:`jaxpot.training.qr`), so memory is bounded by one batch plus O(M^2);
the triangular solve.  A baseline model (Δ-learning) is subtracted from the labels first and
added to the result.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxpot.batch import check_frames, frame_pairs
from jaxpot.gap import checkpoint as ckpt
from jaxpot.gap.checkpoint import Checkpoint
from jaxpot.gap.data_checks import check_config_type_sigma, check_label_names, check_sees_neighbours
from jaxpot.gap.design import (
    pair_distances,
    rows_work,
    set_alpha,
    soap_features,
    soap_work,
    sparse_covariance,
    structure_rows,
)
from jaxpot.gap.labels import Observations, TrainingDataError, read_all
from jaxpot.gap.settings import GapSettings
from jaxpot.gap.sparsify import select_sparse, uniform_grid
from jaxpot.gap.terms import distance_2b_gp, quip_soap, soap_gp, species_pairs
from jaxpot.gap.uncertainty import Posterior, model_digest
from jaxpot.model import EnergyModel, species_numbers
from jaxpot.precision import warn_if_single_precision
from jaxpot.structure import check_frames as check_atoms
from jaxpot.training.checkpoint import fingerprint
from jaxpot.training.qr import QRState, cholesky_upper, qr_init, qr_solve, qr_update


class Continuation(NamedTuple):
    """The fit's final QR state of the weighted rows (R, Q^T y, residual, rows) and the
    :func:`~jaxpot.training.checkpoint.fingerprint` of its settings, baseline and data."""

    qr: QRState
    data: str


class GapFit(NamedTuple):
    """Result of :func:`fit`.

    model: baseline (if any) + GAP terms, one EnergyModel.  gap: the GAP terms alone.
    posterior: (U, R, digest) upper factors, K_MM + jitter = U^T U and the posterior precision
    K_MM + K_MN Lambda^-1 K_NM = R^T R (M_tot x M_tot, SOAP columns first), for variances, and
    the digest of ``gap`` that ties them to this fit (:class:`jaxpot.gap.uncertainty.Posterior`).
    e0: {Z: eV}.  timings: seconds per stage.  n_observations: rows fitted.
    continuation: what :func:`jaxpot.gap.update.update_state` needs to add data later.
    """

    model: EnergyModel
    gap: EnergyModel
    posterior: Posterior
    e0: dict
    timings: dict
    n_observations: int
    settings: GapSettings
    continuation: Continuation | None = None


@dataclasses.dataclass
class _Terms:
    """Sparse points and hyperparameters of the terms being fitted."""

    species: tuple[int, ...]
    e0: np.ndarray
    soap_sparse: np.ndarray | None = None  # (M, F)
    soap_counts: tuple[int, ...] = ()
    pair_sparse: np.ndarray | None = None  # (T, M2)

    @property
    def n_soap(self) -> int:
        return 0 if self.soap_sparse is None else len(self.soap_sparse)

    @property
    def n_pair(self) -> int:
        return 0 if self.pair_sparse is None else self.pair_sparse.size


class Problem(NamedTuple):
    """A fit, set up: labels, e0, sparse points, the unfitted model (alpha = 0), neighbors."""

    frames: list
    observations: list[Observations]
    terms: _Terms
    unfitted: EnergyModel
    pairs: list
    timings: dict


def prepare(frames: Sequence, settings: GapSettings, *, source: str = "training data",
            baseline: EnergyModel | None = None, progress: bool = True,
            restored: Checkpoint | None = None) -> Problem:
    """Check the data against the settings (:mod:`jaxpot.gap.data_checks`), read labels,
    subtract e0 and the baseline, build neighbor data, choose sparse points (or take them
    from a ``restored`` checkpoint)."""
    warn_if_single_precision("jaxpot.gap.fit")
    if not jax.config.jax_enable_x64:
        raise RuntimeError("GAP fits need float64: call jax.config.update('jax_enable_x64', "
                           "True) before anything else")
    frames = check_atoms(frames, "frames")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    check_label_names(frames, settings.names, source, settings.fit_virials)
    check_config_type_sigma(frames, settings.config_type_sigma, settings.names.config_type,
                            source)
    obs = read_all(frames, source, settings.names, settings.default_sigma,
                   settings.config_type_sigma, settings.sigma_per_atom, settings.fit_virials)
    check_sees_neighbours(frames, {name: d.cutoff for name, d in (
        ("soap", settings.soap), ("distance_2b", settings.distance_2b)) if d is not None},
        source)
    species = tuple(sorted({int(z) for a in frames for z in a.numbers}))
    e0 = _reference_energies(settings.e0, species, frames, obs, source)
    obs = _subtract_baseline(baseline, frames, obs, source) if baseline is not None else obs
    template = _model(settings, _Terms(species, e0), None)
    check_frames(template, frames, source)
    pairs = [frame_pairs(template, a) for a in frames]
    timings["neighbors"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    terms = _Terms(species, e0)
    if restored is not None:
        terms = _Terms(species, restored.e0, restored.soap_sparse, restored.soap_counts,
                       restored.pair_sparse)
    elif settings.soap is not None:
        terms.soap_sparse, terms.soap_counts = _soap_sparse_points(
            settings, template, frames, pairs, species, progress)
    if settings.distance_2b is not None and restored is None:
        terms.pair_sparse = _pair_sparse_points(settings, frames, pairs, species)
    timings["sparse_points"] = time.perf_counter() - t0
    unfitted = _model(settings, terms, np.zeros(terms.n_soap + terms.n_pair))
    return Problem(frames, obs, terms, unfitted, pairs, timings)


def fit(frames: Sequence, settings: GapSettings | None = None, *, source: str = "training data",
        baseline: EnergyModel | None = None, progress: bool = True,
        checkpoint: str | None = None) -> GapFit:
    """Fit a sparse GP potential (gap_fit's model and solve; see the module docstring).

    Args:
        frames: ``ase.Atoms`` with labels (see :mod:`jaxpot.gap.labels`).
        settings: :class:`GapSettings` (gap_fit's names); default settings if None.
        source: name of the data in error messages (the file name).
        baseline: a model whose predictions are subtracted from the labels (Δ-learning);
            the result's ``model`` is ``baseline + gap``.
        progress: show progress bars.
        checkpoint: path of an atomic checkpoint written after each block of rows; a fit
            given an existing checkpoint of the same settings and data resumes from it
            (:mod:`jaxpot.gap.checkpoint`, :mod:`jaxpot.training.checkpoint`).
    """
    settings = settings or GapSettings()
    frames = check_atoms(frames, "frames")
    digest = fingerprint((settings, baseline and baseline.spec), frames)
    restored = None
    if checkpoint is not None:
        restored = ckpt.load(checkpoint, digest)
    problem = prepare(frames, settings, source=source, baseline=baseline, progress=progress,
                      restored=restored)
    timings = dict(problem.timings)
    t0 = time.perf_counter()
    u = cholesky_upper(sparse_covariance(problem.unfitted), settings.sparse_jitter)
    state = qr_init(u) if restored is None else restored.state
    done = set() if restored is None else {int(i) for i in restored.done}
    block_rows = max(2 * len(u), 512)
    buffer: list = []

    def absorb(state):
        state = qr_update(state, *_stack(buffer))
        done.update(b.frame for b in buffer)
        if checkpoint is not None:
            t = problem.terms
            ckpt.save(checkpoint, ckpt.Checkpoint(t.soap_sparse, t.soap_counts, t.pair_sparse,
                                                  t.e0, state, np.array(sorted(done))), digest)
        return state

    for block in observation_blocks(problem, progress, skip=frozenset(done)):
        # absorb only whole configurations, so a checkpoint never holds half of one
        if buffer and block.frame != buffer[-1].frame and \
                sum(len(b.rows) for b in buffer) >= block_rows:
            state = absorb(state)
            buffer = []
        buffer.append(block)
    if buffer:
        state = absorb(state)
    timings["kernel_rows_and_qr"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    alpha = qr_solve(state)
    timings["solve"] = time.perf_counter() - t0
    gap_model = set_alpha(problem.unfitted, alpha)
    model = gap_model if baseline is None else baseline + gap_model
    species = problem.terms.species
    return GapFit(model, gap_model, Posterior(u, state.r, model_digest(gap_model)),
                  dict(zip(species, problem.terms.e0.tolist())), timings, state.n_rows,
                  settings, Continuation(state, digest))


def _stack(blocks):
    return (np.concatenate([b.rows for b in blocks]), np.concatenate([b.targets for b in blocks]),
            np.concatenate([b.sigmas for b in blocks]))


# ------------------------------------------------------------------------ reference energies
def _reference_energies(e0: Any, species, frames, obs: list[Observations],
                        source: str) -> np.ndarray:
    if isinstance(e0, str):  # "average": least squares E ~ sum_s n_s e_s
        counts = np.array([[np.sum(a.numbers == z) for z in species] for a in frames], float)
        energies = np.array([o.energy if o.energy is not None else np.nan for o in obs])
        ok = np.isfinite(energies)
        if not ok.any():
            return np.zeros(len(species))
        return np.linalg.lstsq(counts[ok], energies[ok], rcond=None)[0]
    if isinstance(e0, dict):
        table = dict(zip(species_numbers(list(e0)), map(float, e0.values())))
        missing = [z for z in species if z not in table]
        if missing:
            raise TrainingDataError(f"{source}: e0 has no value for species Z={missing}")
        return np.array([table[z] for z in species])
    return np.full(len(species), float(e0))


def _subtract_baseline(baseline: EnergyModel, frames, obs, source) -> list[Observations]:
    from jaxpot.prediction import predict
    pred = predict(baseline, frames, progress=False)
    out = []
    for i, (o, a) in enumerate(zip(obs, frames)):
        virial = None
        if o.virial is not None:
            if not np.all(np.isfinite(pred.stress[i])):
                raise TrainingDataError(f"{source}, configuration {i}: baseline stress is not "
                                        "finite")
            from ase.stress import voigt_6_to_full_3x3_stress
            virial = o.virial + voigt_6_to_full_3x3_stress(pred.stress[i]) * a.get_volume()
        out.append(o._replace(
            energy=None if o.energy is None else o.energy - pred.energy[i],
            forces=None if o.forces is None else o.forces - pred.forces[i], virial=virial))
    return out


# --------------------------------------------------------------------------- sparse points
def _soap_sparse_points(settings: GapSettings, template, frames, pairs, species,
                        progress: bool):
    s = settings.soap
    desc = quip_soap(species, s.cutoff, s.n_max, s.l_max, s.atom_sigma,
                     s.cutoff_transition_width, s.central_weight)
    per_species: dict[int, list] = {z: [] for z in species}
    bar = _bar(soap_work(desc, frames, pairs), progress, "SOAP descriptors")
    for i, x in soap_features(desc, template, frames, pairs, on_batch=bar.advance,
                                  on_compiled=bar.restart_clock):
        for zz in species:
            per_species[zz].append(x[frames[i].numbers == zz])
    bar.close()
    chosen, counts = [], []
    for k, z in enumerate(species):
        envs = np.concatenate(per_species[z])
        given = (settings.sparse_indices or {}).get(z)
        if s.sparse_method == "index_file":
            if given is None:
                raise ValueError(f"sparse_method=index_file needs sparse indices for Z={z}")
            idx = np.asarray(given, int)
        else:  # candidates: distinct environments (a perfect crystal repeats one N times)
            distinct = np.unique(np.round(envs, 10), axis=0, return_index=True)[1]
            envs = envs[np.sort(distinct)]
            n = min(s.n_sparse, len(envs)) if s.sparse_method != "all" else len(envs)
            idx = select_sparse(envs, n, s.sparse_method, settings.seed + k,
                                settings.cur_iterations)
        points = envs[idx]
        if len(points) == 0:
            raise ValueError(f"no sparse points for Z={z}")
        if len(np.unique(np.round(points, 10), axis=0)) < len(points):
            raise ValueError(f"duplicate sparse points for Z={z}: two chosen environments are "
                             "identical, so K_MM is singular; choose distinct indices")
        chosen.append(points)
        counts.append(len(points))
    return np.concatenate(chosen), tuple(counts)


def _pair_sparse_points(settings: GapSettings, frames, pairs, species) -> np.ndarray:
    s = settings.distance_2b
    n_types = len(species_pairs(species))
    dist: list[list] = [[] for _ in range(n_types)]
    for atoms, p in zip(frames, pairs):
        r, types = pair_distances(atoms, p, s.cutoff, species)
        for t in range(n_types):
            dist[t].append(r[types == t])
    grid = []
    for per_type in dist:
        values = np.concatenate(per_type) if per_type else np.zeros(0)
        if values.size == 0:  # a pair never seen: points spread over the cutoff, alpha -> 0
            values = np.array([0.5, s.cutoff])
        grid.append(uniform_grid(values, s.n_sparse))
    return np.array(grid)


# ------------------------------------------------------------------------------ the model
def _term_models(settings: GapSettings, terms: _Terms, alpha: np.ndarray | None):
    """(SOAP term or None, distance_2b term or None); e0 sits in the first term present."""
    soap_term = pair_term = None
    if settings.soap is not None:
        s = settings.soap
        a = None if alpha is None else alpha[:terms.n_soap]
        counts = terms.soap_counts or (0,) * len(terms.species)
        soap_term = soap_gp(species=terms.species, cutoff=s.cutoff, n_max=s.n_max,
                            l_max=s.l_max, atom_sigma=s.atom_sigma, zeta=s.zeta,
                            delta=s.delta, cutoff_transition_width=s.cutoff_transition_width,
                            central_weight=s.central_weight, sparse=terms.soap_sparse,
                            alpha=a, n_sparse=counts, e0=terms.e0)
    if settings.distance_2b is not None:
        s = settings.distance_2b
        sparse = terms.pair_sparse
        if sparse is None:
            sparse = np.zeros((len(species_pairs(terms.species)), s.n_sparse))
        a = None if alpha is None else alpha[terms.n_soap:].reshape(sparse.shape)
        pair_term = distance_2b_gp(species=terms.species, cutoff=s.cutoff,
                                   theta=s.theta_uniform, delta=s.delta,
                                   cutoff_transition_width=s.cutoff_transition_width,
                                   sparse=sparse, alpha=a,
                                   e0=terms.e0 if soap_term is None else None)
    return soap_term, pair_term


def _model(settings: GapSettings, terms: _Terms, alpha: np.ndarray | None) -> EnergyModel:
    """The GAP as one model: its terms summed."""
    return sum(t for t in _term_models(settings, terms, alpha) if t is not None)


# --------------------------------------------------------------------------- streamed rows
class Block(NamedTuple):
    """Observations of one kind (0 energy, 1 forces, 2 virial) of one structure."""

    rows: np.ndarray  # (n, M)
    targets: np.ndarray  # (n,)
    sigmas: np.ndarray  # (n,)
    kind: int
    frame: int


def observation_blocks(problem: Problem, progress: bool = False, skip=frozenset()):
    """Yield every structure's observations as :class:`Block` s (kernel rows streamed),
    leaving out the frame indices in ``skip``."""
    terms, frames = problem.terms, problem.frames
    todo = [i for i in range(len(frames)) if i not in skip]
    bar = _bar(rows_work(problem.unfitted, [frames[i] for i in todo],
                         [problem.pairs[i] for i in todo]), progress, "GAP kernel rows")
    iu = np.triu_indices(3)
    for k, rows in structure_rows(problem.unfitted, [frames[i] for i in todo],
                                  [problem.pairs[i] for i in todo], on_batch=bar.advance,
                                  on_compiled=bar.restart_clock):
        i = todo[k]
        o, n = problem.observations[i], len(frames[i])
        if o.energy is not None:
            e_ref = float(np.sum(terms.e0[np.searchsorted(terms.species, frames[i].numbers)]))
            yield Block(rows.energy[None], np.array([o.energy - e_ref]),
                        np.array([o.energy_sigma]), 0, i)
        if o.forces is not None:
            yield Block(rows.forces, o.forces.reshape(-1), np.full(3 * n, o.force_sigma), 1, i)
        if o.virial is not None:
            yield Block(rows.virial, o.virial[iu], np.full(6, o.virial_sigma), 2, i)
    bar.close()


def _bar(work: list[int], show: bool, desc: str):
    """A bar over configurations that counts the padded atom slots computed for each (its
    batch's slots x padded atoms, shared among the batch's configurations): the work, so the
    ETA follows it better than a count of configurations (benchmarks/progress_eta.py)."""
    from jaxpot.progress import work_bar
    return work_bar(work, disable=not show, desc=desc, unit="slot")
