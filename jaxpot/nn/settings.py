"""Hyperparameters of network training (:func:`jaxpot.nn.train.train_model`), checked on
construction: every value is a real number, integer or boolean in its range, so a TOML string
``"false"``, a negative learning rate, ``grad_clip = 0`` (no update ever) or zero epochs is
refused naming the field instead of returning an untrained model.  (Full-batch L-BFGS has its
settings in :mod:`jaxpot.training.lbfgs`.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from jaxpot.training.config import SPLIT_RULES
from jaxpot.training.values import (
    CheckedSettings,
    factor_table,
    integer_rule,
    number_rule,
    optional,
    sigmas,
)
from jaxpot.training.weights import LossWeights


def _config_type_weights(value, name: str):
    """None, a table {config_type: factor >= 0} or "balanced" (keys are checked against the
    frames when training starts)."""
    if value is None or value == "balanced":
        return value
    if not isinstance(value, str):
        return factor_table(value, name)
    raise ValueError(f"{name} = {value!r}: expected a table {{config_type = factor}} or "
                     "\"balanced\"")


#: the check of each TrainSettings field (value, name) -> value, or ValueError naming it
TRAIN_RULES = {
    "epochs": optional(integer_rule(1)),
    "batch_size": optional(integer_rule(1)),
    "learning_rate": number_rule(low=0.0, hint="a negative rate climbs the loss: gradient "
                                               "ascent; 0 keeps the initial weights"),
    "final_learning_rate": number_rule(low=0.0),
    "warmup_epochs": integer_rule(0),
    "weights": optional(sigmas),
    "stage_two_weights": optional(sigmas),
    "stage_two_start": number_rule(low=0.0, high=1.0),
    **SPLIT_RULES,
    "config_type_weights": _config_type_weights,
    "patience": optional(integer_rule(1)),
    "ema_decay": number_rule(low=0.0, high=1.0),
    "ensemble_size": integer_rule(1),
    "grad_clip": number_rule(low=0.0, low_open=True, allow_inf=True,
                             hint="the largest gradient norm of a step: 0 allows no update; "
                                  "inf: no clipping"),
    "weight_decay": number_rule(low=0.0),
    "checkpoint_every": integer_rule(1),
    "time_budget_s": optional(number_rule(low=0.0)),  # 0: the probe epochs only
}


class _TrainFields(NamedTuple):
    epochs: int | None = None  # None: the kind's default_epochs (jaxpot.nn.kinds)
    batch_size: int | None = None  # structures per step; None: the kind's default
    learning_rate: float = 3e-3
    final_learning_rate: float = 3e-5
    warmup_epochs: int = 5  # at most a sixth of the run's epochs
    weights: LossWeights | None = None  # None: the kind's default_weights (jaxpot.nn.kinds)
    stage_two_weights: LossWeights | None = None  # from stage_two_start on; None: the kind's
    stage_two_start: float = 0.75  # fraction of the run's epochs before stage two (1: none)
    validation_fraction: float = 0.1  # in [0, 1)
    stratify_validation: bool = True  # carve per config_type (False: plain random carve)
    # {config_type: factor} on its residuals, or "balanced" (training loss only; the
    # validation loss stays unweighted): jaxpot.training.weights.config_type_loss_weights
    config_type_weights: Mapping[str, float] | str | None = None
    patience: int | None = None  # epochs without validation gain; None: max(50, epochs // 3)
    ema_decay: float = 0.99
    ensemble_size: int = 1
    seed: int = 0
    grad_clip: float = 100.0  # largest global gradient norm of a step (> 0; inf: none)
    weight_decay: float = 0.0  # decoupled (AdamW) decay of the weight matrices, per unit rate
    checkpoint_every: int = 1
    time_budget_s: float | None = None  # wall seconds of training; see train_model


class TrainSettings(CheckedSettings, _TrainFields):
    """Hyperparameters of :func:`~jaxpot.nn.train.train_model` (learning rates per step;
    sigmas in ``weights``), checked by :data:`TRAIN_RULES` on construction and
    ``_replace`` (ValueError naming the field)."""

    __slots__ = ()
    RULES = TRAIN_RULES
