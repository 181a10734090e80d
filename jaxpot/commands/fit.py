"""``jaxpot fit``: fit any registered family.

    jaxpot fit CONFIG.toml [--output MODEL] [--test FILE] [--report DIR] [--float32]
    jaxpot fit --gap-fit "<gap_fit command line>"       (a GAP, gap_fit's names verbatim)
    jaxpot fit [--out DIR]                              (the main job on the bundled Si data)
    jaxpot train CONFIG.toml                            (the same as fit CONFIG.toml)

``fit`` fits the family a config's ``model`` names (every registered family:
:mod:`jaxpot.training.families`) and writes the model and a report, with every log record in
``<report>/fit.log``; with no arguments it runs jaxpot's main job on the bundled mlearn Si
data (fit, test errors next to the published GAP, elastic constants and phonons of the fitted
GAP).
"""

from __future__ import annotations

import argparse
import os

NAME = "fit"
ALIASES = ("train",)
HELP = ("fit any registered family from a TOML config (model = \"gap\", \"snap\", \"qsnap\", "
        "\"mtp\", \"bpnn\", \"painn\", \"mace\", \"charges\", ...) or a GAP from a gap_fit "
        "command line; no arguments: the bundled Si example; `jaxpot train` is the same")
ORDER = 1

#: the log file every ``jaxpot fit`` writes into its report folder
FIT_LOG = "fit.log"


def arguments(p) -> None:
    p.add_argument("config", nargs="?", help="TOML config: model, train, output, ... (`jaxpot "
                   "template MODEL` writes one); a GAP's may use gap_fit's names")
    p.add_argument("--gap-fit", dest="gap_fit", help="a gap_fit command line, verbatim")
    override_arguments(p)
    p.add_argument("--float32", action="store_true", help="fit in float32 (network families "
                   "only; faster; default float64, as every command)")
    p.add_argument("--out", metavar="DIR", help="the main job (no CONFIG, no --gap-fit): "
                   "the folder for everything it writes (default: jaxpot_out)")
    p.add_argument("--x64", action="store_true", help=argparse.SUPPRESS)  # the old opt-in


def override_arguments(p) -> None:
    p.add_argument("--at-file", dest="at_file", help="training file (replaces the config's "
                   "train, or gap_fit's at_file)")
    p.add_argument("--output", help="model file (default: the config's output, else its name "
                   "with .jaxpot)")
    p.add_argument("--test", action="append", help="labelled file to report errors on "
                   "(repeatable; added to the config's test)")
    p.add_argument("--report", help="report directory (default: <output>_report)")


def run(args) -> int:
    """``jaxpot fit`` (and ``train``): the fit, with every record in ``<report>/fit.log``."""
    from jaxpot.logs import log_file
    if args.command == "train" and not args.config:
        raise ValueError("jaxpot train needs a CONFIG.toml (`jaxpot template MODEL` writes "
                         "one); the main job on the bundled data is `jaxpot fit`")
    try:
        path = _fit_log(args)
    except Exception:  # noqa: BLE001  (a mistake in the arguments: _fit reports it)
        path = None
    with log_file(path):
        return _fit(args)


def _fit_log(args) -> str | None:
    """The path of a fit's log file (in its report folder); None where a mistake in the
    arguments will stop the fit before it starts."""
    if args.out and (args.config or args.gap_fit or args.output):
        return None
    if bool(args.config) == bool(args.gap_fit):
        if args.config:
            return None
        from jaxpot.gap.demo import DEFAULT_OUT
        output = args.output or os.path.join(args.out or DEFAULT_OUT, "si_gap.jaxpot")
        report = os.path.splitext(output)[0] + "_report"
    elif args.gap_fit:
        if args.report:
            report = args.report
        else:
            from jaxpot.gap.config import parse_gap_fit
            from jaxpot.gap.pipeline import default_output
            output = args.output or default_output(parse_gap_fit(args.gap_fit))
            report = os.path.splitext(output)[0] + "_report"
    else:
        from jaxpot.training.fitting import prepare
        report = prepare(args.config, _overrides(args))[1]["report"]
    return os.path.join(report, FIT_LOG)


def _overrides(args):
    from jaxpot.training.fitting import Overrides
    return Overrides(args.at_file, args.output, args.report, args.test or ())


def _fit(args) -> int:
    if args.config and args.gap_fit:
        raise ValueError("give either CONFIG.toml or --gap-fit \"...\", not both")
    if not args.config and not args.gap_fit:  # the main job on the bundled Si data
        from jaxpot.gap.demo import DEFAULT_OUT, run_demo
        if args.out and args.output:
            raise ValueError("give --out DIR (the folder for everything the main job writes) or "
                             "--output MODEL (the model's path, its report beside it), not both")
        _no_float32(args, "the main job (a GAP)")
        run_demo(args.output, progress=not args.quiet, out=args.out or DEFAULT_OUT)
        return 0
    if args.out:
        raise ValueError("--out DIR is the main job's folder (jaxpot fit with no arguments); "
                         "for a fit of your own use --output MODEL and --report DIR")
    if args.gap_fit:
        return _gap_fit_line(args)
    from jaxpot.training.fitting import fit_file
    fit_file(args.config, _overrides(args), progress=not args.quiet, float32=args.float32)
    return 0


def _no_float32(args, what: str) -> None:
    if args.float32:
        raise ValueError(f"--float32: {what} fits in float64 only; --float32 is for the "
                         "network families (model = \"bpnn\", \"painn\", \"mace\")")


def _gap_fit_line(args) -> int:
    """``jaxpot fit --gap-fit "<gap_fit command line>"``: gap_fit's own names, verbatim."""
    from jaxpot.gap.config import parse_gap_fit
    from jaxpot.gap.pipeline import default_output, run_job
    _no_float32(args, "a GAP")
    job = parse_gap_fit(args.gap_fit)
    if args.at_file:
        job = job._replace(at_file=args.at_file)
    tests = list(args.test or ([job.validation_file] if job.validation_file else []))
    output = args.output or default_output(job)
    run_job(job, output=output, test_files=tests, report_dir=args.report,
            progress=not args.quiet)
    return 0
