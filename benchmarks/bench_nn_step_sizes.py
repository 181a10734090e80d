"""How a training step's cost grows with the structure: ``bench_nn_step.measure`` (jitted
gradient of sum(F^2) + E over the weights, and the forces alone; best of 5 after compiling)
for PaiNN and MACE at default widths on a 64-atom mlearn Si frame and a 108-atom fcc frame of
``fcc_eam_set.py`` (HISTORY.md, "Default network training on larger structures").

    python benchmarks/fcc_eam_set.py --out /tmp/cu_eam
    python benchmarks/bench_nn_step_sizes.py [--fcc /tmp/cu_eam_train.extxyz] [--out NAME]
"""

from __future__ import annotations

import argparse
import os

from _common import machine, print_table, write_json
from bench_nn_step import measure


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--fcc", default="/tmp/cu_eam_train.extxyz")
    p.add_argument("--out", default="nn_step_sizes")
    args = p.parse_args()
    from ase.io import read

    from jaxpot.nn import mace, painn
    data = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
    frames = {"Si (64 atoms)": next(a for a in read(os.path.join(data, "mlearn_Si_PBE.extxyz"),
                                                    ":") if len(a) == 64),
              "fcc (108 atoms)": next(a for a in read(args.fcc, ":") if len(a) == 108)}
    rows = [{"model": kind, "frame": name, "atoms": len(atoms),
             **measure(build([atoms.get_chemical_symbols()[0]], 5.0), atoms)}
            for kind, build in (("PaiNN", painn), ("MACE", mace))
            for name, atoms in frames.items()]
    print_table(rows, ["model", "frame", "atoms", "K", "compile s", "loss grad ms",
                       "forces ms"])
    print("wrote", write_json(args.out, {"machine": machine(), "rows": rows}))


if __name__ == "__main__":
    main()
