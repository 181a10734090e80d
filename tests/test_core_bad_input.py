"""Bad input to the core gets a clear error or warning naming the problem, never a number."""

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase import Atoms
from ase import units as ase_units
from ase.build import bulk

import jaxpot
from jaxpot.mechanics import energy_forces_stress
from jaxpot.neighbors import allocate_neighbor_list
from jaxpot.potentials import lennard_jones, stillinger_weber
from jaxpot.structure import StructureError

jax.config.update("jax_enable_x64", True)


def test_low_level_path_rejects_unknown_species():
    atoms = bulk("Si", "diamond", a=5.43)
    model = stillinger_weber()
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, True, cutoff=model.cutoff)
    numbers = jnp.asarray([14, 32])
    with pytest.raises(StructureError, match=r"unknown species Ge \(Z=32\)"):
        energy_forces_stress(model, jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
                             numbers, nbrs)


def test_neighbor_list_shorter_than_the_cutoff_is_refused_also_inside_jit():
    atoms = bulk("Si", "diamond", a=5.43)
    model = stillinger_weber()
    short = allocate_neighbor_list(atoms.positions, atoms.cell.array, True, cutoff=3.0)
    args = (jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
            jnp.asarray(atoms.numbers), short)
    with pytest.raises(ValueError, match=r"neighbor list cutoff 3 Å is shorter than the cutoff"):
        energy_forces_stress(model, *args)
    with pytest.raises(ValueError, match="shorter than the cutoff"):
        jax.jit(model.energy)(*args)


def test_open_cluster_with_a_far_atom_allocates_small():
    """The cell-list grid of an open box must not follow a far-away atom into GBs of bins."""
    rng = np.random.default_rng(0)
    pos = rng.uniform(0, 20, (400, 3))
    pos[-1] = [5e4, 0, 0]
    start = time.perf_counter()
    nbrs = allocate_neighbor_list(pos, np.zeros((3, 3)), False, cutoff=3.0, method="cell_list")
    assert time.perf_counter() - start < 60
    assert np.prod(nbrs.grid) <= 8 * len(pos)
    i, j, _ = nbrs.to_numpy_pairs()
    d = np.linalg.norm(pos[j] - pos[i], axis=1)
    full = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    assert len(i) == int(np.sum((full < 3.0) & (full > 0))) and d.max() < 3.0


def test_predict_names_the_bad_frame():
    frames = [bulk("Si", "diamond", a=5.43), bulk("Ge", "diamond", a=5.65)]
    with pytest.raises(StructureError, match=r"frames\[1\]: unknown species Ge"):
        jaxpot.predict(stillinger_weber(), frames)
    bad = Atoms("Si2", positions=[[0, 0, 0], [np.nan, 0, 0]], cell=[5, 5, 5], pbc=True)
    with pytest.raises(StructureError, match=r"frames\[0\]: positions of atoms \[1\]"):
        jaxpot.predict(lennard_jones(cutoff=3.0), [bad])
    with pytest.raises(ValueError, match="no frames"):
        jaxpot.predict(stillinger_weber(), [])


def test_calculator_properties_reflect_the_model():
    import jax_md

    from jaxpot.interop.jax_md import from_jax_md
    plain = from_jax_md(lambda d: jax_md.energy.soft_sphere_pair(d), cutoff=1.0)
    assert "energies" not in jaxpot.JaxpotCalculator(plain).implemented_properties
    assert "energies" in jaxpot.JaxpotCalculator(stillinger_weber()).implemented_properties


def test_registry_rebuilds_models_and_refuses_unknown_kinds(tmp_path):
    from jaxpot.model import model_from_spec, registered_kinds
    assert {"lennard_jones", "morse", "eam", "stillinger_weber", "tersoff"} <= set(
        registered_kinds())
    with pytest.raises(KeyError, match="unknown model kind 'nonsense'"):
        model_from_spec({"kind": "nonsense", "config": {}})


def _labelled_si(stress_gpa=None, energy_key=None):
    """A rattled SW-labelled Si cell; ``stress_gpa``: store that stress (GPa numbers) in the
    file as if they were eV/Å^3, the unit mistake issue 67 found."""
    from ase.calculators.singlepoint import SinglePointCalculator
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.05, seed=1)
    atoms.calc = jaxpot.JaxpotCalculator(stillinger_weber())
    e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    if stress_gpa is not None:
        s = s / ase_units.GPa  # the numbers of GPa, read as eV/Å^3
    atoms.calc = SinglePointCalculator(atoms, energy=e, forces=f, stress=s)
    if energy_key:
        atoms.info[energy_key] = e
    return atoms


def test_species_given_as_a_string_or_an_unknown_symbol_is_named():
    """species="Si" is one species (not "S" and "i"); "Xx" and 0 are named, not KeyErrors."""
    assert lennard_jones(sigma=2.0, epsilon=0.01, cutoff=4.0, species="Si").species == (14,)
    with pytest.raises(ValueError, match="unknown element symbol 'Xx'"):
        lennard_jones(sigma=2.0, epsilon=0.01, cutoff=4.0, species=["Si", "Xx"])
    with pytest.raises(ValueError, match="outside 1..118"):
        lennard_jones(sigma=2.0, epsilon=0.01, cutoff=4.0, species=[0])


def test_frames_given_as_paths_are_named(tmp_path):
    """predict(model, ["a.xyz"]) says to read the file, instead of "'str' object has no
    attribute 'info'"."""
    from jaxpot.evaluation import evaluate
    from jaxpot.training.labels import read_labels_checked
    model = stillinger_weber()
    for call in (lambda f: jaxpot.predict(model, f), lambda f: evaluate(model, f),
                 lambda f: read_labels_checked(f)):
        with pytest.raises(TypeError, match=r"\[0\] is str 'a.xyz'.*ase.io.read"):
            call(["a.xyz"])
        with pytest.raises(TypeError, match="read a file with ase.io.read"):
            call("a.xyz")


def test_stress_labels_in_gpa_are_refused_naming_the_configuration():
    """A file whose stresses are GPa numbers (ASE expects eV/Å^3): 160x too large, refused as
    a unit mistake naming the frame, by the evaluation and by every trainer's label reader."""
    from jaxpot.evaluation import evaluate
    from jaxpot.training.labels import LabelError, read_labels_checked
    atoms = _labelled_si(stress_gpa=True)
    atoms.calc.results["stress"][0] = 2000.0  # 2000 "eV/Å^3": GPa numbers of a compressed cell
    good = _labelled_si()
    for call in (lambda f: evaluate(stillinger_weber(), f, source="test.xyz"),
                 lambda f: read_labels_checked(f, source="test.xyz")):
        with pytest.raises(LabelError, match=r"test.xyz\[1\].*GPa.*ase.units.GPa"):
            call([good, atoms])
    assert np.isfinite(evaluate(stillinger_weber(), [good]).overall.stress_rmse)


def test_label_names_that_match_nothing_are_refused():
    """names={"energy": "dft_energy"} on frames without that key: refused, not a silent
    fall-back to the calculator's energy; with the key present it is read."""
    from jaxpot.evaluation import evaluate
    from jaxpot.training.labels import LabelError, read_labels_checked
    frames = [_labelled_si()]
    for call in (lambda n: evaluate(stillinger_weber(), frames, names=n),
                 lambda n: read_labels_checked(frames, n)):
        with pytest.raises(LabelError, match="'dft_energy' matches nothing"):
            call({"energy": "dft_energy"})
    tagged = [_labelled_si(energy_key="dft_energy")]
    tagged[0].info["dft_energy"] += 1.0
    labels = read_labels_checked(tagged, {"energy": "dft_energy"})
    assert labels[0].energy == pytest.approx(tagged[0].get_potential_energy() + 1.0)


def test_strings_where_numbers_belong_are_named(tmp_path, capsys):
    """"3.4" for a length, "1.0" for a time step, "10" for a step count: named (a string),
    not converted silently nor reported as a NumPy ufunc error."""
    from jaxpot import md
    from jaxpot.cli import main
    with pytest.raises(ValueError, match="sigma must be a number"):
        lennard_jones(sigma="3.4", epsilon=0.01, cutoff=6.0)
    with pytest.raises(ValueError, match="cutoff must be positive and finite"):
        lennard_jones(sigma=3.4, epsilon=0.01, cutoff="6.0")
    with pytest.raises(ValueError, match="timestep must be a positive finite number.*"
                                         "a string: write numbers without quotes"):
        md.nve(stillinger_weber(), "1.0")
    with pytest.raises(ValueError, match="steps must be an integer >= 0, got '10'"):
        md.run(md.nve(stillinger_weber(), 1.0), bulk("Si", "diamond", a=5.43), "10")
    (tmp_path / "random.bin").write_bytes(bytes(range(256)) * 2)
    assert main(["relax", str(tmp_path / "random.bin")]) == 2
    err = capsys.readouterr().err
    assert "random.bin: cannot be read as a structure file" in err and "unexpected" not in err


def test_wrong_objects_and_missing_folders_are_named(tmp_path):
    """md.nve("sw") and a model saved into a folder that does not exist: named, not an
    integrator of a string or an error about a hidden temporary file."""
    from jaxpot import md
    with pytest.raises(TypeError, match="md.nve needs a jaxpot EnergyModel, got str"):
        md.nve("sw", 1.0)
    with pytest.raises(TypeError, match="md.npt needs a jaxpot EnergyModel"):
        md.npt(None, 1.0, 300.0)
    with pytest.raises(jaxpot.ModelFileError, match="the folder .*nope does not exist"):
        jaxpot.save(stillinger_weber(), tmp_path / "nope" / "sw.jaxpot")
