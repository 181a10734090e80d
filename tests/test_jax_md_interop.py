"""jaxpot <-> jax-md, both ways (jax-md 0.2.29 is the reference for its own energies)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.md.verlet import VelocityVerlet
from jax_md import energy as jmd_energy
from jax_md import quantity, simulate, space

from jaxpot.calculator import JaxpotCalculator
from jaxpot.interop.jax_md import check_minimum_image, from_jax_md, to_jax_md
from jaxpot.mechanics import energy_forces_stress
from jaxpot.neighbors import allocate_neighbor_list, update_neighbor_list
from jaxpot.potentials import lennard_jones
from jaxpot.testing import finite_difference_stress

jax.config.update("jax_enable_x64", True)


def test_jaxpot_energy_runs_in_jax_md_simulate_nve():
    """jax_md.simulate.nve driving a jaxpot energy reproduces ASE's VelocityVerlet trajectory
    with the same energy (through JaxpotCalculator)."""
    atoms = bulk("Ar", "fcc", a=5.3, cubic=True).repeat(2)
    atoms.rattle(0.1, seed=0)
    model = lennard_jones(sigma=3.4, epsilon=0.0104, cutoff=8.0, smooth=True)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, True, cutoff=8.0, skin=0.5)
    energy_fn = to_jax_md(model, atoms.cell.array, atoms.numbers)
    _, shift = space.free()  # jaxpot's neighbor shifts refer to unwrapped positions
    dt = 2.0 * units.fs
    init, step = simulate.nve(energy_fn, shift, dt)
    masses = jnp.asarray(atoms.get_masses())[:, None]
    state = init(jax.random.PRNGKey(0), jnp.asarray(atoms.positions), kT=0.0, mass=masses,
                 neighbor=nbrs)
    state = state.set(momentum=jnp.zeros_like(state.position))

    @jax.jit
    def run(state, nbrs):
        def body(carry, _):
            s, nb = carry
            nb = update_neighbor_list(s.position, jnp.asarray(atoms.cell.array), nb)
            return (step(s, neighbor=nb), nb), None
        return jax.lax.scan(body, (state, nbrs), None, length=30)[0]

    state, nbrs = run(state, nbrs)
    assert not bool(nbrs.did_overflow)
    ref = atoms.copy()
    ref.calc = JaxpotCalculator(model)
    VelocityVerlet(ref, timestep=dt).run(30)
    np.testing.assert_allclose(np.asarray(state.position), ref.positions, atol=1e-9)


@pytest.fixture(scope="module")
def wrapped_morse():
    def make(displacement):
        return jmd_energy.morse_pair(displacement, sigma=2.6, epsilon=0.35, alpha=1.6,
                                     r_onset=4.5, r_cutoff=5.0)
    return make, from_jax_md(make, cutoff=5.0, name="jax_md_morse")


def test_jax_md_energy_wraps_as_jaxpot_model(wrapped_morse):
    """Energy and forces equal jax-md's own; jaxpot's stress equals MINUS jax_md.quantity.stress
    (the measured sign fault of jax-md 0.2.29, documented in jaxpot.interop.jax_md)."""
    make, model = wrapped_morse
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((3, 3, 3))
    atoms.rattle(0.05, seed=1)
    atoms.set_cell(atoms.cell.array
                   @ (np.eye(3) + 0.02 * np.array([[0, 1, 0], [0, 0, 0.5], [0, 0, 0]])),
                   scale_atoms=True)
    check_minimum_image(model, atoms.cell.array)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, True, cutoff=5.0)
    pos, cell = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)
    res = energy_forces_stress(model, pos, cell, jnp.asarray(atoms.numbers), nbrs)
    displacement, _ = space.periodic_general(cell.T, fractional_coordinates=False)
    e_jmd = make(displacement)
    assert float(res.energy) == pytest.approx(float(e_jmd(pos)), rel=1e-12)
    np.testing.assert_allclose(res.forces, quantity.force(e_jmd)(pos), atol=1e-10)
    # jax-md's stress from its box-parameterised energy (fractional coordinates, columns)
    disp_frac, _ = space.periodic_general(cell.T)
    e_frac = jmd_energy.morse_pair(disp_frac, sigma=2.6, epsilon=0.35, alpha=1.6, r_onset=4.5,
                                   r_cutoff=5.0)
    frac = jnp.linalg.solve(cell.T, pos.T).T
    jmd_stress = quantity.stress(e_frac, frac, box=cell.T)
    np.testing.assert_allclose(np.asarray(res.stress), -np.asarray(jmd_stress), atol=1e-10)
    energy = jax.jit(model.energy)
    fd = finite_difference_stress(lambda p, c: float(energy(jnp.asarray(p), jnp.asarray(c), None,
                                                            nbrs)),
                                  atoms.positions, atoms.cell.array, 1e-5)
    np.testing.assert_allclose(np.asarray(res.stress), fd, atol=1e-8)


def test_wrapped_jax_md_lennard_jones_equals_jaxpot_in_its_plain_range():
    """A cluster whose pairs are all inside jax-md's onset radius: jax-md's LJ is the plain
    unshifted 12-6 sum, as is jaxpot's LJ with shift=False (itself checked against ASE)."""
    rng = np.random.default_rng(3)
    pos = np.array([[0, 0, 0], [1.1, 0, 0], [0, 1.2, 0], [0.5, 0.5, 1.0], [1.0, 1.0, 0.9]])
    pos = pos + 0.05 * rng.normal(size=pos.shape)
    model = from_jax_md(lambda d: jmd_energy.lennard_jones_pair(d, sigma=1.0, epsilon=1.0,
                                                                r_onset=2.5, r_cutoff=3.0),
                        cutoff=3.0)
    reference = lennard_jones(sigma=1.0, epsilon=1.0, cutoff=3.0, shift=False)
    cell = jnp.eye(3) * 20.0
    nbrs = allocate_neighbor_list(pos, cell, False, cutoff=3.0)
    z = jnp.full(5, 18)
    a = energy_forces_stress(model, jnp.asarray(pos), cell, z, nbrs, compute_stress=False)
    b = energy_forces_stress(reference, jnp.asarray(pos), cell, z, nbrs, compute_stress=False)
    assert float(a.energy) == pytest.approx(float(b.energy), rel=1e-12)
    np.testing.assert_allclose(a.forces, b.forces, atol=1e-10)


def test_minimum_image_check_rejects_small_cells(wrapped_morse):
    _, model = wrapped_morse
    with pytest.raises(ValueError, match="half the cell width"):
        check_minimum_image(model, bulk("Cu", "fcc", a=3.6, cubic=True).cell.array)
