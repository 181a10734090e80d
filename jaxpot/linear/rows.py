"""Design-matrix rows of potentials linear in their coefficients (SNAP, qSNAP, MTP).

For per-atom features x_i = phi(B_i) (phi the identity, or B plus LAMMPS's quadratic products)
and one coefficient vector per species, E = sum_s [n_s beta_0^s + beta^s . sum_{i in s} x_i],
so each observation is a row over the P = S (1 + F) coefficients:

    energy per atom  [n_s, sum_{i in s} x_i] / N
    force on j, a    -sum_{i in s} dx_i/dr_ja                       (eV/Å)
    stress ab        (1/V) sum_{i in s} dx_i/d(strain_ab) * 160.2   (GPa, ASE's sign)

The basis supplies the per-atom Jacobian with respect to each neighbour vector, dB_i/dr_ik
(N, nB, K, 3) (for SNAP :mod:`jaxpot.descriptors.bispectrum_jacobian`); it is scattered onto
atoms and contracted with the pair vectors for the strain derivative; quadratic rows follow
from the product rule, so no Jacobian of the nB^2/2 quadratic features is formed.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from ase.units import GPa

from jaxpot.batch import Batch
from jaxpot.descriptors.sna_tables import quadratic_pairs
from jaxpot.model import species_indices, species_lookup
from jaxpot.neighbors import neighbor_vectors
from jaxpot.space import volume

EV_PER_A3_TO_GPA = 1.0 / GPa


class Rows(NamedTuple):
    """Rows of B padded structures: energy per atom (B, P), forces (B, N, 3, P), stress
    (B, 3, 3, P) in GPa; padding atoms give zero force rows."""

    energy: jax.Array
    forces: jax.Array
    stress: jax.Array


def structure_rows(features_and_jacobian, species_list: tuple[int, ...], quadratic: bool,
                   positions, cell, species, mask, neighbors) -> Rows:
    """Rows of one padded structure; ``features_and_jacobian(vectors, mask, centre, nb_index)``
    gives the per-atom linear features B (N, nB) and dB_i/dr_ik (N, nB, K, 3)."""
    vectors, vmask = neighbor_vectors(positions, cell, neighbors)
    centre, nb_index = species_indices(species_lookup(species_list), species, neighbors)
    b, jac = features_and_jacobian(vectors, vmask, centre, nb_index)
    n = positions.shape[0]
    # dB_i/dr_j (N_i, nB, N_j, 3): +J at the neighbour's index, -sum_k J at the centre
    onehot = jax.nn.one_hot(neighbors.idx, n + 1, dtype=b.dtype)[..., :n] * vmask[..., None]
    d = jnp.einsum("ifka,ikj->ifja", jac, onehot)
    d = d - (jnp.einsum("ifka->ifa", jac)[:, :, None, :]
             * jnp.eye(n, dtype=b.dtype)[:, None, :, None])
    w = jnp.einsum("ifka,ikb->ifab", jac, vectors)  # dB_i/d(strain) (N, nB, 3, 3)
    w = 0.5 * (w + jnp.swapaxes(w, -1, -2))
    centre_mask = mask.astype(b.dtype)
    owner = jax.nn.one_hot(centre, len(species_list), dtype=b.dtype) * centre_mask[:, None]
    scale = EV_PER_A3_TO_GPA / volume(cell)
    n_real = jnp.sum(centre_mask)

    e_lin = jnp.einsum("is,if->sf", owner, b)
    f_lin = -jnp.einsum("is,ifja->jasf", owner, d)
    s_lin = jnp.einsum("is,ifab->absf", owner, w) * scale
    e_parts, f_parts, s_parts = [e_lin], [f_lin], [s_lin]
    if quadratic:
        first, second, factor = quadratic_pairs(b.shape[-1])
        e_q = jnp.einsum("is,ik,il->skl", owner, b, b)
        e_parts.append(factor * e_q[:, first, second])
        q = jnp.einsum("is,ikja,il->jaskl", owner, d, b)
        f_parts.append(-factor * (q[..., first, second] + q[..., second, first]))
        qs = jnp.einsum("is,ikab,il->abskl", owner, w, b)
        s_parts.append(scale * factor * (qs[..., first, second] + qs[..., second, first]))
    count = jnp.sum(owner, axis=0)
    energy = jnp.concatenate([count[:, None]] + e_parts, axis=-1) / n_real
    forces = jnp.concatenate([jnp.zeros(f_lin.shape[:3] + (1,), b.dtype)] + f_parts, axis=-1)
    stress = jnp.concatenate([jnp.zeros(s_lin.shape[:3] + (1,), b.dtype)] + s_parts, axis=-1)
    forces = forces * mask[:, None, None, None]
    return Rows(energy.reshape(-1), forces.reshape(n, 3, -1), stress.reshape(3, 3, -1))


def batch_rows(features_and_jacobian, species_list, quadratic, batch: Batch) -> Rows:
    """:func:`structure_rows` of every structure of a batch (one at a time: bounded memory)."""
    def one(args):
        return structure_rows(features_and_jacobian, species_list, quadratic, *args)
    return jax.lax.map(one, (batch.positions, batch.cell, batch.species, batch.atom_mask,
                             batch.neighbors))


batch_rows_jit = jax.jit(batch_rows, static_argnums=(0, 1, 2))


def rows_bytes_per_structure(n_atoms: int, capacity: int, n_b: int, quadratic: bool,
                             n_species: int) -> int:
    """Bytes of the largest per-structure temporaries of :func:`structure_rows` (float64)."""
    p = n_species * (1 + n_b + (n_b * (n_b + 1) // 2 if quadratic else 0))
    return int(8 * (n_atoms * n_b * (capacity + n_atoms) * 3 + 2 * n_atoms * 3 * p
                    + (n_atoms * 3 * n_species * n_b * n_b if quadratic else 0)))
