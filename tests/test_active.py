"""Active learning (issue 72): jaxpot.active.learn with an EMT oracle on 8-atom fcc Cu.

Set-up: four rattled (0.05 Å) 2x1x1 cubic Cu cells labelled by ASE's EMT; a GAP with tiny
SOAP (cutoff 4 Å, n_max 4, l_max 3, 30 sparse points) and distance_2b (4 Å, 10 points);
exploration: Langevin at 300 and 1200 K, 300 steps of 2 fs, 3 replicas a round, log (and
uncertainty check) every 10 steps.  Held-out frames: every 25th step of a 1000-step EMT
Langevin run at 900 K (ASE), not seen by the loop.

What is checked: the run ends within its budget and its frames are the initial ones then
the oracle's answers in call order, the history rows add up; the final model's force RMSE
on the held-out frames is below the initial model's; a run killed inside an oracle call and
resumed from its workdir makes the same oracle calls (none twice) and ends with a model whose
predictions equal an uninterrupted run's bit for bit; an oracle that raises or returns NaN on
every third call is recorded and skipped; after the first round most MD steps end in no
oracle call; replicas whose stop structures have atoms too close are restarted and never
labelled; a workdir of another run is refused.  The numbers are logged (pytest -s shows
them with --log-cli-level=INFO).
"""

import logging

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.md.langevin import Langevin

import jaxpot
from jaxpot import active
from jaxpot.testing import labelled_by

_log = logging.getLogger(__name__)

MODEL = {"model": "gap", "soap": {"cutoff": 4.0, "n_max": 4, "l_max": 3, "n_sparse": 30},
         "distance_2b": {"cutoff": 4.0, "n_sparse": 10}}
EXPLORE = active.md(temperatures=[300, 1200], steps=300, timestep=2.0, replicas=3)
BUDGET = 9


def _labelled(atoms):
    return labelled_by(atoms, EMT())


def _cell():
    return bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 1, 1))


@pytest.fixture(scope="module")
def initial():
    out = []
    for k in range(4):
        atoms = _cell()
        atoms.rattle(0.05, seed=k)
        out.append(_labelled(atoms))
    return out


@pytest.fixture(scope="module")
def held_out():
    atoms = _cell()
    kt = 900 * units.kB
    masses = atoms.get_masses()[:, None]
    atoms.set_momenta(np.sqrt(masses * kt) * np.random.default_rng(5).normal(size=(8, 3)))
    atoms.calc = EMT()
    dyn = Langevin(atoms, 2.0 * units.fs, temperature_K=900, friction=0.02, fixcm=False,
                   rng=np.random.default_rng(6))
    frames = []
    for _ in range(8):
        dyn.run(125)
        frames.append(_labelled(atoms))
    return frames


class CountingEMT(EMT):
    """EMT that records each completed calculation's positions; ``fail`` maps a call number
    (1-based) to "raise", "nan" or "interrupt"."""

    def __init__(self, fail=None):
        super().__init__()
        self.fail, self.attempts, self.done = dict(fail or {}), 0, []

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        self.attempts += 1
        what = self.fail.get(self.attempts)
        if what == "interrupt":
            raise KeyboardInterrupt("simulated kill")
        if what == "raise":
            raise RuntimeError("oracle down")
        super().calculate(atoms, properties, system_changes or ["positions"])
        if what == "nan":
            self.results["forces"] = np.full_like(self.results["forces"], np.nan)
        self.done.append(np.array(atoms.positions))


@pytest.fixture(scope="module")
def reference(initial, held_out, tmp_path_factory):
    oracle = CountingEMT()
    run = active.learn(initial, oracle, model=MODEL, explore=EXPLORE, budget=BUDGET,
                       workdir=tmp_path_factory.mktemp("al") / "run", seed=0,
                       validation=held_out)
    return run, oracle


def _positions(frames):
    return [np.asarray(a.positions) for a in frames]


def test_run_ends_within_budget_and_history_adds_up(reference, initial):
    run, oracle = reference
    assert run.oracle_calls <= BUDGET and len(oracle.done) == run.oracle_calls
    assert not run.failures
    # frames: the initial ones, then each oracle call in call order
    assert len(run.frames) == len(initial) + run.oracle_calls
    for got, want in zip(_positions(run.frames), _positions(initial) + oracle.done):
        np.testing.assert_array_equal(got, want)
    rows = run.history
    for k, row in enumerate(rows):
        assert row["update"] == k and row["threshold"] > 0
        assert row["frames"] == len(initial) + row["oracle_calls"]
        if k + 1 < len(rows):
            assert row["first_call"] == row["oracle_calls"]
            assert rows[k + 1]["oracle_calls"] == row["oracle_calls"] + row["batch"]
            assert row["labelled"] == row["batch"] and row["failed"] == 0
            assert row["stops"] >= row["batch"] and row["max_sigma"] > row["threshold"]
    assert rows[-1]["status"] == run.status
    assert run.status.startswith(("budget spent", "converged", "target met"))
    assert rows[-1]["oracle_calls"] == run.oracle_calls
    _log.info("thresholds %s eV/Å; calls per round %s; status %s",
              [round(r["threshold"], 4) for r in rows], [r.get("batch") for r in rows],
              run.status)
    loaded = jaxpot.load(f"{run.workdir}/model.jaxpot")
    assert loaded.spec == run.model.spec


def test_final_model_beats_initial_on_held_out_md(reference):
    run, _ = reference
    first, last = run.history[0], run.history[-1]
    _log.info("held-out force RMSE %.4f -> %.4f eV/Å, energy MAE %.5f -> %.5f eV/atom "
              "(%d -> %d frames)", first["validation_force_rmse"],
              last["validation_force_rmse"], first["validation_energy_mae"],
              last["validation_energy_mae"], first["frames"], last["frames"])
    assert last["validation_force_rmse"] < 0.9 * first["validation_force_rmse"]


def test_most_md_steps_make_no_oracle_call_after_burn_in(reference):
    rows = [r for r in reference[0].history[1:] if "md_steps" in r]
    assert rows
    stops = sum(r["stops"] for r in rows)
    steps = sum(r["md_steps"] for r in rows)
    _log.info("after the first round: %d stopping MD steps of %d (fraction %.4f)", stops,
              steps, stops / steps)
    assert stops / steps < 0.05


def test_killed_run_resumes_without_repeating_calls(reference, initial, held_out, tmp_path):
    run, oracle = reference
    kill_at = 5  # inside round 1's batch (round 0 labels calls 1-3)
    first = CountingEMT({kill_at: "interrupt"})
    with pytest.raises(KeyboardInterrupt):
        active.learn(initial, first, model=MODEL, explore=EXPLORE, budget=BUDGET,
                     workdir=tmp_path / "run", seed=0)
    assert len(first.done) == kill_at - 1
    second = CountingEMT()
    resumed = active.learn(initial, second, model=MODEL, explore=EXPLORE, budget=BUDGET,
                           workdir=tmp_path / "run", seed=0)
    calls = first.done + second.done
    _log.info("killed after %d calls, resumed with %d more: %d in all (uninterrupted: %d)",
              len(first.done), len(second.done), len(calls), len(oracle.done))
    assert len(calls) == len(oracle.done) == resumed.oracle_calls
    keys = {a.tobytes() for a in calls}
    assert len(keys) == len(calls)  # no structure labelled twice
    for got, want in zip(calls, oracle.done):
        np.testing.assert_array_equal(got, want)
    p0 = jaxpot.predict(run.model, held_out, progress=False)
    p1 = jaxpot.predict(resumed.model, held_out, progress=False)
    np.testing.assert_array_equal(p0.energy, p1.energy)
    for f0, f1 in zip(p0.forces, p1.forces):
        np.testing.assert_array_equal(f0, f1)
    assert resumed.status == run.status
    # a finished run called again returns the same model and calls nothing
    third = CountingEMT()
    again = active.learn(initial, third, model=MODEL, explore=EXPLORE, budget=BUDGET,
                         workdir=tmp_path / "run", seed=0)
    assert not third.done and len(again.history) == len(resumed.history)


def test_failing_oracle_calls_are_recorded_and_skipped(initial, tmp_path):
    budget = 6
    oracle = CountingEMT({3: "raise", 6: "nan"})
    run = active.learn(initial, oracle, model=MODEL, explore=EXPLORE, budget=budget,
                       workdir=tmp_path / "run", seed=0)
    _log.info("failures: %s", run.failures)
    assert run.oracle_calls == budget and run.status.startswith("budget spent")
    assert [f["call"] for f in run.failures] == [2, 5]
    assert "RuntimeError: oracle down" in run.failures[0]["error"]
    assert "non-finite forces" in run.failures[1]["error"]
    assert len(run.frames) == len(initial) + budget - 2
    assert sum(r.get("failed", 0) for r in run.history) == 2


def test_unsafe_stop_structures_are_restarted_never_labelled(initial, tmp_path):
    oracle = CountingEMT()
    explore = active.md(temperatures=[1200], steps=100, replicas=2, max_restarts=1,
                        min_distance=2.6)  # above Cu's 2.55 Å: every stop is "too close"
    run = active.learn(initial, oracle, model=MODEL, explore=explore, budget=4,
                       workdir=tmp_path / "run", seed=0, threshold=1e-6)
    assert not oracle.done and run.oracle_calls == 0
    assert len(run.unstable) == 4 and all("closer than" in u["reason"] for u in run.unstable)
    assert run.status.startswith("no new structures") and "unsafe" in run.status
    assert run.history[0]["stops"] == 4 and run.history[0]["unstable"] == 4


def test_a_met_target_ends_the_run(initial, tmp_path):
    oracle = CountingEMT()
    run = active.learn(initial, oracle, model=MODEL, explore=EXPLORE, budget=4,
                       workdir=tmp_path / "run", seed=0, target=10.0)  # eV/Å: met at once
    assert run.status.startswith("target met") and not oracle.done
    assert run.history[-1]["max_sigma"] <= 10.0 and len(run.history) == 1


def test_another_runs_workdir_is_refused(reference, initial):
    run, _ = reference
    with pytest.raises(active.ActiveRunError, match="seed"):
        active.learn(initial, EMT(), model=MODEL, explore=EXPLORE, budget=BUDGET,
                     workdir=run.workdir, seed=1)


def test_rounds_continue_the_replicas_trajectories(reference):
    """active.md(continue_runs=True), the default: round r's replicas continue where round
    r-1's ended (its stop structures, momenta kept), as on-the-fly learning continues its MD;
    the end states are written to the workdir, so a resumed run continues them too."""
    from jaxpot.active.store import read_ends
    run, _ = reference
    rows = [r for r in run.history if "md_steps" in r]
    assert rows[0]["continued"] == 0
    assert len(rows) > 1 and all(r["continued"] == EXPLORE.replicas for r in rows[1:])
    ends = read_ends(run.workdir, 0)
    assert len(ends) == EXPLORE.replicas and all(a is not None for a in ends)
    assert all(np.any(a.get_momenta()) for a in ends)
    labelled = _positions(run.frames)
    stopped = [a for a in ends if any(np.array_equal(a.positions, p) for p in labelled)]
    assert stopped, "a replica that stopped ends at its stop structure, which is labelled"


def test_d_optimal_selection_labels_a_diverse_batch(initial, tmp_path):
    """learn(selection="dopt"): a round's batch is chosen by greedy log-det gain in the
    model's SOAP space, whose gains can only fall from pick to pick (log det is submodular);
    an unknown selection is refused before any work."""
    with pytest.raises(ValueError, match="selection must be one of maxmin, dopt"):
        active.learn(initial, EMT(), model=MODEL, explore=EXPLORE, budget=2,
                     workdir=tmp_path / "bad", selection="farthest")
    oracle = CountingEMT()
    run = active.learn(initial, oracle, model=MODEL, explore=EXPLORE, budget=3,
                       workdir=tmp_path / "run", seed=0, selection="dopt")
    row = run.history[0]
    assert run.oracle_calls == row["batch"] == len(oracle.done) >= 2
    gains = row["novelty"]
    assert all(g > 0 for g in gains) and all(a >= b for a, b in zip(gains, gains[1:]))


def test_gap_updates_add_the_configured_sparse_points(initial, held_out):
    """model setting add_sparse_per_frame: an incremental GAP update adds that many SOAP
    sparse points per new frame (and species), the environments the current sparse set
    represents worst (fewer where the new frames have fewer distinct new environments);
    unset, the default ADD_SPARSE_PER_FRAME."""
    from jaxpot.active.models import model_config
    from jaxpot.active.monitor import ADD_SPARSE_PER_FRAME, update
    frames = list(initial) + list(held_out[:3])
    counts = {}
    for per_frame in (None, ADD_SPARSE_PER_FRAME, 1, 4):
        config = model_config(MODEL if per_frame is None else
                              {**MODEL, "add_sparse_per_frame": per_frame})
        step = update(config, frames, 0, groups=(len(initial), 3))
        assert step.how == "replayed" and step.state is not None
        counts[per_frame] = step.state.soap_counts[0]
    first = min(MODEL["soap"]["n_sparse"], 8 * len(initial))
    assert counts[1] == first + 3 and counts[4] == first + 3 * 4
    assert counts[None] == counts[ADD_SPARSE_PER_FRAME] > counts[4]


def test_a_gap_can_watch_md_by_its_own_posterior(initial, tmp_path):
    """monitor="own": MD is stopped by the GAP's DTC total-energy sigma inside jit; the sigma
    recorded at selection equals c_F x gap.predictive_std's energy std / sqrt(N) of the stop
    structure under that update's GAP (host-side reference, 1e-8)."""
    from jaxpot.active.models import fit_model, model_config
    from jaxpot.gap import predictive_std
    run = active.learn(initial, CountingEMT(), model=MODEL, explore=EXPLORE, budget=2,
                       workdir=tmp_path / "run", seed=0, monitor="own")
    row = run.history[0]
    assert "GAP posterior" in row["calibration"] and run.oracle_calls == row["batch"] >= 1
    fitted = fit_model(model_config(MODEL), initial, 0)
    stop = run.frames[len(initial)]
    sigma_e = predictive_std(fitted.model, fitted.posterior, [stop]).energy[0]
    want = row["force_factor"] * sigma_e / np.sqrt(len(stop))
    assert abs(row["selected_sigma"][0] - want) < 1e-8 * want
    assert row["selected_sigma"][0] > row["threshold"]
    with pytest.raises(ValueError, match="monitor must be"):
        active.learn(initial, EMT(), model=MODEL, explore=EXPLORE, budget=2,
                     workdir=tmp_path / "bad", monitor="posterior")


def test_a_round_with_nothing_to_label_lowers_the_threshold_before_converging(
        monkeypatch, tmp_path):
    """The threshold factor falls x0.75 (down to 1) while a round finds nothing above the
    threshold, the replicas exploring on from where they ended; only at factor 1 does such a
    round end the run as converged (a unit test of active.plan with a scripted explorer)."""
    from types import SimpleNamespace

    from jaxpot.active import plan
    from jaxpot.active.explore import Replica, Round
    from jaxpot.active.settings import LoopSettings
    ends = [_cell() for _ in range(3)]
    seen = []

    def scripted(monitor, frames, settings, threshold, min_distance, index, seed, continued):
        seen.append((threshold, continued))
        end = ends[min(len(seen) - 1, 2)]
        rep = Replica(0, 300.0, 0, 100, 0, True, None, None, np.zeros(10), end)
        return Round((rep,), (), 100, 0, True, 0.01 * len(seen), 0.005)

    monkeypatch.setattr(plan, "explore_round", scripted)
    base = 0.02
    step = SimpleNamespace(monitor=SimpleNamespace(base=base, calibrated=True))
    loop = LoopSettings()
    row = {"update": 0, "threshold": 2.0 * base, "threshold_factor": 2.0}
    state = {"unstable": []}
    reason = plan.explore_and_plan(step, row, state, EXPLORE, loop, [], [], 10, None, 1.0, 0,
                                   str(tmp_path))
    assert [round(t / base, 6) for t, _ in seen] == [2.0, 1.5, 1.125, 1.0]
    assert seen[0][1] is None and seen[1][1][0] is ends[0] and seen[3][1][0] is ends[2]
    assert row["passes"] == 4 and row["md_steps"] == 400 and row["threshold_factor"] == 1.0
    assert row["max_sigma"] == pytest.approx(0.04)
    assert reason.startswith("converged") and "1 x the calibration frames' median" in reason
    assert plan.current_factor([row], loop) == 1.0
