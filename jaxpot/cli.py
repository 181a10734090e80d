"""The ``jaxpot`` command: one subcommand per module of :mod:`jaxpot.commands`.

    jaxpot fit CONFIG.toml | --gap-fit "..." | (nothing: the main job)    fit a model
    jaxpot template [MODEL] / jaxpot validate CONFIG.toml                  configs
    jaxpot relax / md / properties / evaluate / convert / serve ...         use a model
    jaxpot COMMAND --help                                                   each one's options

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
import sys

from jaxpot.commands import command_modules

#: exit status of a command stopped by a user mistake (argparse's own status for bad usage)
USAGE_ERROR = 2

#: what ``jaxpot --help`` says jaxpot is
DESCRIPTION = ("jaxpot: fit machine-learned interatomic potentials to DFT data and use any "
               "jaxpot model (relax, MD, properties, evaluation, export).")

#: every subcommand's ``run(args)`` by the name typed (aliases included)
COMMANDS = {name: module.run for module in command_modules()
            for name in (module.NAME, *getattr(module, "ALIASES", ()))}


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true",
                        help="show DEBUG messages too; on an error, show the Python traceback "
                        "as well")
    common.add_argument("--quiet", action="store_true", help="warnings only: no progress bars, "
                        "no stage messages")
    parser = argparse.ArgumentParser(prog="jaxpot", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"jaxpot {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in command_modules():
        p = sub.add_parser(module.NAME, parents=[common], help=module.HELP,
                           description=_plain((module.__doc__ or module.HELP).strip()),
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           aliases=list(getattr(module, "ALIASES", ())))
        module.arguments(p)
    return parser


def _plain(docstring: str) -> str:
    """A module docstring as help text: reST roles and double backquotes removed."""
    import re
    return re.sub(r":\w+:`~?([^`]+)`", r"\1", docstring).replace("``", "")


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
