"""Gaussian Approximation Potentials: sparse GPs on SOAP (+ distance_2b), fitted as gap_fit does.

    from jaxpot import gap
    result = gap.fit(frames, gap.GapSettings(soap=gap.SoapSettings(cutoff=5.0)))
    model = result.model        # an EnergyModel: calculator, relax, phonons, MD
    std = gap.predictive_std(result.gap, result.posterior, frames)

See :mod:`jaxpot.gap.fit` (the fit), :mod:`jaxpot.gap.terms` (the energy terms),
:mod:`jaxpot.gap.settings` and :mod:`jaxpot.gap.config` (gap_fit's names and command line),
:mod:`jaxpot.gap.hyperparameters` (marginal likelihood), :mod:`jaxpot.gap.uncertainty`,
:mod:`jaxpot.gap.xml_reader` (GAP XML files written by gap_fit).
"""

from jaxpot.gap.config import ConfigError, parse_gap_fit, parse_toml
from jaxpot.gap.fit import GapFit, fit
from jaxpot.gap.hyperparameters import Tuned, optimize_hyperparameters
from jaxpot.gap.labels import LabelNames, TrainingDataError
from jaxpot.gap.settings import GapSettings, SoapSettings, TwoBodySettings
from jaxpot.gap.terms import distance_2b_gp, soap_gp
from jaxpot.gap.uncertainty import (
                                    Posterior,
                                    PosteriorError,
                                    Uncertainty,
                                    load_posterior,
                                    predictive_std,
)
from jaxpot.gap.update import update, update_state
from jaxpot.gap.xml_reader import read_gap_xml

__all__ = ["ConfigError", "GapFit", "GapSettings", "LabelNames", "Posterior", "PosteriorError",
           "SoapSettings", "TrainingDataError", "Tuned", "TwoBodySettings", "Uncertainty",
           "distance_2b_gp", "fit", "load_posterior", "optimize_hyperparameters",
           "parse_gap_fit", "parse_toml", "predictive_std", "read_gap_xml", "soap_gp",
           "update", "update_state"]
