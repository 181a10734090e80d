"""How far a test-split MAE can be trusted: bootstrap over the test frames, paired between
models on the same frames.

    python benchmarks/paired_bootstrap.py --element Ge \
        benchmarks/results/nn_mace_Ge_union7.jaxpot benchmarks/results/mtp_Ge_L24_linear.jaxpot \
        --out paired_bootstrap_Ge

Each model is evaluated once on the paper's test split (``jaxpot.evaluation.evaluate``); the
frames are then resampled with replacement (the same draws for every model), and each draw
gives each model's energy MAE (meV/atom) and force MAE (eV/Å, all components of the drawn
frames) and the differences to the first model.  Prints the MAEs with their 95 % percentile
intervals, and the interval of each difference with the fraction of draws in which the first
model is the better one; writes ``benchmarks/results/<out>.json``.  A difference whose
interval holds 0 is not resolved by this test split.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from _common import machine, mlearn_splits, write_json


def frame_errors(model_file: str, frames: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: |energy error| meV/atom, sum of |force component errors| eV/Å, and the
    number of force components."""
    import jaxpot
    from jaxpot.evaluation import evaluate

    ev = evaluate(jaxpot.load(model_file), frames)
    n = len(frames)
    e = np.full(n, np.nan)
    e[ev.energy.frame] = 1000.0 * np.abs(ev.energy.predicted - ev.energy.reference)
    abs_f = np.abs(ev.forces.predicted - ev.forces.reference).sum(axis=1)
    f_sum = np.bincount(ev.forces.frame, weights=abs_f, minlength=n)
    f_count = 3.0 * np.bincount(ev.forces.frame, minlength=n)
    return e, f_sum, f_count


def interval(x: np.ndarray) -> list[float]:
    return [float(np.percentile(x, 2.5)), float(np.percentile(x, 97.5))]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("models", nargs="+", help="model files; differences are to the first")
    p.add_argument("--element", required=True)
    p.add_argument("--draws", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", help="folder of the datasets (default ../shared/data)")
    p.add_argument("--out", help="results file stem under benchmarks/results")
    args = p.parse_args()
    _, test = mlearn_splits(args.element, args.data)
    errors = [frame_errors(m, test) for m in args.models]
    n = len(test)
    draws = np.random.default_rng(args.seed).integers(0, n, size=(args.draws, n))
    rows = []
    e_first = f_first = None
    for path, (e, f_sum, f_count) in zip(args.models, errors):
        e_mae = np.nanmean(e[draws], axis=1)
        f_mae = f_sum[draws].sum(axis=1) / np.maximum(f_count[draws].sum(axis=1), 1.0)
        row = {"model": os.path.basename(path), "energy_mae": float(np.nanmean(e)),
               "energy_mae_95": interval(e_mae),
               "force_mae": float(f_sum.sum() / f_count.sum()), "force_mae_95": interval(f_mae),
               "frame_energy_errors": [None if np.isnan(x) else float(x) for x in e]}
        if e_first is None:
            e_first, f_first = e_mae, f_mae
        else:
            de, df = e_mae - e_first, f_mae - f_first
            row.update(energy_minus_first_95=interval(de), force_minus_first_95=interval(df),
                       first_better_energy=float(np.mean(de > 0)),
                       first_better_force=float(np.mean(df > 0)))
        rows.append(row)
        text = (f"{row['model']:<36} E {row['energy_mae']:.2f} meV/atom "
                f"[{row['energy_mae_95'][0]:.2f}, {row['energy_mae_95'][1]:.2f}]  F "
                f"{row['force_mae']:.4f} eV/Å [{row['force_mae_95'][0]:.4f}, "
                f"{row['force_mae_95'][1]:.4f}]")
        if "energy_minus_first_95" in row:
            text += (f"  minus first: E [{row['energy_minus_first_95'][0]:+.2f}, "
                     f"{row['energy_minus_first_95'][1]:+.2f}] (first better in "
                     f"{row['first_better_energy']:.0%}), F [{row['force_minus_first_95'][0]:+.4f}"
                     f", {row['force_minus_first_95'][1]:+.4f}] (first better in "
                     f"{row['first_better_force']:.0%})")
        print(text)
    if args.out:
        write_json(args.out, {"element": args.element, "n_test_frames": n,
                              "draws": args.draws, "seed": args.seed, "rows": rows,
                              **machine()})


if __name__ == "__main__":
    main()
