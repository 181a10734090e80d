"""Stillinger–Weber three-body potential (single or multi-species, LAMMPS ``.sw`` files).

    E = sum_{i<j} phi2(r_ij) + sum_i sum_{j<k} phi3(r_ij, r_ik, theta_jik)
    phi2 = A eps [B (sigma/r)^p - (sigma/r)^q] exp(sigma / (r - a sigma))
    phi3 = lambda eps (cos theta_jik - cos theta0)^2
           exp(gamma sigma / (r_ij - a sigma)) exp(gamma sigma / (r_ik - a sigma))

Parameters per element triplet follow LAMMPS ``pair_style sw``: the pair i-j uses the entry
(i, j, j); the three-body term centred on i uses gamma, sigma, a of (i, j, j) for the i-j leg, of
(i, k, k) for the i-k leg, and lambda, epsilon, cos theta0 of (i, j, k).  Per-atom energies
follow LAMMPS's tally: half of each pair energy to each atom, a third of each triplet energy to
each of its three atoms.  A file whose entries (i, j, k) and (i, k, j) differ in lambda epsilon
(``CdTeZnSeHgS0.sw``: by up to 8e-7 relative, its 7-digit rounding) makes LAMMPS's energy
depend on its neighbor order (it takes the entry of the order it meets j, k in); jaxpot sums
both orders, each with half weight; likewise for the pair entries (i, j, j) and (j, i, i),
of which LAMMPS takes the one of the atom its id parity picks.  The three-body sum runs over
moments of each atom's neighbors, O(K) per atom instead of K^2 neighbor pairs
(:func:`_three_body`); with one species the forces come from an analytic gradient per
neighbor slot (:func:`_one_species_slot_gradient`).  Built-in default: Stillinger & Weber,
PRB 31, 5262 (1985) silicon, as in LAMMPS's ``Si.sw`` (diamond Si at a = 5.431 Å:
-4.3366 eV/atom).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.elements import element_numbers, element_symbols
from jaxpot.model import (
    EnergyModel,
    make_spec,
    register_model_kind,
    species_indices,
    species_lookup,
)
from jaxpot.neighbors import neighbor_components, slot_sum
from jaxpot.potentials.pair import check_triplet_table
from jaxpot.potentials.triplet_files import read_mapped_triplets
from jaxpot.tangents import instantiate, is_zero

PARAMETER_NAMES = ("epsilon", "sigma", "a", "lambda", "gamma", "costheta0", "A", "B", "p", "q")
# LAMMPS pair_sw's checks (all but cos theta0 >= 0), and lengths sigma, a > 0 where the pair
# term uses them (entries i j j; three-body-only entries may hold zeros, as in GaN.sw)
_RULES = dict(nonnegative=("epsilon", "sigma", "a", "lambda", "gamma", "A", "B", "p", "q"),
              pair_positive=("sigma", "a"))
SILICON_1985 = dict(epsilon=2.1683, sigma=2.0951, a=1.80, **{"lambda": 21.0}, gamma=1.20,
                    costheta0=-1.0 / 3.0, A=7.049556277, B=0.6022245584, p=4.0, q=0.0)


def read_lammps_sw(path: str, species=None) -> tuple[list[str], dict[str, np.ndarray]]:
    """Read a LAMMPS ``.sw`` file -> (elements, {name: (S, S, S) array}) with a clear error
    (files of other styles, such as ``.sw.mod`` or ``.tersoff``, are refused by name).
    ``species`` maps elements to the file's labels as ``pair_coeff`` does (see
    :func:`stillinger_weber`); only the triplets of the mapped labels are read and required.
    A ``tol`` > 0 (LAMMPS then shortens the cutoff) is refused: jaxpot implements tol = 0."""
    elements, labels, table = read_mapped_triplets(path, "sw", PARAMETER_NAMES + ("tol",),
                                                   "jaxpot.potentials.stillinger_weber", species)
    tol = table.pop("tol")
    if np.any(tol != 0.0):
        i, j, k = np.argwhere(tol != 0.0)[0]
        raise ValueError(f"{path}: tol = {tol[i, j, k]} in entry {labels[i]} {labels[j]} "
                         f"{labels[k]}: LAMMPS shortens that cutoff with it; jaxpot implements "
                         "tol = 0 only (the truncation would change the energies)")
    return elements, check_triplet_table(table, PARAMETER_NAMES, labels, path, **_RULES)


def stillinger_weber(path: str | None = None, species=None, params: dict | None = None,
                     cutoff: float | None = None) -> EnergyModel:
    """Stillinger–Weber model.

    Args:
        path: LAMMPS ``.sw`` file; None uses the built-in 1985 silicon parameters.
        species: the elements to use and the file label of each, as the element names of a
            ``pair_coeff`` line: None (all labels of the file, each an element symbol), a
            list of element symbols, or ``{element: label}`` for labels that are not symbols.
            Only the triplets of the mapped labels must be in the file, as in LAMMPS.
        params: {name: (S,S,S)} parameter arrays (used when rebuilding a saved model).
        cutoff: Å; default the largest a*sigma (given when rebuilding a saved model,
            whose placeholder parameters do not determine it).

    Parameters must be finite, >= 0 except cos theta0 (as LAMMPS requires), and sigma, a > 0
    on the pair entries (i, j, j); a ValueError names the parameter and element triplet.
    """
    if params is not None:
        if species is None:
            raise ValueError("params need species: the element of each table index")
        elements = element_symbols(species, "species")
        table = check_triplet_table(params, PARAMETER_NAMES, elements, "params", **_RULES)
    elif path is None:
        elements = ["Si"] if species is None else element_symbols(species, "species")
        if elements != ["Si"]:
            raise ValueError("built-in Stillinger-Weber parameters are for Si only")
        table = {k: np.full((1, 1, 1), v) for k, v in SILICON_1985.items()}
    else:
        elements, table = read_lammps_sw(path, species)
    zs = element_numbers(elements, "species")
    lookup = species_lookup(zs)
    cutoff = float(cutoff) if cutoff is not None else float(np.max(table["a"] * table["sigma"]))
    terms = _terms_fn(lookup, len(zs))
    spec = make_spec("stillinger_weber", __name__, species=elements, cutoff=cutoff,
                     shapes={k: list(v.shape) for k, v in table.items()})
    return EnergyModel(energy_fn=_energy_fn(terms, len(zs) == 1),
                       params={k: jnp.asarray(v) for k, v in table.items()}, cutoff=cutoff,
                       species=zs, atomic_energies_fn=_atomic_energies_fn(terms), spec=spec,
                       name="stillinger_weber", cpu_fusions=False)  # MD 1.5-1.8x faster without


def from_spec(config: dict) -> EnergyModel:
    shapes = config["shapes"]
    return stillinger_weber(species=config["species"],
                            params={k: np.ones(shapes[k]) for k in PARAMETER_NAMES},
                            cutoff=config.get("cutoff"))


#: weights of the components xx, yy, zz, xy, xz, yz of a symmetric 3x3 tensor in the full
#: contraction T:T' (off-diagonal components appear twice)
_TENSOR_WEIGHTS = (1.0, 1.0, 1.0, 2.0, 2.0, 2.0)


def _pair_parameters(params, single: bool, index, sj):
    """``pair(name)``: the parameter ``name`` of each neighbor slot's pair, entry (i, j, j)
    as (N, K), or a scalar for one species."""
    if single:
        def pair(name):
            return params[name][0, 0, 0]
    else:
        si = index[:, None]

        def pair(name):  # entry (i, j, j) for each neighbor slot, (N, K)
            return params[name][si, sj, sj]
    return pair


def _radial_terms(pair, components, mask):
    """Per neighbor slot (N, K): within the SW cutoff a sigma of the pair (bool), r (Å; half
    the cutoff outside it), 1 / (r - a sigma), sigma / (r - a sigma), the two factors
    (sigma/r)^p and (sigma/r)^q of phi2 each times exp(sigma / (r - a sigma)), the pair
    energy phi2 and the three-body radial factor g, both 0 outside the cutoff; ``pair`` from
    :func:`_pair_parameters`."""
    x, y, z = components
    sigma, cut = pair("sigma"), pair("a") * pair("sigma")
    # beyond (1 - 1e-8) * cut the exponential factors are exactly 0 in float64
    r2 = x * x + y * y + z * z
    within = mask & (r2 < (cut * (1.0 - 1e-8)) ** 2)
    r = jnp.sqrt(jnp.where(within, r2, (0.5 * cut) ** 2))
    inv_rc = 1.0 / (r - cut)
    cutoff_exponent = sigma * inv_rc
    log_x = jnp.log(sigma / r)  # (sigma/r)^p exp(...) as one exp (pow is exp(log) anyway)
    xp = jnp.exp(pair("p") * log_x + cutoff_exponent)
    xq = jnp.exp(pair("q") * log_x + cutoff_exponent)
    phi2 = jnp.where(within, pair("A") * pair("epsilon") * (pair("B") * xp - xq), 0.0)
    g = jnp.where(within, jnp.exp(pair("gamma") * cutoff_exponent), 0.0)
    return within, r, inv_rc, cutoff_exponent, xp, xq, phi2, g


def _slot_terms(params, single: bool, components, mask, index, sj):
    """Per neighbor slot (N, K): pair energy phi2, the unit vector's components (ux, uy, uz)
    and the three-body radial factor g, both 0 outside the SW cutoff of the pair."""
    x, y, z = components
    pair = _pair_parameters(params, single, index, sj)
    _, r, _, _, _, _, phi2, g = _radial_terms(pair, components, mask)
    inv_r = 1.0 / r
    return phi2, (x * inv_r, y * inv_r, z * inv_r), g


def _terms_fn(lookup: np.ndarray, n_species: int):
    """``terms(params, positions, cell, species, neighbors, to_neighbors) -> (phi2 (N,K),
    e3 (N,), e3_neighbors (N,) or None)``: pair energies per neighbor slot, the three-body
    energy over the ordered neighbor pairs (j, k) of each center, and (if asked) the same
    energy credited to the neighbors j (for LAMMPS's per-atom tally)."""
    single = n_species == 1

    def terms(params, positions, cell, species, neighbors, to_neighbors=False):
        components, mask = neighbor_components(positions, cell, neighbors)
        lam_eps = params["lambda"] * params["epsilon"]
        if single:
            index = sj = None
            lam_eps, c0 = lam_eps[0], params["costheta0"][0]  # (1, 1): triplet (i, s, t)
        else:
            index, sj = species_indices(lookup, species, neighbors)
            lam_eps, c0 = lam_eps[index], params["costheta0"][index]  # (N, S, S)
        phi2, unit, g = _slot_terms(params, single, components, mask, index, sj)
        onehot = None if single else (sj[..., None] == jnp.arange(n_species)).astype(g.dtype)
        e3, credit = _three_body(lam_eps, c0, sj, unit, g, onehot, to_neighbors)
        if not to_neighbors:
            return phi2, e3, None
        n = positions.shape[0]
        credited = jnp.zeros(n + 1, credit.dtype).at[neighbors.idx].add(credit)[:n]
        return phi2, e3, credited

    return terms


def _three_body(lam_eps, c0, sj, unit, g, onehot, to_neighbors: bool):
    """Three-body energy per center (N,), the ordered-pair sum

        e_i = sum_{j != k} lam eps_(i, s_j, s_k) (u_j.u_k - c0_(i, s_j, s_k))^2 g_j g_k,

    from moments of each center's neighbors of species s: G_s = sum g, V_s = sum g u,
    T_s = sum g u (x) u.  Since (u_j.u_k)^2 summed over j, k is T_s:T_t,
    e_i = sum_(s,t) lam eps (T_s:T_t - 2 c0 V_s.V_t + c0^2 G_s G_t) minus the j = k terms
    lam eps (1 - c0)^2 g_j^2 (u.u = 1): O(K) per atom instead of K^2 slot pairs, over all
    slots of the row (g = 0 outside the cutoff), so no slot picking.

    ``lam_eps``, ``c0``: (N, S, S) per center, or (1, 1) for one species (``sj``, ``onehot``
    None); ``unit``: components (N, K) each; ``onehot`` (N, K, S) neighbor species.  With
    ``to_neighbors`` also each slot's share sum_{k != j} (N, K)."""
    if onehot is None:
        weights = g[..., None]  # (N, K, 1)
        lam_jj, c0_jj = lam_eps[0, 0], c0[0, 0]
    else:
        weights = onehot * g[..., None]
        rows = jnp.arange(sj.shape[0])[:, None]
        lam_jj, c0_jj = lam_eps[rows, sj, sj], c0[rows, sj, sj]  # (N, K): triplet (i, j, j)
    ux, uy, uz = unit
    outer = (ux * ux, uy * uy, uz * uz, ux * uy, ux * uz, uy * uz)
    w = jnp.asarray(_TENSOR_WEIGHTS, g.dtype)

    def moment(a):  # sum_k weights (N, K, S) * a (N, K) -> (N, S)
        return slot_sum(weights * a[..., None])

    big_g = slot_sum(weights)
    v = jnp.stack([moment(a) for a in unit], axis=-1)  # (N, S, 3)
    t = jnp.stack([moment(a) for a in outer], axis=-1)  # (N, S, 6)
    tt = jnp.einsum("nsc,ntc->nst", t * w, t)
    vv = jnp.einsum("nsa,nta->nst", v, v)
    gg = big_g[:, :, None] * big_g[:, None, :]
    diagonal = lam_jj * (1.0 - c0_jj) ** 2 * g * g  # the j = k terms, (N, K)
    e3 = jnp.sum(lam_eps * (tt - 2.0 * c0 * vv + c0 ** 2 * gg), axis=(-2, -1)) - slot_sum(
        diagonal)
    if not to_neighbors:
        return e3, None
    if onehot is None:
        lam_j, c0_j = lam_eps[None], c0[None]  # (1, 1, 1)
    else:
        lam_j, c0_j = lam_eps[rows, sj], c0[rows, sj]  # (N, K, S): triplets (i, j, t)
    wt = t * w
    ut_u = sum(o[..., None] * wt[:, None, :, c] for c, o in enumerate(outer))  # (N, K, S)
    u_v = sum(a[..., None] * v[:, None, :, b] for b, a in enumerate(unit))
    credit = g * jnp.sum(lam_j * (ut_u - 2.0 * c0_j * u_v + c0_j ** 2 * big_g[:, None, :]),
                         axis=2) - diagonal
    return e3, credit


def _energy_fn(terms, single: bool):
    def energy(params, positions, cell, species, neighbors):
        if single:  # forces from the slot gradient of _one_species_slot_gradient
            components, mask = neighbor_components(positions, cell, neighbors)
            return _one_species_energy(params, *components, mask)
        phi2, e3, _ = terms(params, positions, cell, species, neighbors)
        return 0.5 * jnp.sum(slot_sum(phi2)) + 0.5 * jnp.sum(e3)  # pairs, triplets seen twice
    return energy


def _one_species_plain(params, x, y, z, mask):
    """The energy of one species from the pair vectors' components (N, K) and mask."""
    phi2, unit, g = _slot_terms(params, True, (x, y, z), mask, None, None)
    lam_eps, c0 = (params["lambda"] * params["epsilon"])[0], params["costheta0"][0]
    e3, _ = _three_body(lam_eps, c0, None, unit, g, None, False)
    return 0.5 * jnp.sum(slot_sum(phi2)) + 0.5 * jnp.sum(e3)


_one_species_energy = jax.custom_jvp(_one_species_plain)


@functools.partial(_one_species_energy.defjvp, symbolic_zeros=True)
def _one_species_jvp(primals, tangents):
    """Position and cell tangents through the analytic slot gradient; a parameter tangent
    (training SW parameters) through autodiff of the plain energy."""
    params, x, y, z, mask = primals
    d_params, dx, dy, dz = tangents[:4]
    if not is_zero(d_params):
        args = (params, x, y, z)
        dargs = tuple(instantiate(t, a) for t, a in zip((d_params, dx, dy, dz), args))
        return jax.jvp(lambda p, a, b, c: _one_species_plain(p, a, b, c, mask), args, dargs)
    energy, grads = _one_species_slot_gradient(params, x, y, z, mask)
    out = jnp.zeros((), energy.dtype)
    for grad, d in zip(grads, (dx, dy, dz)):
        if not is_zero(d):
            out = out + jnp.sum(grad * d)
    return energy, out


def _one_species_slot_gradient(params, x, y, z, mask):
    """The energy E and dE/d(x, y, z) per neighbor slot ((N, K) each), one species: E = half
    the pair energies plus half the three-body energies of each center, as
    :func:`_one_species_plain` (the same sums in another order: equal to round-off).

    From the slot terms and the moments G, V, T, D = sum g^2 of each center, with
    dE/dd = (dE/dr) u + (1 - u u^T) dE/du / r for the pair vector d = r u (no reverse pass
    over (N, K) temporaries: 32,768 atoms, energy + forces 44.9 -> 39.4 ms)."""
    pair = _pair_parameters(params, True, None, None)
    p = {k: pair(k) for k in PARAMETER_NAMES}
    within, r, inv_rc, ce, xp, xq, phi2, g = _radial_terms(pair, (x, y, z), mask)
    inv_r = 1.0 / r
    dphi2 = jnp.where(within, p["A"] * p["epsilon"] * (
        (p["q"] * xq - p["p"] * p["B"] * xp) * inv_r - (p["B"] * xp - xq) * ce * inv_rc), 0.0)
    dg = -p["gamma"] * ce * inv_rc * g
    ux, uy, uz = x * inv_r, y * inv_r, z * inv_r

    def total(a):
        return slot_sum(a)[:, None]

    big_g = total(g)
    vx, vy, vz = total(g * ux), total(g * uy), total(g * uz)
    gx, gy, gz = g * ux, g * uy, g * uz
    txx, tyy, tzz = total(gx * ux), total(gy * uy), total(gz * uz)
    txy, txz, tyz = total(gx * uy), total(gx * uz), total(gy * uz)
    c0, le = p["costheta0"], p["lambda"] * p["epsilon"]
    tt = txx ** 2 + tyy ** 2 + tzz ** 2 + 2.0 * (txy ** 2 + txz ** 2 + tyz ** 2)
    e3 = le * (tt - 2.0 * c0 * (vx ** 2 + vy ** 2 + vz ** 2) + c0 ** 2 * big_g ** 2
               - (1.0 - c0) ** 2 * total(g * g))
    energy = 0.5 * jnp.sum(slot_sum(phi2)) + 0.5 * jnp.sum(e3)
    tux = txx * ux + txy * uy + txz * uz  # T u
    tuy = txy * ux + tyy * uy + tyz * uz
    tuz = txz * ux + tyz * uy + tzz * uz
    utu = ux * tux + uy * tuy + uz * tuz
    uv = ux * vx + uy * vy + uz * vz
    radial = 0.5 * dphi2 + le * dg * (utu - 2.0 * c0 * uv + c0 ** 2 * big_g
                                      - (1.0 - c0) ** 2 * g)
    tangential = 2.0 * le * g * inv_r
    return energy, tuple(radial * u + tangential * ((tu - utu * u) - c0 * (v - uv * u))
                         for u, tu, v in ((ux, tux, vx), (uy, tuy, vy), (uz, tuz, vz)))


def _atomic_energies_fn(terms):
    def atomic_energies(params, positions, cell, species, neighbors):
        phi2, e3, e3_neighbors = terms(params, positions, cell, species, neighbors,
                                       to_neighbors=True)
        # triplet (j, i, k) appears for j<k and k<j: each ordered pair carries half its energy,
        # and LAMMPS gives a third of a triplet's energy to each of its three atoms
        return 0.5 * slot_sum(phi2) + e3 / 6.0 + e3_neighbors / 3.0

    return atomic_energies


register_model_kind("stillinger_weber", from_spec, example=stillinger_weber)  # built-in Si
