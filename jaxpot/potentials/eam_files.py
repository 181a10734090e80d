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
    try:
        return np.array([float(t.replace("D", "E").replace("d", "e")) for t in tokens])
    except ValueError:
        raise ValueError(f"{path}: non-numeric value in {what}") from None


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


def detect_form(path: str) -> str:
    name = os.path.basename(path).lower()
    if name.endswith(".fs"):
        return "fs"
    if name.endswith((".alloy", ".setfl")):
        return "setfl"
    if name.endswith(".eam"):
        return "funcfl"
    raise ValueError(f"{path}: cannot tell the EAM format from the name; pass form="
                     "'funcfl', 'setfl' or 'fs'")


def read_eam_file(path: str, form: str | None = None) -> EAMTables:
    """Read an EAM file; raises FileNotFoundError / ValueError naming the file and problem."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"EAM potential file {path} does not exist")
    form = form or detect_form(path)
    with open(path) as f:
        lines = f.read().splitlines()
    if form == "funcfl":
        return _read_funcfl(lines, path)
    if form in ("setfl", "fs"):
        return _read_setfl(lines, path, fs=form == "fs")
    raise ValueError(f"unknown EAM form {form!r}")


def _read_funcfl(lines: list[str], path: str) -> EAMTables:
    tok = _Tokens(" ".join(lines[1:]).split(), path)
    head = tok.take(4, "the element line")
    try:
        z = int(head[0])
    except ValueError:
        raise ValueError(f"{path}: expected an atomic number on line 2, got {head[0]!r}") from None
    mass = float(head[1])
    grid = tok.take(5, "the grid line (Nrho drho Nr dr cutoff)")
    nrho, drho, nr, dr, cutoff = int(grid[0]), float(grid[1]), int(grid[2]), float(grid[3]), float(grid[4])
    embedding = _numbers(tok.take(nrho, "F(rho)"), path, "F(rho)")
    zr = _numbers(tok.take(nr, "Z(r)"), path, "Z(r)")
    rho = _numbers(tok.take(nr, "rho(r)"), path, "rho(r)")
    return EAMTables("funcfl", [chemical_symbols[z]], np.array([mass]), nrho, drho, nr, dr,
                     cutoff, embedding[None], rho[None, None], zr[None, None])


def _read_setfl(lines: list[str], path: str, fs: bool) -> EAMTables:
    if len(lines) < 5:
        raise ValueError(f"{path}: a setfl file needs 3 comment lines and a header")
    tok = _Tokens(" ".join(lines[3:]).split(), path)
    try:
        n_el = int(tok.take(1, "the element count")[0])
    except ValueError:
        raise ValueError(f"{path}: line 4 must start with the number of elements") from None
    elements = tok.take(n_el, "element names")
    for e in elements:
        if e not in chemical_symbols:
            raise ValueError(f"{path}: unknown element {e!r}")
    grid = tok.take(5, "the grid line (Nrho drho Nr dr cutoff)")
    nrho, drho, nr, dr, cutoff = int(grid[0]), float(grid[1]), int(grid[2]), float(grid[3]), float(grid[4])
    embedding = np.zeros((n_el, nrho))
    density = np.zeros((n_el, n_el, nr))
    masses = np.zeros(n_el)
    for a in range(n_el):
        head = tok.take(4, f"the header of element {elements[a]}")
        masses[a] = float(head[1])
        embedding[a] = _numbers(tok.take(nrho, f"F(rho) of {elements[a]}"), path, "F(rho)")
        if fs:  # block of element a: density of a at centres of each element c
            for c in range(n_el):
                density[a, c] = _numbers(tok.take(nr, f"rho(r) of {elements[a]}"), path, "rho")
        else:
            density[a, :] = _numbers(tok.take(nr, f"rho(r) of {elements[a]}"), path, "rho")
    rphi = np.zeros((n_el, n_el, nr))
    for a in range(n_el):
        for b in range(a + 1):
            rphi[a, b] = rphi[b, a] = _numbers(tok.take(nr, "r*phi(r)"), path, "r*phi")
    if np.any(masses <= 0):
        masses = np.array([atomic_masses[chemical_symbols.index(e)] for e in elements])
    return EAMTables("fs" if fs else "setfl", elements, masses, nrho, drho, nr, dr, cutoff,
                     embedding, density, rphi)
