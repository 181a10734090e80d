"""Labelled structures on the device for training: padded buckets and per-structure targets.

Frames are grouped into a few padded shapes (:func:`jaxpot.batch.plan_buckets`); each bucket is
packed once into a :class:`~jaxpot.batch.Batch` holding all of its structures plus their
:class:`Targets`.  A training step gathers ``batch_size`` rows of one bucket by index inside
jit, so the whole run compiles once per bucket and never repacks on the host.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from ase.stress import voigt_6_to_full_3x3_stress

from jaxpot.batch import Batch, check_frames, frame_pairs, pack, plan_buckets
from jaxpot.model import EnergyModel
from jaxpot.pytree import pytree_dataclass
from jaxpot.training.labels import Labels, TrainingDataError
from jaxpot.types import Array


@pytree_dataclass
class Targets:
    """Labels of B structures: energy (B,) eV, forces (B,N,3) eV/Å, stress (B,3,3) eV/Å^3 (ASE
    sign), n_atoms (B,), 0/1 masks saying which labels each structure has, and each
    structure's weight in the loss (B,) (``config_type_weights``; 1 by default)."""

    energy: Array
    forces: Array
    stress: Array
    n_atoms: Array
    has_energy: Array
    has_forces: Array
    has_stress: Array
    loss_weight: Array


class Bucket(NamedTuple):
    """All structures of one padded shape, on the device, and their frame indices."""

    batch: Batch
    targets: Targets
    frames: np.ndarray  # (B,) indices into the dataset's frame list
    extra: object = None  # model-specific precomputed arrays, leading axis B (or None)


class Dataset(NamedTuple):
    """Buckets of one set of frames (training or validation)."""

    buckets: tuple[Bucket, ...]
    labels: tuple[Labels, ...]
    n_frames: int


def _targets(frames, labels, n_atoms: int, loss_weight) -> Targets:
    b = len(frames)
    energy, has_e = np.zeros(b), np.zeros(b)
    forces, has_f = np.zeros((b, n_atoms, 3)), np.zeros(b)
    stress, has_s = np.zeros((b, 3, 3)), np.zeros(b)
    sizes = np.zeros(b)
    for s, (atoms, lab) in enumerate(zip(frames, labels)):
        sizes[s] = len(atoms)
        if lab.energy is not None:
            energy[s], has_e[s] = lab.energy, 1.0
        if lab.forces is not None:
            forces[s, :len(atoms)], has_f[s] = lab.forces, 1.0
        if lab.stress is not None and all(atoms.pbc):
            stress[s], has_s[s] = voigt_6_to_full_3x3_stress(lab.stress), 1.0
    dtype = jnp.result_type(float)
    return Targets(*(jax.device_put(np.asarray(x, dtype)) for x in (
        energy, forces, stress, sizes, has_e, has_f, has_s, loss_weight)))


#: the padding (a fraction of the set's atoms) that merging small buckets may add in tight
#: buckets: one more compiled step beats padding the 48-atom cells of n2p2's water example to
#: 192 atoms every epoch
CPU_MAX_PADDING = 0.25


def build_dataset(model: EnergyModel, frames: Sequence, labels: Sequence[Labels],
                  source: str = "frames", min_bucket: int = 16, prepare=None,
                  tight: bool | None = None, fine_capacity: bool = True,
                  loss_weights: Sequence[float] | None = None) -> Dataset:
    """Pack ``frames`` (with their ``labels``) into device buckets for ``model``'s cutoff;
    ``prepare(model, batch)``, when given, precomputes each bucket's ``extra`` arrays;
    ``loss_weights`` (one per frame, default 1) weigh the frames' terms of the loss.
    ``tight`` (default: on the CPU, where a padded atom or neighbour slot costs what a real
    one does): atoms and neighbour slots padded on the fine ladder, and a small bucket merged
    into a larger shape only within ``CPU_MAX_PADDING`` (:func:`jaxpot.batch.plan_buckets`);
    otherwise (an accelerator, where a compilation costs much) the coarse ladder of atoms and
    every small bucket merged, so no more shapes. Neighbour slots are rounded on the fine
    ladder either way (``fine_capacity``; False with ``tight`` False: the coarse ladder, the
    accelerator's rule before): it adds no shape, and a padded slot costs its work on a GPU
    too (a MACE step's time grows with its structures, benchmarks/RESULTS.md and HISTORY.md)."""
    if tight is None:
        tight = jax.default_backend() == "cpu"
    frames = list(frames)
    try:
        check_frames(model, frames, source)
    except ValueError as err:
        raise TrainingDataError(str(err)) from None
    pairs = [frame_pairs(model, atoms) for atoms in frames]
    loss_weights = np.ones(len(frames)) if loss_weights is None else np.asarray(loss_weights)
    buckets = []
    for plan in plan_buckets(frames, pairs, pad_atoms=True, min_bucket=min_bucket,
                             max_padding=CPU_MAX_PADDING if tight else None, fine=tight,
                             fine_capacity=tight or fine_capacity):
        members = list(plan.indices)
        sub = [frames[i] for i in members]
        batch = pack(model, sub, [pairs[i] for i in members], plan.n_atoms, plan.capacity,
                     len(members), half_capacity=plan.half_capacity)
        targets = _targets(sub, [labels[i] for i in members], plan.n_atoms,
                           loss_weights[members])
        extra = None if prepare is None else prepare(model, batch)
        buckets.append(Bucket(batch, targets, np.asarray(members), extra))
    return Dataset(tuple(buckets), tuple(labels), len(frames))


def epoch_plan(dataset: Dataset, batch_size: int, rng: np.random.Generator | None
               ) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """One epoch's steps: (bucket index, rows (batch_size,), weights (batch_size,)).

    Rows are shuffled within each bucket by ``rng`` (in order when None); the last step of a
    bucket is padded with weight-0 rows, and the steps of all buckets are interleaved in a
    shuffled order."""
    steps = []
    for k, bucket in enumerate(dataset.buckets):
        n = len(bucket.frames)
        order = rng.permutation(n) if rng is not None else np.arange(n)
        for start in range(0, n, batch_size):
            rows = order[start:start + batch_size]
            weight = np.ones(batch_size)
            if len(rows) < batch_size:
                weight[len(rows):] = 0.0
                rows = np.concatenate([rows, np.zeros(batch_size - len(rows), int)])
            steps.append((k, rows.astype(np.int32), weight))
    if rng is not None:
        steps = [steps[i] for i in rng.permutation(len(steps))]
    return steps
