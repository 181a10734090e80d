"""The jitted part of an MD run: a chunk of steps with a log row every ``log_interval`` steps.

One compiled chunk serves a whole run (the chunk's end step is a dynamic argument, so a
shorter last chunk compiles nothing new), and every run of an equal integrator and system
shape reuses it: the integrator is a pytree argument, not a closure.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxpot.compiler import compiler_options, run_once_programs
from jaxpot.md.integrators import evaluate
from jaxpot.md.state import (
    Integrator,
    MDState,
    bias_overflowed,
    kinetic_energy,
    kinetic_tensor,
    temperature,
)
from jaxpot.space import full_to_voigt, volume
from jaxpot.units import GPa, fs


def observe(integrator: Integrator, state: MDState, neighbors, check_box: bool,
            monitor=None) -> dict:
    """One log row (scalars, eV/K/GPa/Å^3) and fault flags of ``state``; with ``monitor``
    (the model's sigma function, :func:`jaxpot.model_registry.uncertainty_function`) also
    its ``uncertainty`` (eV)."""
    ke = kinetic_energy(state.momenta, state.masses)
    nan = jnp.asarray(jnp.nan, state.positions.dtype)
    if all(state.pbc):
        v = volume(state.cell)
        sigma = state.stress
        if not integrator.needs_stress:
            sigma = evaluate(integrator.model, state.positions, state.cell, state.species,
                             neighbors, True, state.atom_mask)[2]
        sigma = sigma - kinetic_tensor(state.momenta, state.masses) / v
        pressure = -jnp.trace(sigma) / 3 / GPa
        stress = full_to_voigt(sigma) / GPa
    else:
        v, pressure, stress = nan, nan, jnp.full((6,), nan)
    row = {"step": state.step, "time": state.step * integrator.params["dt"] / fs,
           "potential_energy": state.energy, "kinetic_energy": ke,
           "total_energy": state.energy + ke,
           "temperature": temperature(state.momenta, state.masses, state.n_atoms),
           "pressure": pressure,
           "volume": v, "conserved_energy": integrator.conserved(state), "stress": stress}
    row["escaped"] = _escaped(state) if check_box else jnp.asarray(False)
    if state.bias is not None:  # a biased run's columns (metadynamics: bias energy, hills)
        row.update(state.bias.log_row())
    if monitor is not None:
        row["uncertainty"] = monitor(integrator.model.params, state.positions, state.cell,
                                     state.species, neighbors)
    return row


def _escaped(state: MDState):
    """True when an atom is outside the cell along a non-periodic lattice vector."""
    open_dims = jnp.asarray([not p for p in state.pbc])
    rows_ok = jnp.linalg.norm(state.cell, axis=1) > 0
    safe = jnp.where(rows_ok[:, None], state.cell, jnp.eye(3, dtype=state.cell.dtype))
    frac = jnp.linalg.solve(safe.T, state.positions.T).T
    outside = (frac < 0) | (frac > 1)
    return jnp.any(outside & (open_dims & rows_ok)[None, :])


def frame(state: MDState) -> dict:
    return {"positions": state.positions, "momenta": state.momenta, "cell": state.cell,
            "forces": state.forces, "energy": state.energy}


def overflowed(state: MDState, neighbors):
    """True (traced) when the neighbor list or a buffer of the state's bias overflowed."""
    full = bias_overflowed(state)
    return neighbors.did_overflow if full is None else neighbors.did_overflow | full


def run_chunk(integrator: Integrator, state: MDState, neighbors, limit, *, n_logs: int,
              log_interval: int, with_frames: bool, check_box: bool, monitor=None):
    """Up to ``n_logs * log_interval`` steps, stopping at step ``limit`` or on overflow of
    the neighbor list or of the bias's buffers (:func:`overflowed`; jitted, with the model's
    compiler options: :mod:`jaxpot.compiler`).

    Returns (state, neighbors, rows, valid, frames): stacked log rows (n_logs,), a mask of
    the rows that were reached, and (if ``with_frames``) the states at those rows.
    """
    return _jitted_chunk(compiler_options(integrator.model))(
        integrator, state, neighbors, limit, n_logs=n_logs, log_interval=log_interval,
        with_frames=with_frames, check_box=check_box, monitor=monitor)


@functools.cache
def _jitted_chunk(options: tuple):
    """:func:`chunk_steps` jitted with the XLA ``options`` (one jit object per option set)."""
    return jax.jit(chunk_steps, static_argnames=("n_logs", "log_interval", "with_frames",
                                            "check_box", "monitor"),
                   compiler_options=dict(options) or None)


def chunk_steps(integrator: Integrator, state: MDState, neighbors, limit, *, n_logs: int,
                log_interval: int, with_frames: bool, check_box: bool, monitor=None):
    """:func:`run_chunk`'s steps, not jitted: for callers that jit (and vmap) it themselves
    (XLA options can only be given to the outermost jit)."""

    def interval(carry, _):
        st, nb = carry
        start = st.step
        stop = jnp.minimum((start // log_interval + 1) * log_interval, limit)
        st, nb = jax.lax.while_loop(
            lambda c: (c[0].step < stop) & ~overflowed(*c),
            lambda c: integrator.step(*c), (st, nb))
        valid = (st.step > start) & ~overflowed(st, nb)
        out = (observe(integrator, st, nb, check_box, monitor), valid,
               frame(st) if with_frames else None)
        return (st, nb), out

    (state, neighbors), (rows, valid, frames) = jax.lax.scan(
        interval, (state, neighbors), None, length=n_logs)
    return state, neighbors, rows, valid, frames


#: the most atoms whose start program is compiled without optimisation: one evaluation run
#: once, so 1.6-1.9x faster compilation (1-3.4 s on 2 cores) beats 1.3-4x its run time up to
#: about this size for MACE, the costliest model per atom (benchmarks/bench_md_start.py)
RUN_ONCE_MAX_ATOMS = 2048


def start(integrator: Integrator, positions, momenta, cell, species, masses, neighbors, key,
          check_box: bool, monitor=None):
    """The run's first state (``integrator.init``) and its log row, one compiled program (two
    would each compile the model's derivatives); up to :data:`RUN_ONCE_MAX_ATOMS` atoms
    compiled without optimisation (:data:`jaxpot.compiler.RUN_ONCE`)."""
    return _start_programs.for_atoms(positions.shape[0], RUN_ONCE_MAX_ATOMS)(
        integrator, positions, momenta, cell, species, masses, neighbors, key,
        check_box=check_box, monitor=monitor)


def _start(integrator: Integrator, positions, momenta, cell, species, masses, neighbors, key,
           check_box: bool, monitor=None):
    state = integrator.init(positions, momenta, cell, species, masses, neighbors, key,
                            pbc=neighbors.pbc)
    return state, observe(integrator, state, neighbors, check_box, monitor)


_start_programs = run_once_programs(_start, static_argnames=("check_box", "monitor"))


@jax.jit
def init_jit(integrator: Integrator, positions, momenta, cell, species, masses, neighbors, key,
             atom_mask=None):
    """``integrator.init`` jitted (forces at the start; pbc travels with the neighbor list)."""
    return integrator.init(positions, momenta, cell, species, masses, neighbors, key,
                           pbc=neighbors.pbc, atom_mask=atom_mask)
