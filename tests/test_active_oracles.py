"""Oracles of active learning (issue 72) on tiny EMT Cu cells (as tests/test_active.py sizes
them, smaller budgets): ``label_batch`` with ``workers=2`` labels in spawned processes and
gives the frames one worker gives, bit for bit, failures in a worker included; an oracle that
cannot be pickled is labelled serially with a log line; a killed run resumed from its workdir
reports the same sigma and error at selection as an uninterrupted one, the error being the
selecting model's (checked by refitting it); ``jaxpot learn`` runs a ``"module:callable"``
oracle found in the config's folder (labelling in two worker processes) and a LAMMPS
``lj/cut`` oracle through ASE's LAMMPSlib, whose labels equal an independent Lennard-Jones
reference to 1e-8.  (Serial failing oracles in a whole run: tests/test_active.py.)
"""

import concurrent.futures
import json
import logging
import os
import subprocess
import sys

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from ase.neighborlist import neighbor_list

import jaxpot
from jaxpot import active
from jaxpot.active.oracle import label_batch
from jaxpot.active.store import read_call
from jaxpot.testing import labelled_by

MODEL = {"model": "gap", "soap": {"cutoff": 4.0, "n_max": 4, "l_max": 3, "n_sparse": 30},
         "distance_2b": {"cutoff": 4.0, "n_sparse": 10}}
EXPLORE = {"temperatures": [1200], "steps": 100, "timestep": 2.0, "replicas": 2}
LJ = {"epsilon": 0.4, "sigma": 2.3, "rc": 5.0}  # eV, Å, Å: LAMMPS lj/cut 5.0, * * 0.4 2.3


def _cells(seeds, amount=0.05):
    out = []
    for k in seeds:
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 1, 1))
        atoms.rattle(amount, seed=k)
        out.append(atoms)
    return out


class FlakyEMT(EMT):
    """EMT that raises for a structure whose atom 0 has x > 0.5 Å and returns NaN forces for
    one with x < -0.5 Å (decided by the structure: the same in any process)."""

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        x = atoms.positions[0, 0]
        if x > 0.5:
            raise RuntimeError("oracle down")
        super().calculate(atoms, properties, system_changes or ["positions"])
        if x < -0.5:
            self.results["forces"] = np.full_like(self.results["forces"], np.nan)


class UnpicklableEMT(EMT):
    def __init__(self):
        super().__init__()
        self.hook = lambda: None  # a lambda cannot be pickled


class Pools:
    """Records the process pools label_batch opens (replaces ProcessPoolExecutor)."""

    def __init__(self, monkeypatch):
        self.workers = []
        real = concurrent.futures.ProcessPoolExecutor
        record = self.workers

        class Spy(real):
            def __init__(self, max_workers=None, **kwargs):
                record.append(max_workers)
                super().__init__(max_workers, **kwargs)

        monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Spy)


def _label(batch, oracle, workers):
    got = {}
    label_batch(batch, oracle, lambda i, atoms, error: got.__setitem__(i, (atoms, error)),
                workers)
    assert sorted(got) == list(range(len(batch)))
    return [got[i] for i in range(len(batch))]


def _same_frames(a, b):
    assert (a is None) == (b is None)
    if a is None:
        return
    np.testing.assert_array_equal(a.positions, b.positions)
    np.testing.assert_array_equal(a.numbers, b.numbers)
    for key in ("energy", "forces", "stress"):
        np.testing.assert_array_equal(a.calc.results[key], b.calc.results[key])


def test_two_workers_label_like_one_failures_included(monkeypatch):
    batch = _cells(range(4))
    batch[1].positions[0, 0] = 0.6   # FlakyEMT raises
    batch[2].positions[0, 0] = -0.6  # FlakyEMT returns NaN forces
    pools = Pools(monkeypatch)
    serial = _label(batch, FlakyEMT(), workers=1)
    assert pools.workers == []
    parallel = _label(batch, FlakyEMT(), workers=2)
    assert pools.workers == [2]  # a pool of two spawned processes labelled the batch
    for (a, err_a), (b, err_b) in zip(serial, parallel):
        _same_frames(a, b)
        assert err_a == err_b
    assert [err for _, err in parallel] == [
        None, "RuntimeError: oracle down", "OracleError: the oracle returned non-finite forces",
        None]
    for k in (0, 3):  # the labels are a fresh EMT's (each call resets the oracle)
        ref = labelled_by(batch[k], EMT())
        np.testing.assert_array_equal(parallel[k][0].get_forces(), ref.get_forces())
        assert parallel[k][0].get_potential_energy() == ref.get_potential_energy()


def test_an_unpicklable_oracle_is_labelled_serially(monkeypatch, caplog):
    batch = _cells(range(3))
    pools = Pools(monkeypatch)
    with caplog.at_level(logging.INFO, logger="jaxpot.active.oracle"):
        got = _label(batch, UnpicklableEMT(), workers=2)
    assert pools.workers == []
    assert "the oracle cannot be pickled; labelling serially" in caplog.text
    for (a, err), (b, _) in zip(got, _label(batch, EMT(), workers=1)):
        assert err is None
        _same_frames(a, b)


class KilledEMT(EMT):
    """EMT whose ``kill_at``-th calculation (1-based) raises KeyboardInterrupt."""

    def __init__(self, kill_at=None):
        super().__init__()
        self.kill_at, self.attempts = kill_at, 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        self.attempts += 1
        if self.attempts == self.kill_at:
            raise KeyboardInterrupt("simulated kill")
        super().calculate(atoms, properties, system_changes or ["positions"])


def test_resumed_run_reports_the_same_sigma_and_error_at_selection(tmp_path):
    initial = [labelled_by(a, EMT()) for a in _cells(range(4))]
    kwargs = {"model": MODEL, "explore": active.md(**EXPLORE), "budget": 3, "seed": 0}
    whole = active.learn(initial, EMT(), workdir=tmp_path / "whole", **kwargs)
    rows = [r for r in whole.history if "batch" in r]
    assert rows and rows[0]["batch"] >= 2, whole.history  # the kill falls inside round 0
    for row in rows:
        assert len(row["selected_sigma"]) == len(row["selected_error"]) == row["batch"]
        assert all(s > row["threshold"] for s in row["selected_sigma"])  # why MD stopped
        assert all(e is not None and e > 0 for e in row["selected_error"])
    with pytest.raises(KeyboardInterrupt):
        active.learn(initial, KilledEMT(kill_at=2), workdir=tmp_path / "killed", **kwargs)
    resumed = active.learn(initial, EMT(), workdir=tmp_path / "killed", **kwargs)
    assert resumed.oracle_calls == whole.oracle_calls
    for a, b in zip(whole.history, resumed.history):
        assert a.get("selected_sigma") == b.get("selected_sigma")
        assert a.get("selected_error") == b.get("selected_error")
    # round 0's structures were chosen by the fit on the initial frames: its error
    from jaxpot.active.models import model_config
    from jaxpot.active.monitor import update
    first = update(model_config(MODEL), initial, 0).fitted.model
    chosen = whole.frames[len(initial):len(initial) + rows[0]["batch"]]
    pred = jaxpot.predict(first, chosen, progress=False)
    want = [float(np.sqrt(np.mean((p - a.get_forces()) ** 2))) for p, a in
            zip(pred.forces, chosen)]
    np.testing.assert_allclose(rows[0]["selected_error"], want, rtol=1e-10)


def _jaxpot(args, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    return subprocess.run([sys.executable, "-m", "jaxpot.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def _config(oracle_lines):
    return "\n".join([
        "[learn]", 'frames = "initial.extxyz"', *oracle_lines, "budget = 2", 'workdir = "run"',
        "seed = 0", "", "[learn.model]", 'model = "gap"',
        "soap = { cutoff = 4.0, n_max = 4, l_max = 3, n_sparse = 30 }",
        "distance_2b = { cutoff = 4.0, n_sparse = 10 }", "", "[explore]",
        *(f"{k} = {json.dumps(v)}" for k, v in EXPLORE.items()), ""])


def _learn(folder, oracle_lines, initial, cwd):
    ase.io.write(folder / "initial.extxyz", initial)
    (folder / "al.toml").write_text(_config(oracle_lines))
    done = _jaxpot(["learn", os.path.relpath(folder / "al.toml", cwd), "--quiet"], cwd)
    assert done.returncode == 0, done.stderr
    history = json.loads((folder / "run" / "history.json").read_text())
    assert history["oracle_calls"] >= 1 and not history["failures"], history
    labelled = ase.io.read(folder / "run" / "labelled.extxyz", ":")
    assert len(labelled) == len(initial) + history["oracle_calls"]
    # the exact labels are the call records; labelled.extxyz has them to 8 decimals
    calls = [read_call(str(folder / "run"), i) for i in range(history["oracle_calls"])]
    for got, want in zip(labelled[len(initial):], (r.atoms for r in calls)):
        np.testing.assert_allclose(got.positions, want.positions, rtol=0, atol=1e-8)
        np.testing.assert_allclose(got.get_forces(), want.get_forces(), rtol=0, atol=1e-8)
        assert got.get_potential_energy() == want.get_potential_energy()
    return [r.atoms for r in calls], history


MODULE = '''
from ase.calculators.emt import EMT


class OwnEMT(EMT):
    """A class of this module: spawned workers must import it to unpickle the oracle."""


def make():
    return OwnEMT()
'''


def test_learn_with_a_module_oracle_from_the_config_folder(tmp_path):
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "own_oracle.py").write_text(MODULE)
    initial = [labelled_by(a, EMT()) for a in _cells(range(4))]
    # run from another folder: the module is found in the config's; two workers import it
    calls, history = _learn(folder, ['oracle = "own_oracle:make"', "workers = 2"], initial,
                            tmp_path)
    for atoms in calls:
        ref = labelled_by(atoms, EMT())
        np.testing.assert_allclose(atoms.get_forces(), ref.get_forces(), rtol=0, atol=1e-8)
        assert abs(atoms.get_potential_energy() - ref.get_potential_energy()) < 1e-8
    rows = [r for r in history["history"] if "batch" in r]
    assert sum(len(r["selected_error"]) for r in rows) == len(calls)


def _lennard_jones(atoms):
    """Independent reference: forces and stress from ASE's LennardJones (its energy shifted to
    zero at rc), the energy unshifted as LAMMPS's lj/cut has it, from the pair distances."""
    eps, sig, rc = LJ["epsilon"], LJ["sigma"], LJ["rc"]
    out = labelled_by(atoms, LennardJones(epsilon=eps, sigma=sig, rc=rc, smooth=False))
    d = neighbor_list("d", atoms, rc)
    energy = 0.5 * float(np.sum(4 * eps * ((sig / d) ** 12 - (sig / d) ** 6)))
    out.calc.results["energy"] = energy
    return out


def test_learn_with_a_lammps_lj_oracle(tmp_path):
    initial = [_lennard_jones(a) for a in _cells(range(4))]
    calls, _ = _learn(tmp_path, ['oracle = "lammps"', 'pair_style = "lj/cut 5.0"',
                                 'pair_coeff = "* * 0.4 2.3"'], initial, tmp_path)
    for atoms in calls:
        ref = _lennard_jones(atoms)
        np.testing.assert_allclose(atoms.get_forces(), ref.get_forces(), rtol=0, atol=1e-8)
        np.testing.assert_allclose(atoms.get_stress(), ref.get_stress(), rtol=0, atol=1e-8)
        assert abs(atoms.get_potential_energy() - ref.get_potential_energy()) < 1e-8
