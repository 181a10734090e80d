"""jaxpot.uncertainty: one interface over a GAP's posterior, an ensemble's spread and a distance
reference; calibration carried by the model; the domain; uncertainty-biased energies.

References: :func:`jaxpot.gap.predictive_std` (itself = the dense DTC formula, test_gap.py),
:func:`jaxpot.nn.ensemble.ensemble_predict` / ``calibrate``, central finite differences of the
biased energies, and the UDD and HAL formulas of Kulichenko et al. 2023 and van der Oord et
al. 2023 evaluated on the host.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read

import jaxpot
from jaxpot import gap
from jaxpot import uncertainty as uq
from jaxpot.potentials import stillinger_weber
from jaxpot.testing import assert_derivatives_match_finite_differences

jax.config.update("jax_enable_x64", True)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _labelled(n: int, amplitude: float, seed: int, a: float = 5.43) -> list:
    """Rattled diamond-Si cubes labelled by Stillinger-Weber."""
    sw = stillinger_weber()
    out = []
    for k in range(n):
        atoms = bulk("Si", "diamond", a=a, cubic=True)
        atoms.rattle(amplitude, seed=seed + k)
        p = jaxpot.predict(sw, [atoms])
        atoms.calc = SinglePointCalculator(atoms, energy=float(p.energy[0]),
                                           forces=p.forces[0])
        out.append(atoms)
    return out


@pytest.fixture(scope="module")
def sw_sets():
    return _labelled(6, 0.05, 0), _labelled(8, 0.1, 100), _labelled(2, 0.35, 500)


@pytest.fixture(scope="module")
def distance_model(sw_sets):
    train, val, _ = sw_sets
    return uq.calibrate(1.05 * stillinger_weber(), val, training=train, inside_fraction=0.75,
                        n_max=3, l_max=2)  # a small SOAP: quick to compile


@pytest.fixture(scope="module")
def si_gap():
    frames = [a for a in read(DATA / "mlearn_Si_PBE.extxyz", ":")
              if a.info["config_type"] == "AIMD-NVT"]
    settings = gap.GapSettings(soap=gap.SoapSettings(cutoff=4.0, n_max=3, l_max=3, zeta=4,
                                                     n_sparse=25, delta=0.5),
                               e0=-0.79, default_sigma=(0.005, 0.1, 0.05, 0.0),
                               fit_virials=False, sparse_jitter=1e-4, distance_2b=None)
    return gap.fit(frames[:3], settings, progress=False), frames[3:9]


def test_gap_posterior_equals_predictive_std_and_survives_save_load(si_gap, tmp_path):
    """uq.predict of a GAP = gap.predictive_std (energy, local energies, per-atom RMS of the
    force components); calibrated, the same times its factors, kept by save/load."""
    from jaxpot.gap.uncertainty import predictive_std
    result, frames = si_gap
    ref = predictive_std(result.gap, result.posterior, frames)
    u = uq.predict(result.gap, frames, posterior=result.posterior)
    assert u.method == "gap_posterior" and not u.calibrated
    np.testing.assert_array_equal(u.energy_std, ref.energy)
    for got, want, f in zip(u.energies_std, ref.local_energies, ref.forces):
        np.testing.assert_array_equal(got, want)
    for got, f in zip(u.forces_std, ref.forces):
        np.testing.assert_allclose(got, np.sqrt(np.mean(f ** 2, axis=1)), rtol=1e-14)
    np.testing.assert_array_equal(u.energy, jaxpot.predict(result.gap, frames).energy)
    cal = uq.calibrate(result.gap, frames, posterior=result.posterior)
    c = uq.predict(cal, frames)
    scale = uq.unwrap(cal)[1].scale
    assert c.calibrated and scale != (1.0, 1.0)
    np.testing.assert_allclose(c.energy_std, scale[0] * ref.energy, rtol=1e-14)
    jaxpot.save(cal, tmp_path / "gap.jaxpot")
    back = uq.predict(jaxpot.load(tmp_path / "gap.jaxpot"), frames)
    np.testing.assert_array_equal(back.energy_std, c.energy_std)
    np.testing.assert_array_equal(back.energy, c.energy)


def test_ensemble_spread_equals_the_ensembles_calibrated_spread(sw_sets):
    """uq.predict of an ensemble = ensemble_predict's calibrated spread (per-atom force std
    the RMS of the components'); uq.calibrate = nn.ensemble.calibrate's factors."""
    from jaxpot.nn.ensemble import calibrate as calibrate_ensemble
    from jaxpot.nn.ensemble import ensemble_predict
    from jaxpot.nn.ensemble import example as ensemble_example
    _, val, _ = sw_sets
    model = ensemble_example()
    ref = ensemble_predict(model, val)
    u = uq.predict(model, val)
    assert u.method == "ensemble" and u.calibrated  # the example's factors are not 1
    np.testing.assert_array_equal(u.energy_std, ref.energy_std)
    for got, f in zip(u.forces_std, ref.forces_std):
        np.testing.assert_allclose(got, np.sqrt(np.mean(f ** 2, axis=1)), rtol=1e-14)
    cal = uq.calibrate(model, val)
    own = calibrate_ensemble(model, val)
    np.testing.assert_array_equal(uq.unwrap(cal)[0].params["calibration"],
                                  own.params["calibration"])
    # then one factor per quantity on what predict reports (the per-atom RMS force sigma)
    scale = uq.unwrap(cal)[1].scale
    again = uq.predict(cal, val)
    for got, f in zip(again.forces_std, ensemble_predict(own, val).forces_std):
        np.testing.assert_allclose(got, scale[1] * np.sqrt(np.mean(f ** 2, axis=1)),
                                   rtol=1e-12)


def test_distance_reference_calibrates_flags_outsiders_and_survives_save_load(
        distance_model, sw_sets, tmp_path):
    """Any model gets a distance-based uncertainty: calibrated on validation frames (smaller
    miscalibration area than the raw scores), a domain threshold keeping the stated fraction
    of them inside, far-off structures outside; save/load bit-identical."""
    _, val, far = sw_sets
    u = uq.predict(distance_model, val)
    assert u.method == "distance" and u.calibrated
    d = uq.domain(distance_model, val + far)
    assert d.inside[:len(val)].mean() >= 0.75 and not d.inside[len(val):].any()
    assert d.unit == "eV" and d.scores.shape == (len(val) + len(far),)
    np.testing.assert_allclose(d.scores[:len(val)], [s.max() for s in u.energies_std])
    errors = np.concatenate([(f - a.get_forces()).ravel() for f, a in zip(u.forces, val)])
    stds = np.concatenate([np.repeat(s, 3) for s in u.forces_std])
    scale = uq.unwrap(distance_model)[1].scale[1]
    assert uq.metrics(errors, stds).miscalibration_area <= \
        uq.metrics(errors, stds / scale).miscalibration_area
    jaxpot.save(distance_model, tmp_path / "m.jaxpot")
    back = jaxpot.load(tmp_path / "m.jaxpot")
    again = uq.predict(back, val)
    np.testing.assert_array_equal(again.energy_std, u.energy_std)
    assert uq.domain(back, val).threshold == d.threshold


def test_biased_energies_follow_udd_and_hal_and_their_forces_and_stress_are_derivatives(
        distance_model, sw_sets):
    """UDD: E + A[exp(-sigma^2/(N B^2)) - 1]; HAL: E - tau sigma, with sigma the host's
    uq.predict energy_std (the JAX sigma = the host's to 1e-10); forces and stress = central
    finite differences."""
    _, val, far = sw_sets
    frames = val[:2] + far[:1]
    sigma = uq.predict(distance_model, frames).energy_std
    base = jaxpot.predict(distance_model, frames).energy
    a, b, tau = 0.4, 0.05, 0.7
    udd = jaxpot.predict(uq.biased(distance_model, "udd", strength=a, width=b), frames).energy
    hal = jaxpot.predict(uq.biased(distance_model, "hal", strength=tau), frames).energy
    n = np.array([len(x) for x in frames])
    np.testing.assert_allclose(udd - base, a * (np.exp(-sigma ** 2 / (n * b * b)) - 1.0),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(hal - base, -tau * sigma, rtol=1e-10)
    assert_derivatives_match_finite_differences(
        uq.biased(distance_model, "hal", strength=tau), frames[0], force_atol=1e-6,
        stress_atol=1e-7)


def test_mistakes_are_named(si_gap, sw_sets, distance_model):
    result, frames = si_gap
    train, val, _ = sw_sets
    with pytest.raises(ValueError, match="training frames"):
        uq.calibrate(stillinger_weber(), val)
    with pytest.raises(ValueError, match="posterior"):
        uq.predict(result.gap, frames)
    with pytest.raises(ValueError, match="carries no uncertainty"):
        uq.biased(stillinger_weber(), "udd", strength=1.0, width=0.1)
    with pytest.raises(ValueError, match="width"):
        uq.biased(distance_model, "udd", strength=1.0)
    with pytest.raises(ValueError, match="kind must be one of"):
        uq.biased(distance_model, "metad", strength=1.0)
    with pytest.raises(ValueError, match="at least 5"):
        uq.calibrate(stillinger_weber(), val[:3], training=train)
    with pytest.raises(ValueError, match="no domain threshold"):
        uq.domain(uq.carry(stillinger_weber(), "distance",
                           uq.unwrap(distance_model)[1].arrays,
                           settings=uq.unwrap(distance_model)[1].settings), val)


def test_evaluate_uncertainty_reports_metrics_plots_and_domain_flags(distance_model, sw_sets,
                                                                     tmp_path, capsys):
    """``jaxpot evaluate MODEL FILE --uncertainty``: the force uncertainty metrics in
    errors.json = uq.metrics of uq.predict's errors and stds; the frames outside = uq.domain's;
    calibration plots; stds and domain flags in the predicted extxyz."""
    import json

    from ase.io import write

    from jaxpot.cli import main
    _, val, far = sw_sets
    frames = val + far
    write(tmp_path / "set.extxyz", frames)
    jaxpot.save(distance_model, tmp_path / "m.jaxpot")
    assert main(["evaluate", str(tmp_path / "m.jaxpot"), str(tmp_path / "set.extxyz"),
                 "--uncertainty", "--out", str(tmp_path / "ev")]) == 0
    assert "structures outside" in capsys.readouterr().out
    part = json.loads((tmp_path / "ev" / "errors.json").read_text())[
        str(tmp_path / "set.extxyz")]["uncertainty"]
    frames = read(tmp_path / "set.extxyz", ":")  # the labels as the file holds them
    u = uq.predict(distance_model, frames)
    errors = np.concatenate([(f - a.get_forces()).ravel() for f, a in zip(u.forces, frames)])
    stds = np.concatenate([np.repeat(s, 3) for s in u.forces_std])
    want = uq.metrics(errors, stds).to_dict()
    assert part["forces"].keys() == want.keys()
    for k, v in want.items():
        assert part["forces"][k] == pytest.approx(v, rel=1e-12, nan_ok=True)
    d = uq.domain(distance_model, frames)
    assert part["domain"]["outside"] == [int(i) for i in np.flatnonzero(~d.inside)]
    assert (tmp_path / "ev" / "set_calibration_forces.png").stat().st_size > 0
    back = read(tmp_path / "ev" / "set_predicted.extxyz", ":")
    assert [a.info["jaxpot_inside"] for a in back] == list(d.inside)
    np.testing.assert_allclose([a.info["jaxpot_energy_std"] for a in back], u.energy_std,
                               rtol=1e-7)


def test_md_stops_where_the_model_is_unsure_and_keeps_the_trajectory(distance_model, tmp_path):
    """md.run(..., stop_when_uncertain=s): hot Langevin MD of crystalline Si with a model
    carrying a distance uncertainty stops at the first log row whose sigma exceeds s, naming
    the step; the result's structure is that row's (its host-side uq.predict sigma equals the
    logged one) and the trajectory ends with it."""
    from ase.io import read as read_frames

    from jaxpot import md
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    threshold = 12 * uq.predict(distance_model, [atoms]).energy_std[0]  # the crystal's x 12
    integrator = md.langevin(distance_model, 2.0, 3000.0, friction=0.05)
    result = md.run(integrator, atoms, 4000, temperature=3000.0, log_interval=20, seed=1,
                    trajectory=tmp_path / "run.extxyz", stop_when_uncertain=threshold)
    assert result.stopped is not None and "stop_when_uncertain" in result.stopped
    sigma = result.extra_log["uncertainty"]
    step = int(result.log.step[-1])
    assert f"step {step}" in result.stopped and step < 4000
    assert sigma[-1] > threshold and np.all(sigma[:-1] <= threshold)
    assert int(result.state.step) == step
    host = uq.predict(distance_model, [result.atoms]).energy_std[0]
    assert abs(host - sigma[-1]) < 1e-8 * max(1.0, host)
    last = read_frames(tmp_path / "run.extxyz", -1)
    np.testing.assert_allclose(last.positions, result.atoms.positions, atol=1e-6)
    with pytest.raises(md.MDError, match="stop_when_uncertain"):
        md.run(md.langevin(stillinger_weber(), 2.0, 300.0, friction=0.01), atoms, 10,
               temperature=300.0,
               stop_when_uncertain=0.1)


def test_metadynamics_pauses_on_the_models_own_uncertainty(distance_model):
    """md.metadynamics(..., pause_above=s) with no uncertainty function uses the model's own
    (here a calibrated distance reference): with s below every sigma no hill is deposited and
    every attempt is a candidate step; the recorded sigma of each attempt is positive."""
    from jaxpot import md
    from jaxpot.md import collective_variables as cv
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    meta = md.metadynamics(md.langevin(distance_model, 2.0, 600.0, friction=0.05),
                           cvs=[cv.distance(0, 1)], height=0.01, width=0.05, pace=10,
                           pause_above=1e-6)
    result = md.run(meta, atoms, 40, temperature=600.0, log_interval=10, seed=2)
    hills = result.state.bias
    n = int(hills.count)
    assert n == 4 and bool(np.all(np.asarray(hills.paused)[:n]))
    assert list(result.candidate_steps) == [10, 20, 30, 40]
    assert np.all(np.asarray(hills.sigmas)[:n] > 1e-6)
    assert float(np.sum(np.asarray(hills.heights)[:n])) == 0.0
    with pytest.raises(ValueError, match="pause_above needs an uncertainty"):
        md.metadynamics(md.langevin(stillinger_weber(), 2.0, 600.0, friction=0.05),
                        cvs=[cv.distance(0, 1)], height=0.01, width=0.05, pace=10,
                        pause_above=0.1)
