"""Training epochs in tight buckets (the CPU's default) against the coarse ones (a GPU's).

    python benchmarks/bench_training_buckets.py [--set water|Si|Ge|Li|FILE] [--model mace]
        [--epochs 6] [--core 0] [--before] [--out NAME]

``--set water``: n2p2's water example (``../shared/data``; 48-, 96- and 192-atom cells; 6
Å), the 16 training frames of ``nn_accuracy.py --element water`` (seeded 16/4 split); an
element: mlearn's training split at 5 Å; a file: its frames at 5 Å (``fcc_eam_set.py``'s).
The trainer's own 10 % validation carve, the default network of ``--model``, ``--epochs``
epochs.  Two runs, one after the other in fresh processes
pinned to the same core: tight buckets (``jaxpot.training.dataset.build_dataset(tight=True)``: atoms
and neighbour slots on the fine ladder, a small bucket joins a larger shape only while the
padding stays within a quarter of the set's atoms), coarse ones (``tight=False``, an
accelerator's: atoms on the coarse ladder, every bucket of fewer than 16 frames merged
upward, neighbour slots on the fine ladder) and, with ``--before``, coarse ones with the slots
on the coarse ladder too (``fine_capacity=False``, the accelerator's rule before).  Prints
the training buckets (frames, atoms, neighbour slots), the training set's pairs within the
cutoff and padded slots per epoch, the first epoch (compilation included), the median of the
others and the last validation errors; writes benchmarks/results/<--out>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

from _common import SHARED_DATA, machine, mlearn_frames, print_table, write_json


def training_set(name: str) -> tuple[list, list[str], float]:
    """(frames, species, cutoff Å) of ``--set``."""
    import numpy as np
    from ase.io import read
    if name.endswith(".extxyz"):  # e.g. fcc_eam_set.py's training file
        frames = read(name, ":")
        return frames, sorted({s for a in frames for s in a.get_chemical_symbols()}), 5.0
    if name != "water":
        return mlearn_frames(name, "training"), [name], 5.0
    frames = read(SHARED_DATA / "water_rpbe_d3_n2p2_example.extxyz", ":")
    order = np.random.default_rng(0).permutation(len(frames))
    return [frames[i] for i in order[:16]], ["H", "O"], 6.0


MODES = {"tight": {"tight": True}, "coarse": {"tight": False},
         "coarse_before": {"tight": False, "fine_capacity": False}}


def worker(name: str, model: str, epochs: int, mode: str) -> dict:
    import jaxpot.training.dataset
    from jaxpot.nn.normalization import pair_count
    from jaxpot.nn.pipeline import train
    from jaxpot.training.splits import validation_carve
    train_frames, species, cutoff = training_set(name)
    shapes = []
    build = jaxpot.training.dataset.build_dataset

    def recording(*args, **kwargs):  # (frames, atoms, neighbour slots) of each bucket
        dataset = build(*args, **{**kwargs, **MODES[mode]})
        shapes.append([list(b.batch.neighbors.idx.shape) for b in dataset.buckets])
        return dataset

    sys.modules["jaxpot.nn.train"].build_dataset = recording  # jaxpot.nn.train is a function
    with tempfile.TemporaryDirectory() as tmp:
        config = {"model": model, "species": species, "cutoff": cutoff,
                  "output": os.path.join(tmp, "model.jaxpot"), "train_frames": train_frames,
                  "model_settings": {}, "train_settings": {"epochs": epochs}}
        result = train(config, progress=False, echo=lambda *a: None)
    times = [h["seconds"] for h in result.history]
    last = result.history[-1]
    kept, _ = validation_carve(train_frames, 0.1, 0)  # the trainer's validation carve
    return {"buckets_train": shapes[0], "buckets_validation": shapes[1],
            "pairs": pair_count([train_frames[i] for i in kept], cutoff),
            "padded_slots": sum(b * n * k for b, n, k in shapes[0]),
            "first_epoch_s": round(times[0], 2),
            "median_epoch_s": round(statistics.median(times[1:]), 3),
            "val_energy_mae": last.get("val_energy_mae"),
            "val_forces_mae": last.get("val_forces_mae")}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--set", default="water", help="water, an mlearn element (Si, Ge, Li) or an "
                   "extxyz file (5 Å)")
    p.add_argument("--model", default="mace")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--core", type=int, default=0, help="the core both runs are pinned to")
    p.add_argument("--out", help="results name (default training_buckets_<set>)")
    p.add_argument("--before", action="store_true", help="also the accelerator's rule before "
                   "(neighbour slots on the coarse ladder)")
    p.add_argument("--_worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args._worker:
        print(json.dumps(worker(args.set, args.model, args.epochs, args._worker)))
        return
    rows = []
    for mode in ("tight", "coarse") + (("coarse_before",) if args.before else ()):
        out = subprocess.run(["taskset", "-c", str(args.core), sys.executable, __file__,
                              "--set", args.set, "--model", args.model, "--epochs",
                              str(args.epochs), "--_worker", mode], capture_output=True,
                             text=True)
        if out.returncode:
            sys.exit(f"the {mode} worker failed:\n{out.stderr[-3000:]}")
        rows.append({"rule": mode, **json.loads(out.stdout.strip().splitlines()[-1])})
    print_table(rows, ["rule", "buckets_train", "pairs", "padded_slots", "first_epoch_s",
                       "median_epoch_s", "val_energy_mae", "val_forces_mae"])
    for row in rows[1:]:
        print(f"median epoch, {row['rule']} / tight: "
              f"{row['median_epoch_s'] / rows[0]['median_epoch_s']:.2f}x")
    if args.before:
        print("median epoch, coarse_before / coarse: "
              f"{rows[2]['median_epoch_s'] / rows[1]['median_epoch_s']:.2f}x")
    tag = os.path.splitext(os.path.basename(args.set))[0]
    payload = {"set": args.set, "model": args.model, "epochs": args.epochs, "rows": rows,
               "machine": machine()}
    print("wrote", write_json(args.out or f"training_buckets_{tag}", payload))


if __name__ == "__main__":
    main()
