"""One structure's loss gradient (energy + forces) for PaiNN and MACE at default widths, on a
64-atom mlearn Si frame and a 108-atom fcc frame of ``fcc_eam_set.py`` (how the step cost
grows with the neighbour slots; RESULTS.md, "Default network training on larger structures").

    python benchmarks/fcc_eam_set.py --out /tmp/cu_eam
    python benchmarks/bench_nn_step_sizes.py [--fcc /tmp/cu_eam_train.extxyz]
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--fcc", default="/tmp/cu_eam_train.extxyz")
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args()
    from ase.io import read
    from jaxpot.nn import mace, painn
    from jaxpot.nn.data import build_dataset, read_labels_checked
    from jaxpot.nn.loss import LossWeights, batch_loss
    data = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
    si = [a for a in read(os.path.join(data, "mlearn_Si_PBE.extxyz"), ":")
          if a.info["split"] == "training" and len(a) == 64][:1]
    fcc = [a for a in read(args.fcc, ":") if len(a) == 108][:1]
    print("model  frame  atoms x slots  loss-gradient ms")
    for kind, build in (("painn", painn), ("mace", mace)):
        for name, frames in (("Si", si), ("fcc", fcc)):
            model = build([frames[0].get_chemical_symbols()[0]], 5.0)
            bucket = build_dataset(model, frames, read_labels_checked(frames)).buckets[0]
            weight = jnp.ones(bucket.batch.positions.shape[0])
            grad = jax.jit(jax.grad(lambda prm: batch_loss(
                model.replace(params=prm), bucket.batch, bucket.targets, weight,
                LossWeights())[0]))
            jax.block_until_ready(grad(model.params))
            start = time.perf_counter()
            for _ in range(args.repeats):
                jax.block_until_ready(grad(model.params))
            ms = (time.perf_counter() - start) / args.repeats * 1e3
            shape = bucket.batch.neighbors.idx.shape
            print(f"{kind:6s} {name:5s}  {shape[1]} x {shape[2]}  {ms:.1f}")


if __name__ == "__main__":
    main()
