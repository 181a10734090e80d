"""ANI AEVs together with their derivatives w.r.t. each neighbour vector, in O(K^2) per atom.

Autodiff of :func:`~jaxpot.descriptors.ani.ani_features_from_vectors` w.r.t. all K neighbour
vectors of an atom costs 3K forward passes of an O(K^2) sum, O(K^3) in all.  Written pair by
pair, the angular sum is G = 1/2 sum_{j != k} T(v_j, v_k) with T symmetric, so

    dG / dv_j = sum_{k != j} d_1 T(v_j, v_k),

one forward-mode derivative (3 tangents) per ordered pair; the radial terms depend on one
vector each.  With rows sorted by distance (jaxpot's lists), the angular pairs run over the
leading ``angular_slots`` slots only, those within r_cut_angular (the list's view there).
Used to precompute the fixed features of Behler–Parrinello training
(:mod:`jaxpot.nn.fixed_features`); equal to autodiff (tested).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.cutoffs import cosine_cutoff
from jaxpot.descriptors.ani import ANI


def _norm(v):
    return jnp.sqrt(jnp.maximum(jnp.sum(v * v), 1e-30))


def ani_features_and_jacobian(desc: ANI, vectors, mask, nb_index, angular_slots=None):
    """(G (N, F), J = dG_i/dv_ik (N, F, K, 3)) from pair vectors (N, K, 3) Å, mask (N, K) and
    neighbour species indices (N, K) in ``desc.species`` order.  ``angular_slots``: every
    neighbour within ``desc.r_cut_angular`` lies in that many leading slots (default K)."""
    dtype = vectors.dtype
    n, k_slots, _ = vectors.shape
    s = len(desc.species)
    shifts_r = jnp.asarray(desc.shifts_radial, dtype)
    shifts_a = jnp.asarray(desc.shifts_angular, dtype)
    sections = jnp.asarray(desc.sections, dtype)
    r_all = jnp.sqrt(jnp.sum(vectors * vectors, -1))
    within_r = mask & (r_all < desc.r_cut_radial) & (r_all > 0)
    within_a = mask & (r_all < desc.r_cut_angular) & (r_all > 0)

    def radial(v):
        r = _norm(v)
        return 0.25 * jnp.exp(-desc.eta_radial * (r - shifts_r) ** 2) * cosine_cutoff(
            r, desc.r_cut_radial)

    def angular(vj, vk):
        rj, rk = _norm(vj), _norm(vk)
        cos = jnp.dot(vj, vk) / jnp.maximum(rj * rk, 1e-10)
        theta = jnp.arccos(0.95 * cos)
        ang = 2.0 * ((1.0 + jnp.cos(theta - sections)) / 2.0) ** desc.zeta
        gauss = jnp.exp(-desc.eta_angular * (0.5 * (rj + rk) - shifts_a) ** 2)
        w = cosine_cutoff(rj, desc.r_cut_angular) * cosine_cutoff(rk, desc.r_cut_angular)
        return (gauss[:, None] * ang[None, :]).reshape(-1) * w

    def value_and_d1(fn, *args):
        out, jvps = jax.vmap(lambda t: jax.jvp(lambda x: fn(x, *args[1:]), (args[0],), (t,)),
                             out_axes=(None, -1))(jnp.eye(3, dtype=dtype))
        return out, jvps

    safe = jnp.where(within_r[..., None], vectors, 1.0)
    rad, d_rad = jax.vmap(jax.vmap(lambda v: value_and_d1(radial, v)))(safe)  # (N,K,R), (N,K,R,3)
    onehot = (nb_index[..., None] == jnp.arange(s)).astype(dtype) * within_r[..., None]
    g_rad = jnp.einsum("nkr,nks->nsr", rad, onehot).reshape(n, -1)
    j_rad = jnp.einsum("nkrd,nks->nsrkd", d_rad, onehot).reshape(n, -1, k_slots, 3)

    rows, cols = np.triu_indices(s)
    pairs = np.zeros((s, s), int)
    pairs[rows, cols] = pairs[cols, rows] = np.arange(rows.size)
    ka = k_slots if angular_slots is None else min(int(angular_slots), k_slots)
    nb_a, within_a = nb_index[:, :ka], within_a[:, :ka]
    pair_type = jnp.asarray(pairs)[nb_a[:, :, None], nb_a[:, None, :]]  # (N, Ka, Ka)
    ok = within_a[:, :, None] & within_a[:, None, :] & ~jnp.eye(ka, dtype=bool)
    pair_onehot = (pair_type[..., None] == jnp.arange(rows.size)).astype(dtype) * ok[..., None]
    safe_a = jnp.where(within_a[..., None], vectors[:, :ka], 1.0)

    def per_atom(v):
        return jax.vmap(lambda vj: jax.vmap(lambda vk: value_and_d1(angular, vj, vk))(v))(v)

    ang, d_ang = jax.vmap(per_atom)(safe_a)  # (N, Ka, Ka, A), (N, Ka, Ka, A, 3)
    g_ang = 0.5 * jnp.einsum("njka,njkp->npa", ang, pair_onehot).reshape(n, -1)
    j_ang = jnp.einsum("njkad,njkp->npajd", d_ang, pair_onehot).reshape(n, -1, ka, 3)
    j_ang = jnp.pad(j_ang, ((0, 0), (0, 0), (0, k_slots - ka), (0, 0)))
    return (jnp.concatenate([g_rad, g_ang], axis=1), jnp.concatenate([j_rad, j_ang], axis=1))
