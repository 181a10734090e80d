"""GAP fits: the same model as QUIP's gap_fit, kernel rows = the model's own derivatives,
the streamed QR = a dense least-squares solve, Δ-learning, save/load, bad input.

References: quippy-ase 0.10.3 (``gap_fit`` and ``quippy.potential.Potential``) on real mlearn
Si PBE data (Zuo et al. 2020, ../shared/data); ``numpy.linalg.lstsq``; central finite
differences (the contract table in test_contract.py has a GAP row too).
"""

import json
import os
import subprocess
from pathlib import Path

import jax
import numpy as np
import pytest
from ase.io import read, write

import jaxpot
from jaxpot import gap
from jaxpot.gap import rows as gap_rows
from jaxpot.gap.config import ConfigError, parse_gap_fit
from jaxpot.training.qr import cholesky_upper, qr_init, qr_solve, qr_update

jax.config.update("jax_enable_x64", True)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SOAP = "soap l_max=3 n_max=4 atom_sigma=0.5 zeta=4 cutoff=4.0 cutoff_transition_width=0.5 " \
       "delta=0.8 covariance_type=dot_product"


@pytest.fixture(scope="module")
def si_frames():
    """Small real training and held-out sets (mlearn Si, every environment distinct)."""
    frames = read(DATA / "mlearn_Si_PBE.extxyz", ":")
    by_type = {}
    for a in frames:
        by_type.setdefault((a.info["config_type"], a.info["split"]), []).append(a)
    train = (by_type[("AIMD-NVT", "training")][:2] + by_type[("Vacancy", "training")][:1]
             + [a for a in by_type[("Surface", "training")] if len(a) <= 16])
    test = by_type[("AIMD-NVT", "test")][:2]
    return train, test


@pytest.fixture(scope="module")
def gap_fit_reference(si_frames, tmp_path_factory):
    """gap_fit with every environment a sparse point (sparse_method=none), energies, forces
    and virials, per-config_type sigmas; returns (command line, quippy Potential)."""
    from quippy.potential import Potential
    train, _ = si_frames
    work = tmp_path_factory.mktemp("gap_fit")
    write(work / "train.xyz", train)
    args = (f"at_file=train.xyz gap={{{SOAP} n_sparse=1000 sparse_method=none}} "
            "e0=-0.79 default_sigma={0.005 0.1 0.05 0.0} sparse_jitter=1e-8 "
            "config_type_sigma={Surface:0.01:0.2:0.1:0.0} "
            "energy_parameter_name=energy force_parameter_name=forces "
            "virial_parameter_name=virial gp_file=gp.xml")
    run = subprocess.run(["gap_fit"] + _argv(args), cwd=work, capture_output=True, text=True,
                         check=False, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return args, Potential(param_filename=str(work / "gp.xml"))


def _argv(args: str) -> list[str]:
    from jaxpot.gap.config import split_braced
    return split_braced(args)


def _quippy(pot, atoms):
    a = atoms.copy()
    a.calc = pot
    return a.get_potential_energy(), a.get_forces(), a.get_stress()


def test_fit_equals_gap_fit_with_the_same_settings(si_frames, gap_fit_reference):
    """The same gap_fit command line, run by jaxpot (sparse_method=none -> every distinct
    environment), predicts what gap_fit's own model predicts through quippy."""
    train, test = si_frames
    args, pot = gap_fit_reference
    job = parse_gap_fit(args)
    assert job.settings.soap.sparse_method == "all"
    result = gap.fit(train, job.settings, progress=False)
    pred = jaxpot.predict(result.model, test + train[:1])
    for i, atoms in enumerate(test + train[:1]):
        e, f, s = _quippy(pot, atoms)
        assert pred.energy[i] == pytest.approx(e, rel=1e-9, abs=1e-6)
        np.testing.assert_allclose(pred.forces[i], f, atol=2e-6)
        np.testing.assert_allclose(pred.stress[i], s, atol=2e-7)


def test_kernel_rows_equal_the_models_derivatives():
    """K rows (SOAP by its sparse Jacobian, distance_2b by forward mode) times alpha = the
    model's autodiff energy, forces and virial, on a two-species cell."""
    from ase.build import bulk

    from jaxpot.batch import frame_pairs, pack, plan_buckets
    from jaxpot.gap.terms import quip_soap
    rng = np.random.default_rng(0)
    frames = []
    for seed, (sym, a) in enumerate([("SiC", 4.36), ("SiC", 4.5)]):
        atoms = bulk(sym, "zincblende", a=a).repeat((2, 1, 1))
        atoms.rattle(0.1, seed=seed)
        frames.append(atoms)
    desc = quip_soap((6, 14), 3.5, 3, 3, 0.5)
    x = desc(frames[0])[[0, 1, 2]]
    soap_term = gap.soap_gp(species=(6, 14), cutoff=3.5, n_max=3, l_max=3, atom_sigma=0.5,
                            zeta=3, delta=1.3, sparse=x, alpha=rng.normal(size=3),
                            n_sparse=(1, 2))
    pair_term = gap.distance_2b_gp(species=(6, 14), cutoff=3.0, theta=0.7, delta=[1, 2, .5],
                                   sparse=rng.uniform(1.5, 3.0, (3, 4)),
                                   alpha=rng.normal(size=(3, 4)))
    for term, rows_of in ((soap_term, lambda b: gap_rows.soap_rows_jit(
            desc, 3, (1, 2), jax.numpy.asarray(x), 1.3, b)),
            (pair_term, lambda b: gap_rows.linear_rows_jit(pair_term, b))):
        pairs = [frame_pairs(term, f) for f in frames]
        (bucket,) = plan_buckets(frames, pairs)
        batch = pack(term, frames, pairs, bucket.n_atoms, bucket.capacity, bucket.batch_size,
                     half_capacity=bucket.half_capacity)
        rows = rows_of(batch)
        pred = jaxpot.predict(term, frames)
        alpha = np.asarray(term.params["alpha"]).ravel()
        for slot, atoms in enumerate(frames):
            e, f, v = gap_rows.observation_rows(rows, len(atoms), slot)
            assert e @ alpha == pytest.approx(pred.energy[slot], rel=1e-12)
            np.testing.assert_allclose(f @ alpha, pred.forces[slot].ravel(), atol=1e-12)
            s = pred.stress[slot] * atoms.get_volume()  # virial = -stress V (Voigt xx..xy)
            expected = -np.array([s[0], s[5], s[4], s[1], s[3], s[2]])
            np.testing.assert_allclose(v @ alpha, expected, atol=1e-12)


def test_kernel_rows_in_blocks_of_centres_equal_the_models_derivatives(monkeypatch):
    """SOAP rows formed two centres at a time (a padded last block) still equal the model's
    autodiff energy, forces and virial times alpha (the blocks bound memory for any cell)."""
    from ase.build import bulk

    from jaxpot.batch import frame_pairs, pack, plan_buckets
    from jaxpot.gap.terms import quip_soap
    atoms = bulk("SiC", "zincblende", a=4.4).repeat((3, 1, 1))
    del atoms[5]
    atoms.rattle(0.1, seed=3)
    desc = quip_soap((6, 14), 3.5, 3, 3, 0.5)
    x = desc(atoms)[[0, 1, 2]]
    term = gap.soap_gp(species=(6, 14), cutoff=3.5, n_max=3, l_max=3, atom_sigma=0.5, zeta=3,
                       delta=1.3, sparse=x, alpha=np.random.default_rng(1).normal(size=3),
                       n_sparse=(1, 2))
    pairs = [frame_pairs(term, atoms)]
    (bucket,) = plan_buckets([atoms], pairs)
    batch = pack(term, [atoms], pairs, len(atoms), bucket.capacity, 1,  # 5 centres: 2+2+1
                 half_capacity=bucket.half_capacity)
    monkeypatch.setattr(gap_rows, "centres_per_block", lambda *args: 2)
    rows = gap_rows.soap_rows(desc, 3, (1, 2), jax.numpy.asarray(x), 1.3, batch)
    e, f, v = gap_rows.observation_rows(rows, len(atoms), 0)
    pred = jaxpot.predict(term, [atoms])
    alpha = np.asarray(term.params["alpha"])
    assert e @ alpha == pytest.approx(pred.energy[0], rel=1e-12)
    np.testing.assert_allclose(f @ alpha, pred.forces[0].ravel(), atol=1e-12)
    s = pred.stress[0] * atoms.get_volume()
    np.testing.assert_allclose(v @ alpha, -np.array([s[0], s[5], s[4], s[1], s[3], s[2]]),
                               atol=1e-12)


def test_streamed_qr_equals_dense_least_squares():
    """Block-by-block QR = numpy.linalg.lstsq of the stacked system."""
    rng = np.random.default_rng(1)
    m = 30
    a = rng.normal(size=(m, m))
    k_mm = a @ a.T
    u = cholesky_upper(k_mm, 1e-8)
    rows, y, sig = rng.normal(size=(500, m)), rng.normal(size=500), rng.uniform(.1, 1, 500)
    state = qr_init(u)
    for start in range(0, 500, 70):
        state = qr_update(state, rows[start:start + 70], y[start:start + 70],
                          sig[start:start + 70])
    stacked = np.vstack([rows / sig[:, None], u])
    target = np.concatenate([y / sig, np.zeros(m)])
    expected = np.linalg.lstsq(stacked, target, rcond=None)[0]
    np.testing.assert_allclose(qr_solve(state), expected, rtol=1e-9, atol=1e-12)


def test_delta_learning_and_save_load(si_frames, tmp_path):
    """A fit on top of a baseline = baseline + a GP of the residual; the saved model loads
    bit-identical."""
    from jaxpot.potentials import stillinger_weber
    train, test = si_frames
    settings = gap.GapSettings(soap=gap.SoapSettings(cutoff=4.0, n_max=3, l_max=3,
                                                     n_sparse=40, delta=0.5),
                               distance_2b=gap.TwoBodySettings(cutoff=3.5, n_sparse=8),
                               e0=0.0, default_sigma=(0.005, 0.1, 0.05, 0.0))
    sw = stillinger_weber()
    result = gap.fit(train, settings, baseline=sw, progress=False)
    assert result.model.kind == "sum"
    both = jaxpot.predict(result.model, test)
    parts = [jaxpot.predict(m, test) for m in (sw, result.gap)]
    np.testing.assert_allclose(both.energy, parts[0].energy + parts[1].energy, rtol=1e-12)
    path = tmp_path / "delta.jaxpot"
    jaxpot.save(result.model, path)
    again = jaxpot.predict(jaxpot.load(path), test)
    assert np.array_equal(again.energy, both.energy)
    assert all(np.array_equal(a, b) for a, b in zip(again.forces, both.forces))


def test_bad_training_data_is_named(si_frames, tmp_path):
    train, _ = si_frames
    settings = gap.GapSettings(soap=gap.SoapSettings(cutoff=4.0, n_max=3, l_max=2, n_sparse=10))
    bare = [a.copy() for a in train[:3]]  # copies drop the calculator: no labels
    for a in bare:
        del a.info["virial"]
    with pytest.raises(gap.TrainingDataError, match=r"train.xyz, configuration 0: no energy"):
        gap.fit(bare, settings, source="train.xyz", progress=False)
    bad = [a.copy() for a in train[:3]]
    for a, b in zip(bad, train[:3]):
        a.info["energy"] = b.get_potential_energy()
        a.arrays["force"] = b.get_forces()
    bad[1].info["energy"] = float("nan")
    with pytest.raises(gap.TrainingDataError, match="configuration 1: energy is not finite"):
        gap.fit(bad, settings, source="train.xyz", progress=False)
    bad[1].info["energy"] = -1.0
    bad[2].arrays["force"] = np.zeros((len(bad[2]), 3))
    bad[2].arrays["force"][0, 1] = np.inf
    with pytest.raises(gap.TrainingDataError, match="configuration 2: force of atom 0"):
        gap.fit(bad, settings, source="train.xyz", progress=False)
    bad[2].info["energy_sigma"] = -1.0
    bad[2].arrays["force"][0, 1] = 0.0
    with pytest.raises(gap.TrainingDataError,
                       match="configuration 2: energy sigma must be positive"):
        gap.fit(bad, settings, source="train.xyz", progress=False)


def test_bad_settings_are_named():
    soap = "soap cutoff=4 l_max=2 n_max=2 atom_sigma=0.5"
    with pytest.raises(ConfigError, match=r"unsupported gap_fit keys \['banana'\]"):
        parse_gap_fit(f"at_file=x.xyz gap={{{soap}}} banana=1 default_sigma={{1 1 1 0}}")
    with pytest.raises(ConfigError, match=r"soap: unsupported keys \['colour'\]"):
        parse_gap_fit(f"gap={{{soap} colour=red}} default_sigma={{1 1 1 0}}")
    with pytest.raises(ConfigError, match="covariance_type=ard_se is not supported"):
        parse_gap_fit(f"gap={{{soap} covariance_type=ard_se}} default_sigma={{1 1 1 0}}")
    with pytest.raises(ConfigError, match="core_param_file"):
        parse_gap_fit(f"gap={{{soap}}} core_param_file=x.xml default_sigma={{1 1 1 0}}")
    # QUIP's soap descriptor registers these four as PARAM_MANDATORY
    with pytest.raises(ConfigError, match=r"soap needs \['l_max', 'atom_sigma'\]"):
        parse_gap_fit("gap={soap cutoff=4 n_max=2} default_sigma={1 1 1 0}")
    with pytest.raises(ValueError, match="default_sigma"):
        gap.GapSettings(default_sigma=(0.0, 0.1, 0.1, 0.0))


def test_gap_fit_command_lines_take_gap_fits_defaults_not_jaxpots():
    """A gap_fit line without zeta means gap_fit's default exponent, 1 (gap_fit_module:
    param_register 'zeta' '1.0'), whatever GapSettings() uses; a TOML table takes jaxpot's."""
    job = parse_gap_fit("gap={soap cutoff=4 l_max=2 n_max=2 atom_sigma=0.5} "
                        "default_sigma={0.01 0.1 0.1 0}")
    assert job.settings.soap.zeta == 1 != gap.SoapSettings().zeta
    assert parse_gap_fit("gap={soap cutoff=4 l_max=2 n_max=2 atom_sigma=0.5 zeta=3} "
                         "default_sigma={0.01 0.1 0.1 0}").settings.soap.zeta == 3


def test_prediction_refuses_an_unseen_species(si_frames):
    from ase.build import bulk
    model = gap.soap_gp(species=("Si",), cutoff=4.0, n_max=3, l_max=2, atom_sigma=0.5)
    with pytest.raises(Exception, match="frames\\[0\\].*(Z=6|C)"):
        jaxpot.predict(model, [bulk("C", "diamond", a=3.57)])


def test_duplicate_or_singular_sparse_sets_are_refused(si_frames):
    train, _ = si_frames
    soap = gap.SoapSettings(cutoff=4.0, n_max=3, l_max=2, sparse_method="index_file")
    with pytest.raises(ValueError, match="duplicate sparse points"):
        gap.fit(train, gap.GapSettings(soap=soap, sparse_indices={14: [3, 3]}), progress=False)
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        cholesky_upper(np.ones((3, 3)), 0.0)


def test_cli_fit_and_evaluate(si_frames, tmp_path, capsys):
    """``jaxpot fit --gap-fit "..."`` writes a model and a report; ``jaxpot evaluate``
    prints its errors and writes JSON."""
    from jaxpot.cli import main
    train, test = si_frames
    write(tmp_path / "train.xyz", train)
    write(tmp_path / "test.xyz", test)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(["fit", "--quiet", "--test", "test.xyz", "--gap-fit",
                     (f"at_file=train.xyz gap={{{SOAP} n_sparse=30}} e0=-0.79 "
                     "default_sigma={0.005 0.1 0.05 0.0} force_parameter_name=forces "
                     "gp_file=si.jaxpot")]) == 0
        assert (tmp_path / "si.jaxpot").exists()
        assert not (tmp_path / "si.jaxpot.checkpoint.npz").exists()
        from jaxpot.gap.uncertainty import load_posterior
        std = gap.predictive_std(jaxpot.load("si.jaxpot"), load_posterior("si.posterior.npz"),
                                 test)
        assert np.all(std.energy > 0)
        for name in ("errors.json", "errors.txt", "settings.json", "timings.json",
                     "parity_train_forces.png"):
            assert (tmp_path / "si_report" / name).exists(), name
        assert main(["evaluate", "si.jaxpot", "test.xyz", "--json", "ev.json"]) == 0
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    assert "model written to si.jaxpot" in out and "E MAE" in out or "MAE" in out
    assert (tmp_path / "ev.json").exists()


def test_predictive_std_equals_the_dense_dtc_formula(si_frames):
    """Energies' and local energies' standard deviations = the projected-process (DTC)
    variance k** - k*^T K_MM^-1 k* + k*^T (K_MM + K_MN Lambda^-1 K_NM)^-1 k* computed densely
    with NumPy inverses (Quiñonero-Candela & Rasmussen 2005); far-off structures are more
    uncertain than training ones."""
    from jaxpot.gap.design import sparse_covariance, structure_rows
    from jaxpot.gap.terms import soap_gp_descriptor
    from jaxpot.gap.uncertainty import predictive_std
    train, test = si_frames
    settings = gap.GapSettings(soap=gap.SoapSettings(cutoff=4.0, n_max=3, l_max=3, zeta=4,
                                                     n_sparse=25, delta=0.5),
                               e0=-0.79, default_sigma=(0.005, 0.1, 0.05, 0.0),
                               fit_virials=False, sparse_jitter=1e-4,  # a well-posed K_MM^-1
                               distance_2b=None)
    result = gap.fit(train, settings, progress=False)
    squeezed = test[0].copy()
    squeezed.set_cell(squeezed.cell * 0.9, scale_atoms=True)
    frames = [train[0], test[0], squeezed]
    std = predictive_std(result.gap, result.posterior, frames)

    model = result.gap
    k_mm = sparse_covariance(model) + 1e-4 * np.eye(25)
    rows, lam = [], []
    for i, r in structure_rows(model, train):
        n = len(train[i])
        rows += [r.energy[None], r.forces]
        lam += [[(0.005 * np.sqrt(n)) ** 2], np.full(3 * n, 0.1 ** 2)]
    k_nm, lam = np.concatenate(rows), np.concatenate(lam)
    sigma = np.linalg.inv(k_mm + k_nm.T @ (k_nm / lam[:, None]))
    k_inv = np.linalg.inv(k_mm)
    desc = soap_gp_descriptor(model)
    for i, r in structure_rows(model, frames):
        p = desc(frames[i])
        k_star = r.energy
        prior = 0.25 * np.sum((p @ p.T) ** 4)
        var = prior - k_star @ k_inv @ k_star + k_star @ sigma @ k_star
        # k** and k*^T K_MM^-1 k* are ~1e3 eV^2 and cancel through K_MM^-1 (condition ~1e5
        # at jitter 1e-4): compare the variance to the round-off of that cancellation,
        # eps * cond * k** ~ 1e-8 eV^2 (runs differ by 1e-8 with the BLAS thread split)
        assert std.energy[i] ** 2 == pytest.approx(var, abs=1e-10 * prior)
        x = np.asarray(model.params["sparse"])
        k_local = 0.25 * (x @ p.T) ** 4
        var_local = 0.25 - np.einsum("mi,mn,ni->i", k_local, k_inv - sigma, k_local)
        np.testing.assert_allclose(std.local_energies[i], np.sqrt(var_local), rtol=1e-6)
        f_var = np.einsum("mi,mn,ni->i", r.forces.T, sigma, r.forces.T)
        np.testing.assert_allclose(std.forces[i].ravel(), np.sqrt(f_var), rtol=1e-5)
    assert std.energy[2] / len(squeezed) > 3 * std.energy[0] / len(train[0])


def test_marginal_likelihood_equals_the_dense_gaussian_density(si_frames):
    """The streamed evidence = scipy.stats.multivariate_normal.logpdf(y; 0, Q + Lambda) with
    Q = K_NM K_MM^-1 K_MN built densely, at the settings and at rescaled hyperparameters;
    its gradient = central finite differences; the optax search raises it."""
    from scipy.stats import multivariate_normal

    from jaxpot.gap.fit import observation_blocks, prepare
    from jaxpot.gap.hyperparameters import (
        evidence_statistics,
        log_marginal_likelihood,
        optimize_hyperparameters,
    )
    train, _ = si_frames
    settings = gap.GapSettings(soap=gap.SoapSettings(cutoff=4.0, n_max=3, l_max=2, n_sparse=15,
                                                     delta=0.5),
                               e0=-0.79, default_sigma=(0.005, 0.1, 0.05, 0.0),
                               sparse_jitter=1e-6, distance_2b=None)
    frames = train[:3]
    stats = evidence_statistics(frames, settings)
    problem = prepare(frames, settings, progress=False)
    blocks = list(observation_blocks(problem))
    k_nm = np.concatenate([b.rows for b in blocks])
    y = np.concatenate([b.targets for b in blocks])
    sig = np.concatenate([b.sigmas for b in blocks])
    kind = np.concatenate([np.full(len(b.targets), b.kind) for b in blocks])
    k_mm = stats.k_mm + 1e-6 * np.eye(15)
    for log_delta, log_noise in ((0.0, np.zeros(3)), (0.3, np.array([0.2, -0.4, 0.1]))):
        s = np.exp(2 * log_delta)
        k_mm_s = s * stats.k_mm + 1e-6 * np.eye(15)
        q = (s * k_nm) @ np.linalg.solve(k_mm_s, (s * k_nm).T)
        lam = (sig * np.exp(log_noise[kind])) ** 2
        expected = multivariate_normal(mean=np.zeros(len(y)), cov=q + np.diag(lam)).logpdf(y)
        got = float(log_marginal_likelihood(log_delta, log_noise, stats, 1e-6))
        assert got == pytest.approx(expected, rel=1e-9)
    del k_mm
    noise = np.array([0.2, -0.4, 0.1])
    grad = jax.grad(log_marginal_likelihood, argnums=(0, 1))(0.3, noise, stats, 1e-6)
    h = 1e-4  # central differences: O(h^2) ~ 1e-8 relative, rounding amplified 1e4x only
    fd = (float(log_marginal_likelihood(0.3 + h, noise, stats, 1e-6))
          - float(log_marginal_likelihood(0.3 - h, noise, stats, 1e-6))) / (2 * h)
    assert float(grad[0]) == pytest.approx(fd, rel=1e-6)
    for k in range(3):
        e = np.eye(3)[k] * h
        fd = (float(log_marginal_likelihood(0.3, noise + e, stats, 1e-6))
              - float(log_marginal_likelihood(0.3, noise - e, stats, 1e-6))) / (2 * h)
        assert float(grad[1][k]) == pytest.approx(fd, rel=1e-6, abs=1e-4)
    tuned = optimize_hyperparameters(frames, settings, steps=60, learning_rate=0.1)
    assert tuned.log_likelihood > tuned.log_likelihood_start + 1.0
    assert tuned.settings.soap.delta != settings.soap.delta


def test_interrupted_fit_resumes_from_its_checkpoint(si_frames, tmp_path, monkeypatch):
    """A fit stopped after its first block of rows, run again with the same checkpoint,
    equals an uninterrupted fit; a checkpoint of other settings is refused."""
    import sys
    fit_module = sys.modules["jaxpot.gap.fit"]
    from jaxpot.training.checkpoint import CheckpointError
    train, test = si_frames
    settings = gap.GapSettings(soap=gap.SoapSettings(cutoff=4.0, n_max=3, l_max=2, n_sparse=20),
                               e0=-0.79, default_sigma=(0.005, 0.1, 0.05, 0.0))
    whole = gap.fit(train, settings, progress=False)
    path = str(tmp_path / "fit.ckpt.npz")
    calls = {"n": 0}
    real_update = fit_module.qr_update

    def failing_update(*args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("stopped")
        return real_update(*args)

    monkeypatch.setattr(fit_module, "qr_update", failing_update)
    with pytest.raises(KeyboardInterrupt):
        gap.fit(train, settings, progress=False, checkpoint=path)
    monkeypatch.setattr(fit_module, "qr_update", real_update)
    assert os.path.exists(path)
    resumed = gap.fit(train, settings, progress=False, checkpoint=path)
    assert resumed.n_observations == whole.n_observations
    a, b = (jaxpot.predict(r.model, test) for r in (whole, resumed))
    np.testing.assert_allclose(a.energy, b.energy, rtol=1e-10)
    np.testing.assert_allclose(np.concatenate(a.forces), np.concatenate(b.forces), atol=1e-9)
    with pytest.raises(CheckpointError, match="other settings or data"):
        gap.fit(train, settings.replace(sparse_jitter=1e-6), progress=False, checkpoint=path)


def _sic_frames(n, seed):
    """Rattled zincblende SiC cells labelled by a Lennard-Jones calculator (consistent numbers
    for a two-species fit; the physics of the labels does not matter here)."""
    from ase.build import bulk
    from ase.calculators.lj import LennardJones
    from ase.calculators.singlepoint import SinglePointCalculator
    out = []
    for k in range(n):
        atoms = bulk("SiC", "zincblende", a=4.36 + 0.05 * k).repeat((2, 1, 1))
        atoms.rattle(0.05, seed=seed + k)
        atoms.calc = LennardJones(sigma=1.6, epsilon=0.1, rc=4.0, smooth=True)
        e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        atoms.calc = SinglePointCalculator(atoms, energy=e, forces=f, stress=s)
        out.append(atoms)
    return out


def test_two_species_fit_from_toml_equals_gap_fit(tmp_path):
    """Two centre species (gap_fit's add_species), per-species e0, energies, forces and the
    stresses gap_fit reads by default (stress_parameter_name=stress, virial = -stress V):
    jaxpot reading the equivalent TOML file predicts what gap_fit's model predicts through
    quippy."""
    from quippy.potential import Potential

    from jaxpot.gap.config import parse_toml
    train, test = _sic_frames(4, 0), _sic_frames(2, 50)
    write(tmp_path / "train.xyz", train)
    args = (f"at_file=train.xyz gap={{{SOAP} n_sparse=1000 sparse_method=none}} "
            "e0={Si:-0.79:C:-1.2} default_sigma={0.005 0.1 0.05 0.0} sparse_jitter=1e-8 "
            "force_parameter_name=forces virial_parameter_name=none gp_file=gp.xml")
    run = subprocess.run(["gap_fit"] + _argv(args), cwd=tmp_path, capture_output=True,
                         text=True, check=False, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:]
    (tmp_path / "fit.toml").write_text(
        'at_file = "train.xyz"\ne0 = {Si = -0.79, C = -1.2}\n'
        "default_sigma = [0.005, 0.1, 0.05, 0.0]\nsparse_jitter = 1e-8\n"
        'force_parameter_name = "forces"\nvirial_parameter_name = "none"\n'
        'gp_file = "gp.xml"\n'
        "[soap]\ncutoff = 4.0\ncutoff_transition_width = 0.5\nn_max = 4\nl_max = 3\n"
        'atom_sigma = 0.5\nzeta = 4\ndelta = 0.8\nsparse_method = "none"\nn_sparse = 1000\n')
    job = parse_toml(str(tmp_path / "fit.toml"))
    assert job.settings == parse_gap_fit(args).settings
    result = gap.fit(train, job.settings, progress=False)
    assert json.loads(result.model.spec)["config"]["n_sparse"] == [8, 8]
    pred = jaxpot.predict(result.model, test)
    pot = Potential(param_filename=str(tmp_path / "gp.xml"))
    for i, atoms in enumerate(test):
        e, f, s = _quippy(pot, atoms)
        assert pred.energy[i] == pytest.approx(e, rel=1e-7)
        np.testing.assert_allclose(pred.forces[i], f, atol=1e-6)
        np.testing.assert_allclose(pred.stress[i], s, atol=1e-7)


def test_distance_2b_energy_prior_equals_a_sum_over_ase_ordered_pairs():
    """The distance_2b part of the energies' prior variance k** = sum over ordered pairs
    (a, b) of the same species pair of delta^2 exp(-(r_a - r_b)^2 / 2 theta^2) f(r_a) f(r_b),
    with the ordered pairs from ase.neighborlist.neighbor_list (two species)."""
    from ase.neighborlist import neighbor_list

    from jaxpot.batch import frame_pairs
    from jaxpot.gap.design import gap_terms
    from jaxpot.gap.uncertainty import _energy_prior
    frames = _sic_frames(2, 7)
    model = gap.distance_2b_gp(species=(6, 14), cutoff=3.5, theta=[0.4, 0.6, 0.8],
                               delta=[1.0, 2.0, 0.5], cutoff_transition_width=0.7,
                               sparse=np.ones((3, 2)))
    got = _energy_prior(gap_terms(model), model, frames, [frame_pairs(model, a) for a in frames])
    theta, delta = {0: 0.4, 1: 0.6, 2: 0.8}, {0: 1.0, 1: 2.0, 2: 0.5}
    for atoms, value in zip(frames, got):
        i, j, d = neighbor_list("ijd", atoms, 3.5)
        z = atoms.numbers
        t = np.where((z[i] == 6) & (z[j] == 6), 0, np.where((z[i] == 14) & (z[j] == 14), 2, 1))
        f = np.where(d < 2.8, 1.0, 0.5 * (np.cos(np.pi * (d - 2.8) / 0.7) + 1.0))
        expected = sum(delta[k] ** 2 * np.sum(
            np.exp(-0.5 * ((d[t == k][:, None] - d[t == k][None, :]) / theta[k]) ** 2)
            * np.outer(f[t == k], f[t == k])) for k in range(3))
        assert value == pytest.approx(expected, rel=1e-12)
