"""Pair energy over the full (N, K) neighbor rows with a derivative that never scatters.

``E = 1/2 sum_i sum_k phi(r_ik)`` over every atom's row.  Autodiff of the gather ``r_k``
would make its reverse pass a scatter-add over all pairs, which XLA:CPU runs slowly.  A full
list is symmetric: the entry ``(i, k, S)`` has its mirror ``(k, i, -S)`` with the same
distance, the same mask and (for a symmetric ``phi``) the same ``g = dphi/d(r^2)``, so the
position part of the tangent ``sum_rows g d_ik . (dr_k - dr_i)`` equals
``-2 sum_i (sum_k g_ik d_ik) . dr_i``: a row reduction.  That identity is the JVP rule of a
``custom_jvp``, so reverse mode (forces, stress), forward mode and higher derivatives (force
constants, elastic constants) all follow from it, and parameters stay differentiable.

Systems of more than ``2 * ROW_BLOCK`` atoms take the float64 derivative in blocks of rows
(``lax.map``), so the (N, K) temporaries stay in cache.

Requires ``phi(params, r, s_i, s_j) = phi(params, r, s_j, s_i)`` (true for the symmetric
(S, S) parameter matrices of :func:`jaxpot.potentials.pair.pair_matrix`) and a complete
list (an overflowed list is flagged and rebuilt by the drivers before its result is used).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.tangents import instantiate, is_zero
from jaxpot.types import Array


def _table(positions: Array) -> Array:
    """(3, N+1) positions by component, with a zero column N for padding slots."""
    return jnp.concatenate([positions, jnp.zeros((1, 3), positions.dtype)], axis=0).T


def _offsets(shifts: Array, cell: Array, dtype) -> list[Array]:
    """Image offsets ``S cell`` of shifts (..., 3) as three (...) arrays, Å."""
    s = [shifts[..., b].astype(dtype) for b in range(3)]
    return [s[0] * cell[0, a] + s[1] * cell[1, a] + s[2] * cell[2, a] for a in range(3)]


def _row_vectors(table: Array, centers: Array, cell: Array, idx: Array, shifts: Array
                 ) -> list[Array]:
    """``r_k - r_i + S cell`` of rows ``idx`` (B, K) centred on ``centers`` (B, 3)."""
    offsets = _offsets(shifts, cell, centers.dtype)
    return [table[a][idx] - centers[:, a, None] + offsets[a] for a in range(3)]


def row_components(positions: Array, cell: Array, idx: Array, shifts: Array) -> list[Array]:
    """Pair vectors ``r_k - r_i + S cell`` as three (N, K) arrays (x, y, z), Å.

    Component-wise gathers from a (3, N+1) table: XLA:CPU gathers and reduces these faster
    than (N, K, 3) vectors."""
    return _row_vectors(_table(positions), positions, cell, idx, shifts)


def half_components(positions: Array, cell: Array, i: Array, j: Array, shifts: Array
                    ) -> list[Array]:
    """Half-list pair vectors ``r_j - r_i + S cell`` as three (E,) arrays, Å (padding index
    N reads a zero row); their reverse pass scatters scalars, cheaper than (E, 3) rows."""
    table = _table(positions)
    offsets = _offsets(shifts, cell, positions.dtype)
    return [table[a][j] - table[a][i] + offsets[a] for a in range(3)]


def row_sums(c: Array, d: list[Array], shifts: Array, with_cell: bool):
    """``sum_k c_ik d_ik`` (N, 3) and, if asked, ``sum_rows c d_a S_b`` (3, 3) (else None):
    the row reductions of :func:`rows_tangent`."""
    force = jnp.stack([jnp.sum(c * d[a], axis=1) for a in range(3)], axis=-1)
    if not with_cell:
        return force, None
    s = [shifts[..., b].astype(c.dtype) for b in range(3)]
    return force, jnp.stack([jnp.stack([jnp.sum(s[b] * c * d[a]) for a in range(3)])
                             for b in range(3)])


def tangent_of_sums(grad: Array, w, d_positions, d_cell, dtype) -> Array:
    """``sum_i grad_i . dr_i + sum w dcell`` for the position gradient ``grad`` (N, 3) and
    cell gradient ``w`` (3, 3) of an energy (symbolic-zero tangents skipped)."""
    out = jnp.zeros((), dtype)
    if not is_zero(d_positions):
        out = out + jnp.sum(grad * d_positions)
    if not is_zero(d_cell):
        out = out + jnp.sum(w * d_cell)
    return out


def rows_tangent(c: Array, d: list[Array], shifts: Array, d_positions, d_cell) -> Array:
    """``sum_rows c_ik d_ik . (dr_k - dr_i + S_ik dcell)`` for a coefficient ``c`` (N, K) that
    is equal on mirror entries (``c_ik = c_ki``), zero on padding; ``d`` from
    :func:`row_components`; tangents may be symbolic zeros.

    The position part is the row reduction ``-2 sum_i (sum_k c_ik d_ik) . dr_i``."""
    force, w = row_sums(c, d, shifts, not is_zero(d_cell))
    return tangent_of_sums(-2.0 * force, w, d_positions, d_cell, c.dtype)


#: rows per block of the derivative of large systems (more than twice as many atoms)
ROW_BLOCK = 2048


def distance_argument(sq: Array, squared: bool) -> Array:
    """What a pair function takes: ``r^2`` itself (``squared``, Å^2) or ``r`` (Å).

    A square root and the divisions of its derivative cost 4x the rest of an LJ term on
    XLA:CPU (1.6 M float64 pairs: 13 ms against 3 ms), so functions of ``r^2`` skip it."""
    return sq if squared else jnp.sqrt(sq)


def rows_pair_energy_fn(pair_fn, cutoff: float, lookup: np.ndarray | None,
                        squared: bool = False):
    """``energy(params, positions, cell, species, idx, shifts) -> eV``: the pair sum over
    full rows ``idx`` (N, K) (padding index N) with shifts (N, K, 3), pairs with
    ``r < cutoff`` only; ``lookup`` maps atomic number -> species index (None: one species);
    ``squared``: ``pair_fn`` takes ``r^2`` rather than ``r``."""
    rc2 = float(cutoff) ** 2

    def indices(species):
        """Species index of every atom, padded with 0 at N (None for one species)."""
        if lookup is None:
            return None
        return jnp.concatenate([jnp.asarray(lookup)[species], jnp.zeros((1,), jnp.int32)])

    def pieces(table, centers, cell, idx, shifts, index, index_i, n: int):
        """Row vectors, r^2 and ``phi(params, r^2)`` of rows ``idx`` (B, K) of B centers."""
        d = _row_vectors(table, centers, cell, idx, shifts)
        sq = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
        within = (idx < n) & (sq < rc2)  # two atoms at one point stay in: phi(0) = inf
        ii, jj = (0, 0) if index is None else (index_i[:, None], index[idx])

        def phi(params, x):
            r = distance_argument(jnp.where(within, x, rc2), squared)  # padding: finite
            return jnp.where(within, pair_fn(params, r, ii, jj), 0.0)

        return d, sq, phi

    def all_rows(positions, cell, species, idx, shifts):
        n = positions.shape[0]
        index = indices(species)
        return pieces(_table(positions), positions, cell, idx, shifts, index,
                      None if index is None else index[:n], n)

    @jax.custom_jvp
    def energy(params, positions, cell, species, idx, shifts):
        _, sq, phi = all_rows(positions, cell, species, idx, shifts)
        return 0.5 * jnp.sum(phi(params, sq))

    def blocked_jvp(params, positions, cell, species, idx, shifts, d_positions, d_cell):
        """The position and cell tangent ROW_BLOCK rows at a time (lax.map): the (N, K)
        temporaries of large systems stay in cache (32,000 LJ atoms: 1.3x faster)."""
        n = idx.shape[0]
        pad = -n % ROW_BLOCK
        index = indices(species)
        table = _table(positions)
        rows = (idx, shifts, positions, jnp.zeros((n,), jnp.int32) if index is None
                else index[:n])
        blocks = [jnp.concatenate([a, jnp.full((pad,) + a.shape[1:], fill, a.dtype)]).reshape(
            (-1, ROW_BLOCK) + a.shape[1:]) for a, fill in zip(rows, (n, 0, 0, 0))]
        with_cell = not is_zero(d_cell)

        def block(args):
            idx_b, shifts_b, centers, index_i = args
            d, sq, phi = pieces(table, centers, cell, idx_b, shifts_b, index, index_i, n)
            e, g = jax.jvp(lambda x: phi(params, x), (sq,), (jnp.ones_like(sq),))
            force, w = row_sums(g, d, shifts_b, with_cell)
            return jnp.sum(e), force, (jnp.zeros((3, 3), e.dtype) if w is None else w)

        e, force, w = jax.lax.map(block, blocks)
        return 0.5 * jnp.sum(e), tangent_of_sums(-2.0 * force.reshape(-1, 3)[:n],
                                                 jnp.sum(w, axis=0), d_positions, d_cell,
                                                 e.dtype)

    def energy_jvp(primals, tangents):
        params, positions, cell, species, idx, shifts = primals
        d_params, d_positions, d_cell = tangents[:3]
        # measured on XLA:CPU, 32,000 LJ atoms: blocks help float64 (67 -> 52 ms) and slow
        # float32 down (36 -> 41 ms), whose temporaries are half the size
        if (idx.shape[0] > 2 * ROW_BLOCK and positions.dtype.itemsize == 8
                and is_zero(d_params)):
            return blocked_jvp(params, positions, cell, species, idx, shifts, d_positions,
                               d_cell)
        d, sq, phi = all_rows(positions, cell, species, idx, shifts)
        e, g = jax.jvp(lambda x: phi(params, x), (sq,), (jnp.ones_like(sq),))
        # E = 1/2 sum_rows phi(sq): dE = sum_rows g d . dd
        out = rows_tangent(g, d, shifts, d_positions, d_cell)
        if not is_zero(d_params):
            d_params = instantiate(d_params, params)
            out = out + 0.5 * jnp.sum(jax.jvp(lambda p: phi(p, sq), (params,), (d_params,))[1])
        return 0.5 * jnp.sum(e), out

    energy.defjvp(energy_jvp, symbolic_zeros=True)
    return energy
