"""One round of the loop after an update: explore, lower the threshold while a round finds
nothing, select, and write the batch to label.

Threshold rule (unless ``threshold=`` fixes it): tau = f x the median calibrated rms force
sigma of the calibration frames (:mod:`jaxpot.active.monitor`), with f starting at
``threshold_factor`` (default 2).  A round in which no replica's sigma exceeds tau while
budget is left does not end the run: f is lowered by :data:`LOWER` (to at least
:data:`FLOOR`) and the replicas explore on from where they ended, as VASP lowers its Bayesian
error threshold from its recent history; the lowered f carries over to later updates and is
in every history row (``threshold_factor``).  Only a round that finds nothing at f = FLOOR
(no explored structure more uncertain than a typical labelled one) ends the run as
converged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from jaxpot.active.explore import explore as explore_round
from jaxpot.active.monitor import Update
from jaxpot.active.select import select
from jaxpot.active.settings import Exploration, LoopSettings
from jaxpot.active.store import read_ends, write_batch, write_ends
from jaxpot.model import EnergyModel

_log = logging.getLogger(__name__)

#: factor applied to f after a round with nothing to label
LOWER = 0.75
#: the lowest f: the calibration frames' median sigma itself
FLOOR = 1.0


def current_factor(history: Sequence[dict], loop: LoopSettings) -> float:
    """f for the next update: the last row's (lowered ones carry over), else the setting."""
    for row in reversed(history):
        if "threshold_factor" in row:
            return float(row["threshold_factor"])
    return loop.threshold_factor


def threshold_rule(loop: LoopSettings, factor: float) -> str:
    """The history's words for how the threshold was set."""
    if loop.threshold is not None:
        return "fixed"
    return (f"{factor:g} x median calibrated rms force sigma of the calibration frames "
            f"(from {loop.threshold_factor:g}, x{LOWER:g} after a round with nothing to "
            f"label, down to {FLOOR:g})")


def _predicted_forces(model: EnergyModel, frames: Sequence) -> list[np.ndarray]:
    """The forces (eV/Å) ``model`` predicts on ``frames``."""
    from jaxpot.prediction import predict
    return [np.asarray(f, float) for f in predict(model, list(frames), progress=False).forces]


def explore_and_plan(step: Update, row: dict, state: dict, settings: Exploration,
                     loop: LoopSettings, labelled: list, records: list, budget: int,
                     target: float | None, min_distance: float, seed: int,
                     workdir: str) -> str | None:
    """Explore from this update (lowering the threshold while nothing stops, module
    docstring) and choose the batch to label (written to disk, ``row`` filled in); the
    reason the run ends here, or None."""
    n_calls = len(records)
    if n_calls >= budget:
        return f"budget spent: {n_calls} oracle calls of {budget}"
    index = row["update"]
    continued = read_ends(workdir, index - 1) if settings.continue_runs and index else None
    steps, passes, highest = 0, 0, -np.inf
    while True:
        rnd = explore_round(step.monitor, labelled, settings, row["threshold"], min_distance,
                            index, seed, continued)
        passes += 1
        steps += rnd.md_steps
        highest = max(highest, rnd.max_sigma)
        state["unstable"].extend({"round": index, "pass": passes - 1, **u}
                                 for u in rnd.unstable)
        met = target is not None and step.monitor.calibrated and rnd.max_sigma <= target
        factor = row["threshold_factor"]
        if met or rnd.stops or not rnd.completed or loop.threshold is not None \
                or factor <= FLOOR:
            break
        factor = max(FLOOR, factor * LOWER)
        _log.info("active: round %d found nothing above %.4g eV/Å in %d MD steps; threshold "
                  "factor lowered to %g", index, row["threshold"], rnd.md_steps, factor)
        row.update({"threshold_factor": factor,
                    "threshold": factor * step.monitor.base,
                    "threshold_rule": threshold_rule(loop, factor)})
        if settings.continue_runs:
            continued = [r.end for r in rnd.replicas]
    write_ends(workdir, index, [r.end for r in rnd.replicas])
    row.update({"md_steps": steps, "passes": passes, "stops": rnd.stops,
                "unstable": sum(u["round"] == index for u in state["unstable"]),
                "continued": sum(r.start == -1 for r in rnd.replicas),
                "max_sigma": float(highest), "mean_sigma": rnd.mean_sigma,
                "stop_fraction": rnd.stops / max(steps, 1)})
    _log.info("active: update %d (%d frames, %d calls): threshold %.4g eV/Å, %d replicas "
              "stopped %d times in %d MD steps, sigma max %.4g mean %.4g eV/Å", index,
              len(labelled), n_calls, row["threshold"], len(rnd.replicas), rnd.stops,
              steps, highest, rnd.mean_sigma)
    if met:
        return (f"target met: the largest calibrated force sigma of round {index}, "
                f"{rnd.max_sigma:.4g} eV/Å, is at most {target:g} eV/Å")
    if rnd.stops == 0 and rnd.completed:
        floor = "" if loop.threshold is not None else (
            f" ({row['threshold_factor']:g} x the calibration frames' median sigma: no "
            "explored structure is more uncertain than a typical labelled one)")
        return (f"converged: no replica's force sigma exceeded the threshold "
                f"{row['threshold']:.4g} eV/Å{floor} in {steps} MD steps of round {index}")
    stopped = [r for r in rnd.replicas if r.candidate is not None]
    candidates = [r.candidate for r in stopped]
    limit = budget - n_calls if loop.batch is None else min(loop.batch, budget - n_calls)
    chosen = select(step.monitor.model, step.monitor.descriptor, candidates, labelled, limit,
                    loop.min_novelty, method=loop.selection)
    row.update({"candidates": len(candidates), "duplicates": len(chosen.duplicates),
                "novelty": list(chosen.novelty)})
    if not chosen.chosen:
        return (f"no new structures: round {index} stopped {rnd.stops} MD runs on "
                f"uncertainty but none gave a structure to label ({row['unstable']} unsafe "
                f"or failed attempts, {len(chosen.duplicates)} near-duplicates of labelled "
                "ones)")
    batch = [candidates[i] for i in chosen.chosen]
    write_batch(workdir, index, batch, _predicted_forces(step.fitted.model, batch))
    row.update({"first_call": n_calls, "batch": len(batch),
                "selected_sigma": [float(stopped[i].sigma) for i in chosen.chosen]})
    return None
