"""Replicas watched by the model's uncertainty: each stops inside the jitted chunk at its first
log row whose sigma exceeds its threshold, or where its MD goes bad, while the others run on.

This is what active learning explores with (:mod:`jaxpot.active.explore`): many MD runs in
one vmapped program, each handing back the first structure where the model is unsure, exactly
at that log row (not a chunk later), and a replica that blows up halts alone, flagged, instead
of ending every run with an error.

A replica's halt code, carried through the chunk: 0 running, 1 uncertain (sigma above
``stop_above``), 2 non-finite energy, temperature or sigma, 3 temperature above
``max_temperature``, 4 potential energy moved more than ``max_energy_change`` from its start.
A halted replica takes no further steps (its while loop's end step is its current step), so
its state is the one of its halting row.  Neighbor-list overflow replays the chunk for all
(:func:`jaxpot.md.replicas.run_stacked`'s policy); a replica that overflows with a non-finite
energy is halted as code 2 instead (it would overflow on every replay).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.compiler import compiler_options
from jaxpot.md.chunk import observe, overflowed
from jaxpot.md.state import Integrator
from jaxpot.neighbors import NeighborListOverflowError, overflow_causes

RUNNING, UNCERTAIN, NON_FINITE, TOO_HOT, ENERGY_JUMP = range(5)


class Limits(NamedTuple):
    """Per replica (R,): sigma threshold (eV), temperature limit (K), start potential energy
    (eV), the largest allowed move from it (eV, whole system), and the first step at which
    sigma may stop the replica."""

    stop_above: jax.Array
    max_temperature: jax.Array
    energy0: jax.Array
    max_energy_change: jax.Array
    armed_from: jax.Array


class Watched(NamedTuple):
    """Final stacked state (halted replicas at their halting row), every replica's log rows
    (host dicts, the start row first), halt codes (R,) and the number of list regrowths."""

    state: object
    rows: list
    codes: np.ndarray
    n_reallocations: int


def _watched_steps(integrator: Integrator, state, neighbors, code, limit, limits: Limits, *,
                   n_logs: int, log_interval: int, monitor):
    """One replica's chunk: up to ``n_logs`` log rows, halting at the first bad or uncertain
    row (module docstring).  Returns (state, neighbors, code, rows, valid)."""

    def interval(carry, _):
        st, nb, code = carry
        start = st.step
        end = jnp.where(code == RUNNING,
                        jnp.minimum((start // log_interval + 1) * log_interval, limit), start)
        st, nb = jax.lax.while_loop(
            lambda c: (c[0].step < end) & ~overflowed(*c) & jnp.isfinite(c[0].energy),
            lambda c: integrator.step(*c), (st, nb))
        valid = (st.step > start) & ~overflowed(st, nb)
        row = observe(integrator, st, nb, False, monitor)
        energy, temp, sigma = row["potential_energy"], row["temperature"], row["uncertainty"]
        new = jnp.select(
            [~(jnp.isfinite(energy) & jnp.isfinite(temp) & jnp.isfinite(sigma)),
             temp > limits.max_temperature,
             jnp.abs(energy - limits.energy0) > limits.max_energy_change,
             (sigma > limits.stop_above) & (st.step >= limits.armed_from)],
            [NON_FINITE, TOO_HOT, ENERGY_JUMP, UNCERTAIN], RUNNING)
        code = jnp.where(valid & (code == RUNNING), new, code).astype(jnp.int32)
        return (st, nb, code), (row, valid)

    (state, neighbors, code), (rows, valid) = jax.lax.scan(
        interval, (state, neighbors, code), None, length=n_logs)
    return state, neighbors, code, rows, valid


@functools.cache
def _jitted(options: tuple):
    def chunk(stacked, state, nbrs, codes, limits_steps, limits, n_logs, log_interval, monitor):
        def one(integrator, st, nb, code, limit, lim):
            return _watched_steps(integrator, st, nb, code, limit, lim, n_logs=n_logs,
                                  log_interval=log_interval, monitor=monitor)
        return jax.vmap(one)(stacked, state, nbrs, codes, limits_steps, limits)
    return jax.jit(chunk, static_argnames=("n_logs", "log_interval", "monitor"),
                   compiler_options=dict(options) or None)


def _first_rows(stacked, state, nbrs, monitor):
    return jax.vmap(lambda i, s, nb: observe(i, s, nb, False, monitor))(stacked, state, nbrs)


_first_rows_jit = jax.jit(_first_rows, static_argnames=("monitor",))


def run_watched(stacked: Integrator, state, nbrs, steps: int, regrow, *, monitor,
                stop_above, max_temperature, max_energy_change, log_interval: int,
                chunk: int | None, max_reallocations: int, source: str,
                armed_from: int = 0) -> Watched:
    """Vmapped chunks until every replica halted or ran ``steps`` (module docstring).

    ``monitor``: the model's sigma function (static: one compilation per model spec);
    ``stop_above`` (eV), ``max_temperature`` (K), ``max_energy_change`` (eV, whole system):
    one per replica; ``armed_from``: the first step at which sigma stops a replica (earlier
    rows are logged, faults still halt).  ``regrow(state, nbrs, overflowed_nbrs)`` as in
    :func:`jaxpot.md.replicas.run_stacked`."""
    first = jax.device_get(_first_rows_jit(stacked, state, nbrs, monitor))
    n_rep = int(np.shape(first["step"])[0])
    rows = [[{k: v[r] for k, v in first.items()}] for r in range(n_rep)]
    dtype = state.positions.dtype
    limits = Limits(*(jnp.asarray(np.broadcast_to(np.asarray(x, float), (n_rep,)), dtype)
                      for x in (stop_above, max_temperature, first["potential_energy"],
                                max_energy_change)),
                    jnp.full((n_rep,), int(armed_from), jnp.int32))
    chunk_steps = chunk or log_interval * max(1, min(10, 1000 // log_interval))
    n_logs = -(-chunk_steps // log_interval)
    codes = np.zeros(n_rep, np.int32)
    run = _jitted(compiler_options(stacked.model))
    regrown = 0
    while True:
        step = np.asarray(jax.device_get(state.step))
        active = (codes == RUNNING) & (step < steps)
        if not active.any():
            break
        ends = np.where(active, np.minimum(step + n_logs * log_interval, steps), step)
        new_state, new_nbrs, new_codes, out, valid = run(
            stacked, state, nbrs, jnp.asarray(codes), jnp.asarray(ends, jnp.int32), limits,
            n_logs, log_interval, monitor)
        over = np.asarray(new_nbrs.did_overflow)
        broken = over & ~np.isfinite(np.asarray(new_state.energy))
        if (over & ~broken).any():
            regrown += 1
            if regrown > max_reallocations:
                worst = jax.tree_util.tree_map(lambda x: x[int(np.argmax(over))], new_nbrs)
                raise NeighborListOverflowError(
                    f"{source}: neighbor lists kept overflowing "
                    f"({', '.join(overflow_causes(worst))})")
            nbrs = regrow(state, nbrs, new_nbrs)
            continue
        out, valid, new_codes = jax.device_get((out, valid, new_codes))
        for r in range(n_rep):
            rows[r].extend({k: v[r, i] for k, v in out.items()}
                           for i in np.flatnonzero(valid[r]))
        codes = np.where(broken, NON_FINITE, new_codes).astype(np.int32)
        state, nbrs = new_state, new_nbrs
    return Watched(state, rows, codes, regrown)


def halt_reason(code: int, row: dict, stop_above: float, max_temperature: float) -> str | None:
    """Why a replica halted at ``row`` (its last log row), in md.run's words; None if it
    ran to the end."""
    step = int(row["step"])
    if code == UNCERTAIN:
        return (f"stopped at step {step}: the model's uncertainty {float(row['uncertainty']):.4g}"
                f" eV exceeds stop_when_uncertain={stop_above:g} eV")
    if code == NON_FINITE:
        return f"unstable at step {step}: the energy, temperature or sigma became NaN or infinite"
    if code == TOO_HOT:
        return (f"unstable at step {step}: the temperature {float(row['temperature']):.4g} K "
                f"exceeds max_temperature {max_temperature:.4g} K")
    if code == ENERGY_JUMP:
        return (f"unstable at step {step}: the potential energy moved further from its start "
                "than max_energy_change per atom allows")
    return None


def watch_stacked(integrators, stacked: Integrator, state, nbrs, steps: int, regrow, *,
                  stop_when_uncertain, temperatures, n_atoms, max_temperature,
                  max_energy_change: float, log_interval: int, chunk: int | None,
                  max_reallocations: int, source: str, stop_from: int = 0):
    """:func:`run_watched` with md.run's defaults and checks, for run_replicas/run_batch.

    ``stop_when_uncertain``: eV, one or one per replica; ``temperatures``: the replicas'
    start temperatures (K or None); ``n_atoms``: per replica (for the energy limit, eV/atom
    x atoms); ``max_temperature``: K (None: 10x the larger of the thermostat's and start
    temperature, at least 5000 K); ``stop_from``: the first step at which sigma may stop a
    replica.  Returns (Watched, halt reasons per replica)."""
    from jaxpot.md.state import MDError
    from jaxpot.model_registry import uncertainty_function
    from jaxpot.units import kB
    model = integrators[0].model
    monitor = uncertainty_function(model)
    thresholds = np.broadcast_to(np.asarray(stop_when_uncertain, float), (len(integrators),))
    if monitor is None or not np.all(thresholds > 0):
        raise MDError(f"{source}: stop_when_uncertain needs thresholds > 0 eV and a model with "
                      f"an uncertainty (an ensemble, or uq.calibrate(model, ...)); got "
                      f"{stop_when_uncertain} and {model.name} ({model.kind})")
    if max_temperature is None:
        t_ref = [max(float(i.params["kT"]) / kB if "kT" in i.params else 0.0, float(t or 0.0))
                 for i, t in zip(integrators, temperatures)]
        t_max = np.maximum(10.0 * np.asarray(t_ref), 5000.0)
    else:
        t_max = np.broadcast_to(np.asarray(max_temperature, float), thresholds.shape)
    watched = run_watched(stacked, state, nbrs, steps, regrow, monitor=monitor,
                          stop_above=thresholds, max_temperature=t_max,
                          max_energy_change=float(max_energy_change) * np.asarray(n_atoms),
                          log_interval=log_interval, chunk=chunk,
                          max_reallocations=max_reallocations, source=source,
                          armed_from=stop_from)
    reasons = tuple(halt_reason(int(c), rows[-1], float(s), float(t))
                    for c, rows, s, t in zip(watched.codes, watched.rows, thresholds, t_max))
    return watched, reasons
