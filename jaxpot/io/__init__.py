"""Model files (save/load) and readers."""

from jaxpot.io.model_file import ModelFileError, load, model_from_spec, save

__all__ = ["ModelFileError", "load", "model_from_spec", "save"]
