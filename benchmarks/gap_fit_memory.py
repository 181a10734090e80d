"""Peak memory and wall time of ``gap.fit`` with the default settings, one process per case.

Cases: ``si`` the whole mlearn Si training split (214 cells, 13,233 atoms); ``water`` 16 frames
of n2p2's RPBE-D3 water example (H, O: 3,300 SOAP features); ``big`` two 1,000-atom rattled
diamond Si cells labelled by jaxpot's Stillinger-Weber (the case where the kernel rows of one
cell are largest).  Peak resident memory from ``getrusage`` of each child process.  To compare
with another checkout, run the script with ``PYTHONPATH=<checkout>``.

Run: python benchmarks/gap_fit_memory.py [--cases si water big] [--out gap_fit_memory]
Writes benchmarks/results/<out>.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from _common import machine, mlearn_frames, write_json

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def frames_of(case: str) -> list:
    from ase.io import read
    if case == "si":
        return mlearn_frames("Si", "training", DATA)
    if case == "water":
        return read(DATA / "water_rpbe_d3_n2p2_example.extxyz", ":16")
    from ase.build import bulk
    from ase.calculators.singlepoint import SinglePointCalculator

    import jaxpot
    from jaxpot.potentials.stillinger_weber import stillinger_weber
    frames = []
    for seed in range(2):
        atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat((5, 5, 5))
        atoms.rattle(0.1, seed=seed)
        frames.append(atoms)
    pred = jaxpot.predict(stillinger_weber(), frames, progress=False)
    for i, atoms in enumerate(frames):
        atoms.calc = SinglePointCalculator(atoms, energy=pred.energy[i], forces=pred.forces[i],
                                           stress=pred.stress[i])
    return frames


def worker(case: str) -> dict:
    import jax
    jax.config.update("jax_enable_x64", True)
    import jaxpot
    from jaxpot import gap
    frames = frames_of(case)
    start = time.perf_counter()
    result = gap.fit(frames, gap.GapSettings(), progress=False)
    return {"case": case, "jaxpot": str(Path(jaxpot.__file__).parent), "frames": len(frames),
            "atoms": sum(len(a) for a in frames), "fit_s": time.perf_counter() - start,
            "timings": result.timings, "n_sparse": int(result.posterior[0].shape[0]),
            "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=["si", "water", "big"])
    parser.add_argument("--out", default="gap_fit_memory")
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return
    rows = []
    for case in args.cases:
        out = subprocess.run([sys.executable, __file__, "--worker", case], capture_output=True,
                             text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{case:6s} {r['frames']:4d} frames {r['atoms']:6d} atoms  fit {r['fit_s']:6.1f} s"
              f"  peak {r['peak_gb']:.2f} GB  ({r['jaxpot']})", flush=True)
    print(write_json(args.out, {"machine": machine(), "rows": rows}))


if __name__ == "__main__":
    main()
