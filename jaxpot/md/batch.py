"""Batches: several systems of different sizes in one jitted, vmapped MD loop.

Each system is padded to the largest one's atom count: padding atoms have species 0, mass 1,
no momentum and no force, are nobody's neighbor (the list's ``atom_count``), and count in no
energy, temperature or degree of freedom (``MDState.atom_mask``).  Every system keeps its own
cell, neighbor list and RNG key, so a batch gives each system the trajectory it would have run
alone (up to the order of floating-point sums; Langevin noise of a padded system is drawn for
its padded shape, so it is a different, equally valid, random stream).

Neighbor lists are all-pairs over lattice images with shapes shared by the batch (the largest
capacity, half-list size and image range of any system); batches are meant for many small and
medium systems (as TorchSim batches them), one large system runs faster alone in
:func:`jaxpot.md.run`.  When any list overflows the chunk is replayed for all systems with
larger shared capacities; when any system's skin test fails, all lists are rebuilt (one
batched rebuild, :func:`jaxpot.neighbors.update_neighbor_list` under ``vmap``).

On CPU a batch is not faster than the systems run one after another (XLA:CPU gains nothing
from the batch axis, and a batch pays for padding and shared rebuilds: see
``benchmarks/bench_md_batch.py``); it gives one compiled program for many systems, one
neighbor-list policy and one result, and is what fills an accelerator.
"""

from __future__ import annotations

from collections.abc import Sequence

import ase
import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.md.chunk import init_jit
from jaxpot.md.inputs import host_view, initial_momenta, integrator_masses
from jaxpot.md.output import MDLog, state_to_atoms
from jaxpot.md.replicas import (
    ReplicaResult,
    refuse_metadynamics,
    run_stacked,
    tree_row,
    watched_result,
)
from jaxpot.md.state import Integrator, MDError, MDState
from jaxpot.md.watched import watch_stacked
from jaxpot.model import check_host_inputs
from jaxpot.neighbors import NeighborList, allocate_for_model, ladder, pad_neighbor_list
from jaxpot.pytree import stack_trees
from jaxpot.structure import as_structure, check_species_known

PADDING_MASS = 1.0  #: amu of padding atoms (they never move: no momentum, no force)


def _integrators(integrators, n: int) -> list[Integrator]:
    if isinstance(integrators, Integrator):
        return [integrators] * n
    integrators = list(integrators)
    if len(integrators) != n:
        raise ValueError(f"run_batch: {len(integrators)} integrators for {n} systems "
                         "(give one, or one per system)")
    kinds = {(i.kind, i.options, jax.tree_util.tree_structure(i)) for i in integrators}
    if len(kinds) != 1:
        raise ValueError("run_batch: the integrators must share kind, options and the model's "
                         "configuration (only time steps, temperatures, frictions, pressures "
                         "and parameter values may differ)")
    return integrators


def _allocate(model, positions: Sequence[np.ndarray], cells: Sequence[np.ndarray], pbc,
              skin: float, multiplier: float, n_atoms: int, at_least: tuple | None = None
              ) -> tuple[NeighborList, tuple]:
    """Lists of every system at ``positions`` padded to shared shapes (stacked), and the
    shapes ``(capacity, half capacity, image range, view capacities, reciprocal grid)``;
    capacities are rounded up to :func:`jaxpot.neighbors.ladder` sizes (head-room that keeps
    regrowths, and so recompilations, few)."""
    # host lists (vesin, rebuilt one system after another) on CPU; on accelerators the
    # jittable all-pairs build, whose image range is the largest any system needs
    method = "host" if jax.default_backend() == "cpu" else "all_pairs"
    lists = [allocate_for_model(model, p, c, pbc, skin=skin, method=method,
                                capacity_multiplier=multiplier)
             for p, c in zip(positions, cells)]
    sizes = [(nb.capacity, nb.half_i.shape[0] if nb.half_i is not None else 0, nb.image_range,
              nb.view_capacities, nb.reciprocal_grid) for nb in lists]
    if at_least is not None:
        sizes.append(at_least)
    shared = (ladder(max(s[0] for s in sizes)), ladder(max(s[1] for s in sizes)),
              tuple(int(x) for x in np.max([s[2] for s in sizes], axis=0)),
              tuple(ladder(int(x)) for x in np.max([s[3] for s in sizes], axis=0))
              if sizes[0][3] else (),
              tuple(int(x) for x in np.max([s[4] for s in sizes], axis=0))
              if sizes[0][4] else ())
    padded = [pad_neighbor_list(nb, n_atoms, *shared) for nb in lists]
    return stack_trees(padded), shared


def _pad(a: np.ndarray, n: int, value) -> np.ndarray:
    pad = np.full((n - a.shape[0],) + a.shape[1:], value, a.dtype)
    return np.concatenate([a, pad])


def run_batch(integrators: Integrator | Sequence[Integrator], systems: Sequence[ase.Atoms],
              steps: int, *, temperatures: Sequence[float] | float | None = None,
              seeds: Sequence[int] | None = None, skin: float = 1.0, log_interval: int = 100,
              chunk: int | None = None, max_reallocations: int = 20,
              capacity_multiplier: float = 1.25,
              stop_when_uncertain: float | Sequence[float] | None = None,
              max_temperature: float | None = None,
              max_energy_change: float = 10.0,
              stop_when_uncertain_from: int = 0) -> ReplicaResult:
    """Run ``systems`` (different sizes, cells and compositions) side by side in one jit.

    Args:
        integrators: one integrator for all systems, or one per system (same kind, options
            and model configuration; time steps, temperatures and parameters may differ).
        systems: ase.Atoms, all with the same pbc.
        temperatures: K (one, or one per system) for Maxwell–Boltzmann starting momenta of
            systems that carry none; seeds: per system (default 0, 1, 2, ...).
        skin, log_interval, chunk, capacity_multiplier: as in :func:`jaxpot.md.run`.
        stop_when_uncertain: eV, one or one per system: each system halts inside the jitted
            chunk at its first log row whose model uncertainty exceeds it, and a system whose
            MD goes bad (NaN, above ``max_temperature`` K, potential energy moved more than
            ``max_energy_change`` eV/atom) halts alone, flagged, instead of raising
            (:mod:`jaxpot.md.watched`); the others run on.  Systems of one size only.
        stop_when_uncertain_from: the first step at which the uncertainty may stop a system
            (a burn-in: earlier log rows are watched but do not stop it).

    Returns:
        :class:`ReplicaResult`: final ``atoms`` and ``logs`` per system (unpadded), the
        stacked padded ``state`` and the number of shared-list regrowths; with
        ``stop_when_uncertain`` also ``stopped``, ``unstable`` and ``uncertainty``.
    """
    systems = list(systems)
    n_sys = len(systems)
    if n_sys < 1:
        raise ValueError("run_batch needs at least one system")
    if any(not isinstance(a, ase.Atoms) for a in systems):
        raise TypeError("run_batch: systems must be ase.Atoms")
    integrators = _integrators(integrators, n_sys)
    seeds = list(range(n_sys)) if seeds is None else list(seeds)
    temps = (list(np.ravel(temperatures)) if np.ndim(temperatures) == 1
             else [temperatures] * n_sys)
    if len(seeds) != n_sys or len(temps) != n_sys:
        raise ValueError(f"run_batch: need one seed and one temperature per system ({n_sys})")
    if int(steps) != steps or steps < 0 or log_interval < 1:
        raise ValueError(f"need steps >= 0 and log_interval >= 1, got {steps}, {log_interval}")
    first = integrators[0]
    model = first.model
    pbcs = {tuple(bool(p) for p in a.pbc) for a in systems}
    if len(pbcs) != 1:
        raise ValueError(f"run_batch: all systems need the same pbc, got {sorted(pbcs)}")
    pbc = pbcs.pop()
    if first.kind == "npt" and not all(pbc):
        raise MDError(f"run_batch: a barostat needs a periodic cell, got pbc={list(pbc)}")
    refuse_metadynamics(first, "run_batch")
    counts = [len(a) for a in systems]
    n_pad = max(counts)
    padded = min(counts) < n_pad
    if padded and model.atomic_energies_fn is None:
        raise ValueError(f"run_batch: model {model.name!r} has no per-atom energies, so the "
                         "padding atoms of smaller systems cannot be masked out; batch systems "
                         "of one size, or run them one at a time with md.run")
    dtype = jnp.result_type(float)
    structures, masses_all = [], []
    for s, atoms in enumerate(systems):
        species, masses, _ = host_view(atoms)
        try:
            check_species_known(species, model.species, model.name)
            check_host_inputs(model, species)
            masses_all.append(integrator_masses(first, species, masses))
        except (ValueError, MDError) as err:
            raise type(err)(f"run_batch: systems[{s}]: {err}") from None
        structures.append(as_structure(atoms, dtype=dtype))
    positions = [np.asarray(st.positions) for st in structures]
    cells = [np.asarray(st.cell) for st in structures]
    nbrs, _ = _allocate(model, positions, cells, pbc, skin, capacity_multiplier, n_pad)
    states = []
    for s, (atoms, st) in enumerate(zip(systems, structures)):
        mb_key, key = jax.random.split(jax.random.PRNGKey(seeds[s]))
        momenta = np.asarray(initial_momenta(atoms, masses_all[s], temps[s], mb_key, dtype))
        mask = jnp.asarray(np.arange(n_pad) < counts[s]) if padded else None
        states.append(init_jit(
            integrators[s], jnp.asarray(_pad(positions[s], n_pad, 0.0)),
            jnp.asarray(_pad(momenta, n_pad, 0.0), dtype), st.cell,
            jnp.asarray(_pad(np.asarray(st.species), n_pad, 0)),
            jnp.asarray(_pad(masses_all[s], n_pad, PADDING_MASS), dtype),
            tree_row(nbrs, s), key, mask))
    stacked, state = stack_trees(integrators), stack_trees(states)

    def regrow(state: MDState, nbrs: NeighborList, overflowed: NeighborList) -> NeighborList:
        """Shared shapes large enough at the chunk's start and where it overflowed."""
        def host(x, s):
            return np.asarray(x[s])[:counts[s]]
        _, needed = _allocate(model, [host(overflowed.reference_positions, s)
                                      for s in range(n_sys)],
                              [np.asarray(overflowed.reference_cell[s]) for s in range(n_sys)],
                              pbc, skin, capacity_multiplier, n_pad)
        grown, _ = _allocate(model, [host(state.positions, s) for s in range(n_sys)],
                             [np.asarray(state.cell[s]) for s in range(n_sys)], pbc, skin,
                             capacity_multiplier, n_pad, at_least=needed)
        return grown

    if stop_when_uncertain is not None:
        if padded:
            raise ValueError("run_batch: stop_when_uncertain needs systems of one size (the "
                             "uncertainty of padded systems is not masked); batch each size "
                             "apart")
        watched, reasons = watch_stacked(
            integrators, stacked, state, nbrs, steps, regrow,
            stop_when_uncertain=stop_when_uncertain, temperatures=temps, n_atoms=counts,
            max_temperature=max_temperature, max_energy_change=max_energy_change,
            log_interval=log_interval, chunk=chunk, max_reallocations=max_reallocations,
            stop_from=stop_when_uncertain_from, source="run_batch")
        return watched_result(watched, reasons,
                              lambda host, s: state_to_atoms(tree_row(host, s)))
    state, rows, regrown = run_stacked(stacked, state, nbrs, steps, regrow,
                                       log_interval=log_interval, chunk=chunk,
                                       max_reallocations=max_reallocations, source="run_batch")
    host = jax.device_get(state)
    logs = [MDLog.from_rows([{k: v[s] for k, v in row.items()} for row in rows])
            for s in range(n_sys)]
    atoms = [state_to_atoms(_unpadded(tree_row(host, s), counts[s])) for s in range(n_sys)]
    return ReplicaResult(atoms=atoms, logs=logs, state=state, n_reallocations=regrown)


def _unpadded(state: MDState, n: int) -> MDState:
    """The real atoms of one padded system's state."""
    return state.replace(positions=state.positions[:n], momenta=state.momenta[:n],
                         masses=state.masses[:n], species=state.species[:n],
                         forces=state.forces[:n], atom_mask=None)
