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
from jaxpot.testing import assert_derivatives_match_finite_differences, second_derivatives

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
    e = float(evaluate(tersoff(os.path.join(POT, "Si.tersoff")),
                       bulk("Si", "diamond", a=5.432)).energy)
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


@pytest.mark.parametrize("case", ["diamond", "sic", "liquid"])
def test_lists_with_skin_pick_slots_and_match_lammps(case, monkeypatch):
    """With a 1.5 Å skin the rows hold shells no bond order reaches; the bond orders run over
    the first 6 (crystals: 4 neighbors inside) or 12 slots inside the cutoff, or over all
    slots in blocks (a dense random liquid with more than 12).  Each equals LAMMPS (energy,
    forces, stress); force constants (diamond), cell second derivatives and parameter
    gradients (SiC: the crystals take the same branch, so each check runs once) equal plain
    autodiff over all slots of the same list (TRIPLET_SLOTS raised)."""
    import importlib

    from ase.neighborlist import neighbor_list
    from test_stillinger_weber import random_silicon
    module = importlib.import_module("jaxpot.potentials.tersoff")
    if case == "sic":
        fname, species = "SiC.tersoff", ["Si", "C"]
        atoms = lammps_frame(bulk("SiC", "zincblende", a=4.36, cubic=True))
    else:
        fname, species = "Si.tersoff", ["Si"]
        atoms = lammps_frame(bulk("Si", "diamond", a=5.432, cubic=True) if case == "diamond"
                             else random_silicon(n=24, density=0.09, seed=5, dmin=2.0))
    atoms.rattle(0.1, seed=3)
    path = os.path.join(POT, fname)
    model = tersoff(path)
    e, f, s, _ = lammps_evaluate(atoms, "tersoff", f"* * {path} {' '.join(species)}", species)
    pos, cell = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)
    z = jnp.asarray(atoms.numbers)
    nbrs = allocate_neighbor_list(pos, cell, atoms.pbc, cutoff=model.cutoff, skin=1.5)
    assert nbrs.capacity > module.TRIPLET_SLOTS
    inside = np.bincount(neighbor_list("i", atoms, 3.2 if case != "sic" else 2.5),
                         minlength=len(atoms)).max()
    assert (inside > 12) == (case == "liquid") and (inside <= 6) == (case != "liquid")
    res = energy_forces_stress(model, pos, cell, z, nbrs)
    assert abs(float(res.energy) - e) <= 1e-12 * abs(e)
    np.testing.assert_allclose(res.forces, f, rtol=0, atol=1e-11 * max(1.0, np.abs(f).max()))
    np.testing.assert_allclose(full_to_voigt(res.stress), s, rtol=0, atol=1e-12 * max(
        1.0, np.abs(s).max()))
    if case == "liquid":
        return

    def energy(p, c, params):
        return model.replace(params=params).energy(p, c, z, nbrs)

    which = ("hessian",) if case == "diamond" else ("cell_hessian", "gradient")
    ours = second_derivatives(energy, pos, cell, model.params, which)
    monkeypatch.setattr(module, "TRIPLET_SLOTS", 10 ** 6)
    ref = second_derivatives(energy, pos, cell, model.params, which)
    for name in set(which) - {"gradient"}:
        np.testing.assert_allclose(ours[name], ref[name], rtol=0,
                                   atol=1e-10 * np.abs(ref[name]).max())
    if "gradient" in which:
        for key in ("lambda3", "beta", "A", "R"):
            np.testing.assert_allclose(ours["gradient"][key], ref["gradient"][key], rtol=1e-9,
                                       atol=1e-12)
