"""Sparse (per neighbour slot) Jacobian of the SOAP power spectrum, for force and virial
fitting (GAP) and for comparing with featomic's / quippy's per-pair gradients.

Each neighbour slot k of centre i adds a term T_k(r_ik) = R_k(r_ik) (x) Y_k(r_ik) (radial
integrals times spherical harmonics) to the density coefficients of its species channel s_k,
so with the full products P^{ab}_{nn'l} = sum_m c^a_{nlm} c^b_{n'lm}

    d P^{ab}_{nn'l} / d r_ik = 1[a = s_k] Q^b_{k,nn'} + 1[b = s_k] Q^a_{k,n'n},
    Q^b_{k,nn'} = sum_m (d T_{k,nlm} / d r_ik) c^b_{n'lm}

(by the product rule Q = dR (x) (Y . c) + R (x) (dY . c), so no (K, 3, n, 2l+1) tangents are
formed), and the features are a fixed linear layout of P (``spectrum_layout``), followed by
the optional normalisation.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxpot.cutoffs import safe_norm
from jaxpot.descriptors.soap import (
    SOAP,
    _density,
    _slot_factors,
    _sum_slot_factors,
    full_products,
    spectrum_layout,
)
from jaxpot.neighbors import neighbor_vectors

_CHUNK_DOUBLES = 2 ** 24  # ~130 MB of full-product tangents per chunk of centres


def soap_pair_gradients(desc: SOAP, positions, cell, species, neighbors):
    """Features (N, F) and their sparse Jacobian G (N, K, F, 3) in neighbour-slot layout.

    G[i, k] = d p_i / d r_ik with r_ik = r_j + shift - r_i the vector to slot k's neighbour
    j = neighbors.idx[i, k] (zero on padded slots), so d p_i / d r_j = sum over slots k of i
    holding j of G[i, k] - delta_ij sum_k G[i, k] (cf. featomic's / quippy's per-pair
    gradients).  Exact derivatives; memory O(N K F), no N^2 array.  Not defined for
    averaged descriptors.
    """
    features, grads = soap_slot_gradients(desc, positions, cell, species, neighbors)
    return features, grads.transpose(0, 1, 3, 2)


class SlotJacobian(NamedTuple):
    """What the per-slot Jacobian of every centre is built from (leading axis N: centres).

    ``features`` (N, F) are the final (normalised if asked) features; ``per_centre`` holds the
    inputs of :func:`centre_slot_jacobian` for each centre, so that the (N, K, 3, F) Jacobian
    can be formed a block of centres at a time (GAP rows: :mod:`jaxpot.gap.rows`)."""

    features: jax.Array
    per_centre: tuple


def slot_jacobian_setup(desc: SOAP, positions, cell, species, neighbors) -> SlotJacobian:
    """Features and the per-centre inputs of the slot Jacobian (cheap: O(N K n (l+1)^2))."""
    if desc.average != "off":
        raise NotImplementedError("pair gradients need per-centre features (average='off')")
    vectors, mask = neighbor_vectors(positions, cell, neighbors)
    density = _density(desc, vectors, mask, species, neighbors)
    radial, ylm = _slot_factors(desc, vectors, density.mask)
    coeffs = _sum_slot_factors(desc, density, radial, ylm)
    raw = spectrum_layout(desc, full_products(coeffs))
    # the three Cartesian directions as one batched JVP (one copy of the basis in the program)
    d_radial, d_ylm = jax.vmap(
        lambda t: jax.jvp(lambda v: _slot_factors(desc, v, density.mask), (vectors,), (t,))[1],
        out_axes=2)(jnp.broadcast_to(jnp.eye(3, dtype=vectors.dtype)[:, None, None, :],
                                     (3, *vectors.shape)))
    norm = safe_norm(raw) if desc.normalize else jnp.ones(raw.shape[0], raw.dtype)
    features = raw / norm[:, None] if desc.normalize else raw
    return SlotJacobian(features, (density.onehot, coeffs, radial, ylm, d_radial, d_ylm,
                                   features, norm, density.mask))


def centre_slot_jacobian(desc: SOAP, onehot, coeffs_i, radial_i, ylm_i, d_radial_i, d_ylm_i,
                         feature_i, norm_i, mask_i) -> jax.Array:
    """One centre's (K, 3, F) = d p_i / d r_ik from its :class:`SlotJacobian` inputs; the slot
    term is R (x) Y, so by the product rule Q = dR (x) (Y . c) + R (x) (dY . c)."""
    k = onehot.shape[0]
    d_full = []
    for c, rad, y, d_rad, d_y in zip(coeffs_i, radial_i, ylm_i, d_radial_i, d_ylm_i):
        yc = jnp.einsum("kq,bpq->kbp", y, c)
        dyc = jnp.einsum("kdq,bpq->kdbp", d_y, c)
        q = (d_rad[:, :, :, None, None] * yc[:, None, None]
             + rad[:, None, :, None, None] * dyc[:, :, None])  # (k, 3, n, b, p)
        a_part = onehot[:, None, :, None, None, None] * q[:, :, None]  # (k,3,a,n,b,p)
        a_part = a_part.transpose(0, 1, 2, 4, 3, 5)  # (k, 3, a, b, n, p)
        d_full.append((a_part + a_part.transpose(0, 1, 3, 2, 5, 4)).reshape(
            k * 3, *a_part.shape[2:]))
    grads = spectrum_layout(desc, d_full).reshape(k, 3, -1)
    if desc.normalize:  # d(p / |p|) = (dp - u (u . dp)) / |p|
        grads = (grads - feature_i * jnp.einsum("kdf,f->kd", grads, feature_i)[..., None]) \
            / norm_i
    return grads * mask_i[:, None, None]


def centres_per_block(desc: SOAP, capacity: int, extra_per_slot: int = 0) -> int:
    """Centres whose slot Jacobians (and ``extra_per_slot`` doubles per slot and direction)
    fit one block of ~``_CHUNK_DOUBLES`` doubles."""
    per_centre = capacity * 3 * (desc.n_channels ** 2 * desc.n_max ** 2 * (desc.l_max + 1)
                                 + extra_per_slot)
    return max(1, _CHUNK_DOUBLES // max(per_centre, 1))


def soap_slot_gradients(desc: SOAP, positions, cell, species, neighbors):
    """As :func:`soap_pair_gradients` with the Jacobian laid out (N, K, 3, F): each slot's
    three derivative vectors contiguous, as a (N K 3, F) matrix product wants them."""
    setup = slot_jacobian_setup(desc, positions, cell, species, neighbors)
    n, k = neighbors.idx.shape
    grads = jax.lax.map(lambda x: centre_slot_jacobian(desc, *x), setup.per_centre,
                        batch_size=min(n, centres_per_block(desc, k)))  # (N, K, 3, F)
    return setup.features, grads


soap_pair_gradients_jit = jax.jit(soap_pair_gradients, static_argnums=0)
