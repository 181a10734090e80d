"""Atomic-environment descriptors: per-atom features (N, F) usable inside jit."""

from jaxpot.descriptors.acsf import (
                                     ACSF,
                                     acsf,
                                     behler_angular_params,
                                     behler_radial_params,
                                     shifted_radial_params,
)
from jaxpot.descriptors.ani import ANI, ani1x_parameters, ani_aev, ani_features
from jaxpot.descriptors.bispectrum import Bispectrum, bispectrum
from jaxpot.descriptors.moment_tensors import MomentTensors
from jaxpot.descriptors.mtp_basis import mtp_basis
from jaxpot.descriptors.soap import SOAP, gto_basis, soap, soap_power_spectrum
from jaxpot.descriptors.soap_gradients import soap_pair_gradients

__all__ = ["ACSF", "ANI", "Bispectrum", "MomentTensors", "SOAP", "acsf", "ani1x_parameters",
           "ani_aev", "ani_features", "behler_angular_params", "behler_radial_params",
           "bispectrum", "gto_basis", "mtp_basis", "shifted_radial_params", "soap",
           "soap_pair_gradients", "soap_power_spectrum"]
