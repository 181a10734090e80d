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

from jaxpot.model import EnergyModel, check_host_inputs, check_neighbor_range
from jaxpot.space import full_to_voigt, volume
from jaxpot.structure import check_species_known
from jaxpot.types import Array


class Results(NamedTuple):
    """energy () eV, forces (N,3) eV/Å, stress (3,3) eV/Å^3, energies (N,) eV or None."""

    energy: Array
    forces: Array
    stress: Array
    energies: Array | None


def forces(model: EnergyModel, positions: Array, cell: Array, species: Array,
           neighbors: Any) -> Array:
    """Forces (N, 3) eV/Å = -dE/dpositions."""
    return -jax.grad(model.energy)(positions, cell, species, neighbors)


def strain_derivative(positions: Array, cell: Array, de_dpositions: Array,
                      de_dcell: Array) -> Array:
    """dE/d(strain) (3, 3) eV at zero strain from the position and cell gradients.

    For ``x -> x (I + eps)`` applied to positions and cell, the chain rule gives
    ``dE/deps_ab = sum_i x_ia dE/dx_ib + sum_k cell_ka dE/dcell_kb`` (symmetrised, as the
    strain is): one reverse pass w.r.t. positions and cell, no strained copy of the inputs.
    """
    g = positions.T @ de_dpositions + cell.T @ de_dcell
    return 0.5 * (g + g.T)


def virial(model: EnergyModel, positions: Array, cell: Array, species: Array,
           neighbors: Any) -> Array:
    """Virial (3, 3) eV = -dE/d(strain) (libAtoms/GAP sign)."""
    de_dr, de_dcell = jax.grad(model.energy, argnums=(0, 1))(positions, cell, species, neighbors)
    return -strain_derivative(positions, cell, de_dr, de_dcell)


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
        check_host_inputs(model, species)  # as itself, not from inside jit


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
    if compute_stress:
        energy, (de_dr, de_dcell) = jax.value_and_grad(model.energy, argnums=(0, 1))(
            positions, cell, species, neighbors)
        sigma = strain_derivative(positions, cell, de_dr, de_dcell) / volume(cell)
    else:
        energy, de_dr = jax.value_and_grad(model.energy)(positions, cell, species, neighbors)
        sigma = jnp.zeros((3, 3), positions.dtype)
    energies = None
    if compute_energies and model.atomic_energies_fn is not None:
        energies = model.atomic_energies(positions, cell, species, neighbors)
    return Results(energy=energy, forces=-de_dr, stress=sigma, energies=energies)


def stress_voigt(sigma: Array) -> Array:
    """(3, 3) stress -> (6,) Voigt (xx, yy, zz, yz, xz, xy)."""
    return full_to_voigt(sigma)
