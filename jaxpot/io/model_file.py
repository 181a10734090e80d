"""Save and load any jaxpot model to one versioned file; loading is bit-identical.

File format (``.npz`` container, no pickle): an entry ``__jaxpot__`` holding UTF-8 JSON
``{"format": "jaxpot-model", "version": 1, "spec": ..., "leaves": [...], "sha256": ...}`` and
one array ``leaf_<k>`` per parameter leaf.  ``spec`` is the model's JSON spec (kind + config);
on load the model is rebuilt from it by the kind's ``from_spec`` and the saved leaves replace its
parameters (shapes and dtypes checked).  The SHA-256 over all leaf bytes detects corruption.
The file is written to a temporary name and renamed, so an interrupted save leaves no
half-written model file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.model import EnergyModel
from jaxpot.model import model_from_spec as _model_from_spec

FORMAT = "jaxpot-model"
VERSION = 1

class ModelFileError(ValueError):
    """A model file is missing, corrupt, foreign or of an unsupported version."""


def model_from_spec(spec: dict) -> EnergyModel:
    """Rebuild a model (placeholder params) from its spec dict via the model registry."""
    try:
        return _model_from_spec(spec)
    except KeyError as err:
        raise ModelFileError(str(err.args[0]) if err.args else str(err)) from None


def _digest(arrays: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def save(model: EnergyModel, path: str | os.PathLike) -> None:
    """Write ``model`` to ``path`` (atomic rename; parent directory must exist)."""
    if not isinstance(model, EnergyModel):
        raise TypeError(f"save needs a jaxpot EnergyModel, got {type(model)!r}")
    spec = json.loads(model.spec)
    if spec.get("kind") in (None, "unknown"):
        raise ModelFileError(f"{model.name} has no spec and cannot be saved")
    leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(model.params)]
    header = {"format": FORMAT, "version": VERSION, "spec": spec, "name": model.name,
              "cutoff": model.cutoff,
              "leaves": [{"shape": list(a.shape), "dtype": str(a.dtype)} for a in leaves],
              "sha256": _digest(leaves)}
    arrays = {f"leaf_{k}": a for k, a in enumerate(leaves)}
    arrays["__jaxpot__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".jaxpot-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _read_header(data, path) -> dict:
    if "__jaxpot__" not in data.files:
        raise ModelFileError(f"{path}: not a jaxpot model file (no __jaxpot__ header)")
    try:
        header = json.loads(bytes(data["__jaxpot__"]).decode())
    except (ValueError, UnicodeDecodeError) as err:
        raise ModelFileError(f"{path}: corrupt header ({err})") from None
    if header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: foreign file format {header.get('format')!r}")
    if header.get("version") != VERSION:
        raise ModelFileError(f"{path}: unsupported model file version {header.get('version')!r} "
                             f"(this jaxpot reads version {VERSION})")
    return header


def load(path: str | os.PathLike) -> EnergyModel:
    """Read a model written by :func:`save`; predictions are bit-identical to the saved model."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelFileError(f"{path}: no such model file")
    try:
        with open(path, "rb") as f:
            raw = f.read()
        data = np.load(io.BytesIO(raw), allow_pickle=False)
        header = _read_header(data, path)
        leaves = [data[f"leaf_{k}"] for k in range(len(header["leaves"]))]
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError) as err:
        raise ModelFileError(f"{path}: corrupt or not a jaxpot model file ({err})") from None
    if _digest(leaves) != header["sha256"]:
        raise ModelFileError(f"{path}: checksum mismatch, the file is corrupt")
    model = model_from_spec(header["spec"])
    template, treedef = jax.tree_util.tree_flatten(model.params)
    if len(template) != len(leaves):
        raise ModelFileError(f"{path}: {len(leaves)} parameter arrays, the model kind expects "
                             f"{len(template)}")
    for k, (t, a) in enumerate(zip(template, leaves)):
        if tuple(np.shape(t)) != a.shape:
            raise ModelFileError(f"{path}: parameter {k} has shape {a.shape}, expected "
                                 f"{tuple(np.shape(t))}")
    params = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(a) for a in leaves])
    # the cutoff may depend on parameters (e.g. Stillinger-Weber's a*sigma): keep the saved one
    return model.replace(params=params, cutoff=float(header.get("cutoff", model.cutoff)))
