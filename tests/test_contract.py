"""One contract table over every model kind: LJ, Morse, EAM, SW, Tersoff, a GAP (SOAP +
distance_2b), a BPNN, a PaiNN, a MACE, a qSNAP, an MTP (level 10), a sum at two cutoffs, a
scaled model and a model read back from a file.

Each row is checked for: forces and stress = central finite differences of its own energy;
translation, rotation, permutation, periodic-image and supercell invariance; ``jaxpot.predict``
over a batch of mixed sizes (periodic and open) = one structure at a time; no new compilation
for an identical second object or a loaded one (counted with ``jax.monitoring``); and a sum
equals its parts evaluated separately.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from lammps_reference import potentials_dir

import jaxpot
from jaxpot.mechanics import energy_forces_stress
from jaxpot.neighbors import allocate_for_model
from jaxpot.potentials import eam, lennard_jones, morse, stillinger_weber, tersoff
from jaxpot.testing import (
    CompilationCounter,
    assert_derivatives_match_finite_differences,
    random_rotation,
)

jax.config.update("jax_enable_x64", True)


def _si_sum():
    return stillinger_weber() + lennard_jones(sigma=2.1, epsilon=0.01, cutoff=6.0)


def _gap():
    """A GAP (SOAP dot-product kernel + distance_2b) with sparse points from a rattled Si
    crystal and fixed random weights (deterministic, so a second call is an equal model)."""
    from jaxpot.gap import distance_2b_gp, soap_gp
    from jaxpot.gap.terms import quip_soap
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.2, seed=11)
    x = quip_soap(("Si",), 4.0, 4, 3, 0.5)(atoms)
    rng = np.random.default_rng(3)
    soap_term = soap_gp(species=("Si",), cutoff=4.0, n_max=4, l_max=3, atom_sigma=0.5, zeta=4,
                        delta=0.7, sparse=x, alpha=rng.normal(size=len(x)), e0=[-0.5])
    pair_term = distance_2b_gp(species=("Si",), cutoff=3.5, theta=0.6, delta=0.3,
                               sparse=np.linspace(2.0, 3.5, 6)[None],
                               alpha=rng.normal(size=(1, 6)))
    return soap_term + pair_term


def _bpnn():
    from jaxpot.nn import bpnn
    return bpnn(["Si"], 4.0, hidden=(8, 8), seed=1)


def _snap():
    from jaxpot.descriptors import bispectrum
    from jaxpot.potentials import snap
    desc = bispectrum(["Si"], 3, 3.6, quadraticflag=1)  # cutoff 3.6 Å, linear + quadratic
    rng = np.random.default_rng(5)
    return snap(descriptor=desc, coefficients=np.concatenate(
        [[-4.0], 1e-3 * rng.normal(size=desc.n_features)])[None])


def _mtp():
    from jaxpot.potentials import mtp
    model = mtp(["Si"], 10, r_cut=4.0, r_min=1.5, seed=4)
    rng = np.random.default_rng(6)
    net = dict(model.params["net"], xi=jnp.asarray(0.1 * rng.normal(size=model.params["net"]
                                                                     ["xi"].shape)))
    return model.replace(params={**model.params, "net": net})


def _painn():
    from jaxpot.nn import painn
    return painn(["Si"], 4.0, features=8, layers=2, n_rbf=6, seed=2)


def _mace():
    """A MACE with random readouts (a fresh one starts at zero: its energy would be e0)."""
    from jaxpot.nn import mace
    model = mace(["Si"], 4.0, channels=4, radial_hidden=(8,), n_rbf=6, seed=3)
    rng = np.random.default_rng(7)
    net = jax.tree_util.tree_map_with_path(
        lambda path, x: jnp.asarray(rng.normal(size=x.shape), x.dtype)
        if "readout" in jax.tree_util.keystr(path) else x, model.params["net"])
    return model.replace(params={**model.params, "net": net})


MODELS = {  # name -> (factory, element)
    "lennard_jones": (lambda: lennard_jones(sigma=2.1, epsilon=0.05, cutoff=5.0, smooth=True),
                      "Si"),
    "morse": (lambda: morse(epsilon=0.3, r0=2.4, rho0=5.0, rcut1=4.0, rcut2=5.0), "Si"),
    "eam": (lambda: eam(os.path.join(potentials_dir(), "Cu_u3.eam")), "Cu"),
    "stillinger_weber": (stillinger_weber, "Si"),
    "tersoff": (lambda: tersoff(os.path.join(potentials_dir(), "Si.tersoff")), "Si"),
    "sum": (_si_sum, "Si"),
    "gap": (_gap, "Si"),
    "bpnn": (_bpnn, "Si"),
    "snap": (_snap, "Si"),
    "mtp": (_mtp, "Si"),
    "painn": (_painn, "Si"),
    "mace": (_mace, "Si"),
    "scaled": (lambda: 0.5 * eam(os.path.join(potentials_dir(), "Cu_u3.eam")), "Cu"),
    "loaded": (None, "Si"),
}


def crystal(element, seed=0, repeat=(1, 1, 1)):
    if element == "Si":
        atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    else:
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 1, 1))
    atoms = atoms.repeat(repeat)
    atoms.rattle(0.04, seed=seed)
    return atoms


def primitive(element, seed=1):
    atoms = bulk(element, "diamond" if element == "Si" else "fcc",
                 a=5.43 if element == "Si" else 3.61)
    atoms.rattle(0.03, seed=seed)
    return atoms


def cluster(element):
    d = 2.35 if element == "Si" else 2.55
    pos = np.array([[0, 0, 0], [d, 0, 0], [0, d, 0], [0, 0, d], [d, d, 0.3]]) + 0.02
    return Atoms(element * 5, positions=pos)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    built = {name: make() for name, (make, _) in MODELS.items() if make is not None}
    path = tmp_path_factory.mktemp("contract") / "sum.jaxpot"
    jaxpot.save(_si_sum(), path)
    built["loaded"] = jaxpot.load(path)
    return built


SKIN = 0.3  # Å, every list of this file: the tests of one model share their compiled programs


def evaluate(model, atoms, energies=False):
    """Energy, forces, stress (and with ``energies`` the atomic energies) of ``atoms``: one
    compiled program per model, size and flags, shared by the tests below."""
    nbrs = allocate_for_model(model, atoms.positions, atoms.cell.array, atoms.pbc, skin=SKIN)
    return energy_forces_stress(model, jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
                                jnp.asarray(atoms.numbers), nbrs, compute_stress=all(atoms.pbc),
                                compute_energies=energies)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_forces_and_stress_equal_finite_differences(models, name):
    atoms = crystal(MODELS[name][1])
    assert_derivatives_match_finite_differences(models[name], atoms, force_atol=1e-6,
                                                stress_atol=1e-7, skin=SKIN)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_invariances(models, name):
    """Translation, rotation (positions and cell), permutation, wrapped vs unwrapped images,
    and a 2x1x1 supercell (twice the energy, the same stress)."""
    model, element = models[name], MODELS[name][1]
    atoms = crystal(element)
    ref = evaluate(model, atoms)
    e0, f0, s0 = float(ref.energy), np.asarray(ref.forces), np.asarray(ref.stress)
    tol = 1e-10 * max(1.0, abs(e0))

    moved = atoms.copy()
    moved.positions += [0.37, -1.3, 2.2]
    moved.positions[0] += atoms.cell[1]  # an atom in another periodic image
    r = evaluate(model, moved)
    assert abs(float(r.energy) - e0) < tol
    np.testing.assert_allclose(r.forces, f0, atol=1e-9)

    rot = random_rotation(3)
    turned = atoms.copy()
    turned.set_cell(atoms.cell.array @ rot.T)
    turned.positions = atoms.positions @ rot.T
    r = evaluate(model, turned)
    assert abs(float(r.energy) - e0) < tol
    np.testing.assert_allclose(r.forces, f0 @ rot.T, atol=1e-9)
    np.testing.assert_allclose(r.stress, rot @ s0 @ rot.T, atol=1e-10)

    perm = np.random.default_rng(0).permutation(len(atoms))
    r = evaluate(model, atoms[perm])
    assert abs(float(r.energy) - e0) < tol
    np.testing.assert_allclose(r.forces, f0[perm], atol=1e-9)

    r = evaluate(model, atoms.repeat((2, 1, 1)))
    assert abs(float(r.energy) - 2 * e0) < 2 * tol
    np.testing.assert_allclose(r.stress, s0, atol=1e-10)
    np.testing.assert_allclose(np.asarray(r.forces)[:len(atoms)], f0, atol=1e-9)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_predict_over_mixed_sizes_equals_one_at_a_time(models, name):
    model, element = models[name], MODELS[name][1]
    frames = [crystal(element), primitive(element), cluster(element), crystal(element, seed=5)]
    pred = jaxpot.predict(model, frames)
    for i, atoms in enumerate(frames):
        # per-atom energies of the frames padded in the batch; the 8-atom crystals reuse
        # test_invariances' program (one compilation fewer per model)
        padded = len(atoms) < max(len(a) for a in frames)
        ref = evaluate(model, atoms, energies=padded)
        assert pred.energy[i] == pytest.approx(float(ref.energy), rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(pred.forces[i], ref.forces, rtol=0, atol=1e-12)
        if padded:
            np.testing.assert_allclose(pred.energies[i], ref.energies, rtol=0, atol=1e-12)
        if all(atoms.pbc):
            np.testing.assert_allclose(pred.stress[i], jaxpot.mechanics.stress_voigt(ref.stress),
                                       rtol=0, atol=1e-12)
        else:
            assert np.isnan(pred.stress[i]).all()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_equal_model_objects_share_compiled_code(models, name, tmp_path):
    """A second, identical object (or the model read back from its file) compiles nothing."""
    model, element = models[name], MODELS[name][1]
    atoms = crystal(element)
    nbrs = allocate_for_model(model, atoms.positions, atoms.cell.array, atoms.pbc, skin=SKIN)
    args = (jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
            jnp.asarray(atoms.numbers), nbrs)
    first = energy_forces_stress(model, *args)
    path = tmp_path / "m.jaxpot"
    jaxpot.save(model, path)
    again = MODELS[name][0]() if MODELS[name][0] is not None else jaxpot.load(path)
    with CompilationCounter() as compiled:
        second = energy_forces_stress(again, *args)
        third = energy_forces_stress(jaxpot.load(path), *args)
    assert compiled.count == 0
    for res in (second, third):
        assert np.array_equal(np.asarray(res.forces), np.asarray(first.forces))


def test_a_sum_equals_its_parts_and_each_part_sees_its_own_cutoff(models):
    sw, lj = stillinger_weber(), lennard_jones(sigma=2.1, epsilon=0.01, cutoff=6.0)
    total = models["sum"]
    atoms = crystal("Si", repeat=(2, 2, 2))
    parts = [evaluate(m, atoms) for m in (sw, lj)]
    whole = evaluate(total, atoms)
    assert float(whole.energy) == pytest.approx(sum(float(p.energy) for p in parts), rel=1e-13)
    np.testing.assert_allclose(whole.forces, parts[0].forces + parts[1].forces, atol=1e-12)
    np.testing.assert_allclose(whole.stress, parts[0].stress + parts[1].stress, atol=1e-13)
    nbrs = allocate_for_model(total, atoms.positions, atoms.cell.array, True, skin=SKIN)
    view = nbrs.within(sw.cutoff)
    assert view.cutoff == sw.cutoff and view.capacity < nbrs.capacity / 2
    assert total.part_cutoffs == (sw.cutoff, 6.0)
