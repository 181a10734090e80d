"""The ``jaxpot`` command's subcommands, one module each.

A module here is a subcommand when it defines ``NAME`` (what the user types), ``HELP`` (one
line), ``ORDER`` (its place in ``jaxpot --help``), ``arguments(parser)`` (adds its arguments to
an argparse parser) and ``run(args) -> int`` (the exit status), and optionally ``ALIASES``
(other names for the same command).  Modules import nothing heavy at module level: every one
is imported to build the parser.  :mod:`jaxpot.cli` finds them (a new command is a new module,
and no edit elsewhere), sets float64, logging and the one-line errors around ``run``.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def command_modules() -> list[ModuleType]:
    """Every subcommand module of this package, in ``ORDER``."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "run"):
            found.append(module)
    return sorted(found, key=lambda m: (getattr(m, "ORDER", 100), m.NAME))
