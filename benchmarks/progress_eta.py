"""How honest is the GAP fit's progress ETA?  Count by configuration vs count by work.

    python benchmarks/progress_eta.py        (about a minute and a half on 2 cores)

Runs the GAP fit of the main job (``jaxpot fit`` with no arguments): the 62 bundled mlearn Si
training configurations (8-215 atoms, ``jaxpot/data/si_mlearn_train_subset.extxyz``) with
``GapSettings()`` defaults, as ``jaxpot/gap/demo.py`` does.  The design stages (SOAP
descriptors, GAP kernel rows) call back after each batch of configurations; this script wraps
those callbacks and feeds, besides the fit's own bar, shadow tqdm bars (``jaxpot.progress``,
written to a string, tqdm's terminal refresh of 0.1 s) that count the same batches three ways:

- ``config``: one per configuration (the old bar);
- ``atoms``: the configuration's atoms;
- ``pairs``: atoms x neighbours, the configuration's half neighbour-list length;
- ``padded``: the padded shape the configuration is computed in (its bucket's atoms x
  neighbour capacity, :func:`jaxpot.batch.plan_buckets`);
- ``slots``: the configuration's share of the padded atom slots its batch computes (the
  batch's slots x its bucket's atoms, :func:`jaxpot.gap.design.rows_work`; what the fit's bars
  count now: a half-empty last batch costs as much as a full one).

At the first update where a bar shows >= 25, 50 and 75 %, it records the ETA the bar shows,
``(total - n) / rate`` from its ``format_dict`` (tqdm's smoothed rate), the plain-average ETA
``elapsed * (total - n) / n``, and the stage's real remaining time (its last batch's time minus
now).  ``ratio`` = shown ETA / real remaining (1 is honest, < 1 optimistic).  Prints a table
and writes ``benchmarks/results/progress_eta.json``.
"""

from __future__ import annotations

import io
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

from _common import machine, run_date, write_json  # noqa: E402

WEIGHTS = ("config", "atoms", "pairs", "padded", "slots")
MARKS = (0.25, 0.50, 0.75)


def _instrument(stages: dict, name: str, inner):
    """Wrap ``inner`` (structure_rows or soap_features) to record its batches."""
    from jaxpot.progress import progress_bar

    def wrapped(*args, on_batch=None, on_compiled=None):  # (desc,) model, frames, pairs
        model, frames, pairs = args[-3:]
        from jaxpot.batch import plan_buckets
        from jaxpot.gap import design
        padded = [0] * len(frames)
        for b in plan_buckets(frames, pairs, pad_atoms=True):
            for i in b.indices:
                padded[i] = b.n_atoms * b.capacity
        slots = (design.soap_work(args[0], frames, pairs) if len(args) == 4
                 else design.rows_work(model, frames, pairs))
        cost = {"config": [1] * len(frames), "atoms": [len(a) for a in frames],
                "pairs": [max(p.n_half, 1) for p in pairs], "padded": padded, "slots": slots}
        bars = {w: progress_bar(total=sum(c), file=io.StringIO(), mininterval=0.1)
                for w, c in cost.items()}
        rec = {"t0": time.perf_counter(), "batches": [], "cost": cost}
        stages[name] = rec

        def callback(members):
            if on_batch is not None:
                on_batch(members)
            now = time.perf_counter()
            row = {"t": now - rec["t0"], "members": [int(i) for i in members], "bars": {}}
            for w, bar in bars.items():
                bar.update(sum(cost[w][i] for i in members))
                d = bar.format_dict
                row["bars"][w] = {k: d[k] for k in ("n", "total", "elapsed", "rate")}
            rec["batches"].append(row)

        def compiled():  # the stage's shapes are compiled: its bars restart their clocks
            if on_compiled is not None:
                on_compiled()
            now = time.perf_counter()
            rec["compile_s"] = now - rec["t0"]
            rec["t0"] = now
            for bar in bars.values():
                bar.reset()

        yield from inner(*args, on_batch=callback, on_compiled=compiled)
        for bar in bars.values():
            bar.close()

    return wrapped


def _eta_at_marks(rec: dict) -> dict:
    end = rec["batches"][-1]["t"]
    out = {}
    for w in WEIGHTS:
        rows = []
        for mark in MARKS:
            for b in rec["batches"]:
                d = b["bars"][w]
                if d["n"] >= mark * d["total"]:
                    left = d["total"] - d["n"]
                    shown = left / d["rate"] if d["rate"] else float("nan")
                    average = d["elapsed"] * left / d["n"]
                    real = end - b["t"]
                    rows.append({"mark": mark, "shown_pct": 100 * d["n"] / d["total"],
                                 "elapsed_s": d["elapsed"], "eta_shown_s": shown,
                                 "eta_average_s": average, "real_remaining_s": real,
                                 "ratio": shown / real if real > 0 else float("nan"),
                                 "ratio_average": average / real if real > 0 else float("nan")})
                    break
        out[w] = rows
    return out


def main() -> int:
    import importlib

    from jaxpot.gap import design
    from jaxpot.gap.demo import bundled
    from jaxpot.gap.settings import GapSettings
    from jaxpot.training.frames import read_frames

    gap_fit = importlib.import_module("jaxpot.gap.fit")  # the module (jaxpot.gap.fit is
    stages: dict = {}                                      # also the function's name)
    gap_fit.structure_rows = _instrument(stages, "GAP kernel rows", design.structure_rows)
    gap_fit.soap_features = _instrument(stages, "SOAP descriptors", design.soap_features)
    frames = read_frames(bundled("si_mlearn_train_subset.extxyz"))
    t0 = time.perf_counter()
    result = gap_fit.fit(frames, GapSettings(), progress=True)
    fit_s = time.perf_counter() - t0

    payload = {"command": "python benchmarks/progress_eta.py", "machine": machine(),
               "date": run_date(), "fit_s": fit_s, "timings": result.timings,
               "n_configurations": len(frames),
               "atoms_range": [min(map(len, frames)), max(map(len, frames))], "stages": {}}
    print(f"\nGAP fit of the main job: {len(frames)} configurations, {fit_s:.1f} s")
    for name, rec in stages.items():
        marks = _eta_at_marks(rec)
        stage_s = rec["batches"][-1]["t"]
        payload["stages"][name] = {"stage_s": stage_s, "n_batches": len(rec["batches"]),
                                   "first_batch_s": rec["batches"][0]["t"],
                                   "compile_s": rec.get("compile_s", 0.0),
                                   "eta": marks, "batches": rec["batches"]}
        print(f"\n{name}: compiled in {rec.get('compile_s', 0.0):.1f} s, then {stage_s:.1f} s "
              f"in {len(rec['batches'])} batches (first done at {rec['batches'][0]['t']:.1f} s)")
        print(f"{'count by':8s} {'bar %':>6s} {'elapsed':>8s} {'ETA shown':>10s} "
              f"{'ETA avg':>8s} {'real left':>10s} {'shown/real':>10s} {'avg/real':>9s}")
        for w in WEIGHTS:
            for r in marks[w]:
                print(f"{w:8s} {r['shown_pct']:6.1f} {r['elapsed_s']:8.1f} "
                      f"{r['eta_shown_s']:10.1f} {r['eta_average_s']:8.1f} "
                      f"{r['real_remaining_s']:10.1f} {r['ratio']:10.2f} "
                      f"{r['ratio_average']:9.2f}")
    print("wrote", write_json("progress_eta", payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
