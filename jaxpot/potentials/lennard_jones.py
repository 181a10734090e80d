"""Lennard-Jones 12-6 pair potential, single or multi-species, with ASE's cutoff options.

``phi(r) = 4 eps [(sigma/r)^12 - (sigma/r)^6]`` for ``r < cutoff`` and, as in
``ase.calculators.lj.LennardJones``:
    smooth=False, shift=True   energy shifted by ``-phi(cutoff)`` (ASE default; forces jump)
    smooth=True                multiplied by ASE's C1 switch in r^2 between ``r_on`` and cutoff
    smooth=False, shift=False  plain truncation
Parameters (learnable pytree): ``{"sigma": (S,S) Å, "epsilon": (S,S) eV}``.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxpot.checks import positive_finite
from jaxpot.cutoffs import polynomial_switch_of_squared
from jaxpot.elements import element_numbers
from jaxpot.model import EnergyModel, make_spec, register_model_kind
from jaxpot.potentials.pair import pair_matrix, pair_model
from jaxpot.tangents import reciprocal


def lennard_jones(sigma=1.0, epsilon=1.0, cutoff: float | None = None, *, species=None,
                  smooth: bool = False, r_on: float | None = None,
                  shift: bool = True) -> EnergyModel:
    """Lennard-Jones model.

    Args:
        sigma: Å, scalar or (S,S) per species pair. epsilon: eV, scalar or (S,S).
        cutoff: Å; default ``3 * max(sigma)`` as in ASE.
        species: symbols or atomic numbers for multi-species parameters; None = one species
            (any element).
        smooth: use ASE's smooth switch between ``r_on`` (default ``0.66 * cutoff``) and cutoff.
        shift: shift the energy to zero at the cutoff (ignored when ``smooth``).
    """
    zs = None if species is None else element_numbers(species, "species")
    n = 1 if zs is None else len(zs)
    sig = pair_matrix(sigma, n, "sigma", positive=True)
    eps = pair_matrix(epsilon, n, "epsilon")
    rc = positive_finite(3.0 * sig.max() if cutoff is None else cutoff, "cutoff")
    ro = positive_finite(0.66 * rc if r_on is None else r_on, "r_on")
    if not ro < rc:
        raise ValueError(f"r_on must lie in (0, cutoff) = (0, {rc}) Å, got {ro}")

    def phi(params, r2, si, sj):  # of r^2: no square root (pair_model(squared=True))
        s = params["sigma"][si, sj]
        e = params["epsilon"][si, sj]
        c6 = (s * s * reciprocal(r2)) ** 3
        energy = 4.0 * e * (c6 * c6 - c6)
        if smooth:
            return energy * polynomial_switch_of_squared(r2, ro, rc)
        if shift:
            c6c = (s / rc) ** 6
            return energy - 4.0 * e * (c6c * c6c - c6c)
        return energy

    spec = make_spec("lennard_jones", __name__, sigma=sig.tolist(), epsilon=eps.tolist(), cutoff=rc,
                     species=None if zs is None else list(zs), smooth=smooth, r_on=ro,
                     shift=shift)
    params = {"sigma": jnp.asarray(sig), "epsilon": jnp.asarray(eps)}
    return pair_model(phi, params, rc, zs, spec, name="lennard_jones", squared=True)


def from_spec(config: dict) -> EnergyModel:
    """Rebuild from a saved spec (see :mod:`jaxpot.io`)."""
    return lennard_jones(**config)


def example() -> EnergyModel:
    """Small model for the contract test: smooth LJ near silicon's bond length (2.35 Å)."""
    return lennard_jones(sigma=2.1, epsilon=0.05, cutoff=5.5, smooth=True)


register_model_kind("lennard_jones", from_spec, example=example)
