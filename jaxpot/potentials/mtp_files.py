"""mlip-2 ``.mtp`` files of jaxpot MTPs (``mlp calc-efs``, LAMMPS ``pair_style mlip``, motep).

mlip-2 stores a basis as scalar "alpha moments": the basic ones are monomial components
(mu, a, b, c) of the moment tensors, sum_j f_mu x^a y^b z^c (unit vectors); each entry
(i, j, m, k) of ``alpha_index_times`` adds m * moment_i * moment_j to moment k, in order; and
``alpha_moment_mapping`` names the basis functions B_alpha.  :func:`mlip_arrays` writes a
:class:`~jaxpot.descriptors.mtp_basis.MTPBasis` that way: a contraction of K tensors is the sum,
over the 3^E assignments of its E shared indices, of products of K monomial components, grouped
by the product and chained two factors at a time through intermediate moments.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from typing import NamedTuple

import numpy as np
from ase.data import chemical_symbols

from jaxpot.descriptors.moment_tensors import _edge_letters, _monomials
from jaxpot.descriptors.mtp_basis import MTPBasis


class MlipArrays(NamedTuple):
    """mlip-2's alpha arrays: basic (n_basic, 4) [mu, a, b, c], times (n_times, 4)
    [i, j, multiplicity, k], mapping (F,), and the number of moments."""

    basic: np.ndarray
    times: np.ndarray
    mapping: np.ndarray
    n_moments: int


def mlip_arrays(basis: MTPBasis) -> MlipArrays:
    """The basis in mlip-2's alpha-moment form (see the module docstring)."""
    basic_slot: dict[tuple[int, int, int, int], int] = {}
    for mu, nu in basis.moments:
        exps, _ = _monomials(nu)
        for a, b, c in exps.tolist():
            basic_slot[(mu, a, b, c)] = len(basic_slot)
    n = [len(basic_slot)]
    times: list[tuple[int, int, int, int]] = []
    product_slot: dict[tuple[int, ...], int] = {}

    def new_slot() -> int:
        n[0] += 1
        return n[0] - 1

    def chained(factors: tuple[int, ...]) -> int:
        """Slot holding the product of all but the last factor (memoised prefix products)."""
        if len(factors) == 1:
            return factors[0]
        if factors not in product_slot:
            left = chained(factors[:-1])
            slot = new_slot()
            times.append((left, factors[-1], 1, slot))
            product_slot[factors] = slot
        return product_slot[factors]

    def sum_of_products(terms: Counter) -> int:
        """A new moment = sum of multiplicity * product of slots."""
        target = new_slot()
        for factors, mult in sorted(terms.items()):
            times.append((chained(factors[:-1]), factors[-1], int(mult), target))
        return target

    contraction_slot = []
    for con in basis.contractions:
        if len(con.mus) == 1:
            contraction_slot.append(basic_slot[(con.mus[0], 0, 0, 0)])
            continue
        subs = _edge_letters(con)
        letters = sorted(set("".join(subs)))
        terms: Counter = Counter()
        for values in itertools.product(range(3), repeat=len(letters)):
            assign = dict(zip(letters, values))
            factors = []
            for mu, s in zip(con.mus, subs):
                counts = np.bincount([assign[ch] for ch in s], minlength=3)
                factors.append(basic_slot[(mu, *counts.tolist())])
            terms[tuple(sorted(factors))] += 1
        contraction_slot.append(sum_of_products(terms))
    mapping = []
    for function in basis.functions:
        slots = tuple(contraction_slot[i] for i in function)
        mapping.append(slots[0] if len(slots) == 1 else
                       sum_of_products(Counter({tuple(sorted(slots)): 1})))
    basic = np.array([k for k, _ in sorted(basic_slot.items(), key=lambda kv: kv[1])], int)
    return MlipArrays(basic, np.array(times, int).reshape(-1, 4), np.array(mapping, int), n[0])


def _braces(values, fmt) -> str:
    return "{" + ", ".join(fmt(v) for v in values) + "}"


def write_mtp(model, path: str | os.PathLike) -> None:
    """Write an MTP model as an mlip-2 ``.mtp`` file (species in the model's order, Z sorted;
    energy_scale is folded into the moment coefficients)."""
    from jaxpot.potentials.mtp import descriptor_of
    if model.kind != "mtp":
        raise ValueError(f"write_mtp writes MTP models, not {model.kind!r}")
    desc = descriptor_of(model)
    arrays = mlip_arrays(desc.basis)
    net, norm = model.params["net"], model.params["norm"]
    radial = np.asarray(net["radial"], float)
    xi = np.asarray(net["xi"], float) * float(norm["energy_scale"])
    e0 = np.asarray(norm["e0"], float)
    g = "{:.16e}".format
    s = len(desc.species)
    lines = ["MTP", "version = 1.1.0",
             f"potential_name = jaxpot_MTP_level{desc.level}_"
             + "".join(chemical_symbols[z] for z in desc.species),
             "scaling = 1.0e+00", f"species_count = {s}", "potential_tag = ",
             "radial_basis_type = RBChebyshev", f"\tmin_dist = {g(desc.r_min)}",
             f"\tmax_dist = {g(desc.r_cut)}", f"\tradial_basis_size = {desc.radial_basis_size}",
             f"\tradial_funcs_count = {radial.shape[2]}", "\tradial_coeffs"]
    for a in range(s):
        for b in range(s):
            lines.append(f"\t\t{a}-{b}")
            lines += ["\t\t\t" + _braces(row, g) for row in radial[a, b]]
    lines += [f"alpha_moments_count = {arrays.n_moments}",
              f"alpha_index_basic_count = {len(arrays.basic)}",
              "alpha_index_basic = " + _braces(arrays.basic.tolist(),
                                               lambda r: _braces(r, str)),
              f"alpha_index_times_count = {len(arrays.times)}",
              "alpha_index_times = " + _braces(arrays.times.tolist(),
                                               lambda r: _braces(r, str)),
              f"alpha_scalar_moments = {len(arrays.mapping)}",
              "alpha_moment_mapping = " + _braces(arrays.mapping.tolist(), str),
              "species_coeffs = " + _braces(e0, g), "moment_coeffs = " + _braces(xi, g)]
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, path)
