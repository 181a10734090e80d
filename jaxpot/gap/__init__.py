"""Gaussian Approximation Potentials: sparse GPs on SOAP (+ distance_2b), fitted as gap_fit does.

    from jaxpot import gap
    result = gap.fit(frames, gap.GapSettings(soap=gap.SoapSettings(cutoff=5.0)))
    model = result.model        # an EnergyModel: calculator, relax, phonons, MD

See :mod:`jaxpot.gap.fit` (the fit), :mod:`jaxpot.gap.terms` (the energy terms),
:mod:`jaxpot.gap.settings` (gap_fit's names).
"""

from jaxpot.gap.fit import GapFit, fit
from jaxpot.gap.hyperparameters import Tuned, optimize_hyperparameters
from jaxpot.gap.labels import LabelNames, TrainingDataError
from jaxpot.gap.settings import GapSettings, SoapSettings, TwoBodySettings
from jaxpot.gap.terms import distance_2b_gp, soap_gp
from jaxpot.gap.uncertainty import Uncertainty, predictive_std
from jaxpot.gap.xml_reader import read_gap_xml

__all__ = [
           "GapFit",
           "GapSettings",
           "LabelNames",
           "SoapSettings",
           "TrainingDataError",
           "TwoBodySettings",
           "Uncertainty",
           "distance_2b_gp",
           "fit",
           "predictive_std",
           "read_gap_xml",
           "soap_gp",
]
