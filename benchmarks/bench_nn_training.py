"""BPNN training throughput: jaxpot vs TorchANI, same architecture and data, same run.

    python benchmarks/bench_nn_training.py [--frames 64] [--epochs 3] [--torch-device cuda]
        [--apax-python ENV/bin/python] [--out nn_training_gpu]

Both train a Behler–Parrinello network (one (64, 64) MLP per element on the same ANI AEVs:
jaxpot's scaled_ani_settings at 5 Å) on mlearn Si training structures (64 atoms) with an
energy + force loss, Adam, batch size 4, on the CPU.  TorchANI (2.9, pyaev, its documented
force-training recipe: AEVs and their graph rebuilt each step, forces by autograd with
create_graph) runs with torch.set_num_threads(cores), on ``--torch-device`` (on a GPU jaxpot
runs on JAX's default device, the GPU).  jaxpot trains on fixed features and Jacobians
(computed once; that preparation time is reported separately, as is compilation).  With
``--apax-python`` (the interpreter of a virtual environment holding apax, a JAX peer), apax's
GMNN of the same widths and cutoff trains on the same structures with its own trainer
(benchmarks/apax_peer.py).  Prints a table and writes
benchmarks/results/<--out, default nn_training>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

from _common import run_date

os.environ.setdefault("TORCHANI_NO_WARN_EXTENSIONS", "1")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--torch-device", default="cpu", help="cpu or cuda")
    p.add_argument("--apax-python", help="python of an environment with apax (adds its rows)")
    p.add_argument("--out", default="nn_training", help="results file stem")
    args = p.parse_args()
    import jax
    import numpy as np
    from ase.io import read
    data = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                        "mlearn_Si_PBE.extxyz")
    frames = [a for a in read(data, ":") if a.info["split"] == "training" and len(a) == 64]
    frames = frames[:args.frames]
    rows = {}

    # ---------------------------------------------------------------- jaxpot
    from jaxpot.nn import bpnn
    from jaxpot.nn.normalization import fit_normalization
    from jaxpot.nn.train import (
        TrainSettings,
        _compiled_steps,
        _optimizer,
        _schedule,
        initial_state,
        resolved,
        training_view,
    )
    from jaxpot.training.dataset import build_dataset, epoch_plan
    from jaxpot.training.labels import read_labels_checked
    model = bpnn(["Si"], 5.0)
    labels = read_labels_checked(frames)
    t0 = time.perf_counter()
    prepare, results_fn = training_view(model)
    ds = build_dataset(model, frames, labels, prepare=prepare)
    jax.block_until_ready(ds.buckets[0].extra)
    t_prep = time.perf_counter() - t0
    model = fit_normalization(model, frames, labels, ds)
    settings = resolved(TrainSettings(epochs=args.epochs, batch_size=4), model)
    opt = _optimizer(settings)
    schedule = _schedule(settings, len(epoch_plan(ds, 4, None)))
    net = jax.tree_util.tree_map(lambda x: x[None], model.params["net"])
    state = initial_state(net, opt)
    step, _ = _compiled_steps(model, opt, settings, results_fn)
    sigmas = np.asarray(settings.weights)
    times = []
    for epoch in range(args.epochs + 1):
        t = time.perf_counter()
        for k, rows_, w in epoch_plan(ds, 4, np.random.default_rng(epoch)):
            b = ds.buckets[k]
            state, loss, _ = step(state, b.batch, b.targets, b.extra, rows_, w, schedule, sigmas)
        jax.block_until_ready(loss)
        times.append(time.perf_counter() - t)
    rows["jaxpot"] = {"prepare_s": t_prep, "first_epoch_s": times[0],
                      "structures_per_s": len(frames) / np.mean(times[1:])}

    # ---------------------------------------------------------------- torchani
    import torch
    import torchani
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from torchani_peer import torchani_bpnn
    dev = args.torch_device
    comp, nets = torchani_bpnn(device=dev)
    n_f = comp.out_dim
    optim = torch.optim.Adam(nets.parameters(), lr=1e-3)
    f32 = {"dtype": torch.float32, "device": dev}
    coords = [torch.tensor(a.positions, **f32) for a in frames]
    cells = [torch.tensor(a.cell.array, **f32) for a in frames]
    energies = torch.tensor([a.get_potential_energy() for a in frames], **f32)
    forces = [torch.tensor(a.get_forces(), **f32) for a in frames]
    pbc = torch.tensor([True, True, True], device=dev)
    species = torch.zeros((1, 64), dtype=torch.long, device=dev)
    times = []
    for epoch in range(args.epochs + 1):
        t = time.perf_counter()
        order = np.random.default_rng(epoch).permutation(len(frames))
        for start in range(0, len(frames), 4):
            optim.zero_grad()
            loss = 0.0
            for i in order[start:start + 4]:  # periodic cells differ: one structure at a time
                c = coords[i].clone()[None].requires_grad_(True)
                aev = comp(species, c, cell=cells[i], pbc=pbc)
                e = nets(species, aev).sum()
                f = -torch.autograd.grad(e, c, create_graph=True)[0][0]
                loss = loss + ((e - energies[i]) / 64) ** 2 + ((f - forces[i]) ** 2).mean()
            loss.backward()
            optim.step()
        if dev != "cpu":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    rows["torchani"] = {"first_epoch_s": times[0],
                        "structures_per_s": len(frames) / np.mean(times[1:])}

    if args.apax_python:
        rows["apax"] = apax_training(args.apax_python, frames, args.epochs)

    print(f"BPNN training, {len(frames)} Si structures of 64 atoms, ANI AEVs "
          f"({n_f} features), (64, 64) networks, energy + force loss, batch 4")
    print(f"{'code':10} {'prepare s':>10} {'1st epoch s':>12} {'structures/s':>13}")
    for name, r in rows.items():
        print(f"{name:10} {r.get('prepare_s', float('nan')):10.1f} {r['first_epoch_s']:12.2f} "
              f"{r['structures_per_s']:13.1f}")
    ratio = rows["jaxpot"]["structures_per_s"] / rows["torchani"]["structures_per_s"]
    print(f"jaxpot / torchani throughput: {ratio:.1f}x")
    if "apax" in rows:
        print(f"jaxpot / apax throughput: "
              f"{rows['jaxpot']['structures_per_s'] / rows['apax']['structures_per_s']:.1f}x")
    out = {"rows": rows, "ratio": ratio, "frames": len(frames), "features": n_f, "date": run_date(),
           "machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
           "jax": jax.__version__, "torch": torch.__version__, "torchani": torchani.__version__,
           "x64": bool(jax.config.jax_enable_x64), "jax_device": str(jax.devices()[0]),
           "torch_device": dev}
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    with open(os.path.join(os.path.dirname(__file__), "results", f"{args.out}.json"),
              "w") as fh:
        json.dump(out, fh, indent=1)


def apax_training(python: str, frames, epochs: int) -> dict:
    """apax's training rate on ``frames`` (benchmarks/apax_peer.py in its own environment)."""
    import tempfile
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from apax_peer import train_frames
    with tempfile.TemporaryDirectory() as folder:
        out = train_frames(python, frames, folder, epochs)
    return {k: out[k] for k in ("first_epoch_s", "structures_per_s", "features",
                                "readout_params", "apax", "jax")}


if __name__ == "__main__":
    main()
