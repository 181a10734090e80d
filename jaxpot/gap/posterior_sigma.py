"""A GAP's posterior standard deviations as JAX functions of positions (jit, grad, MD).

The same quantities as :func:`jaxpot.gap.predictive_std` (module :mod:`jaxpot.gap.uncertainty`),
written as pure JAX functions of ``(params, positions, cell, species, neighbors)`` so that MD
can stop where a GAP is unsure (``md.run(..., stop_when_uncertain=...)``) and biased MD can
differentiate them.  With K_MM + jitter = U^T U and the posterior precision
K_MM + K_MN Lambda^-1 K_NM = R^T R (the fit's ``kmm_factor`` and ``posterior_factor``), the
projected-process (DTC) predictive variance of a linear functional f* of the local energies
with prior variance k** and covariance k* (M_tot,) with the sparse points is

    var f* = k** - |U^-T k*|^2 + |R^-T k*|^2        (eV^2; noise not added)

(Quiñonero-Candela & Rasmussen, JMLR 6, 1939 (2005)).  Columns: the SOAP sparse points
(species by species), then the distance_2b points (pair type by pair type).

- Total energy E: k*_m = delta^2 sum_i [s_i = s_m] (p_i . x_m)^zeta for SOAP and
  k*_{t,m} = delta_t^2 f(r_{t,m}) sum_{ordered pairs a of type t} f(r_a)
  exp(-(r_a - r_{t,m})^2 / 2 theta_t^2) for distance_2b; k** is the sum of the SOAP kernel over
  same-species atom pairs (i, j) (i = j included: delta^2 each) plus the distance_2b kernel
  over ordered pairs of ordered atom pairs of the same type.
- Local energy of atom i (SOAP term only): k* its SOAP kernel row (zero in distance_2b
  columns), k** = delta^2 (the SOAP vectors are unit vectors).

The standard deviation is sqrt(max(var, 1e-30 eV^2)): the clip keeps the value and its
gradient finite where the variance rounds to zero or below (``predictive_std`` clips at 0).
The double sums of k** are taken a block of rows at a time under ``jax.checkpoint``, so their
memory (and that of their gradient) is O(block x atoms) or O(block x pairs).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg

from jaxpot.cutoffs import cosine_switch, safe_norm
from jaxpot.descriptors.soap import SOAP, soap_power_spectrum
from jaxpot.gap.design import gap_terms
from jaxpot.gap.terms import pair_type_table, soap_gp_descriptor, sparse_species_index
from jaxpot.model import EnergyModel, model_from_spec, species_lookup
from jaxpot.neighbors import neighbor_vectors
from jaxpot.potentials.pair_rows import half_components

#: the smallest variance (eV^2) taken under the square root: finite values and gradients
TINY_VARIANCE = 1e-30
#: rows of a block of the prior's double sums (atoms or pairs)
BLOCK = 512

SigmaFn = Callable[..., jax.Array]


class _Soap(NamedTuple):
    where: int | None  # index of the term's params in the GAP's params (None: the GAP is it)
    cutoffs: tuple[float, ...]
    desc: SOAP
    zeta: int
    owner: tuple[int, ...]  # centre-species index of each sparse point (M_soap,)
    lookup: tuple[int, ...]  # Z -> species index, -1 unknown (119,)


class _Pair(NamedTuple):
    where: int | None
    cutoffs: tuple[float, ...]
    cutoff: float
    width: float
    lookup: tuple[int, ...]
    table: tuple[tuple[int, ...], ...]  # (S, S) species-pair type


class Layout(NamedTuple):
    """The static structure of a GAP (from its spec alone): its SOAP and distance_2b terms
    (None where absent) and where their params sit."""

    soap: _Soap | None
    pair: _Pair | None


def layout(gap_spec: dict | str) -> Layout:
    """The :class:`Layout` of a GAP spec (one term or a sum of a SOAP and a distance_2b term,
    as :func:`jaxpot.gap.design.gap_terms` accepts); ValueError for any other model."""
    spec = json.loads(gap_spec) if isinstance(gap_spec, str) else gap_spec
    terms = gap_terms(model_from_spec(spec))
    kinds = [c["kind"] for c in spec["children"]] if spec.get("kind") == "sum" else None

    def where(kind: str) -> int | None:
        return None if kinds is None else kinds.index(kind)

    soap = pair = None
    if terms.soap is not None:
        config = json.loads(terms.soap.spec)["config"]
        desc = soap_gp_descriptor(terms.soap)
        soap = _Soap(where("gap_soap"), tuple(terms.soap.part_cutoffs), desc,
                     int(config["zeta"]),
                     tuple(sparse_species_index(tuple(config["n_sparse"])).tolist()),
                     tuple(species_lookup(desc.species, fill=-1).tolist()))
    if terms.pair is not None:
        config = json.loads(terms.pair.spec)["config"]
        zs = tuple(config["species"])
        pair = _Pair(where("gap_distance_2b"), tuple(terms.pair.part_cutoffs),
                     float(config["cutoff"]), float(config["cutoff_transition_width"]),
                     tuple(species_lookup(zs, fill=-1).tolist()),
                     tuple(map(tuple, pair_type_table(len(zs)).tolist())))
    return Layout(soap, pair)


# ------------------------------------------------------------------------------- helpers
def _part(gap_params, term):
    return gap_params if term.where is None else gap_params[term.where]


def _restricted(neighbors, cutoffs: tuple[float, ...]):
    """The neighbor list as the term sees it inside the GAP (:func:`jaxpot.model.sum_models`)."""
    within = getattr(neighbors, "within", None)
    return neighbors if within is None else within(max(cutoffs))


def _double_sum(kernel, x, w: jax.Array, block: int | None = None) -> jax.Array:
    """sum_{a,b} w_a w_b kernel(x_a, x_b) with ``kernel(x_rows, x) -> (rows, P)``, ``block``
    (default :data:`BLOCK`, read when traced) rows at a time, each block recomputed in the
    reverse pass."""
    block = block or BLOCK
    n = w.shape[0]
    if n <= block:
        return w @ (kernel(x, x) @ w)
    blocks = -(-n // block)
    pad = blocks * block - n

    def split(v):
        v = jnp.pad(v, [(0, pad)] + [(0, 0)] * (v.ndim - 1))
        return v.reshape(blocks, block, *v.shape[1:])

    @jax.checkpoint
    def one(args):
        xb, wb = args
        return wb @ (kernel(xb, x) @ w)

    return jnp.sum(jax.lax.map(one, (jax.tree_util.tree_map(split, x), split(w))))


def _switch(r: jax.Array, cutoff: float, width: float) -> jax.Array:
    """The distance_2b cutoff function f (1 below cutoff - width, 0 from cutoff)."""
    if width <= 0:
        return jnp.where(r < cutoff, 1.0, 0.0).astype(r.dtype)
    return cosine_switch(r, cutoff - width, cutoff)


# ------------------------------------------------------------------------------ SOAP term
def _soap_kernel(s: _Soap, p_params, positions, cell, species, neighbors):
    """(K (N, M_soap) eV^2 = delta^2 (p_i . x_m)^zeta of same species, else 0; p (N, F);
    species index (N,), -1 unknown)."""
    p = soap_power_spectrum(s.desc, positions, cell, species,
                            _restricted(neighbors, s.cutoffs))
    index = jnp.asarray(s.lookup, jnp.int32)[species]
    same = index[:, None] == jnp.asarray(s.owner, jnp.int32)[None, :]
    k = jnp.where(same, p_params["delta"] ** 2 * (p @ p_params["sparse"].T) ** s.zeta, 0.0)
    return k, p, index


def _soap_prior(s: _Soap, delta, p: jax.Array, index: jax.Array) -> jax.Array:
    """delta^2 sum_{i,j same known species} (p_i . p_j)^zeta (eV^2)."""
    def kernel(xa, xb):
        (pa, ia), (pb, ib) = xa, xb
        return jnp.where(ia[:, None] == ib[None, :], (pa @ pb.T) ** s.zeta, 0.0)
    w = (index >= 0).astype(p.dtype)
    return delta ** 2 * _double_sum(kernel, (p, index), w)


# ----------------------------------------------------------------------- distance_2b term
def _pair_list(t: _Pair, positions, cell, species, neighbors):
    """Pairs within the cutoff: distances (P,) Å, type (P,) and weight (P,) = f(r) per
    ordered pair (2 f(r) per pair of a half list), zero for padding and unknown species."""
    nbrs = _restricted(neighbors, t.cutoffs)
    n = positions.shape[0]
    index = jnp.asarray(t.lookup, jnp.int32)[species]
    padded = jnp.concatenate([index, jnp.full((1,), -1, jnp.int32)])
    cut2 = t.cutoff * t.cutoff
    if getattr(nbrs, "half_i", None) is not None:
        i, j = nbrs.half_i, nbrs.half_j
        d = half_components(positions, cell, i, j, nbrs.half_shifts)
        sq = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
        zi, zj = padded[jnp.minimum(i, n)], padded[jnp.minimum(j, n)]
        within = (i < n) & (j < n) & (sq < cut2) & (zi >= 0) & (zj >= 0)
        r = jnp.sqrt(jnp.where(within, sq, cut2))
        weight = 2.0
    else:
        vectors, mask = neighbor_vectors(positions, cell, nbrs)
        r = safe_norm(vectors, mask)
        zi = jnp.broadcast_to(index[:, None], nbrs.idx.shape)
        zj = padded[nbrs.idx]
        within = mask & (r < t.cutoff) & (zi >= 0) & (zj >= 0)
        r = jnp.where(within, r, t.cutoff).reshape(-1)
        within, zi, zj = within.reshape(-1), zi.reshape(-1), zj.reshape(-1)
        weight = 1.0
    types = jnp.asarray(t.table, jnp.int32)[jnp.maximum(zi, 0), jnp.maximum(zj, 0)]
    w = jnp.where(within, weight * _switch(r, t.cutoff, t.width), 0.0)
    return r, types, w


def _pair_row(t: _Pair, q, r, types, w) -> jax.Array:
    """k* of the total energy (T * M_pair,), eV^2, in row-major (type, point) order."""
    centres, theta, delta = q["sparse"], q["theta"], q["delta"]  # (T, M), (T,), (T,)
    n_types = centres.shape[0]
    e = jnp.exp(-0.5 * ((r[:, None, None] - centres[None]) / theta[None, :, None]) ** 2)
    onehot = (types[:, None] == jnp.arange(n_types)[None, :]) * w[:, None]  # (P, T)
    k = jnp.einsum("pt,ptm->tm", onehot, e)
    k = delta[:, None] ** 2 * _switch(centres, t.cutoff, t.width) * k
    return k.reshape(-1)


def _pair_prior(q, r, types, w) -> jax.Array:
    """sum_t delta_t^2 sum over ordered pairs (a, b) of type t of
    w_a w_b exp(-(r_a - r_b)^2 / 2 theta_t^2) (eV^2)."""
    theta, delta = q["theta"], q["delta"]

    def kernel(xa, xb):
        (ra, ta), (rb, tb) = xa, xb
        k = jnp.exp(-0.5 * ((ra[:, None] - rb[None, :]) / theta[ta][:, None]) ** 2)
        return jnp.where(ta[:, None] == tb[None, :], delta[ta][:, None] ** 2 * k, 0.0)
    return _double_sum(kernel, (r, types), w)


# ------------------------------------------------------------------------------ variances
def _fit_terms(kmm_factor, posterior_factor, k: jax.Array) -> jax.Array:
    """|R^-T k|^2 - |U^-T k|^2 per column of k (M_tot, c) (eV^2)."""
    def sq(factor):
        v = jax.scipy.linalg.solve_triangular(factor, k, trans="T", lower=False)
        return jnp.sum(v * v, axis=0)
    return sq(posterior_factor) - sq(kmm_factor)


def energy_variance_function(gap_spec: dict | str) -> SigmaFn:
    """``var(gap_params, kmm_factor, posterior_factor, positions, cell, species, neighbors)``:
    the DTC variance (eV^2, scalar) of a GAP's total energy (module docstring), with
    ``gap_params`` the GAP's params, the factors (M_tot, M_tot), positions (N, 3) Å, cell
    (3, 3) Å, species (N,) Z and a neighbor list at the GAP's cutoff."""
    lay = layout(gap_spec)

    def variance(gap_params, kmm_factor, posterior_factor, positions, cell, species,
                 neighbors):
        rows, prior = [], jnp.zeros((), positions.dtype)
        if lay.soap is not None:
            sp = _part(gap_params, lay.soap)
            k, p, index = _soap_kernel(lay.soap, sp, positions, cell, species, neighbors)
            rows.append(jnp.sum(k, axis=0))
            prior = prior + _soap_prior(lay.soap, sp["delta"], p, index)
        if lay.pair is not None:
            q = _part(gap_params, lay.pair)
            r, types, w = _pair_list(lay.pair, positions, cell, species, neighbors)
            rows.append(_pair_row(lay.pair, q, r, types, w))
            prior = prior + _pair_prior(q, r, types, w)
        k_star = jnp.concatenate(rows)[:, None]
        return prior + _fit_terms(kmm_factor, posterior_factor, k_star)[0]

    return variance


def local_energy_variance_function(gap_spec: dict | str) -> SigmaFn:
    """``var(gap_params, kmm_factor, posterior_factor, positions, cell, species, neighbors)``:
    the DTC variance (N,) eV^2 of each atom's SOAP local energy (0 for atoms of species the
    GAP does not know, e.g. padding); ValueError for a GAP without a SOAP term (as
    ``predictive_std`` has no local energies for one)."""
    lay = layout(gap_spec)
    if lay.soap is None:
        raise ValueError("local-energy variances need a GAP with a SOAP term; this one has "
                         "only distance_2b")

    def variance(gap_params, kmm_factor, posterior_factor, positions, cell, species,
                 neighbors):
        sp = _part(gap_params, lay.soap)
        k, _, index = _soap_kernel(lay.soap, sp, positions, cell, species, neighbors)
        m_tot = kmm_factor.shape[0]
        k = jnp.pad(k.T, [(0, m_tot - k.shape[1]), (0, 0)])  # (M_tot, N): zero 2b columns
        var = sp["delta"] ** 2 + _fit_terms(kmm_factor, posterior_factor, k)
        return jnp.where(index >= 0, var, 0.0)

    return variance


def safe_std(variance: jax.Array) -> jax.Array:
    """sqrt(max(variance, :data:`TINY_VARIANCE`)): finite value and gradient everywhere."""
    return jnp.sqrt(jnp.maximum(variance, TINY_VARIANCE))


def carried_std_function(config: dict, local: bool = False) -> SigmaFn:
    """``sigma(params, positions, cell, species, neighbors)`` of an ``"uncertain"`` model's
    spec config with method ``gap_posterior``: ``scale[0]`` x the DTC standard deviation of
    the total energy (scalar, eV) or, with ``local``, of each atom's local energy ((N,) eV),
    with ``params = {"model": GAP params, "uq": {"kmm_factor", "posterior_factor"}}``."""
    if config["method"] != "gap_posterior":
        raise ValueError(f"not a GAP posterior: method {config['method']!r}")
    factor = float(config["scale"][0])
    build = local_energy_variance_function if local else energy_variance_function
    variance = build(config["child"])

    def sigma(params, positions, cell, species, neighbors):
        uq = params["uq"]
        return factor * safe_std(variance(params["model"], uq["kmm_factor"],
                                          uq["posterior_factor"], positions, cell, species,
                                          neighbors))
    return sigma


@functools.lru_cache(maxsize=64)
def _of_spec(spec: str, local: bool) -> SigmaFn:
    spec_dict = json.loads(spec)
    if spec_dict["kind"] == "biased":  # a biased model's params are its child's
        return _of_spec(json.dumps(spec_dict["config"]["child"], sort_keys=True), local)
    if spec_dict["kind"] != "uncertain" or spec_dict["config"]["method"] != "gap_posterior":
        raise ValueError("a GAP posterior's sigma needs a GAP carrying its posterior "
                         "(uq.calibrate(gap, validation_frames, posterior=...) or "
                         "jaxpot.uncertainty.carrier.carry(gap, 'gap_posterior', ...)); got "
                         f"a model of kind {spec_dict['kind']!r}")
    return carried_std_function(spec_dict["config"], local)


def energy_std_function(model: EnergyModel) -> SigmaFn:
    """``sigma(params, positions, cell, species, neighbors)`` (eV, scalar) of a GAP carrying
    its posterior (or a biased model over one, whose params are its child's): the calibrated
    total-energy standard deviation, ``uq.predict(model, [atoms]).energy_std``.  One function
    per spec (models of one spec share it)."""
    return _of_spec(model.spec, False)


def local_energy_std_function(model: EnergyModel) -> SigmaFn:
    """``sigma(params, positions, cell, species, neighbors)`` ((N,) eV) of a GAP carrying its
    posterior (or a biased model over one): each atom's calibrated local-energy standard
    deviation (the "local variance" FLARE uses), ``uq.predict(model, [atoms]).energies_std``;
    unknown species (padding) get sqrt(:data:`TINY_VARIANCE`) x the factor."""
    return _of_spec(model.spec, True)


__all__ = ["BLOCK", "TINY_VARIANCE", "Layout", "carried_std_function",
           "energy_std_function", "energy_variance_function", "layout",
           "local_energy_std_function", "local_energy_variance_function", "safe_std"]
