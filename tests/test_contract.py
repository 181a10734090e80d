"""One contract table over every registered model kind, built from the registry.

Every package of jaxpot is imported, so every model kind registers itself; the table is each
kind's own example (``register_model_kind(kind, from_spec, example=...)``,
:func:`jaxpot.model.registered_examples`: potentials, learned families, electrostatics, mlip-2
files, ensembles) plus three rows derived from the examples by rule, never by kind: a sum of
two examples at different cutoffs, a scaled example and the sum read back from a file.  A kind
without an example fails ``test_every_registered_kind_has_an_example``, so a new family cannot
skip the contract.

Each row is checked for: forces and stress = central finite differences of its own energy;
translation, rotation, permutation, periodic-image and supercell invariance; ``jaxpot.predict``
over a batch of mixed sizes (periodic and open) = one structure at a time; two calls of the
example give equal models, and a second object or the model read back from its file compiles
nothing new (counted with ``jax.monitoring``) and gives bit-identical results; a sum equals
its parts evaluated separately, each part on its own cutoff.

References: the finite differences are of the model's own energy
(``jaxpot.testing.assert_derivatives_match_finite_differences``, one neighbor list held
fixed); the invariances are exact symmetries of the energy, so they hold to round-off, except
for truncated reciprocal sums (Ewald, PME: a spec with an ``accuracy``), which hold them to
their accuracy (PME's mesh is fixed in the cell, and a batch shares the finest reciprocal grid
any of its frames needs; see ``truncation``); one structure at a time is the reference of the
batch.

Structures come from the model's species (see :func:`jaxpot.model.register_model_kind`): any
or one element, its reference crystal (ASE's ``bulk(symbol, cubic=True)``); two elements, a
rocksalt cell (neutral for charges +q, -q); each rattled, a primitive cell and an open cluster
(not for models with a reciprocal part, which need a periodic cell).
"""

import functools
import importlib
import json
import pkgutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.data import chemical_symbols, covalent_radii

import jaxpot
from jaxpot.mechanics import energy_forces_stress
from jaxpot.model import registered_examples, registered_kinds
from jaxpot.neighbors import allocate_for_model
from jaxpot.testing import (
    CompilationCounter,
    assert_derivatives_match_finite_differences,
    random_rotation,
)

jax.config.update("jax_enable_x64", True)

for _package in pkgutil.iter_modules(jaxpot.__path__, "jaxpot."):
    if _package.ispkg:  # each family registers its kinds when its package is imported
        importlib.import_module(_package.name)

EXAMPLES = registered_examples("jaxpot")
DERIVED = ("sum", "scaled", "loaded")
ROWS = (*EXAMPLES, *DERIVED)
#: kinds whose energy is not extensive by design: an uncertainty bias is a function of the
#: whole structure's sigma (UDD, Kulichenko et al. 2023; HAL), so a supercell is not twice it
NOT_EXTENSIVE = {"biased"}
SKIN = 0.3  # Å, every list of this file: the tests of one model share their compiled programs


# ------------------------------------------------------------------------------ the table
@functools.cache
def example(kind):
    """The example of ``kind``, built once (``EXAMPLES[kind]()`` builds a fresh object)."""
    return EXAMPLES[kind]()


def n_params(model) -> int:
    return sum(int(np.size(x)) for x in jax.tree_util.tree_leaves(model.params))


@functools.cache
def sum_parts() -> tuple[str, str]:
    """The two examples summed in the "sum" row: short-ranged, on the same structures, their
    cutoffs at least 1 Å apart; preferably one reading the neighbor rows and one not (a
    many-body model and a pair model), then the fewest parameters."""
    pairs = []
    for a in EXAMPLES:
        for b in EXAMPLES:
            ma, mb = example(a), example(b)
            if (a < b and structure_species(ma) == structure_species(mb)
                    and ma.reciprocal_spacing == mb.reciprocal_spacing == 0
                    and abs(ma.cutoff - mb.cutoff) >= 1.0):
                pairs.append((ma.uses_rows == mb.uses_rows, n_params(ma) + n_params(mb), a, b))
    assert pairs, "no two examples to sum: two short-ranged examples of one species are needed"
    _, _, a, b = min(pairs)
    return (a, b) if example(a).cutoff < example(b).cutoff else (b, a)


@functools.cache
def scaled_part() -> str:
    """The example scaled in the "scaled" row: the one with the fewest parameters outside the
    sum."""
    return min((n_params(example(k)), k) for k in EXAMPLES if k not in sum_parts())[1]


def build(name):
    """A fresh model of row ``name`` (the loaded row: see ``models``)."""
    if name in EXAMPLES:
        return EXAMPLES[name]()
    if name == "sum":
        short, long = sum_parts()
        return EXAMPLES[short]() + EXAMPLES[long]()
    if name == "scaled":
        return -0.5 * EXAMPLES[scaled_part()]()
    raise KeyError(name)


@pytest.fixture(scope="module")
def saved_sum(tmp_path_factory):
    path = tmp_path_factory.mktemp("contract") / "sum.jaxpot"
    jaxpot.save(build("sum"), path)
    return path


@pytest.fixture(scope="module")
def models(saved_sum):
    """Row name -> model, each built on first use."""
    class Rows(dict):
        def __missing__(self, name):
            self[name] = (jaxpot.load(saved_sum) if name == "loaded"
                          else example(name) if name in EXAMPLES else build(name))
            return self[name]
    return Rows()


def tolerances(model, energy, forces, stress, exact):
    """Absolute tolerances (energy, forces, stress) of a comparison that is exact for an exact
    model (``exact``, round-off): for truncated sums, ``truncation(model)`` relative to the
    energy and, x10, to the largest force and stress component."""
    cut = truncation(model)
    scales = (abs(energy), 10 * max(1.0, np.abs(forces).max()),
              10 * max(1.0, np.abs(stress).max()))
    return tuple(max(e, cut * s) for e, s in zip(exact, scales))


def truncation(model) -> float:
    """Relative accuracy of the model's truncated sums: the largest ``accuracy`` in its spec
    tree (Ewald, PME, through sums, scaling and ensembles), 0 for exact models.  Translation
    (PME's mesh is fixed in the cell) and a supercell (whose reciprocal sums keep other terms)
    change such a model's energy by about this much, not by round-off."""
    def walk(node) -> float:
        if isinstance(node, dict):
            own = node.get("accuracy")
            return max([float(own or 0.0), *(walk(v) for v in node.values())])
        if isinstance(node, list):
            return max([0.0, *(walk(v) for v in node)])
        return 0.0
    return walk(json.loads(model.spec))


# ------------------------------------------------------------------------------ structures
def structure_species(model) -> tuple[int, ...]:
    """The elements the structures of ``model`` hold: its species by Z, silicon for any."""
    species = tuple(sorted(model.species)) if model.species else (14,)
    if len(species) > 2:
        raise ValueError(f"{model.name}: a contract example uses one or two species, got "
                         f"{species}")
    return species


def _rocksalt_a(species) -> float:
    """Rocksalt lattice constant: nearest neighbours at the sum of the covalent radii."""
    return 2.0 * float(covalent_radii[species[0]] + covalent_radii[species[1]])


@functools.cache
def _crystal(species, seed):
    if len(species) == 1:
        atoms = bulk(chemical_symbols[species[0]], cubic=True)
        reps = [1, 1, 1]
        while len(atoms) * np.prod(reps) < 8:  # 8 atoms or more (fcc: 2x1x1)
            reps[int(np.argmin(reps))] += 1
        atoms = atoms.repeat(reps)
    else:
        atoms = bulk("".join(chemical_symbols[z] for z in species), "rocksalt",
                     a=_rocksalt_a(species), cubic=True)
    atoms.rattle(0.04, seed=seed)
    return atoms


def crystal(species, seed=0) -> Atoms:
    """Rattled cubic cell of 8 atoms."""
    return _crystal(species, seed).copy()


def primitive(species, seed=1) -> Atoms:
    if len(species) == 1:
        atoms = bulk(chemical_symbols[species[0]])
    else:
        atoms = bulk("".join(chemical_symbols[z] for z in species), "rocksalt",
                     a=_rocksalt_a(species))
    atoms.rattle(0.03, seed=seed)
    return atoms


def cluster(species) -> Atoms:
    """Open cluster at the crystal's nearest-neighbour distance: 5 atoms of one element, or
    6 atoms, 3 of each of two elements, as in rocksalt."""
    d = nearest_distance(species)
    grid = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0.13], [1, 0, 1]])
    if len(species) == 1:
        return Atoms(numbers=[species[0]] * 5, positions=d * grid[:5] + 0.02)
    numbers = [species[int(s) % 2] for s in np.round(grid.sum(axis=1))]
    return Atoms(numbers=numbers, positions=d * grid + 0.02)


@functools.cache
def nearest_distance(species) -> float:
    if len(species) == 2:
        return _rocksalt_a(species) / 2
    atoms = bulk(chemical_symbols[species[0]], cubic=True)
    d = atoms.get_all_distances(mic=True)
    return float(d[d > 1e-8].min())


def frames_for(model) -> list:
    """The mixed batch of ``predict``: two crystals, a primitive cell and (for models that
    take open boundaries) a cluster."""
    species = structure_species(model)
    frames = [crystal(species), primitive(species), crystal(species, seed=5)]
    if model.reciprocal_spacing == 0:
        frames.insert(2, cluster(species))
    return frames


def evaluate(model, atoms, energies=False):
    """Energy, forces, stress (and with ``energies`` the atomic energies) of ``atoms``: one
    compiled program per model, size and flags, shared by the tests below."""
    nbrs = allocate_for_model(model, atoms.positions, atoms.cell.array, atoms.pbc, skin=SKIN)
    return energy_forces_stress(model, jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
                                jnp.asarray(atoms.numbers), nbrs, compute_stress=all(atoms.pbc),
                                compute_energies=energies)


# ------------------------------------------------------------------------------ the checks
def test_every_registered_kind_has_an_example():
    """A kind registered without an example would have no row: every kind of jaxpot has one,
    and each builds a model of its own kind."""
    assert registered_kinds("jaxpot") == tuple(EXAMPLES), (
        "model kinds without an example (register_model_kind(kind, from_spec, example=...)): "
        f"{sorted(set(registered_kinds('jaxpot')) - set(EXAMPLES))}")
    for kind in EXAMPLES:
        assert example(kind).kind == kind


@pytest.mark.parametrize("name", ROWS)
def test_forces_and_stress_equal_finite_differences(models, name):
    atoms = crystal(structure_species(models[name]))
    assert_derivatives_match_finite_differences(models[name], atoms, force_atol=1e-6,
                                                stress_atol=1e-7, skin=SKIN)


@pytest.mark.parametrize("name", ROWS)
def test_invariances(models, name):
    """Translation, rotation (positions and cell), permutation, wrapped vs unwrapped images,
    and a 2x1x1 supercell (twice the energy, the same stress)."""
    model = models[name]
    atoms = crystal(structure_species(model))
    ref = evaluate(model, atoms)
    e0, f0, s0 = float(ref.energy), np.asarray(ref.forces), np.asarray(ref.stress)
    exact = 1e-10 * max(1.0, abs(e0))
    tol, f_tol, s_tol = tolerances(model, e0, f0, s0, (exact, 1e-9, 1e-10))

    moved = atoms.copy()
    moved.positions += [0.37, -1.3, 2.2]
    moved.positions[0] += atoms.cell[1]  # an atom in another periodic image
    r = evaluate(model, moved)
    assert abs(float(r.energy) - e0) < tol
    np.testing.assert_allclose(r.forces, f0, atol=f_tol)

    rot = random_rotation(3)
    turned = atoms.copy()
    turned.set_cell(atoms.cell.array @ rot.T)
    turned.positions = atoms.positions @ rot.T
    r = evaluate(model, turned)
    assert abs(float(r.energy) - e0) < exact
    np.testing.assert_allclose(r.forces, f0 @ rot.T, atol=1e-9)
    np.testing.assert_allclose(r.stress, rot @ s0 @ rot.T, atol=1e-10)

    perm = np.random.default_rng(0).permutation(len(atoms))
    r = evaluate(model, atoms[perm])
    assert abs(float(r.energy) - e0) < exact
    np.testing.assert_allclose(r.forces, f0[perm], atol=1e-9)

    if name in NOT_EXTENSIVE:
        return
    r = evaluate(model, atoms.repeat((2, 1, 1)))
    assert abs(float(r.energy) - 2 * e0) < 2 * tol
    np.testing.assert_allclose(r.stress, s0, atol=s_tol)
    np.testing.assert_allclose(np.asarray(r.forces)[:len(atoms)], f0, atol=f_tol)


@pytest.mark.parametrize("name", ROWS)
def test_predict_over_mixed_sizes_equals_one_at_a_time(models, name):
    model = models[name]
    frames = frames_for(model)
    pred = jaxpot.predict(model, frames)
    for i, atoms in enumerate(frames):
        # per-atom energies of the frames padded in the batch; the 8-atom crystals reuse
        # test_invariances' program (one compilation fewer per model)
        padded = len(atoms) < max(len(a) for a in frames) \
            and model.atomic_energies_fn is not None
        ref = evaluate(model, atoms, energies=padded)
        # a truncated sum's batch shares one reciprocal grid, the finest any frame needs:
        # equal to the model's accuracy (PME's mesh differs), else to round-off
        e, f, s = float(ref.energy), np.asarray(ref.forces), np.asarray(ref.stress)
        tol, f_tol, s_tol = tolerances(model, e, f, s, (1e-12 * max(1.0, abs(e)), 1e-12, 1e-12))
        assert abs(pred.energy[i] - e) <= tol
        np.testing.assert_allclose(pred.forces[i], f, rtol=0, atol=f_tol)
        if padded:
            np.testing.assert_allclose(pred.energies[i], ref.energies, rtol=0,
                                       atol=max(1e-12, tol))
        if all(atoms.pbc):
            np.testing.assert_allclose(pred.stress[i], jaxpot.mechanics.stress_voigt(ref.stress),
                                       rtol=0, atol=s_tol)
        else:
            assert np.isnan(pred.stress[i]).all()


@pytest.mark.parametrize("name", ROWS)
def test_equal_model_objects_share_compiled_code(models, name, tmp_path):
    """A second, identical object (or the model read back from its file) is equal, compiles
    nothing and gives bit-identical results."""
    model = models[name]
    atoms = crystal(structure_species(model))
    nbrs = allocate_for_model(model, atoms.positions, atoms.cell.array, atoms.pbc, skin=SKIN)
    args = (jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
            jnp.asarray(atoms.numbers), nbrs)
    first = energy_forces_stress(model, *args)
    path = tmp_path / "m.jaxpot"
    jaxpot.save(model, path)
    again = jaxpot.load(path) if name == "loaded" else build(name)
    loaded = jaxpot.load(path)
    assert again == model and loaded == model
    with CompilationCounter() as compiled:
        second = energy_forces_stress(again, *args)
        third = energy_forces_stress(loaded, *args)
    assert compiled.count == 0
    for res in (second, third):
        assert np.array_equal(np.asarray(res.energy), np.asarray(first.energy))
        assert np.array_equal(np.asarray(res.forces), np.asarray(first.forces))
        assert np.array_equal(np.asarray(res.stress), np.asarray(first.stress))


def test_a_sum_equals_its_parts_and_each_part_sees_its_own_cutoff(models):
    short, long = (example(k) for k in sum_parts())
    total = models["sum"]
    atoms = crystal(structure_species(total)).repeat((2, 1, 1))  # test_invariances' supercell
    parts = [evaluate(m, atoms) for m in (short, long)]
    whole = evaluate(total, atoms)
    assert float(whole.energy) == pytest.approx(sum(float(p.energy) for p in parts), rel=1e-13)
    np.testing.assert_allclose(whole.forces, parts[0].forces + parts[1].forces, atol=1e-12)
    np.testing.assert_allclose(whole.stress, parts[0].stress + parts[1].stress, atol=1e-13)
    nbrs = allocate_for_model(total, atoms.positions, atoms.cell.array, True, skin=SKIN)
    view = nbrs.within(short.cutoff)
    assert view.cutoff == short.cutoff and view.capacity < nbrs.capacity
    assert total.part_cutoffs == (short.cutoff, long.cutoff)


@pytest.mark.parametrize("name", ROWS)
def test_print_shows_kind_species_cutoff_and_parameter_count_not_arrays(models, name):
    """``print(model)`` (issue 70): a few lines with the kind, species, cutoff and the
    parameter count (= the size of the params pytree), never the arrays."""
    model = models[name]
    text = repr(model)
    assert str(model) == text and text.startswith(f"EnergyModel {model.name}: {model.kind}")
    assert "Array(" not in text and "array(" not in text and len(text.splitlines()) <= 10
    assert f"{n_params(model):,} parameters" in text
    assert f"cutoff {model.cutoff:.6g} Å" in text
    species = "any" if model.species is None else chemical_symbols[model.species[0]]
    assert f"species {species}" in text
    if model.kind == "sum":
        assert text.count("\n  + ") == len(json.loads(model.spec)["children"])
