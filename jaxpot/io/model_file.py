"""Save and load any jaxpot model to one versioned file; loading is bit-identical.

File format (``.npz`` container, no pickle): an entry ``__jaxpot__`` holding UTF-8 JSON
``{"format": "jaxpot-model", "version": 2, "spec": ..., "name": ..., "cutoff": ...,
"leaves": [...], "sha256": ...}`` and one array ``leaf_<k>`` per parameter leaf.  ``spec`` is
the model's JSON spec (kind + config); on load the model is rebuilt from it by the kind's
``from_spec`` and the saved leaves replace its parameters (shapes and dtypes checked).
The SHA-256 covers every header field but itself (as canonical JSON: sorted keys, no spaces)
and then each leaf's dtype, shape and bytes, so a corrupted spec, cutoff or parameter is
detected.  Version 1 files (digest over the leaves only) are still read.  Whatever goes wrong
while reading, :func:`load` raises :class:`ModelFileError`.  The file is written to a
temporary name and renamed, so an interrupted save leaves no half-written model file.
"""

from __future__ import annotations

import io
import json
import os
import zipfile

import jax
import numpy as np

from jaxpot.io.array_tree import digest
from jaxpot.io.atomic_file import atomic_write
from jaxpot.model import EnergyModel
from jaxpot.model import model_from_spec as _model_from_spec

FORMAT = "jaxpot-model"
VERSION = 2
READABLE_VERSIONS = (1, 2)  # 1: the digest covers the leaves only


class ModelFileError(ValueError):
    """A model file is missing, corrupt, foreign or of an unsupported version."""


def model_from_spec(spec: dict) -> EnergyModel:
    """Rebuild a model (placeholder params) from its spec dict via the model registry."""
    try:
        return _model_from_spec(spec)
    except KeyError as err:
        raise ModelFileError(str(err.args[0]) if err.args else str(err)) from None


def save(model: EnergyModel, path: str | os.PathLike) -> None:
    """Write ``model`` to ``path`` (atomic rename; parent directory must exist)."""
    if not isinstance(model, EnergyModel):
        raise TypeError(f"save needs a jaxpot EnergyModel, got {type(model)!r}")
    spec = json.loads(model.spec)
    if spec.get("kind") in (None, "unknown"):
        raise ModelFileError(f"{model.name} has no spec and cannot be saved")
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(folder):
        raise ModelFileError(f"cannot save to {path}: the folder {folder} does not exist")
    leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(model.params)]
    header = {"format": FORMAT, "version": VERSION, "spec": spec, "name": model.name,
              "cutoff": model.cutoff, "part_cutoffs": list(model.part_cutoffs),
              "leaves": [{"shape": list(a.shape), "dtype": str(a.dtype)} for a in leaves]}
    header["sha256"] = digest(header, leaves)
    arrays = {f"leaf_{k}": a for k, a in enumerate(leaves)}
    arrays["__jaxpot__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def _read_header(data, path) -> dict:
    if "__jaxpot__" not in data.files:
        raise ModelFileError(f"{path}: not a jaxpot model file (no __jaxpot__ header)")
    try:
        header = json.loads(bytes(data["__jaxpot__"]).decode())
    except (ValueError, UnicodeDecodeError) as err:
        raise ModelFileError(f"{path}: corrupt header ({err})") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: corrupt header (not a JSON object)")
    if header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: foreign file format {header.get('format')!r}")
    version = header.get("version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise ModelFileError(f"{path}: unsupported model file version {header.get('version')!r} "
                             f"(this jaxpot reads versions {list(READABLE_VERSIONS)})")
    return header


def _read_checked(path: str) -> tuple[dict, list[np.ndarray]]:
    """Header and parameter arrays of a model file whose digest matches."""
    with open(path, "rb") as f:
        raw = f.read()
    if not raw.startswith(b"PK\x03\x04"):  # np.load would take it for a pickle or .npy
        raise ModelFileError(f"{path}: not a jaxpot model file (a model file is an .npz "
                             "archive written by jaxpot.save)")
    data = np.load(io.BytesIO(raw), allow_pickle=False)
    header = _read_header(data, path)
    leaves = [data[f"leaf_{k}"] for k in range(len(header["leaves"]))]
    stored = digest(header if header["version"] >= 2 else None, leaves)
    if stored != header.get("sha256"):
        raise ModelFileError(f"{path}: checksum mismatch, the file is corrupt")
    for k, (meta, a) in enumerate(zip(header["leaves"], leaves)):
        if meta != {"shape": list(a.shape), "dtype": str(a.dtype)}:
            raise ModelFileError(f"{path}: parameter {k} is {a.dtype} {a.shape}, the header "
                                 f"says {meta}")
    return header, leaves


def load(path: str | os.PathLike) -> EnergyModel:
    """Read a model written by :func:`save`; predictions are bit-identical to the saved model.

    Raises :class:`ModelFileError` (and nothing else) for a missing, corrupt, foreign or
    unsupported file.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelFileError(f"{path}: no such model file")
    try:
        header, leaves = _read_checked(path)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError) as err:
        raise ModelFileError(f"{path}: corrupt or not a jaxpot model file ({err})") from None
    except Exception as err:  # anything a damaged container can raise (NotImplementedError, ...)
        raise ModelFileError(f"{path}: corrupt or not a jaxpot model file "
                             f"({type(err).__name__}: {err})") from err
    try:
        return _rebuild(header, leaves, path)
    except ModelFileError:
        raise
    except Exception as err:  # a checksummed spec this jaxpot cannot rebuild
        raise ModelFileError(f"{path}: cannot rebuild the model from its spec "
                             f"({type(err).__name__}: {err})") from err


def _rebuild(header: dict, leaves: list[np.ndarray], path: str) -> EnergyModel:
    model = model_from_spec(header["spec"])
    template, treedef = jax.tree_util.tree_flatten(model.params)
    if len(template) != len(leaves):
        raise ModelFileError(f"{path}: {len(leaves)} parameter arrays, the model kind expects "
                             f"{len(template)}")
    for k, (t, a) in enumerate(zip(template, leaves)):
        if tuple(np.shape(t)) != a.shape:
            raise ModelFileError(f"{path}: parameter {k} has shape {a.shape}, expected "
                                 f"{tuple(np.shape(t))}")
    # device_put, not jnp.asarray: the latter compiles a staging op per new shape (jax 0.10)
    params = jax.tree_util.tree_unflatten(treedef, [jax.device_put(a) for a in leaves])
    # the cutoff may depend on parameters (e.g. Stillinger-Weber's a*sigma): keep the saved one
    model = model.replace(params=params, cutoff=float(header.get("cutoff", model.cutoff)))
    saved_parts = header.get("part_cutoffs")
    if saved_parts is not None and tuple(map(float, saved_parts)) != model.part_cutoffs:
        raise ModelFileError(f"{path}: the rebuilt model's part cutoffs {model.part_cutoffs} "
                             f"differ from the saved ones {tuple(saved_parts)}")
    return model
