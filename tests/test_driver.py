"""The run driver: chunks that overflow their neighbor list are replayed with a larger list, so
a compressing run gives the energies of a run allocated large from the start; overflow causes
are named; host-side neighbor maintenance follows the jitted skin criterion."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk

from jaxpot.driver import host_needs_rebuild, refresh_neighbors, run_chunks
from jaxpot.neighbors import (
    CAPACITY,
    GEOMETRY,
    allocate_for_model,
    needs_rebuild,
    overflow_causes,
    update_neighbor_list,
)
from jaxpot.potentials import lennard_jones

jax.config.update("jax_enable_x64", True)

MODEL = lennard_jones(sigma=2.3, epsilon=0.4, cutoff=5.0)


@functools.partial(jax.jit, static_argnames=("steps",))
def compress(carry, nbrs, steps=8, factor=0.993):
    """``steps`` isotropic compressions by ``factor``; energy after each (eV)."""
    def step(c, _):
        (pos, cell), nb = c
        pos, cell = pos * factor, cell * factor
        nb = update_neighbor_list(pos, cell, nb)
        energy = MODEL.energy(pos, cell, jnp.full(pos.shape[0], 29), nb)
        return ((pos, cell), nb), energy
    (carry, nbrs), energies = jax.lax.scan(step, (carry, nbrs), None, length=steps)
    return carry, nbrs, energies


def run(multiplier, chunks=3):
    atoms = bulk("Cu", "fcc", a=3.9, cubic=True).repeat(3)
    atoms.rattle(0.02, seed=1)
    nbrs = allocate_for_model(MODEL, atoms.positions, atoms.cell.array, True, skin=0.4,
                              capacity_multiplier=multiplier)
    carry = (jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array))
    result = run_chunks(compress, carry, nbrs, n_chunks=chunks)
    return np.concatenate([np.asarray(e) for e in result.outputs]), result


def test_compressing_run_equals_large_allocation():
    tight, res_tight = run(1.0)
    roomy, res_roomy = run(2.5)
    assert res_tight.n_reallocations >= 1 and res_roomy.n_reallocations == 0
    np.testing.assert_allclose(tight, roomy, rtol=1e-13)
    # and the energy at the end is the all-pairs energy of the final structure
    pos, cell = (np.asarray(x) for x in res_tight.carry)
    fresh = allocate_for_model(MODEL, pos, cell, True, capacity_multiplier=2.0)
    assert tight[-1] == pytest.approx(float(MODEL.energy(jnp.asarray(pos), jnp.asarray(cell),
                                                         jnp.full(len(pos), 29), fresh)),
                                      rel=1e-13)


def test_overflow_causes_are_named():
    atoms = bulk("Cu", "fcc", a=3.9, cubic=True).repeat(3)
    nbrs = allocate_for_model(MODEL, atoms.positions, atoms.cell.array, True, skin=0.4,
                              capacity_multiplier=1.0)
    squeezed = update_neighbor_list(jnp.asarray(atoms.positions) * 0.8,
                                    jnp.asarray(atoms.cell.array) * 0.8, nbrs)
    assert int(squeezed.overflow) & CAPACITY
    assert "neighbor capacity" in overflow_causes(squeezed)
    small = bulk("Si", "diamond", a=5.43)
    nb = allocate_for_model(MODEL, small.positions, small.cell.array, True)
    shrunk = update_neighbor_list(jnp.asarray(small.positions) * 0.5,
                                  jnp.asarray(small.cell.array) * 0.5, nb)
    assert int(shrunk.overflow) & GEOMETRY
    assert any("geometry" in c for c in overflow_causes(shrunk))


def test_host_skin_check_matches_the_jitted_one():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    nbrs = allocate_for_model(MODEL, atoms.positions, atoms.cell.array, True, skin=0.5)
    rng = np.random.default_rng(0)
    for scale in (0.05, 0.2, 0.3):
        pos = atoms.positions + rng.normal(size=atoms.positions.shape) * scale
        for cell in (atoms.cell.array, atoms.cell.array * 1.01):
            assert host_needs_rebuild(pos, cell, nbrs) == bool(
                needs_rebuild(jnp.asarray(pos), jnp.asarray(cell), nbrs))


def test_refresh_keeps_capacity_and_rebuilds_when_needed():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    nbrs = refresh_neighbors(MODEL, atoms.positions, atoms.cell.array, True, None, skin=0.5,
                             capacity_multiplier=1.5)
    same = refresh_neighbors(MODEL, atoms.positions + 0.01, atoms.cell.array, True, nbrs,
                             skin=0.5, capacity_multiplier=1.5)
    assert same is nbrs
    strained = refresh_neighbors(MODEL, atoms.positions * 1.02, atoms.cell.array * 1.02, True,
                                 nbrs, skin=0.5, capacity_multiplier=1.5)
    assert strained is nbrs  # 2 % affine strain moves pairs by < skin: the list still holds
    far = atoms.positions.copy()
    far[3] += [0.3, 0.0, 0.0]  # one atom beyond half the skin
    moved = refresh_neighbors(MODEL, far, atoms.cell.array, True, nbrs, skin=0.5,
                              capacity_multiplier=1.5)
    assert moved is not nbrs and moved.capacity >= nbrs.capacity
