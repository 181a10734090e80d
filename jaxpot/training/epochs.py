"""Epoch book-keeping shared by the trainers (Adam in :mod:`jaxpot.nn.train`, L-BFGS in
:mod:`jaxpot.training.lbfgs`): the run's result and the end of an epoch (best score, patience
counter, timing, history).

The header is the trainer's mutable record of a run (``epoch``, ``history``, ``best_epoch``,
``best_loss``, ``bad_epochs``), stored in its checkpoint; each epoch (or iteration) ends with
:func:`close_epoch`.  Times are wall seconds.
"""

from __future__ import annotations

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
