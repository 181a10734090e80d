"""One update of the loop: the model fitted on the labelled frames, the uncertainty that
watches its MD and the threshold that stops it.

Why a distance reference watches MD.  Watched MD needs sigma as a JAX function of
positions and cell; every family is watched through a distance reference on its training
frames (a GAP's posterior is a JAX function too, :mod:`jaxpot.gap.posterior_sigma`, but it
measures total-energy variance, and the distance reference is what one threshold rule serves
for every family) (:mod:`jaxpot.uncertainty.distance`: per-atom Mahalanobis distances d_i
of SOAP environments, in the model's own SOAP settings for a GAP).  The watched model carries
the reference unscaled (its spec, and so MD's compiled chunk, is the same every round); the
calibration factors c_E (eV) and c_F (eV/Å) per unit distance are kept beside it.  The
structure's calibrated rms force sigma is then exactly

    sigma_F = c_F sqrt(sum_i d_i^2 / N) = c_F sigma_raw / sqrt(N)         (eV/Å),

with sigma_raw the total-energy sigma md.run monitors, so a threshold tau on sigma_F is
``stop_when_uncertain = tau sqrt(N) / c_F``.

Calibration.  With at least :data:`MIN_CARVE_FRAMES` labelled frames, a seeded carve of
max(5, n/5) frames is held out of a second fit (an ensemble's own fit already holds it out)
and :func:`jaxpot.uncertainty.calibrate` fits c_E, c_F on the carve's errors (out of sample).
With fewer, a GAP's posterior is used unscaled: c = median posterior sigma / median d over the
labelled atoms (local energies for c_E, forces for c_F); other families stay uncalibrated
(c = 1, thresholds in distance units; a ``target`` is then never met).

Threshold (unless fixed).  tau = ``threshold_factor`` (default 2) x the median sigma_F of the
calibration frames (the carve, out of sample; else the labelled frames), recomputed at every
update: it follows the model as FLARE's noise multiple follows its fitted noise and VASP's
ML_CTIFOR its Bayesian-error history.

Incremental GAP updates.  A GAP is fitted from scratch once, on the initial frames; each later
update absorbs the frames labelled since (one ``groups`` block per round) with
:func:`jaxpot.gap.update`, adding up to ``add_sparse_per_frame`` (a model setting, default
:data:`ADD_SPARSE_PER_FRAME`) x (new frames) SOAP sparse
points per species, the new environments the current sparse set represents worst (e0 and the
distance_2b grid stay the first fit's).  The state of one update continues the next
(``previous=``); without it (a resumed run) the same updates are replayed in order from the
first fit, so a resumed run ends bit-identical to an uninterrupted one.  The calibration fit
(the carve, which changes with every update) is still fitted from scratch.

Warm-started ensembles.  An ensemble is trained from fresh weights on the first block; each
later update starts from the ensemble fitted on one block fewer (its members' weights and
normalization, :mod:`jaxpot.nn.warm_start`), read from ``scratch/ensemble_NNN.jaxpot``, which
every ensemble update writes (saved and loaded bit-identically, so a resumed run starts where
an uninterrupted one did).  Other families are refitted from scratch (a linear fit is exact).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from jaxpot.active.models import (
    Fitted,
    ModelConfig,
    fit_model,
    gap_settings,
    needs_validation,
    reference_settings,
)
from jaxpot.model import EnergyModel

#: labelled frames needed for a calibration carve (5 to validate, 5 to fit)
MIN_CARVE_FRAMES = 10
#: calibration frames held out: max(5, n // CARVE_DIVISOR)
CARVE_DIVISOR = 5
#: SOAP sparse points an incremental GAP update may add per species, per new frame (8 rather
#: than 1: 0.0195 vs 0.0208 eV/Å on the validation set of benchmarks/active_learning.py)
ADD_SPARSE_PER_FRAME = 8


class Monitor(NamedTuple):
    """The watched model (carries the unscaled distance reference), its descriptor settings,
    the factors c_E (eV) and c_F (eV/Å) per unit distance, the median calibrated rms force
    sigma of the calibration frames (eV/Å), where the factors came from, and whether they
    are calibrated."""

    model: EnergyModel
    descriptor: dict
    energy_factor: float
    force_factor: float
    base: float
    source: str
    calibrated: bool


class Update(NamedTuple):
    """The fit on the labelled frames, the calibration fit (None without a carve), the carve
    (frame indices), the :class:`Monitor`; for a GAP the incremental-update state
    (:class:`jaxpot.gap.update.UpdateState`, None otherwise), the frame blocks it absorbed,
    how the fit was made ("fresh", "incremental", "replayed") and its wall time (s)."""

    fitted: Fitted
    check: Fitted | None
    carve: tuple[int, ...]
    monitor: Monitor
    state: Any = None
    groups: tuple[int, ...] = ()
    how: str = "fresh"
    fit_time_s: float = 0.0


def carve(n: int, seed: int) -> tuple[int, ...]:
    """Calibration frames of ``n`` labelled ones (seeded by ``seed`` and ``n``); empty below
    :data:`MIN_CARVE_FRAMES`."""
    if n < MIN_CARVE_FRAMES:
        return ()
    rng = np.random.default_rng([int(seed), int(n), 7])
    size = max(5, n // CARVE_DIVISOR)
    return tuple(sorted(int(i) for i in rng.choice(n, size, replace=False)))


def update(config: ModelConfig, frames: Sequence, seed: int, scratch: str | None = None, *,
           groups: Sequence[int] | None = None, previous: Update | None = None,
           monitor: str = "distance") -> Update:
    """Fit on ``frames`` and calibrate the watching uncertainty (module docstring).

    ``groups``: sizes of the consecutive blocks of ``frames`` in the order they were labelled
    (the initial frames, then each round's); a GAP is then fitted on the first block and
    updated incrementally with each next one, continuing ``previous`` (the last call's
    result) where it holds a prefix of the blocks.  None: one block (a fresh fit).
    ``monitor``: "distance" (a distance reference watches MD) or "own" (the model's own
    uncertainty, :mod:`jaxpot.active.own_watch`)."""
    held = carve(len(frames), seed)
    if config.family == "gap" and groups is not None and len(groups) > 1:
        t0 = time.perf_counter()
        fitted, state, how = _incremental(config, frames, seed, tuple(groups), previous)
        fit_time = time.perf_counter() - t0
        check = fit_model(config, frames, seed, validation=held) if held else None
        return _finish(config, frames, fitted, check, held, state, tuple(groups), how,
                       fit_time, monitor)
    t0 = time.perf_counter()
    state = None
    if needs_validation(config):
        if not held:
            raise ValueError(f"active.learn: an ensemble needs at least {MIN_CARVE_FRAMES} "
                             f"labelled frames (5 validate it), got {len(frames)}")
        blocks = len(groups) if groups is not None else 1
        warm = _warm_source(scratch, blocks)
        fitted = fit_model(config, frames, seed, validation=held, scratch=scratch,
                           start_from=warm)
        fit_time = time.perf_counter() - t0
        _keep_for_warm_start(scratch, blocks, fitted.model)
        check = fitted
        if warm is not None:
            return _finish(config, frames, fitted, check, held, state, tuple(groups), "warm",
                           fit_time, monitor)
    else:
        if config.family == "gap":
            fitted, state = _fresh_gap(config, frames, seed)
        else:
            fitted = fit_model(config, frames, seed, scratch=scratch)
        fit_time = time.perf_counter() - t0
        check = fit_model(config, frames, seed, validation=held, scratch=scratch) if held \
            else None
    return _finish(config, frames, fitted, check, held, state, (len(frames),), "fresh",
                   fit_time, monitor)


def _warm_path(scratch: str, blocks: int) -> str:
    import os
    return os.path.join(scratch, f"ensemble_{blocks:03d}.jaxpot")


def _warm_source(scratch: str | None, blocks: int) -> EnergyModel | None:
    """The ensemble fitted on the first ``blocks - 1`` blocks (saved by the update that fitted
    it), which this update starts from; None for the first block or without a scratch."""
    import os
    if scratch is None or blocks < 2 or not os.path.exists(_warm_path(scratch, blocks - 1)):
        return None
    from jaxpot.io.model_file import load
    return load(_warm_path(scratch, blocks - 1))


def _keep_for_warm_start(scratch: str | None, blocks: int, model: EnergyModel) -> None:
    """Save the ensemble fitted on ``blocks`` blocks for the next update's warm start (a
    file, so that a resumed run starts from the same weights: save/load is bit-identical)."""
    if scratch is None:
        return
    import os

    from jaxpot.io.model_file import save
    os.makedirs(scratch, exist_ok=True)
    save(model, _warm_path(scratch, blocks))


def _fresh_gap(config: ModelConfig, frames: Sequence, seed: int):
    """(Fitted, UpdateState) of gap.fit on ``frames`` (what fit_model fits)."""
    from jaxpot.gap import fit, update_state
    frames = list(frames)
    result = fit(frames, gap_settings(config.settings, seed), progress=False,
                 source="active learning frames")
    return Fitted(result.model, result.posterior), update_state(result, frames)


def _finish(config: ModelConfig, frames: Sequence, fitted: Fitted, check: Fitted | None,
            held: tuple[int, ...], state, groups: tuple[int, ...], how: str,
            fit_time: float, monitor: str = "distance") -> Update:
    training = [a for i, a in enumerate(frames) if i not in set(fitted.held_out)]
    descriptor = reference_settings(config, fitted.model)
    if monitor == "own":  # the descriptor settings serve selection; no reference is fitted
        from jaxpot.active import own_watch
        from jaxpot.uncertainty.distance import reference_settings as distance_settings
        settings = distance_settings(fitted.model, training, **descriptor)
        watched = own_watch.own_watched(fitted)
        if check is not None:
            factors, base, source = own_watch.carve_factors(check, frames, held)
        else:  # only a GAP fits without a carve
            factors, base = own_watch.posterior_factors(fitted, frames)
            source = "GAP posterior, unscaled (no carve below 10 frames)"
        return Update(fitted, check, held, Monitor(watched, settings, float(factors[0]),
                                                   float(factors[1]), float(base), source,
                                                   True), state, groups, how, fit_time)
    watched, settings = _watched(fitted.model, training, descriptor)
    if check is not None:
        factors, base, source = _carve_factors(check, frames, held, descriptor)
        calibrated = True
    elif fitted.posterior is not None:
        factors, base = _posterior_factors(fitted, watched, frames)
        source, calibrated = "GAP posterior, unscaled (no carve below 10 frames)", True
    else:
        from jaxpot.uncertainty.predict import raw_std
        _, _, _, _, f_std, _ = raw_std(watched, frames)
        factors, base = (1.0, 1.0), float(np.median([_rms(f) for f in f_std]))
        source, calibrated = "uncalibrated (distance units)", False
    return Update(fitted, check, held, Monitor(watched, settings, float(factors[0]),
                                               float(factors[1]), float(base), source,
                                               calibrated), state, groups, how, fit_time)


def _incremental(config: ModelConfig, frames: Sequence, seed: int, groups: tuple[int, ...],
                 previous: Update | None):
    """(Fitted, state, how): the GAP of the first block updated with each next block, from
    ``previous``'s state where it holds a prefix of the blocks, else replayed from the first
    fit (the same operations in the same order: bit-identical)."""
    from jaxpot.gap import update
    from jaxpot.training.checkpoint import fingerprint
    if sum(groups) != len(frames) or any(g < 1 for g in groups):
        raise ValueError(f"update: groups {list(groups)} do not split {len(frames)} frames "
                         "into non-empty blocks")
    ends = np.cumsum(groups).tolist()
    state, done, how = None, 0, "replayed"
    if previous is not None and previous.state is not None and previous.groups and \
            tuple(previous.groups) == groups[:len(previous.groups)] and \
            previous.state.settings == gap_settings(config.settings, seed) and \
            previous.state.data == fingerprint(None, list(frames[:ends[len(previous.groups)
                                                                       - 1]])):
        if len(previous.groups) == len(groups):  # nothing new (every call of a round failed)
            return previous.fitted, previous.state, previous.how
        state, done, how = previous.state, len(previous.groups), "incremental"
    if state is None:
        fitted, state = _fresh_gap(config, frames[:ends[0]], seed)
        done = 1
    for k in range(done, len(groups)):
        block = list(frames[ends[k - 1]:ends[k]])
        per_frame = int(config.settings.get("add_sparse_per_frame", ADD_SPARSE_PER_FRAME))
        new = update(state, block, add_sparse=per_frame * len(block),
                     source="active learning frames")
        state = new.state
        fitted = Fitted(new.model, new.posterior)
    return fitted, state, how


def _watched(model: EnergyModel, training: Sequence, descriptor: dict):
    """``model`` carrying an unscaled distance reference on ``training`` and its settings."""
    from jaxpot.uncertainty.carrier import carry
    from jaxpot.uncertainty.distance import fit_reference
    arrays, settings = fit_reference(model, training, **descriptor)
    return carry(model, "distance", arrays, settings=settings), settings


def _carve_factors(check: Fitted, frames: Sequence, held: Sequence[int], descriptor: dict):
    """((c_E, c_F), median calibrated sigma_F of the carve, source) by uq.calibrate of the
    calibration fit's distance reference on the carve."""
    from jaxpot.uncertainty import calibrate, predict, unwrap
    train = [a for i, a in enumerate(frames) if i not in set(held)]
    validation = [frames[i] for i in held]
    watched, _ = _watched(check.model, train, descriptor)
    calibrated = calibrate(watched, validation)
    scale = unwrap(calibrated)[1].scale
    f_std = predict(calibrated, validation).forces_std
    return scale, float(np.median([_rms(f) for f in f_std])), \
        f"validation carve ({len(validation)} frames)"


def _posterior_factors(fitted: Fitted, watched: EnergyModel, frames: Sequence):
    """((c_E, c_F), median sigma_F of the labelled frames) matching the distance scores to a
    GAP's unscaled posterior on the labelled atoms."""
    from jaxpot.gap import predictive_std
    from jaxpot.uncertainty.predict import raw_std
    post = predictive_std(fitted.model, fitted.posterior, frames)
    _, _, _, _, d, _ = raw_std(watched, frames)
    d_all = np.concatenate(d)
    scale = max(float(np.median(d_all)), 1e-12)
    f_post = np.concatenate([np.sqrt(np.mean(f ** 2, axis=1)) for f in post.forces])
    c_f = max(float(np.median(f_post)) / scale, 1e-12)
    c_e = max(float(np.median(np.concatenate(post.local_energies))) / scale, 1e-12) \
        if post.local_energies is not None else c_f
    return (c_e, c_f), c_f * float(np.median([_rms(x) for x in d]))


def _rms(x) -> float:
    return float(np.sqrt(np.mean(np.square(np.asarray(x, float)))))


def force_sigma(monitor: Monitor, raw_sigma, n_atoms: int) -> np.ndarray:
    """Calibrated rms force sigma (eV/Å) of rows whose monitored sigma is ``raw_sigma``."""
    return monitor.force_factor * np.asarray(raw_sigma, float) / np.sqrt(n_atoms)


def stop_sigma(monitor: Monitor, threshold: float, n_atoms: int) -> float:
    """``md.run``'s stop_when_uncertain (raw sigma) for a force threshold (eV/Å)."""
    return float(threshold) * np.sqrt(n_atoms) / monitor.force_factor


def final_model(config: ModelConfig, step: Update, frames: Sequence) -> EnergyModel:
    """The model handed back: a GAP carrying its posterior (calibrated on the carve's fit,
    else unscaled), an ensemble (calibrated by its training), any other family carrying the
    calibrated distance reference."""
    from jaxpot.uncertainty.carrier import carry, unwrap
    fitted = step.fitted
    if fitted.posterior is not None:
        arrays = {"kmm_factor": np.asarray(fitted.posterior[0]),
                  "posterior_factor": np.asarray(fitted.posterior[1])}
        if step.check is None:
            return carry(fitted.model, "gap_posterior", arrays)
        from jaxpot.uncertainty import calibrate
        validation = [frames[i] for i in step.carve]
        info = unwrap(calibrate(step.check.model, validation,
                                posterior=step.check.posterior))[1]
        return carry(fitted.model, "gap_posterior", arrays, scale=info.scale,
                     threshold=info.threshold, calibrated=True)
    if config.family == "ensemble":
        return fitted.model
    child, info = unwrap(step.monitor.model)
    return carry(child, "distance", info.arrays, settings=info.settings,
                 scale=(step.monitor.energy_factor, step.monitor.force_factor),
                 calibrated=step.monitor.calibrated)
