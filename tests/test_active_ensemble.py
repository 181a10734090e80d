"""Active learning with a BPNN ensemble: after the first update each fit starts from the last
update's members (a warm start, train_model(start_from=...)), and a killed run resumes to the
same model without repeating an oracle call.

References: ASE's EMT labels the frames; the warm start's first-epoch loss is compared with a
cold start's on the same frames (it starts where the last fit ended, so it must be lower).
"""

from __future__ import annotations

import os

import jax
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

import jaxpot
from jaxpot import active
from jaxpot.nn import TrainSettings, bpnn, train_model
from jaxpot.testing import labelled_by

jax.config.update("jax_enable_x64", True)

MODEL = {"model": "ensemble", "size": 2, "hidden": [8], "cutoff": 4.0, "epochs": 15}
EXPLORE = active.md(temperatures=[900], steps=60, replicas=2, log_interval=10, min_steps=0)
BUDGET = 3


def _labelled(atoms):
    return labelled_by(atoms, EMT(), stress=False)


@pytest.fixture(scope="module")
def initial():
    out = []
    for k in range(10):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 1, 1))
        atoms.rattle(0.05 + 0.01 * k, seed=k)
        out.append(_labelled(atoms))
    return out


class Counting(EMT):
    """EMT recording each completed call's positions; raises KeyboardInterrupt at call
    ``kill`` (1-based)."""

    def __init__(self, kill=None):
        super().__init__()
        self.kill, self.attempts, self.done = kill, 0, []

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        self.attempts += 1
        if self.attempts == self.kill:
            raise KeyboardInterrupt("simulated kill")
        super().calculate(atoms, properties, system_changes or ["positions"])
        self.done.append(np.array(atoms.positions))


def test_train_model_starts_from_a_trained_ensemble(initial):
    """start_from: the first epoch's loss is lower than a cold start's; a mismatched
    architecture or member count is refused."""
    settings = TrainSettings(ensemble_size=2, epochs=10, seed=0)
    model = bpnn([29], 4.0, hidden=(8,), seed=0)
    cold = train_model(model, initial[:5], settings=settings, validation_frames=initial[5:],
                       progress=False)
    warm = train_model(model, initial[:5], settings=settings, validation_frames=initial[5:],
                       progress=False, start_from=cold.model)
    assert warm.history[0]["train_loss"] < cold.history[0]["train_loss"]
    with pytest.raises(ValueError, match="specs differ"):
        train_model(bpnn([29], 4.0, hidden=(6,), seed=0), initial[:5], settings=settings,
                    validation_frames=initial[5:], progress=False, start_from=cold.model)
    with pytest.raises(ValueError, match="ensemble_size=3"):
        train_model(model, initial[:5], settings=settings._replace(ensemble_size=3),
                    validation_frames=initial[5:], progress=False, start_from=cold.model)


def test_ensemble_run_warm_starts_and_resumes_bit_identically(initial, tmp_path):
    oracle = Counting()
    run = active.learn(initial, oracle, model=MODEL, explore=EXPLORE, budget=BUDGET,
                       workdir=tmp_path / "ref", seed=0)
    assert run.oracle_calls == len(oracle.done) <= BUDGET and run.oracle_calls >= 2
    assert run.history[0]["fit"] == "fresh"
    assert all(r["fit"] == "warm" for r in run.history[1:]) and len(run.history) > 1
    assert os.path.exists(tmp_path / "ref" / "fits" / "ensemble_001.jaxpot")
    assert run.model.kind == "ensemble"
    first = Counting(kill=2)
    with pytest.raises(KeyboardInterrupt):
        active.learn(initial, first, model=MODEL, explore=EXPLORE, budget=BUDGET,
                     workdir=tmp_path / "killed", seed=0)
    second = Counting()
    resumed = active.learn(initial, second, model=MODEL, explore=EXPLORE, budget=BUDGET,
                           workdir=tmp_path / "killed", seed=0)
    calls = first.done + second.done
    assert len(calls) == len(oracle.done) == resumed.oracle_calls
    for got, want in zip(calls, oracle.done):
        np.testing.assert_array_equal(got, want)
    p0 = jaxpot.predict(run.model, initial[:3], progress=False)
    p1 = jaxpot.predict(resumed.model, initial[:3], progress=False)
    np.testing.assert_array_equal(p0.energy, p1.energy)
    np.testing.assert_array_equal(np.stack(p0.forces), np.stack(p1.forces))


def test_an_ensemble_can_watch_md_by_its_own_spread(initial, tmp_path):
    """monitor="own": the ensemble's spread (a JAX function) stops MD; the run labels what
    it stopped at, calibrated on the carve."""
    run = active.learn(initial, Counting(), model=MODEL, explore=EXPLORE, budget=2,
                       workdir=tmp_path / "own", seed=0, monitor="own")
    row = run.history[0]
    assert "own uncertainty" in row["calibration"] and row["force_factor"] > 0
    assert run.oracle_calls == row["batch"] >= 1
    assert all(s > row["threshold"] for s in row["selected_sigma"])
