"""How well a predicted error bar sigma matches actual errors (ensemble calibration checks).

* Spearman rank correlation between |error| and sigma (does a larger sigma mean a larger
  error?), via :func:`scipy.stats.spearmanr`.
* Miscalibration area (Tran et al., Mach. Learn.: Sci. Technol. 1, 025006 (2020); the
  uncertainty-toolbox definition): for Gaussian central intervals of probability p, the mean
  over p in [0, 1] of |observed fraction of errors inside - p|.  0 is perfect, 0.5 the worst.
* The calibration curve itself (expected vs observed fractions) for plotting.

:func:`fit_sigma_scale` picks the factor c that gives c * sigma the smallest miscalibration
area on a validation split (the ensembles' recalibration).
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


def _checked(errors, sigmas) -> tuple[np.ndarray, np.ndarray]:
    err = np.abs(np.asarray(errors, float).ravel())
    sig = np.asarray(sigmas, float).ravel()
    if err.shape != sig.shape or err.size < 2:
        raise ValueError(f"need errors and sigmas of one shape with >= 2 entries, got "
                         f"{err.shape} and {sig.shape}")
    if np.any(sig < 0) or not np.all(np.isfinite(sig)):
        raise ValueError("sigmas must be finite and >= 0")
    return err, sig


def _levels(n_levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities p of the central intervals and their half-widths z(p) in sigmas."""
    expected = np.linspace(0.0, 1.0, n_levels)
    return expected, np.sqrt(2.0) * erfinv(np.clip(expected, 0.0, 1.0 - 1e-12))


def _areas(sorted_ratios: np.ndarray, scales: np.ndarray, n_levels: int):
    """Miscalibration area of scale * sigma for each scale (S,), the interval probabilities
    (P,) and the observed fractions (S, P), from the sorted |error| / sigma."""
    expected, z = _levels(n_levels)
    observed = np.searchsorted(sorted_ratios, np.outer(scales, z), side="right")
    observed = observed / sorted_ratios.size
    return np.trapezoid(np.abs(observed - expected), expected, axis=-1), expected, observed


def _ratios(err, sig) -> np.ndarray:
    return np.sort(err / np.maximum(sig, 1e-300))


def calibration(errors, sigmas, n_levels: int = 101) -> Calibration:
    """Calibration of ``sigmas`` (predicted one-sigma) against ``errors`` (same shape)."""
    err, sig = _checked(errors, sigmas)
    area, expected, observed = _areas(_ratios(err, sig), np.ones(1), n_levels)
    rho = float(spearmanr(err, sig).statistic)
    return Calibration(rho, float(area[0]), expected, observed[0],
                       float(np.sqrt(np.mean(err ** 2))), float(np.mean(sig)))


def fit_sigma_scale(errors, sigmas, n_levels: int = 101) -> float:
    """The factor c for which c * sigmas has the smallest miscalibration area on ``errors``.

    A search over c in [c0 / 100, 100 c0] (log-spaced, 801 points) around c0 =
    median(|error| / sigma) / 0.6745, which calibrates the 50 % interval; among equal areas the
    c closest to c0.  Unlike the Gaussian likelihood's c^2 = mean(error^2 / sigma^2), a few
    errors over tiny sigmas (forces that symmetry makes zero in every member, up to rounding)
    cannot inflate it."""
    err, sig = _checked(errors, sigmas)
    ratios = _ratios(err, sig)
    c0 = float(np.median(ratios)) / 0.6744897501960817
    if not np.isfinite(c0) or c0 <= 0.0:
        return 1.0
    scales = c0 * np.logspace(-2.0, 2.0, 801)
    area = _areas(ratios, scales, n_levels)[0]
    best = np.flatnonzero(area <= area.min() + 1e-12)
    return float(scales[best[np.argmin(np.abs(np.log(scales[best] / c0)))]])
