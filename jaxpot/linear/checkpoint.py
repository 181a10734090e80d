"""Checkpoints of a running linear fit: the QR factors absorbed so far, per subset and kind.

One atomic array file (:mod:`jaxpot.training.checkpoint`) written after each batch of
configurations, with the indices already absorbed and a fingerprint of what the rows depend
on: basis, config_type weights, validation split and data
(:func:`jaxpot.training.checkpoint.fingerprint`).  A fit given the same path resumes: absorbed
configurations are skipped, so the result equals an uninterrupted fit to round-off; one that
changes only the kind weights or the ridge reuses every row.  A checkpoint whose rows differ is
refused (:class:`~jaxpot.training.checkpoint.CheckpointError`).
"""

from __future__ import annotations

import numpy as np

from jaxpot.linear.solve import KINDS
from jaxpot.training import checkpoint as ckpt
from jaxpot.training.qr import QRState

#: the kind of run a linear-fit checkpoint belongs to (named in its errors)
KIND = "linear fit"


def save(path: str, states: list[dict], done, digest: str) -> None:
    arrays = {"done": np.asarray(sorted(done), int)}
    for which, group in enumerate(states):
        for kind in KINDS:
            s = group[kind]
            key = f"{which}_{kind}"
            arrays.update({f"{key}_r": s.r, f"{key}_qty": s.qty, f"{key}_rss": np.array(s.rss),
                           f"{key}_n": np.array(s.n_rows)})
    ckpt.save(path, KIND, digest, arrays)


def load(path: str, digest: str) -> tuple[list[dict], set[int]] | None:
    """(states, absorbed indices) of the checkpoint at ``path``; None if there is none."""
    restored = ckpt.load(path, KIND, digest)
    if restored is None:
        return None
    arrays = restored[1]
    states = [{kind: QRState(arrays[f"{w}_{kind}_r"], arrays[f"{w}_{kind}_qty"],
                             float(arrays[f"{w}_{kind}_rss"]), int(arrays[f"{w}_{kind}_n"]))
               for kind in KINDS} for w in range(2)]
    return states, set(int(i) for i in arrays["done"])
