"""Model files: bit-identical round trips, composition, and clear errors on corrupt files."""

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk
from lammps_reference import potentials_dir

import jaxpot.io as jio
from jaxpot.mechanics import energy_forces_stress
from jaxpot.neighbors import allocate_neighbor_list
from jaxpot.potentials import eam, lennard_jones, morse, stillinger_weber

jax.config.update("jax_enable_x64", True)


@pytest.fixture(scope="module")
def system():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.05, seed=0)
    # 7.5 Å reaches every model's cutoff (Morse's rcut2 = 7.02 Å; the energy refuses less)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, True, cutoff=7.5)
    return (jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
            jnp.asarray(atoms.numbers), nbrs)


MODELS = {
    "lj": lambda: lennard_jones(sigma=2.3, epsilon=0.4, cutoff=5.5, smooth=True),
    "morse_multi": lambda: morse(epsilon=[[0.3, 0.2], [0.2, 0.5]], r0=2.5, rho0=4.0,
                                 species=["Cu", "Ni"]),
    "stillinger_weber": stillinger_weber,
    "eam_lammps": lambda: eam(os.path.join(potentials_dir(), "AlCu.eam.alloy")),
    "eam_ase": lambda: eam(os.path.join(potentials_dir(), "Cu_u3.eam"), interpolation="ase"),
    "composed": lambda: lennard_jones(sigma=2.3, epsilon=0.4, cutoff=5.5)
    - 0.25 * morse(epsilon=0.3, r0=2.6, rho0=4.0),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_save_load_is_bit_identical(tmp_path, system, name):
    model = MODELS[name]()
    # perturb parameters as a fit would, so defaults cannot hide a lost parameter
    model = model.replace(params=jax.tree_util.tree_map(lambda x: x * 1.0123456789, model.params))
    path = tmp_path / "model.jaxpot"
    jio.save(model, path)
    loaded = jio.load(path)
    positions, cell, numbers, nbrs = system
    if model.species is not None and 29 not in model.species:  # e.g. Si-only SW: same cell, Si
        numbers = jnp.full_like(numbers, model.species[0])
    a = energy_forces_stress(model, positions, cell, numbers, nbrs)
    b = energy_forces_stress(loaded, positions, cell, numbers, nbrs)
    for x, y in zip(a[:3], b[:3]):
        assert np.array_equal(np.asarray(x), np.asarray(y))
    assert loaded.cutoff == model.cutoff and loaded.species == model.species


def test_corrupt_foreign_and_missing_files_raise_clear_errors(tmp_path):
    path = tmp_path / "m.jaxpot"
    jio.save(lennard_jones(sigma=2.0, epsilon=0.1, cutoff=5.0), path)
    raw = path.read_bytes()
    truncated = tmp_path / "truncated.jaxpot"
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(jio.ModelFileError, match="corrupt"):
        jio.load(truncated)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.arange(3))
    with pytest.raises(jio.ModelFileError, match="not a jaxpot model file"):
        jio.load(foreign)
    text = tmp_path / "text.jaxpot"
    text.write_text("hello")
    with pytest.raises(jio.ModelFileError, match="not a jaxpot model file") as refused:
        jio.load(text)
    assert "allow_pickle" not in str(refused.value)  # never advise loading a pickle
    with pytest.raises(jio.ModelFileError, match="no such model file"):
        jio.load(tmp_path / "missing.jaxpot")
    # flip bytes inside a parameter array: the checksum catches it
    data = dict(np.load(path))
    data["leaf_0"] = data["leaf_0"] + 1e-9
    tampered = tmp_path / "tampered.npz"
    np.savez(tampered, **data)
    with pytest.raises(jio.ModelFileError, match="checksum"):
        jio.load(tampered)


def test_interrupted_save_leaves_no_file(tmp_path, monkeypatch):
    path = tmp_path / "model.jaxpot"

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        jio.save(lennard_jones(), path)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_saved_file_has_the_umask_mode(tmp_path, umask):
    """A model file gets the mode open() gives a new file (0666 & ~umask), not the 0600 of
    tempfile.mkstemp, which an atomic save through mkstemp used to leave on every model."""
    old = os.umask(umask)
    try:
        jio.save(lennard_jones(), tmp_path / "model.jaxpot")
        (tmp_path / "plain").write_bytes(b"")
    finally:
        os.umask(old)
    mode = (tmp_path / "model.jaxpot").stat().st_mode & 0o777
    assert mode == 0o666 & ~umask == (tmp_path / "plain").stat().st_mode & 0o777
    assert sorted(os.listdir(tmp_path)) == ["model.jaxpot", "plain"]


def _small_lj_case(tmp_path):
    model = lennard_jones(sigma=2.0, epsilon=0.1, cutoff=5.0)
    path = tmp_path / "lj.jaxpot"
    jio.save(model, path)
    atoms = bulk("Ar", "fcc", a=3.3, cubic=True)
    atoms.rattle(0.05, seed=3)
    return model, path, atoms


def _predict(model, atoms):
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, True, cutoff=model.cutoff)
    res = energy_forces_stress(model, jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
                               jnp.asarray(atoms.numbers), nbrs)
    return np.asarray(res.energy), np.asarray(res.forces)


def test_every_flipped_byte_is_detected_or_harmless(tmp_path):
    """Flip each byte of a saved file in turn (xor 0xFF): ``load`` raises ModelFileError (and
    no other exception) or returns a model with bit-identical energy and forces."""
    model, path, atoms = _small_lj_case(tmp_path)
    raw = path.read_bytes()
    reference = _predict(model, atoms)
    damaged = tmp_path / "damaged.jaxpot"
    start, harmless = time.perf_counter(), 0
    for k in range(len(raw)):
        flipped = bytearray(raw)
        flipped[k] ^= 0xFF
        damaged.write_bytes(bytes(flipped))
        try:
            loaded = jio.load(damaged)
        except jio.ModelFileError:
            continue
        energy, forces = _predict(loaded, atoms)  # same spec: the compiled code is reused
        assert np.array_equal(energy, reference[0]) and np.array_equal(forces, reference[1]), (
            f"byte {k} of {len(raw)} flipped: load succeeded with different predictions")
        harmless += 1
    assert harmless < len(raw) // 2  # most flips must be caught, not just survived
    assert time.perf_counter() - start < 60


def _rewrite(path, out, edit_header):
    """Copy a model file with its JSON header changed by ``edit_header`` (a valid container:
    only the jaxpot checksum can notice)."""
    data = dict(np.load(path))
    header = json.loads(bytes(data["__jaxpot__"]).decode())
    edit_header(header)
    data["__jaxpot__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(out, **data)


@pytest.mark.parametrize("field", ["cutoff", "spec", "name"])
def test_checksum_covers_the_header(tmp_path, field):
    model, path, _ = _small_lj_case(tmp_path)
    edits = {"cutoff": lambda h: h.update(cutoff=4.0),
             "spec": lambda h: h["spec"]["config"].update(shift=False),
             "name": lambda h: h.update(name="morse")}
    tampered = tmp_path / "tampered.npz"
    _rewrite(path, tampered, edits[field])
    with pytest.raises(jio.ModelFileError, match="checksum"):
        jio.load(tampered)


def test_version_1_files_still_load(tmp_path):
    """Version 1 (digest over the leaves only) is read with its own rule."""
    from jaxpot.io.array_tree import digest
    model, path, atoms = _small_lj_case(tmp_path)
    old = tmp_path / "v1.npz"

    def as_version_1(header):
        leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(model.params)]
        header.update(version=1, sha256=digest(None, leaves))

    _rewrite(path, old, as_version_1)
    loaded = jio.load(old)
    for x, y in zip(_predict(model, atoms), _predict(loaded, atoms)):
        assert np.array_equal(x, y)
    _rewrite(path, old, lambda h: h.update(version=3))
    with pytest.raises(jio.ModelFileError, match="unsupported model file version 3"):
        jio.load(old)
