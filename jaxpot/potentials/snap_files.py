"""LAMMPS SNAP files: ``.snapparam`` (settings) and ``.snapcoeff`` (per-element coefficients).

``.snapparam``: ``keyword value`` lines (``#`` comments) with ``rcutfac``, ``twojmax`` required
and ``rfac0`` (0.99363), ``rmin0`` (0), ``switchflag`` (1), ``bzeroflag`` (1),
``quadraticflag`` (0) optional, LAMMPS's defaults.  ``chemflag``, ``bnormflag``,
``wselfallflag`` and ``switchinnerflag`` are accepted only at 0 (jaxpot implements the
non-chemical SNAP: a file with any of them at 1 is another potential and is refused, naming
each such setting and its line); ``chunksize`` and ``parallelthresh`` (performance
settings) and ``sinner``/``dinner`` (used only with ``switchinnerflag = 1``) are ignored;
other keywords and repeated ones are errors.

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
from jaxpot.potentials.file_checks import check_style, read_text, require_content

PARAM_DEFAULTS = {"rfac0": 0.99363, "rmin0": 0.0, "switchflag": 1, "bzeroflag": 1,
                  "quadraticflag": 0}
_INTEGER_KEYS = {"twojmax", "switchflag", "bzeroflag", "quadraticflag", "chemflag",
                 "bnormflag", "wselfallflag", "switchinnerflag"}
_FLOAT_KEYS = {"rcutfac", "rfac0", "rmin0"}
#: keywords of variants jaxpot does not implement: accepted at 0 only (what 1 would switch on)
_ZERO_ONLY = {"chemflag": "the explicit multi-element bispectrum",
              "bnormflag": "bispectrum components divided by 2j+1",
              "wselfallflag": "a self-contribution for every element",
              "switchinnerflag": "the inner switching function (sinner, dinner)"}
#: keywords without effect on the energy here: LAMMPS's performance settings, and the inner
#: switching radii (used with switchinnerflag = 1 only, which is refused)
_IGNORED = {"chunksize", "parallelthresh", "sinner", "dinner"}


def _lines(path: str, what: str) -> list[tuple[list[str], int]]:
    """The words of each non-blank line without ``#`` comments, with its line number; a
    file of another kind (binary, empty, another style by name) is refused."""
    path = os.fspath(path)
    _check_role(path, what)
    text = read_text(path, f"SNAP {what}")
    require_content(text, path, f"SNAP {what}")
    lines = [(line.split("#", 1)[0].split(), k) for k, line in enumerate(text.splitlines(), 1)]
    return [(words, k) for words, k in lines if words]


def _check_role(path: str, what: str) -> None:
    """Refuse a ``.snapcoeff`` given as the parameter file (or the reverse) and files of
    other styles by their name."""
    name = os.path.basename(path).lower()
    other, kind = {"parameter": (".snapcoeff", "coefficient"),
                   "coefficient": (".snapparam", "parameter")}[what]
    if name.endswith(other):
        raise ValueError(f"{path} is a SNAP {kind} file given as the {what} file: "
                         "snap(coeff_file, param_file) takes the .snapcoeff first, then the "
                         ".snapparam")
    check_style(path, ("snap",), "jaxpot.potentials.snap")


def read_snapparam(path: str) -> dict:
    """Settings of a ``.snapparam`` file as a dict (defaults filled in), with clear errors
    naming the file, the line and the keyword."""
    out = dict(PARAM_DEFAULTS)
    seen: dict[str, int] = {}
    variants: list[tuple[str, int, int]] = []  # (keyword, value, line) of refused settings
    for words, line in _lines(path, "parameter"):
        key, where = words[0], f"{path}, line {line}"
        if key in seen:
            raise ValueError(f"{where}: {key} is given twice (also on line {seen[key]}); keep one")
        seen[key] = line
        if key in _IGNORED:
            continue
        if key not in _INTEGER_KEYS | _FLOAT_KEYS:
            known = sorted(_INTEGER_KEYS | _FLOAT_KEYS | _IGNORED)
            raise ValueError(f"{where}: unknown SNAP keyword {key!r} (LAMMPS's keywords: "
                             f"{', '.join(known)})")
        if len(words) != 2:
            raise ValueError(f"{where}: expected 'keyword value', got {' '.join(words)!r}")
        text = words[1]
        try:
            value = int(text) if key in _INTEGER_KEYS else float(text)
        except ValueError:
            kind = "an integer" if key in _INTEGER_KEYS else "a number"
            raise ValueError(f"{where}: {key} must be {kind}, got {text!r}") from None
        if key in _ZERO_ONLY:
            if value != 0:
                variants.append((key, value, line))
            continue
        out[key] = value
    if variants:
        raise ValueError(_variants_message(path, variants))
    missing = [key for key in ("rcutfac", "twojmax") if key not in out]
    if missing:
        raise ValueError(f"{path}: required keyword(s) {missing} missing (is it a .snapparam "
                         "file?)")
    return out


def _variants_message(path: str, variants: list[tuple[str, int, int]]) -> str:
    """The error for SNAP settings jaxpot does not implement, naming each with its line."""
    where = ", ".join(f"line {line}: {key} = {value}" for key, value, line in variants)
    keys = [key for key, _, _ in variants]
    what = "; ".join(f"{key} = {value} is {_ZERO_ONLY[key]}" for key, value, _ in variants)
    return (f"{path}, {where} {'is' if len(variants) == 1 else 'are'} not supported: jaxpot "
            f"implements LAMMPS's SNAP with {' = '.join(keys)} = 0 ({what}); such a file is "
            "another potential, which jaxpot cannot evaluate (setting it to 0 would change the "
            "energies)")


def n_coefficients(twojmax: int, quadraticflag: int) -> int:
    """Coefficients per element: beta_0 + linear (+ quadratic)."""
    n = n_bispectrum(twojmax)
    return 1 + n + (n * (n + 1) // 2 if quadraticflag else 0)


def read_snapcoeff(path: str) -> tuple[list[str], list[float], list[float], np.ndarray]:
    """(elements, radius, weight, coefficients (S, ncoeff)) of a ``.snapcoeff`` file."""
    words = [(w, line) for ws, line in _lines(path, "coefficient") for w in ws]
    try:
        n_elements, n_coeff = int(words[0][0]), int(words[1][0])
    except (IndexError, ValueError):
        raise ValueError(f"{path}: not a .snapcoeff file: the first line must be 'nelements "
                         "ncoeff' (two integers)") from None
    expected = 2 + n_elements * (3 + n_coeff)
    if n_elements < 1 or n_coeff < 1 or len(words) != expected:
        raise ValueError(f"{path}: {n_elements} elements of {n_coeff} coefficients need "
                         f"{expected} fields, found {len(words)}")
    elements, radius, weight, coeffs = [], [], [], []
    pos = 2
    for _ in range(n_elements):
        symbol, line = words[pos]
        if symbol not in atomic_numbers or symbol == "X":
            raise ValueError(f"{path}, line {line}: unknown element {symbol!r} (each block "
                             "starts 'symbol radius weight')")
        if symbol in elements:
            raise ValueError(f"{path}, line {line}: a second block for {symbol}")
        block = []
        for k, (text, at) in enumerate(words[pos + 1: pos + 3 + n_coeff]):
            try:
                block.append(float(text))
            except ValueError:
                what = ("radius", "weight")[k] if k < 2 else f"coefficient {k - 2}"
                raise ValueError(f"{path}, line {at}: non-numeric {what} {text!r} in the block "
                                 f"of {symbol}") from None
        radius.append(block[0])
        weight.append(block[1])
        elements.append(symbol)
        coeffs.append(block[2:])
        pos += 3 + n_coeff
    coeffs = np.array(coeffs)
    if not np.all(np.isfinite(coeffs)):
        s, k = np.argwhere(~np.isfinite(coeffs))[0]
        raise ValueError(f"{path}: coefficient {k} of {elements[s]} is not finite "
                         f"({coeffs[s, k]})")
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
