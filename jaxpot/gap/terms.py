"""The two GAP energy terms as jaxpot models: SOAP with a dot-product kernel, and distance_2b.

SOAP term (gap_fit's ``soap`` descriptor with ``covariance_type=dot_product``): the local energy
of atom i of species s is

    eps_i = e0[s] + delta^2 sum_{m in sparse(s)} alpha_m (p_i . x_m)^zeta,

with p_i the unit-normalised QUIP SOAP vector (:func:`jaxpot.descriptors.soap`,
``convention="quip"``) and x_m the sparse environments of centre species s.  Each centre
species has its own sparse set (gap_fit's ``add_species=T``); all share delta and zeta.

distance_2b term (gap_fit's ``distance_2b`` with ``covariance_type=ard_se``): every ordered pair
(i, j) within the cutoff contributes (QUIP loops over each atom's full neighbour list, so each
pair twice)

    eps(r) = f(r) delta^2 sum_{m in sparse(t)} alpha_m exp(-(r - r_m)^2 / (2 theta^2)) f(r_m),

with f QUIP's cosine ``coordination_function`` over ``cutoff_transition_width`` and t the
(unordered) species pair.  Energies in eV, lengths in Å.
"""

from __future__ import annotations

import functools
import json

import jax.numpy as jnp
import numpy as np

from jaxpot.cutoffs import cosine_switch
from jaxpot.descriptors.soap import SOAP, soap, soap_power_spectrum
from jaxpot.model import (
    EnergyModel,
    make_spec,
    register_model_kind,
    species_lookup,
    species_numbers,
)
from jaxpot.potentials.pair import pair_model

_MODULE = "jaxpot.gap.terms"


# ---------------------------------------------------------------------------------- SOAP term
def quip_soap(species, cutoff: float, n_max: int, l_max: int, atom_sigma: float,
              cutoff_transition_width: float = 0.5, central_weight: float = 1.0) -> SOAP:
    """QUIP's ``soap`` descriptor (gap_fit names), normalised as GAP uses it."""
    return soap(species=species, r_cut=cutoff, n_max=n_max, l_max=l_max, sigma=atom_sigma,
                convention="quip", cutoff_width=cutoff_transition_width,
                weighting={"w0": float(central_weight)}, normalize=True)


def soap_settings(desc: SOAP) -> dict:
    """gap_fit-named settings of a QUIP SOAP descriptor (JSON-serialisable)."""
    return {"species": list(desc.species), "cutoff": desc.r_cut, "n_max": desc.n_max,
            "l_max": desc.l_max, "atom_sigma": desc.sigma,
            "cutoff_transition_width": desc.cutoff_width,
            "central_weight": float(dict(desc.weighting).get("w0", 1.0))}


def sparse_species_index(n_sparse: tuple[int, ...]) -> np.ndarray:
    """Centre-species index (M,) of each sparse point (points are stored species by species)."""
    return np.repeat(np.arange(len(n_sparse), dtype=np.int32), n_sparse)


def soap_local_energies(desc: SOAP, zeta: int, n_sparse: tuple[int, ...], params, positions,
                        cell, species, neighbors):
    """eps_i (N,) eV; atoms of species the model does not know (padding, Z = 0) get 0."""
    p = soap_power_spectrum(desc, positions, cell, species, neighbors)
    index = jnp.asarray(species_lookup(desc.species, fill=-1))[species]
    kernel = (p @ params["sparse"].T) ** zeta  # (N, M)
    same = index[:, None] == jnp.asarray(sparse_species_index(n_sparse))[None, :]
    eps = jnp.where(same, kernel, 0.0) @ params["alpha"] * params["delta"] ** 2
    known = index >= 0
    return eps + jnp.where(known, params["e0"][jnp.maximum(index, 0)], 0.0)


def soap_gp(*, species, cutoff: float, n_max: int, l_max: int, atom_sigma: float,
            zeta: int = 4, delta: float = 1.0, cutoff_transition_width: float = 0.5,
            central_weight: float = 1.0, sparse=None, alpha=None, n_sparse=None,
            e0=None) -> EnergyModel:
    """GAP SOAP term with dot-product kernel ``delta^2 (p . x)^zeta``.

    Args:
        species: every species (symbols or Z) of the model; sorted by Z internally.
        cutoff, n_max, l_max, atom_sigma, cutoff_transition_width, central_weight: QUIP's
            ``soap`` settings (Å).
        zeta: integer kernel exponent. delta: energy scale (eV).
        sparse: (M, F) unit sparse SOAP vectors, grouped by centre species in order of Z.
        alpha: (M,) weights. n_sparse: points per centre species (sums to M).
        e0: (S,) per-species reference energies (eV), default 0.
    """
    desc = quip_soap(species, cutoff, n_max, l_max, atom_sigma, cutoff_transition_width,
                     central_weight)
    n_species = len(desc.species)
    if n_sparse is None:
        n_sparse = (0,) * n_species if sparse is None else (len(np.asarray(sparse)),)
    n_sparse = tuple(int(m) for m in n_sparse)
    if len(n_sparse) != n_species:
        raise ValueError(f"n_sparse needs one count per species {desc.species}, got {n_sparse}")
    m, f = sum(n_sparse), desc.n_features
    sparse = np.zeros((m, f)) if sparse is None else np.asarray(sparse, float)
    alpha = np.zeros(m) if alpha is None else np.asarray(alpha, float)
    e0 = np.zeros(n_species) if e0 is None else np.asarray(e0, float).reshape(n_species)
    if sparse.shape != (m, f) or alpha.shape != (m,):
        raise ValueError(f"sparse must be ({m}, {f}) and alpha ({m},), got {sparse.shape} and "
                         f"{alpha.shape}")
    if int(zeta) != zeta or zeta < 1:
        raise ValueError(f"zeta must be a positive integer, got {zeta}")
    for name, value in (("delta", delta), ("sparse", sparse), ("alpha", alpha), ("e0", e0)):
        if not np.all(np.isfinite(value)):
            raise ValueError(f"soap_gp: {name} must be finite")
    config = dict(soap_settings(desc), zeta=int(zeta), n_sparse=list(n_sparse))
    params = {"sparse": jnp.asarray(sparse), "alpha": jnp.asarray(alpha),
              "delta": jnp.asarray(np.asarray(float(delta))), "e0": jnp.asarray(e0)}
    local = functools.partial(soap_local_energies, desc, int(zeta), n_sparse)

    def energy(params, positions, cell, species, neighbors):
        return jnp.sum(local(params, positions, cell, species, neighbors))

    return EnergyModel(energy_fn=energy, params=params, cutoff=desc.r_cut,
                       species=desc.species, atomic_energies_fn=local,
                       spec=make_spec("gap_soap", _MODULE, **config), name="GAP SOAP",
                       precision="float64")


def soap_gp_descriptor(model: EnergyModel) -> SOAP:
    """The SOAP descriptor of a :func:`soap_gp` term."""
    c = json.loads(model.spec)["config"]
    return quip_soap(c["species"], c["cutoff"], c["n_max"], c["l_max"], c["atom_sigma"],
                     c["cutoff_transition_width"], c["central_weight"])


def _soap_from_spec(config: dict) -> EnergyModel:
    return soap_gp(**{k: v for k, v in config.items()})


# -------------------------------------------------------------------------- distance_2b term
def species_pairs(species: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """Unordered species pairs (Z1 <= Z2) in the order of the 2b parameter rows."""
    zs = sorted(species)
    return tuple((a, b) for i, a in enumerate(zs) for b in zs[i:])


def pair_type_table(n_species: int) -> np.ndarray:
    """(S, S) index of each unordered species-index pair in :func:`species_pairs` order."""
    table = np.zeros((n_species, n_species), np.int32)
    t = 0
    for a in range(n_species):
        for b in range(a, n_species):
            table[a, b] = table[b, a] = t
            t += 1
    return table


def distance_2b_pair_fn(cutoff: float, transition_width: float, n_species: int):
    """``phi(params, r, i, j)`` = eps(r) of both ordered pairs (the pair model counts once)."""
    table = pair_type_table(n_species)

    def phi(params, r, index_i, index_j):
        t = jnp.asarray(table)[index_i, index_j]
        centres, alpha = params["sparse"][t], params["alpha"][t]  # (..., M)
        theta, delta = params["theta"][t], params["delta"][t]
        f = cosine_switch(r, cutoff - transition_width, cutoff)
        f_m = cosine_switch(centres, cutoff - transition_width, cutoff)
        k = jnp.exp(-0.5 * ((r[..., None] - centres) / theta[..., None]) ** 2) * f_m
        return 2.0 * f * delta ** 2 * jnp.sum(alpha * k, axis=-1)

    return phi


def distance_2b_gp(*, species, cutoff: float, theta: float = 0.5, delta: float = 1.0,
                   cutoff_transition_width: float = 0.5, sparse=None, alpha=None,
                   n_sparse: int = 0, e0=None) -> EnergyModel:
    """GAP distance_2b term, squared-exponential kernel (see module docstring).

    Args:
        species: every species of the model (symbols or Z).
        cutoff, cutoff_transition_width: Å. theta: kernel length scale (Å), scalar or one per
            species pair. delta: energy scale (eV), scalar or one per pair.
        sparse: (T, M) sparse distances (Å) per species pair (:func:`species_pairs` order).
        alpha: (T, M) weights.
        e0: (S,) per-species reference energies (eV), default 0.
    """
    zs = tuple(sorted({int(z) for z in species_numbers(species)}))
    t = len(species_pairs(zs))
    m = int(n_sparse if sparse is None else np.shape(sparse)[-1])
    sparse = np.zeros((t, m)) if sparse is None else np.asarray(sparse, float).reshape(t, m)
    alpha = np.zeros((t, m)) if alpha is None else np.asarray(alpha, float).reshape(t, m)
    theta = np.broadcast_to(np.asarray(theta, float), (t,)).copy()
    delta = np.broadcast_to(np.asarray(delta, float), (t,)).copy()
    if not (np.all(theta > 0) and np.all(np.isfinite(theta))):
        raise ValueError(f"distance_2b theta must be positive and finite, got {theta}")
    if not 0 <= cutoff_transition_width < cutoff:
        raise ValueError("distance_2b cutoff_transition_width must be in [0, cutoff)")
    config = {"species": list(zs), "cutoff": float(cutoff), "n_sparse": m,
              "cutoff_transition_width": float(cutoff_transition_width)}
    e0 = np.zeros(len(zs)) if e0 is None else np.asarray(e0, float).reshape(len(zs))
    params = {"sparse": jnp.asarray(sparse), "alpha": jnp.asarray(alpha),
              "theta": jnp.asarray(theta), "delta": jnp.asarray(delta), "e0": jnp.asarray(e0)}
    phi = distance_2b_pair_fn(float(cutoff), float(cutoff_transition_width), len(zs))
    pairs = pair_model(phi, params, cutoff, zs, "{}", "pairs")
    table = species_lookup(zs, fill=-1)

    def atomic(params, positions, cell, species, neighbors):
        index = jnp.asarray(table)[species]
        own = jnp.where(index >= 0, params["e0"][jnp.maximum(index, 0)], 0.0)
        return pairs.atomic_energies_fn(params, positions, cell, species, neighbors) + own

    def energy(params, positions, cell, species, neighbors):
        index = jnp.asarray(table)[species]
        own = jnp.where(index >= 0, params["e0"][jnp.maximum(index, 0)], 0.0)
        return pairs.energy_fn(params, positions, cell, species, neighbors) + jnp.sum(own)

    return EnergyModel(energy_fn=energy, params=params, cutoff=float(cutoff), species=zs,
                       atomic_energies_fn=atomic,
                       spec=make_spec("gap_distance_2b", _MODULE, **config),
                       name="GAP distance_2b", precision="float64")


def _2b_from_spec(config: dict) -> EnergyModel:
    return distance_2b_gp(**config)


def soap_example() -> EnergyModel:
    """Small model for the contract test: a silicon SOAP term (n_max 3, l_max 2, cutoff
    3.5 Å, zeta 4) with 4 seeded random sparse points (positive unit vectors: SOAP vectors
    are mostly positive, so the kernel values are not small) and weights."""
    rng = np.random.default_rng(3)
    f = quip_soap(("Si",), 3.5, 3, 2, 0.5).n_features
    sparse = np.abs(rng.normal(size=(4, f))) + 0.5
    sparse /= np.linalg.norm(sparse, axis=1, keepdims=True)
    return soap_gp(species=("Si",), cutoff=3.5, n_max=3, l_max=2, atom_sigma=0.5, zeta=4,
                   delta=0.7, sparse=sparse, alpha=rng.normal(size=4), e0=[-0.5])


def distance_2b_example() -> EnergyModel:
    """Small model for the contract test: a two-species (Si, Ge) distance_2b term (cutoff
    3.5 Å, 6 sparse distances per species pair) with seeded random weights."""
    rng = np.random.default_rng(4)
    return distance_2b_gp(species=("Si", "Ge"), cutoff=3.5, theta=0.6, delta=0.3,
                          sparse=np.tile(np.linspace(2.0, 3.5, 6), (3, 1)),
                          alpha=rng.normal(size=(3, 6)), e0=[-0.3, -0.2])


register_model_kind("gap_soap", _soap_from_spec, example=soap_example)
register_model_kind("gap_distance_2b", _2b_from_spec, example=distance_2b_example)
