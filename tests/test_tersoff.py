"""Tersoff against LAMMPS ``pair_style tersoff`` (reference) with LAMMPS's Si.tersoff and
SiC.tersoff files, Tersoff's published diamond-Si cohesive energy, finite differences and
model files."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk
from lammps_reference import lammps_evaluate, lammps_frame, potentials_dir

import jaxpot.io as jio
from jaxpot.mechanics import energy_forces_stress
from jaxpot.neighbors import allocate_neighbor_list
from jaxpot.potentials import tersoff
from jaxpot.space import full_to_voigt
from jaxpot.testing import assert_derivatives_match_finite_differences

jax.config.update("jax_enable_x64", True)
POT = potentials_dir()


def evaluate(model, atoms):
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff=model.cutoff)
    return energy_forces_stress(model, jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
                                jnp.asarray(atoms.numbers), nbrs, compute_energies=True)


@pytest.mark.parametrize("fname,atoms,species", [
    ("Si.tersoff", bulk("Si", "diamond", a=5.432, cubic=True), ["Si"]),
    ("SiC.tersoff", bulk("SiC", "zincblende", a=4.36, cubic=True), ["Si", "C"]),
    ("Si.tersoff", bulk("Si", "diamond", a=5.432), ["Si"]),
])
def test_matches_lammps(fname, atoms, species):
    atoms = lammps_frame(atoms)
    atoms.rattle(0.1, seed=1)
    path = os.path.join(POT, fname)
    e, f, s, ea = lammps_evaluate(atoms, "tersoff", f"* * {path} {' '.join(species)}", species)
    res = evaluate(tersoff(path), atoms)
    assert abs(float(res.energy) - e) <= 1e-12 * abs(e)
    np.testing.assert_allclose(res.forces, f, rtol=0, atol=1e-11)
    np.testing.assert_allclose(full_to_voigt(res.stress), s, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.energies, ea, rtol=0, atol=1e-11)


def test_published_cohesive_energy():
    """Tersoff, PRB 38, 9902 (1988), Si(C) parameters: diamond Si binds with 4.63 eV/atom."""
    e = float(evaluate(tersoff(os.path.join(POT, "Si.tersoff")), bulk("Si", "diamond", a=5.432)).energy)
    assert e / 2 == pytest.approx(-4.63, abs=5e-3)


def test_derivatives_and_model_file(tmp_path):
    model = tersoff(os.path.join(POT, "SiC.tersoff"))
    atoms = bulk("SiC", "zincblende", a=4.36, cubic=True)
    atoms.rattle(0.08, seed=2)
    assert_derivatives_match_finite_differences(model, atoms, force_atol=1e-6, stress_atol=1e-8)
    jio.save(model, tmp_path / "sic.jaxpot")
    loaded = jio.load(tmp_path / "sic.jaxpot")
    assert float(evaluate(loaded, atoms).energy) == float(evaluate(model, atoms).energy)


def test_bad_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tersoff(str(tmp_path / "none.tersoff"))
    bad = tmp_path / "bad.tersoff"
    bad.write_text("Si Si Si 3.0 1.0 1.3258 4.8381\n")
    with pytest.raises(ValueError, match="fields"):
        tersoff(str(bad))
