"""Lennard-Jones and Morse against ASE's calculators (reference), finite differences and
invariances (translation, rotation, permutation, re-wrapping, cell choice, supercells)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.lj import LennardJones
from ase.calculators.morse import MorsePotential
from ase.neighborlist import neighbor_list as ase_neighbor_list

from jaxpot.mechanics import energy_forces_stress
from jaxpot.neighbors import allocate_neighbor_list
from jaxpot.potentials import lennard_jones, morse
from jaxpot.space import full_to_voigt
from jaxpot.testing import assert_derivatives_match_finite_differences, random_rotation

jax.config.update("jax_enable_x64", True)


def evaluate(model, atoms):
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff=model.cutoff)
    return energy_forces_stress(model, jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
                                jnp.asarray(atoms.numbers), nbrs, compute_energies=True)


def lj_fluid(n=24, seed=0, density=0.6, sigma=1.0):
    """Random triclinic cell of LJ 'fluid' with a minimum distance of 0.85 sigma."""
    rng = np.random.default_rng(seed)
    cell = np.eye(3) + 0.2 * rng.normal(size=(3, 3))
    cell *= (n / density / abs(np.linalg.det(cell))) ** (1 / 3) * sigma
    pos = []
    while len(pos) < n:
        p = rng.uniform(size=3) @ cell
        trial = Atoms("Ar" * (len(pos) + 1), positions=pos + [p], cell=cell, pbc=True)
        if len(pos) == 0 or ase_neighbor_list("d", trial, 0.85 * sigma).size == 0:
            pos.append(p)
    return Atoms(f"Ar{n}", positions=pos, cell=cell, pbc=True)


@pytest.fixture(scope="module")
def fluid():
    return lj_fluid()


@pytest.mark.parametrize("smooth", [False, True])
def test_lennard_jones_equals_ase(fluid, smooth):
    """ASE ``LennardJones`` (same sigma, epsilon, rc; shifted or smooth) to 1e-10 relative."""
    model = lennard_jones(sigma=1.0, epsilon=1.0, cutoff=2.5, smooth=smooth)
    ref = fluid.copy()
    ref.calc = LennardJones(sigma=1.0, epsilon=1.0, rc=2.5, smooth=smooth)
    res = evaluate(model, fluid)
    e_ref = ref.get_potential_energy()
    assert abs(float(res.energy) - e_ref) <= 1e-10 * abs(e_ref)
    f_ref = ref.get_forces()
    np.testing.assert_allclose(res.forces, f_ref, rtol=0, atol=1e-10 * np.abs(f_ref).max())
    s_ref = ref.get_stress()
    np.testing.assert_allclose(full_to_voigt(res.stress), s_ref, rtol=0,
                               atol=1e-10 * np.abs(s_ref).max())
    np.testing.assert_allclose(res.energies, ref.get_potential_energies(), rtol=0, atol=1e-10)


def test_lennard_jones_small_cell_needs_several_images():
    """A cell smaller than the cutoff: ASE (which handles images) is the reference."""
    atoms = bulk("Ar", "fcc", a=5.26) * (1, 1, 1)
    atoms.rattle(0.05, seed=3)
    model = lennard_jones(sigma=3.4, epsilon=0.0104, cutoff=8.5)
    ref = atoms.copy()
    ref.calc = LennardJones(sigma=3.4, epsilon=0.0104, rc=8.5)
    res = evaluate(model, atoms)
    assert float(res.energy) == pytest.approx(ref.get_potential_energy(), rel=1e-12)
    np.testing.assert_allclose(full_to_voigt(res.stress), ref.get_stress(), atol=1e-13)


def test_multi_species_lennard_jones_equals_independent_pair_sum():
    """Two species with per-pair parameters vs a NumPy pair sum over ASE's neighbor list."""
    atoms = lj_fluid(n=16, seed=5)
    atoms.numbers[::2] = 36  # Kr
    sigma = np.array([[1.0, 1.1], [1.1, 1.2]])
    epsilon = np.array([[1.0, 0.8], [0.8, 1.3]])
    model = lennard_jones(sigma=sigma, epsilon=epsilon, cutoff=2.6, species=["Ar", "Kr"])
    i, j, d = ase_neighbor_list("ijd", atoms, 2.6)
    k = (atoms.numbers == 36).astype(int)
    s, e = sigma[k[i], k[j]], epsilon[k[i], k[j]]
    phi = 4 * e * ((s / d) ** 12 - (s / d) ** 6) - 4 * e * ((s / 2.6) ** 12 - (s / 2.6) ** 6)
    assert float(evaluate(model, atoms).energy) == pytest.approx(0.5 * phi.sum(), rel=1e-12)


def test_morse_equals_ase(fluid):
    """ASE ``MorsePotential`` (quintic smooth cutoff) to 1e-10 relative."""
    model = morse(epsilon=0.7, r0=1.1, rho0=5.0)
    ref = fluid.copy()
    ref.calc = MorsePotential(epsilon=0.7, r0=1.1, rho0=5.0)
    res = evaluate(model, fluid)
    assert float(res.energy) == pytest.approx(ref.get_potential_energy(), rel=1e-10)
    np.testing.assert_allclose(res.forces, ref.get_forces(), atol=1e-10)
    np.testing.assert_allclose(full_to_voigt(res.stress), ref.get_stress(), atol=1e-10)


@pytest.mark.parametrize("factory", [lambda: lennard_jones(sigma=1.0, epsilon=1.0, cutoff=2.5,
                                                           smooth=True),
                                     lambda: morse(epsilon=0.7, r0=1.1, rho0=5.0)])
def test_forces_and_stress_match_finite_differences(fluid, factory):
    assert_derivatives_match_finite_differences(factory(), fluid, force_atol=1e-6, stress_atol=1e-7)


def test_invariances(fluid):
    """Translation, rotation, permutation, re-wrapping, cell choice and supercell extensivity."""
    model = lennard_jones(sigma=1.0, epsilon=1.0, cutoff=2.5, smooth=True)
    base = evaluate(model, fluid)
    e0 = float(base.energy)
    moved = fluid.copy()
    moved.positions += [0.3, -1.7, 2.2]
    assert float(evaluate(model, moved).energy) == pytest.approx(e0, rel=1e-12)
    rot = random_rotation(1)
    rotated = Atoms(fluid.numbers, positions=fluid.positions @ rot.T, cell=fluid.cell.array @ rot.T,
                    pbc=True)
    res_rot = evaluate(model, rotated)
    assert float(res_rot.energy) == pytest.approx(e0, rel=1e-12)
    np.testing.assert_allclose(res_rot.forces, np.asarray(base.forces) @ rot.T, atol=1e-10)
    np.testing.assert_allclose(res_rot.stress, rot @ np.asarray(base.stress) @ rot.T, atol=1e-12)
    perm = np.random.default_rng(0).permutation(len(fluid))
    res_perm = evaluate(model, fluid[perm])
    assert float(res_perm.energy) == pytest.approx(e0, rel=1e-12)
    np.testing.assert_allclose(res_perm.forces, np.asarray(base.forces)[perm], atol=1e-10)
    wrapped = fluid.copy()
    wrapped.positions += 3.0 * fluid.cell.array[0]
    wrapped.wrap()
    assert float(evaluate(model, wrapped).energy) == pytest.approx(e0, rel=1e-12)
    other_cell = fluid.copy()  # same lattice, another basis: a1' = a1 + a2, a2' = a2 - a3
    other_cell.set_cell(np.array([[1, 1, 0], [0, 1, -1], [0, 0, 1]]) @ fluid.cell.array)
    res_cell = evaluate(model, other_cell)
    assert float(res_cell.energy) == pytest.approx(e0, rel=1e-12)
    np.testing.assert_allclose(res_cell.stress, base.stress, atol=1e-12)
    assert float(evaluate(model, fluid.repeat((2, 1, 2))).energy) == pytest.approx(4 * e0,
                                                                                  rel=1e-12)


def test_energy_is_continuous_across_the_cutoff():
    model = lennard_jones(sigma=1.0, epsilon=1.0, cutoff=2.5, smooth=True)
    d = 2.5 + np.array([-1e-7, 1e-7])
    energies = [float(evaluate(model, Atoms("Ar2", positions=[[0, 0, 0], [x, 0, 0]], cell=[10] * 3,
                                            pbc=False)).energy) for x in d]
    assert abs(energies[0] - energies[1]) < 1e-12


@pytest.mark.parametrize("pbc", [(True, True, False), (False, False, False)])
def test_lennard_jones_mixed_and_open_boundaries_equal_ase(fluid, pbc):
    """Slab (periodic in two directions) and cluster against ASE's LennardJones."""
    atoms = fluid.copy()
    atoms.pbc = pbc
    model = lennard_jones(sigma=1.0, epsilon=1.0, cutoff=2.5)
    ref = atoms.copy()
    ref.calc = LennardJones(sigma=1.0, epsilon=1.0, rc=2.5)
    res = evaluate(model, atoms)
    assert float(res.energy) == pytest.approx(ref.get_potential_energy(), rel=1e-12)
    np.testing.assert_allclose(res.forces, ref.get_forces(), atol=1e-10)


def test_cutoff_functions_against_their_closed_forms():
    """Behler's cosine cutoff, the DimeNet polynomial envelope and ASE's switches."""
    from jaxpot.cutoffs import (
        cosine_cutoff,
        polynomial_cutoff,
        safe_norm,
        smoothstep_switch,
        squared_polynomial_switch,
    )
    r = np.linspace(0.0, 6.0, 61)
    np.testing.assert_allclose(cosine_cutoff(r, 5.0),
                               np.where(r < 5, 0.5 * (np.cos(np.pi * r / 5) + 1), 0), atol=1e-15)
    x = r / 5.0
    p = 6
    env = (1 - (p + 1) * (p + 2) / 2 * x ** p + p * (p + 2) * x ** (p + 1)
           - p * (p + 1) / 2 * x ** (p + 2))
    np.testing.assert_allclose(polynomial_cutoff(r, 5.0, p), np.where(r < 5, env, 0), atol=1e-14)
    from ase.calculators.lj import cutoff_function
    from ase.calculators.morse import fcut
    np.testing.assert_allclose(squared_polynomial_switch(r, 3.0, 5.0),
                               cutoff_function(r ** 2, 25.0, 9.0), atol=1e-14)
    np.testing.assert_allclose(smoothstep_switch(r, 3.0, 5.0), fcut(r, 3.0, 5.0), atol=1e-14)
    # value and slope vanish at the cutoff; the norm's gradient is finite at zero
    for f in (lambda t: cosine_cutoff(t, 5.0), lambda t: polynomial_cutoff(t, 5.0)):
        assert float(f(5.0 - 1e-9)) < 1e-12
        assert abs(float(jax.grad(f)(5.0 - 1e-9))) < 1e-6
    g = jax.grad(lambda v: safe_norm(v))(jnp.zeros(3))
    assert np.all(np.isfinite(g))


def test_composed_model_is_the_sum_of_its_parts(fluid):
    """E_a + 0.5 E_b: energies, forces, stress and per-atom energies add up."""
    a = lennard_jones(sigma=1.0, epsilon=1.0, cutoff=2.5, smooth=True)
    b = morse(epsilon=0.7, r0=1.1, rho0=5.0)
    ra, rb, rc = evaluate(a, fluid), evaluate(b, fluid), evaluate(a + 0.5 * b, fluid)
    assert float(rc.energy) == pytest.approx(float(ra.energy) + 0.5 * float(rb.energy), rel=1e-13)
    np.testing.assert_allclose(rc.forces, np.asarray(ra.forces) + 0.5 * np.asarray(rb.forces),
                               atol=1e-12)
    np.testing.assert_allclose(rc.stress, np.asarray(ra.stress) + 0.5 * np.asarray(rb.stress),
                               atol=1e-12)
    np.testing.assert_allclose(rc.energies, np.asarray(ra.energies) + 0.5 * np.asarray(rb.energies),
                               atol=1e-12)
    assert sum([a, b]).cutoff == max(a.cutoff, b.cutoff)


@pytest.mark.parametrize("rows", [True, False, "blocks", "half-blocks", "half-tail"])
def test_pair_sum_paths_second_derivatives_and_parameter_gradients(rows, monkeypatch):
    """The pair-sum paths, full rows (custom JVP: forces by row reductions, no scatter; also
    in blocks of rows, as large systems run, here 5 rows with one padded block) and the half
    list (each pair once, custom JVP; also in blocks of pairs, as long lists run, here 16
    pairs with one partial block and three of padding only; and as a shorter list ends, a
    head and eight blocks of ten slots, those of padding only skipped), two species: energy = the
    NumPy pair sum over ASE's neighbor list; gradients = central differences of the energy;
    force constants (jax.hessian) and cell second derivatives = central differences of the
    autodiff gradients; parameter gradients = central differences of the energy (a symmetric
    perturbation of each matrix entry)."""
    if rows == "blocks":
        import importlib
        monkeypatch.setattr(importlib.import_module("jaxpot.potentials.pair_rows"),
                            "ROW_BLOCK", 5)
        rows = True
    half_blocks = rows in ("half-blocks", "half-tail")
    if half_blocks:
        import importlib
        pair_half = importlib.import_module("jaxpot.potentials.pair_half")
        if rows == "half-blocks":
            monkeypatch.setattr(pair_half, "PAIR_BLOCK", 16)
        else:
            monkeypatch.setattr(pair_half, "TAIL_MIN", 16)
            monkeypatch.setattr(pair_half, "TAIL_PARTS", pair_half.TAIL_BLOCKS + 2)
        rows = False
    atoms = lj_fluid(n=12, seed=7)
    atoms.numbers[::3] = 36
    sigma = np.array([[1.0, 1.1], [1.1, 1.2]])
    epsilon = np.array([[1.0, 0.8], [0.8, 1.3]])
    model = lennard_jones(sigma=sigma, epsilon=epsilon, cutoff=2.6, species=["Ar", "Kr"],
                          smooth=True, r_on=2.0)
    pos, cell = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)
    species = jnp.asarray(atoms.numbers)
    nbrs = allocate_neighbor_list(pos, cell, atoms.pbc, cutoff=2.6, skin=0.3, method="host",
                                  rows=rows)
    assert (nbrs.idx.shape[1] > 0) == rows
    if half_blocks:  # head-room of three blocks of padding only, which the rule skips
        nbrs = allocate_neighbor_list(pos, cell, atoms.pbc, cutoff=2.6, skin=0.3, method="host",
                                      rows=False, min_half_capacity=nbrs.half_i.shape[0] + 53)
        assert int(jnp.sum(nbrs.half_i < 12)) < nbrs.half_i.shape[0] - 48
        assert nbrs.half_i.shape[0] > 32 and nbrs.half_i.shape[0] % 16  # blocks, one partial
        e = nbrs.half_i.shape[0]
        tail = np.asarray(nbrs.half_i[e - 8 * (e // 10):]).reshape(8, -1) < 12
        assert tail.any(axis=1).sum() in range(1, 8)  # tail blocks with pairs, and skipped

    def energy(p, c, params=model.params):
        return model.replace(params=params).energy(p, c, species, nbrs)

    i, j, d = ase_neighbor_list("ijd", atoms, 2.6)
    k = (atoms.numbers == 36).astype(int)
    s, e = sigma[k[i], k[j]], epsilon[k[i], k[j]]
    x = np.clip((d ** 2 - 2.0 ** 2) / (2.6 ** 2 - 2.0 ** 2), 0, 1)  # ASE's C1 switch in r^2
    switch = 1 - 3 * x ** 2 + 2 * x ** 3
    e_ref = 0.5 * np.sum(4 * e * ((s / d) ** 12 - (s / d) ** 6) * switch)
    energy_j = jax.jit(energy)
    assert float(energy_j(pos, cell)) == pytest.approx(e_ref, rel=1e-12)

    grad_p = jax.jit(jax.grad(energy, argnums=0))
    h = 1e-5
    g = np.asarray(grad_p(pos, cell)).ravel()
    fd_g = [(float(energy_j(pos + jnp.zeros(36).at[m].set(h).reshape(12, 3), cell))
             - float(energy_j(pos - jnp.zeros(36).at[m].set(h).reshape(12, 3), cell))) / (2 * h)
            for m in range(36)]
    np.testing.assert_allclose(g, fd_g, rtol=0, atol=1e-7 * np.abs(g).max())
    hess = np.asarray(jax.jit(jax.hessian(energy, argnums=0))(pos, cell)).reshape(36, 36)
    fd = np.zeros((36, 36))
    for m in range(36):
        step = jnp.zeros(36).at[m].set(h).reshape(12, 3)
        fd[:, m] = np.asarray(grad_p(pos + step, cell) - grad_p(pos - step, cell)).ravel() / (2 * h)
    np.testing.assert_allclose(hess, fd, rtol=0, atol=1e-6 * np.abs(hess).max())
    np.testing.assert_allclose(hess, hess.T, rtol=0, atol=1e-10 * np.abs(hess).max())

    grad_c = jax.jit(jax.grad(energy, argnums=1))
    hess_c = np.asarray(jax.jit(jax.jacfwd(jax.grad(energy, argnums=1), argnums=1))(pos, cell))
    for a in range(3):
        for b in range(3):
            step = jnp.zeros((3, 3)).at[a, b].set(h)
            fd_c = np.asarray(grad_c(pos, cell + step) - grad_c(pos, cell - step)) / (2 * h)
            np.testing.assert_allclose(hess_c[:, :, a, b], fd_c, rtol=0,
                                       atol=1e-6 * np.abs(hess_c).max())

    grads = jax.jit(jax.grad(energy, argnums=2))(pos, cell, model.params)
    for name in ("sigma", "epsilon"):
        for a, b in [(0, 0), (0, 1), (1, 1)]:
            bump = np.zeros((2, 2))
            bump[a, b] = bump[b, a] = h

            def shifted(sign):
                params = dict(model.params)
                params[name] = params[name] + sign * bump
                return float(energy_j(pos, cell, params))

            fd_p = (shifted(1) - shifted(-1)) / (2 * h)
            g = float(grads[name][a, b] + (grads[name][b, a] if a != b else 0.0))
            assert g == pytest.approx(fd_p, rel=1e-6, abs=1e-9)


def test_add_rows_drops_the_padding_index():
    """The half-list scatter adds each value at its row (np.add.at) and drops the padding
    index N of an (N,)-row accumulator, which the pair paths rely on."""
    from jaxpot.potentials.pair_half import add_rows
    index = np.array([0, 3, 1, 3, 0, 2])
    values = np.arange(12.0).reshape(6, 2)
    expected = np.zeros((3, 2))
    keep = index < 3
    np.add.at(expected, index[keep], values[keep])
    got = add_rows(jnp.zeros((3, 2)), jnp.asarray(index), jnp.asarray(values))
    np.testing.assert_array_equal(np.asarray(got), expected)
