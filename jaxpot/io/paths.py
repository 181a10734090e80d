"""Output paths that must not destroy inputs.

Every command and pipeline that writes files names its inputs and outputs once:

    check_outputs({"model": out, "report": report_dir}, {"training file": train, "test file": t})

and an output that is (or, once created, would be) the same file as an input, or one output
named twice, is refused with :class:`OutputOverwritesInputError` before anything is read or
written.  "The same file" is decided by ``os.path.samefile`` when both exist (hard links,
symlinks, ``./a`` and ``a``), else by the resolved absolute path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


class OutputOverwritesInputError(ValueError):
    """An output path names a file that is also an input (or another output)."""


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file (existing: ``samefile``; else resolved path)."""
    a, b = os.fspath(a), os.fspath(b)
    if os.path.exists(a) and os.path.exists(b):
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def _flat(named: Mapping) -> list[tuple[str, str]]:
    out = []
    for what, paths in named.items():
        if paths is None:
            continue
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        out.extend((what, os.fspath(p)) for p in paths if p is not None)
    return out


def check_outputs(outputs: Mapping, inputs: Mapping) -> None:
    """Refuse an output that is an input or another output (see the module docstring).

    outputs, inputs: ``{what: path or list of paths or None}``; ``what`` names the role in the
    message (``"model file"``, ``"test file"``).
    """
    outs, ins = _flat(outputs), _flat(inputs)
    for k, (what, path) in enumerate(outs):
        for in_what, in_path in ins:
            if same_file(path, in_path):
                raise OutputOverwritesInputError(
                    f"the {what} {path} is the {in_what} {in_path}: writing it would destroy "
                    f"the input; choose another {what} path")
        for other_what, other in outs[k + 1:]:
            if same_file(path, other):
                raise OutputOverwritesInputError(
                    f"the {what} and the {other_what} are one file, {path}; give them "
                    "different paths")
