"""``md.run``: an MD run from ``ase.Atoms`` to a final state, a log, files and checkpoints.

Steps run in jitted chunks (:func:`jaxpot.md.chunk.run_chunk`) driven by
:func:`jaxpot.driver.run_chunks`: a chunk whose neighbor list overflowed is discarded, the
list is reallocated and the chunk replayed, so every step used a complete list and the
result equals that of a run allocated large from the start.  Between chunks the host
appends log rows, writes trajectory frames, checks for faults (NaN or exploding energy, an
atom leaving a non-periodic box, a temperature beyond ``max_temperature``), updates the
progress bar and writes an atomic checkpoint from which an interrupted run resumes
bit-identically.
"""

from __future__ import annotations

import logging
import os
import time
from typing import NamedTuple

import ase
import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.driver import run_chunks
from jaxpot.io.paths import check_outputs
from jaxpot.md.chunk import run_chunk, start
from jaxpot.md.inputs import host_view, initial_momenta, integrator_masses
from jaxpot.md.output import (
    MDLog,
    TrajectoryWriter,
    load_checkpoint,
    read_checkpoint,
    run_identity,
    save_checkpoint,
    state_to_atoms,
)
from jaxpot.md.state import (
    Integrator,
    MDError,
    MDState,
    bias_overflowed,
    grow_bias,
    match_bias,
)
from jaxpot.model import check_host_inputs
from jaxpot.neighbors import NeighborList, allocate_for_model
from jaxpot.precision import check_precision
from jaxpot.structure import Structure, as_structure, check_species_known
from jaxpot.units import kB

_log = logging.getLogger(__name__)


class MDResult(NamedTuple):
    """Final ``atoms`` (with momenta; cell for NPT), the ``log`` (:class:`MDLog`), the final
    ``state`` and ``neighbors``, how often the list was regrown, ``timing`` (seconds of
    the first chunk including compilation, steady steps/s and ns/day) and ``extra_log``: the
    log columns a biased run adds (metadynamics: bias_energy eV, n_hills, n_paused, paused),
    one entry per log row."""

    atoms: ase.Atoms
    log: MDLog
    state: MDState
    neighbors: NeighborList
    n_reallocations: int
    timing: dict
    extra_log: dict | None = None
    stopped: str | None = None  #: why a run stopped before ``steps`` (stop_when_uncertain)

    def _bias(self, what: str):
        if self.state.bias is None or not hasattr(self.state.bias, what):
            raise ValueError(f"MDResult.{what} needs a metadynamics run (an integrator from "
                             "md.metadynamics(...)); this run had no bias")
        return getattr(self.state.bias, what)

    def free_energy(self, grid, blocks: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """(F, F_std) in eV on ``grid`` (CV values) from a metadynamics run's final bias,
        F shifted to minimum 0: see :func:`jaxpot.md.hills.free_energy`."""
        return self._bias("free_energy")(grid, blocks)

    @property
    def candidate_steps(self) -> np.ndarray:
        """Steps at which a metadynamics run paused deposition because the uncertainty
        exceeded ``pause_above`` (candidates for new reference data)."""
        return self._bias("candidate_steps")()


def _inside_open_box(structure) -> bool:
    """Whether every atom starts inside the cell along all non-periodic, non-zero lattice
    vectors (only then is leaving that box checked)."""
    cell = np.asarray(structure.cell, float)
    dims = [d for d in range(3) if not structure.pbc[d] and np.linalg.norm(cell[d]) > 0]
    if not dims or abs(np.linalg.det(cell)) < 1e-12:
        return False
    frac = np.linalg.solve(cell.T, np.asarray(structure.positions, float).T).T
    return bool(np.all((frac[:, dims] >= 0) & (frac[:, dims] <= 1)))


def run(integrator: Integrator, atoms, steps: int, *, temperature: float | None = None,
        seed: int = 0, skin: float = 1.0, log_interval: int = 100,
        trajectory: str | os.PathLike | None = None, trajectory_interval: int | None = None,
        checkpoint: str | os.PathLike | None = None, chunk: int | None = None,
        progress: bool | None = None, max_temperature: float | None = None,
        max_energy_change: float = 10.0, capacity_multiplier: float = 1.25,
        overwrite: bool = False, stop_when_uncertain: float | None = None) -> MDResult:
    """Run ``steps`` MD steps of ``integrator`` from ``atoms``.

    Args:
        integrator: from :func:`nve`, :func:`langevin`, :func:`nose_hoover`, :func:`npt`,
            or :func:`metadynamics` around one of them.
        atoms: ase.Atoms (momenta and masses are used) or a jaxpot Structure.
        steps: total number of steps (a resumed run continues up to this number).
        temperature: K; draws Maxwell–Boltzmann momenta (zero total momentum, ``seed``)
            when the atoms carry none. seed: also seeds Langevin noise.
        skin: neighbor-list skin, Å. log_interval: steps between log rows.
        trajectory: .extxyz/.xyz/.traj file, written every ``trajectory_interval`` steps (a
            multiple of ``log_interval``; default ``log_interval``).  A fresh run refuses an
            existing file unless ``overwrite=True``; a resumed run keeps the frames up to its
            checkpoint and rewrites the rest.  It must not be the checkpoint file.
        checkpoint: file (a plain ``.npz``) for an atomic checkpoint at the start and after
            every chunk; when it exists the run resumes from it and continues bit-identically.
            Only the run that wrote it resumes from it: a checkpoint written by another
            integrator, model, start structure, momenta, seed or settings (log and trajectory
            intervals, skin, chunk, trajectory path), one that already holds more than
            ``steps`` steps, or a file that is not a checkpoint is refused (MDError).
        chunk: steps per jitted chunk (default about 1000, a multiple of ``log_interval``).
        progress: tqdm bar with steps/s and ns/day (None: when stderr is a terminal).
        max_temperature: K; stop when exceeded (default 10x the larger of the target and
            initial temperatures, at least 5000 K).
        max_energy_change: eV/atom; stop when the potential energy moves further than this
            from its start (an exploding run).
        overwrite: let a fresh run replace an existing ``trajectory`` file (default: refuse,
            so that no file, e.g. the one the start structure came from, is lost).
        stop_when_uncertain: eV; stop the run at the first log row where the model's
            uncertainty (its total-energy standard deviation: an ensemble, a model carrying
            a calibrated uncertainty or a biased one; :mod:`jaxpot.uncertainty`) exceeds
            this.  The result's ``stopped`` names the step and sigma, ``atoms``/``state`` are
            that row's structure (a candidate for a reference calculation), the trajectory
            keeps the frames up to it; ``extra_log["uncertainty"]`` holds sigma per row.

    Raises:
        MDError: bad input (before compiling) or an unstable run, naming the step; it
            carries ``last_good`` (ase.Atoms) and the trajectory holds the frames up to it.
    """
    if not isinstance(integrator, Integrator):
        raise TypeError(f"md.run needs an integrator from jaxpot.md (nve, langevin, nose_hoover,"
                        f" npt), got {type(integrator)!r}")
    for name, value, low in (("steps", steps, 0), ("log_interval", log_interval, 1),
                             ("chunk", 1 if chunk is None else chunk, 1)):
        whole = isinstance(value, (int, np.integer, float, np.floating)) and not isinstance(
            value, bool) and np.isfinite(value) and float(value).is_integer()
        if not whole or value < low:
            raise ValueError(f"md.run: {name} must be an integer >= {low}, got {value!r}")
    if temperature is not None and not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be positive (K), got {temperature!r}")
    trajectory_interval = trajectory_interval or log_interval
    if trajectory_interval % log_interval:
        raise ValueError(f"trajectory_interval ({trajectory_interval}) must be a multiple of "
                         f"log_interval ({log_interval})")
    check_precision(integrator.model, "jaxpot.md")
    check_outputs({"trajectory": trajectory, "checkpoint": checkpoint}, {})
    steps = int(steps)
    if not isinstance(atoms, (ase.Atoms, Structure)):
        raise TypeError(f"md.run needs ase.Atoms or a jaxpot Structure, got {type(atoms)!r}")
    model = integrator.model
    species, masses, pbc = host_view(atoms)
    check_species_known(species, model.species, model.name)
    check_host_inputs(model, species)
    if "npt" in (integrator.kind, integrator.option.get("wrapped")) and not all(pbc):
        raise MDError(f"md.run: a barostat needs a periodic cell (pbc True along all three "
                      f"lattice vectors), got pbc={list(pbc)}")
    masses = integrator_masses(integrator, species, masses)
    writer = TrajectoryWriter(trajectory, trajectory_interval) if trajectory else None
    resuming = checkpoint is not None and os.path.exists(checkpoint)
    saved = read_checkpoint(checkpoint) if resuming else None  # a bad file: before compiling
    if not resuming and writer is not None and writer.path.exists() and not overwrite:
        raise MDError(f"md.run: the trajectory file {writer.path} already exists and this is a "
                      "fresh run (no checkpoint to resume), which would overwrite it; pass "
                      "another trajectory path, or overwrite=True to replace it")
    structure = as_structure(atoms, dtype=jnp.result_type(float))
    dtype = structure.positions.dtype
    mb_key, key = jax.random.split(jax.random.PRNGKey(seed))
    momenta = initial_momenta(atoms, masses, temperature, mb_key, dtype)
    check_box = _inside_open_box(structure)
    chunk_steps = chunk or log_interval * max(1, min(10, 1000 // log_interval))
    identity = run_identity(
        integrator, structure, masses, momenta, seed=seed, precision=dtype,
        log_interval=log_interval, trajectory_interval=trajectory_interval, skin=skin,
        chunk=chunk_steps, trajectory=_trajectory_name(trajectory, checkpoint))

    monitor = None
    if stop_when_uncertain is not None:
        from jaxpot.model_registry import uncertainty_function
        monitor = uncertainty_function(model)
        if monitor is None or not stop_when_uncertain > 0:
            raise MDError(f"md.run: stop_when_uncertain needs a threshold > 0 eV and a model with "
                          f"an uncertainty (an ensemble, or uq.calibrate(model, ...)); got "
                          f"{stop_when_uncertain} and {model.name} ({model.kind})")
    if resuming:
        state, nbrs, rows = _resume(checkpoint, saved, identity, writer, steps)
    else:
        nbrs = allocate_for_model(model, np.asarray(structure.positions),
                                  np.asarray(structure.cell), structure.pbc, skin=skin,
                                  capacity_multiplier=capacity_multiplier,
                                  round_capacities="fine")  # a continued run: no compile
        state, row = start(integrator, structure.positions, momenta, structure.cell,
                           structure.species, jnp.asarray(masses, dtype), nbrs, key, check_box,
                           monitor)
        rows = [jax.device_get(row)]
        if checkpoint is not None:  # before the first frame: a rerun owns the trajectory
            save_checkpoint(checkpoint, state=state, neighbors=nbrs, rows=rows, n_frames=0,
                            identity=identity)
        if writer is not None:
            if writer.path.exists():
                writer.path.unlink()
            writer.write([state_to_atoms(state)])

    target = integrator.params.get("kT")
    t_ref = max(float(target) / kB if target is not None else 0.0, float(rows[0]["temperature"]))
    limits = {"temperature": max_temperature or max(10.0 * t_ref, 5000.0),
              "energy": float(rows[0]["potential_energy"]),
              "energy_change": max_energy_change * len(masses)}  # eV, whole system
    session = _Session(integrator, writer, checkpoint, identity, rows, limits, steps,
                       log_interval, progress, int(state.step))
    session.stop_above = stop_when_uncertain
    n_logs = -(-chunk_steps // log_interval)
    statics = dict(n_logs=n_logs, log_interval=log_interval,
                   with_frames=writer is not None or monitor is not None,
                   check_box=check_box, monitor=monitor)

    def advance(st, nb):
        st = session.chunk_start = match_bias(st, nb)  # walkers' lists follow a regrown one
        limit = jnp.asarray(min(int(st.step) + n_logs * log_interval, steps), jnp.int32)
        for _ in range(40):
            end, nb_end, out_rows, valid, frames = run_chunk(integrator, st, nb, limit,
                                                             **statics)
            full = bias_overflowed(end)
            if full is None or not bool(full):
                return end, nb_end, (out_rows, valid, frames, nb_end)
            st = session.chunk_start = grow_bias(st, end)  # larger buffers: replay the chunk
        raise MDError(f"md.run: the bias's buffers kept overflowing at step {int(st.step)}")

    n_realloc = 0
    try:
        if int(state.step) < steps:
            result = run_chunks(advance, state, nbrs, on_chunk=session.accept,
                                finished=lambda st, _: session.stopped is not None
                                or int(st.step) >= steps)
            state, nbrs, n_realloc = result.carry, result.neighbors, result.n_reallocations
            state = session.stop_state or state
    finally:
        session.close()  # the progress bar, also for a run that had nothing left to do
    return MDResult(atoms=state_to_atoms(state), log=MDLog.from_rows(session.rows), state=state,
                    neighbors=nbrs, n_reallocations=n_realloc, timing=session.timing(),
                    extra_log=_extra_columns(session.rows), stopped=session.stopped)


def _extra_columns(rows: list[dict]) -> dict[str, np.ndarray]:
    """The log columns beyond :class:`MDLog`'s (a bias's), stacked over the rows."""
    known = set(MDLog.__dataclass_fields__) | {"escaped"}
    return {name: np.stack([np.asarray(r[name]) for r in rows]) for name in rows[0]
            if name not in known}


def _trajectory_name(trajectory, checkpoint) -> str:
    """The trajectory as a checkpoint records it: its path relative to the checkpoint's
    directory (a run directory moved whole still resumes), ``"none"`` without one."""
    if trajectory is None:
        return "none"
    if checkpoint is None:
        return os.fspath(trajectory)
    return os.path.relpath(os.path.realpath(trajectory),
                           os.path.dirname(os.path.realpath(checkpoint)))


def _resume(checkpoint, checked, identity: dict, writer: TrajectoryWriter | None, steps: int):
    """(state, neighbors, rows) of this run's ``checkpoint`` (``checked``: its header and
    arrays); the trajectory cut back to the frames it had written.  Refuses another run's
    checkpoint and one beyond ``steps``."""
    saved = load_checkpoint(checkpoint, identity, checked)
    state = saved["state"]
    if int(state.step) > steps:
        raise MDError(f"md.run: checkpoint {checkpoint} already holds {int(state.step)} steps, "
                      f"more than the steps={steps} asked for; pass steps={int(state.step)} or "
                      "more to continue from it (equal: its final state), or another "
                      "checkpoint path to start afresh")
    if writer is not None:
        writer.truncate(saved["n_frames"])
        if saved["n_frames"] == 0:  # stopped between the start checkpoint and the first frame
            writer.write([state_to_atoms(state)])
    return state, saved["neighbors"], saved["rows"]


class _Session:
    """Host-side bookkeeping of one run: log rows, files, fault checks, progress, timing."""

    def __init__(self, integrator, writer, checkpoint, identity, rows, limits, steps,
                 log_interval, progress, start_step):
        self.integrator, self.writer, self.checkpoint = integrator, writer, checkpoint
        self.identity, self.rows, self.limits, self.steps = identity, list(rows), limits, steps
        self.log_interval = log_interval
        self.chunk_start: MDState | None = None
        self.stop_above: float | None = None
        self.stopped: str | None = None
        self.stop_state: MDState | None = None
        self.start_step = self.last_step = start_step
        self.t0 = time.perf_counter()
        self.t_first = None
        self.first_steps = 0
        from jaxpot.progress import progress_bar
        self.bar = progress_bar(total=steps, initial=start_step, unit="step", desc="md",
                        disable=(None if progress is None else not progress), leave=False)

    def _fault(self, row) -> str | None:
        energy = float(row["potential_energy"])
        if not np.isfinite(energy) or not np.isfinite(float(row["temperature"])):
            return "the energy or temperature became NaN or infinite"
        if bool(row["escaped"]):
            return "an atom left the cell along a non-periodic direction"
        if float(row["temperature"]) > self.limits["temperature"]:
            return (f"the temperature {float(row['temperature']):.4g} K exceeds max_temperature "
                    f"{self.limits['temperature']:.4g} K")
        if abs(energy - self.limits["energy"]) > self.limits["energy_change"]:
            return (f"the potential energy moved by {abs(energy - self.limits['energy']):.4g} eV "
                    f"from its start, more than max_energy_change per atom allows")
        return None

    def _uncertain(self, row) -> str | None:
        """Why the run stops at ``row`` (the model's uncertainty above stop_when_uncertain)."""
        if self.stop_above is None or not float(row["uncertainty"]) > self.stop_above:
            return None
        from jaxpot.md.watched import UNCERTAIN, halt_reason
        return halt_reason(UNCERTAIN, row, self.stop_above, self.limits["temperature"])

    def accept(self, state: MDState, out) -> None:
        rows, valid, frames = jax.device_get(out[:3])
        neighbors = out[3]
        good_frames = []
        last_good = self.chunk_start
        for k in np.flatnonzero(valid):
            row = {name: value[k] for name, value in rows.items()}
            problem = self._fault(row)
            step = int(row["step"])
            if problem is not None:
                if self.writer is not None:
                    self.writer.write(good_frames)
                good_atoms = state_to_atoms(jax.device_get(last_good))
                raise MDError(f"md.run stopped at step {step} (checked every "
                              f"{self.log_interval} steps): {problem}; the last good state is "
                              f"step {int(last_good.step)} (MDError.last_good)"
                              + (f", the trajectory {self.writer.path} holds the frames up to it"
                                 if self.writer is not None else ""),
                              step=step, last_good=good_atoms)
            self.rows.append(row)
            if frames is not None:
                last_good = self.chunk_start.replace(
                    step=np.int32(step), **{name: value[k] for name, value in frames.items()})
                uncertain = self._uncertain(row)
                if self.writer is not None and (self.writer.wants(step) or uncertain):
                    good_frames.append(state_to_atoms(last_good))
                if uncertain:
                    self.stopped, self.stop_state = uncertain, last_good
                    _log.info("md.run %s", uncertain)
                    break
        if self.writer is not None:
            self.writer.write(good_frames)
        self._tick(int(state.step))
        if self.checkpoint is not None:  # a stopped run: its stop state, where it resumes
            save_checkpoint(self.checkpoint, state=self.stop_state or state, neighbors=neighbors,
                            rows=self.rows, n_frames=self.writer.n_written if self.writer else 0,
                            identity=self.identity)

    def _tick(self, step: int) -> None:
        now = time.perf_counter()
        if self.t_first is None:
            self.t_first, self.first_steps = now - self.t0, step - self.start_step
        self.bar.update(step - self.last_step)
        self.last_step = step
        rate = self._rate(now)
        if rate:
            self.bar.set_postfix(ns_day=f"{rate * self.integrator.timestep_fs * 0.0864:.3g}",
                                 T=f"{float(self.rows[-1]['temperature']):.0f}K")

    def _rate(self, now: float) -> float | None:
        done = self.last_step - self.start_step - self.first_steps
        elapsed = now - self.t0 - (self.t_first or 0.0)
        return done / elapsed if done > 0 and elapsed > 0 else None

    def close(self) -> None:
        self.bar.close()

    def timing(self) -> dict:
        rate = self._rate(time.perf_counter())
        return {"first_chunk_s": self.t_first, "first_chunk_steps": self.first_steps,
                "steps_per_s": rate,
                "ns_per_day": rate * self.integrator.timestep_fs * 0.0864 if rate else None}
