"""Fit a potential linear in its coefficients (SNAP, qSNAP) to energies, forces and stress.

    fit = fit_snap(frames, bispectrum(["Si"], 8, 4.9, radius=0.5, bzeroflag=0))
    fit.model          # a jaxpot EnergyModel (write it with jaxpot.save or write_snap)
    fit.choice         # kind weights and ridge chosen on the validation split
    fit.validation     # the grid: validation RMSE of energy/atom, forces, stress per point

Steps: labels are read (errors name file and configuration); a seeded validation split is
carved from the training frames; design rows (:mod:`jaxpot.linear.rows`) are computed in a few
padded bucket shapes and absorbed into streamed QR factors per subset and kind; the kind
weights and ridge are chosen on the validation split (:func:`jaxpot.linear.solve.select`)
unless given; the final coefficients are solved on all training frames with that choice.
Per-config_type weights multiply the rows of those configurations (as FitSNAP's group weights).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from jaxpot.batch import (
    check_frames,
    first_batch_of_each_bucket,
    frame_pairs,
    packed_batches,
    plan_buckets,
    slot_work,
)
from jaxpot.descriptors.bispectrum import Bispectrum
from jaxpot.descriptors.bispectrum_jacobian import bispectrum_and_jacobian
from jaxpot.linear import rows as linear_rows
from jaxpot.linear.distances import check_sees_neighbours
from jaxpot.linear.solve import KINDS, Choice, absorb, empty_state, merge, rmse, select, solve
from jaxpot.model import EnergyModel
from jaxpot.space import VOIGT_PAIRS
from jaxpot.structure import check_frames as check_atoms
from jaxpot.training.config import SPLIT_RULES
from jaxpot.training.labels import read_labels_checked
from jaxpot.training.splits import validation_carve
from jaxpot.training.values import (
    check_values,
    factor_table,
    number_rule,
    numbers_list,
    optional,
)
from jaxpot.training.weights import check_config_type_weights

_log = logging.getLogger(__name__)

ROWS_BYTES = 1 << 28  #: memory budget of one batch of design rows (bytes)


@dataclasses.dataclass(frozen=True)
class LinearFitSettings:
    """Weights (as expected errors), ridge and the validation split.

    Attributes:
        energy_sigma, force_sigma, stress_sigma: expected errors, eV/atom, eV/Å, GPa; the
            weights are their inverses (times the grid factors) and the validation score is
            sum_k RMSE_k / sigma_k.
        ridge: fixed ridge (scale free, see :mod:`jaxpot.linear.solve`); None chooses it from
            ``ridges`` on the validation split.
        force_factors, stress_factors: grids of weight factors searched on validation
            (a single value fixes the weight).
        config_type_weights: {config_type: factor} multiplying those configurations' rows.
        validation_fraction, seed, stratify_validation: the split, carved per config_type
            unless ``stratify_validation`` is False (0 disables the search; ridge and factors must
            then be single values).
    """

    energy_sigma: float = 0.002
    force_sigma: float = 0.05
    stress_sigma: float = 0.5
    ridge: float | None = None
    ridges: tuple[float, ...] = (1e-12, 1e-10, 1e-8, 1e-6, 1e-4)
    force_factors: tuple[float, ...] = (0.25, 1.0, 4.0)
    stress_factors: tuple[float, ...] = (0.1, 1.0)
    config_type_weights: Mapping[str, float] = dataclasses.field(default_factory=dict)
    validation_fraction: float = 0.1
    seed: int = 0
    stratify_validation: bool = True

    def __post_init__(self) -> None:
        """Check every value (ValueError naming the field); lists become tuples."""
        for name in ("ridges", "force_factors", "stress_factors"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        check_values(dataclasses.asdict(self), LINEAR_RULES, "LinearFitSettings.")


_SIGMA_HINT = "an expected error: the weight is its inverse; inf leaves the kind out"
#: the check of each LinearFitSettings field (value, name) -> value, or ValueError naming it
LINEAR_RULES = {
    **{k: number_rule(low=0.0, low_open=True, allow_inf=True, hint=_SIGMA_HINT)
       for k in ("energy_sigma", "force_sigma", "stress_sigma")},
    "ridge": optional(number_rule(low=0.0)),
    "ridges": lambda v, name: numbers_list(v, name, low=0.0),
    "force_factors": lambda v, name: numbers_list(v, name, low=0.0),
    "stress_factors": lambda v, name: numbers_list(v, name, low=0.0),
    "config_type_weights": factor_table,
    **SPLIT_RULES,
}


class LinearFit(NamedTuple):
    model: EnergyModel
    choice: Choice
    validation: list
    timings: dict
    n_observations: dict
    states: dict | None = None  # QR factors of all training rows per kind (Gauss-Newton blocks)


class SnapBasis(NamedTuple):
    """The linear basis of a SNAP (or qSNAP) model: its bispectrum descriptor."""

    descriptor: Bispectrum

    @property
    def n_columns(self) -> int:
        return len(self.descriptor.species) * (1 + self.descriptor.n_features)

    def penalised(self) -> np.ndarray:
        """Columns under the ridge: all but each species' constant beta_0."""
        p = np.ones((len(self.descriptor.species), 1 + self.descriptor.n_features), bool)
        p[:, 0] = False
        return p.reshape(-1)

    def model(self, coefficients: np.ndarray) -> EnergyModel:
        from jaxpot.potentials.snap import snap
        d = self.descriptor
        return snap(descriptor=d, coefficients=np.asarray(coefficients).reshape(len(d.species), -1))

    def rows(self, batch):
        d = self.descriptor
        return linear_rows.batch_rows_jit(_linear_features(d), d.species, d.quadraticflag, batch)

    def compile(self, batch) -> None:
        """Compile :meth:`rows` for ``batch``'s shape without running it."""
        d = self.descriptor
        linear_rows.batch_rows_jit.lower(_linear_features(d), d.species, d.quadraticflag,
                                         batch).compile()

    def bytes_per_structure(self, bucket) -> int:
        d = self.descriptor
        return linear_rows.rows_bytes_per_structure(bucket.n_atoms, bucket.capacity,
                                                    d.n_bispectrum, d.quadraticflag,
                                                    len(d.species))


@functools.lru_cache(maxsize=32)
def _linear_features(desc: Bispectrum):
    """One function object per descriptor (a static jit argument: shared compilations)."""
    lin = desc._replace(quadraticflag=False)
    return functools.partial(bispectrum_and_jacobian, lin)


def fit_snap(frames: Sequence, descriptor: Bispectrum,
             settings: LinearFitSettings = LinearFitSettings(), *, source: str = "frames",
             progress: bool = True, checkpoint: str | None = None, names=None) -> LinearFit:
    """Fit SNAP (linear) or qSNAP (``descriptor.quadraticflag``) coefficients.

    ``checkpoint``: path of an atomic checkpoint of the absorbed rows, written after each
    batch; a fit of the same basis, settings and data given an existing one resumes from it
    (:mod:`jaxpot.linear.checkpoint`).  ``names``: info/arrays keys of the labels
    (:class:`jaxpot.training.labels.LabelKeys` or a dict).  A pair cutoff rcutfac (R_a + R_b)
    within which no frame has a neighbour is refused (CutoffError)."""
    frames = check_atoms(frames, source)
    check_sees_neighbours(frames, descriptor.cutoff, snap_cutoff_setting(descriptor),
                          snap_pair_cutoff(descriptor))
    return fit_linear(frames, SnapBasis(descriptor), settings, source=source, progress=progress,
                      checkpoint=checkpoint, names=names)


def snap_cutoff_setting(desc: Bispectrum, prefix: str = "") -> str:
    """``rcutfac = .. with radius ..``: the settings that make a SNAP pair cutoff."""
    from ase.data import chemical_symbols
    radius = ", ".join(f"{chemical_symbols[z]} {r:g}" for z, r in zip(desc.species, desc.radius))
    return (f"{prefix}rcutfac = {desc.rcutfac:g} with radius {radius} (pair cutoff "
            "rcutfac (R_a + R_b))")


def snap_pair_cutoff(desc: Bispectrum):
    """``cut(Z_i, Z_j)`` arrays -> rcutfac (R_a + R_b) Å (0 for a species it does not know)."""
    radius = np.zeros(119)
    radius[list(desc.species)] = desc.radius
    known = np.zeros(119, bool)
    known[list(desc.species)] = True

    def cut(zi, zj):
        return np.where(known[zi] & known[zj], desc.rcutfac * (radius[zi] + radius[zj]), 0.0)
    return cut


def fit_linear(frames: Sequence, basis, settings: LinearFitSettings = LinearFitSettings(), *,
               source: str = "frames", progress: bool = True,
               checkpoint: str | None = None, names=None) -> LinearFit:
    """Fit any linear basis (see :class:`SnapBasis` for the interface); ``names``: label
    keys as :func:`fit_snap`'s."""
    timings = {}
    start = time.perf_counter()
    frames = check_atoms(frames, source)
    if not isinstance(settings, LinearFitSettings):
        raise TypeError(f"settings must be LinearFitSettings, got {type(settings).__name__}")
    labels = read_labels_checked(frames, names, source=source)
    check_config_type_weights(frames, settings.config_type_weights)
    template = basis.model(np.zeros(basis.n_columns))
    check_frames(template, frames, source)
    search = settings.ridge is None or len(settings.force_factors) > 1 \
        or len(settings.stress_factors) > 1
    if search and settings.validation_fraction <= 0:
        raise ValueError("choosing weights or ridge needs a validation split "
                         "(validation_fraction > 0), or give single values")
    fraction = settings.validation_fraction if search else 0.0
    _, val_idx = validation_carve(frames, fraction, settings.seed, settings.stratify_validation)
    subset = np.zeros(len(frames), int)
    subset[val_idx] = 1
    # what the absorbed rows depend on: a checkpoint stays valid when only the weight and
    # ridge grids change (they act on the QR factors, not on the rows)
    rows_key = (basis, sorted(settings.config_type_weights.items()), fraction,
                (settings.seed, settings.stratify_validation) if fraction else None)
    states = _absorb_all(basis, template, frames, labels, subset, settings, progress,
                         checkpoint, rows_key)
    timings["rows_and_qr"] = time.perf_counter() - start
    start = time.perf_counter()
    penalised = basis.penalised()
    sigmas = (settings.energy_sigma, settings.force_sigma, settings.stress_sigma)
    ridges = (settings.ridge,) if settings.ridge is not None else settings.ridges
    if search:
        choice, table = select(states[0], states[1], penalised, sigmas, ridges,
                               settings.force_factors, settings.stress_factors)
    else:
        choice = Choice((1.0 / sigmas[0], settings.force_factors[0] / sigmas[1],
                         settings.stress_factors[0] / sigmas[2]), float(ridges[0]))
        table = []
    everything = {k: merge(states[0][k], states[1][k]) for k in KINDS}
    x, cond = solve(everything, choice, penalised)
    timings["solve"] = time.perf_counter() - start
    model = basis.model(x)
    counts = {k: int(everything[k].n_rows) for k in KINDS}
    level = logging.INFO if progress else logging.DEBUG
    if _log.isEnabledFor(level):
        _log.log(level, f"chosen on {len(val_idx)} validation frames: weights (E, F, S) = "
                 f"{tuple(round(w, 4) for w in choice.weights)}, ridge = {choice.ridge:g}, "
                 f"condition number {cond:.2g}; training RMSE "
                 + ", ".join(f"{k} {rmse(everything[k], x):.4g}" for k in KINDS
                             if everything[k].n_rows))
    return LinearFit(model, choice, table, timings, counts, everything)


def _absorb_all(basis, template, frames, labels, subset, settings, progress, checkpoint,
                rows_key):
    """Rows of every frame absorbed into QR factors: [train, validation] x kind (``rows_key``:
    everything the rows depend on besides the frames, the checkpoint's fingerprint)."""
    from jaxpot.linear import checkpoint as ckpt
    from jaxpot.progress import work_bar
    from jaxpot.training.checkpoint import fingerprint
    p = basis.n_columns
    states = [{k: empty_state(p) for k in KINDS} for _ in range(2)]
    done: set[int] = set()
    digest = fingerprint(rows_key, frames) if checkpoint else ""
    restored = ckpt.load(checkpoint, digest) if checkpoint else None
    if restored is not None:
        states, done = restored
    buffers = [{k: ([], []) for k in KINDS} for _ in range(2)]
    todo = [i for i in range(len(frames)) if i not in done]
    frames_todo = [frames[i] for i in todo]
    pairs = [frame_pairs(template, a) for a in frames_todo]
    buckets = plan_buckets(frames_todo, pairs, pad_atoms=True)
    buckets = [b._replace(batch_size=max(1, min(b.batch_size, ROWS_BYTES
                                                 // max(basis.bytes_per_structure(b), 1))))
               for b in buckets]
    work = [0] * len(frames)  # a configuration's share of its batch's padded atom slots
    for j, w in enumerate(slot_work(buckets, len(frames_todo))):
        work[todo[j]] = w
    bar = work_bar(work, disable=not progress, desc="design rows", unit="slot")
    compile_started = time.perf_counter()
    for batch in first_batch_of_each_bucket(template, frames_todo, pairs, buckets):
        basis.compile(batch)  # every shape before the first batch: the bar times work alone
    _log.debug("compiled the design rows for %d bucket(s) in %.1f s", len(buckets),
               time.perf_counter() - compile_started)
    bar.restart_clock()

    def flush(which, kind):
        rows, targets = buffers[which][kind]
        if rows:
            states[which][kind] = absorb(states[which][kind], np.vstack(rows),
                                         np.concatenate(targets))
            buffers[which][kind] = ([], [])

    def flush_all():
        for which in range(2):
            for kind in KINDS:
                flush(which, kind)

    for local, batch in packed_batches(template, frames_todo, pairs, buckets):
        host = [np.asarray(r) for r in basis.rows(batch)]
        members = [todo[j] for j in local]
        for slot, i in enumerate(members):
            n = len(frames[i])
            lab = labels[i]
            w = float(settings.config_type_weights.get(lab.config_type, 1.0))
            which = subset[i]
            rows_i = {}
            if lab.energy is not None:
                rows_i["energy"] = (host[0][slot][None], np.array([lab.energy / n]))
            if lab.forces is not None:
                rows_i["forces"] = (host[1][slot, :n].reshape(3 * n, p), lab.forces.reshape(-1))
            if lab.stress is not None and frames[i].cell.rank == 3:
                s = host[2][slot]
                rows_i["stress"] = (np.stack([s[a, b] for a, b in VOIGT_PAIRS]),
                                    np.asarray(lab.stress) * linear_rows.EV_PER_A3_TO_GPA)
            for kind, (r, y) in rows_i.items():
                buffers[which][kind][0].append(r * w)
                buffers[which][kind][1].append(y * w)
                if sum(len(b) for b in buffers[which][kind][0]) >= 2048:
                    flush(which, kind)
        if checkpoint:
            flush_all()
            done.update(members)
            ckpt.save(checkpoint, states, done, digest)
        bar.advance(members)
    bar.close()
    flush_all()
    return states
