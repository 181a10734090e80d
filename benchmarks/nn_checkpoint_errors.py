"""Validation errors per config_type of a network run's kept model and of its last weights.

    python benchmarks/nn_checkpoint_errors.py --model RUN.jaxpot --train FILE [FILE ...]

``RUN.jaxpot`` is a model written by ``jaxpot train`` (or ``select_bpnn_angular_cutoff.py``
with ``--keep``), ``RUN.jaxpot.ckpt.npz`` its training checkpoint, ``--train`` the files it
was trained on.  The validation split is carved as the trainer carves it (10 %, seed 0); the
kept model (best validation loss) and the checkpoint's last EMA weights (single-member runs)
are evaluated on it, one table each.  Shows where a run's validation error went once it
passed its best epoch (e.g. one config_type's force RMSE far above its MAE: a few atoms
extrapolated).
"""

from __future__ import annotations

import argparse
import json

import jax
import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--train", nargs="+", required=True)
    p.add_argument("--fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    from ase.io import read
    import jaxpot
    from jaxpot.evaluation import evaluate
    from jaxpot.nn.data import split_indices
    frames = [a for path in args.train for a in read(path, ":")]
    _, va = split_indices(len(frames), args.fraction, args.seed)
    val = [frames[i] for i in va]
    kept = jaxpot.load(args.model)
    leaves, treedef = jax.tree_util.tree_flatten(kept.params["net"])
    # the checkpoint's leaves are the state dict's in tree order: best, ema, net, opt, step
    with np.load(args.model + ".ckpt.npz") as data:
        epoch = json.loads(str(data["header"]))["epoch"]
        ema = [jax.numpy.asarray(data[f"leaf_{len(leaves) + i:05d}"][0])
               for i in range(len(leaves))]
    last = kept.replace(params={"net": jax.tree_util.tree_unflatten(treedef, ema),
                                "norm": kept.params["norm"]})
    for name, model in (("kept (best validation loss)", kept), (f"last, epoch {epoch}", last)):
        print(f"== {name}\n{evaluate(model, val, progress=False).table()}")


if __name__ == "__main__":
    main()
