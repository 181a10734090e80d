"""Time to first result of ``md.run``: its start program (the first state's forces and log
row, run once per run) compiled with XLA's optimisations (``optimised``, jaxpot before
2026-11-28) or without them (``run_once``: :data:`jaxpot.compiler.RUN_ONCE`, since then the
choice up to ``jaxpot.md.chunk.RUN_ONCE_MAX_ATOMS`` atoms).

Each case (model and size) runs in a fresh process: the start program of an NVE run is lowered
once and compiled with each option set in turn; each compiled program is run twice and its
second run timed.  ``--repeats`` processes per case, the fastest of each figure kept.
``saved_s``: the compilation time saved minus the run time lost, per ``md.run`` call.
float64.

    python benchmarks/bench_md_start.py [--cases bpnn_64 lj_32000 ...] [--repeats 3] [--out NAME]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from _common import machine, print_table, write_json

CASES = ("bpnn_64", "mace_64", "sw_4096", "lj_4000", "lj_32000")

_CHILD = """
import json, time
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
from ase.build import bulk
from jaxpot import md
from jaxpot.compiler import RUN_ONCE
from jaxpot.md.chunk import _start
from jaxpot.neighbors import allocate_for_model
case = {case!r}
kind, size = case.split("_")
size = int(size)
if kind == "lj":
    from jaxpot.potentials import lennard_jones
    model = lennard_jones(sigma=1.0, epsilon=1.0, cutoff=2.5)
    n = round((size / 4) ** (1 / 3))
    atoms = bulk("Ar", "fcc", a=(4 / 0.8442) ** (1 / 3), cubic=True).repeat(n)
else:
    from jaxpot.nn import bpnn, mace
    from jaxpot.potentials import stillinger_weber
    model = {{"bpnn": lambda: bpnn(["Si"], 5.0), "mace": lambda: mace(["Si"], 5.0),
             "sw": stillinger_weber}}[kind]()
    n = round((size / 8) ** (1 / 3))
    atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat(n)
jax.block_until_ready(model.params)
integrator = md.nve(model, timestep=1.0)
nbrs = allocate_for_model(model, atoms.positions, atoms.cell.array, atoms.pbc, skin=1.0,
                          round_capacities="fine")
args = (integrator, jnp.asarray(atoms.positions), jnp.zeros((len(atoms), 3)),
        jnp.asarray(atoms.cell.array), jnp.asarray(atoms.numbers),
        jnp.asarray(atoms.get_masses()), nbrs, jax.random.PRNGKey(0), False)
plain = jax.jit(_start, static_argnames=("check_box",))
lowered = plain.lower(*args)
options = {{"optimised": {{}}, "run_once": dict(RUN_ONCE)}}
compile_s, run_ms = {{}}, {{}}
for mode, opts in options.items():  # one compilation each: a second would hit JAX's cache
    t = time.perf_counter()
    compiled = lowered.compile(compiler_options=opts)
    compile_s[mode] = time.perf_counter() - t
    jax.block_until_ready(compiled(*args[:-1]))
    t = time.perf_counter()
    jax.block_until_ready(compiled(*args[:-1]))
    run_ms[mode] = 1e3 * (time.perf_counter() - t)
print("ROW", json.dumps({{"atoms": len(atoms), **{{
    f"{{m}}_{{q}}": v[m] for m in options for q, v in (("compile_s", compile_s),
                                                   ("run_ms", run_ms))}}}}))
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default="md_start")
    args = p.parse_args()
    rows = []
    for case in args.cases:
        t = time.perf_counter()
        runs = []
        for _ in range(args.repeats):  # fresh processes: JAX caches a compiled program
            proc = subprocess.run([sys.executable, "-c", _CHILD.format(case=case)],
                                  capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f"{case} failed:\n{proc.stderr[-3000:]}")
            runs.append(json.loads(proc.stdout.split("ROW", 1)[1]))
        row = {k: min(r[k] for r in runs) for k in runs[0]}  # the fastest of each
        row = {k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}
        row["saved_s"] = round(row["optimised_compile_s"] - row["run_once_compile_s"]
                               - (row["run_once_run_ms"] - row["optimised_run_ms"]) / 1e3, 2)
        rows.append({"case": case, **row})
        print(f"{case}: process {time.perf_counter() - t:.1f} s", flush=True)
    print_table(rows, ["case", "atoms", "optimised_compile_s", "run_once_compile_s",
                       "optimised_run_ms", "run_once_run_ms", "saved_s"])
    print("wrote", write_json(args.out, {"machine": machine(), "repeats": args.repeats,
                                         "rows": rows}))


if __name__ == "__main__":
    main()
