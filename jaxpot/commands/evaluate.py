"""``jaxpot evaluate MODEL FILE... [--out DIR] [--json OUT]``: a model's errors on labelled
structure files (energy, force and stress MAE and RMSE, overall and per config_type), and its
predictions written beside them.

For each FILE, ``DIR`` (default ``<model>_evaluation`` beside the model file) gets
``<file>_predicted.extxyz`` (the structures with their reference labels and jaxpot's
predictions: ``jaxpot_energy`` eV, ``jaxpot_forces`` eV/Å, ``jaxpot_stress`` eV/Å^3 Voigt,
ASE's sign, and ``jaxpot_energies`` per atom where the model has them) and parity plots
``<file>_{energy,forces,stress}.png``; ``errors.json`` holds every file's metrics.
``--no-files`` prints the tables only.

With ``--uncertainty`` (a model that carries a calibrated uncertainty, an ensemble, or a GAP
with ``--posterior``: :mod:`jaxpot.uncertainty`), each file also gets the uncertainty metrics
of its energies and force components (NLL, miscalibration area, Spearman, coverage,
sharpness: in errors.json and printed), calibration plots
``<file>_calibration_{energy,forces}.png``, the standard deviations in the predicted extxyz
(``jaxpot_energy_std`` eV, ``jaxpot_forces_std`` eV/Å per atom) and, where the model has a
domain threshold, each structure's domain score and whether it is inside (``jaxpot_domain``,
``jaxpot_inside``); the frames outside are listed.
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
                   "and errors.json (default: <model>_evaluation beside the model file)")
    p.add_argument("--no-files", dest="no_files", action="store_true",
                   help="print the error tables only; write nothing")
    p.add_argument("--json", help="also write the errors here as JSON")
    p.add_argument("--uncertainty", action="store_true", help="also evaluate the model's "
                   "uncertainty: metrics, calibration plots, domain flags (jaxpot.uncertainty)")
    p.add_argument("--posterior", help="a GAP's posterior file (<model>.posterior.npz), for "
                   "--uncertainty with a GAP that does not carry it")


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
    out = None if args.no_files else (  # default: beside the model, as a fit's report
        args.out or os.path.splitext(args.model)[0] + "_evaluation")
    stems = _stems(args.files)
    written = ([os.path.join(out, f"{s}_predicted.extxyz") for s in stems]
               + [os.path.join(out, "errors.json")]) if out else []
    check_outputs({"JSON report": args.json, "evaluation file": written},
                  {"model file": args.model, "test file": args.files})
    model = jaxpot.load(args.model)
    posterior = None
    if args.posterior:
        if not args.uncertainty:
            raise ValueError("--posterior is for --uncertainty")
        from jaxpot.gap.uncertainty import load_posterior
        posterior = load_posterior(args.posterior, model)
    sets = {path: read_frames(path) for path in args.files}  # every file read before any work
    report = {}
    if out:
        os.makedirs(out, exist_ok=True)
    for stem, (path, frames) in zip(stems, sets.items()):
        _log.info("evaluating on %s (%d configurations)", path, len(frames))
        ev = evaluate(model, frames, source=path)
        print(f"== {path}\n{ev.table()}\n")
        report[path] = ev.to_dict()
        annotated = ev.prediction.annotate(frames)
        if args.uncertainty:
            report[path]["uncertainty"] = _uncertainty(model, frames, annotated, posterior,
                                                       os.path.join(out, stem) if out else None)
        if out:
            write_structure(os.path.join(out, f"{stem}_predicted.extxyz"), annotated)
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


def _uncertainty(model, frames, annotated, posterior, prefix: str | None) -> dict:
    """Uncertainty metrics of one file (printed; plots at ``prefix``), the stds and domain
    flags added to ``annotated``; returns the JSON part."""
    import numpy as np

    from jaxpot import uncertainty as uq
    from jaxpot.training.labels import read_labels_checked
    u = uq.predict(model, frames, posterior=posterior)
    labels = read_labels_checked(frames, source="evaluate --uncertainty")
    e_err = [u.energy[i] - lab.energy for i, lab in enumerate(labels) if lab.energy is not None]
    e_std = [u.energy_std[i] for i, lab in enumerate(labels) if lab.energy is not None]
    f_err = [(u.forces[i] - lab.forces).ravel() for i, lab in enumerate(labels)
             if lab.forces is not None]
    f_std = [np.repeat(u.forces_std[i], 3) for i, lab in enumerate(labels)
             if lab.forces is not None]
    part = {"method": u.method, "calibrated": u.calibrated}
    for what, err, std in (("energy", e_err, e_std), ("forces", f_err, f_std)):
        if len(err) < 2:
            continue
        err, std = np.hstack(err), np.hstack(std)
        m = uq.metrics(err, std)
        part[what] = m.to_dict()
        print(f"  {what} uncertainty ({u.method}): miscalibration area "
              f"{m.miscalibration_area:.3f}, Spearman {m.spearman:.3f}, NLL {m.nll:.3f}, "
              f"coverage 1σ {m.coverage_1sigma:.2f} 2σ {m.coverage_2sigma:.2f}")
        if prefix:
            uq.calibration_figure(err, std, title=f"{what} ({u.method})").savefig(
                f"{prefix}_calibration_{what}.png", dpi=120)
    for i, a in enumerate(annotated):
        a.info["jaxpot_energy_std"] = float(u.energy_std[i])
        a.arrays["jaxpot_forces_std"] = np.asarray(u.forces_std[i], float)
    try:
        d = uq.domain(model, frames, posterior=posterior)
    except ValueError as err:  # no threshold: metrics only
        _log.info("no domain flags: %s", err)
        return part
    outside = [int(i) for i in np.flatnonzero(~d.inside)]
    for i, a in enumerate(annotated):
        a.info["jaxpot_domain"] = float(d.scores[i])
        a.info["jaxpot_inside"] = bool(d.inside[i])
    part["domain"] = {"threshold": d.threshold, "unit": d.unit,
                      "scores": [float(x) for x in d.scores], "outside": outside}
    print(f"  domain: {len(outside)} of {len(frames)} structures outside (score > "
          f"{d.threshold:.4g} {d.unit})" + (f": {outside[:20]}" if outside else ""))
    return part
