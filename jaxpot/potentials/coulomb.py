"""Coulomb energy of point (or Gaussian) charges without Ewald: open boundaries, or damped.

    coulomb({"O": -0.8, "H": 0.4})                          # molecule / cluster, all pairs
    coulomb(charges, shielding=0.5)                          # Gaussian charges of width 0.5 Å
    coulomb(charges, damping=0.2, cutoff=10.0)               # damped shifted force (any pbc)

* Open boundaries (the default): ``E = k sum_{i<j} q_i q_j g(r_ij)`` over every pair, ``O(N^2)``,
  with ``g = 1/r`` or, with ``shielding = sigma``, ``g = erf(r / (2 sigma)) / r`` (the energy of
  two Gaussian charge clouds of width sigma; finite at r = 0).  Needs ``pbc`` False in every
  direction: a periodic cell needs :func:`jaxpot.potentials.ewald` or ``pme``.
* ``damping = alpha`` with a ``cutoff``: the damped shifted force sum of Fennell & Gezelter,
  J. Chem. Phys. 124, 234104 (2006) (LAMMPS ``pair_style coul/dsf``): energy and force go to zero
  at the cutoff, over the neighbor list, periodic or not, plus the self term
  ``-(erfc(alpha R) / 2R + alpha / sqrt(pi)) q_i^2`` of the paper (Eq. 18).  LAMMPS' pairs are
  the same; its self term adds ``f_shift R q_i^2 / 2`` (``f_shift`` the force shift, < 0), a
  constant for fixed charges (tests/test_electrostatics.py).

``k`` is :data:`jaxpot.units.coulomb`; charges as in :func:`jaxpot.potentials.ewald`
(params ``{"charges": ...}``).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxpot.electrostatics.charge_models import as_charge_model, charge_model_from_config
from jaxpot.model import EnergyModel, make_spec, register_model_kind
from jaxpot.neighbors import neighbor_vectors
from jaxpot.units import coulomb as k_e


def _open_pairs_atomic(q, positions, shielding):
    """(N,) half of each pair's energy over all pairs (e^2/Å)."""
    n = positions.shape[0]
    d = positions[:, None, :] - positions[None, :, :]
    off = ~jnp.eye(n, dtype=bool) & (q[:, None] != 0) & (q[None, :] != 0)
    r2 = jnp.where(off, jnp.sum(d * d, axis=-1), 1.0)
    r = jnp.sqrt(r2)
    g = 1.0 / r if shielding is None else jax.scipy.special.erf(r / (2.0 * shielding)) / r
    return 0.5 * q * jnp.sum(jnp.where(off, g * q[None, :], 0.0), axis=1)


def _dsf_atomic(q, positions, cell, neighbors, alpha, cutoff):
    """(N,) damped-shifted-force energies: half of each pair plus the self term (e^2/Å)."""
    vectors, mask = neighbor_vectors(positions, cell, neighbors)
    r2 = jnp.sum(vectors * vectors, axis=-1)
    within = mask & (r2 < cutoff * cutoff)
    r = jnp.sqrt(jnp.where(within, r2, cutoff * cutoff))
    erfc_rc = math.erfc(alpha * cutoff) / cutoff
    slope = erfc_rc / cutoff + 2.0 * alpha / math.sqrt(math.pi) \
        * math.exp(-alpha * alpha * cutoff * cutoff) / cutoff
    pair = jax.scipy.special.erfc(alpha * r) / r - erfc_rc + slope * (r - cutoff)
    qp = jnp.concatenate([q, jnp.zeros((1,), q.dtype)])
    half = 0.5 * q * jnp.sum(jnp.where(within, pair * qp[neighbors.idx], 0.0), axis=1)
    return half - (0.5 * erfc_rc + alpha / math.sqrt(math.pi)) * q * q


def coulomb(charges, *, shielding: float | None = None, damping: float | None = None,
            cutoff: float | None = None) -> EnergyModel:
    """Coulomb energy model (eV); see the module docstring for the three forms."""
    model_q = as_charge_model(charges)
    if shielding is not None and not (math.isfinite(shielding) and shielding > 0):
        raise ValueError(f"shielding must be a positive Gaussian width in Å, got {shielding!r}")
    if (damping is None) != (cutoff is None):
        raise ValueError("damped Coulomb needs both damping (1/Å) and cutoff (Å)")
    if damping is not None:
        if not (math.isfinite(damping) and damping >= 0 and math.isfinite(cutoff)
                and cutoff > 0):
            raise ValueError(f"need damping >= 0 (1/Å) and a positive finite cutoff (Å), got "
                             f"damping={damping!r}, cutoff={cutoff!r}")
        if shielding is not None:
            raise ValueError("shielding applies to open-boundary Coulomb, not to damping")
    name = "coulomb"

    def atomic(params, positions, cell, species, neighbors):
        q = model_q.apply(params["charges"], positions, cell, species, neighbors)
        if damping is not None:
            e = _dsf_atomic(q, positions, cell, neighbors.within(cutoff), damping, cutoff)
        else:
            pbc = tuple(getattr(neighbors, "pbc", (False,) * 3))
            if any(pbc):
                raise ValueError(f"{name}: open-boundary Coulomb needs pbc False in every "
                                 f"direction, got pbc={pbc}; use jaxpot.potentials.ewald or pme "
                                 "for periodic cells (or damping= and cutoff=)")
            e = _open_pairs_atomic(q, positions, shielding)
        return k_e * e

    def energy(params, positions, cell, species, neighbors):
        return jnp.sum(atomic(params, positions, cell, species, neighbors))

    reach = max(float(cutoff or 0.0), float(model_q.cutoff))
    cutoffs = sorted({float(cutoff or 0.0), float(model_q.cutoff)} - {0.0})
    spec = make_spec("coulomb", __name__, charges=model_q.config, shielding=shielding,
                     damping=damping, cutoff=cutoff)
    return EnergyModel(energy_fn=energy, params={"charges": model_q.params},
                       cutoff=reach if reach > 0 else 1.0, species=model_q.species,
                       atomic_energies_fn=atomic, spec=spec, name=name,
                       part_cutoffs=tuple(cutoffs) if len(cutoffs) > 1 else ())


def _from_spec(config: dict) -> EnergyModel:
    config = dict(config)
    return coulomb(charge_model_from_config(config.pop("charges")), **config)


def example() -> EnergyModel:
    """Small model for the contract test: damped shifted force Coulomb of Na+0.7 / Cl-0.7
    (cutoff 6 Å), which, unlike the open-boundary form, takes periodic cells too."""
    return coulomb({"Na": 0.7, "Cl": -0.7}, damping=0.25, cutoff=6.0)


register_model_kind("coulomb", _from_spec, example=example)
