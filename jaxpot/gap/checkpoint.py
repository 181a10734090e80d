"""Checkpoints of a running GAP fit: sparse points and the QR absorbed so far.

A checkpoint is one ``.npz`` file written to a temporary name and renamed (atomic), holding the
sparse points, e0, the running QR state, the indices of the configurations already absorbed
and a fingerprint of the settings, the structures and every label (:func:`fingerprint`).
A fit given the same checkpoint path resumes from
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
    """The checkpoint belongs to another fit (settings, structures or labels differ)."""


#: the parts of a fingerprint, in the order they are written
PARTS = ("settings", "structures", "labels")


def fingerprint(settings, frames) -> str:
    """``settings:<sha256> structures:<sha256> labels:<sha256>``: the settings' repr; every
    frame's numbers, positions, cell and pbc; and every label it carries (calculator results,
    ``info`` and ``arrays`` other than numbers and positions, keys sorted), so a fit resumed
    after a label was corrected (an energy, a virial, a config_type, a sigma) is refused."""
    hashes = {part: hashlib.sha256() for part in PARTS}
    hashes["settings"].update(repr(settings).encode())
    for atoms in frames:
        h = hashes["structures"]
        for arr in (atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc):
            h.update(_value_bytes(arr))
        h = hashes["labels"]
        calc = getattr(atoms, "calc", None)
        results = getattr(calc, "results", None) or {}
        arrays = {k: v for k, v in atoms.arrays.items() if k not in ("numbers", "positions")}
        for kind, table in (("calc", results), ("info", atoms.info), ("arrays", arrays)):
            h.update(f"<{kind}>".encode())
            for key in sorted(table, key=str):
                h.update(repr(key).encode())
                h.update(_value_bytes(table[key]))
        h.update(b"<frame>")
    return " ".join(f"{part}:{hashes[part].hexdigest()}" for part in PARTS)


def _value_bytes(value) -> bytes:
    """Deterministic bytes of a label value: dtype, shape and data of a numeric or text
    array, else its repr."""
    try:
        a = np.asarray(value)
    except Exception:  # noqa: BLE001  (any object may sit in atoms.info)
        a = None
    if a is not None and a.dtype.kind in "biufcUS":
        return (a.dtype.str + str(a.shape)).encode() + np.ascontiguousarray(a).tobytes()
    return ("repr" + repr(value)).encode()


def differing_parts(stored: str, digest: str) -> list[str]:
    """The fingerprint parts that differ (all of :data:`PARTS` for an unparseable one)."""
    def parts(text):
        return dict(p.split(":", 1) for p in text.split() if ":" in p)
    a, b = parts(stored), parts(digest)
    if set(a) != set(PARTS) or set(b) != set(PARTS):
        return list(PARTS)
    return [p for p in PARTS if a[p] != b[p]]


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
        what = " and ".join(differing_parts(stored, digest))
        raise CheckpointMismatchError(
            f"{path}: this checkpoint belongs to a fit with other settings or data: the {what} "
            "differ from the run that wrote it (a corrected label, another file, other "
            "settings). Delete it to restart the fit")
    state = QRState(arrays["r"], arrays["qty"], float(arrays["rss"]), int(arrays["n_rows"]))
    return Checkpoint(arrays["soap_sparse"] if arrays["soap_sparse"].size else None,
                      tuple(int(c) for c in arrays["soap_counts"]),
                      arrays["pair_sparse"] if arrays["pair_sparse"].size else None,
                      arrays["e0"], state, arrays["done"])
