"""Evaluate a descriptor on an ``ase.Atoms`` (host convenience shared by all descriptors)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxpot.neighbors import allocate_neighbor_list
from jaxpot.structure import check_species_known


def features_of_atoms(descriptor, jitted_features, atoms, cutoff: float, name: str) -> np.ndarray:
    """(N, F) NumPy features of ``atoms`` via ``jitted_features(descriptor, pos, cell, Z, nbrs)``
    with a neighbor list of radius ``cutoff`` (Å); unknown species raise an error."""
    check_species_known(atoms.numbers, descriptor.species, name)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff=cutoff)
    dtype = jnp.result_type(float)
    return np.asarray(jitted_features(descriptor, jnp.asarray(atoms.positions, dtype),
                                      jnp.asarray(atoms.cell.array, dtype),
                                      jnp.asarray(atoms.numbers), nbrs))
