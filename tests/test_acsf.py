"""ACSF against dscribe 2.1 ``ACSF`` (reference) element by element, gradients against finite
differences and dscribe's derivatives, and invariances."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk, molecule
from dscribe.descriptors import ACSF as DscribeACSF

from jaxpot.descriptors import (
    acsf,
    behler_angular_params,
    behler_radial_params,
    shifted_radial_params,
)
from jaxpot.neighbors import allocate_neighbor_list
from jaxpot.testing import random_rotation

jax.config.update("jax_enable_x64", True)

PARAMS = dict(g2_params=np.concatenate([behler_radial_params([0.5, 2.0]),
                                        shifted_radial_params(4.5, 3, 4.0)]),
              g3_params=[1.0, 2.5],
              g4_params=behler_angular_params([0.01, 0.05], zetas=(1.0, 4.0)),
              g5_params=[[0.1, 1.0, -1.0], [0.05, 2.0, 1.0]])


def sic_cell():
    atoms = bulk("SiC", "zincblende", a=4.36).repeat((2, 1, 1))
    atoms.set_cell(atoms.cell.array
                   @ (np.eye(3) + [[0.03, 0.05, 0], [0, -0.02, 0.04], [0.01, 0, 0]]),
                   scale_atoms=True)
    atoms.rattle(0.05, seed=1)
    return atoms


CASES = {
    "molecule": (lambda: molecule("CH3CH2OH"), ["H", "C", "O"], 5.0, False),
    "periodic_triclinic_two_species": (sic_cell, ["Si", "C"], 4.5, True),
    "small_cell_many_images": (lambda: bulk("Si", "diamond", a=5.43), ["Si"], 6.5, True),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_equals_dscribe_element_by_element(name):
    make, species, r_cut, periodic = CASES[name]
    atoms = make()
    ours = acsf(species=species, r_cut=r_cut, **PARAMS)(atoms)
    ref = DscribeACSF(species=species, r_cut=r_cut, periodic=periodic, **PARAMS).create(atoms)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())


def test_gradients_match_finite_differences_and_dscribe():
    atoms = molecule("CH3OH")
    desc = acsf(species=["H", "C", "O"], r_cut=5.0, **PARAMS)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, False, cutoff=5.0, skin=1.0)
    z = jnp.asarray(atoms.numbers)
    cell = jnp.asarray(atoms.cell.array)
    jac = np.asarray(jax.jacfwd(lambda p: desc.features(p, cell, z, nbrs))(
        jnp.asarray(atoms.positions)))
    # (N_centres, F, N_atoms, 3) -> dscribe's (N_centres, N_atoms, 3, F)
    ours = jac.transpose(0, 2, 3, 1)
    ref, _ = DscribeACSF(species=["H", "C", "O"], r_cut=5.0, **PARAMS).derivatives(
        atoms, method="numerical", attach=True)
    np.testing.assert_allclose(ours, ref, atol=1e-6 * np.abs(ref).max())
    h = 1e-5
    f = jax.jit(lambda p: desc.features(p, cell, z, nbrs))
    for i, a in [(0, 0), (3, 2), (5, 1)]:
        p = np.array(atoms.positions)
        p[i, a] += h
        plus = np.asarray(f(jnp.asarray(p)))
        p[i, a] -= 2 * h
        minus = np.asarray(f(jnp.asarray(p)))
        np.testing.assert_allclose(jac[:, :, i, a], (plus - minus) / (2 * h), atol=1e-7)


def test_invariant_to_rotation_translation_permutation():
    atoms = sic_cell()
    desc = acsf(species=["Si", "C"], r_cut=4.5, **PARAMS)
    base = desc(atoms)
    rot = random_rotation(3)
    moved = atoms.copy()
    moved.set_cell(atoms.cell.array @ rot.T, scale_atoms=False)
    moved.positions = atoms.positions @ rot.T + [0.4, -1.2, 3.3]
    np.testing.assert_allclose(desc(moved), base, atol=1e-10)
    perm = np.random.default_rng(0).permutation(len(atoms))
    np.testing.assert_allclose(desc(atoms[perm]), base[perm], atol=1e-10)


def test_unknown_species_and_bad_parameters_raise():
    with pytest.raises(ValueError, match="g4_params must have shape"):
        acsf(species=["Si"], r_cut=4.0, g4_params=[[1.0, 2.0]])
    with pytest.raises(ValueError, match="unknown species"):
        acsf(species=["Si"], r_cut=4.0)(molecule("H2O"))
