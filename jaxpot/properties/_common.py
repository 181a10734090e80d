"""Shared set-up for property calculations: arrays, neighbor list and species check."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from jaxpot.model import EnergyModel
from jaxpot.neighbors import NeighborList, allocate_for_model
from jaxpot.precision import warn_if_single_precision
from jaxpot.structure import Structure, StructureError, as_structure, check_species_known


class Prepared(NamedTuple):
    """A structure as arrays plus a neighbor list for ``model.cutoff + skin``."""

    structure: Structure
    neighbors: NeighborList

    @property
    def positions(self):
        return self.structure.positions

    @property
    def cell(self):
        return self.structure.cell

    @property
    def species(self):
        return self.structure.species


def prepare(model: EnergyModel, atoms, skin: float = 0.0) -> Prepared:
    """Validate ``atoms`` (ase.Atoms or Structure) for ``model`` and build a neighbor list."""
    warn_if_single_precision("jaxpot.properties")
    structure = as_structure(atoms, dtype=jnp.result_type(float))
    check_species_known(np.asarray(structure.species), model.species, model.name)
    nbrs = allocate_for_model(model, np.asarray(structure.positions),
                              np.asarray(structure.cell), structure.pbc, skin=skin)
    return Prepared(structure, nbrs)


def require_periodic(atoms, what: str) -> Structure:
    """``atoms`` (ase.Atoms or Structure) as a Structure; raise :class:`StructureError` naming
    the pbc unless it is periodic along all three lattice vectors (``what`` names the caller)."""
    structure = as_structure(atoms)
    if not all(structure.pbc):
        raise StructureError(f"{what} needs a periodic structure (pbc True along all three "
                             f"lattice vectors), got pbc={[bool(p) for p in structure.pbc]}")
    return structure
