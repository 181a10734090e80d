"""Atomic-environment descriptors: per-atom features (N, F) usable inside jit."""

from jaxpot.descriptors.acsf import (ACSF, acsf, behler_angular_params, behler_radial_params,
                                     shifted_radial_params)

__all__ = ["ACSF", "acsf", "behler_angular_params", "behler_radial_params",
           "shifted_radial_params"]
