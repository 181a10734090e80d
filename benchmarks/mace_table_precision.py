"""Does a trained MACE's force error come from its radial table?  The same weights evaluated in
float64 on training frames with the radial MLP tabulated (the model's ``radial_grid``) and per
pair (``radial_grid = 0``).  Prints the force difference between the two next to each one's
force MAE against DFT, and writes JSON.

    python benchmarks/mace_table_precision.py \
        --model benchmarks/results/nn_mace_Li_gpu_long_2.jaxpot \
        --data ../shared/data/mlearn_Li_PBE.extxyz --frames 10
"""

from __future__ import annotations

import argparse
import json

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from _common import machine, print_table, write_json  # noqa: E402
from ase.io import read  # noqa: E402

import jaxpot  # noqa: E402
from jaxpot.nn.mace import mace_from_config  # noqa: E402


def _cast(tree, dtype):
    return jax.tree_util.tree_map(
        lambda x: x.astype(dtype) if np.dtype(x.dtype).kind == "f" else x, tree)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True, help="extxyz with split=training frames")
    p.add_argument("--frames", type=int, default=10, help="every 4th training frame, this many")
    p.add_argument("--out", default="mace_table_precision")
    args = p.parse_args()
    trained = jaxpot.load(args.model)
    config = json.loads(trained.spec)["config"]
    frames = [a for a in read(args.data, ":") if a.info.get("split") == "training"]
    frames = frames[::4][:args.frames]
    dft = np.concatenate([a.get_forces().ravel() for a in frames])
    forces = {}
    for grid in (config["radial_grid"], 0):
        model = mace_from_config(dict(config, radial_grid=grid, dtype="float64"),
                                 params=_cast(trained.params, np.float64))
        pred = jaxpot.predict(model, frames)
        forces[grid] = np.concatenate([f.ravel() for f in pred.forces])
    exact = forces[0]
    rows = [{"radial_grid": g, "max_dF_vs_per_pair": float(np.abs(f - exact).max()),
             "mae_dF_vs_per_pair": float(np.abs(f - exact).mean()),
             "force_mae_vs_dft": float(np.abs(f - dft).mean())}
            for g, f in forces.items()]
    print_table(rows, list(rows[0]))
    write_json(args.out, {"machine": machine(), "model": args.model, "data": args.data,
                          "frames": len(frames), "rows": rows})


if __name__ == "__main__":
    main()
