"""``method="host"`` neighbor lists (vesin on the host, also called from inside jit) against
``ase.neighborlist.neighbor_list`` (reference) and against the jittable cell list."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk
from ase.neighborlist import neighbor_list as ase_neighbor_list
from test_neighbors import ase_pairs, jaxpot_pairs, pair_set, random_triclinic

import jaxpot
from jaxpot.mechanics import energy_forces_stress
from jaxpot.neighbors import (
    CAPACITY,
    allocate_for_model,
    allocate_neighbor_list,
    check_min_distance,
    reallocate_if_needed,
    rebuild_neighbor_list,
    update_neighbor_list,
)

jax.config.update("jax_enable_x64", True)


def half_pairs(nbrs):
    """Each pair of the half list from both sides, as a set of (i, j, S)."""
    i, j, s = (np.asarray(a) for a in (nbrs.half_i, nbrs.half_j, nbrs.half_shifts))
    m = i < nbrs.n_atoms
    i, j, s = i[m], j[m], s[m]
    return pair_set(np.concatenate([i, j]), np.concatenate([j, i]), np.concatenate([s, -s]))


@pytest.mark.parametrize("pbc", [(True, True, True), (True, False, True), (False, False, False)])
def test_host_list_matches_ase_on_a_triclinic_cell(pbc):
    atoms = random_triclinic(300, 3, scale=10.0, pbc=pbc)  # positions partly outside the cell
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff=3.3,
                                  method="host")
    assert nbrs.method == "host"
    ref = ase_pairs(atoms, 3.3)
    assert jaxpot_pairs(nbrs) == ref
    assert half_pairs(nbrs) == ref  # the half list holds each pair exactly once
    assert int(np.sum(np.asarray(nbrs.half_i) < len(atoms))) == len(ref) // 2


def test_host_list_holds_every_image_in_a_small_cell():
    atoms = bulk("Si", "diamond", a=5.431)  # 2 atoms, cutoff beyond the cell
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff=5.0,
                                  method="host")
    assert jaxpot_pairs(nbrs) == ase_pairs(atoms, 5.0)
    assert half_pairs(nbrs) == ase_pairs(atoms, 5.0)


def test_auto_picks_the_host_list_for_large_systems_on_cpu():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(4)  # 256 atoms
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff=3.0)
    assert nbrs.method == ("host" if jax.default_backend() == "cpu" else "cell_list")


def test_host_rebuild_in_jit_equals_the_cell_list_and_ase():
    """A skin update inside jit rebuilds through the host callback; the list equals ASE's
    pairs at the new positions and the cell list's, and LJ energy/forces/stress agree."""
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(4)
    atoms.rattle(0.05, seed=2)
    cutoff, skin = 4.0, 0.5
    lists = {m: allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc,
                                       cutoff=cutoff, skin=skin, method=m)
             for m in ("host", "cell_list")}
    moved = atoms.copy()
    moved.positions += np.random.default_rng(0).normal(scale=0.2, size=(len(atoms), 3))
    moved.set_cell(atoms.cell * 1.01, scale_atoms=False)
    pos, cell = jnp.asarray(moved.positions), jnp.asarray(moved.cell.array)
    update = jax.jit(update_neighbor_list)
    out = {m: update(pos, cell, nb) for m, nb in lists.items()}
    assert np.allclose(np.asarray(out["host"].reference_positions), moved.positions)  # rebuilt
    assert jaxpot_pairs(out["host"]) == ase_pairs(moved, cutoff + skin)
    assert jaxpot_pairs(out["host"]) == jaxpot_pairs(out["cell_list"])
    assert half_pairs(out["host"]) == ase_pairs(moved, cutoff + skin)
    lj = jaxpot.potentials.lennard_jones(sigma=2.3, epsilon=0.4, cutoff=cutoff)
    species = jnp.asarray(moved.numbers)
    a, b = (energy_forces_stress(lj, pos, cell, species, out[m]) for m in ("host", "cell_list"))
    assert float(a.energy) == pytest.approx(float(b.energy), abs=1e-11)
    np.testing.assert_allclose(a.forces, b.forces, atol=1e-11)
    np.testing.assert_allclose(a.stress, b.stress, atol=1e-12)


def test_host_list_overflow_is_flagged_in_jit_and_reallocated():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff=4.0,
                                  capacity_multiplier=1.0, method="host")
    dense = atoms.copy()
    dense.set_cell(atoms.cell * 0.8, scale_atoms=True)
    out = jax.jit(rebuild_neighbor_list)(jnp.asarray(dense.positions),
                                         jnp.asarray(dense.cell.array), nbrs)
    assert int(out.overflow) & CAPACITY  # never a silently truncated list
    fixed, reallocated = reallocate_if_needed(dense.positions, dense.cell.array, out)
    assert reallocated and fixed.method == "host" and not bool(fixed.did_overflow)
    assert jaxpot_pairs(fixed) == ase_pairs(dense, 4.0)
    assert half_pairs(fixed) == ase_pairs(dense, 4.0)


def test_host_list_with_part_views_sorts_rows_like_the_cell_list():
    """A sum of models at two cutoffs reads prefix views of distance-sorted rows: the host
    list gives the sum the same energy and forces as the cell list (SW + LJ at 8 Å)."""
    atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat(4)
    atoms.rattle(0.05, seed=4)
    model = jaxpot.potentials.stillinger_weber() + jaxpot.potentials.lennard_jones(
        sigma=2.0, epsilon=0.01, cutoff=6.0)
    pos, cell = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)
    species = jnp.asarray(atoms.numbers)
    results = []
    for method in ("host", "cell_list"):
        nbrs = allocate_for_model(model, atoms.positions, atoms.cell.array, atoms.pbc,
                                  skin=0.5, method=method)
        assert nbrs.view_cutoffs
        rebuilt = jax.jit(rebuild_neighbor_list)(pos + 0.01, cell, nbrs)
        p = np.asarray(pos)
        d = np.linalg.norm(p[np.minimum(np.asarray(rebuilt.idx), len(atoms) - 1)] - p[:, None]
                           + np.asarray(rebuilt.shifts) @ atoms.cell.array, axis=-1)
        d = np.where(np.asarray(rebuilt.idx) < len(atoms), d, 1e9)
        assert np.all(np.diff(d, axis=1) >= -1e-12)  # rows sorted by distance
        assert not bool(rebuilt.did_overflow)
        results.append(energy_forces_stress(model, pos + 0.01, cell, species, rebuilt))
    assert float(results[0].energy) == pytest.approx(float(results[1].energy), abs=1e-10)
    np.testing.assert_allclose(results[0].forces, results[1].forces, atol=1e-10)


def test_vmapped_host_update_and_derivatives_through_it():
    """Under vmap the host build runs per system; the reference positions' derivative goes
    through the conditional as for the jittable builds (finite differences)."""
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff=4.0,
                                  skin=0.6, method="host")
    pos, cell = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)
    batch_pos = jnp.stack([pos + 0.01, pos.at[0].add(jnp.asarray([0.5, 0.4, 0.0]))])
    stacked = jax.tree_util.tree_map(lambda x: jnp.stack([x] * 2), nbrs)
    out = jax.jit(jax.vmap(update_neighbor_list, in_axes=(0, None, 0)))(batch_pos, cell,
                                                                         stacked)
    for r in range(2):
        alone = update_neighbor_list(batch_pos[r], cell, nbrs)
        np.testing.assert_array_equal(out.idx[r], alone.idx)
        np.testing.assert_array_equal(out.half_i[r], alone.half_i)
    moved = atoms.copy()
    moved.positions = np.asarray(batch_pos[1])
    assert pair_set(*alone.to_numpy_pairs()) == ase_pairs(moved, 4.6)

    def ref_sum(x):
        return jnp.sum(update_neighbor_list(x, cell, nbrs).reference_positions ** 2)

    x = batch_pos[1]
    grad = jax.jit(jax.grad(ref_sum))(x)
    h = 1e-6
    fd = (ref_sum(x.at[5, 1].add(h)) - ref_sum(x.at[5, 1].add(-h))) / (2 * h)
    assert float(grad[5, 1]) == pytest.approx(float(fd), abs=1e-6)


def test_pair_model_lists_skip_the_rows_and_match_ase_lennard_jones():
    """LJ reads the half list only (``uses_rows=False``): its host list has no rows, and
    energy, forces and stress equal ASE's ``LennardJones`` calculator (reference)."""
    from ase.calculators.lj import LennardJones
    atoms = bulk("Ar", "fcc", a=5.26, cubic=True).repeat(4)  # 256 atoms
    atoms.rattle(0.1, seed=5)
    model = jaxpot.potentials.lennard_jones(sigma=3.4, epsilon=0.0104, cutoff=8.5)
    assert not model.uses_rows and not (model + 2.0 * model).uses_rows
    assert (model + jaxpot.potentials.stillinger_weber()).uses_rows
    nbrs = allocate_for_model(model, atoms.positions, atoms.cell.array, atoms.pbc, skin=0.5,
                              method="host")
    assert not nbrs.rows and nbrs.idx.shape == (len(atoms), 0)
    assert jaxpot_pairs(nbrs) == ase_pairs(atoms, 9.0)
    moved = jnp.asarray(atoms.positions) + 0.02
    rebuilt = jax.jit(rebuild_neighbor_list)(moved, jnp.asarray(atoms.cell.array), nbrs)
    assert not bool(rebuilt.did_overflow) and rebuilt.idx.shape == (len(atoms), 0)
    ref = atoms.copy()
    ref.positions = np.asarray(moved)
    ref.calc = LennardJones(sigma=3.4, epsilon=0.0104, rc=8.5, smooth=False)
    out = energy_forces_stress(model, moved, jnp.asarray(atoms.cell.array),
                               jnp.asarray(atoms.numbers), rebuilt)
    assert float(out.energy) == pytest.approx(ref.get_potential_energy(), abs=1e-10)
    np.testing.assert_allclose(out.forces, ref.get_forces(), atol=1e-10)
    np.testing.assert_allclose(out.stress, ref.get_stress(voigt=False), atol=1e-12)


def test_a_list_without_rows_refuses_a_model_that_reads_rows_and_checks_overlaps():
    atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat(3)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff=4.0,
                                  method="host", rows=False)
    sw = jaxpot.potentials.stillinger_weber()
    with pytest.raises(ValueError, match="rows=False"):
        energy_forces_stress(sw, jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
                             jnp.asarray(atoms.numbers), nbrs)
    close = atoms.copy()
    close.positions[7] = close.positions[3] + [0.1, 0.0, 0.0]
    close_list = allocate_neighbor_list(close.positions, close.cell.array, close.pbc,
                                        cutoff=4.0, method="host", rows=False)
    with pytest.raises(jaxpot.StructureError, match="atoms 3 and 7 overlap"):
        check_min_distance(close.positions, close.cell.array, close_list, 0.5)


@pytest.mark.parametrize("e,capacity", [(0, 4), (17, 40), (1000, 1000), (1000, 1010),
                                        (1000, 1040), (999, 1300)])
def test_half_list_packing_interleaves_runs_and_keeps_every_pair_once(e, capacity):
    """The host half list is stored as HALF_LIST_RUNS interleaved runs of vesin's order
    (consecutive slots hold pairs from different runs, so a scatter-add never hits one atom
    many times in a row): every pair exactly once, padding (index pad, zero shift) elsewhere,
    and the contiguous order where the runs do not fit the capacity."""
    from jaxpot.neighbors.binned import interleaved_half_list
    from jaxpot.neighbors.host import HALF_LIST_RUNS
    rng = np.random.default_rng(e + capacity)
    i = np.sort(rng.integers(0, 50, e)).astype(np.int32)
    j = rng.integers(0, 50, e).astype(np.int32)
    s = rng.integers(-2, 3, (e, 3)).astype(np.int32)
    out_i, out_j, out_s = interleaved_half_list(i, j, s, capacity, 99, HALF_LIST_RUNS)
    assert out_i.shape == out_j.shape == (capacity,) and out_s.shape == (capacity, 3)
    real = out_i != 99
    assert sorted(zip(out_i[real], out_j[real], map(tuple, out_s[real]))) == \
        sorted(zip(i, j, map(tuple, s)))
    assert np.all(out_j[~real] == 99) and np.all(out_s[~real] == 0)
    q = -(-e // HALF_LIST_RUNS)
    if e > (HALF_LIST_RUNS - 1) * q and q * HALF_LIST_RUNS <= capacity:  # interleaved
        np.testing.assert_array_equal(out_i[:HALF_LIST_RUNS], i[::q][:HALF_LIST_RUNS])
    else:
        np.testing.assert_array_equal(out_i[:e], i)


def _binned_cases():
    """Cells of at least MIN_PERIODIC_BINS bins of radius / REACH across every periodic axis
    (the binned search's domain): a rattled fcc crystal, the thinnest such crystal (exactly
    five bins a side, where a stencil row wraps both faces), a sheared triclinic cell with
    positions outside it, a slab (one open axis), and an open cluster spilling far out of
    its cell."""
    crystal = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((5, 6, 7))
    crystal.rattle(0.2, seed=4)
    thin = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(3)  # 10.8 Å: 2.7 radii of 4.0 Å
    thin.rattle(0.3, seed=8)
    sheared = random_triclinic(900, 5, scale=16.0)
    sheared.set_cell(sheared.cell.array @ np.array([[1.0, 0.0, 0.0], [0.45, 1.0, 0.0],
                                                   [0.3, -0.2, 1.0]]), scale_atoms=True)
    slab = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((5, 5, 4))
    slab.pbc = (True, True, False)
    slab.positions[:, 2] += np.random.default_rng(6).normal(0.0, 4.0, len(slab))
    cluster = random_triclinic(400, 7, scale=14.0, pbc=False)
    cluster.positions *= 1.7
    return {"crystal": (crystal, 4.5), "thin": (thin, 4.0), "sheared": (sheared, 3.1),
            "slab": (slab, 4.0), "cluster": (cluster, 3.5)}


@pytest.mark.parametrize("case", ["crystal", "thin", "sheared", "slab", "cluster"])
def test_binned_search_finds_each_ase_pair_once(case):
    """The binned host search (jaxpot.neighbors.binned) against
    ``ase.neighborlist.neighbor_list``: every pair within the radius, once, with its image
    shift; the same pairs whatever the number of search threads."""
    from jaxpot.neighbors import binned
    atoms, radius = _binned_cases()[case]
    if case == "thin":
        frac = atoms.positions @ np.linalg.inv(atoms.cell.array)
        nbins = binned.bin_grid(atoms.cell.array, atoms.pbc, radius, frac)[0]
        assert np.all(nbins == binned.MIN_PERIODIC_BINS)
    found = binned.binned_pairs(atoms.positions, atoms.cell.array, atoms.pbc, radius)
    assert found is not None  # the case is in the binned search's domain
    i, j, s = found
    ref = ase_pairs(atoms, radius)
    assert len(i) == len(ref) // 2
    assert pair_set(np.concatenate([i, j]), np.concatenate([j, i]),
                    np.concatenate([s, -s])) == ref
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(binned, "workers", lambda: 3)
        i3, j3, s3 = binned.binned_pairs(atoms.positions, atoms.cell.array, atoms.pbc, radius)
    assert pair_set(i3, j3, s3) == pair_set(i, j, s)


def test_binned_search_leaves_small_cells_to_vesin():
    """A periodic axis narrower than MIN_PERIODIC_BINS bins of a REACH-th of the radius, or a
    singular cell: no binned search (None), and ``host_pairs`` falls back to vesin with the
    same pairs as ASE."""
    from jaxpot.neighbors.binned import binned_pairs
    from jaxpot.neighbors.host import host_pairs
    small = bulk("Si", "diamond", a=5.431).repeat(2)  # 10.9 Å across, radius 5.5
    assert binned_pairs(small.positions, small.cell.array, small.pbc, 5.5) is None
    assert binned_pairs(small.positions, np.zeros((3, 3)), (False,) * 3, 5.5) is None
    i, j, s, d = host_pairs(small.positions, small.cell.array, small.pbc, 5.5)
    assert pair_set(np.concatenate([i, j]), np.concatenate([j, i]),
                    np.concatenate([s, -s])) == ase_pairs(small, 5.5)


@pytest.mark.parametrize("spare", [0.25, -0.1])
def test_binned_half_list_packing(spare):
    """The MD rebuild's half list straight from the binned search: the pairs as
    HALF_LIST_RUNS interleaved runs padded to the capacity (every ASE pair once), the pair
    count and the largest per-atom count (np.bincount); with too small a capacity the first
    pairs and the true count (the driver's overflow signal). A dense open cluster exceeds
    the first guess of the pair count, so the search runs again with room."""
    from jaxpot.neighbors.binned import binned_half_list
    from jaxpot.neighbors.host import HALF_LIST_RUNS
    atoms, radius = _binned_cases()["crystal"]
    n = len(atoms)
    exact = binned_half_list(atoms.positions, atoms.cell.array, atoms.pbc, radius)
    pairs = exact[3]
    capacity = int(pairs * (1 + spare))
    i, j, s, count, max_count = binned_half_list(atoms.positions, atoms.cell.array,
                                                 atoms.pbc, radius, capacity, n,
                                                 HALF_LIST_RUNS)
    assert i.shape == j.shape == (capacity,) and s.shape == (capacity, 3)
    assert count == pairs == len(ase_pairs(atoms, radius)) // 2
    real = i < n
    assert int(real.sum()) == min(pairs, capacity)
    assert np.all(j[~real] == n) and np.all(s[~real] == 0)
    ase_i = ase_neighbor_list("i", atoms, radius)
    assert max_count == np.bincount(ase_i, minlength=n).max()
    got = pair_set(i[real], j[real], s[real])
    assert got <= pair_set(*exact[:3]) and (spare < 0 or got == pair_set(*exact[:3]))
    if spare > 0:  # interleaved: the first slots come from HALF_LIST_RUNS different runs
        q = -(-pairs // HALF_LIST_RUNS)
        np.testing.assert_array_equal(i[:HALF_LIST_RUNS], exact[0][::q][:HALF_LIST_RUNS])
        assert np.all(i[-(capacity - HALF_LIST_RUNS * q):] == n)  # padding gathered at the end
    dense = random_triclinic(300, 8, scale=3.0, pbc=False)  # ~1 atom per 0.1 Å^3
    i, j, s = binned_half_list(dense.positions, dense.cell.array, dense.pbc, 2.5)[:3]
    assert len(i) > 16 * len(dense) + 64  # beyond the open-cell guess
    assert pair_set(np.concatenate([i, j]), np.concatenate([j, i]),
                    np.concatenate([s, -s])) == ase_pairs(dense, 2.5)


def test_binned_search_bounds_its_bins_and_declines_bad_positions():
    """A sparse open system in a huge box gets at most BINS_PER_ATOM bins per atom (and the
    ASE pairs); non-finite positions are left to the caller's checks (None), never binned."""
    from ase import Atoms

    from jaxpot.neighbors import binned
    rng = np.random.default_rng(9)
    gas = Atoms("Ar60", positions=rng.uniform(0.0, 400.0, (60, 3)), cell=[400.0] * 3,
                pbc=True)
    gas.positions[:30] = gas.positions[30:] + rng.normal(0.0, 1.0, (30, 3))  # close pairs
    frac = gas.positions @ np.linalg.inv(gas.cell.array)
    nbins = binned.bin_grid(gas.cell.array, gas.pbc, 2.5, frac)[0]
    assert np.prod(nbins) <= binned.BINS_PER_ATOM * len(gas)
    assert np.all(nbins >= binned.MIN_PERIODIC_BINS)
    i, j, s = binned.binned_pairs(gas.positions, gas.cell.array, gas.pbc, 2.5)
    assert pair_set(np.concatenate([i, j]), np.concatenate([j, i]),
                    np.concatenate([s, -s])) == ase_pairs(gas, 2.5)
    gas.positions[3, 1] = np.nan
    assert binned.binned_pairs(gas.positions, gas.cell.array, gas.pbc, 2.5) is None


def test_pure_callback_copies_its_results():
    """The host rebuild hands ``jax.pure_callback`` views of buffers it writes again on the
    next call (host_workers.Scratch): safe only because the callback's results are copied
    into XLA's buffers, checked here (an aliasing JAX makes the first result read 2)."""
    buffer = np.zeros(4096, np.int32)

    def fill(x):
        buffer[:] = x
        return buffer

    call = jax.jit(lambda x: jax.pure_callback(
        fill, jax.ShapeDtypeStruct(buffer.shape, jnp.int32), x))
    first = call(1)
    second = call(2)
    assert int(first[0]) == 1 and int(first[-1]) == 1 and int(second[0]) == 2


def test_rebuilds_from_kept_buffers_leave_earlier_lists_intact():
    """Rebuilds of the binned host search reuse their buffers: lists rebuilt one after
    another (jit, eager, and vmapped over two configurations) each keep ASE's pairs at
    their own positions."""
    from jaxpot.neighbors.binned import binned_pairs
    atoms = bulk("Ar", "fcc", a=5.26, cubic=True).repeat(4)  # 21 Å: 9 bins of 2.25 Å
    cutoff, skin = 4.0, 0.5
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff=cutoff,
                                  skin=skin, method="host", rows=False)
    assert binned_pairs(atoms.positions, atoms.cell.array, atoms.pbc, cutoff + skin) is not None
    frames = []
    for seed in range(3):
        moved = atoms.copy()
        moved.rattle(0.3, seed=seed)
        frames.append(moved)
    cell = jnp.asarray(atoms.cell.array)
    rebuild = jax.jit(rebuild_neighbor_list)
    lists = [rebuild(jnp.asarray(f.positions), cell, nbrs) for f in frames[:2]]
    lists.append(rebuild_neighbor_list(jnp.asarray(frames[2].positions), cell, nbrs))
    for frame, out in zip(frames, lists):
        assert half_pairs(out) == ase_pairs(frame, cutoff + skin)
    stacked = jnp.stack([jnp.asarray(f.positions) for f in frames[:2]])
    both = jax.jit(jax.vmap(rebuild_neighbor_list, in_axes=(0, None, None)))(stacked, cell,
                                                                              nbrs)
    for b, frame in enumerate(frames[:2]):
        one = jax.tree_util.tree_map(lambda a, b=b: a[b] if a.ndim else a, both)
        assert half_pairs(one) == ase_pairs(frame, cutoff + skin)


@pytest.mark.parametrize("capacity", [64, 9])
def test_rows_packed_from_pairs_hold_ase_neighbors_in_list_order(capacity):
    """``rows_kernel.pack_rows``: every atom's row holds its neighbors of ASE's full list
    (j, S) once, in the documented order (the pairs with the atom first, in list order,
    then those with it second, as a stable sort of the centers puts them), padded with the
    padding index and zero shifts; a capacity below the largest count keeps each row's
    first K pairs and still reports the true counts."""
    from jaxpot.neighbors.host import host_pairs
    from jaxpot.neighbors.rows_kernel import pack_rows
    atoms = random_triclinic(120, 5, scale=8.0, pbc=(True, True, False))
    n = len(atoms)
    i, j, s, _ = host_pairs(atoms.positions, atoms.cell.array, atoms.pbc, 3.6)
    idx, shifts, counts = pack_rows(n, i, j, s, capacity, n)
    ci, cj, cs = np.concatenate([i, j]), np.concatenate([j, i]), np.concatenate([s, -s])
    order = np.argsort(ci, kind="stable")
    np.testing.assert_array_equal(counts, np.bincount(ci, minlength=n))
    assert (counts.max() > capacity) == (capacity == 9)
    start = 0
    for a in range(n):
        mine = order[start:start + counts[a]][:capacity]
        start += counts[a]
        k = len(mine)
        np.testing.assert_array_equal(idx[a, :k], cj[mine])
        np.testing.assert_array_equal(shifts[a, :k], cs[mine])
        assert np.all(idx[a, k:] == n) and np.all(shifts[a, k:] == 0)
    ai, aj, a_s = ase_neighbor_list("ijS", atoms, 3.6)
    ref = sorted(zip(ai.tolist(), aj.tolist(), map(tuple, a_s.tolist())))
    if capacity == 64:  # nothing truncated: the rows are ASE's full list
        got = sorted((a, int(b), tuple(int(x) for x in sh)) for a in range(n)
                     for b, sh in zip(idx[a], shifts[a]) if b < n)
        assert got == ref
