"""Neighbor lists against ``ase.neighborlist.neighbor_list`` (reference), as sets of (i, j, S)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list as ase_neighbor_list

from jaxpot.neighbors import (
    allocate_neighbor_list,
    reallocate_if_needed,
    rebuild_neighbor_list,
    update_neighbor_list,
)

jax.config.update("jax_enable_x64", True)


def pair_set(i, j, s):
    return set(zip(np.asarray(i).tolist(), np.asarray(j).tolist(),
                   map(tuple, np.asarray(s).tolist())))


def ase_pairs(atoms, cutoff):
    return pair_set(*ase_neighbor_list("ijS", atoms, cutoff))


def jaxpot_pairs(nbrs):
    return pair_set(*nbrs.to_numpy_pairs())


def random_triclinic(n, seed, scale=1.0, pbc=True):
    rng = np.random.default_rng(seed)
    cell = (np.eye(3) + 0.25 * rng.normal(size=(3, 3))) * scale
    if np.linalg.det(cell) < 0:
        cell[0] *= -1
    # positions partly outside the cell: lists must use unwrapped positions correctly
    frac = rng.uniform(-0.3, 1.3, size=(n, 3))
    return Atoms(f"Ar{n}", positions=frac @ cell, cell=cell, pbc=pbc)


@pytest.mark.parametrize("seed,n,scale,cutoff", [(0, 3, 3.0, 5.0), (1, 40, 8.0, 4.0),
                                                 (2, 12, 4.0, 6.5)])
def test_all_pairs_matches_ase_on_small_triclinic_cells(seed, n, scale, cutoff):
    atoms = random_triclinic(n, seed, scale)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff=cutoff,
                                  method="all_pairs")
    assert jaxpot_pairs(nbrs) == ase_pairs(atoms, cutoff)


def test_two_atom_primitive_si_with_5A_cutoff_has_all_images():
    atoms = bulk("Si", "diamond", a=5.431)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff=5.0)
    ref = ase_pairs(atoms, 5.0)
    assert jaxpot_pairs(nbrs) == ref
    # diamond shells a*sqrt(3)/4, a/sqrt(2), a*sqrt(11)/4 (4, 12, 12 atoms) lie within 5 Å
    assert len(ref) == 2 * (4 + 12 + 12)


@pytest.mark.parametrize("pbc", [(True, True, True), (True, False, True), (False, False, False)])
def test_cell_list_matches_ase_on_large_triclinic_cell(pbc):
    atoms = random_triclinic(700, 3, scale=15.0, pbc=pbc)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff=3.3,
                                  method="cell_list")
    assert nbrs.method == "cell_list"
    assert jaxpot_pairs(nbrs) == ase_pairs(atoms, 3.3)


@pytest.mark.parametrize("pbc", [(True, False, False), (False, False, False)])
def test_all_pairs_mixed_and_open_boundaries(pbc):
    atoms = random_triclinic(30, 4, scale=5.0, pbc=pbc)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff=4.5,
                                  method="all_pairs")
    assert jaxpot_pairs(nbrs) == ase_pairs(atoms, 4.5)


def test_skin_update_keeps_every_pair_within_cutoff_and_rebuilds_in_jit():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.rattle(0.02, seed=0)
    cutoff, skin = 4.0, 0.6
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff=cutoff,
                                  skin=skin)
    update = jax.jit(update_neighbor_list)
    rng = np.random.default_rng(1)
    moved = atoms.copy()
    # small moves (< skin/2): list is reused and still complete
    moved.positions += rng.uniform(-1, 1, (len(atoms), 3)) * 0.15 / np.sqrt(3)
    small = update(jnp.asarray(moved.positions), jnp.asarray(moved.cell.array), nbrs)
    assert np.array_equal(np.asarray(small.reference_positions),
                          np.asarray(nbrs.reference_positions))
    assert ase_pairs(moved, cutoff) <= jaxpot_pairs(small)
    # a large move triggers a rebuild inside jit
    moved.positions[0] += [0.5, 0.4, 0.0]
    big = update(jnp.asarray(moved.positions), jnp.asarray(moved.cell.array), small)
    assert not bool(big.did_overflow)
    assert np.allclose(np.asarray(big.reference_positions), moved.positions)
    assert ase_pairs(moved, cutoff) <= jaxpot_pairs(big)
    assert jaxpot_pairs(big) == ase_pairs(moved, cutoff + skin)


def test_vmapped_update_equals_one_at_a_time_and_keeps_derivatives():
    """Under vmap (replicas, batches) the update rebuilds only the systems whose skin test
    fails (the others keep their list, as alone: ASE pairs), and the positions' derivative of
    the reference positions goes through the plain conditional (identity after a rebuild,
    zero when the list is kept; checked against finite differences)."""
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.rattle(0.02, seed=0)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff=4.0,
                                  skin=0.6)
    pos, cell = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)
    batch_pos = jnp.stack([pos + 0.01, pos.at[0].add(jnp.asarray([0.5, 0.4, 0.0])), pos])
    stacked = jax.tree_util.tree_map(lambda x: jnp.stack([x] * 3), nbrs)
    out = jax.jit(jax.vmap(update_neighbor_list, in_axes=(0, None, 0)))(batch_pos, cell,
                                                                         stacked)
    update = jax.jit(update_neighbor_list)
    for r in range(3):
        alone = update(batch_pos[r], cell, nbrs)
        assert np.array_equal(np.asarray(out.idx[r]), np.asarray(alone.idx))
        np.testing.assert_array_equal(out.reference_positions[r], alone.reference_positions)
        moved = atoms.copy()
        moved.positions = np.asarray(batch_pos[r])
        assert ase_pairs(moved, 4.0) <= pair_set(*alone.to_numpy_pairs())
    assert np.array_equal(np.asarray(out.reference_positions[0]), atoms.positions)  # kept
    assert np.allclose(np.asarray(out.reference_positions[1]), batch_pos[1])  # rebuilt

    def ref_sum(x):
        return jnp.sum(update_neighbor_list(x, cell, nbrs).reference_positions ** 2)

    value, gradient = jax.jit(ref_sum), jax.jit(jax.grad(ref_sum))
    for x in (batch_pos[0], batch_pos[1]):
        grad = gradient(x)
        h = 1e-6
        fd = (value(x.at[5, 1].add(h)) - value(x.at[5, 1].add(-h))) / (2 * h)
        assert float(grad[5, 1]) == pytest.approx(float(fd), abs=1e-6)


def test_overflow_is_detected_in_jit_and_answered_by_reallocation():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff=4.0,
                                  capacity_multiplier=1.0)
    dense = atoms.copy()
    dense.set_cell(atoms.cell * 0.8, scale_atoms=True)
    out = jax.jit(rebuild_neighbor_list)(jnp.asarray(dense.positions),
                                         jnp.asarray(dense.cell.array), nbrs)
    assert bool(out.did_overflow)  # never a silently truncated list
    fixed, reallocated = reallocate_if_needed(dense.positions, dense.cell.array, out)
    assert reallocated and not bool(fixed.did_overflow)
    assert jaxpot_pairs(fixed) == ase_pairs(dense, 4.0)


def test_cell_shrink_beyond_image_range_sets_overflow():
    atoms = bulk("Si", "diamond", a=5.431)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff=3.0)
    small = atoms.copy()
    small.set_cell(atoms.cell * 0.6, scale_atoms=True)
    out = rebuild_neighbor_list(jnp.asarray(small.positions), jnp.asarray(small.cell.array), nbrs)
    assert bool(out.did_overflow)


def test_float32_cell_list_wraps_a_coordinate_just_below_zero():
    """-1e-7 Å in a 20 Å box wraps to the fraction 1 - 5e-9, which float32 rounds to 1.0: the
    list must put the atom at the next image's 0.0, not report it outside the box (the
    256,000-atom LJ run on a GPU failed so).  Reference: ASE's neighbor list."""
    rng = np.random.default_rng(0)
    atoms = Atoms("Ar400", positions=rng.uniform(0, 20.0, (400, 3)), cell=[20.0] * 3, pbc=True)
    atoms.positions[0] = [-1e-7, 5.0, 5.0]
    jax.config.update("jax_enable_x64", False)
    try:
        nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, True, cutoff=3.0,
                                      method="cell_list")
        out = jax.jit(rebuild_neighbor_list)(jnp.asarray(atoms.positions, jnp.float32),
                                             jnp.asarray(atoms.cell.array, jnp.float32), nbrs)
        assert not bool(out.did_overflow)
        assert jaxpot_pairs(out) == ase_pairs(atoms, 3.0)
    finally:
        jax.config.update("jax_enable_x64", True)


def test_rewrapping_positions_gives_the_same_pair_distances():
    atoms = random_triclinic(20, 7, scale=6.0)
    wrapped = atoms.copy()
    wrapped.wrap()
    d = []
    for a in (atoms, wrapped):
        nb = allocate_neighbor_list(a.positions, a.cell.array, a.pbc, cutoff=4.0)
        i, j, s = nb.to_numpy_pairs()
        vec = a.positions[j] - a.positions[i] + s @ a.cell.array
        d.append(sorted(zip(i.tolist(), np.round(np.linalg.norm(vec, axis=1), 10).tolist())))
    assert d[0] == d[1]


@pytest.mark.parametrize("k", [7, 32, 35, 37, 48, 58])
def test_slot_sum_equals_the_plain_sum_and_fuses_with_its_operand(k):
    """neighbors.slot_sum = NumPy's sum over the slot axis (axis 1 and a last axis, blocked for
    K = 35, 48, 58, sliced for the prime 37), its gradient is ones, and on CPU the compiled sum
    of a product holds no reduce-window pass (XLA:CPU's rewrite of reductions over more than
    32 elements, which does not fuse with the product) where its YNNPACK fusions are off."""
    from types import SimpleNamespace

    from jaxpot.compiler import compiler_options
    from jaxpot.neighbors import slot_sum
    rng = np.random.default_rng(k)
    a = rng.normal(size=(5, k, 3))
    np.testing.assert_allclose(slot_sum(jnp.asarray(a)), a.sum(axis=1), rtol=1e-13, atol=1e-13)
    b = rng.normal(size=(4, 5, k))
    np.testing.assert_allclose(slot_sum(jnp.asarray(b), axis=-1), b.sum(axis=-1), rtol=1e-13,
                               atol=1e-13)
    grad = jax.grad(lambda x: jnp.sum(slot_sum(x) * jnp.arange(3.0)))(jnp.asarray(a))
    np.testing.assert_array_equal(grad, np.broadcast_to(np.arange(3.0), a.shape))
    options = dict(compiler_options(SimpleNamespace(cpu_fusions=False)))
    if options:  # XLA:CPU with its YNNPACK fusions off, as in SW's MD chunk
        x, y = jnp.ones((256, k)), jnp.ones((256, k))
        hlo = jax.jit(lambda x, y: slot_sum(jnp.exp(x) * y), compiler_options=options).lower(
            x, y).compile().as_text()
        assert "reduce-window" not in hlo
