"""One exploration round: MD replicas from labelled structures that stop where the model is
unsure, with unstable replicas restarted and never sent to the oracle.

Replica k of round r starts from a labelled structure drawn with the seed (momenta drawn at
its temperature, ``temperatures[(k + r * replicas) % n]``), runs NVT Langevin (NPT MTK when a
pressure is given) with ``stop_when_uncertain`` set so that it stops at the first log row whose
calibrated rms force sigma exceeds the threshold (:func:`jaxpot.active.monitor.stop_sigma`),
and returns that row's structure.  A replica whose MD raises :class:`jaxpot.md.MDError`
(temperature blow-up, NaN, exploding energy) or whose stop structure has two atoms closer than
``min_distance`` is restarted from its start structure with a new seed, up to
``max_restarts`` times, and recorded.  Everything is a function of the labelled frames, the
threshold and the seed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NamedTuple

import ase
import numpy as np

from jaxpot.active.monitor import Monitor, force_sigma, stop_sigma
from jaxpot.active.settings import Exploration

_log = logging.getLogger(__name__)


class Replica(NamedTuple):
    """One replica's outcome: index, temperature (K), start frame index, MD steps run (all
    attempts), attempts that stopped on uncertainty (unsafe ones included), whether an
    attempt ran all its steps, the stop structure (None if it ran through or every attempt
    failed), its calibrated rms force sigma (eV/Å) and the sigma of every log row (eV/Å)."""

    index: int
    temperature: float
    start: int
    steps: int
    stops: int
    completed: bool
    candidate: ase.Atoms | None
    sigma: float | None
    row_sigmas: np.ndarray


class Round(NamedTuple):
    """A round's replicas, its unstable attempts (dicts: replica, attempt, temperature,
    reason), MD steps run, MD runs that stopped on uncertainty (unsafe ones included),
    whether every replica ran all its steps, and the max/mean calibrated rms force sigma over
    all log rows (eV/Å)."""

    replicas: tuple[Replica, ...]
    unstable: tuple[dict, ...]
    md_steps: int
    stops: int
    completed: bool
    max_sigma: float
    mean_sigma: float


def bare(atoms: ase.Atoms) -> ase.Atoms:
    """A copy with positions, species, cell and pbc only (no momenta, labels or info)."""
    return ase.Atoms(numbers=atoms.numbers.copy(), positions=atoms.positions.copy(),
                     cell=atoms.cell.array.copy(), pbc=atoms.pbc.copy())


def shortest_distance(atoms: ase.Atoms, within: float) -> float:
    """The shortest interatomic distance (Å, minimum image) if below ``within``, else inf."""
    from ase.neighborlist import neighbor_list
    d = neighbor_list("d", atoms, float(within))
    return float(d.min()) if len(d) else float("inf")


def default_min_distance(frames: Sequence[ase.Atoms], fraction: float = 0.6) -> float:
    """``fraction`` x the shortest interatomic distance in ``frames`` (Å)."""
    shortest = min(shortest_distance(a, 6.0) for a in frames)
    if not np.isfinite(shortest):
        raise ValueError("active.learn: no two atoms within 6 Å in the initial frames; give "
                         "active.md(min_distance=...)")
    return fraction * shortest


def replica_seed(seed: int, round_index: int, replica: int, attempt: int) -> int:
    """The MD seed of one attempt (a function of its indices only)."""
    rng = np.random.default_rng([int(seed), int(round_index), int(replica), int(attempt), 11])
    return int(rng.integers(2 ** 31 - 1))


def plan(n_frames: int, settings: Exploration, round_index: int, seed: int
         ) -> list[tuple[int, float]]:
    """(start frame index, temperature K) of every replica of a round."""
    rng = np.random.default_rng([int(seed), int(round_index), 5])
    starts = rng.integers(n_frames, size=settings.replicas)
    temps = settings.temperatures
    return [(int(starts[k]), temps[(k + round_index * settings.replicas) % len(temps)])
            for k in range(settings.replicas)]


def _integrator(model, settings: Exploration, temperature: float):
    from jaxpot import md as jmd
    if settings.pressure is None:
        return jmd.langevin(model, settings.timestep, temperature, settings.friction)
    return jmd.npt(model, settings.timestep, temperature, settings.pressure,
                   cell=settings.cell)


def run_replica(monitor: Monitor, start: ase.Atoms, start_index: int, temperature: float,
                settings: Exploration, threshold: float, min_distance: float,
                round_index: int, index: int, seed: int) -> tuple[Replica, list[dict]]:
    """One replica with its restarts (module docstring): (outcome, unstable attempts)."""
    from jaxpot import md as jmd
    n = len(start)
    stop = stop_sigma(monitor, threshold, n)
    unstable: list[dict] = []
    steps, stops, rows = 0, 0, []
    for attempt in range(settings.max_restarts + 1):
        record = {"replica": index, "attempt": attempt, "temperature": temperature,
                  "start": start_index}
        try:
            result = jmd.run(_integrator(monitor.model, settings, temperature), bare(start),
                             settings.steps, temperature=temperature,
                             seed=replica_seed(seed, round_index, index, attempt),
                             log_interval=settings.log_interval, progress=False,
                             stop_when_uncertain=stop)
        except jmd.MDError as err:
            steps += int(err.step or 0)
            unstable.append({**record, "reason": f"MDError: {err}"[:300]})
            _log.info("active: replica %d attempt %d failed (%s); restarting", index, attempt,
                      err)
            continue
        steps += int(result.state.step)
        sig = force_sigma(monitor, result.extra_log["uncertainty"], n)
        rows.append(sig)
        if result.stopped is None:
            return Replica(index, temperature, start_index, steps, stops, True, None, None,
                           np.concatenate(rows)), unstable
        stops += 1
        close = shortest_distance(result.atoms, min_distance)
        if close < min_distance:
            unstable.append({**record, "reason": f"atoms {close:.3f} Å apart at the stop, "
                             f"closer than min_distance {min_distance:.3f} Å"})
            continue
        return Replica(index, temperature, start_index, steps, stops, False,
                       bare(result.atoms), float(sig[-1]), np.concatenate(rows)), unstable
    return Replica(index, temperature, start_index, steps, stops, False, None, None,
                   np.concatenate(rows) if rows else np.zeros(0)), unstable


class _QuietStops(logging.Filter):
    """Drops md.run's warning for a stop on uncertainty (in a round it is the point)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("md.run %s")


def explore(monitor: Monitor, frames: Sequence[ase.Atoms], settings: Exploration,
            threshold: float, min_distance: float, round_index: int, seed: int) -> Round:
    """Run a round's replicas from ``frames`` (labelled structures) at ``threshold`` (eV/Å,
    calibrated rms force sigma)."""
    replicas, unstable = [], []
    quiet, md_log = _QuietStops(), logging.getLogger("jaxpot.md.run")
    md_log.addFilter(quiet)
    try:
        for k, (start, temperature) in enumerate(plan(len(frames), settings, round_index,
                                                      seed)):
            rep, bad = run_replica(monitor, frames[start], start, temperature, settings,
                                   threshold, min_distance, round_index, k, seed)
            replicas.append(rep)
            unstable.extend(bad)
    finally:
        md_log.removeFilter(quiet)
    sig = np.concatenate([r.row_sigmas for r in replicas]) if replicas else np.zeros(0)
    return Round(tuple(replicas), tuple(unstable), int(sum(r.steps for r in replicas)),
                 int(sum(r.stops for r in replicas)), all(r.completed for r in replicas),
                 float(sig.max()) if sig.size else float("nan"),
                 float(sig.mean()) if sig.size else float("nan"))
