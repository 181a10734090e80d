"""BPNN training-set preparation (features and their Jacobians, ``jaxpot.nn.fixed_features``):
``build_dataset`` of the bundled mlearn Si subset (62 frames, default ``bpnn`` at 5 Å, float32)
in a fresh process, its wall time and XLA compilations.  An older checkout is measured by
putting it first on the path:

    python benchmarks/bench_bpnn_prepare.py [--out NAME]
    git worktree add /tmp/before 7ffeac4
    PYTHONPATH=/tmp/before python benchmarks/bench_bpnn_prepare.py --out NAME_before
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from _common import machine, print_table, write_json

_CHILD = """
import json, os, time, jax
from ase.io import read
import jaxpot
from jaxpot.nn import bpnn, fixed_features
from jaxpot.training.dataset import build_dataset
from jaxpot.testing import CompilationCounter
from jaxpot.training.labels import read_labels_checked
frames = read(os.path.join(os.path.dirname(jaxpot.__file__), "data",
                           "si_mlearn_train_subset.extxyz"), ":")
model = bpnn(["Si"], 5.0)
labels = read_labels_checked(frames)
rows = []
for run in ("first", "second"):
    with CompilationCounter() as c:
        start = time.perf_counter()
        data = build_dataset(model, frames, labels, prepare=fixed_features.prepare)
        jax.block_until_ready([b.extra for b in data.buckets])
        rows.append({"run": run, "s": time.perf_counter() - start, "compiles": c.count,
                     "buckets": len(data.buckets)})
print("ROWS", json.dumps({"rows": rows, "jaxpot": jaxpot.__file__}))
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="bpnn_prepare")
    args = p.parse_args()
    out = subprocess.run([sys.executable, "-c", _CHILD], check=True, capture_output=True,
                         text=True).stdout
    measured = json.loads(out.split("ROWS", 1)[1])
    rows = [{**r, "s": round(r["s"], 2)} for r in measured["rows"]]
    print_table(rows, ["run", "s", "compiles", "buckets"])
    print("wrote", write_json(args.out, {"machine": machine(), "jaxpot": measured["jaxpot"],
                                         "rows": rows}))


if __name__ == "__main__":
    main()
