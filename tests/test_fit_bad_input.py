"""Bad input to network training and linear fits (SNAP, qSNAP, MTP) is named in the user's
terms before any work starts: settings that mean nothing, zero-sized architectures, misspelt
keys, ensembles calibrated on too little, cutoffs that see no neighbour, label names that match
nothing, outputs that would destroy inputs, bad test files, frames given as paths."""

import json
import logging
import os

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from jaxpot.io.paths import OutputOverwritesInputError
from jaxpot.linear import pipeline as linear
from jaxpot.linear.distances import CutoffError
from jaxpot.linear.fit import LinearFitSettings, fit_snap
from jaxpot.nn import bpnn, mace, painn
from jaxpot.nn import pipeline as nn
from jaxpot.nn.ensemble import (
    MIN_CALIBRATION_FRAMES,
    calibrate,
    calibration_factors,
    ensemble,
    ensemble_predict,
)
from jaxpot.nn.train import TrainSettings, train_model
from jaxpot.training.labels import LabelError, TrainingDataError, read_labels_checked
from jaxpot.training.lbfgs import LbfgsSettings


def si_frames(n, seed=0, names=False):
    """Rattled 8-atom diamond Si cells with made-up finite labels (these tests fail before
    fitting, or fit anything); ``names``: the labels under gap_fit-style info/arrays keys
    ``dft_energy``/``dft_forces`` instead of a calculator."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        atoms = bulk("Si", "diamond", a=5.43 * (1 + 0.02 * rng.uniform(-1, 1)), cubic=True)
        atoms.rattle(0.05, seed=int(rng.integers(1 << 30)))
        energy, forces = -4.6 * len(atoms) + rng.normal(0, 0.05), rng.normal(0, 0.3, (8, 3))
        if names:
            atoms.info["dft_energy"], atoms.arrays["dft_forces"] = energy, forces
        else:
            atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces,
                                               stress=rng.normal(0, 0.005, 6))
        frames.append(atoms)
    return frames


@pytest.fixture(scope="module")
def frames():
    return si_frames(12)


@pytest.fixture
def files(tmp_path, frames):
    """train.extxyz and test.extxyz beside the configs."""
    write(tmp_path / "train.extxyz", frames[:10])
    write(tmp_path / "test.extxyz", frames[10:])
    return tmp_path


def nn_config(tmp_path, extra="", top=""):
    """A `jaxpot train` TOML config (BPNN, the given tables) read as the CLI reads it."""
    path = tmp_path / "train.toml"
    path.write_text('model = "bpnn"\ntrain = ["train.extxyz"]\noutput = "si.jaxpot"\n'
                    'cutoff = 3.0\nspecies = ["Si"]\n' + top + "[architecture]\nhidden = [4]\n"
                    + extra)
    return nn.load_config(str(path))


def linear_config(tmp_path, body):
    """A `jaxpot fit` TOML config of a linear model, paths in the tmp directory."""
    path = tmp_path / "fit.toml"
    path.write_text(body.replace("{d}", str(tmp_path)))
    return linear.load_config(str(path))


SNAP = 'model = "snap"\ntrain = ["{d}/train.extxyz"]\noutput = "{d}/si.jaxpot"\n'
SNAP_TABLE = "[snap]\ntwojmax = 2\nrcutfac = 2.0\nradius = 1.0\n"
QUIET = dict(progress=False, echo=lambda *a: None)


# ----------------------------------------------------------- 1. settings that mean nothing
@pytest.mark.parametrize("line,key", [
    ('stratify_validation = "false"', "stratify_validation"),
    ("learning_rate = -0.001", "learning_rate"),
    ('learning_rate = "0.001"', "learning_rate"),
    ("grad_clip = 0", "grad_clip"),
    ("epochs = 0", "epochs"),
    ("batch_size = -4", "batch_size"),
    ("validation_fraction = 1.0", "validation_fraction"),
    ("patience = 0", "patience"),
    ("ensemble_size = 0", "ensemble_size"),
    ('config_type_weights = {bulk = "2"}', "config_type_weights"),
    ("config_type_weights = {bulk = -2.0}", "config_type_weights"),
    ("[training.weights]\nforces = -0.1", "forces"),
    ('[training.weights]\nenergy = "0.002"', "energy"),
])
def test_training_settings_that_mean_nothing_are_named(files, line, key):
    config = nn_config(files, "[training]\n" + line + "\n")
    with pytest.raises(nn.ConfigError, match=rf"\[training.*\b{key}\b"):
        nn.train(config, **QUIET)
    assert not (files / "si.jaxpot").exists() and not (files / "si_report").exists()


@pytest.mark.parametrize("make,field", [
    (lambda: TrainSettings(stratify_validation="false"), "stratify_validation"),
    (lambda: TrainSettings(learning_rate=-3e-3), "learning_rate"),
    (lambda: TrainSettings()._replace(grad_clip=0.0), "grad_clip"),
    (lambda: TrainSettings(epochs=0), "epochs"),
    (lambda: TrainSettings(batch_size=0), "batch_size"),
    (lambda: TrainSettings(validation_fraction=-0.1), "validation_fraction"),
    (lambda: TrainSettings(weight_decay=-1e-4), "weight_decay"),
    (lambda: LbfgsSettings(iterations=-1), "iterations"),
    (lambda: LbfgsSettings(stratify_validation="no"), "stratify_validation"),
    (lambda: LbfgsSettings()._replace(chunk=0), "chunk"),
    (lambda: LinearFitSettings(stratify_validation="false"), "stratify_validation"),
    (lambda: LinearFitSettings(force_sigma=-0.05), "force_sigma"),
    (lambda: LinearFitSettings(ridges="1e-8"), "ridges"),
    (lambda: LinearFitSettings(validation_fraction=1.0), "validation_fraction"),
    (lambda: LinearFitSettings(config_type_weights={"bulk": "2"}), "config_type_weights"),
])
def test_settings_constructors_refuse_values_that_mean_nothing(make, field):
    """The Python API's settings check themselves (construction and _replace)."""
    with pytest.raises(ValueError, match=rf"Settings\.{field}\b"):
        make()


@pytest.mark.parametrize("table,key", [
    ('[fit]\nstratify_validation = "false"\n', "stratify_validation"),
    ("[fit]\nenergy_sigma = -0.002\n", "energy_sigma"),
    ('[fit]\nridges = "1e-8"\n', "ridges"),
    ('[fit]\nforce_factors = [1.0, "4"]\n', r"force_factors\[1\]"),
    ("[fit]\nridge_value = 1e-8\n", "ridge_value'.*did you mean 'ridge"),
    ('[snap]\ntwojmax = 2\nrcutfac = "2.0"\n', "rcutfac"),
    ("[snap]\ntwojmax = 2\nrcutfac = 2.0\nquadraticflag = 2\n", "quadraticflag"),
    ("[snap]\ntwojmax = 2\nrcutfac = 2.0\nradius = {Xx = 1.0}\n", "Xx"),
])
def test_linear_fit_settings_that_mean_nothing_are_named(files, table, key):
    config = linear_config(files, SNAP + table)
    with pytest.raises(linear.ConfigError, match=key):
        linear.run(config, **QUIET)
    assert not (files / "si.jaxpot").exists()


def test_mtp_and_lbfgs_tables_are_checked_before_the_fit(files):
    mtp = 'model = "mtp"\ntrain = ["{d}/train.extxyz"]\noutput = "{d}/si.jaxpot"\n'
    for table, key in (('[mtp]\nlevel = "8"\n', "level"),
                       ('[mtp]\nlevel = 8\n[lbfgs]\niterations = "3"\n', "iterations"),
                       ("[mtp]\nlevel = 8\n[lbfgs]\npatience = 0\n", "patience")):
        with pytest.raises(linear.ConfigError, match=rf"\[(mtp|lbfgs)\] {key}"):
            linear.run(linear_config(files, mtp + table), **QUIET)


# ------------------------------------------------------------------------ 2. architectures
@pytest.mark.parametrize("build,argument", [
    (lambda: painn(["Si"], 4.0, layers=0), "layers"),
    (lambda: painn(["Si"], 4.0, features=0), "features"),
    (lambda: painn(["Si"], 4.0, n_rbf=0), "n_rbf"),
    (lambda: painn(["Si"], 4.0, cutoff_kind="gaussian"), "cutoff_kind"),
    (lambda: bpnn(["Si"], 4.0, hidden=(16, 0)), r"hidden\[1\]"),
    (lambda: bpnn(["Si"], 4.0, hidden=16), "hidden"),
    (lambda: bpnn(["Si"], 0.0), "cutoff"),
    (lambda: mace(["Si"], 4.0, channels=0), "channels"),
    (lambda: mace(["Si"], 4.0, layers=0), "layers"),
    (lambda: mace(["Si"], 4.0, n_rbf=0), "n_rbf"),
    (lambda: mace(["Si"], 4.0, radial_hidden=(0,)), r"radial_hidden\[0\]"),
    (lambda: mace(["Si"], 4.0, correlation=0), "correlation"),
    (lambda: mace(["Xx"], 4.0), "Xx"),
])
def test_zero_sized_architectures_are_refused_at_construction(build, argument):
    with pytest.raises(ValueError, match=argument):
        build()


@pytest.mark.parametrize("extra,match", [
    ("hiden = [8]\n", r"unknown keys \['hiden'\]; did you mean 'hidden'\?"),
    ("activaton = 'tanh'\n", "did you mean 'activation'"),
    ("hidden = [0]\n", r"hidden\[0\] must be an integer >= 1"),
    ("cutoff = 4.0\n", "top-level"),
])
def test_architecture_keys_are_named(files, extra, match):
    path = files / "arch.toml"
    path.write_text('model = "bpnn"\ntrain = ["train.extxyz"]\noutput = "si.jaxpot"\n'
                    'cutoff = 3.0\nspecies = ["Si"]\n[architecture]\n' + extra)
    with pytest.raises(nn.ConfigError, match=match):
        nn.train(nn.load_config(str(path)), **QUIET)


def test_painn_without_interaction_layers_is_refused_through_the_cli(files, capsys):
    from jaxpot.cli import main
    (files / "painn.toml").write_text(
        'model = "painn"\ntrain = ["train.extxyz"]\noutput = "si.jaxpot"\ncutoff = 3.0\n'
        'species = ["Si"]\n[architecture]\nlayers = 0\n')
    try:  # one line on stderr and a non-zero status (or a SystemExit carrying the line)
        status, said = main(["train", str(files / "painn.toml"), "--quiet"]), ""
    except SystemExit as exit:
        status, said = exit.code, str(exit.code)
    assert status not in (0, None)
    assert "painn layers must be an integer >= 1, got 0" in said + capsys.readouterr().err


# -------------------------------------------------------------------------------- 3. ensembles
@pytest.fixture(scope="module")
def small_ensemble():
    return ensemble([bpnn(["Si"], 3.0, hidden=(4,), seed=k) for k in range(3)])


def test_calibration_needs_enough_labelled_frames_and_one_label_per_frame(
        small_ensemble, frames, caplog):
    with pytest.raises(ValueError, match=f"at least {MIN_CALIBRATION_FRAMES}"):
        calibrate(small_ensemble, [])
    with pytest.raises(ValueError, match=f"at least {MIN_CALIBRATION_FRAMES}"):
        calibrate(small_ensemble, frames[:2])
    labels = read_labels_checked(frames[:6])
    with pytest.raises(ValueError, match="4 labels for 6 frames"):
        calibrate(small_ensemble, frames[:6], labels[:4])
    raw = ensemble_predict(small_ensemble, frames[:6], calibrated=False)
    with pytest.raises(ValueError, match="4 labels for 6 frames"):
        calibration_factors(raw, labels[:4])
    stress_only = [lab._replace(energy=None, forces=None) for lab in labels]
    with pytest.raises(ValueError, match="labelled with energies or forces"):
        calibration_factors(raw, stress_only)
    with caplog.at_level(logging.INFO, logger="jaxpot.nn.ensemble"):
        model = calibrate(small_ensemble, frames[:6], labels)
    assert "calibrated on 6 frames (6 energies, 144 force components, 36 stress" in caplog.text
    assert np.all(np.asarray(model.params["calibration"]) > 0)


def test_ensemble_with_too_few_validation_frames_is_refused_before_training(frames):
    settings = TrainSettings(epochs=1, batch_size=4, ensemble_size=2, validation_fraction=0.2)
    with pytest.raises(ValueError, match=f"needs at least {MIN_CALIBRATION_FRAMES}, got 2"):
        train_model(bpnn(["Si"], 3.0, hidden=(4,)), frames[:10], settings=settings,
                    progress=False)


# ---------------------------------------------------------- 4. linear cutoffs, label names
def test_snap_cutoff_below_every_neighbour_is_refused(files, frames):
    config = linear_config(files, SNAP + "[snap]\ntwojmax = 2\nrcutfac = 0.5\nradius = 1.0\n")
    with pytest.raises(linear.ConfigError, match=r"rcutfac = 0.5.*cutoff of 1 Å.*shortest "
                                                 r"interatomic distance.*\(2\.[0-9]+ Å\)"):
        linear.run(config, **QUIET)
    from jaxpot.descriptors.bispectrum import bispectrum
    with pytest.raises(CutoffError, match="rcutfac = 0.5"):
        fit_snap(frames, bispectrum(["Si"], 2, 0.5, radius=1.0), progress=False)
    assert not (files / "si.jaxpot").exists()


def test_mtp_cutoff_below_every_neighbour_is_refused(files):
    config = linear_config(files, 'model = "mtp"\ntrain = ["{d}/train.extxyz"]\n'
                                  'output = "{d}/si.jaxpot"\n[mtp]\nlevel = 8\nr_cut = 1.5\n')
    with pytest.raises(linear.ConfigError, match=r"\[mtp\] r_cut = 1.5 Å.*shortest"):
        linear.run(config, **QUIET)


def test_label_names_that_no_frame_has_are_refused(tmp_path):
    write(tmp_path / "train.extxyz", si_frames(10, names=True))
    config = linear_config(tmp_path, SNAP + 'names = {energy = "dft_energy", '
                                            'forces = "DFT_forces"}\n' + SNAP_TABLE)
    with pytest.raises(LabelError, match="DFT_forces"):
        linear.run(config, **QUIET)
    config = nn_config(tmp_path, top='names = {energy = "dft_enrgy"}\n')
    with pytest.raises(LabelError, match="dft_enrgy"):
        nn.train(config, **QUIET)
    config = nn_config(tmp_path, top='names = {energy = "dft_energy", force = "dft_forces"}\n')
    with pytest.raises(nn.ConfigError, match=r"unknown keys \['force'\]; did you mean"):
        nn.train(config, **QUIET)


# ------------------------------------------------------------------------------ 5. pipelines
def test_a_bad_test_file_fails_before_training_or_fitting(files):
    unlabelled = bulk("Si", "diamond", a=5.43, cubic=True)
    write(files / "unlabelled.extxyz", unlabelled)
    ge = si_frames(1)[0]
    ge.set_chemical_symbols(["Ge"] * 8)
    write(files / "ge.extxyz", ge)
    for test, match in (("missing.extxyz", "no such file"),
                        ("unlabelled.extxyz", r"unlabelled.extxyz\[0\]: no energy"),
                        ("ge.extxyz", "Ge")):
        config = nn_config(files, top=f'test = ["{test}"]\n')
        with pytest.raises((TrainingDataError, ValueError), match=match):
            nn.train(config, **QUIET)
        config = linear_config(files, SNAP + f'test = ["{{d}}/{test}"]\n' + SNAP_TABLE)
        with pytest.raises((TrainingDataError, ValueError), match=match):
            linear.run(config, **QUIET)
    written = {p.name for p in files.iterdir()}
    assert not written & {"si.jaxpot", "si.jaxpot.ckpt.npz", "si_report",
                          "si.jaxpot.checkpoint.npz"}


def test_outputs_that_are_inputs_are_refused_before_anything_is_written(files):
    before = (files / "train.extxyz").read_bytes()
    for top, what in (('output = "train.extxyz"\n', "model file"),
                      ('report = "test.extxyz"\ntest = ["test.extxyz"]\n', "report directory"),
                      ('checkpoint = "train.extxyz"\n', "checkpoint")):
        path = files / "out.toml"
        path.write_text('model = "bpnn"\ntrain = ["train.extxyz"]\ncutoff = 3.0\n'
                        'species = ["Si"]\n' + ("" if "output" in top else
                                                 'output = "si.jaxpot"\n') + top)
        config = nn.load_config(str(path))  # paths relative to the config's directory
        with pytest.raises(OutputOverwritesInputError, match=f"the {what}"):
            nn.train(config, **QUIET)
    snap = 'model = "snap"\ntrain = ["{d}/train.extxyz"]\n'
    for body, what in ((snap + 'output = "{d}/train.extxyz"\n', "model file"),
                       (snap + 'output = "{d}/test.extxyz"\ntest = ["{d}/test.extxyz"]\n',
                        "model file"),
                       (SNAP + 'test = ["{d}/si_report/errors.json"]\n', "report file")):
        with pytest.raises(OutputOverwritesInputError, match=f"the {what}"):
            linear.run(linear_config(files, body + SNAP_TABLE), **QUIET)
    assert (files / "train.extxyz").read_bytes() == before
    assert not (files / "si.jaxpot").exists()


def test_outputs_that_could_not_be_written_are_refused_before_training(files):
    config = nn_config(files)
    config["output"] = str(files / "models" / "si.jaxpot")
    with pytest.raises(FileNotFoundError, match="models.*does not exist"):
        nn.train(config, **QUIET)
    (files / "report.txt").write_text("a file")
    config = linear_config(files, SNAP + 'report = "{d}/report.txt"\n' + SNAP_TABLE)
    with pytest.raises(FileExistsError, match="report.txt is a file"):
        linear.run(config, **QUIET)
    assert not (files / "models").exists() and not (files / "si.jaxpot").exists()


@pytest.fixture
def replaced(monkeypatch):
    """Paths that arrived by os.replace (atomic_write's last step)."""
    done = []
    real = os.replace

    def spy(src, dst, *args, **kwargs):
        done.append(os.path.abspath(dst))
        return real(src, dst, *args, **kwargs)
    monkeypatch.setattr(os, "replace", spy)
    return done


def test_pipelines_with_label_names_report_atomically(tmp_path, replaced):
    """A network and a SNAP fit on labels under their own names (gap_fit's dft_energy,
    dft_forces) train, and their reports (error JSON files) use those names and arrive by
    rename, never half-written."""
    data = si_frames(12, names=True)
    write(tmp_path / "train.extxyz", data[:10])
    write(tmp_path / "test.extxyz", data[10:])
    names = 'names = {energy = "dft_energy", forces = "dft_forces"}\n'
    config = nn_config(tmp_path, "[training]\nepochs = 1\nbatch_size = 4\n",
                       top=names + 'test = ["test.extxyz"]\n')
    nn.train(config, **QUIET)
    errors = json.loads((tmp_path / "si_report" / "errors.json").read_text())
    assert set(errors) == {"validation", str(tmp_path / "test.extxyz")}
    assert str(tmp_path / "si_report" / "errors.json") in replaced
    config = linear_config(tmp_path, SNAP.replace("si.jaxpot", "snap.jaxpot")
                           + names
                           + 'test = ["{d}/test.extxyz"]\n' + SNAP_TABLE)
    linear.run(config, **QUIET)
    report = tmp_path / "snap_report"
    assert set(json.loads((report / "errors.json").read_text())) == {"train", "test.extxyz"}
    for name in ("errors.json", "errors.txt", "validation.json", "settings.json",
                 "timings.json"):
        assert str(report / name) in replaced, name


# --------------------------------------------------------------- 6. species, 7. frames as paths
@pytest.mark.parametrize("species,match", [
    ('"Si"', r'species = \'Si\' must be a list of element symbols, e.g. species = \["Si"\]'),
    ('["Si", "Xx"]', "unknown element symbol 'Xx'"),
    ("[]", "non-empty list"),
])
def test_species_of_a_network_config_are_named(files, species, match):
    path = files / "species.toml"
    path.write_text('model = "painn"\ntrain = ["train.extxyz"]\noutput = "si.jaxpot"\n'
                    f"cutoff = 3.0\nspecies = {species}\n")
    with pytest.raises(nn.ConfigError, match=match):
        nn.train(nn.load_config(str(path)), **QUIET)


def test_frames_given_as_paths_are_named(frames, small_ensemble):
    from jaxpot.descriptors.bispectrum import bispectrum
    from jaxpot.descriptors.moment_tensors import MomentTensors
    from jaxpot.linear.mtp_fit import fit_mtp
    from jaxpot.training.lbfgs import train_lbfgs
    calls = [
        lambda: train_model(bpnn(["Si"], 3.0, hidden=(4,)), ["a.xyz"]),
        lambda: train_model(bpnn(["Si"], 3.0, hidden=(4,)), frames,
                            validation_frames=["v.xyz"]),
        lambda: train_lbfgs(bpnn(["Si"], 3.0, hidden=(4,)), ["a.xyz"]),
        lambda: fit_snap(["a.xyz"], bispectrum(["Si"], 2, 2.0, radius=1.0)),
        lambda: fit_mtp(["a.xyz"], MomentTensors((14,), 8, 1.5, 4.0)),
        lambda: calibrate(small_ensemble, ["a.xyz"] * 6),
        lambda: ensemble_predict(small_ensemble, ["a.xyz"]),
    ]
    for call in calls:
        with pytest.raises(TypeError, match=r"\[0\] is str '.\.xyz'.*ase.io.read"):
            call()
    config = {"model": "bpnn", "species": ["Si"], "cutoff": 3.0, "output": "x.jaxpot",
              "train_frames": "train.extxyz"}
    with pytest.raises(TypeError, match="train_frames"):
        nn.train(config, **QUIET)
