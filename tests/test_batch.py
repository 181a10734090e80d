"""Batches of padded structures: few compiled shapes for a real training set, padding that
never changes a number, and training gradients w.r.t. params through the batch."""

import os

import ase.io
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk

import jaxpot
from jaxpot.batch import (
    PADDING_SPECIES,
    batch_energy_forces_stress,
    frame_pairs,
    pack,
    plan_buckets,
)
from jaxpot.potentials import lennard_jones, stillinger_weber
from jaxpot.testing import CompilationCounter

jax.config.update("jax_enable_x64", True)

MLEARN_SI = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                         "mlearn_Si_PBE.extxyz")


@pytest.fixture(scope="module")
def si_frames():
    frames = ase.io.read(MLEARN_SI, ":")
    return frames[::6]  # 40 frames of 12 to 96 atoms (a subset keeps the test fast)


def test_a_training_set_compiles_a_few_shapes_and_matches_dft_sizes(si_frames):
    model = stillinger_weber()
    pairs = [frame_pairs(model, a) for a in si_frames]
    buckets = plan_buckets(si_frames, pairs)
    assert sorted(i for b in buckets for i in b.indices) == list(range(len(si_frames)))
    assert len(buckets) <= 3
    for b in buckets:
        assert all(len(si_frames[i]) <= b.n_atoms for i in b.indices)
    with CompilationCounter() as first:
        pred = jaxpot.predict(model, si_frames)
    with CompilationCounter() as second:
        again = jaxpot.predict(stillinger_weber(), si_frames)
    assert second.count == 0 and first.count <= 3 * len(buckets) + 5
    np.testing.assert_array_equal(pred.energy, again.energy)
    assert [f.shape for f in pred.forces] == [(len(a), 3) for a in si_frames]


def test_padding_is_not_a_species_and_changes_nothing():
    assert PADDING_SPECIES == 0
    model = stillinger_weber()
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.05, seed=3)
    p = frame_pairs(model, atoms)
    run = jax.jit(batch_energy_forces_stress)
    tight = run(model, pack(model, [atoms], [p], 8, p.idx.shape[1], 1))
    loose = run(model, pack(model, [atoms], [p], 24, 40, 3))
    assert float(loose.energy[0]) == pytest.approx(float(tight.energy[0]), rel=1e-14)
    np.testing.assert_allclose(loose.forces[0, :8], tight.forces[0], atol=1e-14)
    assert np.all(np.asarray(loose.forces[0, 8:]) == 0) and float(loose.energy[1]) == 0.0


def test_training_gradient_through_the_batch_equals_finite_differences():
    """d(loss)/d(params) by autodiff through energies, forces and stresses of a padded batch."""
    frames = [bulk("Ar", "fcc", a=5.3, cubic=True), bulk("Ar", "fcc", a=5.1)]
    for k, a in enumerate(frames):
        a.rattle(0.1, seed=k)
    model = lennard_jones(sigma=3.4, epsilon=0.0104, cutoff=7.0)
    pairs = [frame_pairs(model, a) for a in frames]
    batch = pack(model, frames, pairs, 8, max(p.idx.shape[1] for p in pairs), 2)

    @jax.jit
    def loss(params):
        res = batch_energy_forces_stress(model.replace(params=params), batch)
        return (jnp.sum(res.energy ** 2) + jnp.sum(res.forces ** 2)
                + 1e4 * jnp.sum(res.stress ** 2))

    grad = jax.jit(jax.grad(loss))(model.params)
    for name in ("sigma", "epsilon"):
        h = 1e-6 * float(model.params[name][0, 0])
        up = dict(model.params, **{name: model.params[name] + h})
        down = dict(model.params, **{name: model.params[name] - h})
        fd = (loss(up) - loss(down)) / (2 * h)
        assert float(grad[name][0, 0]) == pytest.approx(float(fd), rel=1e-6)


def test_small_buckets_merge_up_only_within_the_padding_allowed():
    """Buckets of fewer than min_bucket frames move up into a larger shape; with max_padding
    only while the padding atoms that adds stay within that fraction of the frames' atoms.
    Nine 8-atom cells beside six 64-atom ones: moving them adds 9 x 56 = 504 padding atoms,
    more than 0.25 x 456, so tight training buckets (the CPU's) keep two shapes; one 8-atom
    cell (56 padding atoms of 392 x 0.25 = 98 allowed) still moves up.  Tight buckets also
    round atoms on the fine ladder; both kinds round neighbour slots on it: the 28 neighbours
    of diamond Si within 5 Å (4 + 12 + 12) fill 28 slots, not the coarse ladder's 32."""
    from jaxpot.training.dataset import build_dataset
    from jaxpot.training.labels import Labels
    model = lennard_jones(sigma=2.1, epsilon=0.01, cutoff=5.0)
    small = bulk("Si", "diamond", a=5.43, cubic=True)
    big = small.repeat((2, 2, 2))
    frames = [small] * 9 + [big] * 6
    pairs = [frame_pairs(model, a) for a in frames]
    sizes = lambda buckets: sorted((b.n_atoms, len(b.indices)) for b in buckets)  # noqa: E731
    assert sizes(plan_buckets(frames, pairs)) == [(64, 15)]
    assert sizes(plan_buckets(frames, pairs, max_padding=0.25)) == [(8, 9), (64, 6)]
    assert sizes(plan_buckets(frames, pairs, max_padding=1.2)) == [(64, 15)]  # 504 <= 547
    assert sizes(plan_buckets(frames[8:], pairs[8:], max_padding=0.25)) == [(64, 7)]
    labels = [Labels(0.0, np.zeros((len(a), 3)), None, "x") for a in frames]
    tight = build_dataset(model, frames, labels, tight=True).buckets
    assert [b.batch.neighbors.idx.shape for b in tight] == [(9, 8, 28), (6, 64, 28)]
    coarse = build_dataset(model, frames, labels, tight=False).buckets  # an accelerator's
    assert [b.batch.neighbors.idx.shape for b in coarse] == [(15, 64, 28)]  # slots: fine ladder
    before = build_dataset(model, frames, labels, tight=False, fine_capacity=False).buckets
    assert [b.batch.neighbors.idx.shape for b in before] == [(15, 64, 32)]
    default = build_dataset(model, frames, labels).buckets
    assert len(default) == (2 if jax.default_backend() == "cpu" else 1)


def test_tight_and_coarse_training_buckets_give_the_same_loss():
    """Padding changes no number: the training loss's error sums over a set of mixed sizes
    (rattled 8- and 64-atom diamond cells labelled by Stillinger-Weber, predicted by an LJ) are
    the same in tight buckets (two shapes, fine ladder) as in coarse ones (one shape)."""
    from jaxpot.training.dataset import build_dataset
    from jaxpot.training.labels import Labels
    from jaxpot.training.loss import add_sums, batch_loss
    from jaxpot.training.weights import LossWeights
    model = lennard_jones(sigma=2.1, epsilon=0.01, cutoff=5.0)
    labeller = stillinger_weber()
    frames, labels = [], []
    for k in range(9):
        atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat((1, 1, 1) if k < 6 else
                                                                   (2, 2, 2))
        atoms.rattle(0.05, seed=k)
        pred = jaxpot.predict(labeller, [atoms])
        frames.append(atoms)
        labels.append(Labels(float(pred.energy[0]), np.asarray(pred.forces[0]),
                             np.asarray(pred.stress[0]), "x"))

    def sums(tight):
        total, buckets = None, build_dataset(model, frames, labels, tight=tight).buckets
        for bucket in buckets:
            weight = np.ones(len(bucket.frames))
            _, s = batch_loss(model, bucket.batch, bucket.targets, weight, LossWeights())
            total = add_sums(total, s)
        return total, len(buckets)

    (tight, n_tight), (coarse, n_coarse) = sums(True), sums(False)
    assert (n_tight, n_coarse) == (2, 1)
    assert float(tight.n_forces) == 3 * (6 * 8 + 3 * 64) and float(tight.n_stress) == 9 * 9
    assert min(float(tight.sq_energy), float(tight.sq_forces), float(tight.sq_stress)) > 0
    for a, b in zip(tight, coarse):
        np.testing.assert_allclose(float(a), float(b), rtol=1e-12)
