"""apax (a JAX peer) training and MD, run in apax's own environment by the NN benchmarks.

    <apax python> benchmarks/apax_peer.py train FRAMES.extxyz --epochs 3 --dir DIR
    <apax python> benchmarks/apax_peer.py md DIR STRUCTURE.extxyz --steps 1000

apax pins its own jax/flax (and pulls in TensorFlow), so it lives in a virtual environment of
its own (``python -m venv ENV && ENV/bin/pip install apax``) and the benchmarks call this file
with that interpreter (``--apax-python ENV/bin/python``).  This file imports apax, ase and
numpy only; it prints one ``RESULT {json}`` line, which :func:`call` (importable without
apax) returns as a dict.

The model is apax's GMNN (Gaussian-moment descriptor, one MLP shared by the elements) with
every setting at apax's default except the hidden widths, (64, 64) like jaxpot's BPNN, and the
cutoff, 5 Å like it.  ``train``: apax's own trainer (``apax.train.run.run``), batch size 4,
energy + force loss, its per-epoch wall time from its CSV log (the first epoch includes
compilation; apax's epoch also validates the 4-structure validation set it requires).
``md``: apax's own jitted MD driver (``apax.md.run_md``, NVE, 1 fs, its default 0.5 Å skin
and inner loop of ``n_inner`` steps); its wall time, compilation included, is timed in two fresh
processes, one inner loop and ``--steps`` more, and the steady rate is from the difference.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import time

HIDDEN = [64, 64]
CUTOFF = 5.0


def model_config() -> dict:
    return {"name": "gmnn", "nn": HIDDEN, "basis": {"name": "bessel", "r_max": CUTOFF}}


def train(frames: str, epochs: int, folder: str) -> dict:
    from apax.train.run import run
    from ase.io import read, write
    atoms = read(frames, ":")
    val = os.path.join(folder, "val.extxyz")
    os.makedirs(folder, exist_ok=True)
    write(val, atoms[:4])
    config = {"n_epochs": epochs + 1, "seed": 1, "model": model_config(),
              "data": {"directory": folder, "experiment": "apax", "train_data_path": frames,
                       "val_data_path": val, "n_train": len(atoms), "n_valid": 4,
                       "batch_size": 4, "valid_batch_size": 4},
              "loss": [{"name": "energy"}, {"name": "forces", "weight": 4.0}],
              "metrics": [{"name": "energy", "reductions": ["mae"]},
                          {"name": "forces", "reductions": ["mae"]}]}
    t0 = time.perf_counter()
    run(config)
    total = time.perf_counter() - t0
    with open(os.path.join(folder, "apax", "log.csv")) as fh:
        times = [float(r["epoch_time"]) for r in csv.DictReader(fh)]
    import jax
    from apax.train.checkpoints import restore_parameters
    readout = restore_parameters(os.path.join(folder, "apax"))[1]["params"]["energy_model"][
        "readout"]
    return {"structures": len(atoms), "first_epoch_s": times[0], "total_s": total,
            "features": int(readout["dense_0"]["w"].shape[0]),
            "readout_params": int(sum(x.size for x in jax.tree_util.tree_leaves(readout))),
            "structures_per_s": (len(atoms) / (sum(times[1:]) / len(times[1:]))
                                 if len(times) > 1 else None),
            "epoch_times_s": times}


def md(folder: str, structure: str, steps: int, n_inner: int) -> dict:
    """Steady MD rate from two fresh processes: one inner loop, then ``steps`` more (each
    pays the same compilation, which the difference removes)."""
    import sys

    from ase.io import read
    n_atoms = len(read(structure))
    wall = [call(sys.executable, ["md-once", folder, structure, "--steps", str(n),
                                  "--n-inner", str(n_inner)])["wall_s"]
            for n in (n_inner, n_inner + steps)]
    return {"atoms": n_atoms, "first_result_s": wall[0],
            "atom_steps_per_s": steps * n_atoms / (wall[1] - wall[0])}


def md_once(folder: str, structure: str, n_steps: int, n_inner: int) -> float:
    """Wall time of apax's ``run_md`` for ``n_steps`` (model loading, neighbor list,
    compilation and the steps), s."""
    from apax.config import parse_config
    from apax.md.simulate import run_md
    md_config = {"ensemble": {"name": "nve", "dt": 1.0,
                              "temperature_schedule": {"name": "constant", "T0": 600.0}},
                 "duration": float(n_steps), "n_inner": n_inner, "sampling_rate": n_inner,
                 "sim_dir": os.path.join(folder, f"md_{n_steps}"),
                 "initial_structure": structure, "restart": False, "disable_pbar": True}
    model = parse_config(os.path.join(folder, "apax", "config.yaml"))
    logging.disable(logging.CRITICAL)
    t0 = time.perf_counter()
    run_md(model, parse_config(md_config, mode="md"), log_level="error")
    return time.perf_counter() - t0


def train_frames(python: str, frames, folder: str, epochs: int) -> dict:
    """Client side (no apax needed): write ``frames`` (ase.Atoms) to ``folder`` and train on
    them with apax's ``python``; the ``train`` result."""
    from ase.io import write
    path = os.path.join(folder, "frames.extxyz")
    write(path, frames)
    return call(python, ["train", path, "--epochs", str(epochs), "--dir", folder])


def call(python: str, argv: list[str]) -> dict:
    """Run this file with ``python`` (apax's environment); its RESULT line as a dict."""
    import subprocess
    proc = subprocess.run([python, os.path.abspath(__file__), *argv], capture_output=True,
                          text=True, check=False)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if not line:
        raise RuntimeError(f"apax_peer.py {argv[0]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[0][7:])


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("frames")
    t.add_argument("--epochs", type=int, default=3)
    t.add_argument("--dir", required=True)
    m = sub.add_parser("md")
    m.add_argument("dir")
    m.add_argument("structure")
    m.add_argument("--steps", type=int, default=1000)
    m.add_argument("--n-inner", type=int, default=100)
    once = sub.add_parser("md-once")
    once.add_argument("dir")
    once.add_argument("structure")
    once.add_argument("--steps", type=int, required=True)
    once.add_argument("--n-inner", type=int, default=100)
    args = p.parse_args()
    if args.cmd == "train":
        out = train(args.frames, args.epochs, args.dir)
    elif args.cmd == "md":
        out = md(args.dir, args.structure, args.steps, args.n_inner)
    else:
        out = {"wall_s": md_once(args.dir, args.structure, args.steps, args.n_inner)}
    import apax
    import jax
    out.update(apax=apax.__version__, jax=jax.__version__, device=str(jax.devices()[0]))
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
