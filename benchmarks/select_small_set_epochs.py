"""Default epochs of a network trained on a small set, chosen on a validation split only.

    python benchmarks/select_small_set_epochs.py --model mace --element Si --n-train 48 \
        [--epochs 128] [--seed 0]

The validation split is the one ``jaxpot train`` carves from mlearn's full training split of
``--element`` (10 %, seed 0: 21-25 structures); the training set is ``--n-train`` structures
drawn (``--seed``) from the rest, so that runs on subsets of different sizes are scored on the
same structures.  The network is the kind's default at 5 Å (``jaxpot.nn.pipeline.train``,
``model = --model``), every setting the default except ``--epochs`` when given.  The test
split is never read.  Prints and appends one JSON line to benchmarks/results/<--out, default
small_set_epochs>.jsonl: the subset's pairs within 5 Å, the default epochs for them, the
epochs run, the best epoch, wall seconds, and the kept model's validation errors.  Run pairs
side by side pinned to one core each (``taskset -c 0|1``).
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np
from _common import add_carve_argument, append_row, mlearn_frames, validation_run


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mace")
    p.add_argument("--element", default="Si")
    p.add_argument("--n-train", type=int, default=48, help="training structures")
    p.add_argument("--epochs", type=int, help="epochs (default: the kind's default)")
    p.add_argument("--seed", type=int, default=0, help="which structures form the subset")
    p.add_argument("--data", help="folder of the datasets (default ../shared/data)")
    p.add_argument("--out", default="small_set_epochs")
    add_carve_argument(p)
    args = p.parse_args()
    from ase.io import write

    from jaxpot.nn.kinds import NETWORK_KINDS, default_epochs
    from jaxpot.nn.normalization import pair_count
    from jaxpot.training.splits import validation_carve
    frames = mlearn_frames(args.element, "training", args.data)
    rest, val = validation_carve(frames, 0.1, 0, not args.random_carve)  # the trainer's
    order = np.random.default_rng(args.seed).permutation(rest)
    subset = [frames[i] for i in order[:args.n_train]]
    validation = [frames[i] for i in val]
    cutoff = 5.0
    n_pairs = pair_count(subset, cutoff)
    settings = {} if args.epochs is None else {"epochs": args.epochs}
    with tempfile.TemporaryDirectory() as tmp:
        val_file = os.path.join(tmp, "validation.extxyz")
        write(val_file, validation)
        config = {"model": args.model, "species": [args.element], "cutoff": cutoff,
                  "train_frames": subset, "validation": [val_file], "model_settings": {},
                  "train_settings": settings}
        run = validation_run(config)
    append_row(args.out, {
        "model": args.model, "element": args.element, "n_train": len(subset),
        "seed": args.seed, "pairs": n_pairs,
        "default_epochs": default_epochs(NETWORK_KINDS[args.model], n_pairs, len(subset)),
        "epochs": args.epochs, **run})


if __name__ == "__main__":
    main()
