"""Lift a pair function ``phi(params, r, species_i, species_j)`` into an energy model.

Shared by Lennard-Jones, Morse and any other pairwise-additive term: the energy sums ``phi``
over the neighbor list's full rows when it has them (each pair twice, halved; forces by row
reductions, :mod:`jaxpot.potentials.pair_rows`), else over its half list (each pair once;
:mod:`jaxpot.potentials.pair_half`);
each atom gets half of each of its pair energies.  Also parameter
checks shared by the potentials (:func:`pair_matrix`, :func:`check_triplet_table`): bad
input raises ValueError naming the parameter and value.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

from jaxpot.cutoffs import safe_norm
from jaxpot.model import EnergyModel, species_indices
from jaxpot.neighbors import neighbor_vectors
from jaxpot.potentials.pair_half import half_pair_energy_fn
from jaxpot.potentials.pair_rows import distance_argument, half_components, rows_pair_energy_fn
from jaxpot.types import Array

PairFn = Callable[[object, Array, Array, Array], Array]
"""``phi(params, r (N,K) Å, index_i (N,1), index_j (N,K)) -> (N,K) eV`` (species indices;
both are the int 0 for single-species models); with ``squared=True`` its second argument is
``r^2`` (Å^2), which spares functions of ``r^2`` (Lennard-Jones) a square root."""


def _pair_terms(pair_fn: PairFn, cutoff: float, lookup: np.ndarray | None, squared: bool,
                params, positions, cell, species, neighbors):
    """``(i, j, phi)`` over each pair once (the half list), ``phi`` zero beyond the cutoff."""
    i, j = neighbors.half_i, neighbors.half_j
    d = half_components(positions, cell, i, j, neighbors.half_shifts)
    sq = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
    # two atoms at one point stay in: phi(0) = inf
    within = (i < positions.shape[0]) & (sq < cutoff * cutoff)
    # padding: finite gradients
    r_safe = distance_argument(jnp.where(within, sq, cutoff * cutoff), squared)
    if lookup is None:  # one species: scalar parameters, no per-pair gathers
        phi = pair_fn(params, r_safe, 0, 0)
    else:
        index = jnp.concatenate([jnp.asarray(lookup)[species], jnp.zeros((1,), jnp.int32)])
        phi = pair_fn(params, r_safe, index[i], index[j])
    return i, j, jnp.where(within, phi, 0.0)


def pair_atomic_energies_fn(pair_fn: PairFn, cutoff: float, lookup: np.ndarray | None,
                            squared: bool = False):
    """Per-atom energy function ``0.5 * sum_j phi(r_ij)`` over pairs with ``r_ij < cutoff``.

    ``lookup`` maps atomic number -> species index (None: single species, index 0).
    ``phi`` is evaluated at ``r = cutoff`` for masked entries, so it must be finite there.
    Uses the neighbor list's half list when it has one (each pair once), else the full rows.
    """

    def atomic_energies(params, positions, cell, species, neighbors) -> Array:
        n = positions.shape[0]
        if getattr(neighbors, "half_i", None) is not None:
            i, j, phi = _pair_terms(pair_fn, cutoff, lookup, squared, params, positions, cell,
                                    species, neighbors)
            half = 0.5 * phi
            return jnp.zeros(n + 1, phi.dtype).at[i].add(half).at[j].add(half)[:n]
        vectors, mask = neighbor_vectors(positions, cell, neighbors)
        r = safe_norm(vectors, mask)
        within = mask & (r < cutoff)
        r_safe = jnp.where(within, r, cutoff)
        if squared:
            r_safe = r_safe * r_safe
        if lookup is None:
            phi = pair_fn(params, r_safe, 0, 0)
        else:
            index, nb_index = species_indices(lookup, species, neighbors)
            phi = pair_fn(params, r_safe, index[:, None], nb_index)
        return 0.5 * jnp.sum(jnp.where(within, phi, 0.0), axis=1)

    return atomic_energies


def has_rows(neighbors) -> bool:
    """True when ``neighbors`` carries dense (N, K) rows with at least one slot."""
    idx = getattr(neighbors, "idx", None)
    return getattr(neighbors, "rows", True) and idx is not None and idx.shape[-1] > 0


def pair_energy_fn(pair_fn: PairFn, cutoff: float, lookup: np.ndarray | None,
                   squared: bool = False):
    """Total energy ``sum_{pairs} phi(r)``: over the full rows when the list has them (a
    derivative without scatter-adds, :mod:`jaxpot.potentials.pair_rows`), else over the half
    list (each pair once, a derivative that scatters each pair once,
    :mod:`jaxpot.potentials.pair_half`)."""
    on_rows = rows_pair_energy_fn(pair_fn, cutoff, lookup, squared)
    on_half = half_pair_energy_fn(pair_fn, cutoff, lookup, squared)

    def energy(params, positions, cell, species, neighbors) -> Array:
        if has_rows(neighbors):
            return on_rows(params, positions, cell, species, neighbors.idx, neighbors.shifts)
        return on_half(params, positions, cell, species, neighbors.half_i, neighbors.half_j,
                       neighbors.half_shifts)

    return energy


def pair_model(pair_fn: PairFn, params, cutoff: float, species, spec: str,
               name: str, *, squared: bool = False) -> EnergyModel:
    """Build an :class:`EnergyModel` from a pair function (see :func:`pair_atomic_energies_fn`;
    ``squared``: it takes ``r^2``)."""
    from jaxpot.model import species_lookup
    lookup = None if species is None else species_lookup(species)
    return EnergyModel(energy_fn=pair_energy_fn(pair_fn, cutoff, lookup, squared), params=params,
                       cutoff=float(cutoff),
                       species=None if species is None else tuple(int(z) for z in species),
                       atomic_energies_fn=pair_atomic_energies_fn(pair_fn, cutoff, lookup,
                                                                  squared),
                       spec=spec, name=name, uses_rows=False)


def pair_matrix(value, n_species: int, name: str, *, positive: bool = False,
                nonnegative: bool = False) -> np.ndarray:
    """Scalar or (S,S) symmetric array -> (S,S) float array, with a clear error otherwise.

    Every entry must be finite, and > 0 (``positive``) or >= 0 (``nonnegative``) if asked;
    the error names the parameter, the offending entry and its value.
    """
    try:
        if np.asarray(value).dtype.kind in "USb":  # "3.4" would convert silently
            raise TypeError
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or an (S, S) array of numbers, "
                         f"got {value!r}") from None
    scalar = arr.ndim == 0
    if scalar:
        arr = np.full((n_species, n_species), float(arr))
    elif arr.shape != (n_species, n_species):
        raise ValueError(f"{name} must be a scalar or ({n_species}, {n_species}), got {arr.shape}")
    check_values(arr, name, positive=positive, nonnegative=nonnegative, scalar=scalar)
    if not np.allclose(arr, arr.T):
        raise ValueError(f"{name} must be symmetric")
    return arr


def check_values(arr, name: str, *, positive: bool = False, nonnegative: bool = False,
                 scalar: bool = False) -> None:
    """Raise ValueError naming ``name``, the first bad entry and its value unless every entry
    of ``arr`` is finite (and > 0 if ``positive``, >= 0 if ``nonnegative``)."""
    arr = np.asarray(arr, dtype=float)
    bad = ~np.isfinite(arr)
    rule = "finite"
    if positive:
        bad |= ~(arr > 0)
        rule = "positive and finite"
    elif nonnegative:
        bad |= ~(arr >= 0)
        rule = "non-negative and finite"
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        label = name if scalar or arr.ndim == 0 else f"{name}[{', '.join(map(str, index))}]"
        raise ValueError(f"{label} must be {rule}, got {float(arr[index])}")


def check_triplet_table(table: dict, names: tuple[str, ...], elements, source: str, *,
                        nonnegative=(), positive=(), pair_positive=()) -> dict[str, np.ndarray]:
    """Check a three-body parameter table ``{name: (S, S, S)}`` -> float arrays.

    Every entry must be finite; names in ``nonnegative`` >= 0 and in ``positive`` > 0 for every
    element triplet, names in ``pair_positive`` > 0 on the pair entries (i, j, j).  Errors name
    ``source`` (file name or "params"), the parameter, the element triplet and the value.
    """
    missing = [k for k in names if k not in table]
    unknown = sorted(set(table) - set(names))
    if missing or unknown:
        raise ValueError(f"{source}: parameter table needs exactly {list(names)}; "
                         f"missing {missing}, unknown {unknown}")
    s = len(elements)
    out = {}
    for k in names:
        try:
            arr = np.asarray(table[k], dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"{source}: parameter {k} is not an array of numbers") from None
        if arr.shape != (s, s, s):
            raise ValueError(f"{source}: parameter {k} has shape {arr.shape}, expected "
                             f"{(s, s, s)} for elements {list(elements)}")
        out[k] = arr
    pair_entry = np.broadcast_to(np.eye(s, dtype=bool)[None], (s, s, s))
    for k, arr in out.items():
        bad, rule = ~np.isfinite(arr), "finite"
        if k in positive:
            bad, rule = bad | ~(arr > 0), "positive and finite"
        elif k in nonnegative:
            bad, rule = bad | ~(arr >= 0), "non-negative and finite"
        if k in pair_positive and not bad.any():
            bad, rule = pair_entry & ~(arr > 0), "positive on a pair entry (i, j, j)"
        if bad.any():
            i, j, l = np.argwhere(bad)[0]
            raise ValueError(f"{source}: parameter {k} of triplet {elements[i]} {elements[j]} "
                             f"{elements[l]} must be {rule}, got {float(arr[i, j, l])}")
    return out
