"""Fast BPNN training on fixed features: G and dG/d(pair vector) computed once per structure.

A Behler–Parrinello network sees the structure only through its symmetry functions G (N, F),
which do not depend on the weights.  As n2p2 and RuNNer do, the features and their derivatives
with respect to each neighbour vector, J = dG_i/dr_ik (N, F, K, 3), are computed once when the
dataset is built; a training step then runs only the networks:

    dE/dr_ik = sum_f dE/dG_if J_ifk,     F_j = sum_ik dE/dr_ik ([idx_ik = j] - [i = j]),
    sigma    = (1/V) sum_ik sym(r_ik (x) dE/dr_ik)      (ASE sign: +dE/d(strain) / V)

equal to autodiff through the features (tested).  Memory is B N K F 3 floats per bucket.
"""

from __future__ import annotations

import functools
import json

import jax
import jax.numpy as jnp

from jaxpot.batch import Batch
from jaxpot.model import EnergyModel, species_indices, species_lookup
from jaxpot.neighbors import neighbor_vectors
from jaxpot.space import volume


def _from_vectors(desc):
    from jaxpot.descriptors.acsf import ACSF, acsf_features_from_vectors
    from jaxpot.descriptors.ani import ani_features_from_vectors
    return acsf_features_from_vectors if isinstance(desc, ACSF) else ani_features_from_vectors


def structure_features(desc, positions, cell, species, neighbors):
    """(G (N, F), J (N, F, K, 3), pair vectors (N, K, 3)) of one structure."""
    vectors, mask = neighbor_vectors(positions, cell, neighbors)
    _, nb_index = species_indices(species_lookup(desc.species), species, neighbors)
    from jaxpot.descriptors.ani import ANI
    if isinstance(desc, ANI):
        from jaxpot.descriptors.ani_jacobian import ani_features_and_jacobian
        g, jac = ani_features_and_jacobian(
            desc, vectors, mask, nb_index, neighbors.within(desc.r_cut_angular).capacity)
        return g, jac, vectors
    fn = _from_vectors(desc)

    def row(v, m, s):
        def g(vv):
            return fn(desc, vv[None], m[None], s[None])[0]
        return g(v), jax.jacfwd(g)(v)

    g, jac = jax.vmap(row)(vectors, mask, nb_index)
    return g, jac, vectors


@functools.lru_cache(maxsize=16)
def _batched_features(desc):
    """One jitted function per descriptor (hashable), so every dataset shares its compilations."""
    return jax.jit(jax.vmap(lambda *a: structure_features(desc, *a)))


def prepare(model: EnergyModel, batch: Batch, chunk: int = 1) -> dict:
    """Features, Jacobians and pair vectors of every structure of a bucket (host loop over
    chunks of ``chunk`` structures to bound memory)."""
    from jaxpot.nn.bpnn import make_descriptor
    run = _batched_features(make_descriptor(json.loads(model.spec)["config"]["descriptor"]))
    host = jax.device_get(batch)  # slicing on the host: an eager slice compiles per start
    n = batch.positions.shape[0]
    parts = []
    for start in range(0, n, chunk):
        sub = jax.tree_util.tree_map(lambda x, a=start: x[a:a + chunk], host)
        parts.append(run(sub.positions, sub.cell, sub.species, sub.neighbors))
    g, jac, vec = (jnp.concatenate([p[i] for p in parts]) for i in range(3))
    return {"g": g, "jac": jac, "vectors": vec}


def results(model: EnergyModel, batch: Batch, extra: dict):
    """(energy (B,), forces (B,N,3), stress (B,3,3)) from precomputed features."""
    from jaxpot.nn.bpnn import local_energy_of_features
    local = local_energy_of_features(json.loads(model.spec)["config"])

    def one(g, jac, vec, species, mask, idx, cell):
        def total(gg):
            return jnp.sum(jnp.where(mask, local(model.params, gg, species), 0.0))
        e, de_dg = jax.value_and_grad(total)(g)
        de_dv = jnp.einsum("nf,nfka->nka", de_dg, jac)  # (N, K, 3)
        n = g.shape[0]
        grad_r = -jnp.sum(de_dv, axis=1)
        grad_r = grad_r + jax.ops.segment_sum(de_dv.reshape(-1, 3), idx.reshape(-1),
                                              num_segments=n + 1)[:n]
        virial = jnp.einsum("nka,nkb->ab", vec, de_dv)
        stress = 0.5 * (virial + virial.T) / volume(cell)
        return e, -grad_r, stress

    return jax.vmap(one)(extra["g"], extra["jac"], extra["vectors"], batch.species,
                         batch.atom_mask, batch.neighbors.idx, batch.cell)
