"""Checkpoints of every fit: one file format, one fingerprint, one error type.

    digest = fingerprint((settings, model.spec), frames)
    save(path, "linear fit", digest, {"r": r, "done": done}, {"epoch": 3})
    header, arrays = load(path, "linear fit", digest)       # None when there is none

A checkpoint is a jaxpot array file (:mod:`jaxpot.io.array_tree`: a plain ``.npz`` with a JSON
header and a SHA-256 digest, never unpickled), written through a temporary file and renamed
(:func:`jaxpot.io.atomic_file.atomic_write`), so a kill mid-write leaves the previous checkpoint
intact.  Its header holds the format, the kind of run that wrote it (``"GAP fit"``,
``"linear fit"``, ``"training run"``), the run's :func:`fingerprint` and the caller's own
header (epoch, history); its arrays are named.  A fit given the path of an existing checkpoint
resumes from it; a checkpoint of another kind of run, of other settings or data (another
fingerprint) or that cannot be read is refused with :class:`CheckpointError`, naming what
differs, never silently reused.  :func:`save_tree` / :func:`load_tree` store a pytree of
arrays (a trainer's state) in tree order and rebuild it on a template of the same structure.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.io.array_tree import ArrayFileError, read_arrays, write_arrays

#: the ``format`` entry of a checkpoint's header
FORMAT = "jaxpot-checkpoint"


class CheckpointError(ValueError):
    """The checkpoint cannot be resumed: another run (settings, structures or labels differ),
    another kind of run, or unreadable."""


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


def save(path: str, kind: str, digest: str, arrays: Mapping[str, np.ndarray],
         header: Mapping | None = None) -> None:
    """Write the named ``arrays`` and the JSON-able ``header`` of a ``kind`` run whose
    fingerprint is ``digest`` to ``path``, atomically."""
    meta = {"format": FORMAT, "kind": kind, "fingerprint": digest, "run": dict(header or {})}
    write_arrays(path, meta, [(name, np.asarray(a)) for name, a in arrays.items()])


def load(path: str, kind: str, digest: str) -> tuple[dict, dict[str, np.ndarray]] | None:
    """(header, {name: array}) of the checkpoint at ``path`` (None if there is none); one
    of another kind of run, of another fingerprint or unreadable raises CheckpointError."""
    if not os.path.exists(path):
        return None
    try:
        meta, arrays = read_arrays(path)
    except (ArrayFileError, OSError) as err:
        raise CheckpointError(f"{path}: unreadable {kind} checkpoint ({err}); delete it to "
                              "start again") from None
    if meta.get("format") != FORMAT or not isinstance(meta.get("run"), dict):
        raise CheckpointError(f"{path}: not a jaxpot checkpoint (an array file of another "
                              "kind); delete it to start again")
    if meta.get("kind") != kind:
        raise CheckpointError(f"{path}: a {meta.get('kind')} checkpoint, not a {kind} one; "
                              "delete it (or choose another output) to start again")
    stored = str(meta.get("fingerprint"))
    if stored != digest:
        what = " and ".join(differing_parts(stored, digest))
        raise CheckpointError(
            f"{path}: this checkpoint belongs to a {kind} with other settings or data: the "
            f"{what} differ from the run that wrote it (a corrected label, another file, other "
            "settings). Delete it (or choose another output) to start again")
    names = [leaf["path"] for leaf in meta["leaves"]]
    return meta["run"], dict(zip(names, arrays))


def save_tree(path: str, kind: str, digest: str, state, header: Mapping) -> None:
    """Write ``state`` (a pytree of arrays, leaves in tree order) and ``header``."""
    leaves = jax.tree_util.tree_leaves(state)
    save(path, kind, digest, {f"leaf_{i:05d}": np.asarray(x) for i, x in enumerate(leaves)},
         header)


def load_tree(path: str, kind: str, digest: str, template):
    """(state, header) from ``path`` shaped like ``template`` (each leaf cast to the
    template's dtype), or None when there is none."""
    restored = load(path, kind, digest)
    if restored is None:
        return None
    header, arrays = restored
    leaves = [arrays[f"leaf_{i:05d}"] if f"leaf_{i:05d}" in arrays else None
              for i in range(len(arrays))]
    flat, treedef = jax.tree_util.tree_flatten(template)
    if len(flat) != len(leaves) or any(b is None or np.shape(a) != b.shape
                                       for a, b in zip(flat, leaves)):
        raise CheckpointError(f"{path}: the stored state does not match this model's shape")
    state = jax.tree_util.tree_unflatten(
        treedef, [jnp.asarray(b, dtype=jnp.asarray(a).dtype) for a, b in zip(flat, leaves)])
    return state, header
