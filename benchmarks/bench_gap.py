"""GAP fit and prediction: jaxpot ``gap.fit`` vs QUIP's ``gap_fit`` on the mlearn data.

Data: ``../shared/data/mlearn_{Si,Ge,Li}_PBE.extxyz`` (Zuo et al., J. Phys. Chem. A 124, 731
(2020)), split by ``atoms.info["split"]`` into the paper's training and test sets (Si 214/25,
Ge 228/25, Li 241/29).  The training split is shuffled once (seed 0; the order does not change
a fit, it only makes ``--quick`` and ``--scaling`` subsets mix the config types) and written by
``ase.io.write`` to ``train.xyz`` in a temporary directory with energies and forces only (the
stress is dropped, because gap_fit fits ``stress`` whenever it finds no virial; ``--virials``
keeps ``info["virial"]``).  Both codes read that same file.

Settings: mlearn's own Si gap_fit command line (mlearn ``mvl_models/Si/gap/gap.xml``, see
REFERENCE-NOTES), with ASE's label names::

    at_file=train.xyz gap={soap l_max=8 n_max=8 atom_sigma=0.5 zeta=4 cutoff=5.4
    cutoff_transition_width=0.5 delta=1.0 f0=0.0 n_sparse=1000 covariance_type=dot_product
    sparse_method=cur_points} sparse_jitter=1e-08 e0=-0.79 e0_offset=0.0
    default_sigma={0.01 0.05 0.01 1} energy_parameter_name=energy
    force_parameter_name=forces virial_parameter_name=none gp_file=gap.xml

(energies + forces, as mlearn fitted; ``--virials``: ``virial_parameter_name=virial``).  We have
no mlearn gap_fit command for Ge and Li offline, so they use the Si line with ``e0=0.0`` (the
element's isolated-atom energy is not known here; the GP absorbs the constant).  gap_fit runs
the line as given; jaxpot runs ``gap.fit`` with ``gap.parse_gap_fit(<the same line>).settings``
(float64).  ``--n-sparse`` replaces n_sparse in both.  ``--quick``: 10 training configurations,
n_sparse=50, l_max=4, n_max=4 for both codes (a smoke test, not a measurement).

Sections (every fit, evaluation and timing in a subprocess of its own):
  fit       wall time and peak RSS of the whole fitting process (``/usr/bin/time -v``: "Elapsed
            (wall clock)" and "Maximum resident set size"; for jaxpot this includes starting
            Python, importing JAX, reading the file and saving the model, as gap_fit's includes
            reading the file and writing the XML; ``fit_s`` is ``gap.fit`` alone).  Then
            test-split MAE/RMSE of energy (meV/atom), forces (eV/Å, all components) and stress
            RMSE (GPa, 6 Voigt components; not fitted unless --virials): jaxpot's model by
            ``jaxpot.evaluation.evaluate``, gap_fit's XML by ``quippy.potential.Potential`` as
            an ASE calculator on each test frame (same formulas in NumPy).  ``pub_E``/``pub_F``:
            Zuo et al.'s GAP test MAEs; ``x_gap_fit`` = jaxpot wall / gap_fit wall (<1: faster).
  predict   energy + forces + stress of the element's AIMD-NVT test frames (64 atoms for Si
            and Ge, 54 for Li), one call per frame: ``jaxpot.JaxpotCalculator`` on the fitted
            model and quippy ``Potential`` on gap_fit's XML (both via ``get_properties``); and
            ``jaxpot.predict`` over the whole test split per call.  ``first_s``: from loading
            the model to the first result (compilation included; imports excluded);
            ``ms_atom``: median over ``--repeats`` calls on rattled copies (0.01 Å, fresh
            ``Atoms`` each call, so nothing is cached; neighbor lists are rebuilt).  No quippy
            row when gap_fit was skipped.  ``x_quippy``: ms_atom / quippy's (<1: faster).
  scaling   (``--scaling``, first element only) jaxpot fit wall time and peak RSS vs number of
            training configurations (25, 50, 100, all) at n_sparse 500, and vs n_sparse
            (250, 500, 1000) on all training data; test MAEs alongside (``--quick``: 5 and
            10 configurations at n_sparse 20, and 10 at 50).

gap_fit comes from the quippy-ase wheel (single-threaded: no OpenMP); jaxpot's XLA uses every
core of the machine.  The load average before and after is stored with the results.

Run: python benchmarks/bench_gap.py [--elements Si Ge Li] [--codes jaxpot gap_fit]
         [--n-sparse N] [--virials] [--scaling] [--repeats 5] [--quick]
Writes benchmarks/results/gap.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine, mlearn_frames, print_table, published_mae, write_json

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PUBLISHED = {el: published_mae("GAP", el) for el in ("Si", "Ge", "Li")}  # E meV/atom, F eV/Å
E0 = {"Si": -0.79, "Ge": 0.0, "Li": 0.0}  # Si: mlearn's; Ge, Li: no mlearn command offline
SEED = 0
RATTLE = 0.01


def gap_fit_args(element: str, n_sparse: int, l_max: int, n_max: int, virials: bool,
                 at_file: str = "train.xyz", gp_file: str = "gap.xml") -> list[str]:
    """mlearn's Si gap_fit command line as argv tokens (module docstring)."""
    soap = (f"soap l_max={l_max} n_max={n_max} atom_sigma=0.5 zeta=4 cutoff=5.4 "
            f"cutoff_transition_width=0.5 delta=1.0 f0=0.0 n_sparse={n_sparse} "
            "covariance_type=dot_product sparse_method=cur_points")
    return [f"at_file={at_file}", f"gap={{{soap}}}", "sparse_jitter=1e-08",
            f"e0={E0[element]}", "e0_offset=0.0", "default_sigma={0.01 0.05 0.01 1}",
            "energy_parameter_name=energy", "force_parameter_name=forces",
            f"virial_parameter_name={'virial' if virials else 'none'}", f"gp_file={gp_file}"]


def read_split(element: str, split: str) -> list:
    return mlearn_frames(element, split, DATA)


def write_training(path: Path, frames: list, virials: bool) -> None:
    """Energies and forces (and info["virial"] with ``virials``) only: no stress."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write
    out = []
    for a in frames:
        b = Atoms(a.numbers, a.positions, cell=a.cell, pbc=a.pbc)
        b.info["config_type"] = a.info["config_type"]
        if virials:
            b.info["virial"] = a.info["virial"]
        b.calc = SinglePointCalculator(b, energy=a.get_potential_energy(),
                                       forces=a.get_forces())
        out.append(b)
    write(path, out, format="extxyz")


# --- workers: each prints one JSON row ---------------------------------------------------

def work_fit_jaxpot(spec: dict) -> dict:
    """``gap.fit`` with parse_gap_fit(<gap_fit argv>).settings; saves the model."""
    import jax
    jax.config.update("jax_enable_x64", True)
    from ase.io import read

    import jaxpot
    from jaxpot import gap
    job = gap.parse_gap_fit(spec["args"])
    frames = read(job.at_file, ":")
    t0 = time.perf_counter()
    res = gap.fit(frames, job.settings, source=job.at_file, progress=False)
    fit_s = time.perf_counter() - t0
    jaxpot.save(res.model, spec["model_file"])
    return {"fit_s": fit_s, "stages": res.timings, "n_observations": int(res.n_observations),
            "n_sparse_total": len(res.posterior[0]), "n_train": len(frames),
            "n_train_atoms": int(sum(len(a) for a in frames))}


def _metrics(pred_e, ref_e, sizes, pred_f, ref_f, pred_s, ref_s) -> dict:
    """Same definitions as jaxpot.evaluation: meV/atom, eV/Å, GPa."""
    import numpy as np
    from ase import units

    def mae_rmse(err):
        err = np.asarray(err, float).ravel()
        return float(np.mean(np.abs(err))), float(np.sqrt(np.mean(err ** 2)))
    e = mae_rmse(1000.0 * (np.asarray(pred_e) - np.asarray(ref_e)) / np.asarray(sizes))
    f = mae_rmse(np.concatenate(pred_f) - np.concatenate(ref_f))
    s = mae_rmse((np.asarray(pred_s) - np.asarray(ref_s)) / units.GPa)
    return {"energy_mae": e[0], "energy_rmse": e[1], "force_mae": f[0], "force_rmse": f[1],
            "stress_mae": s[0], "stress_rmse": s[1]}


def work_eval_jaxpot(spec: dict) -> dict:
    import jax
    jax.config.update("jax_enable_x64", True)
    import jaxpot
    from jaxpot.evaluation import evaluate
    model = jaxpot.load(spec["model_file"])
    ev = evaluate(model, read_split(spec["element"], "test"), progress=False)
    return {"metrics": ev.to_dict()["overall"]}


def work_eval_quippy(spec: dict) -> dict:
    from ase.calculators.calculator import all_changes
    from quippy.potential import Potential
    pot = Potential(param_filename=spec["xml_file"])
    test = read_split(spec["element"], "test")
    cols: dict[str, list] = {k: [] for k in ("pe", "re", "n", "pf", "rf", "ps", "rs")}
    for a in test:
        ref_e, ref_f, ref_s = a.get_potential_energy(), a.get_forces(), a.get_stress()
        b = a.copy()
        b.calc = pot
        pot.calculate(b, ["energy", "forces", "stress"], all_changes)
        out = pot.results
        cols["pe"].append(out["energy"])
        cols["re"].append(ref_e)
        cols["n"].append(len(a))
        cols["pf"].append(out["forces"])
        cols["rf"].append(ref_f)
        cols["ps"].append(out["stress"])
        cols["rs"].append(ref_s)
    return {"metrics": _metrics(cols["pe"], cols["re"], cols["n"], cols["pf"], cols["rf"],
                                cols["ps"], cols["rs"])}


def _rattled(frames: list, seed: int) -> list:
    out = []
    for k, a in enumerate(frames):
        b = a.copy()
        b.calc = None
        b.rattle(RATTLE, seed=1000 * seed + k)
        out.append(b)
    return out


def work_speed(spec: dict) -> dict:
    """Time to first result from model loading, then the median of ``repeats`` calls."""
    import numpy as np
    from ase.calculators.calculator import all_changes
    mode = spec["mode"]
    test = read_split(spec["element"], "test")
    aimd = [a for a in test if a.info["config_type"] == "AIMD-NVT"]
    if mode == "quippy":
        from quippy.potential import Potential
    else:
        import jax
        jax.config.update("jax_enable_x64", True)
        import jaxpot
    props = ["energy", "forces", "stress"]
    frames = test if mode == "jaxpot_predict" else aimd
    first = _rattled(frames, 0) if mode == "jaxpot_predict" else _rattled(frames[:1], 0)
    t0 = time.perf_counter()
    if mode == "quippy":
        calc = Potential(param_filename=spec["xml_file"])
    else:
        model = jaxpot.load(spec["model_file"])
        calc = jaxpot.JaxpotCalculator(model) if mode == "jaxpot_calculator" else None
    if calc is None:
        jaxpot.predict(model, first, progress=False)
    else:
        calc.calculate(first[0], props, all_changes)
    first_s = time.perf_counter() - t0
    times, atoms = [], []
    for r in range(1, spec["repeats"] + 1):
        if calc is None:
            batch = _rattled(frames, r)
            t0 = time.perf_counter()
            jaxpot.predict(model, batch, progress=False)
        else:
            batch = _rattled([frames[r % len(frames)]], r)
            t0 = time.perf_counter()
            calc.calculate(batch[0], props, all_changes)
        times.append(time.perf_counter() - t0)
        atoms.append(sum(len(a) for a in batch))
    per_atom = [t / n for t, n in zip(times, atoms)]
    return {"first_s": first_s, "ms_atom": 1e3 * float(np.median(per_atom)),
            "ms_atom_min": 1e3 * float(np.min(per_atom)), "call_s": times,
            "atoms_per_call": atoms[0] if len(set(atoms)) == 1 else atoms,
            "frames_per_call": len(frames) if calc is None else 1}


WORKERS = {"fit_jaxpot": work_fit_jaxpot, "eval_jaxpot": work_eval_jaxpot,
           "eval_quippy": work_eval_quippy, "speed": work_speed}


# --- driver ------------------------------------------------------------------------------

def timed_run(cmd: list[str], cwd: Path, log: Path, timeout: float) -> dict:
    """Run ``cmd`` under ``/usr/bin/time -v``; wall s, peak MB, stdout, exit status."""
    tfile = cwd / f".time.{os.getpid()}.{time.monotonic_ns()}"
    with open(log, "w") as out:
        proc = subprocess.run(["/usr/bin/time", "-v", "-o", str(tfile), *cmd], cwd=cwd,
                              stdout=subprocess.PIPE, stderr=out, text=True, timeout=timeout,
                              check=False)
    report = tfile.read_text() if tfile.exists() else ""
    tfile.unlink(missing_ok=True)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", report)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
    if proc.returncode != 0 or wall is None:
        tail = log.read_text()[-2000:] if log.exists() else ""
        raise RuntimeError(f"{' '.join(cmd[:2])} ... exit status {proc.returncode}\n"
                           f"{tail}{proc.stdout[-1000:]}")
    h, m, s = wall.groups()
    return {"wall_s": 3600 * int(h or 0) + 60 * int(m) + float(s),
            "peak_mb": int(rss.group(1)) / 1024 if rss else None, "stdout": proc.stdout}


def python_worker(spec: dict, cwd: Path, timeout: float, timed: bool = False) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--_worker", json.dumps(spec)]
    log = cwd / f"{spec['kind']}.{spec.get('mode', spec.get('tag', ''))}.log"
    if timed:
        res = timed_run(cmd, cwd, log, timeout)
        out = json.loads(res["stdout"].strip().splitlines()[-1])
        return {"wall_s": res["wall_s"], "peak_mb": res["peak_mb"], **out}
    with open(log, "w") as err:
        proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=err, text=True,
                              timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {spec['kind']} exit status {proc.returncode}\n"
                           f"{log.read_text()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def attempt(row: dict, label: str, fn, key: str = "error") -> dict:
    """Run ``fn()`` into ``row``; a failure becomes a ``key`` entry saying why."""
    print(f"running {label} ...", flush=True)
    t0 = time.perf_counter()
    try:
        row.update(fn())
    except Exception as exc:  # noqa: BLE001 - a failing peer becomes a row saying why
        row[key] = str(exc)
        lines = str(exc).strip().splitlines()
        print(f"  FAILED: {lines[-1] if lines else exc!r}", flush=True)
    row["driver_s" if key == "error" else "eval_driver_s"] = round(time.perf_counter() - t0, 2)
    return row


def shuffled_training(element: str) -> list:
    import numpy as np
    train = read_split(element, "training")
    order = np.random.default_rng(SEED).permutation(len(train))
    return [train[i] for i in order]


def run_element(element: str, args, settings: dict, work: Path) -> tuple[list, list]:
    train = shuffled_training(element)[:settings["n_train"]]
    write_training(work / "train.xyz", train, args.virials)
    argv = gap_fit_args(element, settings["n_sparse"], settings["l_max"], settings["n_max"],
                        args.virials)
    base = {"element": element, "n_train": len(train),
            "n_train_atoms": sum(len(a) for a in train), "n_sparse": settings["n_sparse"],
            "l_max": settings["l_max"], "n_max": settings["n_max"],
            "command_line": " ".join(["gap_fit", *argv])}
    fit_rows, speed_rows = [], []
    if "gap_fit" in args.codes:
        row = attempt({**base, "code": "gap_fit"}, f"gap_fit {element} fit", lambda: {
            k: v for k, v in timed_run(["gap_fit", *argv], work, work / "gap_fit.log",
                                       args.timeout).items() if k != "stdout"})
        if "error" not in row:
            attempt(row, f"quippy {element} test errors", lambda: python_worker(
                {"kind": "eval_quippy", "element": element, "xml_file": "gap.xml"}, work,
                args.timeout), key="eval_error")
        fit_rows.append(row)
    if "jaxpot" in args.codes:
        spec = {"kind": "fit_jaxpot", "args": argv, "model_file": "model.jaxpot",
                "tag": "main"}
        row = attempt({**base, "code": "jaxpot"}, f"jaxpot {element} fit",
                      lambda: python_worker(spec, work, args.timeout, timed=True))
        if "error" not in row:
            attempt(row, f"jaxpot {element} test errors", lambda: python_worker(
                {"kind": "eval_jaxpot", "element": element, "model_file": "model.jaxpot"},
                work, args.timeout), key="eval_error")
        fit_rows.append(row)
    have = {r["code"] for r in fit_rows if "error" not in r}
    modes = ([("jaxpot_calculator", "jaxpot"), ("jaxpot_predict", "jaxpot")]
             + [("quippy", "gap_fit")])
    for mode, needs in modes:
        if needs not in have:
            continue
        spec = {"kind": "speed", "mode": mode, "element": element, "repeats": args.repeats,
                "model_file": "model.jaxpot", "xml_file": "gap.xml"}
        speed_rows.append(attempt({"element": element, "code": mode},
                                  f"{mode} {element} prediction speed",
                                  lambda s=spec: python_worker(s, work, args.timeout)))
    for path in args.models or []:  # other jaxpot models (e.g. GapSettings() fits), same run
        for mode in ("jaxpot_calculator", "jaxpot_predict"):
            spec = {"kind": "speed", "mode": mode, "element": element, "repeats": args.repeats,
                    "model_file": os.path.abspath(path)}
            code = f"{mode} ({Path(path).name})"
            speed_rows.append(attempt({"element": element, "code": code},
                                      f"{code} {element} prediction speed",
                                      lambda s=spec: python_worker(s, work, args.timeout)))
    return fit_rows, speed_rows


def run_scaling(element: str, args, settings: dict, work: Path) -> list:
    train_all = shuffled_training(element)
    n_all = len(train_all)
    if args.quick:
        points = [(5, 20), (10, 20), (10, 50)]
    else:
        points = ([(n, 500) for n in (25, 50, 100, n_all)]
                  + [(n_all, m) for m in (250, 1000)])
    rows = []
    for n, m in points:
        n = min(n, n_all)
        name = f"train_{n}.xyz"
        write_training(work / name, train_all[:n], args.virials)
        argv = gap_fit_args(element, m, settings["l_max"], settings["n_max"], args.virials,
                            at_file=name)
        model_file = f"scaling_{n}_{m}.jaxpot"
        row = {"element": element, "code": "jaxpot", "n_train": n, "n_sparse": m,
               "n_train_atoms": sum(len(a) for a in train_all[:n])}
        spec = {"kind": "fit_jaxpot", "args": argv, "model_file": model_file,
                "tag": f"scaling_{n}_{m}"}
        attempt(row, f"jaxpot {element} fit, {n} configs, n_sparse {m}",
                lambda s=spec: python_worker(s, work, args.timeout, timed=True))
        if "error" not in row:
            ev = {"kind": "eval_jaxpot", "element": element, "model_file": model_file}
            attempt(row, "  test errors", lambda s=ev: python_worker(s, work, args.timeout),
                    key="eval_error")
        rows.append(row)
    return rows


def fmt(x, digits=3):
    return "" if x is None else f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def fit_table(rows: list) -> list:
    walls = {(r["element"]): r["wall_s"] for r in rows
             if r["code"] == "gap_fit" and "wall_s" in r}
    out = []
    for r in rows:
        d = {"element": r["element"], "code": r["code"], "n_train": r["n_train"],
             "M": r.get("n_sparse_total", r["n_sparse"]), "pub_E": PUBLISHED[r["element"]][0],
             "pub_F": PUBLISHED[r["element"]][1]}
        if "error" in r:
            d["wall_s"] = "FAILED: " + r["error"].strip().splitlines()[-1][:80]
            out.append(d)
            continue
        m = r.get("metrics", {})
        g = walls.get(r["element"])
        r["x_gap_fit"] = r["wall_s"] / g if g and r["code"] == "jaxpot" else None
        d.update({"wall_s": f"{r['wall_s']:.1f}", "fit_s": fmt(r.get("fit_s")),
                  "peak_MB": f"{r['peak_mb']:.0f}", "x_gap_fit": fmt(r["x_gap_fit"]),
                  "E_MAE": fmt(m.get("energy_mae")), "E_RMSE": fmt(m.get("energy_rmse")),
                  "F_MAE": fmt(m.get("force_mae")), "F_RMSE": fmt(m.get("force_rmse")),
                  "S_RMSE": fmt(m.get("stress_rmse"))})
        if "eval_error" in r:
            d["E_MAE"] = "FAILED: " + r["eval_error"].strip().splitlines()[-1][:80]
        out.append(d)
    return out


def speed_table(rows: list) -> list:
    quippy = {r["element"]: r["ms_atom"] for r in rows
              if r["code"] == "quippy" and "ms_atom" in r}
    out = []
    for r in rows:
        d = {"element": r["element"], "code": r["code"]}
        if "error" in r:
            d["first_s"] = "FAILED: " + r["error"].strip().splitlines()[-1][:80]
        else:
            q = quippy.get(r["element"])
            r["x_quippy"] = r["ms_atom"] / q if q else None
            d.update({"atoms_call": r["atoms_per_call"], "first_s": f"{r['first_s']:.2f}",
                      "ms_atom": f"{r['ms_atom']:.3g}", "ms_atom_min": f"{r['ms_atom_min']:.3g}",
                      "x_quippy": fmt(r["x_quippy"])})
        out.append(d)
    return out


def scaling_table(rows: list) -> list:
    out = []
    for r in rows:
        d = {"element": r["element"], "n_train": r["n_train"], "atoms": r["n_train_atoms"],
             "M": r.get("n_sparse_total", r["n_sparse"])}
        if "error" in r:
            d["wall_s"] = "FAILED: " + r["error"].strip().splitlines()[-1][:80]
        else:
            st, m = r["stages"], r.get("metrics", {})
            d.update({"wall_s": f"{r['wall_s']:.1f}", "fit_s": fmt(r["fit_s"]),
                      "peak_MB": f"{r['peak_mb']:.0f}",
                      "desc+sparse_s": fmt(st.get("neighbors", 0) + st.get("sparse_points", 0)),
                      "rows+qr_s": fmt(st.get("kernel_rows_and_qr")),
                      "E_MAE": fmt(m.get("energy_mae")), "F_MAE": fmt(m.get("force_mae"))})
            if "eval_error" in r:
                d["E_MAE"] = "FAILED: " + r["eval_error"].strip().splitlines()[-1][:80]
        out.append(d)
    return out


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version
    out = {}
    for pkg in ("jaxpot", "jax", "jaxlib", "quippy-ase", "ase", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--elements", nargs="+", choices=list(PUBLISHED), default=["Si"])
    parser.add_argument("--codes", nargs="+", choices=["jaxpot", "gap_fit"],
                        default=["jaxpot", "gap_fit"])
    parser.add_argument("--n-sparse", type=int, help="sparse points (default 1000; quick 50)")
    parser.add_argument("--virials", action="store_true",
                        help="fit virials too (virial_parameter_name=virial, both codes)")
    parser.add_argument("--scaling", action="store_true",
                        help="jaxpot fit cost vs training configurations and vs n_sparse")
    parser.add_argument("--repeats", type=int, default=5, help="timed prediction calls")
    parser.add_argument("--quick", action="store_true",
                        help="10 training configs, n_sparse 50, l_max=n_max=4 (smoke test)")
    parser.add_argument("--timeout", type=float, default=7200, help="seconds per subprocess")
    parser.add_argument("--keep", help="keep the work files (training xyz, models, logs) here")
    parser.add_argument("--models", nargs="*",
                        help="more jaxpot model files whose prediction speed is timed in the "
                             "same run (e.g. from gap_si_properties.py --save)")
    parser.add_argument("--_worker")
    args = parser.parse_args()
    if args._worker:
        spec = json.loads(args._worker)
        print(json.dumps(WORKERS[spec["kind"]](spec)))
        return

    settings = ({"n_train": 10, "n_sparse": 50, "l_max": 4, "n_max": 4} if args.quick
                else {"n_train": None, "n_sparse": 1000, "l_max": 8, "n_max": 8})
    if args.n_sparse:
        settings["n_sparse"] = args.n_sparse
    if args.codes == ["gap_fit"] and args.scaling:
        parser.error("--scaling measures jaxpot; add jaxpot to --codes")
    load_start = os.getloadavg()
    fit_rows, speed_rows, scaling_rows = [], [], []
    root = Path(tempfile.mkdtemp(prefix="bench_gap."))
    try:
        for element in args.elements:
            work = root / element
            work.mkdir()
            f, s = run_element(element, args, settings, work)
            fit_rows += f
            speed_rows += s
        if args.scaling:
            work = root / f"scaling_{args.elements[0]}"
            work.mkdir()
            scaling_rows = run_scaling(args.elements[0], args, settings, work)
    finally:
        if args.keep:
            shutil.copytree(root, args.keep, dirs_exist_ok=True)
        shutil.rmtree(root, ignore_errors=True)

    print("\nFit (test split; E meV/atom, F eV/Å, S GPa; pub_*: Zuo et al. 2020 GAP MAE; "
          "x_gap_fit: jaxpot wall / gap_fit wall)")
    print_table(fit_table(fit_rows), ["element", "code", "n_train", "M", "wall_s", "fit_s",
                                      "peak_MB", "x_gap_fit", "E_MAE", "E_RMSE", "pub_E",
                                      "F_MAE", "F_RMSE", "pub_F", "S_RMSE"])
    if speed_rows:
        print("\nPrediction, energy + forces + stress (first_s: model load to first result, "
              "compilation included; ms_atom: median of rattled calls)")
        print_table(speed_table(speed_rows), ["element", "code", "atoms_call", "first_s",
                                              "ms_atom", "ms_atom_min", "x_quippy"])
    if scaling_rows:
        print("\nScaling, jaxpot fit (wall_s/peak_MB: whole process; fit_s: gap.fit)")
        print_table(scaling_table(scaling_rows), ["element", "n_train", "atoms", "M",
                                                  "wall_s", "fit_s", "peak_MB", "desc+sparse_s",
                                                  "rows+qr_s", "E_MAE", "F_MAE"])
    info = machine()
    info["cpu"] = cpu_model()
    path = write_json("gap", {
        "machine": info, "versions": versions(),
        "load_average_start": load_start, "load_average_end": os.getloadavg(),
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "settings": {**settings, "virials": args.virials, "quick": args.quick,
                     "e0": {e: E0[e] for e in args.elements}, "rattle_A": RATTLE,
                     "repeats": args.repeats},
        "published_gap_mae": {e: {"energy_meV_atom": v[0], "force_eV_A": v[1]}
                              for e, v in PUBLISHED.items()},
        "units": {"energy": "meV/atom", "forces": "eV/Å", "stress": "GPa", "wall": "s",
                  "peak_rss": "MB (MiB)", "prediction": "ms per atom"},
        "notes": ["wall_s and peak_mb from /usr/bin/time -v of the whole fitting process",
                  ("Ge and Li use mlearn's Si gap_fit line with e0=0.0 (no mlearn command "
                   "for them offline)"),
                  "training files hold energies and forces only (virials with --virials)"],
        "fit": fit_rows, "predict": speed_rows, "scaling": scaling_rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
