"""``jaxpot learn CONFIG.toml`` (issue 72) on a tiny EMT Cu case (as tests/test_active.py sizes
it, smaller budget): the command run as a subprocess writes the model, the labelled frames,
the history (with the force sigma and the true error of each labelled frame at its
selection) and the report plots, and its model predicts bit-identically to active.learn in
Python with the same settings; mistakes are refused in one line with exit status 2."""

import json
import os
import subprocess
import sys

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

import jaxpot
from jaxpot import active
from jaxpot.commands.learn import at_selection
from jaxpot.testing import labelled_by

MODEL = {"model": "gap", "soap": {"cutoff": 4.0, "n_max": 4, "l_max": 3, "n_sparse": 30},
         "distance_2b": {"cutoff": 4.0, "n_sparse": 10}}
EXPLORE = {"temperatures": [300, 1200], "steps": 150, "timestep": 2.0, "replicas": 2}
BUDGET = 4

CONFIG = f"""
[learn]
frames = "initial.extxyz"
oracle = "emt"
budget = {BUDGET}
workdir = "run"
seed = 0
validation = "held.extxyz"

[learn.model]
model = "gap"
soap = {{ cutoff = 4.0, n_max = 4, l_max = 3, n_sparse = 30 }}
distance_2b = {{ cutoff = 4.0, n_sparse = 10 }}

[explore]
temperatures = [300, 1200]
steps = 150
timestep = 2.0
replicas = 2
"""


def _labelled(atoms):
    return labelled_by(atoms, EMT())


def _frames(seeds, amount=0.05):
    out = []
    for k in seeds:
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 1, 1))
        atoms.rattle(amount, seed=k)
        out.append(_labelled(atoms))
    return out


def _jaxpot(args, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    return subprocess.run([sys.executable, "-m", "jaxpot.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("learn")
    ase.io.write(path / "initial.extxyz", _frames(range(4)))
    ase.io.write(path / "held.extxyz", _frames(range(10, 13), 0.15))
    (path / "al.toml").write_text(CONFIG)
    return path


def test_learn_writes_the_run_and_matches_active_learn(folder, tmp_path):
    done = _jaxpot(["learn", "al.toml", "--quiet"], folder)
    assert done.returncode == 0, done.stderr
    run = folder / "run"
    for name in ("model.jaxpot", "labelled.extxyz", "history.json", "report/sigma_vs_error.png",
                 "report/sigma_vs_error_final.png", "report/validation_error.png",
                 "report/oracle_calls_vs_md_time.png"):
        assert (run / name).is_file(), name
    history = json.loads((run / "history.json").read_text())
    assert 1 <= history["oracle_calls"] <= BUDGET and history["history"]
    assert "validation_force_rmse" in history["history"][0]
    # sigma and true error at selection, per labelled call, for the plot
    rows = [r for r in history["history"] if "batch" in r]
    for row in rows:
        assert len(row["selected_sigma"]) == len(row["selected_error"]) == row["batch"]
    sigma, error, rounds = at_selection(history["history"])
    assert len(sigma) == len(error) == len(rounds) == history["oracle_calls"] - len(
        history["failures"])
    assert np.all(error > 0) and np.all(sigma > 0)
    labelled = ase.io.read(run / "labelled.extxyz", ":")
    assert len(labelled) == 4 + history["oracle_calls"] - len(history["failures"])

    initial = ase.io.read(folder / "initial.extxyz", ":")
    held = ase.io.read(folder / "held.extxyz", ":")
    ref = active.learn(initial, EMT(), model=MODEL, explore=active.md(**EXPLORE),
                       budget=BUDGET, workdir=tmp_path / "run", seed=0, validation=held)
    assert ref.status == history["status"]
    cli_model = jaxpot.load(run / "model.jaxpot")
    p0 = jaxpot.predict(ref.model, held, progress=False)
    p1 = jaxpot.predict(cli_model, held, progress=False)
    np.testing.assert_array_equal(p0.energy, p1.energy)
    for f0, f1 in zip(p0.forces, p1.forces):
        np.testing.assert_array_equal(f0, f1)


@pytest.mark.parametrize("edit, message", [
    (("budget = 4", "budgte = 4"), "unknown keys ['budgte']; did you mean 'budget'?"),
    (('oracle = "emt"', 'oracle = "emtt"'), "unknown oracle 'emtt'; did you mean 'emt'?"),
    (('frames = "initial.extxyz"', 'frames = "missing.extxyz"'), "no such file"),
])
def test_mistakes_are_refused_in_one_line(folder, edit, message):
    (folder / "bad.toml").write_text(CONFIG.replace(*edit))
    done = _jaxpot(["learn", "bad.toml"], folder)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert lines[0].startswith("jaxpot learn: error:")
