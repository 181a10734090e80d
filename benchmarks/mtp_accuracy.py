"""Test errors of jaxpot's MTP fits on mlearn (Zuo et al. 2020) with the paper's split.

    python benchmarks/mtp_accuracy.py --element Si [--level 24] [--iterations 0]
        [--patience N] [--memory M]

Fits on the ``split=training`` configurations with jaxpot's defaults (``jaxpot fit`` with
``model = "mtp"``: level 24, r_cut 5 Å, r_min = shortest training distance - 0.2 Å, weights and
ridge of the linear stage chosen on a seeded 10 % validation split carved from training; with
``--iterations N`` then N iterations of full-batch BFGS keeping the best validation iteration)
and evaluates the test split once, for the linear stage and for the final model.  Before
2026-11-26 20:00 the flags defaulted to level 16 and 200 iterations.  The fit is checkpointed
under benchmarks/checkpoints/, so a rerun with more ``--iterations`` continues the same fit.
``--memory`` sets the optimiser (default full BFGS; ``--memory 20``: L-BFGS) and tags the file
names (``_bfgs`` for 0, ``_m<memory>`` otherwise; ``_linear`` for ``--iterations 0``).
Untagged results written before 2026-11-26 12:00 are L-BFGS with memory 20 (their JSON has no
``lbfgs_memory``), and their checkpoints refuse a default rerun.
Writes benchmarks/results/mtp_<element>_L<level>.json and the model, .jaxpot (the model
benchmarks/bench_snap.py --models si_snap si_mtp runs MD with).
"""

from __future__ import annotations

import argparse
import os
import time

import jax
from _common import add_carve_argument, machine, mlearn_splits, write_json

from jaxpot.linear.pipeline import MTP_DEFAULTS, MTP_LBFGS_DEFAULTS


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--element", default="Si")
    p.add_argument("--level", type=int, default=MTP_DEFAULTS["level"])
    p.add_argument("--iterations", type=int, default=MTP_LBFGS_DEFAULTS["iterations"],
                   help="BFGS iterations; 0: the linear stage only")
    p.add_argument("--patience", type=int, default=None,
                   help="early-stopping patience of L-BFGS (default: LbfgsSettings')")
    p.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                  "shared", "data"))
    p.add_argument("--memory", type=int, default=None,
                   help="L-BFGS memory; 0: full BFGS (default: LbfgsSettings')")
    add_carve_argument(p)
    p.add_argument("--suffix", default="", help="appended to the results' file names")
    args = p.parse_args()
    jax.config.update("jax_enable_x64", True)
    from ase.data import atomic_numbers

    from jaxpot.descriptors.moment_tensors import MomentTensors
    from jaxpot.evaluation import evaluate
    from jaxpot.linear import LinearFitSettings
    from jaxpot.linear.mtp_fit import fit_mtp
    from jaxpot.linear.pipeline import shortest_distance
    from jaxpot.training.lbfgs import LbfgsSettings
    from jaxpot.training.weights import LossWeights
    el = args.element
    train, test = mlearn_splits(el, args.data)
    r_min = max(0.0, round(shortest_distance(train) - 0.2, 2))
    desc = MomentTensors((atomic_numbers[el],), args.level, r_min, MTP_DEFAULTS["r_cut"],
                         MTP_DEFAULTS["radial_basis_size"])
    lin = LinearFitSettings(stratify_validation=not args.random_carve)
    lbfgs = LbfgsSettings(iterations=args.iterations, weights=LossWeights(
        lin.energy_sigma, lin.force_sigma, lin.stress_sigma))
    if args.patience is not None:
        lbfgs = lbfgs._replace(patience=args.patience)
    tag = ""
    if args.memory is not None:
        lbfgs = lbfgs._replace(memory=args.memory)
        tag = "_bfgs" if args.memory == 0 else f"_m{args.memory}"
    if args.iterations == 0:
        tag = "_linear"
    folder = os.path.join(os.path.dirname(__file__), "checkpoints")  # git-ignored
    os.makedirs(folder, exist_ok=True)
    name = f"mtp_{el}_L{args.level}{tag}{args.suffix}"
    ckpt = os.path.join(folder, name)
    start = time.perf_counter()
    fit = fit_mtp(train, desc, lin, lbfgs, nonlinear=args.iterations > 0,
                  source=f"mlearn_{el}", progress=True, checkpoint=ckpt)
    fit_s = time.perf_counter() - start
    linear = evaluate(fit.linear.model, test, progress=False)
    final = evaluate(fit.model, test, progress=False)
    best = min(fit.linear.validation, key=lambda row: row["score"])
    print(f"linear stage's validation score {best['score']:.3f} (RMSE energy "
          f"{best['rmse_energy']:.6f}, forces {best['rmse_forces']:.5f}, stress "
          f"{best['rmse_stress']:.4f})")
    print(f"jaxpot MTP level {args.level} linear stage\n{linear.table()}")
    history = fit.training.history if fit.training else []
    if fit.training:
        print(f"jaxpot MTP level {args.level} after BFGS (best validation iteration "
              f"{fit.training.best_epoch} of {len(history)}, "
              f"{fit.training.stop_reason}), this run {fit_s:.0f} s\n{final.table()}")
    payload = {"element": el, "level": args.level, "r_min": r_min, "r_cut": desc.r_cut,
               "n_functions": desc.n_features, "fit_s_this_run": fit_s,
               "lbfgs_seconds": sum(r["seconds"] for r in history),
               "iterations": len(history),
               "best_iteration": fit.training.best_epoch if fit.training else None,
               "stop_reason": fit.training.stop_reason if fit.training else "linear only",
               "linear_choice": fit.linear.choice._asdict(), "linear_validation": best,
               "linear_timings":
               fit.linear.timings, "linear": linear.to_dict(), "jaxpot": final.to_dict(),
               "machine": machine()}
    import jaxpot
    payload["lbfgs_memory"] = lbfgs.memory
    jaxpot.save(fit.model, os.path.join(os.path.dirname(__file__), "results", f"{name}.jaxpot"))
    print(write_json(name, payload))


if __name__ == "__main__":
    main()
