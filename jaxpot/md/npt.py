"""Isothermal–isobaric dynamics: Martyna–Tobias–Klein (MTK) with Nosé–Hoover chains.

Equations of motion of Martyna, Tobias & Klein, J. Chem. Phys. 101, 4177 (1994), with the
reversible factorisation of Tuckerman et al., J. Phys. A 39, 5629 (2006); they sample the
NPT ensemble exactly (the conserved extended energy is checked in the tests).  The cell
momentum ``p_cell`` (3, 3) acts on positions, momenta and cell through its eigenbasis, so
each sub-step is integrated exactly.  ``cell="isotropic"`` keeps the cell shape (one degree
of freedom, ``p_cell = p_eps/3 * I``), ``cell="flexible"`` lets all components fluctuate
(symmetric stress keeps ``p_cell`` symmetric, so the cell does not rotate).  Masses are
W = (N+1) kT tau_p^2 for the cell, and the chain masses of ASE's ``IsotropicMTKNPT`` /
``MTKNPT``, against which the trajectories are tested.  The neighbor list follows the cell:
its skin test accounts for the strain since the last build.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from jaxpot.md.integrators import init_state, new_forces, total_energy
from jaxpot.md.nose_hoover import (
    chain_energy,
    chain_masses,
    chain_zeros,
    integrate_chain,
    thermostat_energy,
    thermostat_half_step,
)
from jaxpot.md.state import (
    CellState,
    Integrator,
    MDState,
    check_model,
    check_positive,
    exprel,
    kinetic_tensor,
    masses_option,
    register_integrator,
)
from jaxpot.model import EnergyModel
from jaxpot.space import volume
from jaxpot.units import GPa, fs, kB

CELL_MODES = ("isotropic", "flexible")


def npt(model: EnergyModel, timestep: float, temperature: float, pressure: float = 0.0, *,
        tau_t: float | None = None, tau_p: float | None = None, cell: str = "isotropic",
        chain: int = 3, loops: int = 1, masses=None) -> Integrator:
    """NPT with an MTK barostat and Nosé–Hoover chain thermostats.

    Args:
        timestep: fs. temperature: K. pressure: external hydrostatic pressure, GPa.
        tau_t: thermostat time, fs (default 100 steps). tau_p: barostat time, fs (default
            1000 steps). cell: "isotropic" (volume only) or "flexible" (full cell).
        chain, loops: Nosé–Hoover chain length and Suzuki–Yoshida sub-steps (thermostat and
            barostat alike).
    """
    tau_t = 100.0 * timestep if tau_t is None else tau_t
    tau_p = 1000.0 * timestep if tau_p is None else tau_p
    check_model(model, "npt")
    check_positive(timestep=timestep, temperature=temperature, tau_t=tau_t, tau_p=tau_p)
    if not isinstance(pressure, (int, float)) or not math.isfinite(pressure):
        raise ValueError(f"pressure must be a finite number in GPa, got {pressure!r}")
    if cell not in CELL_MODES:
        raise ValueError(f"cell must be one of {CELL_MODES}, got {cell!r}")
    if int(chain) < 1 or int(loops) < 1:
        raise ValueError(f"chain and loops must be >= 1, got chain={chain}, loops={loops}")
    params = {"dt": timestep * fs, "kT": kB * temperature, "tdamp": tau_t * fs,
              "pdamp": tau_p * fs, "pressure": pressure * GPa}
    options = (("masses", masses_option(masses)), ("tchain", int(chain)), ("tloop", int(loops)),
               ("cell", cell))
    return Integrator(model=model, params=params, kind="npt", options=options)


def _cell_dof(integrator: Integrator) -> int:
    return 1 if integrator.option["cell"] == "isotropic" else 9


def _cell_mass(integrator: Integrator, n_atoms: int):
    prm = integrator.params
    return (n_atoms + 1) * prm["kT"] * prm["pdamp"] ** 2


def _barostat_chain_masses(integrator: Integrator):
    prm = integrator.params
    q = chain_masses(1.0, prm["kT"], prm["pdamp"], integrator.option["tchain"])
    return q.at[0].set(9.0 * prm["kT"] * prm["pdamp"] ** 2)


def _barostat_half_step(integrator: Integrator, state: MDState, delta) -> MDState:
    baro = state.barostat
    w = _cell_mass(integrator, state.n_atoms)
    chain, p_cell = integrate_chain(baro.chain, baro.p_cell, lambda p: jnp.sum(p * p) / w,
                                    _barostat_chain_masses(integrator), _cell_dof(integrator),
                                    integrator.params["kT"], delta, integrator.option["tloop"])
    return state.replace(barostat=CellState(p_cell=p_cell, chain=chain))


def _cell_force(integrator: Integrator, state: MDState):
    """G = V (P_int - P_ext) + (2K / 3N) I: the force on the cell momentum (3, 3), eV."""
    n = state.n_atoms
    two_k = kinetic_tensor(state.momenta, state.masses)
    v = volume(state.cell)
    g = (-v * state.stress + two_k - v * integrator.params["pressure"] * jnp.eye(3)
         + jnp.trace(two_k) / (3 * n) * jnp.eye(3))
    if integrator.option["cell"] == "isotropic":
        g = jnp.trace(g) / 3.0 * jnp.eye(3)
    return g


def _kick_cell(integrator: Integrator, state: MDState, delta) -> MDState:
    baro = state.barostat
    return state.replace(barostat=baro.replace(
        p_cell=baro.p_cell + delta * _cell_force(integrator, state)))


def _kick_particles(integrator: Integrator, state: MDState, delta) -> MDState:
    """exp(iL_2 delta): p' = p exp(-kappa delta/W) + delta F exprel(-kappa delta/W) in the
    eigenbasis of p_cell, kappa = lambda + tr(p_cell)/3N."""
    n = state.n_atoms
    w = _cell_mass(integrator, n)
    lam, u = jnp.linalg.eigh(state.barostat.p_cell)
    x = -(lam + jnp.trace(state.barostat.p_cell) / (3 * n)) * delta / w
    p = (state.momenta @ u) * jnp.exp(x) + delta * (state.forces @ u) * exprel(x)
    return state.replace(momenta=p @ u.T)


def _drift_all(integrator: Integrator, state: MDState, delta) -> MDState:
    """exp(iL_1 delta) on positions and exp(iL_g delta) on the cell."""
    w = _cell_mass(integrator, state.n_atoms)
    lam, u = jnp.linalg.eigh(state.barostat.p_cell)
    x = lam * delta / w
    q = ((state.positions @ u) * jnp.exp(x)
         + delta * (state.velocities @ u) * exprel(x))
    cell = ((state.cell @ u) * jnp.exp(x)) @ u.T
    return state.replace(positions=q @ u.T, cell=cell)


def _npt_init(integrator, positions, momenta, cell, species, masses, neighbors, key,
              pbc=(True, True, True), atom_mask=None):
    if not all(pbc):
        raise ValueError(f"a barostat needs a periodic cell (pbc True along all three lattice "
                         f"vectors), got pbc={tuple(bool(p) for p in pbc)}")
    dtype = positions.dtype
    length = integrator.option["tchain"]
    baro = CellState(p_cell=jnp.zeros((3, 3), dtype), chain=chain_zeros(length, dtype))
    return init_state(integrator, positions, momenta, cell, species, masses, neighbors, key,
                      thermostat=chain_zeros(length, dtype), barostat=baro, pbc=pbc,
                      atom_mask=atom_mask)


def _npt_step(integrator, state, neighbors):
    dt = integrator.params["dt"]
    state = _barostat_half_step(integrator, state, 0.5 * dt)
    state = thermostat_half_step(integrator, state, 0.5 * dt)
    state = _kick_cell(integrator, state, 0.5 * dt)
    state = _kick_particles(integrator, state, 0.5 * dt)
    state = _drift_all(integrator, state, dt)
    state, neighbors = new_forces(integrator, state, neighbors)
    state = _kick_particles(integrator, state, 0.5 * dt)
    state = _kick_cell(integrator, state, 0.5 * dt)
    state = thermostat_half_step(integrator, state, 0.5 * dt)
    state = _barostat_half_step(integrator, state, 0.5 * dt)
    return state.replace(step=state.step + 1), neighbors


def _npt_conserved(integrator, state):
    n = state.n_atoms
    baro = state.barostat
    kT = integrator.params["kT"]
    return (total_energy(integrator, state) + thermostat_energy(integrator, state)
            + chain_energy(baro.chain, _barostat_chain_masses(integrator), _cell_dof(integrator),
                           kT)
            + jnp.sum(baro.p_cell ** 2) / (2 * _cell_mass(integrator, n))
            + integrator.params["pressure"] * volume(state.cell))


register_integrator("npt", _npt_init, _npt_step, _npt_conserved)
