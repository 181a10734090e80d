"""Nosé–Hoover chains: the chain integrator and the NVT ensemble.

Equations and the Liouville-operator factorisation are those of Martyna, Klein & Tuckerman,
J. Chem. Phys. 97, 2635 (1992) and Tuckerman et al., J. Phys. A 39, 5629 (2006): each
half step of the chain is integrated with the fourth-order Suzuki–Yoshida scheme (three
weights) and ``loops`` sub-steps.  Thermostat masses are Q_1 = g kT tau^2 and
Q_j = kT tau^2 (g = degrees of freedom); ASE's ``NoseHooverChainNVT`` makes the same choices,
which is what the reference test compares trajectories against.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxpot.md.integrators import drift, init_state, kick, new_forces, total_energy
from jaxpot.md.state import (
    ChainState,
    Integrator,
    MDState,
    check_model,
    check_positive,
    masses_option,
    register_integrator,
)
from jaxpot.model import EnergyModel
from jaxpot.units import fs, kB

_W1 = 1.0 / (2.0 - 2.0 ** (1.0 / 3.0))
SUZUKI_YOSHIDA_4 = (_W1, 1.0 - 2.0 * _W1, _W1)


def chain_masses(n_dof: float, kT, tau, length: int):
    """(M,) thermostat masses: g kT tau^2 for the first, kT tau^2 for the others."""
    head = jnp.reshape(n_dof * kT * tau * tau, (1,))
    tail = jnp.full((length - 1,), 1.0) * (kT * tau * tau)
    return jnp.concatenate([head, tail])


def chain_zeros(length: int, dtype) -> ChainState:
    return ChainState(eta=jnp.zeros(length, dtype), p_eta=jnp.zeros(length, dtype))


def chain_energy(chain: ChainState, masses, n_dof: float, kT):
    """g kT eta_1 + kT sum_j>1 eta_j + sum p_eta^2 / 2Q, eV."""
    return (n_dof * kT * chain.eta[0] + kT * jnp.sum(chain.eta[1:])
            + 0.5 * jnp.sum(chain.p_eta ** 2 / masses))


def integrate_chain(chain: ChainState, p, two_kinetic, masses, n_dof: float, kT, delta,
                    loops: int = 1):
    """exp(iL_NHC delta) on momenta ``p`` (any shape) whose 2K is ``two_kinetic(p)``.

    Returns (chain, p).  Friction scales ``p`` by exp(-delta p_eta_1 / Q_1).
    """
    length = chain.eta.shape[0]
    eta, p_eta = chain.eta, [chain.p_eta[j] for j in range(length)]

    def force(j, p):
        if j == 0:
            return two_kinetic(p) - n_dof * kT
        return p_eta[j - 1] ** 2 / masses[j - 1] - kT

    def update(j, p, d2, d4):
        if j < length - 1:
            p_eta[j] = p_eta[j] * jnp.exp(-d4 * p_eta[j + 1] / masses[j + 1])
        p_eta[j] = p_eta[j] + d2 * force(j, p)
        if j < length - 1:
            p_eta[j] = p_eta[j] * jnp.exp(-d4 * p_eta[j + 1] / masses[j + 1])

    for _ in range(loops):
        for w in SUZUKI_YOSHIDA_4:
            d = w * delta / loops
            for j in reversed(range(length)):
                update(j, p, d / 2, d / 4)
            eta = eta + d * jnp.stack(p_eta) / masses
            p = p * jnp.exp(-d * p_eta[0] / masses[0])
            for j in range(length):
                update(j, p, d / 2, d / 4)
    return ChainState(eta=eta, p_eta=jnp.stack(p_eta)), p


def particle_two_kinetic(masses):
    return lambda p: jnp.sum(p * p / masses[:, None])


def thermostat_half_step(integrator: Integrator, state: MDState, delta) -> MDState:
    """Half step of the particle thermostat chain (shared by NVT and MTK NPT)."""
    prm, opt = integrator.params, integrator.option
    n_dof = 3 * state.n_atoms
    q = chain_masses(n_dof, prm["kT"], prm["tdamp"], opt["tchain"])
    chain, p = integrate_chain(state.thermostat, state.momenta, particle_two_kinetic(state.masses),
                               q, n_dof, prm["kT"], delta, opt["tloop"])
    return state.replace(thermostat=chain, momenta=p)


def thermostat_energy(integrator: Integrator, state: MDState):
    prm, opt = integrator.params, integrator.option
    n_dof = 3 * state.n_atoms
    q = chain_masses(n_dof, prm["kT"], prm["tdamp"], opt["tchain"])
    return chain_energy(state.thermostat, q, n_dof, prm["kT"])


def nose_hoover(model: EnergyModel, timestep: float, temperature: float, tau: float | None = None,
                *, chain: int = 3, loops: int = 1, masses=None) -> Integrator:
    """Canonical (NVT) dynamics with a Nosé–Hoover chain.

    Args:
        timestep: fs. temperature: K. tau: thermostat time in fs (default 100 time steps).
        chain: number of thermostats in the chain. loops: Suzuki–Yoshida sub-steps.
    """
    tau = 100.0 * timestep if tau is None else tau
    check_model(model, "nose_hoover")
    check_positive(timestep=timestep, temperature=temperature, tau=tau)
    if int(chain) < 1 or int(loops) < 1:
        raise ValueError(f"chain and loops must be >= 1, got chain={chain}, loops={loops}")
    return Integrator(model=model, params={"dt": timestep * fs, "kT": kB * temperature,
                                           "tdamp": tau * fs},
                      kind="nose_hoover",
                      options=(("masses", masses_option(masses)), ("tchain", int(chain)),
                               ("tloop", int(loops))))


def _nvt_init(integrator, positions, momenta, cell, species, masses, neighbors, key,
              pbc=(True, True, True), atom_mask=None):
    chain = chain_zeros(integrator.option["tchain"], positions.dtype)
    return init_state(integrator, positions, momenta, cell, species, masses, neighbors, key,
                      thermostat=chain, pbc=pbc, atom_mask=atom_mask)


def _nvt_step(integrator, state, neighbors):
    dt = integrator.params["dt"]
    state = thermostat_half_step(integrator, state, 0.5 * dt)
    state = drift(kick(state, 0.5 * dt), dt)
    state, neighbors = new_forces(integrator, state, neighbors)
    state = thermostat_half_step(integrator, kick(state, 0.5 * dt), 0.5 * dt)
    return state.replace(step=state.step + 1), neighbors


def _nvt_conserved(integrator, state):
    return total_energy(integrator, state) + thermostat_energy(integrator, state)


register_integrator("nose_hoover", _nvt_init, _nvt_step, _nvt_conserved)
