"""Morse pair potential with ASE's ``MorsePotential`` parameterisation and smooth cutoff.

``phi(r) = eps [exp(-2 rho0 (r/r0 - 1)) - 2 exp(-rho0 (r/r0 - 1))] * fcut(r)`` where ``fcut`` is
the quintic smoothstep from ``rcut1 * r0`` to ``rcut2 * r0`` (``ase.calculators.morse.fcut``).
Multi-species: each parameter may be an (S,S) matrix.  Learnable params:
``{"epsilon": eV, "r0": Å, "rho0": dimensionless}``.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxpot.checks import positive_finite
from jaxpot.cutoffs import smoothstep_switch
from jaxpot.elements import element_numbers
from jaxpot.model import EnergyModel, make_spec, register_model_kind
from jaxpot.potentials.pair import pair_matrix, pair_model


def morse(epsilon=1.0, r0=1.0, rho0=6.0, rcut1: float = 1.9, rcut2: float = 2.7, *,
          species=None) -> EnergyModel:
    """Morse model; ``rcut1``/``rcut2`` are in units of ``r0`` as in ASE (cutoff = rcut2*max r0).

    epsilon >= 0 (0 switches a species pair off), r0 > 0 and rho0 finite, 0 < rcut1 < rcut2.
    """
    zs = None if species is None else element_numbers(species, "species")
    n = 1 if zs is None else len(zs)
    eps = pair_matrix(epsilon, n, "epsilon", nonnegative=True)
    req = pair_matrix(r0, n, "r0", positive=True)
    rho = pair_matrix(rho0, n, "rho0")
    rcut1, rcut2 = (positive_finite(rcut1, "rcut1", "units of r0"),
                    positive_finite(rcut2, "rcut2", "units of r0"))
    if not rcut1 < rcut2:
        raise ValueError(f"need 0 < rcut1 < rcut2, got rcut1={rcut1}, rcut2={rcut2}")
    cutoff = float(rcut2 * req.max())

    def phi(params, r, si, sj):
        e, rm, p = (params[k][si, sj] for k in ("epsilon", "r0", "rho0"))
        x = jnp.exp(p * (1.0 - r / rm))
        return e * x * (x - 2.0) * smoothstep_switch(r, rcut1 * rm, rcut2 * rm)

    spec = make_spec("morse", __name__, epsilon=eps.tolist(), r0=req.tolist(), rho0=rho.tolist(),
                     rcut1=rcut1, rcut2=rcut2, species=None if zs is None else list(zs))
    params = {"epsilon": jnp.asarray(eps), "r0": jnp.asarray(req), "rho0": jnp.asarray(rho)}
    return pair_model(phi, params, cutoff, zs, spec, name="morse")


def from_spec(config: dict) -> EnergyModel:
    return morse(**config)


def example() -> EnergyModel:
    """Small model for the contract test: silicon's second neighbours (3.84 Å) lie inside the
    switch (3.12 to 4.2 Å)."""
    return morse(epsilon=0.3, r0=2.4, rho0=5.0, rcut1=1.3, rcut2=1.75)


register_model_kind("morse", from_spec, example=example)
