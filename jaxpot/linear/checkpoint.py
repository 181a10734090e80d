"""Checkpoints of a running linear fit: the QR factors absorbed so far, per subset and kind.

One ``.npz`` written to a temporary name and renamed (atomic) after each batch of
configurations, with the indices already absorbed and a fingerprint of what the rows depend
on: basis, config_type weights, validation split and data
(:func:`jaxpot.gap.checkpoint.fingerprint`).  A fit given the same path resumes: absorbed
configurations are skipped, so the result equals an uninterrupted fit to round-off; one that
changes only the kind weights or the ridge reuses every row.  A checkpoint whose rows differ is
refused (:class:`~jaxpot.gap.checkpoint.CheckpointMismatchError`).
"""

from __future__ import annotations

import os

import numpy as np

from jaxpot.gap.checkpoint import CheckpointMismatchError
from jaxpot.gap.solve import QRState
from jaxpot.io.atomic_file import atomic_write
from jaxpot.linear.solve import KINDS


def save(path: str, states: list[dict], done, digest: str) -> None:
    arrays = {"digest": np.array(digest), "done": np.asarray(sorted(done), int)}
    for which, group in enumerate(states):
        for kind in KINDS:
            s = group[kind]
            key = f"{which}_{kind}"
            arrays.update({f"{key}_r": s.r, f"{key}_qty": s.qty, f"{key}_rss": np.array(s.rss),
                           f"{key}_n": np.array(s.n_rows)})
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def load(path: str, digest: str) -> tuple[list[dict], set[int]] | None:
    """(states, absorbed indices) of the checkpoint at ``path``; None if there is none."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as err:
        raise CheckpointMismatchError(f"{path}: unreadable fit checkpoint ({err}); delete it "
                                      "to restart the fit") from None
    if str(arrays.get("digest")) != digest:
        raise CheckpointMismatchError(f"{path}: this checkpoint belongs to a fit with other "
                                      "settings or data; delete it to restart")
    states = [{kind: QRState(arrays[f"{w}_{kind}_r"], arrays[f"{w}_{kind}_qty"],
                             float(arrays[f"{w}_{kind}_rss"]), int(arrays[f"{w}_{kind}_n"]))
               for kind in KINDS} for w in range(2)]
    return states, set(int(i) for i in arrays["done"])
