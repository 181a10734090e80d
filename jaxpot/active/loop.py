"""``active.learn``: fit, explore, select, label, refit, until the budget, the target or
convergence.

    run = active.learn(frames, EMT(), model="gap", explore=active.md(temperatures=[300, 900]),
                       budget=60, workdir="al_run", seed=0)
    run.model, run.frames, run.history, run.failures, run.unstable, run.status

Each update fits the model on every labelled frame and calibrates the uncertainty that
watches MD (:mod:`jaxpot.active.monitor`); a round explores with MD that stops where the
calibrated rms force sigma exceeds the threshold (:mod:`jaxpot.active.explore`), selects the
stop structures by greedy max-min feature distance (:mod:`jaxpot.active.select`), and labels
them (:mod:`jaxpot.active.oracle`).  The run ends when the oracle calls reach ``budget``
(failed calls count), when ``target`` is met (the largest calibrated rms force sigma over a
whole round's MD log rows <= target), or when a round gives nothing to label (converged).

Everything is written to ``workdir`` as it happens (:mod:`jaxpot.active.store`); the run is a
function of the initial frames, the settings and the seed, so calling ``learn`` again with the
same workdir resumes a killed run where it stopped, calls the oracle only for structures it
has not answered, and ends with the model an uninterrupted run ends with.

Calibration over the run.  Each round's history row keeps, aligned with its batch, the
calibrated rms force sigma (eV/Å) at which each chosen structure's MD stopped
(``selected_sigma``) and, once the batch is labelled, the rms force error (eV/Å) of the model
that chose it against the oracle (``selected_error``; None for a failed call).  The forces
that model predicts are stored with the batch (:func:`jaxpot.active.store.write_batch`) when
it is chosen, so the error is a function of the run's files: a resumed run reports the same.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import ase
import numpy as np

from jaxpot.active.explore import default_min_distance
from jaxpot.active.models import model_config
from jaxpot.active.monitor import Update, final_model, update
from jaxpot.active.oracle import label_batch
from jaxpot.active.plan import current_factor, explore_and_plan, threshold_rule
from jaxpot.active.settings import Exploration, LoopSettings, check_loop, exploration
from jaxpot.active.store import (
    FORMAT,
    VERSION,
    CallRecord,
    check_identity,
    frames_digest,
    load_state,
    read_batch,
    read_call,
    read_predicted,
    save_state,
    write_call,
    write_labelled,
)
from jaxpot.model import EnergyModel

_log = logging.getLogger(__name__)


class ActiveRun(NamedTuple):
    """The result of :func:`learn`.

    model: the final EnergyModel (with its calibrated uncertainty: a GAP carries its
    posterior).  frames: the initial frames, then each successful oracle call's, in order.
    history: one dict per update (module docstring of :mod:`jaxpot.active`).  failures:
    failed oracle calls (call, round, candidate, error).  unstable: restarted replicas
    (round, replica, attempt, temperature, start, reason).  status: why the run ended.
    oracle_calls: calls made (failed ones included).  workdir: where it is all written.
    """

    model: EnergyModel
    frames: list
    history: list
    failures: list
    unstable: list
    status: str
    oracle_calls: int
    workdir: str


class _Clock:
    """Wall time of the run over all its sessions (s)."""

    def __init__(self, before: float):
        self.before, self.start = float(before), time.perf_counter()

    def __call__(self) -> float:
        return self.before + time.perf_counter() - self.start


def _records(workdir: str, state: dict) -> list[CallRecord]:
    """Every call made, in call order (the planned calls of each round that have a file)."""
    plans = [(row["first_call"], row["batch"]) for row in state["history"] if "first_call" in row]
    out = []
    for first, count in plans:
        for index in range(first, first + count):
            record = read_call(workdir, index)
            if record is not None:
                out.append(record)
    return out


def _labelled(initial: list, records: Sequence[CallRecord]) -> list:
    return list(initial) + [r.atoms for r in records if r.error is None]


def _groups(initial: list, records: Sequence[CallRecord]) -> tuple[int, ...]:
    """Sizes of the labelled frames' blocks in labelling order: the initial frames, then each
    round's successful calls (rounds with none left out)."""
    counts: dict[int, int] = {}
    for r in records:
        if r.error is None:
            counts[r.round] = counts.get(r.round, 0) + 1
    return (len(initial), *(counts[k] for k in sorted(counts)))


def _failures(records: Sequence[CallRecord]) -> list[dict]:
    return [{"call": r.index, "round": r.round, "candidate": r.candidate, "error": r.error}
            for r in records if r.error is not None]


def _label_pending(workdir: str, state: dict, oracle, workers: int, initial: list,
                   save) -> None:
    """Label the pending batch's structures that have no call record yet, each written as it
    arrives; then close the batch."""
    pending = state["pending"]
    batch = read_batch(workdir, pending["round"])
    first = pending["first_call"]
    todo = [i for i in range(len(batch)) if read_call(workdir, first + i) is None]
    _log.info("active: round %d: %d oracle calls (%d already answered)", pending["round"],
              len(todo), len(batch) - len(todo))

    def on_result(k: int, labelled: ase.Atoms | None, error: str | None) -> None:
        i = todo[k]
        if error is not None:
            _log.warning("active: oracle call %d failed: %s", first + i, error)
        write_call(workdir, CallRecord(first + i, pending["round"], i,
                                       labelled if error is None else batch[i], error))
        write_labelled(workdir, _labelled(initial, _records(workdir, state)))
        save()

    label_batch([batch[i] for i in todo], oracle, on_result, workers)
    done = [read_call(workdir, first + i) for i in range(len(batch))]
    row = state["history"][pending["round"]]
    row["failed"] = sum(r.error is not None for r in done)
    row["labelled"] = sum(r.error is None for r in done)
    row["selected_error"] = _selected_errors(workdir, pending["round"], done)
    state["pending"] = None
    save()


def _rms(x) -> float:
    return float(np.sqrt(np.mean(np.square(np.asarray(x, float)))))


def _selected_errors(workdir: str, round_index: int, done: Sequence[CallRecord]
                     ) -> list[float | None]:
    """Per call of a round's batch: the rms force error (eV/Å) of the model that chose the
    structure against the oracle's forces (None for a failed call, or a batch stored without
    predictions)."""
    predicted = read_predicted(workdir, round_index)
    return [None if r.error is not None or p is None
            else _rms(p - r.atoms.calc.results["forces"]) for r, p in zip(done, predicted)]


def _errors(model: EnergyModel, validation: Sequence | None) -> dict:
    """Force RMSE (eV/Å) and energy MAE per atom (eV/atom) on ``validation``."""
    if not validation:
        return {}
    from jaxpot.prediction import predict
    from jaxpot.training.labels import read_labels_checked
    labels = read_labels_checked(validation, source="active.learn validation")
    p = predict(model, list(validation), progress=False)
    f_err = [np.ravel(p.forces[i] - lab.forces) for i, lab in enumerate(labels)
             if lab.forces is not None]
    e_err = [(p.energy[i] - lab.energy) / len(validation[i]) for i, lab in enumerate(labels)
             if lab.energy is not None]
    out = {}
    if f_err:
        out["validation_force_rmse"] = float(np.sqrt(np.mean(np.concatenate(f_err) ** 2)))
    if e_err:
        out["validation_energy_mae"] = float(np.mean(np.abs(e_err)))
    return out


def _row(index: int, step: Update, loop: LoopSettings, factor: float, n_calls: int,
         n_frames: int, clock: _Clock, validation) -> dict:
    m = step.monitor
    threshold = loop.threshold if loop.threshold is not None else factor * m.base
    return {"update": index, "oracle_calls": n_calls, "frames": n_frames,
            "wall_time_s": clock(), "threshold": float(threshold),
            "threshold_factor": float(factor), "threshold_rule": threshold_rule(loop, factor),
            "calibration": m.source, "energy_factor": m.energy_factor,
            "force_factor": m.force_factor, "calibration_sigma": m.base,
            "fit": step.how, "fit_time_s": step.fit_time_s,
            **_errors(step.fitted.model, validation)}


def _identity(initial: list, config, settings: Exploration, loop: LoopSettings, seed: int,
              min_distance: float) -> dict:
    identity = {"initial_frames": frames_digest(initial), "model": config._asdict(),
                "explore": settings._asdict(), "seed": int(seed), "min_distance": min_distance,
                "threshold": loop.threshold, "threshold_factor": loop.threshold_factor,
                "min_novelty": loop.min_novelty, "batch": loop.batch,
                "selection": loop.selection, "monitor": loop.monitor}
    return json.loads(json.dumps(identity))


def learn(frames: Sequence, oracle, model: str | Mapping = "gap",
          explore: Exploration | None = None, budget: int = 60, target: float | None = None,
          workdir: str | os.PathLike = "al_run", seed: int = 0, *,
          validation: Sequence | None = None, threshold: float | None = None,
          threshold_factor: float = 2.0, min_novelty: float = 1e-3, batch: int | None = None,
          workers: int = 1, selection: str = "maxmin",
          monitor: str = "distance") -> ActiveRun:
    """Active learning from labelled ``frames`` with ``oracle`` (any ASE calculator).

    Args:
        frames: initial labelled ``ase.Atoms`` (energies and forces; a few are enough).
        oracle: ASE calculator labelling energy, forces (and stress if it implements it).
        model: family name ("gap", "ensemble"/"bpnn", another registered family) or a
            mapping of settings with ``"model"`` (:mod:`jaxpot.active.models`).
        explore: :func:`jaxpot.active.md` settings (default ``active.md()``).
        budget: most oracle calls (failed calls count). target: eV/Å; stop once a round's
            largest calibrated rms force sigma is at most this (calibrated monitors only).
        workdir: folder of the run's files; an existing run there is resumed.
        seed: seeds fits, carves, starts and MD. validation: labelled frames whose errors
            each history row reports.  threshold: eV/Å, fixed (default: adapted,
            ``threshold_factor`` x the calibration frames' median sigma).
        min_novelty: feature distance of near-duplicates (:mod:`jaxpot.active.select`).
        batch: most calls per round. workers: oracle processes (picklable oracles; a
            script keeps its code under ``if __name__ == "__main__":``).
        selection: "maxmin" (greedy farthest point) or "dopt" (greedy D-optimal) among a
            round's stop structures (:mod:`jaxpot.active.select`).
        monitor: "distance" (a distance reference in the model's SOAP watches MD; any family)
            or "own" (a GAP's posterior, an ensemble's spread: :mod:`.own_watch`).

    Raises:
        ActiveRunError: ``workdir`` holds another run (other frames, settings or seed) or a
            damaged record. KeyboardInterrupt from the oracle stops the run (resumable).
    """
    from jaxpot.structure import check_frames
    initial = list(check_frames(frames, "active.learn frames"))
    if not initial:
        raise ValueError("active.learn needs at least one labelled frame")
    if validation is not None:
        validation = list(check_frames(validation, "active.learn validation"))
    config = model_config(model)
    settings = explore if explore is not None else exploration()
    if not isinstance(settings, Exploration):
        raise TypeError(f"active.learn: explore must come from active.md(...), got "
                        f"{type(settings).__name__}")
    loop = check_loop(budget, target, threshold, threshold_factor, min_novelty, batch, workers,
                      selection, monitor)
    if settings.pressure is not None and not all(all(a.pbc) for a in initial):
        raise ValueError("active.md(pressure=...) explores with NPT, which needs periodic cells "
                         "(pbc True along all three lattice vectors) in every initial frame")
    min_distance = settings.min_distance or default_min_distance(initial)
    workdir = os.fspath(workdir)
    os.makedirs(workdir, exist_ok=True)
    identity = _identity(initial, config, settings, loop, seed, min_distance)
    state = load_state(workdir)
    if state is None:
        state = {"format": FORMAT, "version": VERSION, "identity": identity, "history": [],
                 "unstable": [], "pending": None, "finished": None, "elapsed_s": 0.0}
    else:
        check_identity(state, identity, workdir)
        _log.info("active: resuming the run in %s (%d updates so far)", workdir,
                  len(state["history"]))
    clock = _Clock(state["elapsed_s"])

    def save() -> None:
        state["elapsed_s"] = clock()
        save_state(workdir, state)

    save()
    if not os.path.exists(os.path.join(workdir, "labelled.extxyz")):
        write_labelled(workdir, initial)
    scratch = os.path.join(workdir, "fits")
    step = None
    while True:
        if state["pending"] is not None:
            _label_pending(workdir, state, oracle, loop.workers, initial, save)
        records = _records(workdir, state)
        labelled = _labelled(initial, records)
        index = len(state["history"])
        step = update(config, labelled, seed, scratch, groups=_groups(initial, records),
                      previous=step, monitor=loop.monitor)
        if state["finished"] is not None:
            if not (state["finished"].startswith("budget") and len(records) < budget):
                return _result(config, step, labelled, records, state, workdir)
            state["history"].pop()  # a larger budget: explore from this update after all
            state["finished"], index = None, index - 1
        row = _row(index, step, loop, current_factor(state["history"], loop), len(records),
                   len(labelled), clock, validation)
        reason = explore_and_plan(step, row, state, settings, loop, labelled, records,
                                   budget, target, min_distance, seed, workdir)
        state["history"].append(row)
        if reason is not None:
            row["status"] = state["finished"] = reason
            save()
            _log.info("active: %s", reason)
            return _result(config, step, labelled, records, state, workdir)
        row["status"] = "labelling"
        state["pending"] = {"round": index, "first_call": row["first_call"],
                            "count": row["batch"]}
        save()


def _result(config, step: Update, labelled: list, records: list, state: dict,
            workdir: str) -> ActiveRun:
    from jaxpot.io.model_file import save
    model = final_model(config, step, labelled)
    save(model, os.path.join(workdir, "model.jaxpot"))
    return ActiveRun(model, labelled, [dict(r) for r in state["history"]], _failures(records),
                     [dict(u) for u in state["unstable"]], state["finished"], len(records),
                     workdir)
