"""Lennard-Jones energy + forces per call: jaxpot vs jax-md vs ASE vs LAMMPS, same run.

fcc argon (sigma 3.405 Å, epsilon 0.0104 eV, cutoff 8.5 Å, shifted energy; jax-md has no
shift option, so its LJ uses its own smooth switch over 8.0-8.5 Å and its energy and forces
differ from the others by that switch) at 4,000 and
32,000 atoms, float64.  The neighbor list is built once outside the timed call (jaxpot: dense
cell-list list with 0.5 Å skin, its jitted skin check included in the call; jax-md: its dense
neighbor list; LAMMPS: `run 0` style per-step force evaluation without rebuild; ASE: its
python LennardJones calculator with the neighbor list already built).

Run: python benchmarks/bench_lj.py [--sizes 4000 32000] [--skip-ase]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _common import best_time, import_lammps, machine, print_table, write_json  # noqa: E402
from ase.build import bulk  # noqa: E402

SIGMA, EPSILON, CUTOFF, A = 3.405, 0.0104, 8.5, 5.26


def crystal(n_atoms: int):
    reps = round((n_atoms / 4) ** (1 / 3))
    atoms = bulk("Ar", "fcc", a=A, cubic=True).repeat(reps)
    atoms.rattle(0.05, seed=0)
    return atoms


def bench_jaxpot(atoms):
    from jaxpot.mechanics import energy_forces_stress
    from jaxpot.neighbors import allocate_neighbor_list, update_neighbor_list
    from jaxpot.potentials import lennard_jones
    model = lennard_jones(sigma=SIGMA, epsilon=EPSILON, cutoff=CUTOFF)
    t0 = time.perf_counter()
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, True, cutoff=CUTOFF, skin=0.5)
    t_alloc = time.perf_counter() - t0
    pos, cell, z = (jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
                    jnp.asarray(atoms.numbers))

    @jax.jit
    def step(pos, nbrs):
        nbrs = update_neighbor_list(pos, cell, nbrs)
        r = energy_forces_stress(model, pos, cell, z, nbrs, compute_stress=False)
        return r.energy, r.forces

    from jaxpot.neighbors import rebuild_neighbor_list
    rebuild = jax.jit(rebuild_neighbor_list)
    jax.block_until_ready(rebuild(pos, cell, nbrs))
    t_update = best_time(lambda: jax.block_until_ready(rebuild(pos, cell, nbrs)), repeat=2)
    e, f = jax.block_until_ready(step(pos, nbrs))
    t = best_time(lambda: jax.block_until_ready(step(pos, nbrs)))
    return t, float(e), np.asarray(f), t_alloc, t_update


def bench_jax_md(atoms):
    from jax_md import energy, partition, space
    box = jnp.asarray(atoms.cell.array.diagonal())
    displacement, _ = space.periodic(box)
    nfn, efn = energy.lennard_jones_neighbor_list(
        displacement, box, sigma=SIGMA, epsilon=EPSILON, r_onset=CUTOFF - 0.5,
        r_cutoff=CUTOFF, dr_threshold=0.5, format=partition.Dense)
    pos = jnp.asarray(atoms.positions)
    t0 = time.perf_counter()
    nbrs = nfn.allocate(pos)
    t_alloc = time.perf_counter() - t0

    @jax.jit
    def step(pos, nbrs):  # energy + forces with the list as built (no rebuild)
        e, g = jax.value_and_grad(efn)(pos, neighbor=nbrs)
        return e, -g

    update = jax.jit(lambda pos, nbrs: nbrs.update(pos))
    jax.block_until_ready(update(pos, nbrs))
    t_update = best_time(lambda: jax.block_until_ready(update(pos, nbrs)), repeat=2)
    e, f = jax.block_until_ready(step(pos, nbrs))
    t = best_time(lambda: jax.block_until_ready(step(pos, nbrs)))
    return t, float(e), np.asarray(f), t_alloc, t_update


def bench_ase(atoms):
    from ase.calculators.lj import LennardJones
    a = atoms.copy()
    a.calc = LennardJones(sigma=SIGMA, epsilon=EPSILON, rc=CUTOFF)
    a.get_forces()

    def call():
        a.calc.results.clear()
        a.calc.calculate(a, ["energy", "forces"], [])
    t = best_time(call, repeat=2, min_time=0.0)
    return t, a.get_potential_energy(), a.get_forces(), float("nan"), float("nan")


def bench_lammps(atoms):
    lammps = import_lammps()
    from ase.io import write
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data.lmp")
        write(data, atoms, format="lammps-data", atom_style="atomic", masses=True)
        lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none"])
        for cmd in ["units metal", "atom_style atomic", "boundary p p p", f"read_data {data}",
                    f"pair_style lj/cut {CUTOFF}", f"pair_coeff * * {EPSILON} {SIGMA}",
                    "pair_modify shift yes", "neighbor 0.5 bin",
                    "neigh_modify every 1000 delay 0 check no",
                    "thermo_style custom pe", "run 0"]:
            lmp.command(cmd)
        nsteps = 20
        lmp.command("fix nothing all nve")
        lmp.command("timestep 0.0")  # zero time step: every step re-evaluates the same forces
        t0 = time.perf_counter()
        lmp.command(f"run {nsteps} pre no post no")
        t = (time.perf_counter() - t0) / nsteps
        e = lmp.get_thermo("pe")
        f = np.array(lmp.numpy.extract_atom("f"))[: len(atoms)].copy()
        ids = np.array(lmp.numpy.extract_atom("id"))[: len(atoms)]
        f = f[np.argsort(ids)]
        lmp.close()
    return t, e, f, float("nan"), float("nan")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 32000])
    parser.add_argument("--skip-ase", action="store_true")
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        atoms = crystal(n)
        results = {}
        codes = {"jaxpot": bench_jaxpot, "jax-md": bench_jax_md, "LAMMPS": bench_lammps}
        if not args.skip_ase:
            codes["ASE"] = bench_ase
        for code, fn in codes.items():
            try:
                results[code] = fn(atoms)
            except Exception as err:  # noqa: BLE001 - a failing peer is reported, not fatal
                rows.append({"atoms": len(atoms), "code": code,
                             "ms_per_call": f"failed: {type(err).__name__}: {str(err)[:60]}"})
        f_ref = results["LAMMPS"][2]
        for code, (t, e, f, t_alloc, t_update) in results.items():
            rows.append({"atoms": len(atoms), "code": code, "ms_per_call": round(1e3 * t, 2),
                         "us_per_atom": round(1e6 * t / len(atoms), 3),
                         "energy_eV": round(e, 6),
                         "max_dF_vs_LAMMPS": f"{np.abs(f - f_ref).max():.1e}",
                         "nl_alloc_s": "" if np.isnan(t_alloc) else round(t_alloc, 2),
                         "nl_rebuild_ms": "" if np.isnan(t_update) else round(1e3 * t_update, 1)})
    print_table(rows, ["atoms", "code", "ms_per_call", "us_per_atom", "energy_eV",
                       "max_dF_vs_LAMMPS", "nl_alloc_s", "nl_rebuild_ms"])
    print("json:", write_json("lj", {"machine": machine(), "rows": rows}))


if __name__ == "__main__":
    main()
