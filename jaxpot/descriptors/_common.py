"""Evaluate a descriptor on an ``ase.Atoms`` (host convenience shared by all descriptors), and
the input checks shared by the descriptors' constructors and feature functions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.elements import element_numbers
from jaxpot.neighbors import allocate_neighbor_list
from jaxpot.structure import StructureError, check_species_known


def features_of_atoms(descriptor, jitted_features, atoms, cutoff: float, name: str) -> np.ndarray:
    """(N, F) NumPy features of ``atoms`` via ``jitted_features(descriptor, pos, cell, Z, nbrs)``
    with a neighbor list of radius ``cutoff`` (Å); unknown species raise an error."""
    check_species_known(atoms.numbers, descriptor.species, name)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff=cutoff)
    dtype = jnp.result_type(float)
    return np.asarray(jitted_features(descriptor, jnp.asarray(atoms.positions, dtype),
                                      jnp.asarray(atoms.cell.array, dtype),
                                      jnp.asarray(atoms.numbers), nbrs))


def check_features_input(descriptor, species, neighbors, cutoff: float, name: str) -> None:
    """Checks at a descriptor's feature entry points (host side, also while tracing under jit).

    A neighbor list whose static ``cutoff`` is shorter than ``cutoff`` (Å, what the features
    need) raises ValueError naming both lengths.  A concrete ``species`` array (not a tracer)
    holding an element the descriptor does not know raises :class:`StructureError` naming it
    (inside the features an unknown atomic number would silently count as the first species).
    """
    reach = getattr(neighbors, "cutoff", None)
    if reach is not None and reach < cutoff * (1.0 - 1e-12):
        raise ValueError(f"neighbor list cutoff {reach:g} Å is shorter than the cutoff "
                         f"{cutoff:g} Å that the {name} features need: neighbors would be "
                         f"missed; allocate the list with cutoff >= {cutoff:g}")
    if isinstance(species, jax.core.Tracer):
        return
    z = np.asarray(species)
    outside = sorted(set(z[(z < 1) | (z > 118)].tolist()))
    if outside:
        raise StructureError(f"invalid atomic numbers {outside} for {name}; it knows "
                             f"Z={list(descriptor.species)}")
    check_species_known(z, descriptor.species, name)


def species_numbers(species, name: str) -> tuple[int, ...]:
    """Element symbols or atomic numbers -> tuple of Z in 1..118, in the order given (one
    symbol or number alone is a list of one); ValueError names a bad entry
    (:func:`jaxpot.elements.element_numbers`)."""
    return element_numbers(species, name, repeats=True)
