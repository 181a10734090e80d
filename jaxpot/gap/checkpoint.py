"""Checkpoints of a running GAP fit: sparse points and the QR absorbed so far.

A checkpoint is one ``.npz`` file written to a temporary name and renamed (atomic), holding the
sparse points, e0, the running QR state, the indices of the configurations already absorbed
and a fingerprint of the settings and data.  A fit given the same checkpoint path resumes from
it: the sparse points are reused and absorbed configurations are skipped, so the result equals
an uninterrupted fit (the QR blocks are absorbed in a different grouping, equal to round-off).
A checkpoint whose fingerprint does not match is refused with a clear error, never silently
reused.
"""

from __future__ import annotations

import hashlib
import os
from typing import NamedTuple

import numpy as np

from jaxpot.gap.solve import QRState
from jaxpot.io.atomic_file import atomic_write


class Checkpoint(NamedTuple):
    soap_sparse: np.ndarray | None
    soap_counts: tuple[int, ...]
    pair_sparse: np.ndarray | None
    e0: np.ndarray
    state: QRState
    done: np.ndarray  # indices of absorbed configurations


class CheckpointMismatchError(ValueError):
    """The checkpoint belongs to another fit (settings or data differ)."""


def fingerprint(settings, frames) -> str:
    """SHA-256 of the settings' repr and every frame's numbers, positions, cell and labels."""
    h = hashlib.sha256(repr(settings).encode())
    for atoms in frames:
        for arr in (atoms.numbers, atoms.positions, atoms.cell.array):
            h.update(np.ascontiguousarray(arr).tobytes())
        calc = getattr(atoms, "calc", None)
        for key in sorted(getattr(calc, "results", {}) or {}):
            h.update(np.ascontiguousarray(np.asarray(calc.results[key], float)).tobytes())
    return h.hexdigest()


def save(path: str, point: Checkpoint, digest: str) -> None:
    empty = np.zeros((0,))
    with atomic_write(path) as f:
        np.savez(f, digest=np.array(digest),
                 soap_sparse=empty if point.soap_sparse is None else point.soap_sparse,
                 soap_counts=np.asarray(point.soap_counts, int),
                 pair_sparse=empty if point.pair_sparse is None else point.pair_sparse,
                 e0=point.e0, r=point.state.r, qty=point.state.qty,
                 rss=np.array(point.state.rss), n_rows=np.array(point.state.n_rows),
                 done=np.asarray(point.done, int))


def load(path: str, digest: str) -> Checkpoint | None:
    """The checkpoint at ``path`` (None if there is none); refuses a foreign one."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path) as data:
            stored = str(data["digest"])
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, KeyError) as err:
        raise CheckpointMismatchError(f"{path}: unreadable GAP checkpoint ({err}); delete it "
                                      "to restart the fit") from None
    if stored != digest:
        raise CheckpointMismatchError(f"{path}: this checkpoint belongs to a fit with other "
                                      "settings or data; delete it to restart")
    state = QRState(arrays["r"], arrays["qty"], float(arrays["rss"]), int(arrays["n_rows"]))
    return Checkpoint(arrays["soap_sparse"] if arrays["soap_sparse"].size else None,
                      tuple(int(c) for c in arrays["soap_counts"]),
                      arrays["pair_sparse"] if arrays["pair_sparse"].size else None,
                      arrays["e0"], state, arrays["done"])
