"""Where PaiNN's cost per neighbour slot grows: energy and forces (jitted, float32, default
widths, ``_common.best_time`` after compiling) on diamond Si and fcc Cu supercells of
1,760-14,848 slots (atoms x K at a 5 Å cutoff, no skin), in ns per slot (HISTORY.md,
"PaiNN's cost per slot").

    python benchmarks/bench_painn_slots.py [--out NAME]
"""

from __future__ import annotations

import argparse

from _common import best_time, machine, print_table, write_json


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="painn_slots")
    args = p.parse_args()
    import jax
    import jax.numpy as jnp
    from ase.build import bulk

    from jaxpot.neighbors import allocate_for_model
    from jaxpot.nn import painn
    cells = [("Si", bulk("Si", "diamond", a=5.43, cubic=True), rep) for rep in (2, 3)]
    cells += [("Cu", bulk("Cu", "fcc", a=3.61, cubic=True), rep) for rep in (2, 3, 4)]
    rows = []
    for element, unit, rep in cells:
        atoms = unit.repeat(rep)
        atoms.rattle(0.05, seed=1)
        model = painn([element], 5.0)
        nbrs = allocate_for_model(model, atoms.positions, atoms.cell.array, atoms.pbc, skin=0.0)
        inputs = (jnp.asarray(atoms.positions, jnp.float32),
                  jnp.asarray(atoms.cell.array, jnp.float32), jnp.asarray(atoms.numbers), nbrs)
        energy = jax.jit(model.energy_fn)
        forces = jax.jit(jax.grad(model.energy_fn, 1))
        jax.block_until_ready(energy(model.params, *inputs))
        jax.block_until_ready(forces(model.params, *inputs))
        n, k = nbrs.idx.shape
        e_ms = 1e3 * best_time(lambda: jax.block_until_ready(energy(model.params, *inputs)))
        f_ms = 1e3 * best_time(lambda: jax.block_until_ready(forces(model.params, *inputs)))
        rows.append({"cell": f"{element} {len(atoms)}", "atoms x K": f"{n} x {k}",
                     "slots": n * k, "energy ms": round(e_ms, 1),
                     "energy ns/slot": round(1e6 * e_ms / (n * k)),
                     "forces ms": round(f_ms, 1),
                     "forces ns/slot": round(1e6 * f_ms / (n * k))})
        print(rows[-1], flush=True)
    print_table(rows, list(rows[0]))
    print("wrote", write_json(args.out, {"machine": machine(), "rows": rows}))


if __name__ == "__main__":
    main()
