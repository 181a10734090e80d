"""Files of a fit: the training frames read with errors naming the file, JSON reports written
atomically, and the outputs checked before the work starts.

    frames = read_frames("train.extxyz")       # every configuration; TrainingDataError if none
    check_writable("out/si.jaxpot", "out/si_report")   # before a fit, not after it
    write_json("out/si_report/timings.json", {"fit": 12.5})
"""

from __future__ import annotations

import json
import os

from jaxpot.io.atomic_file import atomic_write
from jaxpot.training.labels import TrainingDataError


def read_frames(path: str) -> list:
    """All configurations of an ASE-readable file; clear errors for missing or empty files."""
    from ase.io import read
    if not os.path.exists(path):
        raise TrainingDataError(f"{path}: no such file")
    try:
        frames = read(path, ":")
    except Exception as err:  # noqa: BLE001  (ASE raises many types for malformed files)
        raise TrainingDataError(f"{path}: cannot be read as a structure file ({err})") from None
    if not frames:
        raise TrainingDataError(f"{path}: no configurations")
    return frames


def check_writable(output: str, report_dir: str) -> None:
    """Refuse, before a fit, outputs that could not be written after it: a model file in a
    directory that does not exist, a report directory that is a file."""
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"the model file {output} would go in {folder}, which does not "
                                "exist: create it or choose another output path")
    if os.path.exists(report_dir) and not os.path.isdir(report_dir):
        raise FileExistsError(f"the report directory {report_dir} is a file: choose another "
                              "report directory (--report)")


def write_json(path: str, data) -> None:
    """Write ``data`` as JSON through a temporary name (atomic)."""
    with atomic_write(path, "w") as fh:
        json.dump(data, fh, indent=1, default=str)
