"""Readers for LAMMPS EAM potential files: ``funcfl`` (``.eam``), ``setfl`` (``.eam.alloy``)
and Finnis–Sinclair (``.eam.fs``), returning plain NumPy tables.

Conventions (LAMMPS ``pair_style eam``, ``eam/alloy``, ``eam/fs`` documentation):
    embedding F_a(rho) on rho = 0, drho, ..., (nrho-1) drho;
    density on r = 0, dr, ..., (nr-1) dr; ``density[b, a]`` is the density that an atom of
    element b contributes at an atom of element a (setfl: independent of a; fs: block a of b);
    pair term tabulated as r*phi(r) (``rphi[a, b]``, symmetric); funcfl files tabulate an
    effective charge Z(r) instead, with r*phi = C Z(r)^2 (C = 27.2*0.529 in LAMMPS,
    Hartree*Bohr in ASE).
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
from ase.data import atomic_masses, chemical_symbols

from jaxpot.potentials.file_checks import check_style, read_text, require_content


class EAMTables(NamedTuple):
    """Tabulated EAM functions as read from a file (all NumPy, float64)."""

    form: str  # "funcfl", "setfl" or "fs"
    elements: list[str]
    masses: np.ndarray  # (S,) amu
    nrho: int
    drho: float
    nr: int
    dr: float
    cutoff: float
    embedding: np.ndarray  # (S, nrho)
    density: np.ndarray  # (S_neighbor, S_center, nr)
    rphi: np.ndarray  # (S, S, nr) r*phi(r); for funcfl the effective charge Z(r) on the diagonal


def _numbers(tokens: list[str], path: str, what: str) -> np.ndarray:
    values = []
    for k, t in enumerate(tokens):
        try:
            values.append(float(t.replace("D", "E").replace("d", "e")))
        except ValueError:
            raise ValueError(f"{path}: non-numeric value {t!r} in {what} "
                             f"(entry {k})") from None
    return np.array(values)


def _number(token: str, path: str, what: str, kind=float):
    """One int or float field, with an error naming the file and the field."""
    try:
        return kind(token.replace("D", "E").replace("d", "e") if kind is float else token)
    except ValueError:
        raise ValueError(f"{path}: {what} must be {'an integer' if kind is int else 'a number'}, "
                         f"got {token!r}") from None


def _grid(tok: _Tokens, path: str) -> tuple[int, float, int, float, float]:
    grid = tok.take(5, "the grid line (Nrho drho Nr dr cutoff)")
    nrho, nr = (_number(grid[k], path, name, int) for k, name in ((0, "Nrho"), (2, "Nr")))
    drho, dr, cutoff = (_number(grid[k], path, name) for k, name in
                        ((1, "drho"), (3, "dr"), (4, "cutoff")))
    for name, n in (("Nrho", nrho), ("Nr", nr)):
        if n < 4:
            raise ValueError(f"{path}: {name} must be at least 4 (a cubic spline), got {n}")
    for name, x in (("drho", drho), ("dr", dr), ("cutoff", cutoff)):
        if not (np.isfinite(x) and x > 0):
            raise ValueError(f"{path}: {name} must be positive and finite, got {x}")
    return nrho, drho, nr, dr, cutoff


def check_tables(t: EAMTables, path: str) -> EAMTables:
    """Raise ValueError naming the file, the table and the entry for a NaN or inf value
    (or a NaN, inf or negative mass)."""
    el = t.elements
    for a, mass in enumerate(t.masses):
        if not (np.isfinite(mass) and mass > 0):
            raise ValueError(f"{path}: mass of {el[a]} must be positive and finite, got {mass}")
    tables = [(f"F(rho) of {el[a]}", t.embedding[a]) for a in range(len(el))]
    if t.form == "funcfl":
        tables += [(f"Z(r) of {el[0]}", t.rphi[0, 0]), (f"rho(r) of {el[0]}", t.density[0, 0])]
    else:
        for a in range(len(el)):
            tables += [(f"rho(r) of {el[a]}" + (f" at {el[c]}" if t.form == "fs" else ""),
                        t.density[a, c]) for c in range(len(el) if t.form == "fs" else 1)]
        tables += [(f"r*phi(r) of {el[a]}-{el[b]}", t.rphi[a, b])
                   for a in range(len(el)) for b in range(a + 1)]
    for what, values in tables:
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ValueError(f"{path}: table {what} has a non-finite value {values[bad[0]]} "
                             f"at entry {bad[0]}")
    return t


class _Tokens:
    def __init__(self, words: list[str], path: str):
        self.words, self.pos, self.path = words, 0, path

    def take(self, n: int, what: str) -> list[str]:
        if self.pos + n > len(self.words):
            raise ValueError(f"{self.path}: file ends early while reading {what} "
                             f"(needed {n} values, {len(self.words) - self.pos} left)")
        out = self.words[self.pos:self.pos + n]
        self.pos += n
        return out

    def finish(self, form: str) -> None:
        """Raise if values follow the last table (a file of another form, or ADP's tables)."""
        left = len(self.words) - self.pos
        if left:
            raise ValueError(f"{self.path}: {left} values follow the last table the header "
                             f"declares for a {form} file, starting with "
                             f"{self.words[self.pos]!r}: the file is not {form} (an fs file "
                             "read as setfl? an ADP or eam/cd file?)")


#: the EAM forms and the LAMMPS pair_style of each
FORMS = {"funcfl": "eam", "setfl": "eam/alloy", "fs": "eam/fs"}


def _form_of_name(path: str) -> str | None:
    name = os.path.basename(path).lower()
    if name.endswith(".fs"):
        return "fs"
    if name.endswith((".alloy", ".setfl")):
        return "setfl"
    if name.endswith(".eam"):
        return "funcfl"
    return None


def detect_form(path: str) -> str:
    form = _form_of_name(path)
    if form is None:
        raise ValueError(f"{path}: cannot tell the EAM format from the name; pass form="
                         "'funcfl', 'setfl' or 'fs'")
    return form


def read_eam_file(path: str, form: str | None = None) -> EAMTables:
    """Read an EAM file; raises FileNotFoundError / ValueError naming the file and problem
    (files of other styles, such as ``.adp`` or ``.tersoff``, are refused by name; values
    after the last table mean the file is of another form)."""
    path = os.fspath(path)
    if form is not None and form not in FORMS:
        raise ValueError(f"form must be 'funcfl', 'setfl' or 'fs', got {form!r}")
    check_style(path, ("eam", "eam/alloy", "eam/fs"), "jaxpot.potentials.eam")
    text = read_text(path, "EAM potential")
    require_content(text, path, "EAM potential")
    named = _form_of_name(path)
    form = form or detect_form(path)
    lines = text.splitlines()
    try:
        if form == "funcfl":
            return _read_funcfl(lines, path)
        return _read_setfl(lines, path, fs=form == "fs")
    except ValueError as err:
        if named is None or named == form:
            raise
        raise ValueError(f"{err} (read as {form} because form={form!r}; the file's name says "
                         f"{named})") from None


def _read_funcfl(lines: list[str], path: str) -> EAMTables:
    tok = _Tokens(" ".join(lines[1:]).split(), path)
    head = tok.take(4, "the element line")
    try:
        z = int(head[0])
    except ValueError:
        raise ValueError(f"{path}: expected an atomic number on line 2, got {head[0]!r}") from None
    if not 1 <= z < len(chemical_symbols):
        raise ValueError(f"{path}: atomic number on line 2 must be in "
                         f"1..{len(chemical_symbols) - 1}, got {z}")
    mass = _number(head[1], path, "the mass on line 2")
    nrho, drho, nr, dr, cutoff = _grid(tok, path)
    embedding = _numbers(tok.take(nrho, "F(rho)"), path, "F(rho)")
    zr = _numbers(tok.take(nr, "Z(r)"), path, "Z(r)")
    rho = _numbers(tok.take(nr, "rho(r)"), path, "rho(r)")
    tok.finish("funcfl")
    return check_tables(EAMTables("funcfl", [chemical_symbols[z]], np.array([mass]), nrho, drho,
                                  nr, dr, cutoff, embedding[None], rho[None, None],
                                  zr[None, None]), path)


def _read_setfl(lines: list[str], path: str, fs: bool) -> EAMTables:
    if len(lines) < 5:
        raise ValueError(f"{path}: a setfl file needs 3 comment lines and a header")
    tok = _Tokens(" ".join(lines[3:]).split(), path)
    try:
        n_el = int(tok.take(1, "the element count")[0])
    except ValueError:
        raise ValueError(f"{path}: line 4 must start with the number of elements") from None
    if n_el < 1:
        raise ValueError(f"{path}: line 4 must start with the number of elements (>= 1), got "
                         f"{n_el}")
    elements = tok.take(n_el, "element names")
    for e in elements:
        if e not in chemical_symbols or e == "X":
            raise ValueError(f"{path}: unknown element {e!r} on line 4")
    if len(set(elements)) != n_el:
        raise ValueError(f"{path}: line 4 repeats an element: {elements}")
    nrho, drho, nr, dr, cutoff = _grid(tok, path)
    embedding = np.zeros((n_el, nrho))
    density = np.zeros((n_el, n_el, nr))
    masses = np.zeros(n_el)
    for a in range(n_el):
        head = tok.take(4, f"the header of element {elements[a]}")
        masses[a] = _number(head[1], path, f"the mass of {elements[a]}")
        what = f"F(rho) of {elements[a]}"
        embedding[a] = _numbers(tok.take(nrho, what), path, what)
        if fs:  # block of element a: density of a at centres of each element c
            for c in range(n_el):
                what = f"rho(r) of {elements[a]} at {elements[c]}"
                density[a, c] = _numbers(tok.take(nr, what), path, what)
        else:
            what = f"rho(r) of {elements[a]}"
            density[a, :] = _numbers(tok.take(nr, what), path, what)
    rphi = np.zeros((n_el, n_el, nr))
    for a in range(n_el):
        for b in range(a + 1):
            what = f"r*phi(r) of {elements[a]}-{elements[b]}"
            rphi[a, b] = rphi[b, a] = _numbers(tok.take(nr, what), path, what)
    tok.finish("fs" if fs else "setfl")
    if np.any(masses <= 0):
        masses = np.array([atomic_masses[chemical_symbols.index(e)] for e in elements])
    return check_tables(EAMTables("fs" if fs else "setfl", elements, masses, nrho, drho, nr, dr,
                                  cutoff, embedding, density, rphi), path)
