"""Energy + forces (+ stress) per call on full rows vs the half list, and XLA:CPU's YNNPACK
fusions on vs off, for the classical models (float64, one jitted call, compilation excluded).

``--section lists``: LJ (in.lj geometry, skin 0.3) and EAM (``Cu_mishin1.eam.alloy`` fcc,
skin 1.0 Å), rattled 0.02 Å, capacities rounded as the calculator rounds them, with stress:
what ``driver.refresh_neighbors`` chooses between (the model's kind: the half list alone).
``--section ynn``: energy + forces and energy + forces + stress of LJ, EAM, SW, Tersoff
(4,000-atom cells, rattled 0.05 Å) on ``allocate_for_model``'s list, each jitted with and
without ``compiler_options={"xla_cpu_experimental_ynn_fusion_type": ""}``.

Run: python benchmarks/bench_list_kinds.py [--section lists ynn]
Writes benchmarks/results/list_kinds.json.
"""

from __future__ import annotations

import argparse
import functools
import os

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
from _common import best_time, import_lammps, machine, print_table, write_json  # noqa: E402
from ase.build import bulk  # noqa: E402

NO_YNN = {"xla_cpu_experimental_ynn_fusion_type": ""}


def potential_file(name: str) -> str:
    lammps = import_lammps()
    return os.path.join(os.path.dirname(lammps.__file__), "share", "lammps", "potentials", name)


def system(name: str, reps: int):
    """(model, atoms, skin) of one benchmark system."""
    from jaxpot.potentials import eam, lennard_jones, stillinger_weber, tersoff
    if name == "lj":
        return (lennard_jones(1.0, 1.0, cutoff=2.5, shift=False),
                bulk("Ar", "fcc", a=(4 / 0.8442) ** (1 / 3), cubic=True).repeat(reps), 0.3)
    if name == "eam":
        return (eam(potential_file("Cu_mishin1.eam.alloy")),
                bulk("Cu", "fcc", a=3.615, cubic=True).repeat(reps), 1.0)
    si = bulk("Si", "diamond", a=5.431, cubic=True).repeat(reps)
    if name == "sw":
        return stillinger_weber(), si, 1.0
    return tersoff(potential_file("Si.tersoff")), si, 1.0


def time_call(model, atoms, nbrs, stress: bool, options=None) -> float:
    """Seconds per jitted energy + forces (+ stress) call."""
    from jaxpot.mechanics import _energy_forces_stress
    pos, cell = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)
    species = jnp.asarray(atoms.numbers)
    fn = jax.jit(functools.partial(
        lambda p, nb, s: _energy_forces_stress(model, p, cell, species, nb, compute_stress=s),
        s=stress), compiler_options=options)
    jax.block_until_ready(fn(pos, nbrs))
    return best_time(lambda: jax.block_until_ready(fn(pos, nbrs)), repeat=3)


def lists_section() -> list[dict]:
    from jaxpot.neighbors import allocate_for_model
    rows = []
    for name, sizes in (("lj", (3, 4, 6, 10)), ("eam", (3, 4, 6, 10))):
        for reps in sizes:
            model, atoms, skin = system(name, reps)
            atoms.rattle(0.02, seed=1)
            row = {"section": "lists", "model": name, "atoms": len(atoms)}
            for kind, rows_on in (("rows_ms", True), ("half_ms", False)):
                nbrs = allocate_for_model(model, atoms.positions, atoms.cell.array, True,
                                          skin=skin, rows=rows_on, round_capacities=True)
                row[kind] = round(1e3 * time_call(model, atoms, nbrs, True), 3)
            print(row, flush=True)
            rows.append(row)
    return rows


def ynn_section() -> list[dict]:
    from jaxpot.neighbors import allocate_for_model
    rows = []
    for name, reps in (("lj", 10), ("eam", 10), ("sw", 8), ("tersoff", 8)):
        model, atoms, skin = system(name, reps)
        atoms.rattle(0.05, seed=1)
        nbrs = allocate_for_model(model, atoms.positions, atoms.cell.array, True, skin=skin)
        row = {"section": "ynn", "model": name, "atoms": len(atoms)}
        for label, options in (("default", None), ("ynn_off", NO_YNN)):
            for stress in (False, True):
                key = f"{label}_{'efs' if stress else 'ef'}_ms"
                row[key] = round(1e3 * time_call(model, atoms, nbrs, stress, options), 3)
        print(row, flush=True)
        rows.append(row)
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--section", nargs="+", choices=["lists", "ynn"],
                        default=["lists", "ynn"])
    args = parser.parse_args()
    rows = []
    if "lists" in args.section:
        part = lists_section()
        print_table(part, ["model", "atoms", "rows_ms", "half_ms"])
        rows += part
    if "ynn" in args.section:
        part = ynn_section()
        print_table(part, ["model", "atoms", "default_ef_ms", "ynn_off_ef_ms", "default_efs_ms",
                           "ynn_off_efs_ms"])
        rows += part
    print("json:", write_json("list_kinds", {"machine": machine(), "rows": rows,
                                             "command": "python benchmarks/bench_list_kinds.py"
                                             }))


if __name__ == "__main__":
    main()
