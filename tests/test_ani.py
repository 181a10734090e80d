"""ANI atomic environment vectors against torchani 2.9 ``AEVComputer`` (float64 buffers),
element by element, with position gradients against torch autograd of torchani's AEVs and
against central finite differences; invariances; input errors."""

import os

os.environ.setdefault("TORCHANI_NO_WARN_EXTENSIONS", "1")  # no CUDA extensions: expected

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torchani
from ase import Atoms
from ase.build import molecule

from jaxpot.descriptors import ani1x_parameters, ani_aev
from jaxpot.model import species_indices, species_lookup
from jaxpot.neighbors import allocate_neighbor_list, neighbor_vectors
from jaxpot.testing import random_rotation

jax.config.update("jax_enable_x64", True)

ELEMENTS = ["H", "C", "N", "O"]  # ANI-1x element order


@pytest.fixture(scope="module")
def reference():
    """torchani's ANI-1x AEV computer in float64 and jaxpot's descriptor with its (float32-
    rounded) buffers, so both see bitwise identical hyperparameters."""
    comp = torchani.AEVComputer.like_1x(num_species=4).double()
    params = {"r_cut_radial": comp.radial.cutoff, "r_cut_angular": comp.angular.cutoff,
              "eta_radial": float(comp.radial.eta[0]),
              "shifts_radial": comp.radial.shifts.numpy(),
              "eta_angular": float(comp.angular.eta[0]), "zeta": float(comp.angular.zeta[0]),
              "shifts_angular": comp.angular.shifts.numpy(),
              "sections": comp.angular.sections.numpy()}
    return comp, ani_aev(ELEMENTS, **params)


def torchani_aev(comp, atoms, requires_grad=False):
    species = torch.tensor([[ELEMENTS.index(s) for s in atoms.get_chemical_symbols()]])
    coords = torch.tensor(atoms.positions)[None].requires_grad_(requires_grad)
    if atoms.pbc.any():
        out = comp(species, coords, cell=torch.tensor(atoms.cell.array),
                   pbc=torch.tensor([True] * 3))
    else:
        out = comp(species, coords)
    return out[0], coords


def periodic_cell():
    rng = np.random.default_rng(0)
    return Atoms(rng.choice(["H", "C", "O"], 12), positions=rng.uniform(0, 6.0, (12, 3)),
                 cell=[[6.2, 0, 0], [0.3, 6.0, 0], [0.1, -0.2, 5.9]], pbc=True)


@pytest.mark.parametrize("make", [lambda: molecule("CH3CH2OH"), periodic_cell],
                         ids=["ethanol", "periodic_triclinic"])
def test_equals_torchani_element_by_element(reference, make):
    """Reference: torchani ``AEVComputer.like_1x`` (pyaev), open and periodic (triclinic)."""
    comp, desc = reference
    atoms = make()
    ref = torchani_aev(comp, atoms)[0].detach().numpy()
    ours = desc(atoms)
    assert ours.shape == ref.shape == (len(atoms), desc.n_features)
    assert np.abs(ref[:, 64:]).max() > 0.1  # angular terms are exercised
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12 * np.abs(ref).max())


def test_angular_view_and_atom_blocks_equal_torchani(reference, monkeypatch):
    """A list with a view at r_cut_angular (rows sorted by distance) confines the angular sum
    to the view's slots; several atom batches and a remainder give the same AEVs.  Reference:
    torchani ``AEVComputer.like_1x``."""
    from jaxpot.descriptors import ani
    comp, desc = reference
    atoms = periodic_cell()
    ref = torchani_aev(comp, atoms)[0].detach().numpy()
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, True,
                                  cutoff=desc.r_cut_radial, skin=0.5,
                                  view_cutoffs=(desc.r_cut_angular,))
    k = ani.angular_slots(nbrs, desc.r_cut_angular)
    assert k is not None and k < nbrs.capacity  # the angular sum skips slots
    args = (jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
            jnp.asarray(atoms.numbers))
    vectors, mask = neighbor_vectors(*args[:2], nbrs)
    inside = np.asarray(mask & (jnp.linalg.norm(vectors, axis=-1) < desc.r_cut_angular))
    last = int(np.nonzero(inside.any(0))[0].max())  # the last slot an angular term needs
    assert last < k
    # 12 centres in batches of 5: two batches and a remainder of 2
    monkeypatch.setattr(ani, "_TRIPLETS_PER_BLOCK", 5 * k * (k - 1) // 2)
    ours = ani.ani_features(desc, *args, nbrs)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    _, nb_index = species_indices(species_lookup(desc.species), args[2], nbrs)
    short = ani.ani_features_from_vectors(desc, vectors, mask, nb_index, angular_slots=last)
    assert np.abs(short - ref).max() > 1e-6  # one slot fewer loses angular terms


def test_position_gradients_match_torch_autograd_and_finite_differences(reference):
    """Reference: torch autograd of torchani's AEVs (vector-Jacobian product with a random
    weight), and central differences of jaxpot's AEVs."""
    comp, desc = reference
    atoms = molecule("CH3OH")
    weights = np.random.default_rng(1).normal(size=(len(atoms), desc.n_features))
    aev, coords = torchani_aev(comp, atoms, requires_grad=True)
    (aev * torch.tensor(weights)).sum().backward()
    ref = coords.grad[0].numpy()

    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, False,
                                  cutoff=desc.neighbor_cutoff, skin=0.5)
    cell, z = jnp.asarray(atoms.cell.array), jnp.asarray(atoms.numbers)

    def weighted(p):
        return jnp.sum(desc.features(p, cell, z, nbrs) * weights)

    grad = np.asarray(jax.jit(jax.grad(weighted))(jnp.asarray(atoms.positions)))
    np.testing.assert_allclose(grad, ref, rtol=0, atol=1e-10 * np.abs(ref).max())
    f, h = jax.jit(weighted), 1e-5
    for i, a in [(0, 0), (3, 2)]:
        p = np.array(atoms.positions)
        p[i, a] += h
        plus = float(f(jnp.asarray(p)))
        p[i, a] -= 2 * h
        fd = (plus - float(f(jnp.asarray(p)))) / (2 * h)
        assert abs(grad[i, a] - fd) < 1e-6 * max(1.0, abs(fd))


def test_invariances(reference):
    """Rotation, translation, permutation (and the periodic image choice of each atom)."""
    _, desc = reference
    atoms = periodic_cell()
    base = desc(atoms)
    moved = atoms.copy()
    rot = random_rotation(3)
    moved.set_cell(atoms.cell.array @ rot.T)
    moved.positions = atoms.positions @ rot.T + [1.0, -2.0, 0.5]
    moved.positions[0] += moved.cell.array[1]  # another image of atom 0
    np.testing.assert_allclose(desc(moved), base, atol=1e-12 * np.abs(base).max())
    perm = np.random.default_rng(2).permutation(len(atoms))
    np.testing.assert_allclose(desc(atoms[perm]), base[perm], atol=1e-12 * np.abs(base).max())


def test_defaults_are_ani1x_and_bad_input_raises(reference):
    _, desc = reference
    default = ani_aev(ELEMENTS)
    assert default.n_features == desc.n_features == 384
    np.testing.assert_allclose(default.sections, desc.sections, atol=1e-6)  # float32 rounding
    assert ani1x_parameters()["r_cut_radial"] == 5.2
    with pytest.raises(ValueError, match="r_cut_angular < r_cut_radial"):
        ani_aev(ELEMENTS, r_cut_radial=3.0, r_cut_angular=3.5)
    with pytest.raises(ValueError, match="shifts_radial"):
        ani_aev(ELEMENTS, shifts_radial=[])
    with pytest.raises(ValueError, match="distinct"):
        ani_aev(["H", "H"])
    with pytest.raises(ValueError, match="unknown species"):
        default(molecule("SiH4"))
