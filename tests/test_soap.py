"""SOAP power spectrum against dscribe 2.1 ``SOAP(rbf="gto")`` (reference) element by element,
gradients against finite differences and dscribe's analytic derivatives, invariances and the
smooth-cutoff option."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk, molecule
from dscribe.descriptors import SOAP as DscribeSOAP

from jaxpot.descriptors import soap
from jaxpot.neighbors import allocate_neighbor_list
from jaxpot.testing import random_rotation

jax.config.update("jax_enable_x64", True)


def alloy_cell():
    atoms = bulk("Si", "diamond", a=5.5, cubic=True)
    atoms.symbols[::3] = "Ge"
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + [[0.02, 0.06, 0], [0, -0.03, 0.05], [0.04, 0, 0]]),
                   scale_atoms=True)
    atoms.rattle(0.05, seed=2)
    return atoms


CASES = {
    "si_primitive_2_atoms": (lambda: bulk("Si", "diamond", a=5.43), ["Si"], True,
                             dict(r_cut=5.0, n_max=6, l_max=6, sigma=0.5)),
    "sige_triclinic": (alloy_cell, ["Si", "Ge"], True, dict(r_cut=4.5, n_max=4, l_max=4, sigma=0.4)),
    "molecule_centre_weight": (lambda: molecule("CH3CH2OH"), ["H", "C", "O"], False,
                               dict(r_cut=4.0, n_max=3, l_max=3, sigma=0.6, weighting={"w0": 0.3})),
    "compression_crossover": (alloy_cell, ["Si", "Ge"], True,
                              dict(r_cut=4.0, n_max=3, l_max=3, sigma=0.5,
                                   compression={"mode": "crossover"})),
    "compression_mu2": (lambda: molecule("CH3CH2OH"), ["H", "C", "O"], False,
                        dict(r_cut=4.0, n_max=3, l_max=3, sigma=0.6, compression={"mode": "mu2"})),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_equals_dscribe_element_by_element(name):
    make, species, periodic, kw = CASES[name]
    atoms = make()
    ours = soap(species=species, **kw)(atoms)
    ref = DscribeSOAP(species=species, periodic=periodic, **kw).create(atoms)
    assert ours.shape[1] == soap(species=species, **kw).n_features
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10 * np.abs(ref).max())


def test_gradients_match_dscribe_and_finite_differences():
    atoms = molecule("H2O")
    kw = dict(species=["H", "O"], r_cut=4.0, n_max=3, l_max=3, sigma=0.5)
    desc = soap(**kw)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, False,
                                  cutoff=desc.neighbor_cutoff, skin=0.5)
    z, cell = jnp.asarray(atoms.numbers), jnp.asarray(atoms.cell.array)
    f = jax.jit(lambda p: desc.features(p, cell, z, nbrs))
    jac = np.asarray(jax.jacfwd(f)(jnp.asarray(atoms.positions)))  # (centre, F, atom, 3)
    ref, values = DscribeSOAP(**kw).derivatives(atoms, method="analytical", attach=True)
    np.testing.assert_allclose(values, np.asarray(f(jnp.asarray(atoms.positions))), atol=1e-10)
    np.testing.assert_allclose(jac.transpose(0, 2, 3, 1), ref, atol=1e-8 * np.abs(ref).max())
    h = 1e-5
    for i, a in [(0, 2), (2, 0)]:
        p = np.array(atoms.positions)
        p[i, a] += h
        plus = np.asarray(f(jnp.asarray(p)))
        p[i, a] -= 2 * h
        minus = np.asarray(f(jnp.asarray(p)))
        np.testing.assert_allclose(jac[:, :, i, a], (plus - minus) / (2 * h), atol=1e-6)


def test_cell_gradient_matches_finite_differences():
    """d(features)/d(strain) by autodiff (for virials in GAP) against central differences."""
    atoms = alloy_cell()
    desc = soap(species=["Si", "Ge"], r_cut=4.0, n_max=3, l_max=3, sigma=0.5, cutoff="smooth")
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, True, cutoff=4.0, skin=0.5)
    pos, cell, z = (jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
                    jnp.asarray(atoms.numbers))

    def total(eps):
        d = jnp.eye(3) + 0.5 * (eps + eps.T)
        return jnp.sum(desc.features(pos @ d, cell @ d, z, nbrs) ** 2)

    grad = np.asarray(jax.jit(jax.grad(total))(jnp.zeros((3, 3))))
    total = jax.jit(total)
    h = 1e-6
    for a, b in [(0, 0), (1, 2)]:
        e = np.zeros((3, 3))
        e[a, b] = h
        fd = (float(total(jnp.asarray(e))) - float(total(jnp.asarray(-e)))) / (2 * h)
        assert grad[a, b] == pytest.approx(fd, rel=1e-6)


def test_invariances_and_smooth_cutoff():
    atoms = alloy_cell()
    desc = soap(species=["Si", "Ge"], r_cut=4.5, n_max=4, l_max=4, sigma=0.5, cutoff="smooth")
    base = desc(atoms)
    rot = random_rotation(5)
    moved = atoms.copy()
    moved.set_cell(atoms.cell.array @ rot.T)
    moved.positions = atoms.positions @ rot.T + [2.0, -0.5, 1.0]
    np.testing.assert_allclose(desc(moved), base, atol=1e-10 * np.abs(base).max())
    perm = np.random.default_rng(1).permutation(len(atoms))
    np.testing.assert_allclose(desc(atoms[perm]), base[perm], atol=1e-10 * np.abs(base).max())
    # a neighbour crossing r_cut changes the smooth features continuously
    pair = [molecule("H2") for _ in range(2)]
    for a, d in zip(pair, (4.5 - 1e-7, 4.5 + 1e-7)):
        a.positions = [[0, 0, 0], [0, 0, d]]
    h2 = soap(species=["H"], r_cut=4.5, n_max=3, l_max=2, sigma=0.5, cutoff="smooth")
    np.testing.assert_allclose(h2(pair[0]), h2(pair[1]), atol=1e-10)


def test_bad_options_raise():
    with pytest.raises(NotImplementedError, match="polynomial|only the GTO"):
        soap(species=["Si"], r_cut=5.0, n_max=4, l_max=4, rbf="polynomial")
    with pytest.raises(ValueError, match="unknown species"):
        soap(species=["Si"], r_cut=5.0, n_max=2, l_max=2)(molecule("H2O"))
