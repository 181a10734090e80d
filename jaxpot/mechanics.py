"""Forces, virial and stress of any energy model, by autodiff of its one energy function.

Conventions (ASE's):
    forces  F_i = -dE/dr_i                       (N, 3) eV/Å
    stress  sigma = (1/V) dE/d(eps)              (3, 3) eV/Å^3, tensile positive, symmetric
    virial  W = -V sigma = -dE/d(eps)            (3, 3) eV (libAtoms/GAP convention)
where the strain ``eps`` deforms positions and cell together, ``x -> x (I + eps)``.
Voigt order is xx, yy, zz, yz, xz, xy.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.model import EnergyModel, check_neighbor_range
from jaxpot.space import apply_strain, full_to_voigt, volume
from jaxpot.structure import check_species_known
from jaxpot.types import Array


class Results(NamedTuple):
    """energy () eV, forces (N,3) eV/Å, stress (3,3) eV/Å^3, energies (N,) eV or None."""

    energy: Array
    forces: Array
    stress: Array
    energies: Array | None


def strained_energy(model: EnergyModel, strain: Array, positions: Array, cell: Array,
                    species: Array, neighbors: Any) -> Array:
    """Energy after the homogeneous strain ``strain`` (3, 3) is applied to positions and cell."""
    pos, cel = apply_strain(positions, cell, strain)
    return model.energy(pos, cel, species, neighbors)


def forces(model: EnergyModel, positions: Array, cell: Array, species: Array,
           neighbors: Any) -> Array:
    """Forces (N, 3) eV/Å = -dE/dpositions."""
    return -jax.grad(model.energy)(positions, cell, species, neighbors)


def virial(model: EnergyModel, positions: Array, cell: Array, species: Array,
           neighbors: Any) -> Array:
    """Virial (3, 3) eV = -dE/d(strain) (libAtoms/GAP sign)."""
    zero = jnp.zeros((3, 3), positions.dtype)
    return -jax.grad(strained_energy, argnums=1)(model, zero, positions, cell, species, neighbors)


def stress(model: EnergyModel, positions: Array, cell: Array, species: Array,
           neighbors: Any) -> Array:
    """Stress (3, 3) eV/Å^3 = (1/V) dE/d(strain), ASE sign (tensile positive)."""
    return -virial(model, positions, cell, species, neighbors) / volume(cell)


def check_model_inputs(model: EnergyModel, species: Array, neighbors: Any) -> None:
    """Raise a clear error when ``neighbors`` is shorter than the model's cutoff, or (for
    concrete arrays) when ``species`` holds an element the model does not know."""
    if not isinstance(model, EnergyModel):
        raise TypeError(f"expected a jaxpot EnergyModel, got {type(model)!r}")
    check_neighbor_range(model, neighbors)
    if not isinstance(species, jax.core.Tracer):
        check_species_known(np.asarray(species), model.species, model.name)


def energy_forces_stress(model: EnergyModel, positions: Array, cell: Array, species: Array,
                         neighbors: Any, compute_stress: bool = True,
                         compute_energies: bool = False) -> Results:
    """Energy, forces and (optionally) stress from one reverse pass through the energy.

    Stress needs a cell of non-zero volume (set ``compute_stress=False`` for molecules).
    Jitted: compiles once per model configuration, number of atoms and neighbor capacity.
    Raises when the neighbor list is shorter than the model's cutoff or (outside jit) when
    ``species`` holds an element the model does not know.
    """
    check_model_inputs(model, species, neighbors)
    return _energy_forces_stress(model, positions, cell, species, neighbors,
                                 compute_stress=compute_stress, compute_energies=compute_energies)


@functools.partial(jax.jit, static_argnames=("compute_stress", "compute_energies"))
def _energy_forces_stress(model: EnergyModel, positions: Array, cell: Array, species: Array,
                          neighbors: Any, compute_stress: bool = True,
                          compute_energies: bool = False) -> Results:
    zero = jnp.zeros((3, 3), positions.dtype)

    def e(strain, pos):
        return strained_energy(model, strain, pos, cell, species, neighbors)

    energy, (de_deps, de_dr) = jax.value_and_grad(e, argnums=(0, 1))(zero, positions)
    sigma = de_deps / volume(cell) if compute_stress else jnp.zeros((3, 3), positions.dtype)
    energies = None
    if compute_energies and model.atomic_energies_fn is not None:
        energies = model.atomic_energies(positions, cell, species, neighbors)
    return Results(energy=energy, forces=-de_dr, stress=sigma, energies=energies)


def stress_voigt(sigma: Array) -> Array:
    """(3, 3) stress -> (6,) Voigt (xx, yy, zz, yz, xz, xy)."""
    return full_to_voigt(sigma)
