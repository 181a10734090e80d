"""One exploration round: MD replicas from labelled structures that stop where the model is
unsure, with unstable replicas restarted and never sent to the oracle.

Replica k of round r starts from a labelled structure drawn with the seed (momenta drawn at
its temperature, ``temperatures[(k + r * replicas) % n]``) and runs NVT Langevin (NPT MTK when
a pressure is given).  All replicas of one size run in one vmapped, jitted MD
(:func:`jaxpot.md.run_batch` with ``stop_when_uncertain``, :mod:`jaxpot.md.watched`): each
halts inside the compiled chunk at its first log row whose calibrated rms force sigma exceeds
the threshold (:func:`jaxpot.active.monitor.stop_sigma`) and returns that row's structure,
while the others run on.  A replica that goes bad (temperature blow-up, NaN, exploding
energy: it halts alone, flagged) or whose stop structure has two atoms closer than
``min_distance`` is restarted from its start structure with a new seed, up to
``max_restarts`` times (the restarts of an attempt again in one batch), and recorded.
Everything is a function of the labelled frames, the threshold and the seed.
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
    """One replica's outcome: index, temperature (K), start frame index (-1: it continued
    the previous round's trajectory), MD steps run (all attempts), attempts that stopped on
    uncertainty (unsafe ones included), whether an attempt ran all its steps, the stop
    structure (None if it ran through or every attempt failed), its calibrated rms force
    sigma (eV/Å), the sigma of every log row (eV/Å), and where the next round continues it
    (positions, momenta, cell of its stop or final state; None when every attempt
    failed)."""

    index: int
    temperature: float
    start: int
    steps: int
    stops: int
    completed: bool
    candidate: ase.Atoms | None
    sigma: float | None
    row_sigmas: np.ndarray
    end: ase.Atoms | None = None


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


def moving(atoms: ase.Atoms) -> ase.Atoms:
    """A bare copy that keeps the momenta (a trajectory to continue)."""
    out = bare(atoms)
    out.set_momenta(np.asarray(atoms.get_momenta(), float).copy())
    return out


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


class _Progress:
    """One replica's tally over its attempts."""

    def __init__(self):
        self.steps, self.stops, self.rows = 0, 0, []


def _attempt(monitor: Monitor, starts: Sequence[ase.Atoms], jobs: list[tuple[int, int, float]],
             settings: Exploration, threshold: float, round_index: int, attempt: int,
             seed: int):
    """Run attempt ``attempt`` of the replicas ``jobs`` ((replica, start, temperature)) of
    one size in one vmapped, watched MD (:func:`jaxpot.md.run_batch`) from ``starts[k]``."""
    from jaxpot import md as jmd
    n = len(starts[jobs[0][0]])
    return jmd.run_batch([_integrator(monitor.model, settings, t) for _, _, t in jobs],
                         [starts[k] for k, _, _ in jobs], settings.steps,
                         temperatures=[t for _, _, t in jobs],
                         seeds=[replica_seed(seed, round_index, k, attempt) for k, _, _ in jobs],
                         log_interval=settings.log_interval,
                         stop_when_uncertain=stop_sigma(monitor, threshold, n),
                         stop_when_uncertain_from=settings.min_steps)


def _by_size(starts: Sequence[ase.Atoms], jobs: list[tuple[int, int, float]]) -> list[list]:
    """``jobs`` grouped by the start structure's atom count and pbc (one batch each)."""
    groups: dict = {}
    for job in jobs:
        atoms = starts[job[0]]
        groups.setdefault((len(atoms), tuple(bool(p) for p in atoms.pbc)), []).append(job)
    return list(groups.values())


def explore(monitor: Monitor, frames: Sequence[ase.Atoms], settings: Exploration,
            threshold: float, min_distance: float, round_index: int, seed: int,
            continued: Sequence[ase.Atoms | None] | None = None) -> Round:
    """Run a round's replicas at ``threshold`` (eV/Å, calibrated rms force sigma): every
    attempt's replicas of one size in one vmapped MD.  Replica k continues ``continued[k]``
    (the previous round's :attr:`Replica.end`, momenta kept) where given, else starts from
    a labelled structure of ``frames`` drawn with the seed, momenta drawn at its
    temperature."""
    planned = plan(len(frames), settings, round_index, seed)
    continued = list(continued or []) + [None] * (len(planned) - len(continued or []))
    planned = [(-1 if continued[k] is not None else start, temperature)
               for k, (start, temperature) in enumerate(planned)]
    starts = [moving(continued[k]) if continued[k] is not None else bare(frames[start])
              for k, (start, _) in enumerate(planned)]
    tally = [_Progress() for _ in planned]
    outcome: dict[int, tuple] = {}
    unstable: list[dict] = []
    jobs = [(k, start, temperature) for k, (start, temperature) in enumerate(planned)]
    for attempt in range(settings.max_restarts + 1):
        retry = []
        for group in _by_size(starts, jobs):
            result = _attempt(monitor, starts, group, settings, threshold, round_index,
                              attempt, seed)
            for r, (k, start, temperature) in enumerate(group):
                t = tally[k]
                t.steps += int(result.logs[r].step[-1])
                sig = force_sigma(monitor, result.uncertainty[r], len(starts[k]))
                t.rows.append(sig)
                record = {"replica": k, "attempt": attempt, "temperature": temperature,
                          "start": start}
                if result.unstable[r]:
                    unstable.append({**record, "reason": result.stopped[r][:300]})
                    _log.info("active: replica %d attempt %d: %s; restarting", k, attempt,
                              result.stopped[r])
                    retry.append((k, start, temperature))
                    continue
                if result.stopped[r] is None:
                    outcome[k] = (True, None, None, moving(result.atoms[r]))
                    continue
                t.stops += 1
                close = shortest_distance(result.atoms[r], min_distance)
                if close < min_distance:
                    unstable.append({**record, "reason": f"atoms {close:.3f} Å apart at the "
                                     f"stop, closer than min_distance {min_distance:.3f} Å"})
                    retry.append((k, start, temperature))
                    continue
                outcome[k] = (False, bare(result.atoms[r]), float(sig[-1]),
                              moving(result.atoms[r]))
        jobs = retry
        if not jobs:
            break
    replicas = []
    for k, (start, temperature) in enumerate(planned):
        t = tally[k]
        completed, candidate, sigma, end = outcome.get(k, (False, None, None, None))
        replicas.append(Replica(k, temperature, start, t.steps, t.stops, completed, candidate,
                                sigma, np.concatenate(t.rows) if t.rows else np.zeros(0), end))
    unstable.sort(key=lambda u: (u["replica"], u["attempt"]))
    sig = np.concatenate([r.row_sigmas for r in replicas]) if replicas else np.zeros(0)
    return Round(tuple(replicas), tuple(unstable), int(sum(r.steps for r in replicas)),
                 int(sum(r.stops for r in replicas)), all(r.completed for r in replicas),
                 float(sig.max()) if sig.size else float("nan"),
                 float(sig.mean()) if sig.size else float("nan"))
