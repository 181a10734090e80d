"""jaxpot.uncertainty.metrics against its reference, uncertainty-toolbox 0.1.1 (a test extra:
missing, the import below fails the file), and scipy.stats.spearmanr.

The toolbox reads ``residual = y_pred - y_true``; it is given ``y_pred = errors``,
``y_true = 0``, so its residuals are the errors bit for bit.
"""

import dataclasses

import numpy as np
import pytest
import scipy.optimize
import scipy.stats
import uncertainty_toolbox as uct

from jaxpot.uncertainty.metrics import (
    UncertaintyMetrics,
    calibration_curve,
    calibration_figure,
    coverage,
    fit_scale,
    mean_absolute_calibration_error,
    metrics,
    miscalibration_area,
    nll_gaussian,
    rankdata,
    rms_calibration_error,
    sharpness,
    spearman,
)

TOL = 1e-12


def _case(name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(errors, stds) of a named synthetic case, flat."""
    rng = np.random.default_rng(seed)
    n = {"small": 5, "large": 10_000}.get(name, 400)
    std = rng.uniform(0.05, 2.0, n)
    factor = {"over-confident": 2.5, "under-confident": 0.4}.get(name, 1.0)
    err = rng.normal(0.0, factor * std)
    if name == "ties":  # repeated values in both, exact zeros (counted at p = 0)
        std, err = np.round(std, 1) + 0.1, np.round(err, 1)
        err[:7] = 0.0
    return err, std


CASES = ["well-calibrated", "over-confident", "under-confident", "ties", "small", "large"]


def _reference(err: np.ndarray, std: np.ndarray, prop_type: str = "interval") -> dict:
    """The toolbox's values; its non-vectorized loops for n <= 1000 (slow beyond)."""
    zero = np.zeros_like(err)
    kw = dict(vectorized=err.size > 1000, prop_type=prop_type)
    return dict(
        nll=uct.nll_gaussian(err, std, zero),
        miscalibration_area=uct.miscalibration_area(err, std, zero, **kw),
        rms_calibration_error=uct.root_mean_squared_calibration_error(err, std, zero, **kw),
        mean_absolute_calibration_error=uct.mean_absolute_calibration_error(
            err, std, zero, **kw),
        sharpness=uct.sharpness(std),
    )


@pytest.mark.parametrize("name", CASES)
def test_metrics_equal_uncertainty_toolbox(name):
    err, std = _case(name)
    got = metrics(err, std)
    for key, value in _reference(err, std).items():
        assert abs(getattr(got, key) - value) <= TOL, (key, getattr(got, key), value)
    assert abs(got.spearman - scipy.stats.spearmanr(std, np.abs(err)).statistic) <= TOL
    assert got.n == err.size
    assert got.coverage_1sigma == np.mean(np.abs(err) <= std)
    assert got.coverage_2sigma == np.mean(np.abs(err) <= 2 * std)


@pytest.mark.parametrize("name", ["well-calibrated", "over-confident", "ties"])
def test_quantile_variant_and_scale_free_nll(name):
    err, std = _case(name, seed=3)
    ref = _reference(err, std, prop_type="quantile")
    for fn, key in [(miscalibration_area, "miscalibration_area"),
                    (rms_calibration_error, "rms_calibration_error"),
                    (mean_absolute_calibration_error, "mean_absolute_calibration_error")]:
        assert abs(fn(err, std, prop_type="quantile") - ref[key]) <= TOL, key
    zero = np.zeros_like(err)
    total = uct.nll_gaussian(err, std, zero, scaled=False)
    assert abs(nll_gaussian(err, std, scaled=False) - total) <= TOL * abs(total)


@pytest.mark.parametrize("prop_type", ["interval", "quantile"])
@pytest.mark.parametrize("n_bins", [100, 11])
def test_calibration_curve_equals_both_toolbox_variants(prop_type, n_bins):
    err, std = _case("ties", seed=5)
    zero = np.zeros_like(err)
    expected, observed = calibration_curve(err, std, n_bins=n_bins, prop_type=prop_type)
    for variant in (uct.metrics_calibration.get_proportion_lists,
                    uct.metrics_calibration.get_proportion_lists_vectorized):
        ref_exp, ref_obs = variant(err, std, zero, num_bins=n_bins, prop_type=prop_type)
        np.testing.assert_array_equal(expected, ref_exp)
        np.testing.assert_allclose(observed, ref_obs, rtol=0, atol=TOL)
    assert abs(miscalibration_area(err, std, n_bins=n_bins) - uct.miscalibration_area(
        err, std, zero, num_bins=n_bins)) <= TOL


def test_any_shape_is_flattened():
    err, std = _case("well-calibrated", seed=7)
    flat, shaped = metrics(err, std), metrics(err.reshape(20, 5, 4), std.reshape(20, 5, 4))
    assert flat == shaped


def test_spearman_equals_scipy_with_ties_and_constant():
    rng = np.random.default_rng(11)
    for n in (2, 3, 50, 3000):
        std = rng.integers(1, 6, n) * 0.25  # many ties
        err = rng.integers(-4, 5, n) * 0.5
        if n < 10:  # fixed, not constant
            std, err = np.array([0.25, 0.5, 0.5][:n]), np.array([1.0, -0.5, 1.0][:n])
        expected = scipy.stats.spearmanr(std, np.abs(err)).statistic
        assert abs(spearman(err, std) - expected) <= TOL, n
    x = rng.normal(size=200).round(1)
    np.testing.assert_array_equal(rankdata(x), scipy.stats.rankdata(x))
    assert np.isnan(spearman(np.ones(10), np.ones(10)))  # constant: scipy gives NaN too


def test_coverage_analytic():
    std = np.array([1.0, 2.0, 4.0, 0.5, 0.25, 8.0, 1.0, 2.0])
    z = np.array([0.5, 1.0, -1.0, 1.5, -2.0, 2.5, -0.0, 3.0])  # |z| <= 1: 4, <= 2: 6
    err = z * std  # exact: powers of two
    got = metrics(err, std)
    assert got.coverage_1sigma == 4 / 8 and got.coverage_2sigma == 6 / 8
    assert coverage(err, std, 3.0) == 1.0 and coverage(err, std, 0.4) == 1 / 8


def test_coverage_of_gaussian_within_sampling_error():
    err, std = _case("large", seed=13)
    got = metrics(err, std)
    for value, p in [(got.coverage_1sigma, 0.682689492), (got.coverage_2sigma, 0.954499736)]:
        assert abs(value - p) < 4 * np.sqrt(p * (1 - p) / err.size)


def test_fit_scale_minimises_nll():
    for name in ("over-confident", "under-confident", "ties"):
        err, std = _case(name, seed=17)
        zero = np.zeros_like(err)
        best = scipy.optimize.minimize_scalar(
            lambda c: uct.nll_gaussian(err, c * std, zero), bounds=(0.01, 100.0),
            method="bounded", options=dict(xatol=1e-10))
        c = fit_scale(err, std)
        assert abs(c - best.x) < 1e-6 * c, name
        assert nll_gaussian(err, c * std) <= best.fun + 1e-12
        assert nll_gaussian(err, c * std) <= nll_gaussian(err, std)


def test_fit_scale_recovers_known_scale():
    rng = np.random.default_rng(19)
    n, scale = 10_000, 1.7
    std = rng.uniform(0.01, 3.0, n)
    err = rng.normal(0.0, scale * std)
    # c² = mean(z²) with z² ~ scale² χ²₁: sd(c) ≈ scale / sqrt(2n)
    assert abs(fit_scale(err, std) - scale) < 4 * scale / np.sqrt(2 * n)
    assert abs(fit_scale(err, scale * std) - 1.0) < 4 / np.sqrt(2 * n)
    assert sharpness(std) == pytest.approx(np.sqrt(np.mean(std**2)), rel=1e-15)


@pytest.mark.parametrize("bad, count, index", [
    ([1.0, 0.0, 2.0, -1.0], 2, "1"), ([1.0, 1.0, np.nan, 1.0], 1, "2"),
    ([np.inf, 1.0, 1.0, 1.0], 1, "0"),
])
def test_refuses_bad_stds(bad, count, index):
    err = np.zeros(4)
    for fn in (metrics, fit_scale, calibration_curve, spearman, nll_gaussian):
        with pytest.raises(ValueError, match=f"{count} of 4 stds .* index {index}$"):
            fn(err, np.array(bad))
    with pytest.raises(ValueError, match=r"1 of 4 stds .* index \(1, 0\)"):
        metrics(np.zeros((2, 2)), np.array([[1.0, 1.0], [-2.0, 1.0]]))
    with pytest.raises(ValueError, match=f"{count} of 4 stds"):
        sharpness(np.array(bad))


def test_refuses_bad_errors_shapes_and_empty():
    with pytest.raises(ValueError, match="1 of 3 errors are non-finite; the first at index 2"):
        metrics(np.array([0.0, 1.0, np.nan]), np.ones(3))
    with pytest.raises(ValueError, match="shape"):
        metrics(np.zeros(3), np.ones(4))
    with pytest.raises(ValueError, match="empty"):
        metrics(np.zeros(0), np.ones(0))
    with pytest.raises(ValueError, match="prop_type"):
        calibration_curve(np.zeros(3), np.ones(3), prop_type="centered")


def test_result_is_frozen_and_plain():
    got = metrics(*_case("small"))
    assert isinstance(got, UncertaintyMetrics)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.nll = 0.0
    d = got.to_dict()
    assert list(d) == ["n", "nll", "miscalibration_area", "rms_calibration_error",
                       "mean_absolute_calibration_error", "sharpness", "coverage_1sigma",
                       "coverage_2sigma", "spearman"]
    assert all(type(v) in (int, float) for v in d.values())


def test_figure_has_the_curve():
    err, std = _case("over-confident", seed=23)
    fig = calibration_figure(err, std, title="forces")
    fig.canvas.draw()
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    expected, observed = calibration_curve(err, std)
    np.testing.assert_array_equal(lines["observed"].get_xdata(), expected)
    np.testing.assert_array_equal(lines["observed"].get_ydata(), observed)
    np.testing.assert_array_equal(lines["ideal"].get_ydata(), [0, 1])
    assert len(ax.collections) == 1  # the shaded area
    area = miscalibration_area(err, std)
    assert any(f"{area:.4f}" in t.get_text() for t in ax.texts)
    assert ax.get_title() == "forces"
