"""Embedded-atom method (EAM, Finnis–Sinclair) from LAMMPS potential files.

    E_i = F_a(rho_i) + 1/2 sum_j phi_ab(r_ij),    rho_i = sum_j rho_{b->a}(r_ij)

with a, b the elements of atoms i, j.  There is no self term: an atom's own density at r = 0 is
not added (jax-md 0.2.29's EAM adds it, giving -1.23 instead of -3.51 eV/atom for Mishin Cu;
ASE and LAMMPS do not, and neither does jaxpot).

The tabulated functions are interpolated in one of two ways, each matching a reference code to
round-off (the two differ by up to ~1e-3 eV/atom on coarse funcfl grids, REFERENCE-NOTES):

* ``interpolation="lammps"`` (default): LAMMPS ``pair_style eam*`` cubic Hermite splines with
  its finite-difference slopes on LAMMPS's grids (a funcfl table resampled without its last
  point, :mod:`jaxpot.potentials.eam_lammps`), linear extrapolation of F above the table, pair
  cutoff ``r < cutoff``, funcfl ``r*phi = 27.2*0.529 Z(r)^2``.  Beyond a table's last point
  (r within one dr of the cutoff where the cutoff is past the table: a funcfl file whose
  cutoff is its last point, e.g. ``Cu_smf7.eam``, or ``VFe_mm.eam.fs``; rho above the table)
  the value is held and the derivative is the slope at the last point, as in LAMMPS's
  forces: there the forces are LAMMPS's, not -dE/dx.
* ``interpolation="ase"``: ``ase.calculators.eam.EAM``: SciPy not-a-knot cubic splines
  (``InterpolatedUnivariateSpline``; phi splined as phi(r) on r > 0), cubic extrapolation,
  funcfl ``r*phi = Hartree*Bohr Z(r)^2``.

Both are pure JAX piecewise cubics, so forces, stress and higher derivatives are autodiff
(exact on the tables).
Learnable params: the piecewise-cubic coefficients and breakpoints of F, rho and phi.

The model reads the neighbor list's half list (``uses_rows=False``: its own lists have no
rows), through the derivative rule of :mod:`jaxpot.potentials.eam_half`; on a list with
full rows (a sum with a many-body model) it sums the rows with a row-reduction rule.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from ase.data import atomic_numbers
from ase.units import Bohr, Hartree
from scipy.interpolate import InterpolatedUnivariateSpline, PPoly

from jaxpot.cutoffs import safe_norm
from jaxpot.model import EnergyModel, make_spec, register_model_kind, species_lookup
from jaxpot.neighbors import half_pair_vectors, neighbor_vectors
from jaxpot.potentials.eam_files import EAMTables, read_eam_file
from jaxpot.potentials.eam_half import half_eam_energy_fn
from jaxpot.potentials.eam_lammps import (  # noqa: F401 (LAMMPS_FUNCFL_CONSTANT: public name)
    LAMMPS_FUNCFL_CONSTANT,
    lammps_params,
    lammps_rho_max,
)
from jaxpot.potentials.pair import has_rows
from jaxpot.potentials.pair_rows import row_components, rows_tangent
from jaxpot.tangents import instantiate, is_zero

FAMILIES = ("embedding", "density", "pair")


def eam(path: str, interpolation: str = "lammps", form: str | None = None) -> EnergyModel:
    """EAM model from a LAMMPS ``.eam`` (funcfl), ``.eam.alloy`` (setfl) or ``.eam.fs`` file.

    Args:
        path: potential file. interpolation: ``"lammps"`` or ``"ase"`` (see module docstring).
        form: ``"funcfl"``, ``"setfl"`` or ``"fs"``; default from the file name.
    """
    return eam_from_tables(read_eam_file(path, form), interpolation)


def eam_from_tables(tables: EAMTables, interpolation: str = "lammps") -> EnergyModel:
    """EAM model from tables in memory (as :func:`eam` reads them from a file)."""
    if interpolation == "lammps":
        params = lammps_params(tables)
    elif interpolation == "ase":
        params = _ase_params(tables)
    else:
        raise ValueError(f"interpolation must be 'lammps' or 'ase', got {interpolation!r}")
    config = dict(elements=tables.elements, masses=tables.masses.tolist(), cutoff=tables.cutoff,
                  interpolation=interpolation, form=tables.form,
                  shapes={k: list(np.shape(v)) for k, v in _flat(params).items()})
    if interpolation == "lammps" and lammps_rho_max(tables) is not None:
        config["rho_max"] = lammps_rho_max(tables)
    return _build(params, config)


def from_spec(config: dict) -> EnergyModel:
    """Rebuild from a saved spec (placeholder params of the saved shapes)."""
    shapes = config["shapes"]
    params = {f: {"breaks": np.zeros(shapes[f"{f}/breaks"]),
                  "coeffs": np.zeros(shapes[f"{f}/coeffs"])} for f in FAMILIES}
    return _build(params, config)


def _flat(params):
    return {f"{f}/{k}": v for f in FAMILIES for k, v in params[f].items()}


# ------------------------------------------------------------------------ coefficient tables


def _spline_family(x: np.ndarray, values: np.ndarray) -> dict:
    """SciPy not-a-knot cubic splines (as ASE builds them) -> shared breaks, power coeffs."""
    breaks, coeffs = None, []
    for row in values.reshape(-1, values.shape[-1]):
        pp = PPoly.from_spline(InterpolatedUnivariateSpline(x, row, k=3)._eval_args)
        keep = np.diff(pp.x) > 0
        b = np.concatenate([pp.x[:-1][keep], pp.x[-1:]])
        if breaks is None:
            breaks = b
        coeffs.append(pp.c[:, keep].T)
    return {"breaks": breaks, "coeffs": np.array(coeffs)}


def _ase_params(t: EAMTables) -> dict:
    s = len(t.elements)
    r = np.arange(t.nr) * t.dr
    rphi = t.rphi
    if t.form == "funcfl":
        rphi = Bohr * Hartree * t.rphi ** 2
    return {"embedding": _spline_family(np.arange(t.nrho) * t.drho, t.embedding),
            "density": _spline_family(r, t.density.reshape(s * s, t.nr)),
            "pair": _spline_family(r[1:], rphi.reshape(s * s, t.nr)[:, 1:] / r[1:])}


# ------------------------------------------------------------------------ evaluation


def _interval(breaks, m: int, x, uniform: bool):
    """Interval index of ``x`` among ``breaks`` (clipped to the m intervals) and the offset."""
    if uniform:
        i = jnp.clip(jnp.floor(x / breaks[1]).astype(jnp.int32), 0, m - 1)
    else:
        i = jnp.clip(jnp.searchsorted(breaks, x, side="right") - 1, 0, m - 1)
    return i, x - breaks[i]


def _cubic(c, dx):
    return ((c[..., 0] * dx + c[..., 1]) * dx + c[..., 2]) * dx + c[..., 3]


def _cubic_slope(c, dx):
    return (3.0 * c[..., 0] * dx + 2.0 * c[..., 1]) * dx + c[..., 2]


def _evaluate(family, table_index, x, uniform: bool, clamp: bool):
    """Piecewise cubic ``((c0 dx + c1) dx + c2) dx + c3`` of table ``table_index`` at ``x``.

    ``clamp`` (LAMMPS): beyond the last point the value is held and the derivative is the
    slope at the last point, as LAMMPS's force code has it (a straight-through term, zero in
    value; its second derivative is zero)."""
    breaks, coeffs = family["breaks"], family["coeffs"]
    i, dx = _interval(breaks, coeffs.shape[-2], x, uniform)
    c = coeffs[table_index, i]
    if not clamp:
        return _cubic(c, dx)
    width = breaks[i + 1] - breaks[i]
    held = _cubic(c, jnp.minimum(dx, width))
    through = _cubic_slope(c, width) * (dx - jax.lax.stop_gradient(dx))
    return held + jnp.where(dx > width, through, 0.0)


def _evaluate_with_slope(family, table_index, x, uniform: bool, clamp: bool):
    """:func:`_evaluate` and its derivative in ``x`` from one lookup of the coefficients
    (beyond the last point with ``clamp``: the held value and the slope there)."""
    breaks, coeffs = family["breaks"], family["coeffs"]
    i, dx = _interval(breaks, coeffs.shape[-2], x, uniform)
    if clamp:
        dx = jnp.minimum(dx, breaks[i + 1] - breaks[i])
    c = [coeffs[table_index, i, q] for q in range(4)]  # 4 gathers: 3x faster than 1 (Cu_u3 rows)
    value = ((c[0] * dx + c[1]) * dx + c[2]) * dx + c[3]
    return value, (3.0 * c[0] * dx + 2.0 * c[1]) * dx + c[2]


def _derivative_at_end(family, table_index):
    breaks, c = family["breaks"], family["coeffs"][table_index, -1]
    h = breaks[-1] - breaks[-2]
    return (3.0 * c[..., 0] * h + 2.0 * c[..., 1]) * h + c[..., 2]


def _build(params: dict, config: dict) -> EnergyModel:
    elements = config["elements"]
    zs = tuple(int(atomic_numbers[e]) for e in elements)
    s = len(zs)
    lookup = species_lookup(zs)
    cutoff = float(config["cutoff"])
    lammps = config["interpolation"] == "lammps"

    def rho_max(p):
        """Where F turns linear: the table's end, or a funcfl file's own (eam_lammps)."""
        return config["rho_max"] if "rho_max" in config else p["embedding"]["breaks"][-1]

    def densities_and_pairs(p, positions, cell, species, neighbors):
        """Density rho (N,) at each atom and pair energy per atom (N,) eV."""
        n = positions.shape[0]
        a = jnp.asarray(lookup)[species]
        if getattr(neighbors, "half_i", None) is not None:  # each pair once, both ends
            i, j, vectors, mask = half_pair_vectors(positions, cell, neighbors)
            sq = jnp.sum(vectors * vectors, axis=-1)
            within = mask & (sq < cutoff * cutoff)
            rs = jnp.sqrt(jnp.where(within, sq, 0.25 * cutoff * cutoff))
            padded = jnp.concatenate([a, jnp.zeros((1,), a.dtype)])
            ai, aj = padded[i], padded[j]
            to_i = jnp.where(within, _evaluate(p["density"], aj * s + ai, rs, lammps, lammps), 0.0)
            to_j = jnp.where(within, _evaluate(p["density"], ai * s + aj, rs, lammps, lammps), 0.0)
            rho = jnp.zeros(n + 1, rs.dtype).at[i].add(to_i).at[j].add(to_j)[:n]
            phi_i = _evaluate(p["pair"], ai * s + aj, rs, lammps, lammps)
            phi_j = _evaluate(p["pair"], aj * s + ai, rs, lammps, lammps)
            if lammps:  # LAMMPS tabulates r*phi
                phi_i, phi_j = phi_i / rs, phi_j / rs
            phi_i = jnp.where(within, 0.5 * phi_i, 0.0)
            phi_j = jnp.where(within, 0.5 * phi_j, 0.0)
            return rho, jnp.zeros(n + 1, rs.dtype).at[i].add(phi_i).at[j].add(phi_j)[:n], a
        vectors, mask = neighbor_vectors(positions, cell, neighbors)
        r = safe_norm(vectors, mask)
        within = mask & (r < cutoff)
        rs = jnp.where(within, r, 0.5 * cutoff)
        b = jnp.concatenate([a, jnp.zeros((1,), jnp.int32)])[neighbors.idx]
        a2 = jnp.broadcast_to(a[:, None], b.shape)
        dens = _evaluate(p["density"], b * s + a2, rs, lammps, lammps)
        rho = jnp.sum(jnp.where(within, dens, 0.0), axis=1)
        pair = _evaluate(p["pair"], a2 * s + b, rs, lammps, lammps)
        if lammps:
            pair = pair / rs  # LAMMPS tabulates r*phi
        return rho, 0.5 * jnp.sum(jnp.where(within, pair, 0.0), axis=1), a

    def embedding(p, a, rho):
        embed = _evaluate(p["embedding"], a, rho, lammps, lammps)
        if lammps:  # linear above rho_max, as LAMMPS; the slope comes from _evaluate
            slope = _derivative_at_end(p["embedding"], a)
            beyond = slope * (jax.lax.stop_gradient(rho) - rho_max(p))
            embed = embed + jnp.where(rho > rho_max(p), beyond, 0.0)
        return embed

    def atomic_energies(p, positions, cell, species, neighbors):
        rho, pair_energy, a = densities_and_pairs(p, positions, cell, species, neighbors)
        return embedding(p, a, rho) + pair_energy

    def row_pieces(positions, cell, species, idx, shifts):
        """Row vectors, distances (padding at cutoff/2), mask and the species of both ends."""
        n = positions.shape[0]
        d = row_components(positions, cell, idx, shifts)
        sq = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
        within = (idx < n) & (sq < cutoff * cutoff)
        r = jnp.sqrt(jnp.where(within, sq, 0.25 * cutoff * cutoff))
        a = jnp.asarray(lookup)[species]
        b = jnp.concatenate([a, jnp.zeros((1,), a.dtype)])[idx]
        return d, r, within, a, jnp.broadcast_to(a[:, None], b.shape), b

    def row_functions(p, r, within, a2, b, mirror: bool):
        """Per row entry (N, K), each with its r-derivative: density at i from k, at k from i
        (``mirror``; else None) and pair energy, zero outside the cutoff."""
        def masked(family, table, divide):
            v, dv = _evaluate_with_slope(p[family], table, r, lammps, lammps)
            if divide:  # LAMMPS tabulates r*phi
                v, dv = v / r, (dv - v / r) / r
            return jnp.where(within, v, 0.0), jnp.where(within, dv, 0.0)
        dens = masked("density", b * s + a2, False)
        other = masked("density", a2 * s + b, False) if mirror else None
        return dens, other, masked("pair", a2 * s + b, lammps)

    @jax.custom_jvp
    def rows_energy(p, positions, cell, species, idx, shifts):
        _, r, within, a, a2, b = row_pieces(positions, cell, species, idx, shifts)
        (rho_ik, _), _, (phi, _) = row_functions(p, r, within, a2, b, False)
        return jnp.sum(embedding(p, a, jnp.sum(rho_ik, axis=1))) + 0.5 * jnp.sum(phi)

    def rows_energy_jvp(primals, tangents):
        """Per pair, dE/dr = F'(rho_i) rho'_{k->i} + F'(rho_k) rho'_{i->k} + phi', equal on
        mirror entries: the position tangent is a row reduction (pair_rows.rows_tangent)."""
        p, positions, cell, species, idx, shifts = primals
        d_p, d_positions, d_cell = tangents[:3]
        d, r, within, a, a2, b = row_pieces(positions, cell, species, idx, shifts)
        (rho_ik, drho_ik), other, (phi, dphi) = row_functions(p, r, within, a2, b, s > 1)
        drho_ki = drho_ik if other is None else other[1]
        rho = jnp.sum(rho_ik, axis=1)
        embed, dembed = jax.jvp(lambda x: embedding(p, a, x), (rho,), (jnp.ones_like(rho),))
        dembed_k = jnp.concatenate([dembed, jnp.zeros((1,), dembed.dtype)])[idx]
        dedr = dembed[:, None] * drho_ik + dembed_k * drho_ki + dphi
        # dE = sum_pairs dedr dr = 1/2 sum_rows (dedr / r) d . dd
        out = rows_tangent(jnp.where(within, 0.5 * dedr / r, 0.0), d, shifts, d_positions,
                           d_cell)
        if not is_zero(d_p):
            d_p = instantiate(d_p, p)
            out = out + jax.jvp(lambda q: rows_energy.fun(q, positions, cell, species, idx,
                                                          shifts), (p,), (d_p,))[1]
        return jnp.sum(embed) + 0.5 * jnp.sum(phi), out

    rows_energy.defjvp(rows_energy_jvp, symbolic_zeros=True)

    half_energy = half_eam_energy_fn(
        lambda family, table, x: _evaluate(family, table, x, lammps, lammps),
        lambda family, table, x: _evaluate_with_slope(family, table, x, lammps, lammps),
        embedding, lookup, s, cutoff, lammps)

    def energy(p, positions, cell, species, neighbors):
        if has_rows(neighbors):
            return rows_energy(p, positions, cell, species, neighbors.idx, neighbors.shifts)
        if getattr(neighbors, "half_i", None) is None:
            return jnp.sum(atomic_energies(p, positions, cell, species, neighbors))
        return half_energy(p, positions, cell, species, neighbors.half_i, neighbors.half_j,
                           neighbors.half_shifts)

    spec = make_spec("eam", __name__, **config)
    jparams = {f: {k: jnp.asarray(v) for k, v in params[f].items()} for f in FAMILIES}
    return EnergyModel(energy_fn=energy, params=jparams, cutoff=cutoff, species=zs,
                       atomic_energies_fn=atomic_energies, spec=spec,
                       name=f"eam({'/'.join(elements)}, {config['interpolation']})",
                       uses_rows=False)


def example() -> EnergyModel:
    """Small model for the contract test: a two-element (Cu, Ni) setfl EAM of smooth analytic
    tables (no file), cutoff 4 Å: a Morse pair term, exponential densities, F = -sqrt + rho^2,
    each element's functions scaled apart so that the tables' species lookup matters."""
    cutoff, nr, nrho = 4.0, 201, 201
    r = np.linspace(0.0, cutoff, nr)
    taper = (1.0 - r / cutoff) ** 3
    rho = np.linspace(0.0, 2.0, nrho)
    scale = np.array([1.0, 1.25])  # Cu, Ni
    density = scale[:, None, None] * np.exp(-1.4 * (r - 2.5)) * taper * np.ones((1, 2, 1))
    x = np.exp(-1.5 * (r - 2.45))
    pair = np.sqrt(scale[:, None] * scale[None, :])[..., None] * 0.4 * x * (x - 2.0) * taper
    embedding = -scale[:, None] * np.sqrt(rho + 0.05) + 0.3 * rho ** 2
    tables = EAMTables("setfl", ["Cu", "Ni"], np.array([63.546, 58.693]), nrho,
                       float(rho[1]), nr, float(r[1]), cutoff, embedding, density, r * pair)
    return eam_from_tables(tables)


register_model_kind("eam", from_spec, example=example)
