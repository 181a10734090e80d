"""Sparse (per neighbour slot) Jacobian of the SOAP power spectrum, for force and virial
fitting (GAP) and for comparing with featomic's / quippy's per-pair gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxpot.descriptors.soap import SOAP, _density, _finish, _slot_terms, _sum_slots
from jaxpot.neighbors import neighbor_vectors


def soap_pair_gradients(desc: SOAP, positions, cell, species, neighbors):
    """Features (N, F) and their sparse Jacobian G (N, K, F, 3) in neighbour-slot layout.

    G[i, k] = d p_i / d r_ik with r_ik = r_j + shift - r_i the vector to slot k's neighbour
    j = neighbors.idx[i, k] (zero on padded slots), so d p_i / d r_j = sum over slots k of i
    holding j of G[i, k] - delta_ij sum_k G[i, k] (cf. featomic's / quippy's per-pair
    gradients).  Exact forward-mode derivatives: memory O(N K F), no N^2 array.  Not
    defined for averaged descriptors.
    """
    if desc.average != "off":
        raise NotImplementedError("pair gradients need per-centre features (average='off')")
    vectors, mask = neighbor_vectors(positions, cell, neighbors)
    density = _density(desc, vectors, mask, species, neighbors)
    terms = _slot_terms(desc, vectors, density.mask)
    coeffs = _sum_slots(desc, density, terms)
    features = _finish(desc, coeffs)
    grads = []
    for a in range(3):  # d(slot term)/d(slot vector component a), every slot at once
        tangent = jnp.zeros_like(vectors).at[..., a].set(1.0)
        d_terms = jax.jvp(lambda v: _slot_terms(desc, v, density.mask), (vectors,),
                          (tangent,))[1]

        def slot_gradient(onehot_k, d_terms_k):  # (N, S), list of (N, n, 2l+1) -> (N, F)
            d_coeffs = [onehot_k[:, :, None, None] * d[:, None] for d in d_terms_k]
            return jax.jvp(lambda c: _finish(desc, c), (coeffs,), (d_coeffs,))[1]

        grads.append(jax.vmap(slot_gradient, in_axes=(1, 1), out_axes=1)(density.onehot,
                                                                          d_terms))
    g = jnp.stack(grads, axis=-1)  # (N, K, F, 3)
    return features, g * density.mask[:, :, None, None]


soap_pair_gradients_jit = jax.jit(soap_pair_gradients, static_argnums=0)
