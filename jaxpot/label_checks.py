"""Checks of labels for meaning: moved to :mod:`jaxpot.training.labels` (``check_frames`` to
:mod:`jaxpot.structure`); this module keeps the old import path working."""

from jaxpot.structure import check_frames
from jaxpot.training.labels import (
    STRESS_LIMIT_GPA,
    LabelError,
    TrainingDataError,
    check_names_present,
    check_stress_plausible,
)

__all__ = ["STRESS_LIMIT_GPA", "LabelError", "TrainingDataError", "check_frames",
           "check_names_present", "check_stress_plausible"]
