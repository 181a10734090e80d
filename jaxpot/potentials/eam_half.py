"""EAM energy over the half list (each pair once) with a derivative rule that scatters once.

``E = sum_i F_a(rho_i) + sum_pairs phi_ab(r)`` with ``rho_i = sum_j rho_{b->a}(r_ij)``.  Each
pair is evaluated once (full rows evaluate it from both ends), both densities it carries are
added where they land, and the ``custom_jvp`` rule needs two passes over the pairs: densities
(then ``F'(rho)`` per atom), then ``dE/dr = F'(rho_i) rho'_{j->i} + F'(rho_j) rho'_{i->j} +
phi'`` per pair, added as ``dE/dr d/r`` at both ends (the per-atom sums of
:func:`jaxpot.potentials.pair_half.fold_pairs`, in blocks for long lists).  A parameter tangent
falls back to autodiff of the energy.  The host's half list is cheaper to rebuild than dense
rows (no per-row packing), which is most of what an EAM MD step of 32,000 atoms spends outside
the forces.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxpot.potentials.pair_half import (
    add_rows,
    fold_pairs,
    pair_vectors,
    position_table,
    shift_moment,
    take_rows,
)
from jaxpot.potentials.pair_rows import tangent_of_sums
from jaxpot.tangents import instantiate, is_zero


def half_eam_energy_fn(evaluate, evaluate_with_slope, embedding, lookup, n_species: int,
                       cutoff: float, lammps: bool):
    """``energy(p, positions, cell, species, i, j, shifts) -> eV`` over the half list.

    ``evaluate(family, table, r)`` and ``evaluate_with_slope`` are the model's spline lookups
    (tables ``source * S + center`` for densities, ``a * S + b`` for pairs); ``embedding(p,
    a, rho)`` is F; ``lammps``: pair tables hold ``r phi``."""
    s = n_species

    def species_index(species):
        """Species index of each atom (N,) and the same padded with 0 at N (N+1,)."""
        a = jnp.asarray(lookup)[species]
        return a, jnp.concatenate([a, jnp.zeros((1,), a.dtype)])

    def geometry(table, cell, padded, i, j, shifts):
        """Pair vectors (B, 3) from the position table, distances (padding at cutoff/2),
        mask, both ends' species."""
        n = table.shape[0] - 1
        d, sq = pair_vectors(table, cell, i, j, shifts)
        within = (i < n) & (sq < cutoff * cutoff)
        r = jnp.sqrt(jnp.where(within, sq, 0.25 * cutoff * cutoff))
        return d, r, within, take_rows(padded, i), take_rows(padded, j)

    def pair_energy(p, r, ai, aj):
        """phi of both orders (equal in every file format; parameters may be fitted apart),
        each counted half; one species has one table."""
        if s == 1:
            phi = evaluate(p["pair"], 0, r)
            return phi / r if lammps else phi
        phi = evaluate(p["pair"], ai * s + aj, r) + evaluate(p["pair"], aj * s + ai, r)
        return 0.5 * (phi / r if lammps else phi)

    def both_densities(p, r, ai, aj, slopes: bool):
        """Density at i from j and at j from i (values, or slopes), one lookup for one
        species."""
        lookup_fn = ((lambda t: evaluate_with_slope(p["density"], t, r)[1]) if slopes
                     else (lambda t: evaluate(p["density"], t, r)))
        if s == 1:
            v = lookup_fn(0)
            return v, v
        return lookup_fn(aj * s + ai), lookup_fn(ai * s + aj)

    def densities(p, positions, cell, padded, i, j, shifts):
        """(rho (N,), sum of pair energies)."""
        n, table = positions.shape[0], position_table(positions)

        def block(carry, i_b, j_b, s_b):
            at_i, at_j, pairs = carry
            _, r, within, ai, aj = geometry(table, cell, padded, i_b, j_b, s_b)
            to_i, to_j = both_densities(p, r, ai, aj, False)
            phi = jnp.where(within, pair_energy(p, r, ai, aj), 0.0)
            return (add_rows(at_i, i_b, jnp.where(within, to_i, 0.0)),
                    add_rows(at_j, j_b, jnp.where(within, to_j, 0.0)), pairs + jnp.sum(phi))

        zeros = jnp.zeros((n,), positions.dtype)  # padding (index n) dropped
        at_i, at_j, pairs = fold_pairs(block, (zeros, zeros, jnp.zeros((), positions.dtype)),
                                       n, i, j, shifts)
        return at_i + at_j, pairs

    def total(p, positions, cell, species, i, j, shifts):
        a, padded = species_index(species)
        rho, pairs = densities(p, positions, cell, padded, i, j, shifts)
        return jnp.sum(embedding(p, a, rho)) + pairs

    energy = jax.custom_jvp(total)

    def position_jvp(p, positions, cell, species, i, j, shifts, d_positions, d_cell):
        n, dtype = positions.shape[0], positions.dtype
        a, padded = species_index(species)
        rho, pairs = densities(p, positions, cell, padded, i, j, shifts)
        embed, dembed = jax.jvp(lambda x: embedding(p, a, x), (rho,), (jnp.ones_like(rho),))
        dembed = jnp.concatenate([dembed, jnp.zeros((1,), dtype)])
        with_cell, table = not is_zero(d_cell), position_table(positions)

        def block(carry, i_b, j_b, s_b):
            at_j, at_i, w = carry
            d, r, within, ai, aj = geometry(table, cell, padded, i_b, j_b, s_b)
            drho_i, drho_j = both_densities(p, r, ai, aj, True)
            _, dphi = jax.jvp(lambda x: pair_energy(p, x, ai, aj), (r,), (jnp.ones_like(r),))
            dedr = take_rows(dembed, i_b) * drho_i + take_rows(dembed, j_b) * drho_j + dphi
            c = jnp.where(within, dedr / r, 0.0)[:, None] * d  # dE/d(r_j - r_i)
            at_j, at_i = add_rows(at_j, j_b, c), add_rows(at_i, i_b, c)
            if with_cell:  # d(S cell)_a / dcell_ba = S_b
                w = w + shift_moment(s_b, c)
            return at_j, at_i, w

        zeros = jnp.zeros((n, 3), dtype)  # padding (index n) dropped
        at_j, at_i, w = fold_pairs(block, (zeros, zeros, jnp.zeros((3, 3), dtype)), n, i, j,
                                   shifts)
        return (jnp.sum(embed) + pairs,
                tangent_of_sums(at_j - at_i, w, d_positions, d_cell, dtype))

    def energy_jvp(primals, tangents):
        p, positions, cell, species, i, j, shifts = primals
        d_p, d_positions, d_cell = tangents[:3]
        if is_zero(d_p) and i.shape[0] > 0:
            return position_jvp(p, positions, cell, species, i, j, shifts, d_positions, d_cell)
        args = (p, positions, cell)
        dargs = tuple(instantiate(t, x) for t, x in zip((d_p, d_positions, d_cell), args))
        return jax.jvp(lambda q, x, c: total(q, x, c, species, i, j, shifts), args, dargs)

    energy.defjvp(energy_jvp, symbolic_zeros=True)
    return energy
