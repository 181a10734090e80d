"""Batched MD of systems of different sizes: jaxpot ``md.run_batch`` vs one ``md.run`` per
system vs TorchSim's batched ``integrate`` (its documented way to run many systems at once).

LJ argon (sigma 3.405 Å, epsilon 0.0104 eV, cutoff 8.5 Å), eight fcc cells of 16 to 256
atoms (``--sizes mixed``) or of 96 and 108 atoms (``--sizes similar``), rattled and started at
60 K, NVE with a 5 fs step.  Each runner is called twice: the first call is the time to the
first result (compilation, allocation), the second the steady cost.
TorchSim's LJ is a speed peer only (a plain truncated LJ; jaxpot's is ASE's smooth switch).

    python benchmarks/bench_md_batch.py [--steps 200] [--dtype float64] [--sizes mixed|similar]
"""

from __future__ import annotations

import argparse
import time

from _common import machine, print_table, write_json

SETS = {  # atoms per system
    "mixed": [16, 32, 48, 72, 108, 144, 192, 256],  # fcc repeats (2,2,1) ... (4,4,4)
    "similar": [108, 96, 108, 96, 108, 96, 108, 96],  # 3x3x3 cells, every other one less 12 atoms
}
REPEAT_OF = {16: (2, 2, 1), 32: (2, 2, 2), 48: (3, 2, 2), 72: (3, 3, 2), 108: (3, 3, 3),
             144: (4, 3, 3), 192: (4, 4, 3), 256: (4, 4, 4), 96: (3, 3, 3)}
SIGMA, EPSILON, CUTOFF, T0, DT_FS = 3.405, 0.0104, 8.5, 60.0, 5.0


def systems(sizes):
    from ase.build import bulk
    out = []
    for s, n in enumerate(sizes):
        atoms = bulk("Ar", "fcc", a=5.3, cubic=True).repeat(REPEAT_OF[n])[:n]
        atoms.rattle(0.03, seed=s)
        out.append(atoms)
    return out


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def jaxpot_rows(steps: int, dtype: str, sizes) -> list[dict]:
    import jax
    jax.config.update("jax_enable_x64", dtype == "float64")
    from jaxpot import md
    from jaxpot.potentials import lennard_jones
    model = lennard_jones(sigma=SIGMA, epsilon=EPSILON, cutoff=CUTOFF, smooth=True)
    integrator = md.nve(model, DT_FS)
    frames = systems(sizes)
    atom_steps = sum(len(a) for a in frames) * steps
    rows = []
    for name, fn in [
        ("jaxpot md.run_batch", lambda: md.run_batch(integrator, frames, steps,
                                                     temperatures=T0, log_interval=100)),
        ("jaxpot md.run per system", lambda: [md.run(integrator, a, steps, temperature=T0,
                                                     log_interval=100, progress=False)
                                              for a in frames])]:
        first, _ = timed(fn)
        steady, _ = timed(fn)
        rows.append({"runner": name, "dtype": dtype, "first_s": round(first, 2),
                     "steady_s": round(steady, 2),
                     "atom_steps_per_s": round(atom_steps / steady)})
    return rows


def torchsim_rows(steps: int, dtype: str, sizes) -> list[dict]:
    try:
        import torch
        import torch_sim as ts
        from torch_sim.models.lennard_jones import LennardJonesModel
    except ImportError as err:
        print(f"TorchSim not measured: {err}")
        return []
    from importlib.metadata import version
    torch.set_num_threads(2)
    model = LennardJonesModel(sigma=SIGMA, epsilon=EPSILON, cutoff=CUTOFF,
                              dtype=getattr(torch, dtype), device=torch.device("cpu"))
    frames = systems(sizes)
    atom_steps = sum(len(a) for a in frames) * steps

    def run():  # TorchSim's metal units: timestep in ps
        return ts.integrate(frames, model, integrator=ts.nve, n_steps=steps, temperature=T0,
                            timestep=DT_FS / 1000.0)

    first, _ = timed(run)
    steady, _ = timed(run)
    return [{"runner": f"TorchSim {version('torch-sim-atomistic')} integrate (batched)",
             "dtype": dtype, "first_s": round(first, 2), "steady_s": round(steady, 2),
             "atom_steps_per_s": round(atom_steps / steady)}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    parser.add_argument("--sizes", default="mixed", choices=tuple(SETS))
    args = parser.parse_args()
    sizes = SETS[args.sizes]
    rows = (jaxpot_rows(args.steps, args.dtype, sizes)
            + torchsim_rows(args.steps, args.dtype, sizes))
    print(f"{len(sizes)} LJ argon systems ({args.sizes}: {sizes}), {sum(sizes)} atoms, "
          f"{args.steps} NVE steps")
    print_table(rows, ["runner", "dtype", "first_s", "steady_s", "atom_steps_per_s"])
    path = write_json(f"md_batch_{args.sizes}_{args.dtype}",
                      {"machine": machine(), "steps": args.steps, "sizes": sizes, "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
