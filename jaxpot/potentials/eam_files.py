"""Readers for LAMMPS EAM potential files: ``funcfl`` (``.eam``), ``setfl`` (``.eam.alloy``)
and Finnis–Sinclair (``.eam.fs``), returning plain NumPy tables.

Conventions (LAMMPS ``pair_style eam``, ``eam/alloy``, ``eam/fs`` documentation):
    embedding F_a(rho) on rho = 0, drho, ..., (nrho-1) drho;
    density on r = 0, dr, ..., (nr-1) dr; ``density[b, a]`` is the density that an atom of
    element b contributes at an atom of element a (setfl: independent of a; fs: block a of b);
    pair term tabulated as r*phi(r) (``rphi[a, b]``, symmetric); funcfl files tabulate an
    effective charge Z(r) instead, with r*phi = C Z(r)^2 (C = 27.2*0.529 in LAMMPS,
    Hartree*Bohr in ASE).

The files are read line by line as LAMMPS's ``PotentialFileReader`` reads them (see
:class:`_Lines`): the comment lines, the element line, the grid line and each element's header
line are lines (a header needs only its atomic number and mass: ``8 15.9994 0.0`` is as good as
``8 15.9994 0.0 fcc``), and each table starts on a new line and runs over as many lines as its
values need.  Values left on a table's last line (LAMMPS would drop them silently) and values
after the last table are refused: the file does not fit its header.
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


def _numbers(tokens: list[str], path: str, what: str, lines: list[int] | None = None
             ) -> np.ndarray:
    """Floats of ``tokens`` (Fortran ``D`` exponents allowed); the error names the entry and,
    given each token's line in ``lines``, the line."""
    values = []
    for k, t in enumerate(tokens):
        try:
            values.append(float(t.replace("D", "E").replace("d", "e")))
        except ValueError:
            where = f" on line {lines[k]}" if lines is not None else ""
            raise ValueError(f"{path}: non-numeric value {t!r} in {what} "
                             f"(entry {k}){where}") from None
    return np.array(values)


def _number(token: str, path: str, what: str, kind=float):
    """One int or float field, with an error naming the file and the field."""
    try:
        return kind(token.replace("D", "E").replace("d", "e") if kind is float else token)
    except ValueError:
        raise ValueError(f"{path}: {what} must be {'an integer' if kind is int else 'a number'}, "
                         f"got {token!r}") from None


class _Lines:
    """A file's lines read as LAMMPS's ``PotentialFileReader`` reads them: ``#`` starts a
    comment, blank lines are skipped, a record of ``n`` values joins lines until it has them,
    a table of ``n`` values starts on a new line.  Errors name the file and the line."""

    def __init__(self, lines: list[str], path: str):
        self.lines, self.path, self.next = lines, path, 0

    def skip(self) -> None:
        """Skip one line as it is (LAMMPS ``skip_line``: the comment lines of a file)."""
        if self.next >= len(self.lines):
            raise ValueError(f"{self.path}: file ends early (line {self.next + 1} missing)")
        self.next += 1

    def _words(self) -> tuple[list[str], int] | None:
        """Words of the next line with any (after comments), and its number; None at the end."""
        while self.next < len(self.lines):
            self.next += 1
            words = self.lines[self.next - 1].split("#", 1)[0].split()
            if words:
                return words, self.next
        return None

    def record(self, n: int, what: str) -> tuple[list[str], int]:
        """At least ``n`` words from the next line(s) and the first line's number."""
        words, first = [], None
        while len(words) < n:
            got = self._words()
            if got is None:
                raise ValueError(f"{self.path}: file ends early while reading {what} "
                                 f"(needed {n} values, found {len(words)})")
            words += got[0]
            first = got[1] if first is None else first
        return words, first

    def table(self, n: int, what: str) -> np.ndarray:
        """``n`` numbers starting on the next line; values left on its last line are refused."""
        tokens: list[str] = []
        lines: list[int] = []
        while len(tokens) < n:
            got = self._words()
            if got is None:
                raise ValueError(f"{self.path}: file ends early while reading {what} "
                                 f"(needed {n} values, found {len(tokens)})")
            words, line = got
            if len(tokens) + len(words) > n:
                extra = len(tokens) + len(words) - n
                _numbers(tokens + words[:-extra], self.path, what, lines + [line] * len(words))
                raise ValueError(f"{self.path}, line {line}: {extra} value(s) after the last of "
                                 f"the {n} values of {what} (LAMMPS would drop them): the file "
                                 "does not fit its header (a wrong Nrho or Nr, or another form?)")
            tokens += words
            lines += [line] * len(words)
        return _numbers(tokens, self.path, what, lines)

    def finish(self, form: str) -> None:
        """Raise if values follow the last table (a file of another form, or ADP's tables)."""
        got = self._words()
        if got is not None:
            left = len(got[0]) + sum(len(ln.split("#", 1)[0].split())
                                     for ln in self.lines[self.next:])
            raise ValueError(f"{self.path}: {left} values follow the last table the header "
                             f"declares for a {form} file, starting with {got[0][0]!r} on line "
                             f"{got[1]}: the file is not {form} (an fs file read as setfl? an "
                             "ADP or eam/cd file?)")


def _grid(lines: _Lines, path: str) -> tuple[int, float, int, float, float]:
    grid, _ = lines.record(5, "the grid line (Nrho drho Nr dr cutoff)")
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
    lines = _Lines(text.splitlines(), path)
    try:
        if form == "funcfl":
            return _read_funcfl(lines, path)
        return _read_setfl(lines, path, fs=form == "fs")
    except ValueError as err:
        if named is None or named == form:
            raise
        raise ValueError(f"{err} (read as {form} because form={form!r}; the file's name says "
                         f"{named})") from None


def _element_header(lines: _Lines, path: str, what: str) -> float:
    """The mass (amu) on an element's header line ``Z mass [a lattice]`` (LAMMPS reads the
    first two fields; Z must be an integer)."""
    head, line = lines.record(2, f"the header line of {what} (atomic number, mass)")
    try:
        int(head[0])
    except ValueError:
        raise ValueError(f"{path}, line {line}: the header line of {what} must start with an "
                         f"atomic number, got {head[0]!r}") from None
    return _number(head[1], path, f"the mass of {what} (line {line})")


def _read_funcfl(lines: _Lines, path: str) -> EAMTables:
    lines.skip()
    head, line = lines.record(2, "the element line (atomic number, mass)")
    try:
        z = int(head[0])
    except ValueError:
        raise ValueError(f"{path}: expected an atomic number on line {line}, got "
                         f"{head[0]!r}") from None
    if not 1 <= z < len(chemical_symbols):
        raise ValueError(f"{path}: atomic number on line {line} must be in "
                         f"1..{len(chemical_symbols) - 1}, got {z}")
    mass = _number(head[1], path, f"the mass on line {line}")
    nrho, drho, nr, dr, cutoff = _grid(lines, path)
    embedding = lines.table(nrho, "F(rho)")
    zr = lines.table(nr, "Z(r)")
    rho = lines.table(nr, "rho(r)")
    lines.finish("funcfl")
    return check_tables(EAMTables("funcfl", [chemical_symbols[z]], np.array([mass]), nrho, drho,
                                  nr, dr, cutoff, embedding[None], rho[None, None],
                                  zr[None, None]), path)


def _setfl_elements(lines: _Lines, path: str) -> list[str]:
    """The element line: ``N El1 ... ElN`` (exactly N names, as LAMMPS requires)."""
    for _ in range(3):
        lines.skip()
    words, line = lines.record(1, "the element line")
    try:
        n_el = int(words[0])
    except ValueError:
        raise ValueError(f"{path}: line {line} must start with the number of elements") from None
    if n_el < 1:
        raise ValueError(f"{path}: line {line} must start with the number of elements (>= 1), "
                         f"got {n_el}")
    elements = words[1:]
    if len(elements) != n_el:
        raise ValueError(f"{path}, line {line}: {n_el} elements declared but {len(elements)} "
                         f"names given ({' '.join(elements)})")
    for e in elements:
        if e not in chemical_symbols or e == "X":
            raise ValueError(f"{path}: unknown element {e!r} on line {line}")
    if len(set(elements)) != n_el:
        raise ValueError(f"{path}: line {line} repeats an element: {elements}")
    return elements


def _read_setfl(lines: _Lines, path: str, fs: bool) -> EAMTables:
    elements = _setfl_elements(lines, path)
    n_el = len(elements)
    nrho, drho, nr, dr, cutoff = _grid(lines, path)
    embedding = np.zeros((n_el, nrho))
    density = np.zeros((n_el, n_el, nr))
    masses = np.zeros(n_el)
    for a in range(n_el):
        masses[a] = _element_header(lines, path, elements[a])
        embedding[a] = lines.table(nrho, f"F(rho) of {elements[a]}")
        if fs:  # block of element a: density of a at centres of each element c
            for c in range(n_el):
                density[a, c] = lines.table(nr, f"rho(r) of {elements[a]} at {elements[c]}")
        else:
            density[a, :] = lines.table(nr, f"rho(r) of {elements[a]}")
    rphi = np.zeros((n_el, n_el, nr))
    for a in range(n_el):
        for b in range(a + 1):
            rphi[a, b] = rphi[b, a] = lines.table(nr, f"r*phi(r) of {elements[a]}-{elements[b]}")
    lines.finish("fs" if fs else "setfl")
    if np.any(masses <= 0):
        masses = np.array([atomic_masses[chemical_symbols.index(e)] for e in elements])
    return check_tables(EAMTables("fs" if fs else "setfl", elements, masses, nrho, drho, nr, dr,
                                  cutoff, embedding, density, rphi), path)
