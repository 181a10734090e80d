"""Reading and checking mlip-2 ``.mtp`` files (legacy ``min_dist``/``max_dist`` or motep's
``min``/``max``/``size`` radial sections).

:func:`parse_mtp_file` returns the file's keys; every block is checked against the sizes the
header declares (:func:`check_blocks`): the radial coefficients of each species pair
(``radial_funcs_count`` rows of ``radial_basis_size`` values), the basic moments, the
products and the moment mapping (``*_count`` keys, indices in range), ``species_coeffs``
(``species_count`` values) and ``moment_coeffs`` (``alpha_scalar_moments`` values), and the
basic ranges (``0 <= min_dist < max_dist``, positive sizes, finite numbers).  A file that
fails raises :class:`MtpFileError` naming the file, the block, the expected and the found
size: a block one entry short would otherwise be read past its end (garbage energies).
"""

from __future__ import annotations

import json
import os
import re

import numpy as np

from jaxpot.potentials.file_checks import read_text

#: keys every trained file has
NEEDED = ("species_count", "min_dist", "max_dist", "radial_basis_size", "alpha_index_basic",
          "alpha_index_times", "alpha_moment_mapping", "species_coeffs", "moment_coeffs")
_ALIASES = {"min": "min_dist", "max": "max_dist", "size": "radial_basis_size"}


class MtpFileError(ValueError):
    """An .mtp file jaxpot cannot read (the message names the file and the key)."""


def _value(text: str, path: str, line: int, key: str):
    """A value: ``{...}`` lists (nested), integers, numbers, else the text."""
    text = text.strip()
    if text.startswith("{"):
        try:
            return json.loads(text.replace("{", "[").replace("}", "]"))
        except ValueError:
            raise MtpFileError(f"{path}, line {line}: {key} is not a well-formed list of "
                               f"numbers: {text[:60]!r}") from None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _radial_section(lines: list[str], k: int, path: str) -> tuple[dict, int]:
    """The ``a-b`` blocks of rows after ``radial_coeffs`` (from line index ``k``) -> (blocks,
    index of the next line)."""
    radial = {}
    while k < len(lines) and re.fullmatch(r"\d+-\d+", lines[k].strip()):
        a, b = (int(x) for x in lines[k].strip().split("-"))
        if (a, b) in radial:
            raise MtpFileError(f"{path}, line {k + 1}: radial_coeffs lists the pair {a}-{b} "
                               "twice")
        start = k + 1
        k += 1
        rows = []
        while k < len(lines) and lines[k].strip().startswith("{"):
            rows.append(_value(lines[k], path, k + 1, f"radial_coeffs {a}-{b}"))
            k += 1
        radial[(a, b)] = (rows, start)
    return radial, k


def parse_mtp_file(path: str | os.PathLike) -> dict:
    """The keys of an mlip-2 ``.mtp`` file, checked (see the module docstring), with
    ``radial_coeffs`` as an array (S, S, radial_funcs_count, radial_basis_size)."""
    path = os.fspath(path)
    try:
        text = read_text(path, "mlip-2 .mtp", MtpFileError)
    except FileNotFoundError:
        raise MtpFileError(f"{path}: cannot read (no such file)") from None
    lines = text.splitlines()
    if not lines or lines[0].strip() != "MTP":
        raise MtpFileError(f"{path}: not an mlip-2 .mtp file (first line must be 'MTP')")
    data, where, radial, k = {}, {}, None, 1
    while k < len(lines):
        line = lines[k].strip()
        k += 1
        if not line:
            continue
        if line == "radial_coeffs":
            radial, k = _radial_section(lines, k, path)
            continue
        if "=" not in line:
            raise MtpFileError(f"{path}: line {k}: expected 'key = value', got {line!r}")
        key, value = (x.strip() for x in line.split("=", 1))
        key = _ALIASES.get(key, key)
        if key in data:
            raise MtpFileError(f"{path}, line {k}: {key} is given twice (also on line "
                               f"{where[key]})")
        data[key], where[key] = _value(value, path, k, key), k
    missing = [key for key in NEEDED if key not in data]
    if radial is None and not missing:
        missing = ["radial_coeffs"]
    if missing:
        raise MtpFileError(f"{path}: missing keys {missing} (an untrained template? train it "
                           "first, or fit with jaxpot fit model = 'mtp')")
    if data.get("radial_basis_type", "RBChebyshev") != "RBChebyshev":
        raise MtpFileError(f"{path}: radial_basis_type {data['radial_basis_type']!r} is not "
                           "supported (RBChebyshev is)")
    check_header(data, path)
    data["radial_coeffs"] = radial_array(radial, data, path)
    check_blocks(data, path)
    return data


def _count(data: dict, key: str, path: str, minimum: int = 1) -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise MtpFileError(f"{path}: {key} must be an integer >= {minimum}, got {value!r}")
    return value


def _number(data: dict, key: str, path: str) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise MtpFileError(f"{path}: {key} must be a finite number, got {value!r}")
    return float(value)


def check_header(data: dict, path: str) -> None:
    """The declared sizes are positive integers, the radial range is 0 <= min < max (Å)."""
    for key in ("species_count", "radial_basis_size"):
        _count(data, key, path)
    for key in ("radial_funcs_count", "alpha_moments_count", "alpha_index_basic_count",
                "alpha_scalar_moments"):
        if key in data:
            _count(data, key, path)
    if "alpha_index_times_count" in data:
        _count(data, "alpha_index_times_count", path, minimum=0)
    r_min, r_max = _number(data, "min_dist", path), _number(data, "max_dist", path)
    if not 0 <= r_min < r_max:
        raise MtpFileError(f"{path}: the radial range needs 0 <= min_dist < max_dist (Å), got "
                           f"min_dist = {r_min}, max_dist = {r_max}")
    if "scaling" in data and (_number(data, "scaling", path) <= 0):
        raise MtpFileError(f"{path}: scaling must be positive, got {data['scaling']}")


def radial_array(radial: dict, data: dict, path: str) -> np.ndarray:
    """(S, S, radial_funcs_count, radial_basis_size) from the ``a-b`` blocks, each checked
    against the declared sizes."""
    s, size = data["species_count"], data["radial_basis_size"]
    expected = [(a, b) for a in range(s) for b in range(s)]
    extra = sorted(set(radial) - set(expected))
    absent = [p for p in expected if p not in radial]
    if extra or absent:
        raise MtpFileError(f"{path}: radial_coeffs must list the {s * s} pairs a-b of the "
                           f"species_count = {s} species; missing "
                           f"{[f'{a}-{b}' for a, b in absent]}, unexpected "
                           f"{[f'{a}-{b}' for a, b in extra]}")
    n_funcs = data.get("radial_funcs_count", len(radial[expected[0]][0]))
    out = np.zeros((s, s, n_funcs, size))
    for (a, b), (rows, line) in radial.items():
        if len(rows) != n_funcs:
            raise MtpFileError(f"{path}, line {line}: radial_coeffs {a}-{b} has {len(rows)} "
                               f"rows, expected radial_funcs_count = {n_funcs}")
        for m, row in enumerate(rows):
            if not _numbers(row) or len(row) != size:
                found = f"{len(row)} values" if isinstance(row, list) else repr(row)
                raise MtpFileError(f"{path}, line {line + m}: radial_coeffs {a}-{b} row {m} "
                                   f"has {found}, expected radial_basis_size = {size} numbers")
            out[a, b, m] = row
    if not np.all(np.isfinite(out)):
        raise MtpFileError(f"{path}: radial_coeffs hold a non-finite value")
    return out


def _numbers(row) -> bool:
    return isinstance(row, list) and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in row)


def _index_rows(data: dict, key: str, path: str) -> np.ndarray:
    """An (n, 4) integer array of a ``{{i, j, k, l}, ...}`` block, checked."""
    rows = data[key]
    if not isinstance(rows, list) or not all(
            isinstance(r, list) and len(r) == 4 and all(isinstance(x, int) for x in r)
            for r in rows):
        raise MtpFileError(f"{path}: {key} must be a list of 4 integers per entry")
    return np.asarray(rows, int).reshape(-1, 4)


def _declared(data: dict, key: str, found: int, block: str, path: str) -> None:
    if key in data and data[key] != found:
        raise MtpFileError(f"{path}: {block} has {found} entries, the header declares "
                           f"{key} = {data[key]}")


def check_blocks(data: dict, path: str) -> None:
    """Every moment block against its declared count and the indices it may use."""
    basic = _index_rows(data, "alpha_index_basic", path)
    times = _index_rows(data, "alpha_index_times", path)
    mapping = data["alpha_moment_mapping"]
    if not isinstance(mapping, list) or not all(isinstance(x, int) for x in mapping):
        raise MtpFileError(f"{path}: alpha_moment_mapping must be a list of integers")
    _declared(data, "alpha_index_basic_count", len(basic), "alpha_index_basic", path)
    _declared(data, "alpha_index_times_count", len(times), "alpha_index_times", path)
    _declared(data, "alpha_scalar_moments", len(mapping), "alpha_moment_mapping", path)
    n_funcs = data["radial_coeffs"].shape[2]
    if len(basic) == 0:
        raise MtpFileError(f"{path}: alpha_index_basic is empty")
    bad = np.flatnonzero((basic[:, 0] < 0) | (basic[:, 0] >= n_funcs)
                         | np.any(basic[:, 1:] < 0, axis=1))
    if bad.size:
        raise MtpFileError(f"{path}: alpha_index_basic entry {int(bad[0])} "
                           f"{basic[bad[0]].tolist()} needs a radial function 0.."
                           f"{n_funcs - 1} (radial_funcs_count = {n_funcs}) and powers >= 0")
    n_moments = data.get("alpha_moments_count")
    if n_moments is None:
        n_moments = 1 + max([len(basic) - 1] + times[:, 3].tolist() + list(mapping))
    if n_moments < len(basic):
        raise MtpFileError(f"{path}: alpha_moments_count = {n_moments} is below the "
                           f"{len(basic)} basic moments")
    for name, indices in (("alpha_index_times", times[:, [0, 1, 3]].ravel()),
                          ("alpha_moment_mapping", np.asarray(mapping, int))):
        out = indices[(indices < 0) | (indices >= n_moments)]
        if out.size:
            raise MtpFileError(f"{path}: {name} names moment {int(out[0])}, outside 0.."
                               f"{n_moments - 1} (alpha_moments_count = {n_moments})")
    if np.any(times[:, 3] < len(basic)):
        raise MtpFileError(f"{path}: alpha_index_times adds to a basic moment (index below "
                           f"alpha_index_basic_count = {len(basic)})")
    for key, n, declared in (("species_coeffs", data["species_count"], "species_count"),
                             ("moment_coeffs", len(mapping), "alpha_scalar_moments")):
        values = data[key]
        if not isinstance(values, list) or not _numbers(values):
            raise MtpFileError(f"{path}: {key} must be a list of numbers, got {values!r}")
        if len(values) != n:
            raise MtpFileError(f"{path}: {key} has {len(values)} values, expected {declared} "
                               f"= {n}")
        if not np.all(np.isfinite(values)):
            raise MtpFileError(f"{path}: {key} hold a non-finite value")
