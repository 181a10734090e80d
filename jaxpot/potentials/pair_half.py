"""Pair energy over the half list (each pair once) with a scatter-once derivative rule.

``E = sum_p phi(|r_j - r_i + S cell|)`` over the half list's pairs ``p = (i, j, S)``.  Plain
autodiff gathers each coordinate separately and its reverse pass writes every per-pair
temporary to memory before six scalar scatters; for the 1.6 M pairs of 32,000 LJ atoms those
arrays leave the caches.  The ``custom_jvp`` here takes the position and cell tangent as
``dE = sum_p 2 g_p d_p . (dr_j - dr_i + S dcell)`` (``g = dphi/d(r^2)``): pair vectors
gathered as (B, 3) rows, ``2 g d`` added once at ``j`` and once at ``i``, ``PAIR_BLOCK``
pairs at a time (``lax.scan``, the per-atom sums as the carry) so the temporaries stay in
cache.  Reverse mode (forces, stress), forward mode and second derivatives follow from the
rule; a parameter tangent falls back to autodiff of the whole sum.  Measured on XLA:CPU
(float64, LAMMPS in.lj geometry, one MD step without a rebuild): 4,000 atoms 3.5 -> 2.5 ms,
32,000 atoms 90 -> 26 ms (with :func:`jaxpot.neighbors.host`'s interleaved half list).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.neighbors.core import lattice_shift
from jaxpot.potentials.pair_rows import distance_argument, tangent_of_sums
from jaxpot.tangents import instantiate, is_zero
from jaxpot.types import Array

#: pairs per block of the derivative of half lists longer than twice this
PAIR_BLOCK = 131072
#: a shorter list of at least TAIL_MIN slots ends in TAIL_BLOCKS blocks of a TAIL_PARTS-th
#: of its slots each, skipped when they hold padding only (the head-room of an MD list)
TAIL_BLOCKS, TAIL_PARTS, TAIL_MIN = 8, 40, 8192


def fold_pairs(block, init, n: int, i: Array, j: Array, shifts: Array):
    """``carry = block(carry, i_b, j_b, shifts_b)`` over the pairs, in one call for lists of
    up to ``2 * PAIR_BLOCK`` pairs, else ``PAIR_BLOCK`` at a time (``lax.scan`` over the whole
    blocks; the remainder is the slice of the last ``PAIR_BLOCK`` pairs, those done before
    given ``i_b = n``, the padding index, so no padded copies are made).  A block of padding
    only is skipped (``lax.cond``): a list allocated with head-room costs what its pairs cost
    (32,000 LJ atoms, 1.24 M pairs in 1.56 M slots: 22 -> 15.6 ms per energy + forces).  The
    blocks are sliced inside the branch, from flags computed in one pass: sliced before the
    ``cond``, each block's indices were copied out whether skipped or not (256,000 LJ atoms:
    energy + forces 130-135 -> 120-129 ms).  A list of TAIL_MIN to ``2 * PAIR_BLOCK``
    slots is one block for its head and TAIL_BLOCKS blocks of ``e // TAIL_PARTS`` slots for
    its tail (the last fifth), each skipped when it holds padding only: ``md.run`` allocates
    1.25x the pairs, which fill the first 80 % of the slots (4,000 LJ atoms, 156,000 pairs
    in 195,000 slots: MD step 2.45 -> 2.3 ms, paired runs)."""
    e = i.shape[0]
    if e <= 2 * PAIR_BLOCK:
        if e < TAIL_MIN:
            return block(init, i, j, shifts)
        size = e // TAIL_PARTS
        head = e - TAIL_BLOCKS * size
        carry = block(init, i[:head], j[:head], shifts[:head])
        return _skipping_blocks(block, carry, n, i, j, shifts, head, size, TAIL_BLOCKS)
    size = PAIR_BLOCK
    whole = e // size
    carry = _skipping_blocks(block, init, n, i, j, shifts, 0, size, whole)
    if whole * size == e:
        return carry
    # the remainder as the last ``size`` pairs, those done above marked as padding
    i_b = jnp.where(jnp.arange(e - size, e) < whole * size, n, i[e - size:])
    return jax.lax.cond(jnp.any(i_b < n), lambda c: block(c, i_b, j[e - size:],
                                                          shifts[e - size:]),
                        lambda c: c, carry)


def _skipping_blocks(block, carry, n: int, i: Array, j: Array, shifts: Array, first: int,
                     size: int, count: int):
    """``carry`` folded by ``block`` over ``count`` blocks of ``size`` pairs from slot
    ``first`` (``lax.scan``), each skipped (``lax.cond``) when it holds padding only."""

    def sliced(carry, start):  # inside the branch, so a skipped block slices nothing
        return block(carry, *(jax.lax.dynamic_slice_in_dim(a, start, size)
                              for a in (i, j, shifts)))

    def step(carry, block_start):
        active, start = block_start
        return jax.lax.cond(active, sliced, lambda c, _: c, carry, start), None

    end = first + count * size
    active = jnp.any(i[first:end].reshape(count, size) < n, axis=1)
    return jax.lax.scan(step, carry, (active, jnp.arange(first, end, size)))[0]


def take_rows(table: Array, index: Array) -> Array:
    """``table[index]``, (B,) or (B, C), for indices known to lie in ``[0, len(table))``.

    ``table[index]`` on signed indices also wraps negative ones, a select per pair that XLA
    runs as a pass of its own over the list; half-list indices never are negative."""
    window = tuple(range(1, table.ndim))
    dims = jax.lax.GatherDimensionNumbers(offset_dims=window, collapsed_slice_dims=(0,),
                                          start_index_map=(0,))
    return jax.lax.gather(table, index[:, None], dims, (1, *table.shape[1:]),
                          mode=jax.lax.GatherScatterMode.PROMISE_IN_BOUNDS)


def add_rows(acc: Array, index: Array, values: Array) -> Array:
    """``acc.at[index].add(values)``, values (B,) or (B, C), for indices ``>= 0`` (no
    negative-index wrapping pass, see :func:`take_rows`); indices ``>= len(acc)`` are dropped.

    An (N,)-row ``acc`` drops the padding index N.  Padding added into a row of its own is
    one read-modify-write of that row after another, which XLA:CPU runs in series: 4,000 LJ
    atoms, 155,000 pairs in 195,000 slots, MD step 2.85 -> 2.33 ms when dropped."""
    dims = jax.lax.ScatterDimensionNumbers(update_window_dims=tuple(range(1, acc.ndim)),
                                           inserted_window_dims=(0,),
                                           scatter_dims_to_operand_dims=(0,))
    return jax.lax.scatter_add(acc, index[:, None], values, dims,
                               mode=jax.lax.GatherScatterMode.FILL_OR_DROP)


def shift_moment(shifts: Array, c: Array) -> Array:
    """``shifts.T @ c`` (3, 3) for shifts (B, 3) int and c (B, 3): nine sums over the pairs
    of one column product each, which XLA:CPU runs 2x faster than the (3, B) x (B, 3)
    matmul (195,000 float64 pairs: 1.5 against 3.3 ms)."""
    s, ct = shifts.astype(c.dtype).T, c.T
    return jnp.stack([jnp.stack([jnp.sum(s[b] * ct[a]) for a in range(3)]) for b in range(3)])


def position_table(positions: Array) -> Array:
    """Positions (N, 3) with a zero row appended (N + 1, 3), which the padding index N reads.

    Built once per evaluation, outside :func:`fold_pairs`: inside its loop XLA:CPU would
    copy the positions again for every block (256,000 LJ atoms: 20 ms per energy + forces)."""
    return jnp.concatenate([positions, jnp.zeros((1, 3), positions.dtype)])


def pair_vectors(table: Array, cell: Array, i: Array, j: Array, shifts: Array):
    """Pair vectors ``r_j - r_i + S cell`` (B, 3) Å gathered as rows from the
    :func:`position_table` and ``r^2`` (B,) Å^2 (padding index N reads the zero row)."""
    # no matmul or axis reductions: XLA:CPU sends those to library calls that cost more than
    # the gathers here (32,000 LJ atoms: 31 -> 26 ms per MD step)
    d = take_rows(table, j) - take_rows(table, i) + lattice_shift(shifts, cell)
    return d, d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] + d[:, 2] * d[:, 2]


def half_pair_energy_fn(pair_fn, cutoff: float, lookup: np.ndarray | None,
                        squared: bool = False):
    """``energy(params, positions, cell, species, i, j, shifts) -> eV``: ``phi`` summed once
    over the pairs ``(i, j, shifts)`` (E,) with ``r < cutoff`` (padding index N);
    ``lookup`` maps atomic number -> species index (None: one species); ``squared``:
    ``pair_fn`` takes ``r^2`` rather than ``r``."""
    rc2 = float(cutoff) ** 2

    def species_index(species):
        """Species index of each atom padded with 0 at N (N+1,); None for one species."""
        if lookup is None:
            return None
        return jnp.concatenate([jnp.asarray(lookup)[species], jnp.zeros((1,), jnp.int32)])

    def terms(table, cell, index, i, j, shifts):
        """Pair vectors ``d`` (B, 3) Å, ``phi(params, r^2)`` and ``r^2`` (B,) Å^2."""
        n = table.shape[0] - 1
        d, sq = pair_vectors(table, cell, i, j, shifts)
        within = (i < n) & (sq < rc2)  # two atoms at one point stay in: phi(0) = inf
        # one species: scalar parameters, no per-pair gathers
        ii, jj = (0, 0) if index is None else (take_rows(index, i), take_rows(index, j))

        def phi(p, x):
            r = distance_argument(jnp.where(within, x, rc2), squared)  # padding: finite
            return jnp.where(within, pair_fn(p, r, ii, jj), 0.0)

        return d, phi, sq

    def flat(params, positions, cell, species, i, j, shifts):
        _, phi, sq = terms(position_table(positions), cell, species_index(species), i, j,
                           shifts)
        return jnp.sum(phi(params, sq))

    energy = jax.custom_jvp(flat)

    def position_jvp(params, positions, cell, species, i, j, shifts, d_positions, d_cell):
        n = positions.shape[0]
        with_cell = not is_zero(d_cell)
        dtype = positions.dtype
        index, table = species_index(species), position_table(positions)

        def block(carry, i_b, j_b, s_b):
            total, at_j, at_i, w = carry
            d, phi, sq = terms(table, cell, index, i_b, j_b, s_b)
            value, g = jax.jvp(lambda x: phi(params, x), (sq,), (jnp.ones_like(sq),))
            c = 2.0 * g[:, None] * d  # dE/d(r_j - r_i)
            at_j, at_i = add_rows(at_j, j_b, c), add_rows(at_i, i_b, c)
            if with_cell:  # d(S cell)_a / dcell_ba = S_b
                w = w + shift_moment(s_b, c)
            return total + jnp.sum(value), at_j, at_i, w

        zeros = jnp.zeros((n, 3), dtype)  # padding (index n) dropped
        init = (jnp.zeros((), dtype), zeros, zeros, jnp.zeros((3, 3), dtype))
        total, at_j, at_i, w = fold_pairs(block, init, n, i, j, shifts)
        return total, tangent_of_sums(at_j - at_i, w, d_positions, d_cell, dtype)

    def energy_jvp(primals, tangents):
        params, positions, cell, species, i, j, shifts = primals
        d_params, d_positions, d_cell = tangents[:3]
        if is_zero(d_params) and i.shape[0] > 0:
            return position_jvp(params, positions, cell, species, i, j, shifts, d_positions,
                                d_cell)
        args = (params, positions, cell)
        dargs = tuple(instantiate(t, x) for t, x in zip((d_params, d_positions, d_cell), args))
        return jax.jvp(lambda p, x, c: flat(p, x, c, species, i, j, shifts), args, dargs)

    energy.defjvp(energy_jvp, symbolic_zeros=True)
    return energy
