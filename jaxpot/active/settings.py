"""Settings of an active-learning run: the exploration (``active.md(...)``) and the loop's
knobs, immutable and checked on construction (ValueError naming the field).

Units: K, fs, GPa, 1/fs, Å, eV/Å.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple


class Exploration(NamedTuple):
    """How each round explores: MD replicas from labelled structures.

    temperatures: K; replica k of round r runs at ``temperatures[(k + r * replicas) % n]``.
    steps: MD steps per replica (it stops earlier where the model is unsure).
    timestep: fs. pressure: GPa; None: NVT Langevin (``friction``, 1/fs), else NPT (MTK
    barostat, ``cell`` "isotropic" or "flexible"). replicas: MD runs per round.
    log_interval: steps between uncertainty checks (the stop is this prompt).
    max_restarts: restarts of a replica whose MD fails (md.MDError) or whose stop
    configuration has atoms closer than ``min_distance`` (Å; None: 0.6 x the shortest
    interatomic distance in the initial frames).
    continue_runs: replica k of a round continues replica k's trajectory of the round before
    (from its stop structure, now labelled, or its final state, momenta kept), as on-the-fly
    learning continues its one MD run (FLARE, VASP); False: every round starts afresh from
    labelled structures drawn with the seed.
    min_steps: MD steps of each attempt before its uncertainty may stop it (FLARE's
    ``min_steps_with_model``): the stop structures are then at least this far from the
    start; faults still halt a replica at once.  Default 0, as FLARE's: 50 (100 fs) helped
    on fcc Cu (``benchmarks/active_learning.py``, validation set) but, with a poor first
    model, drove a water molecule away from its thermal distribution (the notebook).
    """

    temperatures: tuple[float, ...] = (300.0, 900.0, 1500.0)
    steps: int = 2000
    timestep: float = 2.0
    pressure: float | None = None
    replicas: int = 4
    friction: float = 0.01
    log_interval: int = 10
    max_restarts: int = 2
    min_distance: float | None = None
    cell: str = "isotropic"
    continue_runs: bool = True
    min_steps: int = 0


def exploration(temperatures: Sequence[float] | float = (300.0, 900.0, 1500.0),
                steps: int = 2000, timestep: float = 2.0, pressure: float | None = None,
                replicas: int = 4, *, friction: float = 0.01, log_interval: int = 10,
                max_restarts: int = 2, min_distance: float | None = None,
                cell: str = "isotropic", continue_runs: bool = True,
                min_steps: int = 0) -> Exploration:
    """Checked :class:`Exploration` settings (exported as ``jaxpot.active.md``)."""
    temps = (temperatures,) if isinstance(temperatures, (int, float)) else tuple(temperatures)
    if not temps or not all(_positive(t) for t in temps):
        raise ValueError(f"active.md: temperatures must be positive numbers (K), got "
                         f"{temperatures!r}")
    for name, value, low in (("steps", steps, 1), ("replicas", replicas, 1),
                             ("log_interval", log_interval, 1),
                             ("max_restarts", max_restarts, 0), ("min_steps", min_steps, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"active.md: {name} must be an integer >= {low}, got {value!r}")
    for name, value in (("timestep", timestep), ("friction", friction)):
        if not _positive(value):
            raise ValueError(f"active.md: {name} must be a positive number, got {value!r}")
    if pressure is not None and not (isinstance(pressure, (int, float)) and
                                     math.isfinite(pressure)):
        raise ValueError(f"active.md: pressure must be a number (GPa) or None, got {pressure!r}")
    if min_distance is not None and not _positive(min_distance):
        raise ValueError(f"active.md: min_distance must be a positive number (Å) or None, "
                         f"got {min_distance!r}")
    if cell not in ("isotropic", "flexible"):
        raise ValueError(f"active.md: cell must be 'isotropic' or 'flexible', got {cell!r}")
    if not isinstance(continue_runs, bool):
        raise ValueError(f"active.md: continue_runs must be True or False, got "
                         f"{continue_runs!r}")
    return Exploration(tuple(float(t) for t in temps), int(steps), float(timestep),
                       None if pressure is None else float(pressure), int(replicas),
                       float(friction), int(log_interval), int(max_restarts),
                       None if min_distance is None else float(min_distance), cell,
                       continue_runs, int(min_steps))


class LoopSettings(NamedTuple):
    """The loop's own knobs (see :func:`jaxpot.active.learn`).

    threshold: eV/Å, a fixed stop threshold on the calibrated rms force sigma; None: adapted
    (``threshold_factor`` x the median of the calibration frames').  min_novelty: feature
    distance below which a stop configuration duplicates a labelled (or already chosen)
    one.  batch: most oracle calls per round (None: every non-duplicate stop
    configuration).  workers: oracle processes (1: serial).  selection: "maxmin" (greedy
    farthest point) or "dopt" (greedy D-optimal) in the model's feature space
    (:mod:`jaxpot.active.select`).  monitor: what watches MD, "distance" (a distance
    reference in the model's SOAP, any family) or "own" (a GAP's posterior or an ensemble's
    spread, :mod:`jaxpot.active.own_watch`).
    """

    threshold: float | None = None
    threshold_factor: float = 2.0
    min_novelty: float = 1e-3
    batch: int | None = None
    workers: int = 1
    selection: str = "maxmin"
    monitor: str = "distance"


def check_loop(budget, target, threshold, threshold_factor, min_novelty, batch,
               workers, selection="maxmin", monitor="distance") -> LoopSettings:
    """Checked loop settings; ValueError naming the argument."""
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
        raise ValueError(f"active.learn: budget must be an integer >= 0 (oracle calls), got "
                         f"{budget!r}")
    for name, value in (("target", target), ("threshold", threshold)):
        if value is not None and not _positive(value):
            raise ValueError(f"active.learn: {name} must be a positive number (eV/Å) or None, "
                             f"got {value!r}")
    if not _positive(threshold_factor):
        raise ValueError(f"active.learn: threshold_factor must be positive, got "
                         f"{threshold_factor!r}")
    if not (isinstance(min_novelty, (int, float)) and min_novelty >= 0):
        raise ValueError(f"active.learn: min_novelty must be >= 0, got {min_novelty!r}")
    for name, value in (("batch", batch), ("workers", workers)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise ValueError(f"active.learn: {name} must be an integer >= 1, got {value!r}")
    from jaxpot.active.select import METHODS
    if selection not in METHODS:
        raise ValueError(f"active.learn: selection must be one of {', '.join(METHODS)}, got "
                         f"{selection!r}")
    if monitor not in ("distance", "own"):
        raise ValueError(f"active.learn: monitor must be 'distance' or 'own', got {monitor!r}")
    return LoopSettings(None if threshold is None else float(threshold), float(threshold_factor),
                        float(min_novelty), batch, workers or 1, selection, monitor)


def _positive(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)
