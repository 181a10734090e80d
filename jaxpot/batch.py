"""Batches of structures of different sizes: padded to a few bucket shapes, evaluated by vmap.

A :class:`Batch` stacks ``B`` structures padded to ``N`` atoms and ``K`` neighbor slots:
padding atoms have species 0 (no element aliases it) and ``atom_mask`` False, they are nobody's
neighbor, and their per-atom energies are masked out of every sum.  Each structure keeps its own
cell, so one jitted call gives per-structure energies and stresses and per-atom forces
(:func:`batch_energy_forces_stress`), differentiable w.r.t. the model's params (what fits call).

Structures are grouped into buckets by ``(pbc, padded N)`` on a coarse ladder, small buckets
merged upwards, so a whole training set compiles a handful of shapes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.mechanics import strain_derivative
from jaxpot.model import EnergyModel, check_host_inputs
from jaxpot.neighbors import NeighborList, fine_ladder, ladder, reciprocal_grid
from jaxpot.neighbors.host import host_rows
from jaxpot.pytree import pytree_dataclass
from jaxpot.space import volume
from jaxpot.structure import check_species_known, validate_atoms_input
from jaxpot.types import Array

PADDING_SPECIES = 0  #: species of padding atoms (no element has Z = 0)


@pytree_dataclass
class Batch:
    """``B`` structures padded to ``N`` atoms: positions (B,N,3) Å, cell (B,3,3) Å, species (B,N)
    Z (0 = padding), atom_mask (B,N), neighbors: a NeighborList with a leading batch axis."""

    positions: Array
    cell: Array
    species: Array
    atom_mask: Array
    neighbors: NeighborList


class BatchResults(NamedTuple):
    """energy (B,) eV, forces (B,N,3) eV/Å, stress (B,3,3) eV/Å^3, energies (B,N) eV or None."""

    energy: Array
    forces: Array
    stress: Array
    energies: Array | None


class FramePairs(NamedTuple):
    """Host neighbor data of one structure (unpadded)."""

    idx: np.ndarray
    shifts: np.ndarray
    view_counts: tuple[int, ...]
    half: tuple[np.ndarray, np.ndarray, np.ndarray]  # half list (i, j, shifts), unpadded

    @property
    def n_half(self) -> int:
        return len(self.half[0])


def frame_pairs(model: EnergyModel, atoms, skin: float = 0.0) -> FramePairs:
    """Neighbor data of one ``ase.Atoms`` for ``model`` (exact capacity, rows sorted by
    distance), built on the host (binned search or vesin; no compilation, any size)."""
    idx, shifts, dist, half = host_rows(atoms.positions, atoms.cell.array, atoms.pbc,
                                        model.cutoff + skin)
    views = tuple(int(np.max(np.sum(dist < c + skin, axis=1), initial=0))
                  for c in _view_cutoffs(model))
    return FramePairs(idx, shifts, views, half)


def _view_cutoffs(model: EnergyModel) -> tuple[float, ...]:
    return tuple(sorted({c for c in model.part_cutoffs if c < model.cutoff}))


def pack(model: EnergyModel, frames: Sequence, pairs: Sequence[FramePairs], n_atoms: int,
         capacity: int, batch_size: int, dtype=None, skin: float = 0.0,
         half_capacity: int | None = None) -> Batch:
    """Pad ``frames`` (at most ``batch_size``) to ``n_atoms`` atoms, ``capacity`` slots and
    ``half_capacity`` half-list pairs (default: the largest frame's)."""
    dtype = np.dtype(dtype or jnp.result_type(float))
    b, n, k = batch_size, n_atoms, capacity
    positions = np.zeros((b, n, 3))
    cell = np.tile(np.eye(3), (b, 1, 1))
    species = np.full((b, n), PADDING_SPECIES, np.int32)
    mask = np.zeros((b, n), bool)
    idx = np.full((b, n, k), n, np.int32)
    shifts = np.zeros((b, n, k, 3), np.int32)
    views = np.zeros((len(_view_cutoffs(model)),), int)
    e = half_capacity or max(max(p.n_half for p in pairs), 1)
    half_i = np.full((b, e), n, np.int32)
    half_j = np.full((b, e), n, np.int32)
    half_shifts = np.zeros((b, e, 3), np.int32)
    for s, (atoms, p) in enumerate(zip(frames, pairs)):
        m, kk = p.idx.shape
        positions[s, :m] = atoms.positions
        if atoms.cell.rank == 3:
            cell[s] = atoms.cell.array
        species[s, :m] = atoms.numbers
        mask[s, :m] = True
        idx[s, :m, :kk] = np.where(p.idx < m, p.idx, n)
        shifts[s, :m, :kk] = p.shifts
        views = np.maximum(views, p.view_counts) if len(views) else views
        h = p.n_half
        half_i[s, :h], half_j[s, :h], half_shifts[s, :h] = p.half
    pbc = tuple(bool(x) for x in frames[0].pbc)
    spacing = float(model.reciprocal_spacing) if all(pbc) else 0.0
    k_grid = tuple(int(g) for g in np.max([reciprocal_grid(a.cell.array, spacing,
                                                           skin / (model.cutoff + skin))
                                           for a in frames], axis=0)) if spacing > 0 else ()
    zeros_b = np.zeros((b,), np.int32)
    nbrs = NeighborList(
        idx=jax.device_put(idx), shifts=jax.device_put(shifts), half_i=jax.device_put(half_i),
        half_j=jax.device_put(half_j), half_shifts=jax.device_put(half_shifts),
        reference_positions=jax.device_put(positions.astype(dtype)),
        reference_cell=jax.device_put(cell.astype(dtype)),
        overflow=jax.device_put(zeros_b), max_count=jax.device_put(zeros_b),
        max_occupancy=jax.device_put(zeros_b),
        binning_origin=jax.device_put(np.zeros((b, 3), dtype)),
        binning_frame=jax.device_put(cell.astype(dtype)), cutoff=float(model.cutoff),
        skin=float(skin),
        pbc=pbc, method="fixed", image_range=(0, 0, 0), grid=(1, 1, 1), bin_capacity=0,
        capacity_multiplier=1.0, view_cutoffs=_view_cutoffs(model),
        view_capacities=tuple(int(max(v, 1)) for v in views),
        reciprocal_spacing=spacing if k_grid else 0.0, reciprocal_grid=k_grid)
    return Batch(positions=jax.device_put(positions.astype(dtype)),
                 cell=jax.device_put(cell.astype(dtype)),
                 species=jax.device_put(species), atom_mask=jax.device_put(mask), neighbors=nbrs)


class Bucket(NamedTuple):
    """Frames (indices into the caller's list) sharing one padded shape."""

    indices: tuple[int, ...]
    n_atoms: int
    capacity: int
    batch_size: int
    half_capacity: int


#: the most frames per call when predicting: a bucket's calls take its frame count rounded up
#: to a power of two, at most this (the last call padded), so buckets of 16 frames or more
#: share one program whatever their size (a training and a test set), a smaller bucket pads
#: under 2x, and a single frame is not padded
PREDICT_BATCH = 16


def plan_buckets(frames: Sequence, pairs: Sequence[FramePairs], pad_atoms: bool = True,
                 batch_size: int | None = None, max_elements: int = 1 << 19,
                 min_bucket: int = 16, max_batch: int | None = None,
                 max_padding: float | None = None, fine: bool = False,
                 fine_capacity: bool | None = None) -> list[Bucket]:
    """Group frames into few padded shapes.

    Frames are keyed by periodicity and padded size (a coarse ladder when ``pad_atoms``, or
    with ``fine`` the fine one; the exact size otherwise, for models without per-atom
    energies); a bucket's neighbour capacities are rounded up on the fine ladder when
    ``fine_capacity`` (default: ``fine``), which adds no shape; buckets with fewer than
    ``min_bucket`` frames move up into the next larger one, smallest first, as long as the
    padding atoms these moves add stay within ``max_padding`` times the frames' atoms (None:
    no limit; a bucket that would exceed it keeps its own shape).  The batch size keeps
    ``B * N * K`` below ``max_elements`` unless ``batch_size`` is given; it is the bucket's
    frame count, or with ``max_batch`` that count rounded up to a power of two, at most
    ``max_batch`` (the last batch padded).
    """
    groups: dict[tuple, list[int]] = {}
    for i, (atoms, p) in enumerate(zip(frames, pairs)):
        n = len(atoms)
        size = (fine_ladder(n) if fine else ladder(n, minimum=8)) if pad_atoms else n
        groups.setdefault((tuple(bool(x) for x in atoms.pbc), size), []).append(i)
    if pad_atoms:
        keys = sorted(groups)
        allowed = math.inf if max_padding is None else max_padding * sum(map(len, frames))
        for a, key in enumerate(keys):
            bigger = [k for k in keys[a + 1:] if k[0] == key[0]]
            if len(groups[key]) < min_bucket and bigger:
                added = len(groups[key]) * (bigger[0][1] - key[1])
                if added <= allowed:
                    allowed -= added
                    groups[bigger[0]].extend(groups.pop(key))
    buckets = []
    for (_, size), members in sorted(groups.items(), key=lambda kv: kv[0][1]):
        k_max = max(pairs[i].idx.shape[1] for i in members)
        rung = fine_ladder if (fine if fine_capacity is None else fine_capacity) else ladder
        capacity = rung(max(k_max, 1))
        half = rung(max(max(pairs[i].n_half for i in members), 1))
        count = len(members)
        if max_batch:  # few shapes: powers of two up to max_batch
            count = min(1 << (count - 1).bit_length(), max_batch)
        b = batch_size or max(1, min(count, max_elements // (size * capacity)))
        buckets.append(Bucket(tuple(sorted(members)), size, capacity, int(b), half))
    return buckets


def packed_batches(model: EnergyModel, frames: Sequence, pairs: Sequence[FramePairs],
                   buckets: Sequence[Bucket]):
    """Yield (frame indices, :class:`Batch`) for every batch of every bucket, in order."""
    for bucket in buckets:
        for start in range(0, len(bucket.indices), bucket.batch_size):
            members = bucket.indices[start:start + bucket.batch_size]
            yield members, pack(model, [frames[i] for i in members],
                                [pairs[i] for i in members], bucket.n_atoms, bucket.capacity,
                                bucket.batch_size, half_capacity=bucket.half_capacity)


def slot_work(buckets: Sequence[Bucket], n_frames: int) -> list[int]:
    """Each frame's share of the padded atom slots its batch computes (the batch size x the
    bucket's atoms, shared among the batch's frames; a half-empty last batch costs as much as
    a full one): the work a progress bar should count (benchmarks/progress_eta.py)."""
    out = [0] * n_frames
    for bucket in buckets:
        for start in range(0, len(bucket.indices), bucket.batch_size):
            members = bucket.indices[start:start + bucket.batch_size]
            base, extra = divmod(bucket.batch_size * bucket.n_atoms, len(members))
            for k, i in enumerate(members):
                out[i] = base + (k < extra)
    return out


def first_batch_of_each_bucket(model: EnergyModel, frames: Sequence,
                               pairs: Sequence[FramePairs], buckets: Sequence[Bucket]):
    """Yield the first packed :class:`Batch` of every bucket: one per compiled shape (to
    compile a stage's shapes before it starts, so its progress times computation only)."""
    for bucket in buckets:
        members = bucket.indices[:bucket.batch_size]
        yield pack(model, [frames[i] for i in members], [pairs[i] for i in members],
                   bucket.n_atoms, bucket.capacity, bucket.batch_size,
                   half_capacity=bucket.half_capacity)


def masked_energy_forces_stress(model: EnergyModel, positions, cell, species, mask,
                                nbrs, compute_stress: bool = True) -> BatchResults:
    """One padded structure: energy eV (the masked sum of per-atom energies when the model has
    them), forces (N,3) eV/Å (zero on padding atoms), stress (3,3) eV/Å^3 (zeros unless
    ``compute_stress``: then no cell gradient is taken), energies (N,)."""
    per_atom = model.atomic_energies_fn is not None

    def energy(pos, c):
        if per_atom:
            e_i = jnp.where(mask, model.atomic_energies(pos, c, species, nbrs), 0.0)
            return jnp.sum(e_i), e_i
        return model.energy(pos, c, species, nbrs), None

    if not compute_stress:
        (e, e_i), de_dr = jax.value_and_grad(energy, has_aux=True)(positions, cell)
        return BatchResults(energy=e, forces=-jnp.where(mask[:, None], de_dr, 0.0),
                            energies=e_i, stress=jnp.zeros((3, 3), positions.dtype))
    (e, e_i), (de_dr, de_dcell) = jax.value_and_grad(energy, argnums=(0, 1), has_aux=True)(
        positions, cell)
    de_dr = jnp.where(mask[:, None], de_dr, 0.0)
    return BatchResults(energy=e, forces=-de_dr, energies=e_i,
                        stress=strain_derivative(positions, cell, de_dr, de_dcell) / volume(cell))


def batch_energy_forces_stress(model: EnergyModel, batch: Batch) -> BatchResults:
    """Per-structure energies (B,), forces (B,N,3), stresses (B,3,3) and per-atom energies.

    Pure and differentiable w.r.t. ``model.params`` (a training loss can take its grad).
    Stress of open structures is meaningless (their placeholder cell is the identity).
    """
    return jax.vmap(masked_energy_forces_stress, in_axes=(None, 0, 0, 0, 0, 0))(
        model, batch.positions, batch.cell, batch.species, batch.atom_mask, batch.neighbors)


#: jitted :func:`batch_energy_forces_stress` (one compilation per model configuration and shape)
evaluate_batch = jax.jit(batch_energy_forces_stress)


def check_frames(model: EnergyModel, frames: Sequence, source: str = "frames") -> None:
    """Clear errors naming the configuration index for frames the model cannot evaluate."""
    for i, atoms in enumerate(frames):
        try:
            validate_atoms_input(atoms.positions, atoms.cell.array, atoms.numbers, atoms.pbc)
            check_species_known(atoms.numbers, model.species, model.name)
            check_host_inputs(model, atoms.numbers)
        except ValueError as err:
            raise type(err)(f"{source}[{i}]: {err}") from None

