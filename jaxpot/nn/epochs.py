"""Epoch book-keeping shared by the trainers (Adam in :mod:`jaxpot.nn.train`, L-BFGS in
:mod:`jaxpot.nn.lbfgs`): the run's result, the best epoch and patience counter, and the
epoch count that fits a wall-time budget.

The header is the trainer's mutable record of a run (``epoch``, ``history``, ``best_epoch``,
``best_loss``, ``bad_epochs``), stored in its checkpoint; each epoch ends with
:func:`close_epoch`.
"""

from __future__ import annotations

import statistics
import time
from typing import NamedTuple

from jaxpot.model import EnergyModel


class TrainResult(NamedTuple):
    """A finished run: the best model, the per-epoch metrics, the best epoch, why it stopped
    (``"epochs"``, ``"early stopping"``, ``"time budget"``, ...) and the frames it used."""

    model: EnergyModel
    history: list
    best_epoch: int
    stop_reason: str
    validation_frames: list
    train_frames: list


def close_epoch(header: dict, record: dict, score: float, epoch: int, start: float,
                log=None) -> bool:
    """End an epoch (or iteration) of ``start`` (perf_counter s): best score, patience
    counter, timing, history, ``log(record)``; True when this one is the best so far."""
    improved = header["best_loss"] is None or score < header["best_loss"]
    if improved:
        header.update(best_loss=score, best_epoch=epoch, bad_epochs=0)
    else:
        header["bad_epochs"] += 1
    record["seconds"] = time.perf_counter() - start
    header["history"].append(record)
    header["epoch"] = epoch + 1
    if log is not None:
        log(record)
    return improved


def budget_epochs(history: list, elapsed_s: float, budget_s: float, cap: int | None = None,
                  margin: float = 0.95) -> int:
    """Epochs that fit a wall-time budget (s): those in ``history`` plus ``margin`` of the
    time left over the median epoch time (the first epoch, which compiles, left out)."""
    per_epoch = statistics.median(h["seconds"] for h in history[1:] or history)
    more = int(margin * (budget_s - elapsed_s) / per_epoch)
    n = len(history) + max(more, 0)
    return min(n, cap) if cap is not None else n
