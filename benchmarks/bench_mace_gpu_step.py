"""What a MACE training step costs on an accelerator: ensemble members, batch, matmul precision.

    python benchmarks/bench_mace_gpu_step.py [--channels 64] [--out mace_gpu_step]

The trainer's own compiled step (``bench_nn_step.training_step``: energy + forces + stress
loss, Adam, EMA) for the long-run GPU recipe (MACE, 64 channels, 4 structures per step) and
four changes of it, one at a time: 4 ensemble members in one vmap, 16 structures per step,
float32 matrix products at JAX's default precision (TF32 on NVIDIA GPUs) instead of
``highest``, and neighbour slots on the coarse ladder (48 for this set instead of 36;
``build_dataset(fine_capacity=False)``, the rule before 2026-11-28's sixth session).  The
frames: mlearn Si's training split (213 frames padded to 64 atoms, one of 96).  Each row:
compile s, ms per step, and ms per structure-member (step ms / (batch x members)).  Rows
print as they finish; writes benchmarks/results/<--out>.json.
"""

from __future__ import annotations

import argparse

import jax
from _common import machine, mlearn_frames, print_table, write_json
from bench_nn_step import training_step

ACCELERATOR = {"tight": False}  # build_dataset's buckets on an accelerator, on any backend
VARIANTS = {  # name: (batch_size, members, matmul precision, build_dataset options)
    "batch 4 (the GPU recipe)": (4, 1, "highest", ACCELERATOR),
    "batch 4, 4 members": (4, 4, "highest", ACCELERATOR),
    "batch 16": (16, 1, "highest", ACCELERATOR),
    "batch 4, default precision": (4, 1, "default", ACCELERATOR),
    "batch 4, slots on the coarse ladder": (4, 1, "highest",
                                            {**ACCELERATOR, "fine_capacity": False}),
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--frames", type=int, help="the first FRAMES of the training split only")
    p.add_argument("--only", nargs="*", help="variant names (default: all)")
    p.add_argument("--data", help="folder of the datasets (default ../shared/data beside the repo)")
    p.add_argument("--out", default="mace_gpu_step")
    args = p.parse_args()
    from jaxpot.nn import mace
    from jaxpot.nn.train import TrainSettings
    frames = mlearn_frames("Si", "training", data=args.data)
    rows = []
    for name, (batch, members, precision, buckets) in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        with jax.default_matmul_precision(precision):
            row = training_step(mace(["Si"], 5.0, channels=args.channels), frames,
                                n_frames=args.frames or len(frames),
                                settings=TrainSettings(batch_size=batch), members=members,
                                buckets=buckets)
        row = {"variant": name, **row, "ms per structure-member": round(
            row["train step ms"] / (batch * members), 2)}
        print(row, flush=True)
        rows.append(row)
    print_table(rows, ["variant", "K", "compile s", "train step ms", "ms per structure-member"])
    print("wrote", write_json(args.out, {"machine": machine(), "channels": args.channels,
                                         "device": str(jax.devices()[0]), "rows": rows}))


if __name__ == "__main__":
    main()
