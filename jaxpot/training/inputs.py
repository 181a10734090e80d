"""Inputs of the training and fitting pipelines, read and checked before any work starts.

Shared by ``jaxpot train`` (:mod:`jaxpot.nn.pipeline`) and ``jaxpot fit`` for linear models
(:mod:`jaxpot.linear.pipeline`): the list of files a config key names, the label names of a
``names`` table (``{energy = "dft_energy", forces = "dft_forces"}``; a name no frame carries is
refused where the labels are read, :func:`jaxpot.training.labels.read_labels_checked`), and the
species list of a config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from jaxpot.training.labels import LabelKeys

#: the label roles a ``names`` table may set (jaxpot.training.labels.LabelKeys' fields)
NAME_ROLES = LabelKeys._fields


def file_list(value, key: str, error: type[Exception] = ValueError) -> list[str]:
    """The paths a config key names: a string or a list of strings (``error`` otherwise)."""
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    if isinstance(value, Sequence) and all(isinstance(p, (str, os.PathLike)) for p in value):
        return [os.fspath(p) for p in value]
    raise error(f"{key} must be a file path or a list of file paths, got {value!r}")


def names_table(value, key: str = "names", error: type[Exception] = ValueError
                ) -> dict[str, str] | None:
    """The ``names`` table of a config as {role: info/arrays key} (None when absent)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise error(f"{key} must be a table {{energy = \"...\", forces = \"...\"}} of label "
                    f"names, got {value!r}")
    from jaxpot.training.values import unknown_keys
    message = unknown_keys(value, NAME_ROLES, f"[{key}]")
    if message:
        raise error(message)
    bad = {k: v for k, v in value.items() if not isinstance(v, str) or not v}
    if bad:
        raise error(f"[{key}] values must be non-empty strings (info/arrays keys), got {bad}")
    return dict(value)


def species_list(value, key: str = "species", error: type[Exception] = ValueError
                 ) -> list[str | int]:
    """A config's species: a non-empty list of element symbols or atomic numbers."""
    from jaxpot.descriptors._common import species_numbers
    if isinstance(value, str):
        from ase.data import atomic_numbers
        example = [value] if value in atomic_numbers else ["Si", "O"]
        raise error(f"{key} = {value!r} must be a list of element symbols, e.g. {key} = "
                    + "[" + ", ".join(f'"{s}"' for s in example) + "]")
    if not isinstance(value, Sequence) or not value:
        raise error(f"{key} must be a non-empty list of element symbols, got {value!r}")
    try:
        species_numbers(value, key)
    except (TypeError, ValueError) as err:
        raise error(str(err)) from None
    return list(value)


def read_labelled(paths: Sequence[str], names=None) -> dict[str, list]:
    """{path: frames} of labelled files, each configuration's labels read and checked now
    (TrainingDataError naming the file and index, LabelError for a name no frame has), so
    that a bad file fails before a fit or training starts, not after it."""
    from jaxpot.training.frames import read_frames
    from jaxpot.training.labels import read_labels_checked
    out = {}
    for path in paths:
        frames = read_frames(path)
        read_labels_checked(frames, names, path)
        out[path] = frames
    return out
