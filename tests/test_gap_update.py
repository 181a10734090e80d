"""Incremental GAP updates (jaxpot.gap.update): a fit on frames A updated with frames B equals
a fresh gap.fit on A + B with the same sparse set (or, with sparse points added, the union):
weights, predictions and predictive standard deviations; bad updates are refused.

References: gap.fit itself, run from scratch on A + B with the sparse set fixed by
``refit_settings`` (sparse_method=index_file); real mlearn Si PBE data (../shared/data).
"""

import time
from pathlib import Path

import jax
import numpy as np
import pytest
from ase.io import read

import jaxpot
from jaxpot import gap
from jaxpot.gap.design import gap_terms
from jaxpot.gap.update import refit_settings

jax.config.update("jax_enable_x64", True)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SURFACE = (0.01, 0.2, 0.1, 0.0)


@pytest.fixture(scope="module")
def data():
    """A: two AIMD-NVT cells and two small surfaces; B: a vacancy cell and two surfaces;
    held-out: two AIMD-NVT test cells.  Settings: small SOAP, 20 CUR points, e0 averaged
    over A, Surface sigmas per config_type."""
    frames = read(DATA / "mlearn_Si_PBE.extxyz", ":")
    by = {}
    for a in frames:
        by.setdefault((a.info["config_type"], a.info["split"]), []).append(a)
    surfaces = by[("Surface", "training")]
    a = by[("AIMD-NVT", "training")][:2] + [s for s in surfaces if len(s) <= 16]
    b = by[("Vacancy", "training")][:1] + [s for s in surfaces if 16 < len(s) <= 24][:2]
    test = by[("AIMD-NVT", "test")][:2]
    settings = gap.GapSettings(
        soap=gap.SoapSettings(cutoff=4.0, n_max=4, l_max=4, zeta=4, n_sparse=20, delta=0.5),
        distance_2b=None, e0="average", default_sigma=(0.005, 0.1, 0.05, 0.0),
        config_type_sigma={"Surface": SURFACE})
    t0 = time.perf_counter()
    fitted = gap.fit(a, settings, progress=False)
    return a, b, test, settings, fitted, time.perf_counter() - t0


def _assert_same_fit(got, fresh, frames):
    a, b = (np.concatenate([np.ravel(t.params["alpha"]) for t in gap_terms(r.gap) if t])
            for r in (got, fresh))
    assert a.shape == b.shape
    p, q = (jaxpot.predict(r.model, frames, progress=False) for r in (got, fresh))
    print(f"\nalpha {np.max(np.abs(a - b)) / np.max(np.abs(b)):.1e} (relative), energies "
          f"{np.max(np.abs(p.energy - q.energy)):.1e} eV")
    assert np.max(np.abs(a - b)) <= 1e-10 * np.max(np.abs(b))
    np.testing.assert_allclose(p.energy, q.energy, rtol=0, atol=1e-10)
    np.testing.assert_allclose(np.concatenate(p.forces), np.concatenate(q.forces), atol=1e-10)
    s, t = (gap.predictive_std(r.gap, r.posterior, frames) for r in (got, fresh))
    np.testing.assert_allclose(s.energy, t.energy, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.concatenate(s.local_energies),
                               np.concatenate(t.local_energies), rtol=1e-9, atol=1e-12)
    assert got.n_observations == fresh.n_observations


def test_update_with_the_same_sparse_set_equals_a_fresh_fit(data):
    """(a) Rows of B absorbed into A's QR (a config_type new to the data gets its own sigmas,
    as gap.fit would weigh it) = gap.fit on A + B with A's sparse points and e0."""
    a, b, test, settings, fitted, fit_s = data
    state = gap.update_state(fitted, a)
    wider = settings.replace(config_type_sigma={"Surface": SURFACE,
                                                "Vacancy": (0.004, 0.08, 0.05, 0.0)})
    t0 = time.perf_counter()
    new = gap.update(state, b, settings=wider)
    update_s = time.perf_counter() - t0
    assert new.added == {} and len(new.state.frames) == len(a) + len(b)
    again = refit_settings(new.state)
    assert again.soap.sparse_method == "index_file" and again.e0 == fitted.e0
    t0 = time.perf_counter()
    fresh = gap.fit(a + b, again, progress=False)
    fresh_s = time.perf_counter() - t0
    # the same environments (their SOAP vectors, computed in other batches, to round-off)
    np.testing.assert_allclose(fresh.gap.params["sparse"], fitted.gap.params["sparse"],
                               rtol=0, atol=1e-14)
    _assert_same_fit(new, fresh, test + b)
    print(f"\nfit A {fit_s:.2f} s; update with B {update_s:.2f} s; fresh fit A+B {fresh_s:.2f} s "
          "(mostly compilation of new batch shapes at this size)")
    # a second update continues from the first one's state
    twice = gap.update(gap.update(state, b[:1], settings=wider).state, b[1:])
    _assert_same_fit(twice, fresh, test[:1])


def test_update_adding_sparse_points_equals_a_fresh_fit_on_the_union(data):
    """(b) Five points per species from B's environments (the worst represented first) are
    added; the rows of A and B are recomputed against the union = gap.fit on A + B with the
    union sparse set.  The chosen points are distinct and the K_MM factor grows."""
    a, b, test, settings, fitted, _ = data
    state = gap.update_state(fitted, a)
    new = gap.update(state, b, add_sparse=5)
    assert new.added == {14: 5}
    sparse = np.asarray(new.gap.params["sparse"])
    assert sparse.shape[0] == 25 and len(np.unique(np.round(sparse, 10), axis=0)) == 25
    np.testing.assert_array_equal(sparse[:20], fitted.gap.params["sparse"])  # A's, kept
    fresh = gap.fit(a + b, refit_settings(new.state), progress=False)
    _assert_same_fit(new, fresh, test + b)
    # the added points lower B's local-energy uncertainty
    before = gap.update(state, b)
    s0, s1 = (gap.predictive_std(r.gap, r.posterior, b) for r in (before, new))
    assert np.mean(np.concatenate(s1.local_energies)) < np.mean(np.concatenate(s0.local_energies))


def test_bad_updates_are_refused(data):
    a, b, _, settings, fitted, _ = data
    state = gap.update_state(fitted, a)
    carbon = b[1].copy()
    carbon.numbers[0] = 6
    with pytest.raises(gap.TrainingDataError,
                       match=r"new data, configuration 1: species Z=6 \(C\) not in the fitted"):
        gap.update(state, [b[0], carbon])
    with pytest.raises(ValueError, match=r"settings differ .* \['default_sigma'\]"):
        gap.update(state, b, settings=settings.replace(default_sigma=(0.01, 0.1, 0.05, 0.0)))
    with pytest.raises(ValueError, match=r"config_type_sigma\['Surface'\]"):
        gap.update(state, b, settings=settings.replace(
            config_type_sigma={"Surface": (0.02, 0.2, 0.1, 0.0)}))
    with pytest.raises(ValueError, match=r"\['soap'\]"):
        gap.update(state, b, settings=settings.replace(
            soap=gap.SoapSettings(cutoff=4.0, n_max=4, l_max=4, zeta=2, delta=0.5)))
    with pytest.raises(ValueError, match="structures and labels differ from the fit's"):
        gap.update_state(fitted, a[::-1])
    with pytest.raises(ValueError, match="add_sparse must be"):
        gap.update(state, b, add_sparse="most")


def test_update_with_distance_2b_and_a_baseline_equals_a_fresh_fit(data, monkeypatch):
    """SOAP + distance_2b on top of a Stillinger-Weber baseline: the update (its 2b grid is
    the first fit's, the baseline subtracted from B's labels too) = gap.fit on A + B given
    the same grid (gap.fit would choose it from A + B's distances: fixed here by patching
    its grid choice)."""
    import sys

    from jaxpot.potentials import stillinger_weber
    fit_module, update_module = sys.modules["jaxpot.gap.fit"], sys.modules["jaxpot.gap.update"]
    a, b, test, settings, _, _ = data
    settings = settings.replace(distance_2b=gap.TwoBodySettings(cutoff=3.5, n_sparse=5,
                                                                  theta_uniform=0.5))
    sw = stillinger_weber()
    fitted = gap.fit(a, settings, baseline=sw, progress=False)
    with pytest.raises(ValueError, match="settings or baseline differ from the fit's"):
        gap.update_state(fitted, a)
    state = gap.update_state(fitted, a, baseline=sw)
    new = gap.update(state, b)
    assert new.model.kind == "sum"
    with pytest.raises(ValueError, match="another distance_2b grid"):
        refit_settings(new.state)
    grid = state.pair_sparse
    for module in (fit_module, update_module):
        monkeypatch.setattr(module, "_pair_sparse_points", lambda *args: grid)
    fresh = gap.fit(a + b, refit_settings(new.state), baseline=sw, progress=False)
    _assert_same_fit(new, fresh, test[:1] + b)
