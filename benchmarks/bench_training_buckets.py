"""Training epochs with small buckets kept apart on the CPU, against merging them all upward.

    python benchmarks/bench_training_buckets.py [--model mace] [--epochs 6] [--out NAME]

n2p2's water example (``../shared/data``; 48-, 96- and 192-atom cells; 6 Å), the 16 training
frames of ``nn_accuracy.py --element water`` (seeded 16/4 split), the trainer's own 10 %
validation carve, the default network of ``--model``, ``--epochs`` epochs.  Two runs, one after
the other in fresh processes pinned to the same core: ``jaxpot.nn.data.CPU_MAX_PADDING`` as
shipped (a small bucket joins a larger shape only while the padding stays within a quarter of
the set's atoms), and set to infinity (every bucket of fewer than 16 frames merges upward, the
rule before).  Prints the buckets (frames, atoms, neighbour slots), the training set's pairs
within 6 Å and padded slots per epoch, the first epoch (compilation included), the median of the
others and the validation errors; writes benchmarks/results/<--out>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

from _common import SHARED_DATA, machine, print_table, write_json


def worker(model: str, epochs: int, merge_all: bool) -> dict:
    import math

    import numpy as np
    from ase.io import read

    import jaxpot.nn.data
    from jaxpot.nn.normalization import pair_count
    from jaxpot.nn.pipeline import train
    from jaxpot.training_data import split_indices
    if merge_all:
        jaxpot.nn.data.CPU_MAX_PADDING = math.inf
    frames = read(SHARED_DATA / "water_rpbe_d3_n2p2_example.extxyz", ":")
    order = np.random.default_rng(0).permutation(len(frames))
    train_frames = [frames[i] for i in order[:16]]
    shapes = []
    build = jaxpot.nn.data.build_dataset

    def recording(*args, **kwargs):  # (frames, atoms, neighbour slots) of each bucket
        dataset = build(*args, **kwargs)
        shapes.append([list(b.batch.neighbors.idx.shape) for b in dataset.buckets])
        return dataset

    sys.modules["jaxpot.nn.train"].build_dataset = recording  # jaxpot.nn.train is a function
    with tempfile.TemporaryDirectory() as tmp:
        config = {"model": model, "species": ["H", "O"], "cutoff": 6.0,
                  "output": os.path.join(tmp, "water.jaxpot"), "train_frames": train_frames,
                  "model_settings": {}, "train_settings": {"epochs": epochs}}
        result = train(config, progress=False, echo=lambda *a: None)
    times = [h["seconds"] for h in result.history]
    last = result.history[-1]
    kept, _ = split_indices(len(train_frames), 0.1, 0)  # the trainer's validation carve
    return {"buckets_train": shapes[0], "buckets_validation": shapes[1],
            "pairs": pair_count([train_frames[i] for i in kept], 6.0),
            "padded_slots": sum(b * n * k for b, n, k in shapes[0]),
            "first_epoch_s": round(times[0], 2),
            "median_epoch_s": round(statistics.median(times[1:]), 3),
            "val_energy_mae": last.get("val_energy_mae"),
            "val_forces_mae": last.get("val_forces_mae")}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mace")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--core", type=int, default=0, help="the core both runs are pinned to")
    p.add_argument("--out", default="training_buckets")
    p.add_argument("--_worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args._worker:
        print(json.dumps(worker(args.model, args.epochs, args._worker == "merge_all")))
        return
    rows = []
    for mode in ("shipped", "merge_all"):
        out = subprocess.run(["taskset", "-c", str(args.core), sys.executable, __file__,
                              "--model", args.model, "--epochs", str(args.epochs),
                              "--_worker", mode], capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"the {mode} worker failed:\n{out.stderr[-3000:]}")
        rows.append({"rule": mode, **json.loads(out.stdout.strip().splitlines()[-1])})
    print_table(rows, ["rule", "buckets_train", "pairs", "padded_slots", "first_epoch_s",
                       "median_epoch_s", "val_energy_mae", "val_forces_mae"])
    print("speed-up of the median epoch: "
          f"{rows[1]['median_epoch_s'] / rows[0]['median_epoch_s']:.2f}x")
    print("wrote", write_json(args.out, {"model": args.model, "epochs": args.epochs,
                                         "rows": rows, "machine": machine()}))


if __name__ == "__main__":
    main()
