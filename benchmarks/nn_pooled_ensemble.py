"""Pool the members of saved network models into one deep ensemble, chosen on validation.

    python benchmarks/nn_pooled_ensemble.py --element Si \
        benchmarks/results/nn_mace_Si_gpu_long_2.jaxpot \
        benchmarks/results/nn_mace_Si_gpu_long_ens4.jaxpot [--out nn_mace_Si_gpu_pooled] \
        [--save /tmp/pool.jaxpot]

Each file is a single model or an ensemble of one architecture (same kind and settings, as
``jaxpot.nn.ensemble.pooled`` requires). Candidates: every file alone, and all their
members pooled into one ensemble (equal weights), recalibrated on the validation split.
The validation split is the trainer's (``validation_fraction`` 0.1, seed 0, carved from the
mlearn training split), so it held no frame any candidate trained on; the pick is the
candidate with the lowest validation loss (the trainer's weights: 2 meV/atom, 0.05 eV/Å,
0.5 GPa on RMSEs). The test split's errors of every candidate are printed beside it, and
only the pick's are the result. Writes benchmarks/results/<--out>.json; ``--save`` also writes
the calibrated pool, for ``nn_accuracy.py --evaluate`` (errors per config_type, calibration).
"""

from __future__ import annotations

import argparse
import os
import warnings

import jax
from _common import add_carve_argument, mlearn_splits, write_json


def loss(overall: dict) -> float:
    """The weighted loss of ``LossWeights()`` (the trainer's default for every kind when the
    models pooled here were trained; MACE's stage two still ends on it) from an evaluation's
    RMSEs (meV/atom, eV/Å, GPa)."""
    from jaxpot.training.weights import LossWeights
    w = LossWeights()
    return ((overall["energy_rmse"] / (1e3 * w.energy)) ** 2
            + (overall["force_rmse"] / w.forces) ** 2 + (overall["stress_rmse"] / w.stress) ** 2)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--element", required=True)
    p.add_argument("models", nargs="+")
    p.add_argument("--data", help="folder of the datasets (default ../shared/data beside the repo)")
    p.add_argument("--out", help="results file stem (default nn_pooled_<element>)")
    p.add_argument("--save", help="write the calibrated pool to this model file")
    add_carve_argument(p)
    args = p.parse_args()
    import jaxpot
    from jaxpot.evaluation import evaluate
    warnings.filterwarnings("ignore", message=".*float64 is off")  # float32, as trained
    from jaxpot.nn.ensemble import calibrate, members, pooled
    from jaxpot.training.labels import read_labels_checked
    from jaxpot.training.splits import validation_carve
    data = args.data or os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
    train_frames, test_frames = mlearn_splits(args.element, data)
    _, va = validation_carve(train_frames, 0.1, 0, stratify=not args.random_carve)
    val_frames = [train_frames[i] for i in va]
    loaded = {os.path.basename(path): jaxpot.load(path) for path in args.models}
    pool = pooled(list(loaded.values()))
    labels = read_labels_checked(val_frames, None, f"mlearn {args.element} (validation)")
    pool = calibrate(pool, val_frames, labels)
    if args.save:
        jaxpot.save(pool, args.save)
    candidates = {**loaded, f"pool of {len(members(pool))}": pool}
    rows = []
    for name, model in candidates.items():
        val = evaluate(model, val_frames).to_dict()["overall"]
        test = evaluate(model, test_frames).to_dict()["overall"]
        rows.append({"candidate": name, "members": len(members(model)),
                     "val_loss": loss(val), "val": val, "test": test})
        print(f"{name:40s} val loss {loss(val):7.2f}  val E {val['energy_mae']:.2f} "
              f"F {val['force_mae']:.4f}  | test E {test['energy_mae']:.2f} meV/atom "
              f"F {test['force_mae']:.4f} eV/Å  S {test['stress_mae']:.3f} GPa", flush=True)
    pick = min(rows, key=lambda r: r["val_loss"])
    print(f"picked on validation: {pick['candidate']} (test E {pick['test']['energy_mae']:.2f}"
          f" meV/atom, F {pick['test']['force_mae']:.4f} eV/Å)")
    out = {"element": args.element, "models": args.models, "n_validation": len(val_frames),
           "candidates": rows, "pick": pick["candidate"], "jax": jax.__version__}
    write_json(args.out or f"nn_pooled_{args.element}", out, indent=1)


if __name__ == "__main__":
    main()
