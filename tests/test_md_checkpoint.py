"""MD checkpoints and trajectories as a careless or hostile user meets them: a checkpoint is a
plain array file that cannot run code, resumes only the run that wrote it, is refused when it
holds more steps than asked for or is corrupt, and no run destroys an existing file."""

import importlib
import json
import pathlib
import pickle

import ase.io
import numpy as np
import pytest
from ase.build import bulk

from jaxpot import md
from jaxpot.io.array_tree import read_arrays, write_arrays
from jaxpot.io.paths import OutputOverwritesInputError
from jaxpot.potentials import lennard_jones
from jaxpot.testing import CompilationCounter

LJ = lennard_jones(sigma=3.4, epsilon=0.0104, cutoff=7.0, smooth=True)
KWARGS = dict(temperature=100.0, log_interval=10, chunk=20, seed=3)


def argon():
    atoms = bulk("Ar", "fcc", a=5.3, cubic=True).repeat(2)  # 32 atoms, as test_md_run
    atoms.rattle(0.03, seed=1)
    return atoms


def langevin():
    return md.langevin(LJ, 5.0, 100.0, 0.02)


class _RunsCode:
    """Unpickling this calls ``pathlib.Path.touch(marker)``: a stand-in for any command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_a_crafted_pickle_checkpoint_runs_nothing_and_is_kept(tmp_path):
    """An old-format (pickled) checkpoint, here one whose loading would create a file, is
    refused unopened: MDError naming the file and the format, nothing executed, the file's
    bytes unchanged; an .npz hiding a pickled object array is refused the same way."""
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_RunsCode(control)))
    assert control.exists()  # the payload is live: unpickling it does run code

    marker = tmp_path / "pwned"
    ckpt = tmp_path / "run.ckpt"
    ckpt.write_bytes(pickle.dumps({"version": 1, "state": _RunsCode(marker)}))
    before = ckpt.read_bytes()
    with CompilationCounter() as compiled, \
            pytest.raises(md.MDError, match=r"run\.ckpt.*old \(pickled.*could run code"):
        md.run(langevin(), argon(), 40, checkpoint=ckpt, **KWARGS)
    assert compiled.count == 0
    assert not marker.exists() and ckpt.read_bytes() == before

    with open(tmp_path / "evil.npz", "wb") as f:
        np.savez(f, __header__=np.array([_RunsCode(marker)], dtype=object))
    with pytest.raises(md.MDError, match=r"evil\.npz cannot be read.*delete it"):
        md.run(langevin(), argon(), 40, checkpoint=tmp_path / "evil.npz", **KWARGS)
    assert not marker.exists()


def test_another_runs_checkpoint_is_refused_naming_what_differs(tmp_path):
    """Same composition, other cell (or log_interval, temperature, integrator): the
    checkpoint is refused, naming the difference, before compiling; the file unchanged."""
    ckpt = tmp_path / "run.ckpt"
    md.run(langevin(), argon(), 20, checkpoint=ckpt, **KWARGS)
    before = ckpt.read_bytes()
    other_cell = argon()
    other_cell.set_cell(other_cell.cell.array * 1.02, scale_atoms=False)
    cases = [
        (dict(atoms=other_cell), r"another structure \(cell differs\)"),
        (dict(log_interval=20), r"log_interval 10 in the checkpoint, 20 in this call"),
        (dict(temperature=300.0), r"other momenta"),
        (dict(integrator=md.langevin(LJ, 5.0, 300.0, 0.02)), r"different integrator or model"),
        (dict(atoms=argon().repeat((2, 1, 1))), r"n_atoms 32 there, 64 in this call"),
    ]
    for change, message in cases:
        call = {"integrator": langevin(), "atoms": argon(), **KWARGS, **change}
        with pytest.raises(md.MDError, match=r"run\.ckpt was written by a different run, .*"
                           + message + r".*delete the checkpoint or pass another"):
            md.run(call.pop("integrator"), call.pop("atoms"), 40, checkpoint=ckpt, **call)
        assert ckpt.read_bytes() == before


def test_fewer_steps_than_the_checkpoint_holds_is_refused(tmp_path):
    ckpt = tmp_path / "run.ckpt"
    done = md.run(langevin(), argon(), 40, checkpoint=ckpt, **KWARGS)
    with pytest.raises(md.MDError, match=r"holds 40 steps, more than the steps=20 asked for"):
        md.run(langevin(), argon(), 20, checkpoint=ckpt, **KWARGS)
    again = md.run(langevin(), argon(), 40, checkpoint=ckpt, **KWARGS)  # equal: its final state
    np.testing.assert_array_equal(again.atoms.positions, done.atoms.positions)


def test_checkpoint_round_trip_equals_one_uninterrupted_run(tmp_path, monkeypatch):
    """Two chunks with a checkpoint, then the same call to more steps: positions, momenta, RNG
    key and every log column equal one uninterrupted run bit for bit.  The checkpoint is a
    plain .npz (no pickle).  A run stopped before its first chunk ended (after the start
    checkpoint and the first frame) is resumed by the same call, its trajectory not refused."""
    full = md.run(langevin(), argon(), 80, **KWARGS)
    ckpt, traj = tmp_path / "run.ckpt", tmp_path / "run.extxyz"
    md.run(langevin(), argon(), 40, checkpoint=ckpt, trajectory=traj, **KWARGS)
    header, _ = read_arrays(ckpt)
    assert (header["format"], header["version"], header["step"]) == \
        ("jaxpot-md-checkpoint", 2, 40)
    assert {leaf["path"] for leaf in header["leaves"]} >= {
        "state.positions", "state.key", "neighbors.idx", "log.temperature"}
    resumed = md.run(langevin(), argon(), 80, checkpoint=ckpt, trajectory=traj, **KWARGS)
    for name in ("positions", "momenta", "forces", "key", "step"):
        np.testing.assert_array_equal(np.asarray(getattr(resumed.state, name)),
                                      np.asarray(getattr(full.state, name)))
    for name, column in full.log.as_dict().items():
        np.testing.assert_array_equal(resumed.log[name], column)
    assert len(ase.io.read(traj, ":")) == 9

    run_module = importlib.import_module("jaxpot.md.run")  # jaxpot.md.run is the function

    def killed(*args, **kwargs):
        raise KeyboardInterrupt
    ckpt2, traj2 = tmp_path / "b.ckpt", tmp_path / "b.extxyz"
    with monkeypatch.context() as m:
        m.setattr(run_module, "run_chunk", killed)
        with pytest.raises(KeyboardInterrupt):
            md.run(langevin(), argon(), 80, checkpoint=ckpt2, trajectory=traj2, **KWARGS)
    assert ckpt2.exists() and len(ase.io.read(traj2, ":")) == 1
    again = md.run(langevin(), argon(), 80, checkpoint=ckpt2, trajectory=traj2, **KWARGS)
    np.testing.assert_array_equal(again.atoms.positions, full.atoms.positions)
    np.testing.assert_array_equal(again.log.total_energy, full.log.total_energy)
    assert len(ase.io.read(traj2, ":")) == 9


def test_corrupt_truncated_or_foreign_checkpoints_are_refused(tmp_path):
    ckpt = tmp_path / "run.ckpt"
    md.run(langevin(), argon(), 20, checkpoint=ckpt, **KWARGS)
    good = ckpt.read_bytes()
    header, arrays = read_arrays(ckpt)
    leaves = [(leaf["path"], a) for leaf, a in zip(header["leaves"], arrays)]
    meta = {k: v for k, v in header.items() if k not in ("leaves", "sha256")}

    def refused(data: bytes, message: str):
        ckpt.write_bytes(data)
        with pytest.raises(md.MDError, match=r"run\.ckpt .*" + message):
            md.run(langevin(), argon(), 40, checkpoint=ckpt, **KWARGS)
        assert ckpt.read_bytes() == data

    refused(good[: len(good) // 2], "cannot be read")
    refused(b"", "cannot be read")
    refused(b"step,energy\n0,-1.0\n", "cannot be read: it is not a jaxpot MD checkpoint")
    tampered = [(n, a + 1e-3 if n == "state.positions" else a) for n, a in leaves]
    with open(ckpt, "wb") as f:  # a valid zip whose arrays no longer match the digest
        np.savez(f, **{f"leaf_{k}": a for k, (_, a) in enumerate(tampered)},
                 __header__=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
    refused(ckpt.read_bytes(), "checksum mismatch")
    write_arrays(ckpt, {**meta, "version": 99}, leaves)
    refused(ckpt.read_bytes(), "not a jaxpot MD checkpoint of version 2")
    tree = json.loads(json.dumps(meta["tree"]))
    tree["state"]["class"] = "Popen"  # a class outside the allowlist
    write_arrays(ckpt, {**meta, "tree": tree}, leaves)
    refused(ckpt.read_bytes(), "class 'Popen' is not one this file may hold")


def test_a_fresh_run_never_overwrites_an_existing_trajectory(tmp_path):
    """md.run(trajectory=<the file the start structure came from>) is refused and the file
    kept; overwrite=True replaces it; the trajectory cannot be the checkpoint; a resumed run
    whose checkpoint wrote no trajectory does not take over an existing file."""
    start = tmp_path / "start.extxyz"
    ase.io.write(start, argon())
    before = start.read_bytes()
    atoms = ase.io.read(start)
    with CompilationCounter() as compiled:
        with pytest.raises(md.MDError, match=r"start\.extxyz already exists.*overwrite=True"):
            md.run(langevin(), atoms, 20, trajectory=start, **KWARGS)
        with pytest.raises(OutputOverwritesInputError, match="trajectory and the checkpoint"):
            md.run(langevin(), atoms, 20, trajectory=tmp_path / "x.extxyz",
                   checkpoint=tmp_path / "x.extxyz", **KWARGS)
    assert compiled.count == 0 and start.read_bytes() == before
    res = md.run(langevin(), atoms, 20, trajectory=start, overwrite=True, **KWARGS)
    frames = ase.io.read(start, ":")
    assert len(frames) == 3
    np.testing.assert_allclose(frames[-1].positions, res.atoms.positions, atol=1e-7)

    ckpt = tmp_path / "run.ckpt"
    md.run(langevin(), atoms, 20, checkpoint=ckpt, **KWARGS)
    kept = start.read_bytes()
    with pytest.raises(md.MDError, match="trajectory none in the checkpoint"):
        md.run(langevin(), atoms, 40, checkpoint=ckpt, trajectory=start, **KWARGS)
    assert start.read_bytes() == kept


def test_masses_with_an_unknown_symbol_are_named():
    with pytest.raises(ValueError, match=r"unknown element symbol 'Xx'"):
        md.nve(LJ, 1.0, masses={"Xx": 40.0})
    with pytest.raises(ValueError, match=r"mass of Ar must be a number"):
        md.nve(LJ, 1.0, masses={"Ar": "heavy"})


def test_a_state_written_before_a_defaulted_field_existed_still_loads():
    """MDState gained ``bias`` (metadynamics' hills, default None): a state node without it
    (a checkpoint of an earlier version) decodes with the default; an unknown field, or a
    missing field without a default, is still refused."""
    from jaxpot.io.array_tree import ArrayFileError, decode_tree, encode_tree
    from jaxpot.md.output import CHECKPOINT_CLASSES
    from jaxpot.md.state import MDState
    z = np.zeros((2, 3))
    state = MDState(positions=z, momenta=z, masses=np.ones(2), cell=np.eye(3), species=np.ones(2),
                    energy=np.zeros(()), forces=z, stress=np.zeros((3, 3)), thermostat=None,
                    barostat=None, key=np.zeros(2, np.uint32), step=np.zeros((), np.int32))
    leaves: list = []
    node = encode_tree(state, leaves, "state")
    arrays = [a for _, a in leaves]
    old = json.loads(json.dumps(node))
    del old["data"]["bias"]
    assert decode_tree(old, arrays, CHECKPOINT_CLASSES, "state").bias is None
    extra = json.loads(json.dumps(node))
    extra["data"]["velocity"] = None
    with pytest.raises(ArrayFileError, match="fields of MDState"):
        decode_tree(extra, arrays, CHECKPOINT_CLASSES, "state")
    missing = json.loads(json.dumps(node))
    del missing["data"]["positions"]
    with pytest.raises(ArrayFileError, match="fields of MDState"):
        decode_tree(missing, arrays, CHECKPOINT_CLASSES, "state")
