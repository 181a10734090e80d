"""Kernel rows of the sparse GP: the covariance between each observation (total energy, force
components, virial components of a training structure) and each sparse point.

For a GAP the energy is linear in the weights alpha, E = sum_m alpha_m K_Em, so a row is the
derivative of the observation with respect to alpha: K_E (energy), -dK_E/dr (forces, eV/Å) and
-dK_E/d(strain) (virial, eV, gap_fit's sign: virial = -stress * volume).

SOAP rows use the sparse per-neighbour Jacobian of the descriptor
(:func:`jaxpot.descriptors.soap_pair_gradients`): with D_ikm = dk(p_i, x_m)/dr_ik the force rows
are a gather/scatter of D over the neighbour slots and the virial rows the contraction of D with
the pair vectors, so the cost is one (N K 3, F) x (F, M) product per structure; gap_fit spends
most of its fit in this step.  The Jacobian and D are formed a block of centres at a time
(:func:`jaxpot.descriptors.soap_gradients.centres_per_block`), so memory is O(block K (F + M)
+ N M) however large the cell.  Any other term linear in its ``alpha`` (distance_2b) gets its rows
by forward-mode differentiation of its forces and virial with respect to alpha.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.batch import Batch
from jaxpot.descriptors.soap import SOAP
from jaxpot.descriptors.soap_gradients import (
    centre_slot_jacobian,
    centres_per_block,
    slot_jacobian_setup,
)
from jaxpot.gap.terms import sparse_species_index
from jaxpot.mechanics import strain_derivative
from jaxpot.model import EnergyModel, species_lookup
from jaxpot.neighbors import neighbor_vectors


class Rows(NamedTuple):
    """Kernel rows of B padded structures: energy (B, M), forces (B, N, 3, M), virial
    (B, 3, 3, M) (padding atoms give zero rows)."""

    energy: jax.Array
    forces: jax.Array
    virial: jax.Array


def _soap_structure_rows(desc: SOAP, zeta: int, n_sparse: tuple[int, ...], sparse, delta,
                         positions, cell, species, mask, neighbors) -> Rows:
    setup = slot_jacobian_setup(desc, positions, cell, species, neighbors)
    p = setup.features
    index = jnp.asarray(species_lookup(desc.species, fill=-1))[species]
    same = (index[:, None] == jnp.asarray(sparse_species_index(n_sparse))[None, :]) \
        & mask[:, None]
    s = p @ sparse.T  # (N, M)
    d2 = delta ** 2
    energy = d2 * jnp.sum(jnp.where(same, s ** zeta, 0.0), axis=0)
    c = jnp.where(same, d2 * zeta * s ** (zeta - 1), 0.0)  # dk/d(p.x) (N, M)
    vectors, _ = neighbor_vectors(positions, cell, neighbors)
    n, k = neighbors.idx.shape
    m = sparse.shape[0]
    # centres a block at a time, so that the (N, K, 3, F) Jacobian and the (N, K, 3, M) slot
    # rows are never whole: memory O(block K (F + M) + N M) for a structure of any size
    blocks = -(-n // min(n, centres_per_block(desc, k, m + sparse.shape[1])))
    size = -(-n // blocks)
    pad = blocks * size - n

    def blocked(x, mode="edge"):  # (N, ...) -> (blocks, size, ...)
        x = jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1), mode=mode)
        return x.reshape(blocks, size, *x.shape[1:])

    # padding centres repeat the last centre with c = 0 (zero rows), scattered to row n
    centres = jnp.minimum(jnp.arange(blocks * size), n).reshape(blocks, size)
    xs = (jax.tree_util.tree_map(blocked, setup.per_centre), blocked(c, "constant"),
          blocked(neighbors.idx), blocked(vectors))

    def block(carry, x):
        de_dr, de_deps = carry
        (per_centre, c_b, idx_b, vec_b), rows_b = x
        grads = jax.vmap(lambda *a: centre_slot_jacobian(desc, *a))(*per_centre)
        # d eps_i / d r_ik for every slot and sparse point, (size, K, 3, M)
        slot = jnp.einsum("nkaf,mf->nkam", grads, sparse) * c_b[:, None, None, :]
        de_dr = de_dr.at[idx_b].add(slot).at[rows_b].add(-jnp.sum(slot, axis=1))
        return (de_dr, de_deps + jnp.einsum("nkam,nkb->abm", slot, vec_b)), None

    zero = (jnp.zeros((n + 1, 3, m), p.dtype), jnp.zeros((3, 3, m), p.dtype))
    (de_dr, de_deps), _ = jax.lax.scan(block, zero, (xs, centres))
    return Rows(energy, -de_dr[:n] * mask[:, None, None], -de_deps)


def soap_rows(desc: SOAP, zeta: int, n_sparse: tuple[int, ...], sparse, delta,
              batch: Batch) -> Rows:
    """Rows of the SOAP term for every structure of ``batch`` (one structure at a time, so
    memory stays O(N K M))."""
    def one(args):
        *rest, nbrs = args
        return _soap_structure_rows(desc, zeta, n_sparse, sparse, delta, *rest,
                                    nbrs.within(desc.neighbor_cutoff))
    return jax.lax.map(one, (batch.positions, batch.cell, batch.species, batch.atom_mask,
                             batch.neighbors))


soap_rows_jit = jax.jit(soap_rows, static_argnums=(0, 1, 2))


def _linear_structure_rows(model: EnergyModel, positions, cell, species, mask,
                           neighbors) -> Rows:
    """Rows of a model whose energy is linear in ``params["alpha"]`` (any shape, flattened)."""
    alpha = model.params["alpha"]
    neighbors = neighbors.within(model.cutoff)

    def efv(a):
        params = dict(model.params, alpha=a.reshape(alpha.shape))
        m = model.replace(params=params)

        def energy(pos, c):
            e_i = jnp.where(mask, m.atomic_energies(pos, c, species, neighbors), 0.0)
            return jnp.sum(e_i)

        e, (de_dr, de_dc) = jax.value_and_grad(energy, argnums=(0, 1))(positions, cell)
        de_dr = jnp.where(mask[:, None], de_dr, 0.0)
        return e, -de_dr, -strain_derivative(positions, cell, de_dr, de_dc)

    flat = jnp.zeros(alpha.size, alpha.dtype)
    e, f, v = jax.jacfwd(efv)(flat)
    return Rows(e, f, v)


def linear_rows(model: EnergyModel, batch: Batch) -> Rows:
    """Rows of a term linear in ``params["alpha"]`` (e.g. distance_2b) for a batch (one
    structure at a time: the forward-mode tangents of every alpha are per structure)."""
    return jax.lax.map(lambda args: _linear_structure_rows(model, *args),
                       (batch.positions, batch.cell, batch.species, batch.atom_mask,
                        batch.neighbors))


linear_rows_jit = jax.jit(linear_rows)


def rows_memory_per_structure(n_atoms: int, n_sparse: int) -> int:
    """Bytes of one structure's kernel rows in a batch (float64): the (N, 3, M) force rows and
    their accumulator (the per-slot temporaries are bounded per block of centres, once per
    batch, by :func:`jaxpot.descriptors.soap_gradients.centres_per_block`)."""
    return int(8 * 3 * (n_atoms + 1) * n_sparse * 3)


def observation_rows(rows: Rows, n_atoms: int, slot: int) -> tuple[np.ndarray, np.ndarray,
                                                                    np.ndarray]:
    """Host rows of one structure: energy (M,), forces (3 n_atoms, M), virial (6, M) in
    gap_fit's order (upper triangle xx, xy, xz, yy, yz, zz)."""
    e = np.asarray(rows.energy[slot])
    f = np.asarray(rows.forces[slot, :n_atoms]).reshape(3 * n_atoms, -1)
    v = np.asarray(rows.virial[slot])
    iu = np.triu_indices(3)
    return e, f, v[iu[0], iu[1]]
