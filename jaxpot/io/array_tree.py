"""Pytrees of arrays in a plain ``.npz`` file with a JSON header: nothing in it can run code.

File layout: an entry ``__header__`` (UTF-8 JSON bytes, ``uint8``) and one array ``leaf_<k>``
per array.  The header is the caller's dict plus ``"leaves"`` (path, shape and dtype of each
array) and ``"sha256"``, a digest over the header (canonical JSON, without the digest itself)
and each array's dtype, shape and bytes.  Reading uses ``np.load(allow_pickle=False)``, so no
object arrays and no pickle are ever loaded.

Trees are encoded by :func:`encode_tree` as JSON nodes: ``null`` for None, ``{"leaf": k}`` for
an array, ``{"class": name, "data": {...}, "static": {...}}`` for a dataclass pytree (static
fields as JSON, tuples as lists).  :func:`decode_tree` rebuilds them from an allowlist of
classes only: a name not in it, a missing or extra field, a leaf of another shape or dtype
than the schema says is refused with :class:`ArrayFileError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Mapping

import numpy as np

from jaxpot.io.atomic_file import atomic_write

HEADER = "__header__"
ZIP_MAGIC = b"PK\x03\x04"
PICKLE_MAGIC = b"\x80"
#: array kinds a file may hold: bool, signed and unsigned integers, floats, complex
ARRAY_KINDS = "biufc"


class ArrayFileError(ValueError):
    """An array file is not an ``.npz`` of this layout, is corrupt, or holds a tree this reader
    does not rebuild."""


def digest(header: Mapping | None, arrays: list[np.ndarray]) -> str:
    """SHA-256 over the header's fields but ``sha256`` (canonical JSON: sorted keys, no
    spaces; None: no header) and each array's dtype, shape and bytes.  The digest of jaxpot's
    model files and array files alike."""
    h = hashlib.sha256()
    if header is not None:
        fields = {k: v for k, v in header.items() if k != "sha256"}
        h.update(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode())
    for a in arrays:
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _json_static(value, where: str):
    """A static field as JSON: bool, int, float, str, None, or (nested) tuples of them."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return [_json_static(v, where) for v in value]
    raise TypeError(f"{where}: static value {value!r} of type {type(value).__name__} cannot be "
                    "stored in an array file")


def _tuple_static(value):
    """The inverse of :func:`_json_static`: JSON lists back to tuples."""
    return tuple(_tuple_static(v) for v in value) if isinstance(value, list) else value


def encode_tree(tree, leaves: list[tuple[str, np.ndarray]], path: str = "") -> object:
    """JSON node of ``tree`` (None, arrays, dataclass pytrees); its arrays are appended to
    ``leaves`` as (path, host NumPy array) and referenced by index."""
    if tree is None:
        return None
    if dataclasses.is_dataclass(tree) and not isinstance(tree, type):
        data, static = {}, {}
        for f in dataclasses.fields(tree):
            value = getattr(tree, f.name)
            where = f"{path}.{f.name}" if path else f.name
            if f.metadata.get("static", False):
                static[f.name] = _json_static(value, where)
            else:
                data[f.name] = encode_tree(value, leaves, where)
        return {"class": type(tree).__name__, "data": data, "static": static}
    a = np.asarray(tree)
    if a.dtype.kind not in ARRAY_KINDS:
        raise TypeError(f"{path or 'tree'}: arrays of dtype {a.dtype} cannot be stored")
    leaves.append((path, a))
    return {"leaf": len(leaves) - 1}


def decode_tree(node, arrays: list[np.ndarray], classes: Mapping[str, type],
                path: str = ""):
    """Rebuild a tree from :func:`encode_tree`'s node; only ``classes`` (name -> dataclass) are
    instantiated, with their fields (a field with a default, added after the file was written,
may be missing and takes its default).  Raises :class:`ArrayFileError`."""
    where = path or "tree"
    if node is None:
        return None
    if not isinstance(node, dict):
        raise ArrayFileError(f"{where}: malformed tree node")
    if "leaf" in node:
        k = node["leaf"]
        if type(k) is not int or not 0 <= k < len(arrays):
            raise ArrayFileError(f"{where}: leaf index {k!r} out of range")
        return arrays[k]
    cls = classes.get(node.get("class"))
    if cls is None:
        raise ArrayFileError(f"{where}: class {node.get('class')!r} is not one this file may "
                             f"hold ({', '.join(sorted(classes))})")
    data, static = node.get("data"), node.get("static")
    if not isinstance(data, dict) or not isinstance(static, dict):
        raise ArrayFileError(f"{where}: malformed {cls.__name__} node")
    fields = {f.name: f.metadata.get("static", False) for f in dataclasses.fields(cls)}
    optional = {f.name for f in dataclasses.fields(cls)
                if f.default is not dataclasses.MISSING
                or f.default_factory is not dataclasses.MISSING}
    given = {**{n: False for n in data}, **{n: True for n in static}}
    # a field added later with a default (an older file lacks it) takes its default
    if any(fields.get(n) != flag for n, flag in given.items()) \
            or set(fields) - set(given) - optional or set(data) & set(static):
        raise ArrayFileError(f"{where}: the fields of {cls.__name__} in the file "
                             f"({sorted(given)}) are not this jaxpot's ({sorted(fields)})")
    kwargs = {n: decode_tree(v, arrays, classes, f"{path}.{n}" if path else n)
              for n, v in data.items()}
    kwargs.update({n: _tuple_static(v) for n, v in static.items()})
    return cls(**kwargs)


def write_arrays(path: str | os.PathLike, header: Mapping,
                 leaves: list[tuple[str, np.ndarray]]) -> None:
    """Write ``leaves`` ((name, array) pairs) and ``header`` (JSON-able; gains the schema
    ``leaves``, name/shape/dtype of each array, and ``sha256``) to ``path`` atomically
    (temporary file + rename)."""
    header = dict(header)
    arrays = [np.asarray(a) for _, a in leaves]
    header["leaves"] = [{"path": name, "shape": list(a.shape), "dtype": str(a.dtype)}
                        for (name, _), a in zip(leaves, arrays)]
    header["sha256"] = digest(header, arrays)
    entries = {f"leaf_{k}": a for k, a in enumerate(arrays)}
    entries[HEADER] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with atomic_write(path) as f:
        np.savez(f, **entries)


def file_kind(path: str | os.PathLike) -> str:
    """``"npz"`` (a zip archive), ``"pickle"`` (starts like a pickle) or ``"other"``, from
    the first bytes only."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(ZIP_MAGIC):
        return "npz"
    return "pickle" if head.startswith(PICKLE_MAGIC) else "other"


def read_arrays(path: str | os.PathLike) -> tuple[dict, list[np.ndarray]]:
    """(header, arrays) of a file written by :func:`write_arrays` whose digest and schema
    match.  Raises :class:`ArrayFileError` for any other file (never unpickles)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            if HEADER not in data.files:
                raise ArrayFileError("no header: not a jaxpot array file")
            header = json.loads(bytes(data[HEADER]).decode())
            if not isinstance(header, dict) or not isinstance(header.get("leaves"), list):
                raise ArrayFileError("corrupt header")
            arrays = [data[f"leaf_{k}"] for k in range(len(header["leaves"]))]
    except ArrayFileError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError, UnicodeDecodeError,
            NotImplementedError) as err:
        raise ArrayFileError(f"not a readable .npz array file ({type(err).__name__}: "
                             f"{err})") from None
    if digest(header, arrays) != header.get("sha256"):
        raise ArrayFileError("checksum mismatch: the file is corrupt or was edited")
    for k, (meta, a) in enumerate(zip(header["leaves"], arrays)):
        if not isinstance(meta, dict) or a.dtype.kind not in ARRAY_KINDS or \
                (meta.get("shape"), meta.get("dtype")) != (list(a.shape), str(a.dtype)):
            raise ArrayFileError(f"array {k} is {a.dtype} {a.shape}, the header says {meta}")
    return header, arrays
