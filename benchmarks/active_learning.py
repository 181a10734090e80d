"""Active learning vs random selection (issue 72): jaxpot.active.learn with an ASE EMT oracle
on fcc Cu, against GAPs fitted on frames drawn at random from EMT's own MD.

Set-up (every number is a module constant below; ``--quick`` shrinks them for a smoke run):
- system: a cubic fcc Cu cell (a = 3.61 Å) repeated REPEAT (32 atoms for 2x2x2), EMT oracle;
- initial frames (per seed): N_INITIAL rattled (0.05 Å) cells labelled by EMT;
- held-out test set: frames of EMT's own Langevin MD (ase.md.langevin, 2 fs, friction
  0.02/fs) at each temperature, every TEST_EVERY steps after TEST_BURN steps, with seeds that
  neither the loop nor the random pool uses;
- (a) active: active.learn(initial, EMT(), model=MODEL, explore=EXPLORE, budget=BUDGET,
  validation=held-out, seed) -- each history row's validation_force_rmse is the model of that
  update (fitted on every labelled frame) on the held-out set, so the learning curve is the
  history (one curve per seed at no extra cost);
- (b) random: the same initial frames plus N frames drawn at random (seeded) from a pool of
  EMT Langevin MD frames at the same temperatures (every POOL_EVERY steps after POOL_BURN),
  fitted with the same GAP settings and seed (jaxpot.active.models.fit_model, what the loop
  fits), for N on RANDOM_GRID.  Random selection's oracle calls are counted as N (the MD that
  produced the pool is not counted: generous to random);
- calls needed to reach a stated error: the first grid point (random) or update (active)
  whose seed-mean force RMSE is at most the stated error; stated error = random selection's
  seed-mean RMSE at its largest N.  Ratio = active / random calls (target <= 1/3);
- no-call fraction: over every update after the first (burn-in: update 0's round), 1 -
  oracle calls made after the round / MD steps of the round (target >= 0.99); the fraction of
  MD steps that stopped on uncertainty (stops / steps) is reported as well.

    python benchmarks/active_learning.py            # ~15 min on 2 cores
    python benchmarks/active_learning.py --quick    # smoke run, not written to results
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time

import jax
import numpy as np
from _common import machine, write_json
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.md.langevin import Langevin

jax.config.update("jax_enable_x64", True)

REPEAT = (2, 2, 2)
TEMPERATURES = (300.0, 900.0, 1500.0)
N_INITIAL = 4
SEEDS = (0, 1, 2)
MODEL = {"model": "gap", "soap": {"cutoff": 4.5, "n_max": 6, "l_max": 4, "n_sparse": 100},
         "distance_2b": {"cutoff": 4.5, "n_sparse": 15}}
EXPLORE = {"steps": 1000, "timestep": 2.0, "replicas": 6}
SELECTION = "maxmin"
MONITOR = "distance"
BUDGET = 30
RANDOM_GRID = (0, 5, 10, 20, 30, 60)
WORKERS = 2  # seeds run in parallel processes (fits and compiles are mostly one-core)
TEST_BURN, TEST_EVERY, TEST_FRAMES = 200, 50, 10  # per temperature
POOL_BURN, POOL_EVERY, POOL_FRAMES = 100, 20, 60  # per temperature and seed
FRICTION = 0.02


def _labelled(atoms):
    atoms = atoms.copy()
    atoms.calc = EMT()
    atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(),
                                       forces=atoms.get_forces(), stress=atoms.get_stress())
    return atoms


def _cell():
    return bulk("Cu", "fcc", a=3.61, cubic=True).repeat(REPEAT)


def initial_frames(seed: int) -> list:
    out = []
    for k in range(N_INITIAL):
        atoms = _cell()
        atoms.rattle(0.05, seed=1000 * seed + k)
        out.append(_labelled(atoms))
    return out


def emt_md(temperature: float, seed: int, burn: int, every: int, count: int) -> list:
    """``count`` EMT-labelled frames of an EMT Langevin run, one every ``every`` steps after
    ``burn`` steps."""
    atoms = _cell()
    rng = np.random.default_rng(seed)
    masses = atoms.get_masses()[:, None]
    atoms.set_momenta(np.sqrt(masses * temperature * units.kB) * rng.normal(size=(len(atoms), 3)))
    atoms.calc = EMT()
    dyn = Langevin(atoms, 2.0 * units.fs, temperature_K=temperature, friction=FRICTION,
                   fixcm=False, rng=np.random.default_rng(seed + 1))
    dyn.run(burn)
    frames = []
    for _ in range(count):
        dyn.run(every)
        frames.append(_labelled(atoms))
    return frames


def force_errors(model, frames) -> dict:
    from jaxpot.prediction import predict
    p = predict(model, list(frames), progress=False)
    err = np.concatenate([np.ravel(p.forces[i] - a.get_forces()) for i, a in enumerate(frames)])
    return {"force_rmse": float(np.sqrt(np.mean(err ** 2))),
            "force_mae": float(np.mean(np.abs(err)))}


def active_curve(seed: int, held_out: list, validation: list, workdir: str) -> dict:
    from jaxpot import active
    start = time.perf_counter()
    run = active.learn(initial_frames(seed), EMT(), model=MODEL,
                       explore=active.md(temperatures=list(TEMPERATURES), **EXPLORE),
                       budget=BUDGET, workdir=workdir, seed=seed, validation=held_out,
                       selection=SELECTION, monitor=MONITOR)
    seconds = time.perf_counter() - start
    rows = run.history
    seconds = max(seconds, rows[-1]["wall_time_s"])  # a resumed run: all its sessions
    after = [r for r in rows[1:] if "md_steps" in r]
    steps = sum(r["md_steps"] for r in after)
    calls = sum(r.get("batch", 0) for r in after)
    stops = sum(r["stops"] for r in after)
    final = force_errors(run.model, held_out)
    return {"seed": seed, "seconds": round(seconds, 1), "status": run.status,
            "final_validation": force_errors(run.model, validation),
            "oracle_calls": run.oracle_calls, "within_budget": run.oracle_calls <= BUDGET,
            "curve": [{"calls": r["oracle_calls"], "force_rmse": r["validation_force_rmse"],
                       "energy_mae": r.get("validation_energy_mae")} for r in rows],
            "final_model": final,
            "rounds": [{k: r.get(k) for k in ("update", "oracle_calls", "md_steps", "stops",
                                              "batch", "threshold", "max_sigma", "unstable")}
                       for r in rows],
            "after_first_round": {"md_steps": steps, "oracle_calls": calls, "stops": stops,
                                  "no_call_fraction": (1 - calls / steps) if steps else None,
                                  "no_stop_fraction": (1 - stops / steps) if steps else None}}


def random_curve(seed: int, held_out: list, validation: list) -> dict:
    from jaxpot.active.models import fit_model, model_config
    config = model_config(MODEL)
    pool = [a for t, temp in enumerate(TEMPERATURES)
            for a in emt_md(temp, 5000 + 100 * seed + 10 * t, POOL_BURN, POOL_EVERY, POOL_FRAMES)]
    order = np.random.default_rng([seed, 7]).permutation(len(pool))
    initial = initial_frames(seed)
    curve, start = [], time.perf_counter()
    for n in RANDOM_GRID:
        frames = initial + [pool[i] for i in order[:n]]
        fitted = fit_model(config, frames, seed)
        curve.append({"calls": n, **force_errors(fitted.model, held_out),
                      "validation_force_rmse": force_errors(fitted.model,
                                                            validation)["force_rmse"]})
        print(f"  random seed {seed} N={n}: force RMSE {curve[-1]['force_rmse']:.4f} eV/Å",
              flush=True)
    return {"seed": seed, "seconds": round(time.perf_counter() - start, 1),
            "pool_frames": len(pool), "curve": curve}


def _knobs() -> dict:
    return {"SEEDS": SEEDS, "BUDGET": BUDGET, "RANDOM_GRID": RANDOM_GRID, "EXPLORE": EXPLORE,
            "TEST_FRAMES": TEST_FRAMES, "POOL_FRAMES": POOL_FRAMES, "SELECTION": SELECTION,
            "MODEL": MODEL, "MONITOR": MONITOR}


def _job(kind: str, seed: int, held_out: list, validation: list, tmp: str,
         knobs: dict) -> dict:
    """One seed's curve in a worker process (``knobs``: the parent's module settings)."""
    jax.config.update("jax_enable_x64", True)
    globals().update(knobs)
    if kind == "active":
        return active_curve(seed, held_out, validation, os.path.join(tmp, f"run{seed}"))
    return random_curve(seed, held_out, validation)


def _on_grid(curves: list[list[dict]], key: str = "force_rmse") -> list[dict]:
    """Seed mean/min/max of ``key`` at each calls value (curves step-interpolated: a curve's
    value at c is that of its last point with calls <= c)."""
    grid = sorted({p["calls"] for c in curves for p in c})
    out = []
    for c in grid:
        vals = []
        for curve in curves:
            pts = [p for p in curve if p["calls"] <= c]
            if pts:
                vals.append(pts[-1][key])
        out.append({"calls": c, "mean": float(np.mean(vals)), "min": float(np.min(vals)),
                    "max": float(np.max(vals)), "seeds": len(vals)})
    return out


def calls_to_reach(table: list[dict], error: float) -> int | None:
    for row in table:
        if row["mean"] <= error:
            return row["calls"]
    return None


def main() -> None:
    global SEEDS, BUDGET, RANDOM_GRID, EXPLORE, TEST_FRAMES, POOL_FRAMES, SELECTION, MODEL
    global MONITOR
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run; writes nothing")
    parser.add_argument("--seeds", type=int, default=len(SEEDS))
    parser.add_argument("--budget", type=int, default=BUDGET)
    parser.add_argument("--workdir", help="keep the active runs' folders here (default: a "
                        "temporary folder); a killed run resumes from them")
    parser.add_argument("--min-steps", type=int, default=None,
                        help="active.md(min_steps=...): MD steps before a stop may count "
                        "(default: active.md's)")
    parser.add_argument("--no-continue", action="store_true",
                        help="active.md(continue_runs=False): every round starts afresh")
    parser.add_argument("--selection", default=SELECTION, choices=("maxmin", "dopt"))
    parser.add_argument("--add-sparse", type=int, default=None,
                        help="model setting add_sparse_per_frame (GAP sparse points added per "
                        "labelled frame and species)")
    parser.add_argument("--monitor", default=MONITOR, choices=("distance", "own"))
    parser.add_argument("--tag", help="write active_learning_<tag>.json (a variant) instead "
                        "of the current table's active_learning.json")
    args = parser.parse_args()
    EXPLORE = {**EXPLORE, "continue_runs": not args.no_continue,
               **({} if args.min_steps is None else {"min_steps": args.min_steps})}
    SELECTION, MONITOR = args.selection, args.monitor
    if args.add_sparse is not None:
        MODEL = {**MODEL, "add_sparse_per_frame": args.add_sparse}
    if args.quick:
        SEEDS, BUDGET, RANDOM_GRID = (0,), 6, (0, 5)
        EXPLORE = {**EXPLORE, "steps": 200}
        TEST_FRAMES, POOL_FRAMES = 3, 5
    SEEDS = tuple(range(args.seeds)) if not args.quick else SEEDS
    BUDGET = args.budget if not args.quick else BUDGET
    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()
    held_out = [a for t, temp in enumerate(TEMPERATURES)
                for a in emt_md(temp, 90_000 + 10 * t, TEST_BURN, TEST_EVERY, TEST_FRAMES)]
    # settings are chosen on this validation set (other seeds), never on the held-out test set
    validation = [a for t, temp in enumerate(TEMPERATURES)
                  for a in emt_md(temp, 70_000 + 10 * t, TEST_BURN, TEST_EVERY, TEST_FRAMES)]
    print(f"held-out: {len(held_out)} EMT MD frames, validation {len(validation)} "
          f"({time.perf_counter() - t0:.1f} s)", flush=True)
    import concurrent.futures as cf
    import multiprocessing
    jobs = [("active", s) for s in SEEDS] + [("random", s) for s in SEEDS]
    results = {}
    with tempfile.TemporaryDirectory() as scratch, cf.ProcessPoolExecutor(
            WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
        tmp = args.workdir or scratch
        futures = {pool.submit(_job, kind, seed, held_out, validation, tmp, _knobs()):
                   (kind, seed)
                   for kind, seed in jobs}
        for fut in cf.as_completed(futures):
            kind, seed = futures[fut]
            results[kind, seed] = r = fut.result()
            print(f"{kind} seed {seed}: {r['seconds']} s; curve " + ", ".join(
                f"{p['calls']}:{p['force_rmse']:.4f}" for p in r["curve"])
                + (f"; {r['status']}" if kind == "active" else ""), flush=True)
    actives = [results["active", s] for s in SEEDS]
    randoms = [results["random", s] for s in SEEDS]
    act = _on_grid([a["curve"] for a in actives])
    rnd = _on_grid([r["curve"] for r in randoms])
    stated = rnd[-1]["mean"]
    need_active, need_random = calls_to_reach(act, stated), calls_to_reach(rnd, stated)
    ratio = None if need_active is None or not need_random else need_active / need_random
    steps = sum(a["after_first_round"]["md_steps"] for a in actives)
    calls = sum(a["after_first_round"]["oracle_calls"] for a in actives)
    stops = sum(a["after_first_round"]["stops"] for a in actives)
    no_call = (1 - calls / steps) if steps else None
    seconds = time.perf_counter() - t0
    print("\ncalls  active RMSE mean [min, max] (eV/Å)   random RMSE mean [min, max]")
    for c in sorted({r["calls"] for r in act} | {r["calls"] for r in rnd}):
        line = f"{c:5d}"
        for table in (act, rnd):
            row = next((r for r in table if r["calls"] == c), None)
            line += ("  " + (f"{row['mean']:.4f} [{row['min']:.4f}, {row['max']:.4f}]"
                             if row else "-").ljust(34))
        print(line)
    print(f"stated error (random, N={rnd[-1]['calls']}): {stated:.4f} eV/Å; calls needed: "
          f"active {need_active}, random {need_random}; ratio {ratio}")
    print(f"no-call fraction after the first round: {no_call} ({calls} calls, {stops} stops, "
          f"{steps} MD steps); run {seconds:.0f} s")
    val_active = float(np.mean([a["final_validation"]["force_rmse"] for a in actives]))
    val_random = {n: float(np.mean([p["validation_force_rmse"] for r in randoms
                                    for p in r["curve"] if p["calls"] == n]))
                  for n in RANDOM_GRID}
    print(f"validation set (settings are chosen on it): active final {val_active:.4f} eV/Å at "
          f"{np.mean([a['oracle_calls'] for a in actives]):.1f} calls; random "
          + ", ".join(f"{n}: {v:.4f}" for n, v in val_random.items()))
    if args.quick:
        return
    payload = {
        "benchmark": "active_learning", "machine": machine(),
        "command": "python benchmarks/active_learning.py" + (
            f" --seeds {len(SEEDS)}" if len(SEEDS) != 3 else "") + (
            f" --budget {BUDGET}" if BUDGET != 30 else "") + (
            f" --min-steps {args.min_steps}" if args.min_steps is not None else "") + (
            " --no-continue" if args.no_continue else "") + (
            f" --selection {SELECTION}" if SELECTION != "maxmin" else "") + (
            f" --add-sparse {args.add_sparse}" if args.add_sparse is not None else "") + (
            f" --monitor {MONITOR}" if MONITOR != "distance" else "") + (
            f" --tag {args.tag}" if args.tag else ""),
        "settings": {"system": f"fcc Cu {len(_cell())} atoms (cubic a=3.61 x {REPEAT})",
                     "oracle": "ase EMT", "temperatures_K": list(TEMPERATURES),
                     "initial_frames": N_INITIAL, "model": MODEL, "explore": EXPLORE,
                     "selection": SELECTION, "monitor": MONITOR,
                     "budget": BUDGET, "seeds": list(SEEDS), "random_grid": list(RANDOM_GRID),
                     "held_out": f"{len(held_out)} frames: EMT Langevin (2 fs, friction "
                                 f"{FRICTION}/fs), {TEST_FRAMES} per temperature, every "
                                 f"{TEST_EVERY} steps after {TEST_BURN}",
                     "random_pool": f"{POOL_FRAMES} frames per temperature and seed, every "
                                    f"{POOL_EVERY} steps after {POOL_BURN} (EMT Langevin)"},
        "active": actives, "random": randoms,
        "curves": {"active": act, "random": rnd},
        "stated_error": stated, "stated_error_rule": "random selection's seed-mean force RMSE "
                                                     "at its largest N",
        "calls_to_stated_error": {"active": need_active, "random": need_random},
        "ratio": ratio, "ratio_target": 1 / 3,
        "ratio_met": ratio is not None and ratio <= 1 / 3,
        "no_call_fraction": no_call, "no_call_target": 0.99,
        "no_call_met": no_call is not None and no_call >= 0.99,
        "no_stop_fraction": (1 - stops / steps) if steps else None,
        "within_budget": all(a["within_budget"] for a in actives),
        "seconds": round(seconds, 1),
        "validation": {"frames": f"{len(validation)}: as the held-out set, other seeds",
                       "active_final_force_rmse": val_active,
                       "random_force_rmse": {str(n): v for n, v in val_random.items()}},
    }
    print("wrote", write_json("active_learning" + (f"_{args.tag}" if args.tag else ""),
                              payload))


if __name__ == "__main__":
    main()
