"""LAMMPS SNAP files: ``.snapparam`` (settings) and ``.snapcoeff`` (per-element coefficients).

``.snapparam``: ``keyword value`` lines (``#`` comments) with ``rcutfac``, ``twojmax`` required
and ``rfac0`` (0.99363), ``rmin0`` (0), ``switchflag`` (1), ``bzeroflag`` (1),
``quadraticflag`` (0) optional, LAMMPS's defaults.  ``chemflag``, ``bnormflag``,
``wselfallflag`` and ``switchinnerflag`` are accepted only at 0 (jaxpot implements the
non-chemical SNAP); other keywords are errors.

``.snapcoeff``: comment lines, then ``nelements ncoeff``, then per element a line
``symbol radius weight`` followed by ``ncoeff`` coefficients (beta_0 first, then the linear
and, for qSNAP, the quadratic coefficients in ``compute sna/atom`` order).
"""

from __future__ import annotations

import os

import numpy as np
from ase.data import atomic_numbers

from jaxpot.descriptors.sna_tables import n_bispectrum
from jaxpot.io.atomic_file import atomic_write

PARAM_DEFAULTS = {"rfac0": 0.99363, "rmin0": 0.0, "switchflag": 1, "bzeroflag": 1,
                  "quadraticflag": 0}
_INTEGER_KEYS = {"twojmax", "switchflag", "bzeroflag", "quadraticflag", "chemflag",
                 "bnormflag", "wselfallflag", "switchinnerflag"}
_ZERO_ONLY = ("chemflag", "bnormflag", "wselfallflag", "switchinnerflag")


def _lines(path: str, what: str) -> list[list[str]]:
    if not os.path.exists(path):
        raise FileNotFoundError(f"SNAP {what} file {path} does not exist")
    with open(path) as fh:
        return [line.split("#", 1)[0].split() for line in fh if line.split("#", 1)[0].strip()]


def read_snapparam(path: str) -> dict:
    """Settings of a ``.snapparam`` file as a dict (defaults filled in), with clear errors."""
    out = dict(PARAM_DEFAULTS)
    for words in _lines(path, "parameter"):
        if len(words) != 2:
            raise ValueError(f"{path}: expected 'keyword value', got {' '.join(words)!r}")
        key, text = words
        if key in ("sinner", "dinner"):
            continue
        if key not in _INTEGER_KEYS | {"rcutfac", "rfac0", "rmin0"}:
            raise ValueError(f"{path}: unknown SNAP keyword {key!r}")
        try:
            value = int(text) if key in _INTEGER_KEYS else float(text)
        except ValueError:
            raise ValueError(f"{path}: {key} must be {'an integer' if key in _INTEGER_KEYS else 'a number'}, got {text!r}") from None
        if key in _ZERO_ONLY:
            if value != 0:
                raise ValueError(f"{path}: {key} = {value} is not supported (jaxpot implements "
                                 "the non-chemical, un-normalised SNAP; set it to 0)")
            continue
        out[key] = value
    for key in ("rcutfac", "twojmax"):
        if key not in out:
            raise ValueError(f"{path}: required keyword {key!r} is missing")
    return out


def n_coefficients(twojmax: int, quadraticflag: int) -> int:
    """Coefficients per element: beta_0 + linear (+ quadratic)."""
    n = n_bispectrum(twojmax)
    return 1 + n + (n * (n + 1) // 2 if quadraticflag else 0)


def read_snapcoeff(path: str) -> tuple[list[str], list[float], list[float], np.ndarray]:
    """(elements, radius, weight, coefficients (S, ncoeff)) of a ``.snapcoeff`` file."""
    words = [w for line in _lines(path, "coefficient") for w in line]
    try:
        n_elements, n_coeff = int(words[0]), int(words[1])
    except (IndexError, ValueError):
        raise ValueError(f"{path}: the first line must be 'nelements ncoeff'") from None
    expected = 2 + n_elements * (3 + n_coeff)
    if n_elements < 1 or n_coeff < 1 or len(words) != expected:
        raise ValueError(f"{path}: {n_elements} elements of {n_coeff} coefficients need "
                         f"{expected} fields, found {len(words)}")
    elements, radius, weight, coeffs = [], [], [], []
    pos = 2
    for _ in range(n_elements):
        symbol = words[pos]
        if symbol not in atomic_numbers:
            raise ValueError(f"{path}: unknown element {symbol!r}")
        try:
            radius.append(float(words[pos + 1]))
            weight.append(float(words[pos + 2]))
            block = [float(w) for w in words[pos + 3: pos + 3 + n_coeff]]
        except ValueError as err:
            raise ValueError(f"{path}: non-numeric entry in the block of {symbol}: {err}") from None
        elements.append(symbol)
        coeffs.append(block)
        pos += 3 + n_coeff
    coeffs = np.array(coeffs)
    if not np.all(np.isfinite(coeffs)):
        raise ValueError(f"{path}: non-finite coefficients")
    return elements, radius, weight, coeffs


def check_files_match(param: dict, n_coeff: int, coeff_path: str, param_path: str) -> None:
    """The coefficient count must equal what twojmax and quadraticflag give."""
    need = n_coefficients(param["twojmax"], param["quadraticflag"])
    if n_coeff != need:
        kind = "quadratic" if param["quadraticflag"] else "linear"
        raise ValueError(f"{coeff_path} has {n_coeff} coefficients per element but "
                         f"{param_path} (twojmax {param['twojmax']}, {kind}) needs {need}: "
                         "the two files do not belong together")


def write_snap_files(coeff_path: str, param_path: str, param: dict, elements, radius, weight,
                     coefficients: np.ndarray, comment: str = "written by jaxpot") -> None:
    """Write ``.snapcoeff`` and ``.snapparam`` files readable by LAMMPS ``pair_style snap``."""
    coefficients = np.asarray(coefficients, float)
    check_files_match(param, coefficients.shape[1], coeff_path, param_path)
    lines = [f"# {comment}", "", f"{len(elements)} {coefficients.shape[1]}"]
    for symbol, r, w, block in zip(elements, radius, weight, coefficients):
        lines.append(f"{symbol} {r!r} {w!r}")
        lines += [repr(float(c)) for c in block]
    _write_atomic(coeff_path, "\n".join(lines) + "\n")
    keys = ("rcutfac", "twojmax", "rfac0", "rmin0", "switchflag", "bzeroflag", "quadraticflag")
    text = f"# {comment}\n\n" + "\n".join(f"{k} {param[k]!r}" for k in keys) + "\n"
    _write_atomic(param_path, text)


def _write_atomic(path: str, text: str) -> None:
    with atomic_write(path, "w") as fh:
        fh.write(text)
