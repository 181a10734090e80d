"""The ``jaxpot`` command.

    jaxpot relax [STRUCTURE] [--model sw|MODEL_FILE] [--pressure GPa] [--output FILE]
    jaxpot fit CONFIG.toml [--output MODEL] [--test FILE] [--report DIR] [--float32]
    jaxpot fit --gap-fit "<gap_fit command line>"       (a GAP, gap_fit's names verbatim)
    jaxpot fit [--out DIR]                              (the main job on the bundled Si data)
    jaxpot train CONFIG.toml                            (the same as fit CONFIG.toml)
    jaxpot template [MODEL] [--output FILE]             (a commented config of a family)
    jaxpot validate CONFIG.toml                         (check a config and its files)
    jaxpot evaluate MODEL FILE... [--json OUT]

``relax`` with no STRUCTURE relaxes the bundled strained diamond-Si cell with Stillinger–Weber
and prints the energy, lattice constant and stress.  ``fit`` fits the family a config's
``model`` names (every registered family: :mod:`jaxpot.training.families`) and writes the model
and a report; with no arguments it runs jaxpot's main job on the bundled mlearn Si data (fit,
test errors next to the published GAP, elastic constants and phonons of the fitted GAP).
``template`` writes a family's config with every key and its default, ``validate`` checks a
config without fitting.  ``evaluate`` prints energy, force and stress errors of any model file
on labelled structure files.

Every command computes in float64 (:mod:`jaxpot.precision`); ``fit --float32`` trains a
network in float32.  A user mistake (a missing file, a bad setting, an output that would
overwrite an input) prints one line naming it and exits with status 2; ``--verbose`` shows
the traceback too.

Messages go through :mod:`logging` (:mod:`jaxpot.logs`): each command shows jaxpot's INFO
records on stdout, one plain line each, flushed as written (a batch job's redirected output
appears as it happens); ``--quiet`` shows warnings only (no progress bars either),
``--verbose`` adds DEBUG records.  Every ``fit`` also writes all records, timestamped, to
``fit.log`` in its report folder.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

_log = logging.getLogger("jaxpot.cli")

#: exit status of a command stopped by a user mistake (argparse's own status for bad usage)
USAGE_ERROR = 2


def _bundled(name: str) -> str:
    return os.path.join(os.path.dirname(__file__), "data", name)


def _model(spec: str):
    from jaxpot.potentials import stillinger_weber
    if spec in ("sw", "stillinger_weber"):
        return stillinger_weber()
    if os.path.exists(spec):
        import jaxpot
        return jaxpot.load(spec)
    raise FileNotFoundError(f"unknown model {spec!r}: use 'sw' or the path of a model file")


def _write_structure(path: str, atoms) -> None:
    """``atoms`` to ``path`` atomically, in the format ASE guesses from its name."""
    from ase.io import write
    from ase.io.formats import filetype

    from jaxpot.io.atomic_file import atomic_write
    fmt = filetype(path, read=False)
    with atomic_write(path, "w") as f:
        write(f, atoms, format=fmt)


def relax_command(args) -> int:
    import numpy as np

    from jaxpot.io.paths import check_outputs
    from jaxpot.properties.relax import relax
    path = args.structure or _bundled("si_diamond_strained.extxyz")
    check_outputs({"relaxed structure file": args.output},
                  {"structure file": path,
                   "model file": args.model if os.path.exists(args.model) else None})
    from jaxpot.training.frames import read_frames
    atoms = read_frames(path)[-1]  # the last structure, as ase.io.read; errors name the file
    model = _model(args.model)
    _log.info(f"jaxpot relax: {len(atoms)} atoms ({atoms.get_chemical_formula()}) from {path}")
    _log.info(f"model: {model.name}, cutoff {model.cutoff:.4f} Å, target pressure "
              f"{args.pressure} GPa")
    _log.info(f"relaxing positions and cell (FIRE; fmax {args.fmax} eV/Å, smax {args.smax} "
              "GPa)")
    start = time.perf_counter()
    result = relax(model, atoms, fmax=args.fmax, smax=args.smax, pressure=args.pressure)
    elapsed = time.perf_counter() - start
    relaxed = result.atoms
    a, b, c, alpha, beta, gamma = relaxed.cell.cellpar()
    _log.info(f"converged: {result.converged} after {result.n_steps} FIRE steps "
              f"({elapsed:.1f} s)")
    _log.info(f"energy: {result.energy:.6f} eV  ({result.energy / len(relaxed):.6f} eV/atom)")
    _log.info(f"cell: a={a:.5f} b={b:.5f} c={c:.5f} Å  alpha={alpha:.3f} beta={beta:.3f} "
              f"gamma={gamma:.3f}°")
    if np.allclose([a, b, c], a, rtol=1e-6) and np.allclose([alpha, beta, gamma], 90, atol=1e-4):
        _log.info(f"lattice constant: {a:.5f} Å")
    s = result.stress_GPa
    _log.info("stress (GPa, Voigt xx yy zz yz xz xy): "
              + " ".join(f"{v:+.2e}" for v in (s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2],
                                               s[0, 1])))
    _log.info(f"max force: {np.linalg.norm(result.forces, axis=1).max():.2e} eV/Å")
    if args.output:
        _write_structure(args.output, relaxed)
        _log.info(f"wrote {args.output}")
    return 0 if result.converged else 1


#: the log file every ``jaxpot fit`` writes into its report folder
FIT_LOG = "fit.log"


def fit_command(args) -> int:
    """``jaxpot fit`` (and ``train``): the fit, with every record in ``<report>/fit.log``."""
    from jaxpot.logs import log_file
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


def template_command(args) -> int:
    from jaxpot.training.families import families
    from jaxpot.training.fitting import template_text
    if args.model is None:
        for name, fam in families().items():
            print(f"{name:10s} {fam.doc}")
        return 0
    text = template_text(args.model)
    if args.output:
        from jaxpot.io.atomic_file import atomic_write
        if os.path.exists(args.output) and not args.force:
            raise FileExistsError(f"{args.output} exists: choose another path, or --force to "
                                  "replace it")
        with atomic_write(args.output, "w") as fh:
            fh.write(text)
        print(f"wrote {args.output} (check it with: jaxpot validate {args.output})")
    else:
        print(text, end="")
    return 0


def validate_command(args) -> int:
    from jaxpot.training.fitting import Overrides, input_files, validate_file
    fam, config = validate_file(args.config, Overrides(args.at_file, args.output, args.report,
                                                       args.test or ()))
    files = input_files(config)
    counts = ", ".join(f"{len(v)} {k} file{'s' if len(v) != 1 else ''}"
                       for k, v in files.items() if v)
    print(f"{args.config}: a valid {fam.name} config ({counts}; model file "
          f"{config['output']}, report {config['report'] or 'none'})")
    return 0


def evaluate_command(args) -> int:
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


COMMANDS = {"relax": relax_command, "fit": fit_command, "evaluate": evaluate_command,
            "train": fit_command, "template": template_command,
            "validate": validate_command}


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true",
                        help="show DEBUG messages too; on an error, show the Python traceback "
                        "as well")
    common.add_argument("--quiet", action="store_true", help="warnings only: no progress bars, "
                        "no stage messages")
    parser = argparse.ArgumentParser(prog="jaxpot", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"jaxpot {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("relax", parents=[common], help="relax positions and cell (FIRE, jitted)")
    p.add_argument("structure", nargs="?", help="structure file readable by ASE "
                   "(default: bundled strained diamond Si)")
    p.add_argument("--model", default="sw", help="'sw' (Stillinger-Weber Si) or a model file")
    p.add_argument("--pressure", type=float, default=0.0, help="target pressure, GPa")
    p.add_argument("--fmax", type=float, default=1e-4, help="force criterion, eV/Å")
    p.add_argument("--smax", type=float, default=1e-4, help="stress criterion, GPa")
    p.add_argument("--output", help="write the relaxed structure here (extxyz, cif, ...)")
    p = sub.add_parser("fit", parents=[common],
                       help="fit any registered family from a TOML config (model = \"gap\", "
                       "\"snap\", \"qsnap\", \"mtp\", \"bpnn\", \"painn\", \"mace\", "
                       "\"charges\", ...) or a GAP from a gap_fit command line; no arguments: "
                       "the bundled Si example")
    _fit_arguments(p, train=False)
    p = sub.add_parser("train", parents=[common], help="the same as fit (kept for network "
                       "configs): jaxpot train CONFIG.toml")
    _fit_arguments(p, train=True)
    p = sub.add_parser("template", parents=[common], help="write a commented config with "
                       "every key of a family and its default")
    p.add_argument("model", nargs="?", help="the family (model = ...); none: list the families")
    p.add_argument("--output", help="write the config here (default: print it)")
    p.add_argument("--force", action="store_true", help="replace an existing --output file")
    p = sub.add_parser("validate", parents=[common], help="check a config and the files it "
                       "names without fitting")
    p.add_argument("config", help="a TOML config, as jaxpot fit takes")
    _override_arguments(p)
    p = sub.add_parser("evaluate", parents=[common],
                       help="energy/force/stress errors of a model on files")
    p.add_argument("model", help="a jaxpot model file")
    p.add_argument("files", nargs="+", help="labelled structure files (extxyz, ...)")
    p.add_argument("--json", help="write the errors here as JSON")
    return parser


def _override_arguments(p) -> None:
    p.add_argument("--at-file", dest="at_file", help="training file (replaces the config's "
                   "train, or gap_fit's at_file)")
    p.add_argument("--output", help="model file (default: the config's output, else its name "
                   "with .jaxpot)")
    p.add_argument("--test", action="append", help="labelled file to report errors on "
                   "(repeatable; added to the config's test)")
    p.add_argument("--report", help="report directory (default: <output>_report)")


def _fit_arguments(p, train: bool) -> None:
    p.add_argument("config", nargs=None if train else "?", help="TOML config: model, train, "
                   "output, ... (`jaxpot template MODEL` writes one); a GAP's may use gap_fit's "
                   "names")
    if train:
        p.set_defaults(gap_fit=None, out=None)
    else:
        p.add_argument("--gap-fit", dest="gap_fit", help="a gap_fit command line, verbatim")
    _override_arguments(p)
    p.add_argument("--float32", action="store_true", help="fit in float32 (network families "
                   "only; faster; default float64, as every command)")
    if not train:
        p.add_argument("--out", metavar="DIR", help="the main job (no CONFIG, no --gap-fit): "
                       "the folder for everything it writes (default: jaxpot_out)")
    p.add_argument("--x64", action="store_true", help=argparse.SUPPRESS)  # the old default's opt-in


def _version() -> str:
    from jaxpot._version import __version__
    return __version__


def _user_errors() -> tuple[type, ...]:
    """Exception types that mean a user mistake (bad file, setting, path or precision)."""
    from jaxpot.md.state import MDError
    from jaxpot.precision import PrecisionError
    return (ValueError, TypeError, OSError, KeyError, PrecisionError, MDError)


def _logging(args):
    """jaxpot's records on stdout for one command: INFO and above; --quiet: warnings only;
    --verbose: DEBUG too."""
    from jaxpot.logs import to_stdout
    if getattr(args, "quiet", False):
        return to_stdout(logging.WARNING)
    if getattr(args, "verbose", False):
        return to_stdout(logging.DEBUG)
    return to_stdout(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import jax
    before = bool(jax.config.jax_enable_x64)  # restored for callers in the same process
    jax.config.update("jax_enable_x64", not getattr(args, "float32", False))  # one policy
    try:
        with _logging(args):
            return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print(f"jaxpot {args.command}: interrupted (a fit, training or MD run given a "
              "checkpoint resumes when the same command is run again)", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001  (one line for the user, traceback on request)
        if args.verbose:
            raise
        known = isinstance(err, _user_errors())
        text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        kind = "" if known else f"{type(err).__name__}: "
        hint = "" if known else " (an unexpected error: rerun with --verbose for the traceback)"
        print(f"jaxpot {args.command}: error: {kind}{text}{hint}", file=sys.stderr)
        return USAGE_ERROR
    finally:
        jax.config.update("jax_enable_x64", before)


if __name__ == "__main__":
    sys.exit(main())
