"""Fit configs with a schema (:mod:`jaxpot.training.schema`): each kind of mistake (a misspelt
key or table, a wrong type, a value out of range, a missing key or file) is refused by
``jaxpot validate`` and by ``jaxpot fit`` in one line naming the key in the user's words and
the fix, before anything is written; ``jaxpot template MODEL`` writes every key of every
registered family with its default, and the template passes ``jaxpot validate`` (and fits,
given training files).  Reference: the schemas themselves and the families' own fits.
"""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from jaxpot.cli import main
from jaxpot.training.families import families
from jaxpot.training.schema import REQUIRED, Key, Table


def _frames(n: int, seed: int = 0) -> list:
    """Rattled diamond Si cells with made-up finite labels (the checks fail before fitting)."""
    rng, out = np.random.default_rng(seed), []
    for i in range(n):
        atoms = bulk("Si", "diamond", a=5.43 * (1 + 0.02 * rng.uniform(-1, 1)), cubic=True)
        atoms.rattle(0.05, seed=i)
        atoms.calc = SinglePointCalculator(atoms, energy=-4.3 * 8 + rng.normal(0, 0.05),
                                           forces=rng.normal(0, 0.3, (8, 3)),
                                           stress=rng.normal(0, 0.005, 6))
        out.append(atoms)
    return out


def _salt(n: int) -> list:
    """Rattled rock-salt NaCl cells with per-atom charges (``charges``) near +-0.8 e."""
    out = []
    for i in range(n):
        atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
        atoms.rattle(0.05, seed=i)
        q = np.where(atoms.numbers == 11, 0.8, -0.8) + 0.01 * np.random.default_rng(i).normal(
            size=len(atoms))
        atoms.arrays["charges"] = q - q.mean()
        out.append(atoms)
    return out


@pytest.fixture
def folder(tmp_path, monkeypatch):
    write(tmp_path / "train.extxyz", _frames(10))
    write(tmp_path / "test.extxyz", _frames(2, seed=1))
    monkeypatch.chdir(tmp_path)
    return tmp_path


NN = ('model = "bpnn"\ntrain = "train.extxyz"\noutput = "si.jaxpot"\ncutoff = 4.0\n'
      'species = ["Si"]\n')
SNAP = 'model = "snap"\ntrain = "train.extxyz"\noutput = "si.jaxpot"\n'
SNAP_TABLE = "[snap]\ntwojmax = 2\nrcutfac = 4.0\n"
GAP = 'at_file = "train.extxyz"\ngp_file = "si.jaxpot"\n'

MISTAKES = {
    "misspelt key": (NN + "[architecture]\nhiden = [8]\n",
                     "unknown key 'hiden' in [architecture] (did you mean 'hidden'?)"),
    "misspelt top-level key": (SNAP + 'tset = "test.extxyz"\n' + SNAP_TABLE,
                               "unknown key 'tset' (did you mean 'test'?)"),
    "key in the wrong table": (NN + "epochs = 3\n",
                               "unknown key 'epochs' (it belongs in [training])"),
    "misspelt table": (NN + "[trainng]\nepochs = 3\n",
                       "unknown table [trainng] (did you mean [training]?)"),
    "misspelt gap_fit table": (GAP + "[saop]\ncutoff = 4.0\n",
                               "unknown table [saop] (did you mean [soap]?)"),
    "wrong type": (NN.replace("cutoff = 4.0", 'cutoff = "4.0"'),
                   "cutoff = '4.0': expected float (write numbers without quotes)"),
    "wrong type in a table": (NN + '[training]\nbatch_size = "four"\n',
                              "[training] batch_size = 'four': expected int"),
    "wrong boolean": (SNAP + SNAP_TABLE + '[fit]\nstratify_validation = "false"\n',
                      "[fit] stratify_validation = 'false': expected bool (true or false) "
                      "(TOML's true or false, without quotes)"),
    "negative cutoff": (NN.replace("cutoff = 4.0", "cutoff = -4.0"),
                        "cutoff must be a finite number > 0, got -4.0"),
    "zero epochs": (NN + "[training]\nepochs = 0\n",
                    "[training] epochs must be an integer >= 1, got 0"),
    "negative soap cutoff": (GAP + "[soap]\ncutoff = -5.0\n",
                             "[soap] cutoff must be a finite number > 0, got -5.0"),
    "missing file": (NN.replace('"train.extxyz"', '"trian.extxyz"'),
                     "train: no such file 'trian.extxyz' (did you mean 'train.extxyz'?)"),
    "missing file, gap_fit's name": (GAP.replace("train.extxyz", "nowhere.xyz"),
                                     "at_file: no such file 'nowhere.xyz'"),
    "missing key": (NN.replace('species = ["Si"]\n', ""),
                    "species is missing: the elements the model knows (symbols), e.g. "
                    'species = ["Si"]'),
    "key that does not apply": (SNAP + 'species = ["Si"]\n' + SNAP_TABLE,
                                "species: model = 'snap' takes its species from the "
                                "training data"),
    "unknown model": ('model = "snapp"\ntrain = "train.extxyz"\n',
                      "model must be one of ['bpnn', 'charges', 'gap', 'mace', 'mtp', 'painn', "
                      "'qsnap', 'snap'], got 'snapp' (did you mean 'snap'?)"),
}


@pytest.mark.parametrize("mistake", MISTAKES)
@pytest.mark.parametrize("command", ["validate", "fit"])
def test_each_kind_of_mistake_is_named_in_the_users_words(folder, capsys, mistake, command):
    body, message = MISTAKES[mistake]
    (folder / "bad.toml").write_text(body)
    assert main([command, "bad.toml", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"jaxpot {command}: error: bad.toml: "), err
    assert message in err, err
    assert sorted(p.name for p in folder.iterdir()) == ["bad.toml", "test.extxyz",
                                                        "train.extxyz"]


def test_every_problem_of_a_config_is_named_at_once(folder, capsys):
    (folder / "bad.toml").write_text(NN.replace("cutoff = 4.0", "cutoff = 0") +
                                     "[architecture]\nactivaton = \"tanh\"\n"
                                     "[training]\nepochs = 0\nlearning_rate = \"0.1\"\n")
    assert main(["validate", "bad.toml"]) == 2
    err = capsys.readouterr().err
    assert "4 problems" in err and "did you mean 'activation'" in err
    for key in ("cutoff must be", "epochs must be", "learning_rate = '0.1'"):
        assert key in err


def test_validate_reads_the_files_and_their_labels(folder, capsys):
    unlabelled = bulk("Si", "diamond", a=5.43, cubic=True)
    write(folder / "bare.extxyz", unlabelled)
    for body, message in ((NN + 'test = "bare.extxyz"\n', r"bare.extxyz[0]: no energy"),
                          (SNAP + 'names = {energy = "dft_enrgy"}\n' + SNAP_TABLE,
                           "'dft_enrgy' matches nothing"),
                          (NN + 'output = "train.extxyz"\n', "model file")):
        (folder / "c.toml").write_text(body.replace('output = "si.jaxpot"\n', "")
                                       if "output = \"train" in body else body)
        assert main(["validate", "c.toml"]) == 2
        assert message in capsys.readouterr().err
    (folder / "c.toml").write_text(NN + 'test = "test.extxyz"\n')
    assert main(["validate", "c.toml"]) == 0
    assert "a valid bpnn config (1 train file, 1 test file" in capsys.readouterr().out
    assert not (folder / "si.jaxpot").exists()


def _keys(table: Table, path: str = ""):
    for entry in table.entries:
        if isinstance(entry, Table):
            yield from _keys(entry, f"{path}{entry.name}.")
        else:
            yield path, entry


@pytest.mark.parametrize("model", sorted(families()))
def test_template_of_every_family_has_every_key_and_passes_validate(tmp_path, monkeypatch,
                                                                     capsys, model):
    """Every key of the schema, documented, with its default (or commented out with an
    example where the fit chooses); the template is TOML and ``jaxpot validate`` accepts it
    once its training file exists."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "train.extxyz", _salt(6) if model == "charges" else _frames(6))
    assert main(["template", model, "--output", f"{model}.toml"]) == 0
    text = (tmp_path / f"{model}.toml").read_text()
    config = tomllib.loads(text)
    assert config["model"] == model
    schema = families()[model].config_schema()
    for path, key in _keys(schema):
        assert isinstance(key, Key) and key.doc, f"{path}{key.name} has no doc"
        assert f"\n{key.name} = " in text or f"\n# {key.name} = " in text, key.name
        if key.default is not None and key.default is not REQUIRED:
            table = config
            for part in filter(None, path.split(".")):
                table = table[part]
            assert table[key.name] == key.default, (path, key.name)
    assert main(["validate", f"{model}.toml"]) == 0, capsys.readouterr().err
    assert f"a valid {model} config" in capsys.readouterr().out
    assert main(["template", model, "--output", f"{model}.toml"]) == 2  # never overwritten
    assert "exists" in capsys.readouterr().err


def test_a_template_given_training_files_fits(folder, capsys):
    """The SNAP template as written (twojmax 6, rcutfac 4.9, the [fit] grid), fitted."""
    assert main(["template", "snap", "--output", "snap.toml"]) == 0
    assert main(["fit", "snap.toml", "--quiet"]) == 0
    for name in ("snap.jaxpot", "snap.snapcoeff", "snap_report/errors.json"):
        assert (folder / name).exists(), name


def test_template_lists_families_and_refuses_an_unknown_one(capsys):
    assert main(["template"]) == 0
    listed = capsys.readouterr().out.split("\n")
    assert {line.split()[0] for line in listed if line} >= {"gap", "snap", "qsnap", "mtp",
                                                            "bpnn", "painn", "mace", "charges"}
    assert main(["template", "schnet"]) == 2
    assert "model must be one of" in capsys.readouterr().err
