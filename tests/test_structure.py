"""Structure <-> ase.Atoms round trips and host-side input validation."""

import jax
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule

from jaxpot.space import to_cartesian, to_fractional, wrap_positions
from jaxpot.structure import Structure, StructureError, as_structure, validate_atoms_input

jax.config.update("jax_enable_x64", True)


@pytest.mark.parametrize("atoms", [
    bulk("NaCl", "rocksalt", a=5.64) * (2, 1, 1),
    Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]], pbc=False),
    Atoms("Si2", positions=[[0, 0, 0], [1.3, 1.4, 1.2]],
          cell=[[3.8, 0.1, 0.0], [1.9, 3.3, 0.2], [1.9, 1.1, 3.1]], pbc=(True, False, True)),
])
def test_round_trip_through_ase_is_lossless(atoms):
    atoms = atoms.copy()
    masses = atoms.get_masses()
    masses[0] = 2.014  # an isotope: masses must survive
    atoms.set_masses(masses)
    back = Structure.from_ase(atoms).to_ase()
    assert np.array_equal(back.numbers, atoms.numbers)
    assert np.array_equal(back.positions, atoms.positions)
    assert np.array_equal(back.cell.array, atoms.cell.array)
    assert np.array_equal(back.pbc, atoms.pbc)
    assert np.array_equal(back.get_masses(), atoms.get_masses())
    assert as_structure(atoms).pbc == tuple(bool(p) for p in atoms.pbc)


def test_structure_is_a_pytree_with_static_pbc():
    s = Structure.from_ase(molecule("CH4"))
    leaves, treedef = jax.tree_util.tree_flatten(s)
    assert len(leaves) == 4
    doubled = jax.tree_util.tree_map(lambda x: x * 2, s)
    assert doubled.pbc == s.pbc


def test_fractional_and_wrapping_agree_with_ase():
    atoms = bulk("Cu", "fcc", a=3.6) * (2, 2, 2)
    atoms.positions += [7.3, -4.1, 2.2]
    frac = np.asarray(to_fractional(atoms.positions, atoms.cell.array))
    np.testing.assert_allclose(frac, atoms.get_scaled_positions(wrap=False), atol=1e-12)
    np.testing.assert_allclose(to_cartesian(frac, atoms.cell.array), atoms.positions, atol=1e-12)
    wrapped = atoms.copy()
    wrapped.wrap()
    np.testing.assert_allclose(wrap_positions(atoms.positions, atoms.cell.array), wrapped.positions,
                               atol=1e-10)


@pytest.mark.parametrize("positions,cell,species,pbc,match", [
    (np.zeros((0, 3)), np.eye(3), np.zeros(0, int), True, "no atoms"),
    ([[0, 0, 0]], np.eye(3), [200], True, "unknown species"),
    ([[0, 0, 0]], np.eye(3), [0], True, "unknown species"),
    ([[0, 0, np.nan]], np.eye(3), [1], True, "NaN"),
    ([[0, 0, 0]], [[1, 0, 0], [0, 1, 0], [1, 1, 0]], [1], True, "singular"),
    ([[0, 0, 0]], np.diag([np.inf, 1.0, 1.0]), [1], True, "cell contains NaN or inf"),
    ([[0, 0, 0]], np.eye(3), [1, 1], True, "species must have shape"),
])
def test_validation_names_the_problem(positions, cell, species, pbc, match):
    with pytest.raises(StructureError, match=match):
        validate_atoms_input(positions, cell, species, pbc)


def test_open_directions_may_have_a_zero_cell():
    validate_atoms_input([[0, 0, 0], [1, 0, 0]], np.zeros((3, 3)), [1, 1], False)
    validate_atoms_input([[0, 0, 0]], [[3, 0, 0], [0, 0, 0], [0, 0, 0]], [1], (True, False, False))
