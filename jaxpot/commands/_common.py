"""What several subcommands share: the bundled data, the model argument, writing structures."""

from __future__ import annotations

import os


def bundled(name: str) -> str:
    """The path of a file bundled in ``jaxpot/data``."""
    return os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", name)


def load_model(spec: str):
    """``'sw'`` (Stillinger-Weber Si) or the path of a jaxpot model file."""
    from jaxpot.potentials import stillinger_weber
    if spec in ("sw", "stillinger_weber"):
        return stillinger_weber()
    if os.path.exists(spec):
        import jaxpot
        return jaxpot.load(spec)
    raise FileNotFoundError(f"unknown model {spec!r}: use 'sw' or the path of a model file")


def write_structure(path: str, atoms) -> None:
    """``atoms`` (one or a list) to ``path`` atomically, in the format ASE guesses from its
    name (binary ones such as ``.traj`` too)."""
    from ase.io import write
    from ase.io.formats import filetype, ioformats

    from jaxpot.io.atomic_file import atomic_write
    fmt = filetype(path, read=False)
    with atomic_write(path, "wb" if ioformats[fmt].isbinary else "w") as f:
        write(f, atoms, format=fmt)


def add_model_argument(p, default: str | None = "sw") -> None:
    """``--model``: 'sw' or a model file."""
    p.add_argument("--model", default=default,
                   help="'sw' (Stillinger-Weber Si) or a jaxpot model file")
