"""Lift a pair function ``phi(params, r, species_i, species_j)`` into a per-atom energy model.

Shared by Lennard-Jones, Morse and any other pairwise-additive term: the full neighbor list
counts each pair twice, so each atom gets half of each of its pair energies.
"""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp
import numpy as np

from jaxpot.cutoffs import safe_norm
from jaxpot.model import EnergyModel, energy_from_atomic, species_indices
from jaxpot.neighbors import neighbor_vectors
from jaxpot.types import Array

PairFn = Callable[[object, Array, Array, Array], Array]
"""``phi(params, r (N,K) Å, index_i (N,1), index_j (N,K)) -> (N,K) eV`` (species indices;
both are the int 0 for single-species models)."""


def pair_atomic_energies_fn(pair_fn: PairFn, cutoff: float, lookup: np.ndarray | None):
    """Per-atom energy function ``0.5 * sum_j phi(r_ij)`` over pairs with ``r_ij < cutoff``.

    ``lookup`` maps atomic number -> species index (None: single species, index 0).
    ``phi`` is evaluated at ``r = cutoff`` for masked entries, so it must be finite there.
    """

    def atomic_energies(params, positions, cell, species, neighbors) -> Array:
        vectors, mask = neighbor_vectors(positions, cell, neighbors)
        r = safe_norm(vectors, mask)
        within = mask & (r < cutoff)
        r_safe = jnp.where(within, r, cutoff)
        if lookup is None:  # one species: scalar parameters, no per-pair gathers
            phi = pair_fn(params, r_safe, 0, 0)
        else:
            index, nb_index = species_indices(lookup, species, neighbors)
            phi = pair_fn(params, r_safe, index[:, None], nb_index)
        return 0.5 * jnp.sum(jnp.where(within, phi, 0.0), axis=1)

    return atomic_energies


def pair_model(pair_fn: PairFn, params, cutoff: float, species, spec: str,
               name: str) -> EnergyModel:
    """Build an :class:`EnergyModel` from a pair function (see :func:`pair_atomic_energies_fn`)."""
    from jaxpot.model import species_lookup
    lookup = None if species is None else species_lookup(species)
    atomic = pair_atomic_energies_fn(pair_fn, cutoff, lookup)
    return EnergyModel(energy_fn=energy_from_atomic(atomic), params=params, cutoff=float(cutoff),
                       species=None if species is None else tuple(int(z) for z in species),
                       atomic_energies_fn=atomic, spec=spec, name=name)


def pair_matrix(value, n_species: int, name: str) -> np.ndarray:
    """Scalar or (S,S) symmetric array -> (S,S) float array, with a clear error otherwise."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return np.full((n_species, n_species), float(arr))
    if arr.shape != (n_species, n_species):
        raise ValueError(f"{name} must be a scalar or ({n_species}, {n_species}), got {arr.shape}")
    if not np.allclose(arr, arr.T):
        raise ValueError(f"{name} must be symmetric")
    return arr
