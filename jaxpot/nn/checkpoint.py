"""Atomic, resumable checkpoints of a training run.

One ``.npz`` holds every array leaf of the training state (stacked member params, optimiser
state, EMA, best params) in tree order, and a JSON header with the epoch, the run's history
and a fingerprint of the settings and data.  It is written through
:func:`jaxpot.io.atomic_file.atomic_write` (a temporary file beside it, fsynced, then renamed),
so a kill mid-write leaves the previous checkpoint intact.  Loading needs a
template state of the same structure (the one a fresh run starts from); a checkpoint of another
run (different fingerprint) or of another structure is refused with a clear error.
"""

from __future__ import annotations

import hashlib
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.io.atomic_file import atomic_write


class CheckpointError(ValueError):
    """The checkpoint cannot be resumed (another run, or unreadable)."""


def fingerprint(settings_repr: str, frames) -> str:
    """SHA-256 of GAP's checkpoint fingerprint (settings, structures, stored calculator
    results) extended by every frame's info keys (labels read from ``atoms.info``)."""
    from jaxpot.gap.checkpoint import fingerprint as structures_fingerprint
    h = hashlib.sha256(structures_fingerprint(settings_repr, frames).encode())
    for atoms in frames:
        for key in sorted(atoms.info):
            h.update(f"{key}={atoms.info[key]!r}".encode())
    return h.hexdigest()


def save(path: str, state, header: dict) -> None:
    """Write ``state`` (a pytree of arrays) and the JSON ``header`` atomically to ``path``."""
    leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(state)]
    with atomic_write(path) as f:
        np.savez(f, header=np.array(json.dumps(header)),
                 **{f"leaf_{i:05d}": x for i, x in enumerate(leaves)})


def load(path: str, template, digest: str):
    """(state, header) from ``path`` shaped like ``template``, or None when there is none."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path) as data:
            header = json.loads(str(data["header"]))
            leaves = [data[f"leaf_{i:05d}"] for i in range(len(data.files) - 1)]
    except (OSError, ValueError, KeyError) as err:
        raise CheckpointError(f"{path}: unreadable training checkpoint ({err}); delete it to "
                              "start again") from None
    if header.get("fingerprint") != digest:
        raise CheckpointError(f"{path}: this checkpoint belongs to a run with other settings "
                              "or data; delete it (or choose another output) to start again")
    flat, treedef = jax.tree_util.tree_flatten(template)
    if len(flat) != len(leaves) or any(np.shape(a) != b.shape for a, b in zip(flat, leaves)):
        raise CheckpointError(f"{path}: the stored state does not match this model's shape")
    state = jax.tree_util.tree_unflatten(
        treedef, [jnp.asarray(b, dtype=jnp.asarray(a).dtype) for a, b in zip(flat, leaves)])
    return state, header
