"""The registry of trainable families (:mod:`jaxpot.training.families`) and ``jaxpot fit`` for
every family.

A Morse pair potential fitted to Stillinger-Weber forces is defined only in this file: it
registers itself and ``jaxpot fit config.toml`` fits it, with no file outside tests/ knowing it
(the package's sources never name it).  Reference for its fit: the starting model's own errors
(the fit must lower them) and the SW labels.  The jaxpot families are all registered from their
own folders; a GAP config in the shared names fits the model its gap_fit-named twin fits, bit
for bit; ``jaxpot train`` is ``jaxpot fit``; the charge family fits charges from frames.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write

import jaxpot
from jaxpot.cli import main
from jaxpot.training.config import ConfigError
from jaxpot.training.families import Family, families, family, register_family, unregister_family
from jaxpot.training.keys import root
from jaxpot.training.schema import Key, Table
from jaxpot.training.values import integer_rule, number_rule

PACKAGE = Path(__file__).resolve().parents[1] / "jaxpot"
NAME = "test_morse_pair"
SWITCH = dict(rcut1=1.3, rcut2=1.75)  # in units of r0: Si's second neighbours in the switch


# ------------------------------------------------------------- a family defined only here
def _schema() -> Table:
    start = Table("morse", "the starting parameters", (
        Key("epsilon", ("float",), 0.5, "well depth", "eV", number_rule(low=0.0, low_open=True)),
        Key("r0", ("float",), 2.35, "equilibrium distance", "Å",
            number_rule(low=0.0, low_open=True)),
        Key("rho0", ("float",), 5.0, "stiffness", "", number_rule(low=0.0, low_open=True))))
    training = Table("training", "Adam on the weighted energy and force loss", (
        Key("steps", ("int",), 40, "Adam steps", "", integer_rule(1)),
        Key("learning_rate", ("float",), 0.02, "Adam's learning rate", "",
            number_rule(low=0.0, low_open=True))))
    return root(NAME, "a Morse pair potential fitted by Adam to energies and forces", start,
                training, validation=None, refused={"species": "any element: one pair"})


def _fit(config, *, progress=True, echo=lambda *_: None):
    """Adam on the shared layer's loss of padded buckets; the model and report written."""
    import jax
    import optax

    from jaxpot.evaluation import error_report
    from jaxpot.potentials import morse
    from jaxpot.training.dataset import build_dataset
    from jaxpot.training.fitting import check_labelled, check_outputs, input_files
    from jaxpot.training.labels import read_labels_checked
    from jaxpot.training.loss import batch_loss
    from jaxpot.training.weights import LossWeights
    check_outputs(config)
    sets = check_labelled(config)
    files = input_files(config)
    frames = [a for p in files["train"] for a in sets[p]]
    start = {"epsilon": 0.5, "r0": 2.35, "rho0": 5.0, **config.get("morse", {})}
    train = {"steps": 40, "learning_rate": 0.02, **config.get("training", {})}
    model = morse(**start, **SWITCH)
    data = build_dataset(model, frames, read_labels_checked(frames, config.get("names")))
    sigmas = LossWeights(energy=0.01, forces=0.1, stress=float("inf"))

    def loss(params):
        return sum(batch_loss(model.replace(params=params), b.batch, b.targets,
                              np.ones(len(b.frames)), sigmas)[0] for b in data.buckets)

    optimizer = optax.adam(train["learning_rate"])

    @jax.jit
    def step(params, state):
        value, grad = jax.value_and_grad(loss)(params)
        updates, state = optimizer.update(grad, state, params)
        return optax.apply_updates(params, updates), state, value

    params, state, history = model.params, optimizer.init(model.params), []
    for _ in range(train["steps"]):
        params, state, value = step(params, state)
        history.append(float(value))
    fitted = morse(**{k: float(params[k][0, 0]) for k in ("epsilon", "r0", "rho0")}, **SWITCH)
    jaxpot.save(fitted, config["output"])
    os.makedirs(config["report"], exist_ok=True)
    tests = {os.path.basename(p): sets[p] for p in files["test"]}
    error_report(fitted, {"train": frames, **tests}, config["report"])
    echo(f"{NAME}: loss {history[0]:.4g} -> {history[-1]:.4g}")
    return SimpleNamespace(model=fitted, history=history)


@pytest.fixture
def morse_family():
    fam = register_family(Family(NAME, "a Morse pair potential (tests only)", _schema, _fit))
    yield fam
    unregister_family(NAME)


def sw_frames(n: int, seed: int = 0) -> list:
    """Rattled, strained 8-atom diamond Si cells labelled by Stillinger-Weber."""
    from jaxpot.potentials import stillinger_weber
    sw, rng, out = stillinger_weber(), np.random.default_rng(seed), []
    for i in range(n):
        atoms = bulk("Si", "diamond", a=5.43 * (1 + 0.03 * rng.uniform(-1, 1)), cubic=True)
        atoms.rattle(0.1, seed=seed * 1000 + i)
        atoms.calc = jaxpot.JaxpotCalculator(sw)
        e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        atoms.calc = SinglePointCalculator(atoms, energy=e, forces=f, stress=s)
        out.append(atoms)
    return out


@pytest.fixture(scope="module")
def labelled():
    return sw_frames(10)


@pytest.fixture
def folder(tmp_path, labelled, monkeypatch):
    write(tmp_path / "train.extxyz", labelled[:8])
    write(tmp_path / "test.extxyz", labelled[8:])
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_family_defined_in_a_test_is_fitted_from_toml_by_jaxpot_fit(morse_family, folder,
                                                                       capsys):
    """Registered here, fitted by ``jaxpot fit config.toml``: model, report; the fit lowers
    the starting model's energy error on the SW-labelled frames (a pair potential cannot fit
    SW's forces well: the loss weighs energies first); no jaxpot source names it."""
    from jaxpot.evaluation import evaluate
    from jaxpot.potentials import morse
    (folder / "config.toml").write_text(
        f'model = "{NAME}"\ntrain = ["train.extxyz"]\ntest = ["test.extxyz"]\n'
        'output = "pair.jaxpot"\n[training]\nsteps = 60\n')
    assert main(["fit", "config.toml"]) == 0  # (with --quiet: warnings only, no result line)
    assert f"{NAME}: loss" in capsys.readouterr().out
    fitted = jaxpot.load("pair.jaxpot")
    errors = json.loads((folder / "pair_report" / "errors.json").read_text())
    assert set(errors) == {"train", "test.extxyz"}
    frames = read("train.extxyz", ":")
    before = evaluate(morse(epsilon=0.5, r0=2.35, rho0=5.0, **SWITCH), frames).overall
    after = evaluate(fitted, frames).overall
    assert after.energy_rmse < 0.5 * before.energy_rmse, (before, after)
    sources = [p for p in PACKAGE.rglob("*.py") if NAME in p.read_text(encoding="utf-8")]
    assert not sources, f"jaxpot's own files name the test family: {sources}"


def test_the_test_family_is_checked_templated_and_listed_like_any_other(morse_family, folder,
                                                                          capsys):
    assert main(["template", NAME, "--output", "t.toml"]) == 0
    assert main(["validate", "t.toml"]) == 0
    assert main(["template"]) == 0
    listed = capsys.readouterr().out
    assert NAME in listed and "gap" in listed and "charges" in listed
    (folder / "bad.toml").write_text(f'model = "{NAME}"\ntrain = "train.extxyz"\n'
                                     '[trainig]\nsteps = 0\n')
    assert main(["fit", "bad.toml"]) == 2
    assert "unknown table [trainig] (did you mean [training]?)" in capsys.readouterr().err
    assert main(["fit", "t.toml", "--float32"]) == 2  # a float64-only family
    assert "--float32" in capsys.readouterr().err
    assert not (folder / "t.jaxpot").exists()


def test_registering_and_looking_up_families(morse_family):
    names = set(families())
    assert {"gap", "snap", "qsnap", "mtp", "bpnn", "painn", "mace", "charges", NAME} <= names
    assert family(NAME) is morse_family
    register_family(morse_family)  # the same family again: nothing changes
    with pytest.raises(ValueError, match="registered already"):
        register_family(Family(NAME, "another", _schema, _fit))
    with pytest.raises(ConfigError, match=r"model must be one of .*did you mean 'mace'"):
        family("macе")  # a Cyrillic e
    unregister_family(NAME)
    with pytest.raises(ConfigError, match="model must be one of"):
        family(NAME)
    for name, fam in families().items():
        assert fam.name == name and fam.doc and fam.config_schema().keys()["model"]


# ----------------------------------------------------------------- one command, every family
SOAP = "[soap]\ncutoff = 4.0\nn_max = 3\nl_max = 2\nn_sparse = 10\n"


def test_a_gap_config_in_the_shared_names_fits_its_gap_fit_named_twin(folder):
    """``at_file``/``gp_file``/``rnd_seed``/``*_parameter_name`` and ``train``/``output``/
    ``seed``/``[names]`` are the same settings: the two model files are bit-identical."""
    (folder / "old.toml").write_text(
        'at_file = "train.extxyz"\ngp_file = "old.jaxpot"\nrnd_seed = 3\n'
        'Default_Sigma = [0.005, 0.1, 0.05, 0.0]\nforce_parameter_name = "forces"\n' + SOAP)
    (folder / "new.toml").write_text(
        'model = "gap"\ntrain = "train.extxyz"\noutput = "new.jaxpot"\nseed = 3\n'
        'default_sigma = [0.005, 0.1, 0.05, 0.0]\n[names]\nforces = "forces"\n' + SOAP)
    for name in ("old", "new"):
        assert main(["validate", f"{name}.toml"]) == 0
        assert main(["fit", f"{name}.toml", "--quiet", "--test", "test.extxyz"]) == 0
    assert (folder / "old.jaxpot").read_bytes() == (folder / "new.jaxpot").read_bytes()
    assert set(json.loads((folder / "new_report" / "errors.json").read_text())) == {
        "train", "test.extxyz"}


def test_jaxpot_train_is_jaxpot_fit_and_needs_a_config(morse_family, folder, capsys):
    (folder / "c.toml").write_text(f'model = "{NAME}"\ntrain = "train.extxyz"\n'
                                   '[training]\nsteps = 2\n')
    assert main(["train", "c.toml", "--quiet", "--output", "via_train.jaxpot"]) == 0
    assert (folder / "via_train.jaxpot").exists() and (folder / "via_train_report").is_dir()
    capsys.readouterr()
    assert main(["train"]) == 2  # no config: one line, not the main job
    assert "jaxpot train needs a CONFIG.toml" in capsys.readouterr().err


def test_charges_are_fitted_from_frames_by_jaxpot_fit(tmp_path, monkeypatch):
    """``model = "charges"``: environment charges fitted to n2p2's Hirshfeld charges of
    RPBE-D3 water, written as their Ewald model; the report's charge errors are below the
    labels' spread."""
    data = Path(__file__).resolve().parents[2] / "shared" / "data"
    frames = read(data / "water_rpbe_d3_n2p2_example.extxyz", ":5")
    write(tmp_path / "train.extxyz", frames[:4])
    write(tmp_path / "test.extxyz", frames[4:])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "q.toml").write_text(
        'model = "charges"\ntrain = "train.extxyz"\ntest = "test.extxyz"\nspecies = ["H", "O"]\n'
        'cutoff = 4.0\nnames = {charges = "n2p2_charge"}\n[architecture]\nhidden = [8]\n'
        '[training]\nsteps = 100\nlearning_rate = 0.01\n[energy]\naccuracy = 1e-5\n')
    assert main(["validate", "q.toml"]) == 0
    assert main(["fit", "q.toml", "--quiet"]) == 0
    model = jaxpot.load("q.jaxpot")
    assert json.loads(model.spec)["kind"] == "ewald"
    errors = json.loads((tmp_path / "q_report" / "errors.json").read_text())
    spread = np.std(np.concatenate([a.arrays["n2p2_charge"] for a in frames[4:]]))
    assert 0 < errors["test.extxyz"]["rmse_e"] < 0.5 * spread
