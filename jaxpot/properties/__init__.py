"""Material properties as functions of one energy model (autodiff; no finite differences)."""

from jaxpot.properties.elastic import elastic_constants, elastic_tensors, moduli
from jaxpot.properties.eos import bulk_modulus, equation_of_state, fit_birch_murnaghan
from jaxpot.properties.gruneisen import average_gruneisen, gruneisen, gruneisen_modes
from jaxpot.properties.phonon_thermo import thermal_properties
from jaxpot.properties.phonons import Phonons, phonons
from jaxpot.properties.qha import quasi_harmonic
from jaxpot.properties.relax import relax

__all__ = ["Phonons", "average_gruneisen", "bulk_modulus", "elastic_constants",
           "elastic_tensors", "equation_of_state", "fit_birch_murnaghan", "gruneisen",
           "gruneisen_modes", "moduli", "phonons", "quasi_harmonic", "relax",
           "thermal_properties"]
