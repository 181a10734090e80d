"""Jitted FIRE relaxation: SW silicon lattice constant (Stillinger & Weber 1985: 5.431 Å),
symmetry kept (spglib), pressure target against ASE's FrechetCellFilter + BFGS, and the CLI."""

import jax
import numpy as np
import pytest
import spglib
from ase import units
from ase.build import bulk
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS

from jaxpot.calculator import JaxpotCalculator
from jaxpot.cli import main
from jaxpot.potentials import lennard_jones, stillinger_weber
from jaxpot.properties.relax import relax

jax.config.update("jax_enable_x64", True)


def space_group(atoms):
    return spglib.get_symmetry_dataset((atoms.cell.array, atoms.get_scaled_positions(),
                                        atoms.numbers), symprec=1e-5).number


def test_silicon_relaxes_to_published_lattice_constant_keeping_symmetry():
    atoms = bulk("Si", "diamond", a=5.55, cubic=True)
    result = relax(stillinger_weber(), atoms, fmax=1e-5, smax=1e-5)
    assert result.converged
    relaxed = result.atoms
    assert space_group(atoms) == space_group(relaxed) == 227
    np.testing.assert_allclose(relaxed.cell.cellpar()[:3], 5.431, atol=1e-3)
    assert result.energy / len(relaxed) == pytest.approx(-4.3366, abs=1e-4)
    assert np.abs(result.stress_GPa).max() < 1e-5


def test_pressure_relaxation_matches_ase_frechet_cell_filter():
    """Target 3 GPa on a sheared, rattled LJ cell: same enthalpy minimum as ASE's optimizer."""
    model = lennard_jones(sigma=2.3, epsilon=0.4, cutoff=5.5, smooth=True)
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True)
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + [[0, 0.03, 0], [0, 0, 0], [0.02, 0, -0.02]]),
                   scale_atoms=True)
    atoms.rattle(0.03, seed=0)
    result = relax(model, atoms, pressure=3.0, fmax=1e-6, smax=1e-6, symmetrize=False)
    assert result.converged
    ref = atoms.copy()
    ref.calc = JaxpotCalculator(model)
    BFGS(FrechetCellFilter(ref, scalar_pressure=3.0 * units.GPa),
         logfile=None).run(fmax=1e-7, steps=1000)
    assert result.atoms.get_volume() == pytest.approx(ref.get_volume(), rel=1e-5)
    np.testing.assert_allclose(np.diag(result.stress_GPa), -3.0, atol=1e-5)


def test_cli_main_job_relaxes_bundled_silicon(capsys):
    assert main(["relax"]) == 0
    out = capsys.readouterr().out
    assert "lattice constant: 5.4309" in out
    assert "-4.33660" in out


def test_second_relaxation_of_the_same_shape_compiles_nothing():
    """EOS and QHA relax one structure per volume: only the first may compile."""
    from jaxpot.testing import CompilationCounter
    atoms = bulk("Si", "diamond", a=5.50, cubic=True)
    relax(stillinger_weber(), atoms, fmax=1e-4, smax=1e-4)
    other = bulk("Si", "diamond", a=5.35, cubic=True)
    other.rattle(0.01, seed=2)  # different values, same shapes (symmetry is then P1)
    relax(stillinger_weber(), bulk("Si", "diamond", a=5.30, cubic=True), fmax=1e-4, smax=1e-4)
    with CompilationCounter() as compiled:
        result = relax(stillinger_weber(), bulk("Si", "diamond", a=5.60, cubic=True),
                       fmax=1e-4, smax=1e-4)
    assert result.converged
    assert compiled.count == 0


def test_non_finite_energy_stops_with_the_step_named():
    """Two atoms at one point give an infinite LJ energy: an error, not 'converged'."""
    from ase import Atoms

    from jaxpot.structure import StructureError
    atoms = Atoms("Ar2", positions=[[1, 1, 1], [1, 1, 1]], cell=[8, 8, 8], pbc=True)
    with pytest.raises(StructureError, match="non-finite energy.*at the start structure itself"):
        relax(lennard_jones(sigma=3.4, epsilon=0.01, cutoff=6.0), atoms, relax_cell=False,
              symmetrize=False)
