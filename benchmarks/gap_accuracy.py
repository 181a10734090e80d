"""Accuracy of jaxpot GAPs on the mlearn test splits, learning curve and uncertainty calibration.

For each element (mlearn Si, Ge, Li PBE; Zuo et al., J. Phys. Chem. A 124, 731 (2020)):
  * ``default``: jaxpot's default settings (``GapSettings()``, chosen on validation splits by
    ``select_gap_defaults.py``), energies, forces and virials, fitted on the paper's training
    split;
  * ``evidence`` (first element only): the same after maximising the marginal likelihood over
    delta and the energy/force/virial noise scales (training split only);
and both are scored once on the paper's test split: energy MAE/RMSE (meV/atom), force
MAE/RMSE (eV/Å), stress RMSE (GPa), next to the published GAP (Si 2.91/0.07, Ge 2.06/0.05,
Li 0.49/0.01 meV/atom and eV/Å MAE).
For the first element also: a learning curve (test errors vs number of training
configurations, seeded random subsets) and the calibration of the predictive standard
deviation (``gap.predictive_std``) against the actual test errors (Spearman rank correlation
per structure for energies, by the total energy's and by the largest local energy's standard
deviation, and per atom for forces; PNG scatter plot).

Run: python benchmarks/gap_accuracy.py [--elements Si Ge Li] [--n-sparse M]
         [--learning-curve 25 50 100 214] [--steps 150] [--out gap_accuracy.json]
Writes benchmarks/results/gap_accuracy.json and benchmarks/results/gap_calibration_<El>.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np
from _common import mlearn_splits, published_mae
from scipy.stats import spearmanr

from jaxpot import gap
from jaxpot.evaluation import evaluate
from jaxpot.io.atomic_file import atomic_write

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).parent / "results"
PUBLISHED = {el: published_mae("GAP", el) for el in ("Si", "Ge", "Li")}  # published_zuo2020.json


def splits(element: str):
    return mlearn_splits(element, DATA)


def score(model, test) -> dict:
    o = evaluate(model, test, progress=False).overall
    return {"energy_mae": o.energy_mae, "energy_rmse": o.energy_rmse,
            "force_mae": o.force_mae, "force_rmse": o.force_rmse, "stress_rmse": o.stress_rmse}


def calibration(result, test, element: str, tag: str = "") -> dict:
    std = gap.predictive_std(result.gap, result.posterior, test)
    from jaxpot.prediction import predict
    pred = predict(result.model, test, progress=False)
    n = np.array([len(a) for a in test])
    e_err = np.abs(pred.energy - np.array([a.get_potential_energy() for a in test])) / n
    f_err = np.concatenate([np.linalg.norm(p - a.get_forces(), axis=1)
                            for p, a in zip(pred.forces, test)])
    f_std = np.concatenate([np.linalg.norm(s, axis=1) for s in std.forces])
    rho_e = spearmanr(std.energy / n, e_err).statistic
    rho_f = spearmanr(f_std, f_err).statistic
    # the largest local-energy standard deviation of each structure, as a ranking of
    # structures by their energy errors (active learning's use)
    rho_local = spearmanr([s.max() for s in std.local_energies], e_err).statistic
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(8, 3.5))
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.scatter(1000 * std.energy / n, 1000 * e_err, s=12)
    ax1.set(xlabel="predicted std (meV/atom)", ylabel="|error| (meV/atom)",
            title=f"{element} energies, Spearman {rho_e:.2f}")
    ax2.scatter(f_std, f_err, s=3, alpha=0.4)
    ax2.set(xlabel="predicted std (eV/Å)", ylabel="|error| (eV/Å)",
            title=f"{element} forces, Spearman {rho_f:.2f}")
    fig.tight_layout()
    path = RESULTS / f"gap_calibration_{element}{tag}.png"
    fig.savefig(path, dpi=110)
    return {"spearman_energy": float(rho_e), "spearman_force": float(rho_f),
            "spearman_energy_max_local_std": float(rho_local), "plot": path.name}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--elements", nargs="+", default=["Si", "Ge", "Li"])
    parser.add_argument("--n-sparse", type=int, default=None,
                        help="SOAP sparse points (default: GapSettings()'s)")
    parser.add_argument("--learning-curve", nargs="*", type=int, default=[25, 50, 100, 214])
    parser.add_argument("--steps", type=int, default=150, help="evidence steps (0: skip)")
    parser.add_argument("--out", default="gap_accuracy.json", help="file in benchmarks/results")
    args = parser.parse_args()
    base = gap.GapSettings()
    if args.n_sparse:
        base = base.replace(soap=dataclasses.replace(base.soap, n_sparse=args.n_sparse))
    out = {"n_sparse": args.n_sparse, "settings": repr(base), "elements": {},
           "file": args.out}
    for k, element in enumerate(args.elements):
        train, test = splits(element)
        entry = {"published_gap_mae": PUBLISHED[element]}
        start = time.perf_counter()
        result = gap.fit(train, base, progress=False)
        entry["default"] = dict(score(result.model, test), fit_s=time.perf_counter() - start)
        print(element, "default ", entry["default"], flush=True)
        if k == 0:
            entry["calibration"] = calibration(result, test, element,
                                               Path(args.out).stem.replace("gap_accuracy", ""))
            print(element, "calibration", entry["calibration"], flush=True)
        out["elements"][element] = entry
        _write(out)
        if k > 0 or args.steps == 0:  # evidence and learning curve: first element only
            continue
        start = time.perf_counter()
        tuned = gap.optimize_hyperparameters(train, base, steps=args.steps, learning_rate=0.1)
        result = gap.fit(train, tuned.settings, progress=False)
        entry["evidence"] = dict(score(result.model, test), fit_s=time.perf_counter() - start,
                                 sigma=list(tuned.settings.default_sigma),
                                 delta=tuned.settings.soap.delta,
                                 log_evidence=[tuned.log_likelihood_start,
                                               tuned.log_likelihood])
        print(element, "evidence", entry["evidence"], flush=True)
        if k == 0 and args.learning_curve:
            curve = []
            rng = np.random.default_rng(0)
            for n in args.learning_curve:
                pick = rng.permutation(len(train))[:min(n, len(train))]
                r = gap.fit([train[i] for i in pick], base, progress=False)
                curve.append(dict(score(r.model, test), n_train=len(pick)))
                print(element, "learning curve", curve[-1], flush=True)
            entry["learning_curve"] = curve
        out["elements"][element] = entry
        _write(out)
    _write(out)


def _write(out) -> None:
    with atomic_write(RESULTS / out["file"], "w") as fh:
        fh.write(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
