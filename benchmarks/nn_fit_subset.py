"""Can a network fit a few structures of one config_type?  A capacity check, training only.

    python benchmarks/nn_fit_subset.py --element Ge --type Surface --epochs 1000 [--out TAG]

Trains the default MACE-like model (energy and force sigmas of ``LossWeights()``, no stress,
no stage two) on the first ``--count`` training structures of ``--type`` and as many AIMD-NVT
ones from mlearn's training split, validating on one more structure of ``--type``, and reports
the training errors of both groups: when they stay high with many steps on few structures,
the architecture (not the run length) limits the fit.  Writes
benchmarks/results/<--out>.json (default nn_fit_subset_<element>_<type>_<epochs>).
"""

from __future__ import annotations

import argparse
import time
import warnings

from _common import SHARED_DATA, machine, mlearn_splits, write_json


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--element", default="Ge")
    p.add_argument("--type", default="Surface", help="the config_type to fit")
    p.add_argument("--count", type=int, default=10, help="structures of each group")
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--learning-rate", type=float, default=3e-3)
    p.add_argument("--out")
    args = p.parse_args()
    warnings.filterwarnings("ignore", message=".*float64 is off")
    from jaxpot.evaluation import evaluate
    from jaxpot.nn import mace
    from jaxpot.nn.train import TrainSettings, train_model
    from jaxpot.training.weights import LossWeights
    train, _ = mlearn_splits(args.element, SHARED_DATA)
    picked = [a for a in train if a.info.get("config_type") == args.type]
    others = [a for a in train if a.info.get("config_type") == "AIMD-NVT"][:args.count]
    if len(picked) <= args.count:
        raise SystemExit(f"{args.type}: {len(picked)} structures, need {args.count + 1}")
    sigmas = LossWeights(energy=0.002, forces=0.05, stress=float("inf"))
    settings = TrainSettings(epochs=args.epochs, batch_size=2, weights=sigmas,
                             stage_two_weights=sigmas, learning_rate=args.learning_rate)
    start = time.perf_counter()
    result = train_model(mace([args.element], 5.0), picked[:args.count] + others,
                         validation_frames=[picked[args.count]], settings=settings,
                         progress=True)
    seconds = time.perf_counter() - start
    out = {"element": args.element, "type": args.type, "count": args.count,
           "epochs": args.epochs, "learning_rate": args.learning_rate, "seconds": seconds,
           "best_epoch": result.best_epoch, "machine": machine()}
    for name, frames in ((args.type, picked[:args.count]), ("AIMD-NVT", others)):
        errors = evaluate(result.model, frames, progress=False).to_dict()["overall"]
        out[name] = {"energy_mae": errors["energy_mae"], "force_mae": errors["force_mae"]}
        print(f"{name:10s} training E MAE {errors['energy_mae']:.2f} meV/atom, "
              f"F MAE {errors['force_mae']:.4f} eV/Å")
    write_json(args.out or f"nn_fit_subset_{args.element}_{args.type}_{args.epochs}", out)


if __name__ == "__main__":
    main()
