"""BPNN inference in MD: jaxpot vs TorchANI, atom-steps per second, same model size.

    python benchmarks/bench_nn_md.py [--repeats 2 3 4] [--steps 200] [--torch-device cuda]
        [--torch-neighborlist all_pairs] [--apax-python ENV/bin/python] [--out nn_md_gpu]

The same architecture (one (64, 64) network per element on ANI AEVs, 48 features at 5 Å)
runs on diamond Si supercells.  jaxpot: ``md.run`` with velocity Verlet (jitted chunks,
neighbor list updated inside jit), float32 and float64, on JAX's default device.  TorchANI
2.9: AEVComputer (pyaev: its compiled cuaev extension is not in the PyPI wheel) + ANINetworks
on ``--torch-device`` with its ``--torch-neighborlist`` pair search (default ``cell_list``,
its fastest here), energy and forces by autograd per step in float32 — forces only, no
integration or neighbor bookkeeping, so this favours TorchANI.  Time to first result
(compilation included) is reported next to the steady rate.  With ``--apax-python`` (the
interpreter of a virtual environment holding apax, a JAX peer), apax's GMNN of the same widths
and cutoff (trained for one epoch on 16 mlearn Si structures: the rate does not depend on the
weights) runs NVE in its own jitted MD driver, float32, 1,000 steps after its first inner loop
(benchmarks/apax_peer.py).  Writes benchmarks/results/<--out, default nn_md>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

from _common import run_date, write_json

os.environ.setdefault("TORCHANI_NO_WARN_EXTENSIONS", "1")


def jaxpot_rate(repeat: int, steps: int, x64: bool, fraction: float) -> dict:
    import jax
    jax.config.update("jax_enable_x64", x64)
    from ase.build import bulk

    from jaxpot import md
    from jaxpot.nn import bpnn
    atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat(repeat)
    model = bpnn(["Si"], 5.0, angular_cutoff=5.0 * fraction)
    t0 = time.perf_counter()
    res = md.run(md.nve(model, 1.0), atoms, steps, temperature=600.0, progress=False,
                 log_interval=10, chunk=50)
    return {"atoms": len(atoms), "first_result_s": res.timing["first_chunk_s"],
            "atom_steps_per_s": res.timing["steps_per_s"] * len(atoms),
            "total_s": time.perf_counter() - t0}


def torchani_rate(repeat: int, steps: int, device: str, neighborlist: str,
                  fraction: float) -> dict:
    import numpy as np
    import torch
    from ase.build import bulk
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from torchani_peer import torchani_bpnn
    comp, nets = torchani_bpnn(device=device, neighborlist=neighborlist,
                               angular_fraction=fraction)
    atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat(repeat)
    f32 = {"dtype": torch.float32, "device": device}
    cell = torch.tensor(atoms.cell.array, **f32)
    pbc = torch.tensor([True] * 3, device=device)
    species = torch.zeros((1, len(atoms)), dtype=torch.long, device=device)
    pos = torch.tensor(atoms.positions + np.random.default_rng(0).normal(
        0, 0.03, atoms.positions.shape), **f32)[None]
    sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)
    times = []
    for _ in range(steps + 1):
        t = time.perf_counter()
        c = pos.detach().requires_grad_(True)
        e = nets(species, comp(species, c, cell=cell, pbc=pbc)).sum()
        f = -torch.autograd.grad(e, c)[0]
        pos = pos + 1e-4 * f
        sync()
        times.append(time.perf_counter() - t)
    return {"atoms": len(atoms), "first_result_s": times[0],
            "atom_steps_per_s": len(atoms) / float(np.mean(times[1:]))}


def print_row(r: dict) -> None:
    print(f"{r['code']:14} {r['atoms']:6d} atoms  first result {r['first_result_s']:7.2f} s"
          f"  {r['atom_steps_per_s']:12.0f} atom-steps/s", flush=True)


def apax_model(python: str):
    """A folder (TemporaryDirectory) holding an apax GMNN trained one epoch on 16 Si frames."""
    import tempfile

    from ase.io import read
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from apax_peer import train_frames
    data = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                        "mlearn_Si_PBE.extxyz")
    frames = [a for a in read(data, ":") if a.info["split"] == "training"][:16]
    folder = tempfile.TemporaryDirectory()
    train_frames(python, frames, folder.name, epochs=0)
    return folder


def apax_rate(python: str, folder: str, repeat: int) -> dict:
    """apax's MD rate on the diamond cell jaxpot runs (benchmarks/apax_peer.py)."""
    from apax_peer import call
    from ase.build import bulk
    from ase.io import write
    path = os.path.join(folder, f"si_{repeat}.extxyz")
    write(path, bulk("Si", "diamond", a=5.43, cubic=True).repeat(repeat))
    out = call(python, ["md", folder, path, "--steps", "1000"])
    return {"code": "apax f32", "atoms": out["atoms"], "first_result_s": out["first_result_s"],
            "atom_steps_per_s": out["atom_steps_per_s"], "apax": out["apax"]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, nargs="+", default=[2, 3, 4])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--torch-device", default="cpu", help="cpu or cuda")
    p.add_argument("--torch-neighborlist", default="cell_list",
                   help="TorchANI pair search: cell_list (its fastest here) or all_pairs")
    p.add_argument("--apax-python", help="python of an environment with apax (adds its rows)")
    p.add_argument("--out", default="nn_md", help="results file stem")
    p.add_argument("--angular-fraction", type=float,
                   help="r_cut_angular / 5 Å (bpnn's angular_cutoff; default "
                   "jaxpot.nn.bpnn.ANGULAR_CUTOFF_FRACTION)")
    p.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.angular_fraction is None:
        from jaxpot.nn.bpnn import ANGULAR_CUTOFF_FRACTION
        args.angular_fraction = ANGULAR_CUTOFF_FRACTION
    if args.one:  # one measurement in a fresh process (clean compilation caches)
        code, repeat, x64 = args.one
        out = (jaxpot_rate(int(repeat), args.steps, x64 == "1", args.angular_fraction)
               if code == "jaxpot" else
               torchani_rate(int(repeat), args.steps, args.torch_device,
                             args.torch_neighborlist, args.angular_fraction))
        print("RESULT " + json.dumps(out))
        return
    rows = []
    apax_dir = apax_model(args.apax_python) if args.apax_python else None
    for repeat in args.repeats:
        if apax_dir:
            rows.append(apax_rate(args.apax_python, apax_dir.name, repeat))
            print_row(rows[-1])
        for code, x64 in (("jaxpot", "0"), ("jaxpot", "1"), ("torchani", "0")):
            proc = subprocess.run([sys.executable, __file__, "--steps", str(args.steps),
                                   "--torch-device", args.torch_device,
                                   "--torch-neighborlist", args.torch_neighborlist,
                                   "--angular-fraction", str(args.angular_fraction),
                                   "--one", code, str(repeat), x64], capture_output=True,
                                  text=True, check=False)
            line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if not line:
                raise RuntimeError(proc.stderr[-2000:])
            r = json.loads(line[0][7:])
            r.update(code=code + (" f64" if x64 == "1" else " f32"))
            rows.append(r)
            print_row(r)
    import jax
    import torch
    import torchani
    out = {"rows": rows, "steps": args.steps, "cores": os.cpu_count(), "date": run_date(),
           "machine": platform.processor() or platform.machine(), "jax": jax.__version__,
           "torch": torch.__version__, "torchani": torchani.__version__,
           "jax_device": str(jax.devices()[0]), "torch_device": args.torch_device,
           "torch_neighborlist": args.torch_neighborlist,
           "angular_fraction": args.angular_fraction}
    if apax_dir:
        out["apax"] = next(r["apax"] for r in rows if r["code"] == "apax f32")
    write_json(args.out, out, indent=1)


if __name__ == "__main__":
    main()
