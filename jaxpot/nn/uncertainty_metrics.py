"""How well a predicted error bar sigma matches actual errors (ensemble calibration checks).

* Spearman rank correlation between |error| and sigma (does a larger sigma mean a larger
  error?), via :func:`scipy.stats.spearmanr`.
* Miscalibration area (Tran et al., Mach. Learn.: Sci. Technol. 1, 025006 (2020); the
  uncertainty-toolbox definition): for Gaussian central intervals of probability p, the mean
  over p in [0, 1] of |observed fraction of errors inside - p|.  0 is perfect, 0.5 the worst.
* The calibration curve itself (expected vs observed fractions) for plotting.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import erfinv
from scipy.stats import spearmanr


class Calibration(NamedTuple):
    spearman: float
    miscalibration_area: float
    expected: np.ndarray  # (P,) probabilities of the central intervals
    observed: np.ndarray  # (P,) fraction of errors inside them
    rmse: float
    mean_sigma: float


def calibration(errors, sigmas, n_levels: int = 101) -> Calibration:
    """Calibration of ``sigmas`` (predicted one-sigma) against ``errors`` (same shape)."""
    err = np.abs(np.asarray(errors, float).ravel())
    sig = np.asarray(sigmas, float).ravel()
    if err.shape != sig.shape or err.size < 2:
        raise ValueError(f"need errors and sigmas of one shape with >= 2 entries, got "
                         f"{err.shape} and {sig.shape}")
    if np.any(sig < 0) or not np.all(np.isfinite(sig)):
        raise ValueError("sigmas must be finite and >= 0")
    expected = np.linspace(0.0, 1.0, n_levels)
    z = np.sqrt(2.0) * erfinv(np.clip(expected, 0.0, 1.0 - 1e-12))  # half-width / sigma
    ratio = err / np.maximum(sig, 1e-300)
    observed = np.array([np.mean(ratio <= zi) for zi in z])
    area = float(np.trapezoid(np.abs(observed - expected), expected))
    rho = float(spearmanr(err, sig).statistic)
    return Calibration(rho, area, expected, observed, float(np.sqrt(np.mean(err ** 2))),
                       float(np.mean(sig)))
