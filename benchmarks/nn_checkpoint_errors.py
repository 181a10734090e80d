"""Validation errors per config_type of a network run's kept model and of its last weights.

    python benchmarks/nn_checkpoint_errors.py --model RUN.jaxpot --train FILE [FILE ...]

``RUN.jaxpot`` is a model written by ``jaxpot train`` (or ``select_bpnn_angular_cutoff.py``
with ``--keep``), ``RUN.jaxpot.ckpt.npz`` its training checkpoint, ``--train`` the files it
was trained on.  The validation split is carved as the trainer carves it (10 %, seed 0); the
kept model (best validation loss) and the checkpoint's last EMA weights (single-member runs)
are evaluated on it, one table each, then the validation frames with the largest
single-atom force error, each with its shortest interatomic distance next to the training
split's (an atom pushed closer than any training pair is outside what was fitted).  Shows
where a run's validation error went once it passed its best epoch (e.g. one config_type's
force RMSE far above its MAE: a few atoms extrapolated).
"""

from __future__ import annotations

import argparse
import json

import jax
import numpy as np
from _common import add_carve_argument


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--train", nargs="+", required=True)
    p.add_argument("--fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    add_carve_argument(p)
    args = p.parse_args()
    from ase.io import read

    import jaxpot
    from jaxpot.evaluation import evaluate
    from jaxpot.training.splits import validation_carve
    frames = [a for path in args.train for a in read(path, ":")]
    _, va = validation_carve(frames, args.fraction, args.seed, not args.random_carve)
    val = [frames[i] for i in va]
    kept = jaxpot.load(args.model)
    leaves, treedef = jax.tree_util.tree_flatten(kept.params["net"])
    # the checkpoint's leaves are the state dict's in tree order: best, ema, net, opt, step;
    # the best leaves must be the kept model's, else the layout is not the one read here
    with np.load(args.model + ".ckpt.npz") as data:
        epoch = json.loads(str(data["header"]))["epoch"]
        stored = [data[f"leaf_{i:05d}"][0] for i in range(2 * len(leaves))]
    if not all(np.array_equal(a, np.asarray(b)) for a, b in zip(stored, leaves)):
        raise SystemExit(f"{args.model}.ckpt.npz: its first leaves are not the kept model's "
                         "weights (another run, or another trainer state layout)")
    ema = [jax.numpy.asarray(x) for x in stored[len(leaves):]]
    last = kept.replace(params={"net": jax.tree_util.tree_unflatten(treedef, ema),
                                "norm": kept.params["norm"]})
    from ase.neighborlist import neighbor_list
    train_min = min(shortest(frames[i], neighbor_list) for i in range(len(frames))
                    if i not in set(va))
    for name, model in (("kept (best validation loss)", kept), (f"last, epoch {epoch}", last)):
        print(f"== {name}\n{evaluate(model, val, progress=False).table()}")
        forces = jaxpot.predict(model, val, progress=False).forces
        worst = sorted(((float(np.linalg.norm(np.asarray(f)[:len(a)] - a.get_forces(),
                                              axis=1).max()), i) for i, (f, a) in
                        enumerate(zip(forces, val))), reverse=True)[:3]
        for err, i in worst:
            kind = val[i].info.get("config_type", "?")
            print(f"  validation frame {va[i]} ({kind}): largest |F error| {err:.3f} eV/Å, "
                  f"shortest distance {shortest(val[i], neighbor_list):.3f} Å (training split: "
                  f"{train_min:.3f} Å)")


def shortest(atoms, neighbor_list) -> float:
    """The shortest interatomic distance (Å) within 3 Å, inf if none."""
    d = neighbor_list("d", atoms, 3.0)
    return float(d.min()) if len(d) else float("inf")


if __name__ == "__main__":
    main()
