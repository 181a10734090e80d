"""The metrics log of an iterative fit and its learning curves.

    log = metrics_log("si_report", resumed=False)   # log(record) appends one JSON line
    ...                                              # (the trainers call it every epoch)
    learning_curves(read_metrics("si_report/metrics.jsonl"), "si_report/learning_curves.png")

A record is what the trainers (:func:`jaxpot.nn.train_model`,
:func:`jaxpot.training.lbfgs.train_lbfgs`) write each epoch or iteration: ``epoch``,
``train_loss`` and ``val_loss``, and ``{train,val}_{energy,forces,stress}_{mae,rmse}`` in
meV/atom, eV/Å and GPa (:func:`jaxpot.training.loss.error_metrics`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

#: the panels of :func:`learning_curves`: (record key stem, axis label)
PANELS = (("loss", "loss"), ("energy_rmse", "energy RMSE (meV/atom)"),
          ("forces_rmse", "force RMSE (eV/Å)"), ("stress_rmse", "stress RMSE (GPa)"))


def metrics_log(report: str | None, resumed: bool) -> Callable[[dict], None] | None:
    """``log(record)`` appending one JSON line per epoch to ``<report>/metrics.jsonl`` (None
    without a report).  A fresh run starts the file anew; a resumed one keeps it, cut back to
    its last complete line (a kill mid-write leaves at most a partial last line)."""
    if not report:
        return None
    path = os.path.join(report, "metrics.jsonl")
    if os.path.exists(path):
        if not resumed:
            os.remove(path)
        else:
            with open(path, "rb+") as fh:
                data = fh.read()
                if data and not data.endswith(b"\n"):
                    fh.truncate(data.rfind(b"\n") + 1)

    def log(record: dict) -> None:
        line = json.dumps(record) + "\n"
        with open(path, "a") as fh:
            fh.write(line)
    return log


def read_metrics(path: str | Path) -> list[dict]:
    """The records of a ``metrics.jsonl`` (a partial last line, from a kill, is left out)."""
    records = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.endswith("\n"):
                break
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}, line {number}: not a JSON record ({err.msg})") \
                    from None
    return records


def learning_curves(records: Sequence[dict], path: str | Path, dpi: int = 120) -> Path | None:
    """Write the learning curves of ``records`` to ``path`` (PNG): one panel per quantity
    present (loss, energy, force and stress RMSE), training and validation against the epoch,
    log scale.  Returns the path, or None when there is nothing to draw."""
    fig = learning_curve_figure(records)
    if fig is None:
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def learning_curve_figure(records: Sequence[dict]):
    """The matplotlib Figure (Agg canvas, no pyplot) of :func:`learning_curves`, or None."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = [(stem, label) for stem, label in PANELS
              if any(f"train_{stem}" in r or f"val_{stem}" in r for r in records)]
    if not records or not panels:
        return None
    fig = Figure(figsize=(4.2 * len(panels), 3.6))
    FigureCanvasAgg(fig)
    for k, (stem, label) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        for split, style in (("train", "-"), ("val", "--")):
            points = [(r["epoch"], r[f"{split}_{stem}"]) for r in records
                      if f"{split}_{stem}" in r and r[f"{split}_{stem}"] is not None]
            if points:
                x, y = zip(*points)
                ax.plot(x, y, style, label="training" if split == "train" else "validation")
        if all(y > 0 for line in ax.get_lines() for y in line.get_ydata()):
            ax.set_yscale("log")
        ax.set(xlabel="epoch", ylabel=label)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
