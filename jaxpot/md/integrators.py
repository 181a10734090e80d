"""NVE (velocity Verlet) and Langevin (BAOAB) integrators.

Both are :class:`~jaxpot.md.state.Integrator` values: ``init`` evaluates the forces once,
``step`` advances one time step and updates the neighbor list (skin test inside jit).
BAOAB is Leimkuhler & Matthews, Appl. Math. Res. Express 2013, 34: half kick, half drift,
exact Ornstein–Uhlenbeck velocity update, half drift, half kick; its configurational
sampling error is O(dt^2) and small, which makes it the default NVT workhorse.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxpot.batch import masked_energy_forces_stress
from jaxpot.md.state import (
    Integrator,
    MDState,
    check_model,
    check_positive,
    kinetic_energy,
    masses_option,
    register_integrator,
)
from jaxpot.mechanics import energy_forces_stress
from jaxpot.model import EnergyModel
from jaxpot.neighbors import update_neighbor_list
from jaxpot.units import fs, kB


def evaluate(model: EnergyModel, positions, cell, species, neighbors, with_stress: bool,
             atom_mask=None):
    """Energy eV, forces (N,3) eV/Å and (if asked) potential stress (3,3) eV/Å^3.

    With ``atom_mask`` (a padded system) the energy is the masked sum of per-atom energies
    and padding atoms get zero force (:func:`jaxpot.batch.masked_energy_forces_stress`).
    """
    if atom_mask is not None:
        res = masked_energy_forces_stress(model, positions, cell, species, atom_mask,
                                          neighbors, compute_stress=with_stress)
    else:
        res = energy_forces_stress(model, positions, cell, species, neighbors,
                                   compute_stress=with_stress)
    return res.energy, res.forces, res.stress


def init_state(integrator: Integrator, positions, momenta, cell, species, masses, neighbors,
               key, thermostat=None, barostat=None, pbc=(True, True, True),
               atom_mask=None) -> MDState:
    """An :class:`MDState` with forces (and stress, for barostats) at the start."""
    dtype = positions.dtype
    energy, forces, stress = evaluate(integrator.model, positions, cell, species, neighbors,
                                      integrator.needs_stress, atom_mask)
    return MDState(positions=positions, momenta=jnp.asarray(momenta, dtype),
                   masses=jnp.asarray(masses, dtype), cell=jnp.asarray(cell, dtype),
                   species=jnp.asarray(species, jnp.int32), energy=energy, forces=forces,
                   stress=stress, thermostat=thermostat, barostat=barostat, key=key,
                   step=jnp.asarray(0, jnp.int32), atom_mask=atom_mask,
                   pbc=tuple(bool(p) for p in pbc))


def kick(state: MDState, delta) -> MDState:
    """p += delta F."""
    return state.replace(momenta=state.momenta + delta * state.forces)


def drift(state: MDState, delta) -> MDState:
    """r += delta p / m."""
    return state.replace(positions=state.positions + delta * state.velocities)


def new_forces(integrator: Integrator, state: MDState, neighbors):
    """Update the neighbor list at the state's positions and cell, then forces (and stress)."""
    neighbors = update_neighbor_list(state.positions, state.cell, neighbors)
    energy, forces, stress = evaluate(integrator.model, state.positions, state.cell,
                                      state.species, neighbors, integrator.needs_stress,
                                      state.atom_mask)
    return state.replace(energy=energy, forces=forces, stress=stress), neighbors


def total_energy(integrator: Integrator, state: MDState):
    return state.energy + kinetic_energy(state.momenta, state.masses)


# --- NVE ---------------------------------------------------------------------------------

def nve(model: EnergyModel, timestep: float = 1.0, *, masses=None) -> Integrator:
    """Microcanonical velocity Verlet; ``timestep`` in fs, ``masses`` ``{Z or symbol: amu}``
    overrides ASE's masses."""
    check_model(model, "nve")
    check_positive(timestep=timestep)
    return Integrator(model=model, params={"dt": timestep * fs}, kind="nve",
                      options=(("masses", masses_option(masses)),))


def _nve_init(integrator, positions, momenta, cell, species, masses, neighbors, key,
              pbc=(True, True, True), atom_mask=None):
    return init_state(integrator, positions, momenta, cell, species, masses, neighbors, key,
                      pbc=pbc, atom_mask=atom_mask)


def _nve_step(integrator, state, neighbors):
    dt = integrator.params["dt"]
    state = drift(kick(state, 0.5 * dt), dt)
    state, neighbors = new_forces(integrator, state, neighbors)
    state = kick(state, 0.5 * dt)
    return state.replace(step=state.step + 1), neighbors


register_integrator("nve", _nve_init, _nve_step, total_energy)


# --- Langevin (BAOAB) ----------------------------------------------------------------------

def langevin(model: EnergyModel, timestep: float, temperature: float, friction: float, *,
             masses=None) -> Integrator:
    """Langevin dynamics, BAOAB splitting.

    Args:
        timestep: fs. temperature: K. friction: gamma in 1/fs (0.01/fs = a 100 fs
            velocity memory is a gentle, typical choice).
    """
    check_model(model, "langevin")
    check_positive(timestep=timestep, temperature=temperature, friction=friction)
    return Integrator(model=model, params={"dt": timestep * fs, "kT": kB * temperature,
                                           "gamma": friction / fs},
                      kind="langevin", options=(("masses", masses_option(masses)),))


def _langevin_step(integrator, state, neighbors):
    p = integrator.params
    dt = p["dt"]
    state = drift(kick(state, 0.5 * dt), 0.5 * dt)
    key, noise_key = jax.random.split(state.key)
    c1 = jnp.exp(-p["gamma"] * dt)
    noise = jax.random.normal(noise_key, state.momenta.shape, state.momenta.dtype)
    if state.atom_mask is not None:  # padding atoms stay at rest
        noise = jnp.where(state.atom_mask[:, None], noise, 0.0)
    sigma = jnp.sqrt((1.0 - c1 * c1) * p["kT"] * state.masses)[:, None]
    state = state.replace(momenta=c1 * state.momenta + sigma * noise, key=key)
    state = drift(state, 0.5 * dt)
    state, neighbors = new_forces(integrator, state, neighbors)
    state = kick(state, 0.5 * dt)
    return state.replace(step=state.step + 1), neighbors


register_integrator("langevin", _nve_init, _langevin_step, total_energy)
