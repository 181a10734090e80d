"""``jaxpot evaluate MODEL FILE... [--json OUT]``: energy, force and stress errors of a model
on labelled structure files, per config_type."""

from __future__ import annotations

import logging

_log = logging.getLogger("jaxpot.cli")

NAME = "evaluate"
HELP = "energy/force/stress errors of a model on files"
ORDER = 20


def arguments(p) -> None:
    p.add_argument("model", help="a jaxpot model file")
    p.add_argument("files", nargs="+", help="labelled structure files (extxyz, ...)")
    p.add_argument("--json", help="write the errors here as JSON")


def run(args) -> int:
    import json

    import jaxpot
    from jaxpot.evaluation import evaluate
    from jaxpot.io.atomic_file import atomic_write
    from jaxpot.io.paths import check_outputs
    from jaxpot.training.frames import read_frames
    check_outputs({"JSON report": args.json}, {"model file": args.model, "test file": args.files})
    model = jaxpot.load(args.model)
    sets = {path: read_frames(path) for path in args.files}  # every file read before any work
    report = {}
    for path, frames in sets.items():
        _log.info("evaluating on %s (%d configurations)", path, len(frames))
        ev = evaluate(model, frames, source=path)
        print(f"== {path}\n{ev.table()}\n")
        report[path] = ev.to_dict()
    if args.json:
        with atomic_write(args.json, "w") as fh:
            json.dump(report, fh, indent=1)
        print(f"wrote {args.json}")
    return 0
