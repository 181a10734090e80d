"""``jaxpot evaluate MODEL FILE... [--out DIR] [--json OUT]``: a model's errors on labelled
structure files (energy, force and stress MAE and RMSE, overall and per config_type), and its
predictions written beside them.

For each FILE, ``DIR`` (default ``<model name>_evaluation``) gets ``<file>_predicted.extxyz``
(the structures with their reference labels and jaxpot's predictions: ``jaxpot_energy`` eV,
``jaxpot_forces`` eV/Å, ``jaxpot_stress`` eV/Å^3 Voigt, ASE's sign, and ``jaxpot_energies``
per atom where the model has them) and parity plots ``<file>_{energy,forces,stress}.png``;
``errors.json`` holds every file's metrics.  ``--no-files`` prints the tables only.
"""

from __future__ import annotations

import logging
import os

_log = logging.getLogger("jaxpot.cli")

NAME = "evaluate"
HELP = "errors of a model on labelled files, with predicted extxyz and parity plots"
ORDER = 20


def arguments(p) -> None:
    p.add_argument("model", help="a jaxpot model file")
    p.add_argument("files", nargs="+", help="labelled structure files (extxyz, ...)")
    p.add_argument("--out", metavar="DIR", help="folder for the predicted extxyz, parity plots "
                   "and errors.json (default: <model name>_evaluation)")
    p.add_argument("--no-files", dest="no_files", action="store_true",
                   help="print the error tables only; write nothing")
    p.add_argument("--json", help="also write the errors here as JSON")


def _stems(files: list[str]) -> list[str]:
    """A distinct output name per input file (its name without extension; numbered when two
    files share one)."""
    stems = [os.path.splitext(os.path.basename(f))[0] for f in files]
    return [s if stems.count(s) == 1 else f"{s}_{k}" for k, s in enumerate(stems)]


def run(args) -> int:
    import json

    import jaxpot
    from jaxpot.commands._common import write_structure
    from jaxpot.evaluation import evaluate, parity_plots
    from jaxpot.io.atomic_file import atomic_write
    from jaxpot.io.paths import check_outputs
    from jaxpot.training.frames import read_frames
    out = None if args.no_files else (
        args.out or os.path.splitext(os.path.basename(args.model))[0] + "_evaluation")
    stems = _stems(args.files)
    written = ([os.path.join(out, f"{s}_predicted.extxyz") for s in stems]
               + [os.path.join(out, "errors.json")]) if out else []
    check_outputs({"JSON report": args.json, "evaluation file": written},
                  {"model file": args.model, "test file": args.files})
    model = jaxpot.load(args.model)
    sets = {path: read_frames(path) for path in args.files}  # every file read before any work
    report = {}
    if out:
        os.makedirs(out, exist_ok=True)
    for stem, (path, frames) in zip(stems, sets.items()):
        _log.info("evaluating on %s (%d configurations)", path, len(frames))
        ev = evaluate(model, frames, source=path)
        print(f"== {path}\n{ev.table()}\n")
        report[path] = ev.to_dict()
        if out:
            write_structure(os.path.join(out, f"{stem}_predicted.extxyz"),
                            ev.prediction.annotate(frames))
            parity_plots(ev, os.path.join(out, stem))
    for target in ([os.path.join(out, "errors.json")] if out else []) + (
            [args.json] if args.json else []):
        with atomic_write(target, "w") as fh:
            json.dump(report, fh, indent=1)
    if out:
        print(f"wrote {out}/: predicted extxyz, parity plots and errors.json")
    if args.json:
        print(f"wrote {args.json}")
    return 0
