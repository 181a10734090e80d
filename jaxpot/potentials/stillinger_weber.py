"""Stillinger–Weber three-body potential (single or multi-species, LAMMPS ``.sw`` files).

    E = sum_{i<j} phi2(r_ij) + sum_i sum_{j<k} phi3(r_ij, r_ik, theta_jik)
    phi2 = A eps [B (sigma/r)^p - (sigma/r)^q] exp(sigma / (r - a sigma))
    phi3 = lambda eps (cos theta_jik - cos theta0)^2
           exp(gamma sigma / (r_ij - a sigma)) exp(gamma sigma / (r_ik - a sigma))

Parameters per element triplet follow LAMMPS ``pair_style sw``: the pair i-j uses the entry
(i, j, j); the three-body term centred on i uses gamma, sigma, a of (i, j, j) for the i-j leg, of
(i, k, k) for the i-k leg, and lambda, epsilon, cos theta0 of (i, j, k).  Per-atom energies
follow LAMMPS's tally: half of each pair energy to each atom, a third of each triplet energy to
each of its three atoms.  Built-in default: Stillinger & Weber, PRB 31, 5262 (1985) silicon, as
in LAMMPS's ``Si.sw`` (diamond Si at a = 5.431 Å: -4.3366 eV/atom).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from ase.data import atomic_numbers

from jaxpot.cutoffs import safe_norm
from jaxpot.model import (EnergyModel, make_spec, register_model_kind, species_indices,
                          species_lookup)
from jaxpot.neighbors import neighbor_vectors
from jaxpot.potentials.pair import check_triplet_table, select_elements
from jaxpot.potentials.row_slots import pick_first, picked_slots_energy, take_slots

PARAMETER_NAMES = ("epsilon", "sigma", "a", "lambda", "gamma", "costheta0", "A", "B", "p", "q")
# LAMMPS pair_sw's checks (all but cos theta0 >= 0), and lengths sigma, a > 0 where the pair
# term uses them (entries i j j; three-body-only entries may hold zeros, as in GaN.sw)
_RULES = dict(nonnegative=("epsilon", "sigma", "a", "lambda", "gamma", "A", "B", "p", "q"),
              pair_positive=("sigma", "a"))
SILICON_1985 = dict(epsilon=2.1683, sigma=2.0951, a=1.80, **{"lambda": 21.0}, gamma=1.20,
                    costheta0=-1.0 / 3.0, A=7.049556277, B=0.6022245584, p=4.0, q=0.0)


def read_lammps_sw(path: str) -> tuple[list[str], dict[str, np.ndarray]]:
    """Read a LAMMPS ``.sw`` file -> (elements, {name: (S, S, S) array}) with a clear error."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"Stillinger-Weber file {path} does not exist")
    with open(path) as f:
        words = " ".join(line.split("#", 1)[0] for line in f).split()
    if not words or len(words) % 14:
        raise ValueError(f"{path}: expected entries of 14 fields (3 elements + 11 numbers), "
                         f"found {len(words)} fields")
    entries = [words[k:k + 14] for k in range(0, len(words), 14)]
    elements: list[str] = []
    for e in entries:
        for name in e[:3]:
            if name not in atomic_numbers:
                raise ValueError(f"{path}: unknown element {name!r}")
            if name not in elements:
                elements.append(name)
    s = len(elements)
    table = {k: np.zeros((s, s, s)) for k in PARAMETER_NAMES}
    seen = np.zeros((s, s, s), dtype=bool)
    for e in entries:
        i, j, k = (elements.index(x) for x in e[:3])
        for name, text in zip(PARAMETER_NAMES + ("tol",), e[3:]):
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"{path}: non-numeric {name} {text!r} in entry "
                                 f"{' '.join(e[:3])}") from None
            if name != "tol":
                table[name][i, j, k] = value
        seen[i, j, k] = True
    if not seen.all():
        i, j, k = np.argwhere(~seen)[0]
        raise ValueError(f"{path}: no entry for triplet {elements[i]} {elements[j]} {elements[k]}")
    return elements, check_triplet_table(table, PARAMETER_NAMES, elements, path, **_RULES)


def stillinger_weber(path: str | None = None, species=None, params: dict | None = None,
                     cutoff: float | None = None) -> EnergyModel:
    """Stillinger–Weber model.

    Args:
        path: LAMMPS ``.sw`` file; None uses the built-in 1985 silicon parameters.
        species: element symbols to use, a subset of the file's (default: all elements in the
            file, in file order).
        params: {name: (S,S,S)} parameter arrays (used when rebuilding a saved model).
        cutoff: Å; default the largest a*sigma (given when rebuilding a saved model,
            whose placeholder parameters do not determine it).

    Parameters must be finite, >= 0 except cos theta0 (as LAMMPS requires), and sigma, a > 0
    on the pair entries (i, j, j); a ValueError names the parameter and element triplet.
    """
    if params is not None:
        if species is None:
            raise ValueError("params need species: the element of each table index")
        elements = list(species)
        table = check_triplet_table(params, PARAMETER_NAMES, elements, "params", **_RULES)
    elif path is None:
        elements = ["Si"] if species is None else list(species)
        if elements != ["Si"]:
            raise ValueError("built-in Stillinger-Weber parameters are for Si only")
        table = {k: np.full((1, 1, 1), v) for k, v in SILICON_1985.items()}
    else:
        elements, table = select_elements(*read_lammps_sw(path), species, path)
    unknown = [e for e in elements if e not in atomic_numbers]
    if unknown:
        raise ValueError(f"unknown element symbols {unknown}")
    zs = tuple(int(atomic_numbers[e]) for e in elements)
    lookup = species_lookup(zs)
    cutoff = float(cutoff) if cutoff is not None else float(np.max(table["a"] * table["sigma"]))
    terms = _terms_fn(lookup, len(zs) == 1)
    spec = make_spec("stillinger_weber", __name__, species=elements, cutoff=cutoff,
                     shapes={k: list(v.shape) for k, v in table.items()})
    return EnergyModel(energy_fn=_energy_fn(terms),
                       params={k: jnp.asarray(v) for k, v in table.items()}, cutoff=cutoff,
                       species=zs, atomic_energies_fn=_atomic_energies_fn(terms), spec=spec,
                       name="stillinger_weber", cpu_fusions=False)  # MD 1.3x faster without


def from_spec(config: dict) -> EnergyModel:
    shapes = config["shapes"]
    return stillinger_weber(species=config["species"],
                            params={k: np.ones(shapes[k]) for k in PARAMETER_NAMES},
                            cutoff=config.get("cutoff"))


#: three-body slots: when a list holds more slots, the triplets run over the first 6 or
#: TRIPLET_SLOTS neighbors inside the SW cutoff (a list with skin holds second and third shells
#: that no triplet reaches); an atom with more falls back to all slots (exact always; see
#: :mod:`jaxpot.potentials.row_slots`)
TRIPLET_SLOTS = 12
#: atoms per block of the all-slots fallback under a list with many slots (bounds its memory)
FALLBACK_BLOCK = 256


def _slot_terms(params, single: bool, vectors, mask, index, sj):
    """Per neighbor slot (N, K): pair energy phi2, unit vectors (N, K, 3), the three-body
    radial factor g and the mask of slots inside the SW cutoff."""
    r = safe_norm(vectors, mask)
    if single:
        def pair(name):
            return params[name][0, 0, 0]
    else:
        si = index[:, None]

        def pair(name):  # entry (i, j, j) for each neighbor slot, (N, K)
            return params[name][si, sj, sj]
    sigma, cut = pair("sigma"), pair("a") * pair("sigma")
    # beyond (1 - 1e-8) * cut the exponential factors are exactly 0 in float64
    within = mask & (r < cut * (1.0 - 1e-8))
    rs = jnp.where(within, r, 0.5 * cut)
    inv = 1.0 / (rs - cut)
    log_x = jnp.log(sigma / rs)  # (sigma/r)^p and ^q from one logarithm (pow is exp(log))
    phi2 = pair("A") * pair("epsilon") * (pair("B") * jnp.exp(pair("p") * log_x)
                                          - jnp.exp(pair("q") * log_x)) * jnp.exp(sigma * inv)
    phi2 = jnp.where(within, phi2, 0.0)
    g = jnp.where(within, jnp.exp(pair("gamma") * sigma * inv), 0.0)
    return phi2, vectors / rs[..., None], g, within


def _first_slots(within, unit, g, idx, sj, count: int):
    """``unit, g, idx, sj`` (N, K, ...) reduced to the first ``count`` slots inside the cutoff
    of each row, in slot order (None entries pass through); rows with fewer get g = 0."""
    sel, valid = pick_first(within, count)
    unit, g, idx, sj = [None if a is None else take_slots(a, sel) for a in (unit, g, idx, sj)]
    return unit, jnp.where(valid, g, 0.0), idx, sj


def _three_body_rows(single: bool):
    """``row_energy(params, vectors, within, sj, index) -> (B,)`` three-body energy of each
    center over the ordered pairs of its slots (for :func:`picked_slots_energy`)."""
    def row_energy(params, vectors, within, sj, index):
        _, unit, g, _ = _slot_terms(params, single, vectors, within, index, sj)
        return _three_body(params, single, index, unit, g, None, sj, False)[0]
    return row_energy


def _terms_fn(lookup: np.ndarray, single: bool):
    """``terms(params, positions, cell, species, neighbors, to_neighbors) -> (phi2 (N,K),
    e3 (N,) or its sum, e3_neighbors (N,) or None)``: pair energies per neighbor slot, the
    three-body energy over the ordered neighbor pairs (j, k) of each center (summed over
    centers on the ``total`` path of lists with many slots), and (if asked) the same energy
    credited to the neighbors j (for LAMMPS's per-atom tally)."""
    three_body_rows = _three_body_rows(single)

    def terms(params, positions, cell, species, neighbors, to_neighbors=False):
        vectors, mask = neighbor_vectors(positions, cell, neighbors)
        index = sj = None
        if not single:
            index, sj = species_indices(lookup, species, neighbors)
        phi2, unit, g, within = _slot_terms(params, single, vectors, mask, index, sj)
        slots = (unit, g, neighbors.idx, sj)

        def all_slots():
            return _three_body(params, single, index, *slots, to_neighbors)

        k = neighbors.idx.shape[1]
        if k <= TRIPLET_SLOTS:
            return (phi2,) + all_slots()
        if not to_neighbors:  # the first 6 or TRIPLET_SLOTS slots inside, else all in blocks
            total = picked_slots_energy(three_body_rows,
                                        sorted({min(6, TRIPLET_SLOTS), TRIPLET_SLOTS}),
                                        FALLBACK_BLOCK)
            return phi2, total(params, vectors, within, sj, index), None

        def first_slots():
            return _three_body(params, single, index,
                               *_first_slots(within, *slots, TRIPLET_SLOTS), to_neighbors)

        fits = jnp.max(jnp.sum(within, axis=1)) <= TRIPLET_SLOTS
        return (phi2,) + jax.lax.cond(fits, first_slots, all_slots)

    return terms


def _three_body(params, single: bool, index, unit, g, idx, sj, to_neighbors: bool):
    """Three-body energy per center (N,) over the ordered slot pairs of ``unit`` (N, S, 3)
    and ``g`` (N, S), and credited to the neighbors ``idx`` (N, S) when asked."""
    if single:
        lam_eps = params["lambda"][0, 0, 0] * params["epsilon"][0, 0, 0]
        cos0 = params["costheta0"][0, 0, 0]
    else:
        si3, sj3, sk3 = index[:, None, None], sj[:, :, None], sj[:, None, :]
        lam_eps = params["lambda"][si3, sj3, sk3] * params["epsilon"][si3, sj3, sk3]
        cos0 = params["costheta0"][si3, sj3, sk3]
    cos = jnp.einsum("nja,nka->njk", unit, unit)
    off_diagonal = ~jnp.eye(unit.shape[1], dtype=bool)
    phi3 = jnp.where(off_diagonal, lam_eps * (cos - cos0) ** 2 * g[:, :, None] * g[:, None, :],
                     0.0)
    if not to_neighbors:
        return jnp.sum(phi3, axis=(1, 2)), None
    n = unit.shape[0]
    credited = jnp.zeros(n + 1, phi3.dtype).at[idx].add(jnp.sum(phi3, axis=2))[:n]
    return jnp.sum(phi3, axis=(1, 2)), credited


def _energy_fn(terms):
    def energy(params, positions, cell, species, neighbors):
        phi2, e3, _ = terms(params, positions, cell, species, neighbors)
        return 0.5 * jnp.sum(phi2) + 0.5 * jnp.sum(e3)  # pairs and triplets are seen twice
    return energy


def _atomic_energies_fn(terms):
    def atomic_energies(params, positions, cell, species, neighbors):
        phi2, e3, e3_neighbors = terms(params, positions, cell, species, neighbors,
                                       to_neighbors=True)
        # triplet (j, i, k) appears for j<k and k<j: each ordered pair carries half its energy,
        # and LAMMPS gives a third of a triplet's energy to each of its three atoms
        return 0.5 * jnp.sum(phi2, axis=1) + e3 / 6.0 + e3_neighbors / 3.0

    return atomic_energies


register_model_kind("stillinger_weber", from_spec)
