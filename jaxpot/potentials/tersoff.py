"""Tersoff bond-order potential from LAMMPS ``.tersoff`` files (``pair_style tersoff``).

    E = sum_{i<j} fC(r_ij) A e^{-lambda1 r_ij}
        - 1/2 sum_i sum_{j!=i} fC(r_ij) b_ij B e^{-lambda2 r_ij}
    b_ij = (1 + (beta zeta_ij)^n)^(-1/(2n))
    zeta_ij = sum_{k!=i,j} fC(r_ik) g(theta_ijk) exp[(lambda3 (r_ij - r_ik))^m]   (m = 3 or 1)
    g = gamma (1 + c^2/d^2 - c^2 / (d^2 + (cos theta - h)^2))
    fC = 1, 1/2 - 1/2 sin(pi/2 (r - R)/D), 0   for r < R-D, |r - R| <= D, r > R+D

Parameter convention (LAMMPS): pair terms and b_ij use entry (i, j, j); the zeta sum uses entry
(i, j, k) for m, gamma, lambda3, c, d, h and for the cutoff R, D of r_ik.  b_ij uses LAMMPS's
asymptotic forms where they equal the exact one to 1e-16.  Per-atom energies follow LAMMPS's
tally (each pair energy split equally between its two atoms).  Where a file's entries (i, j, j)
and (j, i, i) differ (``SiC_1989.tersoff``: A in the 7th digit), LAMMPS computes the repulsion
of a pair once, with the entry of the atom its id parity picks; jaxpot, symmetric in the atoms,
takes both at half weight (the mean of LAMMPS over the atoms in one order and reversed).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxpot.cutoffs import safe_norm
from jaxpot.elements import element_numbers, element_symbols
from jaxpot.model import (
    EnergyModel,
    make_spec,
    register_model_kind,
    species_indices,
    species_lookup,
)
from jaxpot.neighbors import neighbor_vectors
from jaxpot.potentials.pair import check_triplet_table
from jaxpot.potentials.triplet_files import read_mapped_triplets
from jaxpot.row_slots import picked_slots_energy

PARAMETER_NAMES = ("m", "gamma", "lambda3", "c", "d", "h", "n", "beta", "lambda2", "B", "R", "D",
                   "lambda1", "A")
# LAMMPS pair_tersoff's checks, plus R > 0, d > 0 (g divides by d^2) and n > 0 on the pair
# entries (i, j, j), whose b_ij has the exponent -1/(2n); D = 0 (a step at R) is allowed
_RULES = dict(nonnegative=("gamma", "c", "n", "beta", "lambda2", "B", "D", "lambda1", "A"),
              positive=("R", "d"), pair_positive=("n",))


def read_lammps_tersoff(path: str, species=None) -> tuple[list[str], dict[str, np.ndarray]]:
    """Read a LAMMPS ``.tersoff`` file -> (elements, {name: (S, S, S)}) with clear errors
    (files of other styles, such as ``.gw`` or ``.tersoff.mod``, are refused by name).
    ``species`` maps elements to the file's labels as ``pair_coeff`` does (see
    :func:`tersoff`); only the triplets of the mapped labels are read and required."""
    elements, labels, table = read_mapped_triplets(path, "tersoff", PARAMETER_NAMES,
                                                   "jaxpot.potentials.tersoff", species)
    return elements, check_table(table, labels, path)


def check_table(table: dict, elements, source: str) -> dict[str, np.ndarray]:
    """Checked float tables (see ``_RULES``; also m in {1, 3} and D <= R, as LAMMPS)."""
    table = check_triplet_table(table, PARAMETER_NAMES, elements, source, **_RULES)
    for name, bad, rule in (("m", ~np.isin(table["m"], (1.0, 3.0)), "1 or 3 (as in LAMMPS)"),
                            ("D", table["D"] > table["R"], "<= R (as in LAMMPS)")):
        if bad.any():
            i, j, k = np.argwhere(bad)[0]
            raise ValueError(f"{source}: parameter {name} of triplet {elements[i]} {elements[j]} "
                             f"{elements[k]} must be {rule}, got {float(table[name][i, j, k])}")
    return table


def tersoff(path: str, species=None, params: dict | None = None,
            cutoff: float | None = None) -> EnergyModel:
    """Tersoff model from a LAMMPS ``.tersoff`` file (e.g. ``Si.tersoff``, ``SiC.tersoff``).

    ``species``: the elements to use and the file label of each, as the element names of a
    ``pair_coeff`` line: None (all labels of the file, each an element symbol), a list of
    element symbols (``["Si", "C"]``), or ``{element: label}`` for labels that are not
    symbols (``SiCGe.tersoff``: ``{"Si": "Si(D)", "C": "C", "Ge": "Ge"}``).  Only the triplets
    of the mapped labels must be in the file (a missing one is named), as in LAMMPS.
    ``params``: {name: (S,S,S)} arrays with ``species`` (used when rebuilding a saved model).
    Parameters are checked as LAMMPS does (finite, >= 0, m in {1, 3}, D <= R) and R, d > 0;
    a ValueError names the parameter and element triplet.
    """
    if params is not None:
        if species is None:
            raise ValueError("params need species: the element of each table index")
        elements = element_symbols(species, "species")
        table = check_table(params, elements, "params")
    else:
        elements, table = read_lammps_tersoff(path, species)
    zs = element_numbers(elements, "species")
    cutoff = float(cutoff) if cutoff is not None else float(np.max(table["R"] + table["D"]))
    terms = _terms_fn(species_lookup(zs))
    spec = make_spec("tersoff", __name__, species=elements, cutoff=cutoff,
                     shapes={k: list(v.shape) for k, v in table.items()})

    def energy(p, positions, cell, species_z, neighbors):
        return terms(p, positions, cell, species_z, neighbors, total=True)

    def atomic(p, positions, cell, species_z, neighbors):
        pair = terms(p, positions, cell, species_z, neighbors)  # (N, K) energy of slot i->j
        n = positions.shape[0]
        back = jnp.zeros(n + 1, positions.dtype).at[neighbors.idx].add(0.5 * pair)[:n]
        return 0.5 * jnp.sum(pair, axis=1) + back

    return EnergyModel(energy_fn=energy, params={k: jnp.asarray(v) for k, v in table.items()},
                       cutoff=cutoff, species=zs, atomic_energies_fn=atomic, spec=spec,
                       name="tersoff")


def from_spec(config: dict) -> EnergyModel:
    shapes = config["shapes"]
    return tersoff("", species=config["species"],
                   params={k: np.ones(shapes[k]) for k in PARAMETER_NAMES},
                   cutoff=config.get("cutoff"))


def _fc(r, big_r, big_d):
    # D = 0 (SiC_1990.tersoff) is a step at R: keep the unused branch finite (no NaN gradient)
    mid = 0.5 * (1.0 - jnp.sin(0.5 * jnp.pi * (r - big_r) / jnp.where(big_d > 0, big_d, 1.0)))
    return jnp.where(r < big_r - big_d, 1.0, jnp.where(r > big_r + big_d, 0.0, mid))


def _bond_order(zeta, beta, n):
    """LAMMPS ters_bij with its asymptotic branches (each exact to 1e-16 where used)."""
    tmp = jnp.maximum(beta * zeta, 0.0)
    safe = jnp.where(tmp > 0, tmp, 1.0)
    c1 = (2.0 * n * 1.0e-16) ** (-1.0 / n)
    c2 = (2.0 * n * 1.0e-8) ** (-1.0 / n)
    c3 = 1.0 / c2
    c4 = 1.0 / c1
    exact = (1.0 + safe ** n) ** (-1.0 / (2.0 * n))
    return jnp.where(tmp > c1, 1.0 / jnp.sqrt(safe),
                     jnp.where(tmp > c2, (1.0 - safe ** (-n) / (2.0 * n)) / jnp.sqrt(safe),
                               jnp.where(tmp < c4, 1.0,
                                         jnp.where(tmp < c3, 1.0 - safe ** n / (2.0 * n),
                                                   exact))))


#: many-slot rows: the bond orders run over the first 6 or TRIPLET_SLOTS neighbors inside the
#: cutoff (all slots when an atom has more; see :mod:`jaxpot.row_slots`)
TRIPLET_SLOTS = 12


def _slot_energies(p, vectors, within, nb, index):
    """Per-slot energies (B, S): slot (i, j) carries fC fR / 2 + fC b_ij fA / 2, from the
    slots of B centers (``within``: inside the pair cutoff; ``nb`` (B, S), ``index`` (B,)
    species indices)."""
    r = safe_norm(vectors, within)
    si = index[:, None]
    single = p["R"].shape == (1, 1, 1)  # one element: scalars, no per-slot gathers

    def pair(name):  # entry (i, j, j)
        return p[name][0, 0, 0] if single else p[name][si, nb, nb]

    def triplet(name):  # entry (i, j, k): (B, S, S)
        return (p[name][0, 0, 0] if single
                else p[name][si[:, :, None], nb[:, :, None], nb[:, None, :]])

    rs = jnp.where(within, r, 0.5 * (pair("R") + pair("D")))
    fc = jnp.where(within, _fc(rs, pair("R"), pair("D")), 0.0)
    # zeta_ij: k runs over the other neighbour slots of i within the (i, j, k) cutoff
    k_slots = r.shape[1]
    rk = rs[:, None, :]
    fc_ik = jnp.where(within[:, None, :], _fc(rk, triplet("R"), triplet("D")), 0.0)
    unit = vectors / rs[..., None]
    cos = jnp.einsum("nja,nka->njk", unit, unit)
    c2, d2 = triplet("c") ** 2, triplet("d") ** 2
    g = triplet("gamma") * (1.0 + c2 / d2 - c2 / (d2 + (cos - triplet("h")) ** 2))
    arg = triplet("lambda3") * (rs[:, :, None] - rk)
    arg = jnp.where(triplet("m") == 3.0, arg ** 3, arg)
    expo = jnp.where(arg > 69.0776, 1.0e30, jnp.where(arg < -69.0776, 0.0,
                                                       jnp.exp(jnp.clip(arg, -69.0776, 69.0776))))
    off = ~jnp.eye(k_slots, dtype=bool)
    zeta = jnp.sum(jnp.where(off & within[:, :, None], fc_ik * g * expo, 0.0), axis=2)
    bij = _bond_order(zeta, pair("beta"), pair("n"))
    repulsive = fc * pair("A") * jnp.exp(-pair("lambda1") * rs)
    attractive = -fc * bij * pair("B") * jnp.exp(-pair("lambda2") * rs)
    return jnp.where(within, 0.5 * repulsive + 0.5 * attractive, 0.0)


def _terms_fn(lookup: np.ndarray):
    """``terms(p, positions, cell, species, neighbors, total) -> (N, K)`` per-slot energies,
    or (``total``) their sum, over the first TRIPLET_SLOTS slots inside the cutoff of rows
    that are longer (:func:`jaxpot.row_slots.picked_slots_energy`)."""
    def row_energy(p, vectors, within, nb, index):
        return jnp.sum(_slot_energies(p, vectors, within, nb, index), axis=1)

    def terms(p, positions, cell, species, neighbors, total=False):
        vectors, mask = neighbor_vectors(positions, cell, neighbors)
        r = safe_norm(vectors, mask)
        index, nb = species_indices(lookup, species, neighbors)
        within = mask & (r < p["R"][index[:, None], nb, nb] + p["D"][index[:, None], nb, nb])
        if total and neighbors.idx.shape[1] > TRIPLET_SLOTS:
            counts = sorted({min(6, TRIPLET_SLOTS), TRIPLET_SLOTS})
            return picked_slots_energy(row_energy, counts)(p, vectors, within, nb, index)
        energies = _slot_energies(p, vectors, within, nb, index)
        return jnp.sum(energies) if total else energies

    return terms


#: Tersoff's silicon, PRB 37, 6991 (1988) (LAMMPS' Si.tersoff), for the example
SILICON_1988 = dict(m=3.0, gamma=1.0, lambda3=1.3258, c=4.8381, d=2.0417, h=0.0, n=22.956,
                    beta=0.33675, lambda2=1.3258, B=95.373, R=3.0, D=0.2, lambda1=3.2394,
                    A=3264.7)


def example() -> EnergyModel:
    """Small model for the contract test: Tersoff's silicon (1988), read from no file."""
    return tersoff("", species=["Si"],
                   params={k: np.full((1, 1, 1), v) for k, v in SILICON_1988.items()})


register_model_kind("tersoff", from_spec, example=example)
