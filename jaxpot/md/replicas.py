"""Replicas: one system run at several temperatures, seeds, time steps or model parameters in
one jitted, vmapped loop (one compilation for all of them).

Integrators of one kind and configuration differ only in pytree leaves (time step, kT,
friction, damping, pressure, model parameters), so they stack along a leading axis.  Every
replica has its own neighbor list of one shared shape; when any replica overflows, the
chunk is replayed for all of them with larger capacities, so no replica ever used a
truncated list.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import ase
import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.compiler import compiler_options, run_once_programs
from jaxpot.md import chunk
from jaxpot.md.chunk import chunk_steps, init_jit, observe
from jaxpot.md.inputs import host_view, initial_momenta, integrator_masses
from jaxpot.md.output import MDLog, state_to_atoms
from jaxpot.md.state import Integrator, MDError
from jaxpot.model import check_host_inputs
from jaxpot.neighbors import (
    NeighborListOverflowError,
    allocate_for_model,
    overflow_causes,
    reallocate,
    rebuild_neighbor_list,
)
from jaxpot.pytree import stack_trees
from jaxpot.structure import as_structure, check_species_known


class ReplicaResult(NamedTuple):
    """Per replica: final ``atoms`` and ``logs`` (lists, in the order given); the stacked final
    ``state``; how often the shared list shape was regrown.  With ``stop_when_uncertain``
    (:mod:`jaxpot.md.watched`), per replica: why it halted (``stopped``: None when it ran all
    its steps), whether that was a fault (``unstable``; its atoms are then the bad state), and
    its sigma at every log row (``uncertainty``, eV)."""

    atoms: list
    logs: list
    state: object
    n_reallocations: int
    stopped: tuple = ()
    unstable: tuple = ()
    uncertainty: tuple = ()


def watched_result(watched, reasons, to_atoms) -> ReplicaResult:
    """The :class:`ReplicaResult` of a watched run (:func:`jaxpot.md.watched.watch_stacked`);
    ``to_atoms(host_state, r)`` turns replica ``r`` of the stacked state into atoms."""
    from jaxpot.md.watched import UNCERTAIN
    host = jax.device_get(watched.state)
    n_rep = len(watched.rows)
    return ReplicaResult(
        atoms=[to_atoms(host, r) for r in range(n_rep)],
        logs=[MDLog.from_rows(rows) for rows in watched.rows], state=watched.state,
        n_reallocations=watched.n_reallocations, stopped=reasons,
        unstable=tuple(bool(c not in (0, UNCERTAIN)) for c in watched.codes),
        uncertainty=tuple(np.asarray([float(r["uncertainty"]) for r in rows])
                          for rows in watched.rows))


def tree_row(tree, r):
    """Entry ``r`` of a stacked pytree."""
    return jax.tree_util.tree_map(lambda x: x[r], tree)


def _replica_chunk(stacked, state, nbrs, limit, n_logs: int, log_interval: int):
    """:func:`run_chunk` vmapped over replicas (one compilation per shape and kind), jitted
    with the model's XLA options (:mod:`jaxpot.compiler`)."""
    return _jitted_replica_chunk(compiler_options(stacked.model))(
        stacked, state, nbrs, limit, n_logs=n_logs, log_interval=log_interval)


@functools.cache
def _jitted_replica_chunk(options: tuple):
    def replica_chunk(stacked, state, nbrs, limit, n_logs: int, log_interval: int):
        def one(integrator, st, nb):
            st, nb, rows, valid, _ = chunk_steps(integrator, st, nb, limit, n_logs=n_logs,
                                                 log_interval=log_interval, with_frames=False,
                                                 check_box=False)
            return st, nb, rows, valid
        return jax.vmap(one)(stacked, state, nbrs)
    return jax.jit(replica_chunk, static_argnames=("n_logs", "log_interval"),
                   compiler_options=dict(options) or None)


def _observe_all(stacked, state, nbrs):
    """The first log row of every replica, one program (vmapped op by op it compiled each
    operation apart); run once, so compiled without optimisation up to
    :data:`~jaxpot.md.chunk.RUN_ONCE_MAX_ATOMS` atoms in all, as :func:`jaxpot.md.chunk.start`."""
    n_atoms = state.positions.shape[0] * state.positions.shape[1]
    program = _observe_programs.for_atoms(n_atoms, chunk.RUN_ONCE_MAX_ATOMS)
    return program(stacked, state, nbrs)


def _observe_rows(stacked, state, nbrs):
    return jax.vmap(lambda i, s, nb: observe(i, s, nb, False))(stacked, state, nbrs)


_observe_programs = run_once_programs(_observe_rows)


@jax.jit
def _rebuild_all(positions, cells, template):
    return jax.vmap(rebuild_neighbor_list, in_axes=(0, 0, None))(positions, cells, template)


def refuse_metadynamics(integrator: Integrator, source: str) -> None:
    """A metadynamics integrator's hill buffer is grown by :func:`jaxpot.md.run`'s driver
    only: refused here in one message."""
    if integrator.kind == "metadynamics":
        raise MDError(f"{source}: a metadynamics integrator runs through md.run; several "
                      "walkers sharing one bias are md.metadynamics(..., walkers=W)")


def run_stacked(stacked: Integrator, state, nbrs, steps: int, regrow, *, log_interval: int,
                chunk: int | None, max_reallocations: int, source: str):
    """The host loop shared by replicas and batches: vmapped chunks until ``steps``.

    ``regrow(state, nbrs, overflowed_nbrs)`` returns larger lists for every system at the
    chunk's start (the chunk is then replayed).  Returns (final stacked state, log rows of
    stacked values, number of regrowths).
    """
    refuse_metadynamics(stacked, source)
    rows = [jax.device_get(_observe_all(stacked, state, nbrs))]
    chunk_steps = chunk or log_interval * max(1, min(10, 1000 // log_interval))
    n_logs = -(-chunk_steps // log_interval)
    regrown = 0
    while int(state.step[0]) < steps:
        limit = jnp.asarray(min(int(state.step[0]) + n_logs * log_interval, steps), jnp.int32)
        new_state, new_nbrs, out, valid = _replica_chunk(stacked, state, nbrs, limit,
                                                         n_logs=n_logs, log_interval=log_interval)
        overflowed = np.asarray(new_nbrs.did_overflow)
        if overflowed.any():
            regrown += 1
            if regrown > max_reallocations:
                worst = tree_row(new_nbrs, int(np.argmax(overflowed)))
                causes = ", ".join(overflow_causes(worst))
                raise NeighborListOverflowError(
                    f"{source}: neighbor lists kept overflowing ({causes})")
            nbrs = regrow(state, nbrs, new_nbrs)
            continue
        out, valid = jax.device_get((out, valid))
        for k in range(valid.shape[1]):
            if valid[:, k].all():
                rows.append({name: value[:, k] for name, value in out.items()})
        bad = ~np.isfinite(rows[-1]["potential_energy"])
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise MDError(f"{source}: system {r} has a NaN or infinite energy by step "
                          f"{int(rows[-1]['step'][r])}", step=int(rows[-1]["step"][r]),
                          last_good=state_to_atoms(jax.device_get(tree_row(state, r))))
        state, nbrs = new_state, new_nbrs
    return state, rows, regrown


def run_replicas(integrators: Sequence[Integrator], atoms: ase.Atoms, steps: int, *,
                 temperatures: Sequence[float] | None = None, seeds: Sequence[int] | None = None,
                 skin: float = 1.0, log_interval: int = 100, chunk: int | None = None,
                 max_reallocations: int = 20,
                 stop_when_uncertain: float | Sequence[float] | None = None,
                 max_temperature: float | None = None,
                 max_energy_change: float = 10.0,
                 stop_when_uncertain_from: int = 0) -> ReplicaResult:
    """Run ``len(integrators)`` replicas of ``atoms`` side by side (vmap in one jit).

    Args:
        integrators: same kind and options (e.g. ``[md.langevin(m, 1, T, 0.01) for T in Ts]``).
        temperatures: K per replica for Maxwell–Boltzmann starting momenta (when the atoms
            carry none); seeds: per replica (default 0, 1, 2, ...).
        skin, log_interval, chunk: as in :func:`jaxpot.md.run`.
        stop_when_uncertain, max_temperature, max_energy_change: each replica halts alone
            where the model is unsure or its MD goes bad (:func:`jaxpot.md.run_batch`).
    """
    n_rep = len(integrators)
    if n_rep < 1:
        raise ValueError("run_replicas needs at least one integrator")
    kinds = {(i.kind, i.options, jax.tree_util.tree_structure(i)) for i in integrators}
    if len(kinds) != 1:
        raise ValueError("replicas must share the integrator kind, its options and the model's "
                         "configuration (only time steps, temperatures, frictions, pressures "
                         "and parameter values may differ)")
    seeds = list(range(n_rep)) if seeds is None else list(seeds)
    temps = [None] * n_rep if temperatures is None else list(temperatures)
    if len(seeds) != n_rep or len(temps) != n_rep:
        raise ValueError(f"need one seed and one temperature per replica ({n_rep})")
    if int(steps) != steps or steps < 0 or log_interval < 1:
        raise ValueError(f"need steps >= 0 and log_interval >= 1, got {steps}, {log_interval}")
    first = integrators[0]
    species, masses, pbc = host_view(atoms)
    check_species_known(species, first.model.species, first.model.name)
    check_host_inputs(first.model, species)
    if first.kind == "npt" and not all(pbc):
        raise MDError(f"run_replicas: a barostat needs a periodic cell, got pbc={list(pbc)}")
    refuse_metadynamics(first, "run_replicas")
    masses = integrator_masses(first, species, masses)
    structure = as_structure(atoms, dtype=jnp.result_type(float))
    dtype = structure.positions.dtype
    template = allocate_for_model(first.model, np.asarray(structure.positions),
                                  np.asarray(structure.cell), structure.pbc, skin=skin,
                                  round_capacities="fine")  # as md.run: continued runs reuse
    states = []
    for integrator, seed, temp in zip(integrators, seeds, temps):
        mb_key, key = jax.random.split(jax.random.PRNGKey(seed))
        momenta = initial_momenta(atoms, masses, temp, mb_key, dtype)
        states.append(init_jit(integrator, structure.positions, momenta, structure.cell,
                               structure.species, jnp.asarray(masses, dtype), template, key))
    stacked, state = stack_trees(integrators), stack_trees(states)
    nbrs = stack_trees([template] * n_rep)

    def regrow(state, nbrs, new_nbrs):
        overflowed = np.asarray(new_nbrs.did_overflow)
        worst = tree_row(new_nbrs, int(np.argmax(overflowed)))
        grown = reallocate(np.asarray(worst.reference_positions),
                           np.asarray(worst.reference_cell), worst,
                           keep_grid_of=tree_row(nbrs, 0))
        return _rebuild_all(state.positions, state.cell, grown)

    if stop_when_uncertain is not None:
        from jaxpot.md.watched import watch_stacked
        watched, reasons = watch_stacked(
            list(integrators), stacked, state, nbrs, steps, regrow,
            stop_when_uncertain=stop_when_uncertain, temperatures=temps,
            n_atoms=[len(atoms)] * n_rep, max_temperature=max_temperature,
            max_energy_change=max_energy_change, log_interval=log_interval, chunk=chunk,
            max_reallocations=max_reallocations, stop_from=stop_when_uncertain_from,
            source="run_replicas")
        return watched_result(watched, reasons,
                              lambda host, r: state_to_atoms(tree_row(host, r)))
    state, rows, regrown = run_stacked(stacked, state, nbrs, steps, regrow,
                                       log_interval=log_interval, chunk=chunk,
                                       max_reallocations=max_reallocations,
                                       source="run_replicas")
    host = jax.device_get(state)
    logs = [MDLog.from_rows([{k: v[r] for k, v in row.items()} for row in rows])
            for r in range(n_rep)]
    return ReplicaResult(atoms=[state_to_atoms(tree_row(host, r)) for r in range(n_rep)],
                         logs=logs, state=state, n_reallocations=regrown)
