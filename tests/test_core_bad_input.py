"""Bad input to the core gets a clear error or warning naming the problem, never a number."""

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase import Atoms
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
    from jaxpot.interop.jax_md import from_jax_md
    import jax_md
    plain = from_jax_md(lambda d: jax_md.energy.soft_sphere_pair(d), cutoff=1.0)
    assert "energies" not in jaxpot.JaxpotCalculator(plain).implemented_properties
    assert "energies" in jaxpot.JaxpotCalculator(stillinger_weber()).implemented_properties


def test_registry_rebuilds_models_and_refuses_unknown_kinds(tmp_path):
    from jaxpot.model import model_from_spec, registered_kinds
    assert {"lennard_jones", "morse", "eam", "stillinger_weber", "tersoff"} <= set(
        registered_kinds())
    with pytest.raises(KeyError, match="unknown model kind 'nonsense'"):
        model_from_spec({"kind": "nonsense", "config": {}})
