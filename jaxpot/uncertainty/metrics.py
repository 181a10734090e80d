"""Metrics of predicted uncertainties: calibration, sharpness, scoring rule, ranking.

Each metric compares errors ``e = prediction - reference`` with predicted standard deviations
``σ`` (same shape, same units, > 0), both flattened, read as the Gaussian ``e ~ N(0, σ²)``.
The definitions are those of uncertainty-toolbox 0.1.1 (Chung et al., the reference of
``tests/test_uq_metrics.py``; it is not imported here), with its defaults: 100 expected
proportions ``linspace(0, 1, 100)`` and centered ("interval") prediction intervals.  The
observed proportions are counted on sorted arrays (``searchsorted``) in ``O(n log n)``, which
equals the toolbox's loop and its vectorized variant exactly (both are counts over ``n``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np
from scipy import stats

PropType = Literal["interval", "quantile"]
_LOG_SQRT_2PI = math.log(math.sqrt(2.0 * math.pi))  # scipy's norm logpdf constant


@dataclasses.dataclass(frozen=True)
class UncertaintyMetrics:
    """Summary of ``n`` errors against their predicted σ (see :func:`metrics`).

    ``nll`` is in nats per value and depends on the unit of ``e`` (through ``log σ``);
    ``sharpness`` is in the unit of ``e``; the rest are dimensionless.
    """

    n: int
    nll: float
    miscalibration_area: float
    rms_calibration_error: float
    mean_absolute_calibration_error: float
    sharpness: float
    coverage_1sigma: float
    coverage_2sigma: float
    spearman: float

    def to_dict(self) -> dict:
        """Plain ``{name: int | float}`` (JSON-ready except a NaN ``spearman``)."""
        return dataclasses.asdict(self)


def _checked(errors, stds) -> tuple[np.ndarray, np.ndarray]:
    """``(e, σ)`` as flat float64 arrays of equal length ``n >= 1``; ValueError otherwise.

    Refuses a shape mismatch, non-finite errors and non-finite or non-positive σ, naming how
    many values are bad and the index (in the input's shape) of the first.
    """
    e, s = np.asarray(errors, dtype=float), np.asarray(stds, dtype=float)
    if e.shape != s.shape:
        raise ValueError(f"errors have shape {e.shape} but stds have shape {s.shape}")
    if e.size == 0:
        raise ValueError("no errors given (empty arrays)")
    for name, bad in (("errors", ~np.isfinite(e)), ("stds", ~(np.isfinite(s) & (s > 0)))):
        if bad.any():
            first = np.unravel_index(int(np.argmax(bad)), bad.shape)
            what = "non-finite" if name == "errors" else "non-positive or non-finite"
            where = first[0] if len(first) == 1 else tuple(int(i) for i in first)
            raise ValueError(f"{int(bad.sum())} of {bad.size} {name} are {what}; "
                             f"the first at index {where}")
    return e.ravel(), s.ravel()


def nll_gaussian(errors, stds, *, scaled: bool = True) -> float:
    """Gaussian negative log-likelihood ``-Σ log N(e_i; 0, σ_i²)`` (nats), divided by ``n``
    when ``scaled`` = uncertainty-toolbox ``nll_gaussian(y_pred, y_std, y_true, scaled=True)``
    with ``y_pred - y_true = e``."""
    e, s = _checked(errors, stds)
    z = e / s
    logpdf = -z**2 / 2.0 - _LOG_SQRT_2PI - np.log(s)
    total = -float(np.sum(logpdf))
    return total / e.size if scaled else total


def sharpness(stds) -> float:
    """``sqrt(mean(σ²))`` (unit of σ) = uncertainty-toolbox ``sharpness(y_std)``."""
    s = _checked(np.zeros_like(np.asarray(stds, dtype=float)), stds)[1]
    return float(np.sqrt(np.mean(s**2)))


def calibration_curve(errors, stds, n_bins: int = 100,
                      prop_type: PropType = "interval") -> tuple[np.ndarray, np.ndarray]:
    """Expected and observed proportions, each shape ``(n_bins,)``.

    Expected ``p = linspace(0, 1, n_bins)``; observed: the fraction of ``z = e/σ`` with
    ``Φ⁻¹(1/2 - p/2) <= z <= Φ⁻¹(1/2 + p/2)`` ("interval") or ``z <= Φ⁻¹(p)`` ("quantile")
    = uncertainty-toolbox ``get_proportion_lists`` (and ``..._vectorized``) with ``num_bins``.
    """
    e, s = _checked(errors, stds)
    z = np.sort(e / s)
    expected = np.linspace(0, 1, n_bins)
    if prop_type == "interval":
        lower, upper = stats.norm.ppf(0.5 - expected / 2.0), stats.norm.ppf(0.5 + expected / 2.0)
        count = np.searchsorted(z, upper, "right") - np.searchsorted(z, lower, "left")
    elif prop_type == "quantile":
        count = np.searchsorted(z, stats.norm.ppf(expected), "right")
    else:
        raise ValueError(f"prop_type must be 'interval' or 'quantile', not {prop_type!r}")
    return expected, count / z.size


def rms_calibration_error(errors, stds, n_bins: int = 100,
                          prop_type: PropType = "interval") -> float:
    """``sqrt(mean((expected - observed)²))`` over :func:`calibration_curve` =
    uncertainty-toolbox ``root_mean_squared_calibration_error`` (``num_bins=100``)."""
    expected, observed = calibration_curve(errors, stds, n_bins, prop_type)
    return float(np.sqrt(np.mean(np.square(expected - observed))))


def mean_absolute_calibration_error(errors, stds, n_bins: int = 100,
                                    prop_type: PropType = "interval") -> float:
    """``mean(|expected - observed|)`` over :func:`calibration_curve` (the ECE) =
    uncertainty-toolbox ``mean_absolute_calibration_error`` (``num_bins=100``)."""
    expected, observed = calibration_curve(errors, stds, n_bins, prop_type)
    return float(np.mean(np.abs(expected - observed)))


def miscalibration_area(errors, stds, n_bins: int = 100,
                        prop_type: PropType = "interval") -> float:
    """Area between the calibration curve and the diagonal, by trapezoids that split where
    the curve crosses it = uncertainty-toolbox ``miscalibration_area`` (``num_bins=100``).

    As there, the "interval" observed proportion is the fraction of ``|e|/σ <=
    Φ⁻¹(1/2 + p/2)`` (the upper bound only; equal to :func:`calibration_curve` but for a value
    exactly on a bound).
    """
    e, s = _checked(errors, stds)
    expected = np.linspace(0, 1, n_bins)
    if prop_type == "interval":
        bound, z = stats.norm.ppf(0.5 + expected / 2.0), np.abs(e) / s
    elif prop_type == "quantile":
        bound, z = stats.norm.ppf(expected), e / s
    else:
        raise ValueError(f"prop_type must be 'interval' or 'quantile', not {prop_type!r}")
    observed = np.searchsorted(np.sort(z), bound, "right") / z.size
    return area_between(expected, observed)


def area_between(expected: np.ndarray, observed: np.ndarray) -> float:
    """``∫ |observed - expected| d(expected)`` of the piecewise-linear curves (toolbox
    ``miscalibration_area_from_proportions``): a trapezoid per interval, or two triangles
    ``h (dl² + dr²) / (2 (|dl| + |dr|))`` where the difference ``d`` changes sign."""
    d = np.asarray(observed, dtype=float) - expected
    h = np.diff(expected)
    dl, dr = d[:-1], d[1:]
    cross = dl * dr < 0
    with np.errstate(divide="ignore", invalid="ignore"):
        hourglass = h * (dl**2 + dr**2) / (2.0 * (np.abs(dl) + np.abs(dr)))
    return float(np.sum(np.where(cross, hourglass, np.abs(h * 0.5 * (dl + dr)))))


def coverage(errors, stds, k: float) -> float:
    """Fraction of values with ``|e| <= k σ`` (a Gaussian gives 0.6827 at k=1, 0.9545 at 2)."""
    e, s = _checked(errors, stds)
    return float(np.mean(np.abs(e) <= k * s))


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a 1-d array, ties given their average rank (scipy ``rankdata``)."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], xs.size]  # run i holds sorted positions starts[i]..ends[i]-1
    ranks = np.empty(x.size)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def spearman(errors, stds) -> float:
    """Spearman rank correlation of σ with ``|e|`` (= ``scipy.stats.spearmanr(σ, |e|)``);
    NaN when ``n < 2`` or either is constant."""
    e, s = _checked(errors, stds)
    a, b = rankdata(s), rankdata(np.abs(e))
    a, b = a - a.mean(), b - b.mean()
    denom = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    return float(np.dot(a, b)) / denom if denom > 0 else math.nan


def metrics(errors, stds, n_bins: int = 100, prop_type: PropType = "interval"
            ) -> UncertaintyMetrics:
    """All metrics of ``errors`` (prediction - reference, any shape) against ``stds`` (same
    shape and unit, > 0), with uncertainty-toolbox's defaults (``num_bins=100``, interval
    proportions, ``nll`` per value as ``nll_gaussian(scaled=True)``)."""
    e, s = _checked(errors, stds)
    return UncertaintyMetrics(
        n=int(e.size), nll=nll_gaussian(e, s),
        miscalibration_area=miscalibration_area(e, s, n_bins, prop_type),
        rms_calibration_error=rms_calibration_error(e, s, n_bins, prop_type),
        mean_absolute_calibration_error=mean_absolute_calibration_error(e, s, n_bins, prop_type),
        sharpness=sharpness(s), coverage_1sigma=coverage(e, s, 1.0),
        coverage_2sigma=coverage(e, s, 2.0), spearman=spearman(e, s))


def fit_scale(errors, stds) -> float:
    """The factor ``c`` minimising the Gaussian NLL of ``e`` with stds ``c σ``:
    ``c = sqrt(mean((e/σ)²))`` (dimensionless; d/dc of ``mean(z²/2c² + log c)`` vanishes there).
    """
    e, s = _checked(errors, stds)
    return float(np.sqrt(np.mean((e / s) ** 2)))


def calibration_figure(errors, stds, title: str = "calibration", n_bins: int = 100):
    """A matplotlib Figure (Agg canvas, no pyplot): observed vs expected proportion of
    centered Gaussian intervals (:func:`calibration_curve`, line labelled "observed"), the
    ideal diagonal, and the miscalibration area shaded and printed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    expected, observed = calibration_curve(errors, stds, n_bins)
    area = miscalibration_area(errors, stds, n_bins)
    fig = Figure(figsize=(4.6, 4.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="ideal")
    ax.plot(expected, observed, "C0-", lw=1.5, label="observed")
    ax.fill_between(expected, expected, observed, color="C0", alpha=0.25,
                    label="miscalibration area")
    ax.text(0.95, 0.05, f"miscalibration area = {area:.4f}", ha="right", va="bottom",
            transform=ax.transAxes)
    ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal", xlabel="expected proportion in interval",
           ylabel="observed proportion in interval", title=title)
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig
