"""Validation errors of training runs side by side, from their report folders.

    python benchmarks/validation_table.py /tmp/val/Si_sE0.002_report /tmp/val/Si_sE0.01_report \
        --labels "sigma_E 2 meV" "sigma_E 10 meV" --out nn_loss_weights_validation \
        --what "MACE default on mlearn Si, ..."

Each folder is a ``jaxpot train`` report (``metrics.jsonl``: one line per epoch). The row of
a run is its best epoch by validation loss in its last stage (the model the trainer keeps);
losses of runs with different loss weights do not compare, their MAE/RMSE do. Writes
``benchmarks/results/<out>.json`` with the best rows and the per-epoch validation curves; the
test split plays no part.
"""

from __future__ import annotations

import argparse
import os

from _common import best_row, read_history, write_json

COLUMNS = ("val_energy_mae", "val_energy_rmse", "val_forces_mae", "val_forces_rmse",
           "val_stress_mae", "val_stress_rmse")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("reports", nargs="+", help="report folders (metrics.jsonl inside)")
    p.add_argument("--labels", nargs="+", help="one label per report (default: folder names)")
    p.add_argument("--out", help="results file stem under benchmarks/results")
    p.add_argument("--what", default="", help="what was compared, stored in the JSON")
    p.add_argument("--stage-two-from", nargs="+", type=int, metavar="EPOCH",
                   help="per report (0: none): stage two's first epoch, for logs that predate "
                   "the trainer's stage field")
    args = p.parse_args()
    labels = args.labels or [os.path.basename(r.rstrip("/")) for r in args.reports]
    if len(labels) != len(args.reports):
        raise SystemExit(f"{len(labels)} labels for {len(args.reports)} reports")
    runs = []
    print("| run | epochs | best epoch | loop s | val E MAE meV/atom | E RMSE | F MAE eV/Å "
          "| F RMSE | stress MAE GPa | stress RMSE |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    starts = args.stage_two_from or [0] * len(args.reports)
    for label, report, start in zip(labels, args.reports, starts):
        history = read_history(report)
        best = best_row(history, start or None)
        seconds = sum(r["seconds"] for r in history)
        cells = " | ".join(f"{best[c]:.4g}" if c in best else "-" for c in COLUMNS)
        print(f"| {label} | {len(history)} | {best['epoch']} | {seconds:.0f} | {cells} |")
        runs.append({"label": label, "report": report, "epochs": len(history),
                     "loop_seconds": seconds, "best": best,
                     "curve": [{k: r[k] for k in ("epoch", *COLUMNS) if k in r}
                               for r in history]})
    if args.out:
        write_json(args.out, {"what": args.what, "runs": runs}, indent=1)


if __name__ == "__main__":
    main()
