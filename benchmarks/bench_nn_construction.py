"""How long building a network potential takes (part of a user's time to first result):
``bpnn``/``painn``/``mace`` at default settings for Si, each kind in a fresh process, first
and second construction (another seed: an ensemble's next member), with the XLA compilations
they run (``jax.monitoring``).  An older checkout is measured by putting it first on the
path (HISTORY.md compares the commit before ``jaxpot.nn.layers.init_variables``):

    python benchmarks/bench_nn_construction.py [--out NAME]
    git worktree add /tmp/before 186984c
    PYTHONPATH=/tmp/before python benchmarks/bench_nn_construction.py --out NAME_before
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from _common import machine, print_table, write_json

_CHILD = """
import json, time, jax
from jaxpot.testing import CompilationCounter
from jaxpot.nn import {kind}
rows = []
for seed in (0, 1):
    with CompilationCounter() as c:
        start = time.perf_counter()
        jax.block_until_ready({kind}(["Si"], 5.0, seed=seed).params)
        rows.append({{"seed": seed, "s": time.perf_counter() - start, "compiles": c.count}})
print("ROWS", json.dumps(rows))
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="nn_construction")
    args = p.parse_args()
    rows = []
    for kind in ("bpnn", "painn", "mace"):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", _CHILD.format(kind=kind)], check=True,
                             capture_output=True, text=True).stdout
        measured = json.loads(out.split("ROWS", 1)[1])
        for row in measured:
            rows.append({"model": kind, "construction": "first" if row["seed"] == 0
                         else "second (next seed)", "s": round(row["s"], 2),
                         "compiles": row["compiles"]})
        print(f"{kind}: process {time.perf_counter() - start:.1f} s", flush=True)
    print_table(rows, ["model", "construction", "s", "compiles"])
    print("wrote", write_json(args.out, {"machine": machine(), "jaxpot": _jaxpot_path(),
                                         "rows": rows}))


def _jaxpot_path() -> str:
    return subprocess.run([sys.executable, "-c", "import jaxpot; print(jaxpot.__file__)"],
                          check=True, capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    main()
