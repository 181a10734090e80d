"""Test errors of jaxpot's SNAP / qSNAP fits on mlearn (Zuo et al. 2020) with the paper's split.

    python benchmarks/snap_accuracy.py --element Si [--model snap|qsnap] [--twojmax N]

Fits on the ``split=training`` configurations with the default LinearFitSettings (weights and
ridge chosen on a seeded 10 % validation split carved from training), evaluates the test split
once, and, in the same run, evaluates Zuo et al.'s own SNAP/qSNAP files (shipped with LAMMPS;
jaxpot reproduces ``pair_style snap`` to 1e-9 eV, tests/test_snap.py) on the same test split.
Descriptor settings are Zuo et al.'s (their .snapparam: rcutfac, rfac0, rmin0 0, bzeroflag 0,
radius 0.5, weight 1); linear SNAP uses twojmax 8, qSNAP twojmax 6 unless given.
Writes benchmarks/results/snap_<model>_<element>.json.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
from _common import add_carve_argument, machine, mlearn_splits, write_json

ZUO = {"Si": ("Si_Zuo_JPCA2020", 4.9), "Ge": ("Ge_Zuo_JPCA2020", 5.1),
       "Li": ("Li_Zuo_JPCA2020", 5.1)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--element", default="Si")
    p.add_argument("--model", default="snap", choices=["snap", "qsnap"])
    p.add_argument("--twojmax", type=int)
    p.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                  "shared", "data"))
    add_carve_argument(p)
    p.add_argument("--suffix", default="", help="appended to the results' file names")
    args = p.parse_args()
    jax.config.update("jax_enable_x64", True)

    from _common import import_lammps

    from jaxpot.descriptors import bispectrum
    from jaxpot.evaluation import evaluate
    from jaxpot.linear import fit_snap
    from jaxpot.potentials import snap
    el, quadratic = args.element, args.model == "qsnap"
    train, test = mlearn_splits(el, args.data)
    stem, rcutfac = ZUO[el]
    twojmax = args.twojmax or (6 if quadratic else 8)
    desc = bispectrum([el], twojmax, rcutfac, 0.99363, 0.0, radius=0.5, weight=1.0,
                      bzeroflag=0, quadraticflag=int(quadratic))
    start = time.perf_counter()
    from jaxpot.linear import LinearFitSettings
    settings = LinearFitSettings(stratify_validation=not args.random_carve)
    fit = fit_snap(train, desc, settings, source=f"mlearn_{el}", progress=True)
    fit_s = time.perf_counter() - start
    ours = evaluate(fit.model, test, progress=False)
    print(f"jaxpot {args.model} (twojmax {twojmax}), fitted in {fit_s:.0f} s\n{ours.table()}")
    lammps = import_lammps()
    pot = os.path.join(os.path.dirname(lammps.__file__), "share", "lammps", "potentials")
    tag = ".quadratic" if quadratic else ""
    zuo = snap(os.path.join(pot, f"{stem}{tag}.snapcoeff"),
               os.path.join(pot, f"{stem}{tag}.snapparam"))
    theirs = evaluate(zuo, test, progress=False)
    print(f"Zuo et al. {args.model} files\n{theirs.table()}")
    payload = {"element": el, "model": args.model, "twojmax": twojmax, "fit_s": fit_s,
               "choice": fit.choice._asdict(), "validation": fit.validation,
               "n_observations": fit.n_observations, "timings": fit.timings,
               "jaxpot": ours.to_dict(), "zuo_files": theirs.to_dict(), "machine": machine()}
    print(write_json(f"snap_{args.model}_{el}{args.suffix}", payload))


if __name__ == "__main__":
    main()
