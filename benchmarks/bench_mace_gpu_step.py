"""What a MACE training step costs on an accelerator: ensemble members, batch, matmul precision.

    python benchmarks/bench_mace_gpu_step.py [--channels 64] [--out mace_gpu_step]

The trainer's own compiled step (``bench_nn_step.training_step``: energy + forces + stress
loss, Adam, EMA) for the long-run GPU recipe (MACE, 64 channels, 4 structures per step) and
three changes of it, one at a time: 4 ensemble members in one vmap, 16 structures per step,
and float32 matrix products at JAX's default precision (TF32 on NVIDIA GPUs) instead of
``highest``.  Each row: compile s, ms per step, and ms per structure-member (step ms / (batch
x members)).  Rows print as they finish; writes benchmarks/results/<--out>.json.
"""

from __future__ import annotations

import argparse
import os

import jax

from _common import machine, print_table, write_json
from bench_nn_step import training_step

VARIANTS = {  # name: (batch_size, members, matmul precision)
    "batch 4 (the GPU recipe)": (4, 1, "highest"),
    "batch 4, 4 members": (4, 4, "highest"),
    "batch 16": (16, 1, "highest"),
    "batch 4, default precision": (4, 1, "default"),
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--frames", type=int, default=64, help="mlearn Si training frames timed")
    p.add_argument("--only", nargs="*", help="variant names (default: all)")
    p.add_argument("--data", help="folder of the datasets (default ../shared/data beside the repo)")
    p.add_argument("--out", default="mace_gpu_step")
    args = p.parse_args()
    from ase.io import read
    from jaxpot.nn import mace
    from jaxpot.nn.train import TrainSettings
    data = args.data or os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
    frames = read(os.path.join(data, "mlearn_Si_PBE.extxyz"), ":")
    frames = [a for a in frames if len(a) == 64]  # one bucket shape
    rows = []
    for name, (batch, members, precision) in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        with jax.default_matmul_precision(precision):
            row = training_step(mace(["Si"], 5.0, channels=args.channels), frames,
                                n_frames=args.frames,
                                settings=TrainSettings(batch_size=batch), members=members)
        row = {"variant": name, **row, "ms per structure-member": round(
            row["train step ms"] / (batch * members), 2)}
        print(row, flush=True)
        rows.append(row)
    print_table(rows, ["variant", "K", "compile s", "train step ms", "ms per structure-member"])
    print("wrote", write_json(args.out, {"machine": machine(), "channels": args.channels,
                                         "device": str(jax.devices()[0]), "rows": rows}))


if __name__ == "__main__":
    main()
