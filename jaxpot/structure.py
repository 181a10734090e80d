"""An atomic structure as a frozen pytree, lossless to and from ``ase.Atoms``.

Positions in Å (Cartesian), cell rows are lattice vectors in Å (as ASE), species are atomic
numbers Z (int32), masses in amu; ``pbc`` is static (part of the tree structure).
"""

from __future__ import annotations

from collections.abc import Sequence

import ase
import jax.numpy as jnp
import numpy as np

from jaxpot.pytree import pytree_dataclass, static_field
from jaxpot.types import Array


class StructureError(ValueError):
    """Raised for physically meaningless input (NaN positions, singular cell, ...)."""


@pytree_dataclass
class Structure:
    """Positions (N,3) Å, cell (3,3) Å rows = lattice vectors, species (N,) Z, masses (N,) amu."""

    positions: Array
    cell: Array
    species: Array
    masses: Array
    pbc: tuple[bool, bool, bool] = static_field(default=(True, True, True))

    @property
    def n_atoms(self) -> int:
        return int(self.positions.shape[0])

    @classmethod
    def from_ase(cls, atoms: ase.Atoms, dtype=None) -> Structure:
        """Build from ``ase.Atoms`` (positions, cell, numbers, masses and pbc are kept)."""
        validate_atoms_input(atoms.positions, atoms.cell.array, atoms.numbers, atoms.pbc)
        dtype = dtype or jnp.result_type(float)
        return cls(positions=jnp.asarray(atoms.positions, dtype=dtype),
                   cell=jnp.asarray(atoms.cell.array, dtype=dtype),
                   species=jnp.asarray(atoms.numbers, dtype=jnp.int32),
                   masses=jnp.asarray(atoms.get_masses(), dtype=dtype),
                   pbc=tuple(bool(p) for p in atoms.pbc))

    def to_ase(self) -> ase.Atoms:
        """Convert back to ``ase.Atoms``; masses are set explicitly so none is lost."""
        atoms = ase.Atoms(numbers=np.asarray(self.species), positions=np.asarray(self.positions),
                          cell=np.asarray(self.cell), pbc=self.pbc)
        atoms.set_masses(np.asarray(self.masses, dtype=float))
        return atoms


def as_structure(atoms_or_structure, dtype=None) -> Structure:
    """Accept an ``ase.Atoms`` or a :class:`Structure` and return a :class:`Structure`."""
    if isinstance(atoms_or_structure, Structure):
        return atoms_or_structure
    if isinstance(atoms_or_structure, ase.Atoms):
        return Structure.from_ase(atoms_or_structure, dtype=dtype)
    raise TypeError(f"expected ase.Atoms or jaxpot.Structure, got {type(atoms_or_structure)!r}")


def check_frames(frames, what: str = "frames") -> list:
    """``frames`` as a list of ase.Atoms; a path, a string or any other item is refused,
    naming its index (read files with ``ase.io.read(path, ":")`` first)."""
    if isinstance(frames, ase.Atoms):
        raise TypeError(f"{what}: expected a list of ase.Atoms, got a single ase.Atoms "
                        "(wrap it in a list)")
    if isinstance(frames, (str, bytes)) or not isinstance(frames, Sequence) and not hasattr(
            frames, "__iter__"):
        raise TypeError(f"{what}: expected a list of ase.Atoms, got {type(frames).__name__} "
                        f"{frames!r:.80}; read a file with ase.io.read(path, ':')")
    frames = list(frames)
    for i, atoms in enumerate(frames):
        if not isinstance(atoms, ase.Atoms):
            hint = (" (a path: read it with ase.io.read(path, ':') first)"
                    if isinstance(atoms, (str, bytes)) or hasattr(atoms, "__fspath__") else "")
            raise TypeError(f"{what}[{i}] is {type(atoms).__name__} {atoms!r:.80}, not "
                            f"ase.Atoms{hint}")
    return frames


def validate_atoms_input(positions, cell, species, pbc) -> None:
    """Host-side checks that raise :class:`StructureError` with a message naming the problem.

    Checks: at least one atom, finite positions and cell, consistent shapes, atomic numbers in
    1..118, and a non-singular cell along periodic directions.
    """
    positions = np.asarray(positions, dtype=float)
    cell = np.asarray(cell, dtype=float)
    species = np.asarray(species)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise StructureError(f"positions must have shape (N, 3), got {positions.shape}")
    if positions.shape[0] == 0:
        raise StructureError("structure has no atoms")
    if species.shape != (positions.shape[0],):
        raise StructureError(
            f"species must have shape ({positions.shape[0]},), got {species.shape}")
    bad = np.where(~np.isfinite(positions).all(axis=1))[0]
    if bad.size:
        raise StructureError(f"positions of atoms {bad[:10].tolist()} are NaN or inf")
    if cell.shape != (3, 3):
        raise StructureError(f"cell must have shape (3, 3), got {cell.shape}")
    if not np.isfinite(cell).all():
        raise StructureError("cell contains NaN or inf")
    if np.any((species < 1) | (species > 118)):
        bad_z = sorted(set(species[(species < 1) | (species > 118)].tolist()))
        raise StructureError(f"unknown species (atomic numbers) {bad_z}")
    pbc = np.asarray(pbc, dtype=bool).reshape(-1)
    if pbc.size == 1:
        pbc = np.repeat(pbc, 3)
    if pbc.any():
        periodic = cell[pbc]
        sv = np.linalg.svd(periodic, compute_uv=False)
        scale = max(np.abs(periodic).max(), 1e-300)
        if sv.min() <= 1e-8 * scale:
            raise StructureError(
                f"cell is singular along periodic directions {np.where(pbc)[0].tolist()}: "
                f"lattice vectors {periodic.tolist()} are (nearly) linearly dependent")


def check_species_known(species, known: tuple[int, ...] | None, model_name: str = "model") -> None:
    """Raise :class:`StructureError` if any atomic number is not among ``known`` (None = any)."""
    if known is None:
        return
    present = set(np.unique(np.asarray(species)).tolist())
    unknown = sorted(present - set(known))
    if unknown:
        from ase.data import chemical_symbols
        names = [f"{chemical_symbols[z]} (Z={z})" for z in unknown]
        raise StructureError(f"unknown species {', '.join(names)} for {model_name}; "
                             f"it knows Z={list(known)}")
