"""Epoch book-keeping of the network trainer (:mod:`jaxpot.nn.train`): the epoch count that
fits a wall-time budget and the loss sigmas of each stage.

The header is the trainer's mutable record of a run (``epoch``, ``history``, ``best_epoch``,
``best_loss``, ``bad_epochs``, ``stage``), stored in its checkpoint; each epoch ends with
:func:`jaxpot.training.epochs.close_epoch` (shared with L-BFGS), and :func:`stage_weights`
gives its loss sigmas.
"""

from __future__ import annotations

import math
import statistics


def budget_epochs(history: list, elapsed_s: float, budget_s: float, cap: int | None = None,
                  margin: float = 0.95) -> int:
    """Epochs that fit a wall-time budget (s): those in ``history`` plus ``margin`` of the
    time left over the median epoch time (the first epoch, which compiles, left out)."""
    per_epoch = statistics.median(h["seconds"] for h in history[1:] or history)
    more = int(margin * (budget_s - elapsed_s) / per_epoch)
    n = len(history) + max(more, 0)
    return min(n, cap) if cap is not None else n


def stage_two_epoch(settings) -> int | None:
    """The first epoch a run of ``settings`` (resolved :class:`~jaxpot.nn.train.TrainSettings`)
    trains with ``stage_two_weights`` (None without a stage two, or one that would start
    after the last epoch): MACE's "stage two" (its ``--swa``), where the loss sigmas change,
    typically to weight the energy more, for the last ``1 - stage_two_start`` of the
    epochs."""
    if settings.stage_two_weights is None:
        return None
    if not 0.0 <= settings.stage_two_start <= 1.0:
        raise ValueError(f"stage_two_start must be within [0, 1], got "
                         f"{settings.stage_two_start}")
    first = math.ceil(settings.stage_two_start * settings.epochs)
    return first if first < settings.epochs else None  # stage_two_start = 1: no stage two


def stage_weights(settings, epoch: int, header: dict):
    """The loss sigmas of ``epoch``; entering stage two (once: a time budget's refit of the
    run length does not move a run back) restarts the best-epoch and patience records."""
    if header.get("stage", 1) == 1:
        first = stage_two_epoch(settings)
        if first is None or epoch < first:
            return settings.weights
        header.update(stage=2, best_loss=None, bad_epochs=0)
    return settings.stage_two_weights


def stage_two_pending(settings, header: dict) -> bool:
    """Whether the run still has its stage two ahead: early stopping waits for it (a plateau
    of stage one's loss is not the end of a run whose last stage weights another quantity)."""
    return stage_two_epoch(settings) is not None and header.get("stage", 1) == 1
