"""Test errors of jaxpot's network potentials on mlearn (Zuo et al. 2020) with the paper's split.

    python benchmarks/nn_accuracy.py --model painn --element Si [--epochs N] [--ensemble K]
    python benchmarks/nn_accuracy.py --model bpnn --element water   # n2p2 examples: water, cu2s
    python benchmarks/nn_accuracy.py --model painn --element Ge --time-budget 400   # seconds
    python benchmarks/nn_accuracy.py --model mace --element Si --evaluate M.jaxpot --out TAG
    python benchmarks/nn_accuracy.py --model mace --element fcc_eam \
        --files /tmp/cu_eam_train.extxyz /tmp/cu_eam_test.extxyz    # any labelled split, 5 Å

``--time-budget S`` is ``TrainSettings.time_budget_s``: the trainer times its first three
epochs and fits the epoch count (and so the cosine schedule's length) to what is left of S
seconds (counted from the start of training, data preparation included), then stops at S.
``--evaluate FILE`` skips training and reports the test errors of a saved model (one trained
elsewhere, e.g. on a GPU whose run ended before its evaluation), with the training summary
from the run's report directory (``--report``, default ``<FILE stem>_report``) when present.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
from _common import best_row, mlearn_splits, published_mae, read_history, run_date, write_json

PUBLISHED = {  # test MAE meV/atom, eV/Å; source and citation in benchmarks/published_zuo2020.json
    el: {model: published_mae(model, el) for model in ("GAP", "MTP")} for el in ("Si", "Ge", "Li")}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="painn")
    p.add_argument("--element", default="Si")
    p.add_argument("--epochs", type=int)
    p.add_argument("--ensemble", type=int, default=1)
    p.add_argument("--time-budget", type=float, help="seconds for probe + training")
    p.add_argument("--x64", action="store_true")
    p.add_argument("--out", help="results file stem (default nn_<model>_<element>[_ens<K>])")
    p.add_argument("--set", action="append", default=[], help="train.KEY=VALUE or model.KEY=VALUE")
    p.add_argument("--evaluate", help="a saved model file: report its test errors, no training")
    p.add_argument("--report", help="with --evaluate: the training run's report directory")
    p.add_argument("--stage-two-from", type=int, metavar="EPOCH",
                   help="with --evaluate: stage two's first epoch, for a report that predates "
                   "the trainer's stage field")
    p.add_argument("--files", nargs=2, metavar=("TRAIN", "TEST"),
                   help="train and test files instead of mlearn's (--element names them)")
    p.add_argument("--output", help="the trained model's file (default /tmp/<out>.jaxpot); its "
                   "report (metrics log, parity plots) goes beside it")
    p.add_argument("--data", help="folder of the datasets (default ../shared/data beside the repo)")
    p.add_argument("--no-test", action="store_true",
                   help="train and save only; report the test errors later with --evaluate")
    args = p.parse_args()
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    from ase.io import read

    from jaxpot.nn.pipeline import train
    data = args.data or os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
    n2p2 = {"water": "water_rpbe_d3_n2p2_example.extxyz", "cu2s": "cu2s_pbe_n2p2_example.extxyz"}
    if args.files:
        train_frames, test_frames = (read(path, ":") for path in args.files)
        species = sorted({s for a in train_frames for s in a.get_chemical_symbols()})
        cutoff = 5.0
    elif args.element in n2p2:  # 20-frame examples: a seeded 80/20 split (no published split)
        import numpy as np
        frames = read(os.path.join(data, n2p2[args.element]), ":")
        order = np.random.default_rng(0).permutation(len(frames))
        train_frames = [frames[i] for i in order[:16]]
        test_frames = [frames[i] for i in order[16:]]
        species = sorted({s for a in frames for s in a.get_chemical_symbols()})
        cutoff = 6.0
    else:
        train_frames, test_frames = mlearn_splits(args.element, data)
        species, cutoff = [args.element], 5.0
    tag = args.out or (f"nn_{args.model}_{args.element}"
                       + (f"_ens{args.ensemble}" if args.ensemble > 1 else ""))
    config = {"model": args.model, "species": species, "cutoff": cutoff,
              "output": args.output or f"/tmp/{tag}.jaxpot",
              "train_frames": train_frames, "train_settings": {}, "model_settings": {}}
    if args.epochs:
        config["train_settings"]["epochs"] = args.epochs
    if args.ensemble > 1:
        config["train_settings"]["ensemble_size"] = args.ensemble
    for item in args.set:
        key, value = item.split("=", 1)
        section, name = key.split(".", 1)
        part = "train_settings" if section == "train" else "model_settings"
        config[part][name] = json.loads(value)
    if args.evaluate:
        return evaluate_saved(args, test_frames, tag)
    start = time.perf_counter()
    if args.time_budget:
        config["train_settings"]["time_budget_s"] = args.time_budget
    result = train(config, progress=True)
    seconds = time.perf_counter() - start
    ev = None if args.no_test else test_errors(result.model, test_frames, args,
                                                f"; {seconds:.0f} s")
    out = {"model": args.model, "element": args.element, "train_seconds": seconds,
           "epochs_run": len(result.history),
           "settings": {k: v for k, v in config.items() if k != "train_frames"},
           "best_epoch": result.best_epoch, "stop": result.stop_reason,
           "test": ev and ev.to_dict(), "published": PUBLISHED.get(args.element),
           "machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
           "jax": jax.__version__, "jax_device": str(jax.devices()[0]), "x64": bool(args.x64),
           "date": run_date()}
    if args.ensemble > 1 and ev is not None:
        out["calibration"] = ensemble_calibration(result.model, test_frames, args)
    write_result(tag, out)


def test_errors(model, test_frames, args, suffix: str = ""):
    """jaxpot.evaluation of ``model`` on the test frames, printed (table and summary line)."""
    from jaxpot.evaluation import evaluate
    ev = evaluate(model, test_frames)
    print(ev.table())
    o = ev.to_dict()["overall"]
    print(f"{args.model} {args.element}: test MAE {o['energy_mae']:.2f} meV/atom, "
          f"{o['force_mae']:.4f} eV/Å; published {PUBLISHED.get(args.element)}{suffix}")
    return ev


def write_result(tag: str, out: dict) -> None:
    write_json(tag, out, indent=1)


def evaluate_saved(args, test_frames, tag: str) -> None:
    """Test errors of the saved model ``args.evaluate``, with its run's training summary."""
    import jaxpot
    model = jaxpot.load(args.evaluate)
    ev = test_errors(model, test_frames, args)
    out = {"model": args.model, "element": args.element, "model_file": args.evaluate,
           "test": ev.to_dict(), "published": PUBLISHED.get(args.element),
           "evaluated_on": {"machine": platform.processor() or platform.machine(),
                            "jax": jax.__version__, "jax_device": str(jax.devices()[0]),
                            "date": run_date()}}
    report = args.report or os.path.splitext(args.evaluate)[0] + "_report"
    if os.path.exists(os.path.join(report, "metrics.jsonl")):
        history = read_history(report)
        best = best_row(history, args.stage_two_from)
        out.update(epochs_run=len(history), best_epoch=best["epoch"],
                   train_seconds_in_epochs=sum(r["seconds"] for r in history),
                   first_epoch_seconds=history[0]["seconds"],
                   best_validation={k: v for k, v in best.items() if k.startswith("val_")})
    if "calibration" in model.params:  # an ensemble: its spread against the test errors
        out["calibration"] = ensemble_calibration(model, test_frames, args)
    write_result(tag, out)


def ensemble_calibration(model, test_frames, args) -> dict:
    """Spread vs actual error on the test set: Spearman, miscalibration area, plot; and the
    calibration factors the training fitted on the validation split."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from jaxpot.nn.ensemble import ensemble_predict
    from jaxpot.nn.uncertainty_metrics import calibration
    pred = ensemble_predict(model, test_frames)
    f_err = np.concatenate([(f - a.get_forces()).ravel() for f, a in zip(pred.forces, test_frames)])
    f_sig = np.concatenate([s.ravel() for s in pred.forces_std])
    e_err = pred.energy - np.array([a.get_potential_energy() for a in test_frames])
    factors = np.asarray(model.params["calibration"], float)
    print("calibration factors (energy, forces, stress), fitted on validation:", factors)
    out = {"factors": factors.tolist()}
    fig, ax = plt.subplots(1, 2, figsize=(8, 3.5))
    for name, err, sig in (("forces", f_err, f_sig), ("energy", e_err, pred.energy_std)):
        c = calibration(err, sig)
        out[name] = {"spearman": c.spearman, "miscalibration_area": c.miscalibration_area,
                     "rmse": c.rmse, "mean_sigma": c.mean_sigma}
        print(f"{name}: Spearman {c.spearman:.2f}, miscalibration area "
              f"{c.miscalibration_area:.3f}, RMSE {c.rmse:.4f}, mean sigma {c.mean_sigma:.4f}")
        ax[0].plot(c.expected, c.observed, label=name)
    ax[0].plot([0, 1], [0, 1], "k--", lw=0.8)
    ax[0].set_xlabel("expected fraction in interval")
    ax[0].set_ylabel("observed fraction")
    ax[0].legend()
    ax[1].loglog(f_sig, np.abs(f_err), ".", ms=2, alpha=0.4)
    ax[1].set_xlabel("predicted force sigma (eV/Å)")
    ax[1].set_ylabel("|force error| (eV/Å)")
    fig.tight_layout()
    fig.savefig(os.path.join(os.path.dirname(__file__), "results",
                             f"nn_calibration_{args.out or f'{args.model}_{args.element}'}.png"),
                dpi=100)
    return out


if __name__ == "__main__":
    main()
