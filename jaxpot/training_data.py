"""Training labels and the validation carve: moved to :mod:`jaxpot.training` (``labels``,
``splits``, ``weights``); this module keeps the old import path working."""

from jaxpot.training.labels import TrainingDataError, read_labels_checked
from jaxpot.training.splits import labelled_splits, split_indices, validation_carve
from jaxpot.training.weights import check_config_type_weights, config_type_loss_weights

__all__ = ["TrainingDataError", "check_config_type_weights", "config_type_loss_weights",
           "labelled_splits", "read_labels_checked", "split_indices", "validation_carve"]
