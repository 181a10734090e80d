"""MTP basis functions and their Jacobian in each atom's neighbour vectors, for design rows.

    dB_i/dr_ik (N, F, K, 3)

Forward mode with the 3K tangents of an atom (one per neighbour slot and direction) carried
as the trailing axis of every moment: a basic moment's tangent is its slot-k term's gradient
(each term depends on r_ik only, so three JVPs give all 3K), and each wave of the moment
program (:func:`jaxpot.descriptors.moment_tensors.run_waves`) moves whole rows of
(atoms x 3K) values through its gathers and scatter-adds.  ``jax.jacfwd`` of the features
batches the same tangents in front of the moment axis, so XLA:CPU scatter-adds one element
at a time: 5.35 s per 63-atom mlearn Si structure at level 20 (K = 48), the whole cost of
the linear stage's design rows.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxpot.descriptors.moment_tensors import (
    MomentTensors,
    basic_terms,
    program_of,
    radial_functions,
    run_waves,
)
from jaxpot.row_slots import row_blocks

ATOMS_PER_CHUNK = 2  #: atoms whose tangents are carried at once (bounds memory)


def _chunk_features_and_jacobian(desc: MomentTensors, radial_coeffs, vectors, vmask, centre,
                                 nb_index):
    """(B (n, F), dB/dr (n, F, K, 3)) of a chunk of n atoms."""
    program = program_of(desc.level)

    def terms(v):  # (n_basic, n, K)
        f, unit = radial_functions(radial_coeffs, desc.r_min, desc.r_cut,
                                   desc.radial_basis_size, v, vmask, centre, nb_index)
        return jnp.stack(basic_terms(program, f, unit))

    def along(direction):  # d term_p(r_ik) / d r_ik,direction (n_basic, n, K)
        return jax.jvp(terms, (vectors,), (jnp.broadcast_to(direction, vectors.shape),))[1]

    values = terms(vectors)
    slopes = jax.vmap(along, out_axes=-1)(jnp.eye(3, dtype=vectors.dtype))  # (.., K, 3)
    n_basic, n, k = values.shape
    # a wave's inputs are complete before it runs (alpha_program refuses adds after a use),
    # so the final moments give every wave's input values
    m = run_waves(program, values.sum(-1))
    t = jnp.zeros((program.n_moments, n, 3 * k), values.dtype)
    t = t.at[:n_basic].set(slopes.reshape(n_basic, n, 3 * k))
    for wave in program.waves:
        c = wave[:, 2, None, None].astype(values.dtype)
        mi, mj = m[wave[:, 0], :, None], m[wave[:, 1], :, None]
        t = t.at[wave[:, 3]].add(c * (t[wave[:, 0]] * mj + mi * t[wave[:, 1]]))
    b = m[program.mapping].T
    jac = t[program.mapping].reshape(-1, n, k, 3).transpose(1, 0, 2, 3)
    return b, jac


def mtp_features_and_jacobian(desc: MomentTensors, radial_coeffs, vectors, vmask, centre,
                              nb_index):
    """(B (N, F), dB_i/dr_ik (N, F, K, 3)) from neighbour vectors (N, K, 3) Å, their mask,
    the centre species indices (N,) and the neighbours' (N, K)."""
    n = vectors.shape[0]

    def one(args):
        return _chunk_features_and_jacobian(desc, radial_coeffs, *args)
    b, jac = jax.lax.map(one, row_blocks((vectors, vmask, centre, nb_index),
                                         min(ATOMS_PER_CHUNK, n)))
    return b.reshape((-1,) + b.shape[2:])[:n], jac.reshape((-1,) + jac.shape[2:])[:n]
