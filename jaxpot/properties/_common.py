"""Shared set-up for property calculations: arrays, neighbor list and species check."""

from __future__ import annotations

from typing import NamedTuple

import jax
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


class StrainDerivatives(NamedTuple):
    """Derivatives of E(s, r) at (s, r): strain s (k,) and positions r (N, 3)."""

    de_ds: jnp.ndarray  # (k,)
    d2e_dss: jnp.ndarray  # (k, k)
    d2e_drr: jnp.ndarray  # (N, 3, N, 3) the force-constant matrix
    d2e_drs: jnp.ndarray  # (N, 3, k)


def strain_derivatives(energy, strain, positions) -> StrainDerivatives:
    """dE/ds and the whole Hessian of ``energy(strain (k,), positions (N, 3)) -> eV`` over
    (s, r) in one forward-over-reverse pass (to be traced inside the caller's jit).  A Hessian
    per block traced the model once per block: a SOAP GAP's elastic constants compiled 26 s."""
    k = strain.shape[0]

    def flat(x):
        return energy(x[:k], x[k:].reshape(positions.shape))

    def gradient(x):
        g = jax.grad(flat)(x)
        return g, g

    x = jnp.concatenate([strain, positions.reshape(-1)])
    h, g = jax.jacfwd(gradient, has_aux=True)(x)
    n = positions.shape[0]
    return StrainDerivatives(g[:k], h[:k, :k], h[k:, k:].reshape(n, 3, n, 3),
                             h[k:, :k].reshape(n, 3, k))
