"""Bispectrum components and their derivatives with respect to every neighbour vector.

    B_i (N, nB) and J_i = dB_i/dr_ik (N, nB, K, 3)

as LAMMPS's ``compute_dbidrj`` does it, in O(nB) work per slot instead of the O(nB^2) of a
reverse-mode Jacobian through all components: each component is a real form in the total
U^{j1}, U^{j2}, U^j, so its gradient G_k with respect to the (flattened) total U is one
vector-Jacobian product of that component alone (dB_k = Re sum G_k dU); and the slot's
dU/dr_ik is a forward-mode derivative along the three Cartesian directions.  Then

    dB_k/dr_ik = Re sum_p G_kp dU_p/dr_ik.

Used by the linear fits (:mod:`jaxpot.linear.rows`) and equal to autodiff (tested).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.descriptors.bispectrum import Bispectrum, bzero, slot_u, total_u
from jaxpot.descriptors.sna_tables import bispectrum_indices, cg_blocks


def _component(u1, u2, uj, cg) -> jax.Array:
    """B = Re sum conj(U^j) . C^T (U^{j1} (x) U^{j2}) C of one component, (N,) (its own
    small contraction, so that its gradient costs O(1) components, not O(nB))."""
    c = jnp.asarray(cg, u1.dtype)
    t = jnp.einsum("abm,nax->nbxm", c, u1)
    t = jnp.einsum("nbxm,nby->nxym", t, u2)
    z = jnp.einsum("nxym,xyk->nmk", t, c)
    return jnp.sum(jnp.real(jnp.conj(uj) * z), axis=(-2, -1))


def _offsets(twojmax: int) -> np.ndarray:
    sizes = [(j + 1) ** 2 for j in range(twojmax + 1)]
    return np.concatenate([[0], np.cumsum(sizes)])


def bispectrum_and_jacobian(desc: Bispectrum, vectors, mask, centre, nb_index):
    """(B (N, nB) linear components, dB/dr_ik (N, nB, K, 3)) of one structure's pair vectors
    (N, K, 3) Å with mask (N, K) and species indices of centres (N,) and neighbours (N, K)."""
    offsets = _offsets(desc.twojmax)

    def flat_slots(v):
        return jnp.concatenate([u.reshape(u.shape[:-2] + (-1,))
                                for u in slot_u(desc, v, mask, centre, nb_index)], axis=-1)

    basis = jnp.eye(3, dtype=vectors.dtype)
    u_flat, du = jax.vmap(lambda t: jax.jvp(flat_slots, (vectors,), (
        jnp.broadcast_to(t, vectors.shape),)), out_axes=(None, -1))(basis)
    # du (N, K, P, 3): d(slot U)/d(r_ik)_a; a slot's U depends on its own vector only, so
    # the broadcast tangent along axis a gives exactly the per-slot derivatives
    blocks = [u_flat[..., offsets[j]:offsets[j + 1]].reshape(u_flat.shape[:-1] + (j + 1, j + 1))
              for j in range(desc.twojmax + 1)]
    u_tot = total_u(blocks)
    values, grads = [], []
    for (j1, j2, j), cg in zip(bispectrum_indices(desc.twojmax), cg_blocks(desc.twojmax)):
        b, vjp = jax.vjp(lambda x, y, z, c=cg: _component(x, y, z, c),
                         u_tot[j1], u_tot[j2], u_tot[j])
        g1, g2, gj = vjp(jnp.ones_like(b))
        g = jnp.zeros(u_flat.shape[:1] + u_flat.shape[2:], u_flat.dtype)
        for jj, gg in ((j1, g1), (j2, g2), (j, gj)):
            g = g.at[:, offsets[jj]:offsets[jj + 1]].add(gg.reshape(gg.shape[0], -1))
        values.append(b)
        grads.append(g)
    bis = jnp.stack(values, axis=-1)
    if desc.bzeroflag:
        bis = bis - bzero(desc.twojmax)
    g = jnp.stack(grads, axis=1)  # (N, nB, P)
    jac = jnp.real(jnp.einsum("nfp,nkpa->nfka", g, du))
    return bis, jac
