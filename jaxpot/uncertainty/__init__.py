"""Uncertainty for every model, and acting on it.

    from jaxpot import uncertainty as uq
    cal = uq.calibrate(model, validation, training=train)   # or posterior= (GAP); ensembles
    u = uq.predict(cal, frames)       # means, energy_std (eV), forces_std (eV/Å per atom), ...
    m = uq.metrics(errors, stds)      # NLL, miscalibration area, Spearman, coverage, sharpness
    d = uq.domain(cal, frames)        # per-atom and per-structure scores, inside, threshold
    b = uq.biased(cal, kind="udd", strength=0.5, width=0.02)   # an EnergyModel for MD

One interface over a GAP's posterior variances, an ensemble's spread and, for any other
model, the distance of its atoms' environments to the training set's (:mod:`.predict`,
:mod:`.distance`); a calibrated model carries its method, factors and domain threshold
(:mod:`.carrier`), so save/load keep them.
"""

from jaxpot.uncertainty.bias import biased
from jaxpot.uncertainty.calibrate import calibrate
from jaxpot.uncertainty.carrier import carry, is_uncertain, unwrap
from jaxpot.uncertainty.domain import Domain, domain
from jaxpot.uncertainty.metrics import UncertaintyMetrics, calibration_figure, metrics
from jaxpot.uncertainty.predict import UncertainPrediction, predict
from jaxpot.uncertainty.sigma import energy_std_function

__all__ = ["Domain", "UncertainPrediction", "UncertaintyMetrics", "biased", "calibrate",
           "calibration_figure", "carry", "domain", "energy_std_function", "is_uncertain",
           "metrics", "predict", "unwrap"]
