"""Checkpoints of a running GAP fit: sparse points and the QR absorbed so far.

A checkpoint (:mod:`jaxpot.training.checkpoint`: one atomic array file, refused with
:class:`~jaxpot.training.checkpoint.CheckpointError` when it belongs to another run) holds the
sparse points, e0, the running QR state, the indices of the configurations already absorbed
and a fingerprint of the settings, the structures and every label
(:func:`jaxpot.training.checkpoint.fingerprint`).  A fit given the same checkpoint path
resumes from it: the sparse points are reused and absorbed configurations are skipped, so the
result equals an uninterrupted fit (the QR blocks are absorbed in a different grouping, equal
to round-off).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxpot.training import checkpoint as ckpt
from jaxpot.training.qr import QRState

#: the kind of run a GAP checkpoint belongs to (named in its errors)
KIND = "GAP fit"


class Checkpoint(NamedTuple):
    soap_sparse: np.ndarray | None
    soap_counts: tuple[int, ...]
    pair_sparse: np.ndarray | None
    e0: np.ndarray
    state: QRState
    done: np.ndarray  # indices of absorbed configurations


def save(path: str, point: Checkpoint, digest: str) -> None:
    empty = np.zeros((0,))
    ckpt.save(path, KIND, digest, dict(
        soap_sparse=empty if point.soap_sparse is None else point.soap_sparse,
        soap_counts=np.asarray(point.soap_counts, int),
        pair_sparse=empty if point.pair_sparse is None else point.pair_sparse,
        e0=point.e0, r=point.state.r, qty=point.state.qty,
        rss=np.array(point.state.rss), n_rows=np.array(point.state.n_rows),
        done=np.asarray(point.done, int)))


def load(path: str, digest: str) -> Checkpoint | None:
    """The checkpoint at ``path`` (None if there is none); refuses a foreign one."""
    restored = ckpt.load(path, KIND, digest)
    if restored is None:
        return None
    arrays = restored[1]
    state = QRState(arrays["r"], arrays["qty"], float(arrays["rss"]), int(arrays["n_rows"]))
    return Checkpoint(arrays["soap_sparse"] if arrays["soap_sparse"].size else None,
                      tuple(int(c) for c in arrays["soap_counts"]),
                      arrays["pair_sparse"] if arrays["pair_sparse"].size else None,
                      arrays["e0"], state, arrays["done"])
