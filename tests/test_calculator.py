"""JaxpotCalculator inside ASE: agreement with ASE's own calculators, optimizers, MD,
no recompilation, neighbor-list reallocation and clear errors on bad input."""

import jax
import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk, molecule
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.fd import FiniteDifferenceCalculator
from ase.calculators.lj import LennardJones
from ase.filters import FrechetCellFilter
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS

from jaxpot.calculator import JaxpotCalculator
from jaxpot.potentials import lennard_jones
from jaxpot.structure import StructureError
from jaxpot.testing import CompilationCounter

jax.config.update("jax_enable_x64", True)

LJ = dict(sigma=2.3, epsilon=0.4)


@pytest.fixture(scope="module")
def model():
    return lennard_jones(**LJ, cutoff=5.5)


def cu_cell(seed=0):
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 2, 1))
    atoms.rattle(0.05, seed=seed)
    return atoms


def test_matches_ase_lennard_jones_and_finite_differences(model):
    """ASE's LennardJones is the reference; ASE's FiniteDifferenceCalculator checks derivatives."""
    atoms = cu_cell()
    atoms.calc = JaxpotCalculator(model)
    ref = atoms.copy()
    ref.calc = LennardJones(**LJ, rc=5.5)
    assert atoms.get_potential_energy() == pytest.approx(ref.get_potential_energy(), rel=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), ref.get_forces(), atol=1e-12)
    np.testing.assert_allclose(atoms.get_stress(), ref.get_stress(), atol=1e-14)
    np.testing.assert_allclose(atoms.get_potential_energies(), ref.get_potential_energies(),
                               atol=1e-12)
    fd = atoms.copy()
    fd.calc = FiniteDifferenceCalculator(JaxpotCalculator(model), eps_disp=1e-5, eps_strain=1e-6)
    np.testing.assert_allclose(atoms.get_forces(), fd.get_forces(), atol=1e-7)
    np.testing.assert_allclose(atoms.get_stress(), fd.get_stress(), atol=1e-8)


def test_works_with_ase_optimizer_cell_filter_and_md(model):
    atoms = cu_cell(1)
    atoms.calc = JaxpotCalculator(model)
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-5, steps=300)
    assert np.abs(atoms.get_forces()).max() < 1e-5
    assert np.abs(atoms.get_stress()).max() < 1e-5
    # NVE with ASE's velocity Verlet: same trajectory as with ASE's own LennardJones
    atoms.rattle(0.05, seed=2)
    atoms.set_momenta(np.zeros((len(atoms), 3)))
    ref = atoms.copy()
    ref.calc = LennardJones(**LJ, rc=5.5)
    e0 = atoms.get_total_energy()
    for a in (atoms, ref):
        VelocityVerlet(a, timestep=1.0 * units.fs).run(40)
    np.testing.assert_allclose(atoms.positions, ref.positions, atol=1e-9)
    assert abs(atoms.get_total_energy() - e0) < 2e-4 * len(atoms)


def test_second_call_does_not_recompile(model):
    atoms = cu_cell(2)
    atoms.calc = JaxpotCalculator(model)
    atoms.get_forces()
    atoms.get_stress()  # energy+forces and energy+forces+stress are two kernels
    with CompilationCounter() as compiled:
        atoms.positions += 0.01
        atoms.get_forces()
        atoms.set_cell(atoms.cell * 1.001, scale_atoms=True)
        atoms.get_stress()
        atoms.numbers[0] = 28  # species values change, not the species set's shape
        atoms.get_potential_energy()
        other = atoms.copy()  # a second, equal model object shares the compiled code
        other.calc = JaxpotCalculator(lennard_jones(**LJ, cutoff=5.5))
        other.get_forces()
    assert compiled.count == 0


def test_half_list_of_pair_model_reallocates_on_compression(model):
    """From 256 atoms the calculator builds the half list alone for a pair model (host
    lists); compression grows it, is counted, and the energy stays ASE's LennardJones."""
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat(4)
    atoms.rattle(0.05, seed=3)
    calc = JaxpotCalculator(model, skin=0.3, capacity_multiplier=1.0)
    atoms.calc = calc
    atoms.get_potential_energy()
    assert calc.neighbors.capacity == 0 and calc.neighbors.half_capacity > 0
    atoms.set_cell(atoms.cell * 0.9, scale_atoms=True)
    e, f = atoms.get_potential_energy(), atoms.get_forces()
    assert calc.n_reallocations >= 1
    ref = atoms.copy()
    ref.calc = LennardJones(**LJ, rc=5.5)
    assert e == pytest.approx(ref.get_potential_energy(), rel=1e-12)
    np.testing.assert_allclose(f, ref.get_forces(), rtol=0, atol=1e-10)


def test_neighbor_list_reallocates_on_compression(model):
    atoms = cu_cell(3)
    calc = JaxpotCalculator(model, skin=0.3, capacity_multiplier=1.0)
    atoms.calc = calc
    atoms.get_potential_energy()
    atoms.set_cell(atoms.cell * 0.85, scale_atoms=True)
    e = atoms.get_potential_energy()
    assert calc.n_reallocations >= 1
    ref = atoms.copy()
    ref.calc = LennardJones(**LJ, rc=5.5)
    assert e == pytest.approx(ref.get_potential_energy(), rel=1e-12)


def test_molecule_without_cell_has_no_stress(model):
    atoms = molecule("CH4")
    atoms.calc = JaxpotCalculator(lennard_jones(sigma=1.0, epsilon=0.1, cutoff=4.0))
    ref = atoms.copy()
    ref.calc = LennardJones(sigma=1.0, epsilon=0.1, rc=4.0)
    np.testing.assert_allclose(atoms.get_forces(), ref.get_forces(), atol=1e-12)
    with pytest.raises(PropertyNotImplementedError):
        atoms.get_stress()


@pytest.mark.parametrize("make,match", [
    (lambda: Atoms("Cu2", positions=[[0, 0, 0], [np.nan, 0, 0]], cell=[5] * 3, pbc=True), "NaN"),
    (lambda: Atoms("Cu2", positions=[[0, 0, 0], [np.inf, 0, 0]], cell=[5] * 3, pbc=True),
     "NaN or inf"),
    (lambda: Atoms("Cu2", positions=[[1, 1, 1], [1, 1, 1]], cell=[5] * 3, pbc=True), "overlap"),
    (lambda: Atoms("Cu2", positions=[[0, 0, 0], [1, 1, 1]],
                   cell=[[1, 0, 0], [2, 0, 0], [0, 0, 3]], pbc=True), "singular"),
    (lambda: Atoms("Cu2", positions=[[0, 0, 0], [1, 1, 1]], cell=np.zeros((3, 3)), pbc=True),
     "singular"),
    (lambda: Atoms(cell=[5] * 3, pbc=True), "no atoms"),
])
def test_bad_input_raises_clear_error(model, make, match):
    atoms = make()
    atoms.calc = JaxpotCalculator(model)
    with pytest.raises(StructureError, match=match):
        atoms.get_potential_energy()


def test_unknown_species_is_rejected():
    atoms = cu_cell()
    atoms.calc = JaxpotCalculator(lennard_jones(**LJ, cutoff=5.5, species=["Cu"]))
    atoms.get_potential_energy()
    atoms.numbers[0] = 79
    with pytest.raises(StructureError, match=r"unknown species Au \(Z=79\)"):
        atoms.get_potential_energy()
