"""Atomic writes (``jaxpot.io.atomic_file.atomic_write``) and every library writer that uses
it: a writer leaves exactly its destination (no ``.tmp``/``.npz`` sibling), with the mode
``open()`` gives a new file (0666 & ~umask), readable back by its own reader."""

from __future__ import annotations

import json
import os

import ase.io
import numpy as np
import pytest
from ase.build import bulk

from jaxpot.gap import checkpoint as gap_checkpoint
from jaxpot.gap.uncertainty import save_posterior
from jaxpot.io.atomic_file import atomic_write
from jaxpot.linear import checkpoint as linear_checkpoint
from jaxpot.md.output import TrajectoryWriter
from jaxpot.training import checkpoint as training_checkpoint
from jaxpot.training.frames import write_json
from jaxpot.training.qr import QRState


def _state(m: int = 3) -> QRState:
    return QRState(r=np.triu(np.arange(1.0, m * m + 1).reshape(m, m)), qty=np.arange(m, 0.0, -1),
                   rss=0.25, n_rows=7)


def _nn(path):
    training_checkpoint.save_tree(path, "training run", "fp", {"w": np.ones((2, 3)),
                                                               "b": np.zeros(3)}, {"epoch": 4})
    header, arrays = training_checkpoint.load(path, "training run", "fp")
    assert header == {"epoch": 4}
    assert arrays["leaf_00000"].shape == (3,) and arrays["leaf_00001"].shape == (2, 3)


def _gap(path):
    point = gap_checkpoint.Checkpoint(soap_sparse=np.eye(2), soap_counts=(2,), pair_sparse=None,
                                      e0=np.array([-1.5]), state=_state(), done=np.array([0, 2]))
    gap_checkpoint.save(path, point, "abc")
    loaded = gap_checkpoint.load(path, "abc")
    assert loaded.done.tolist() == [0, 2] and loaded.pair_sparse is None
    np.testing.assert_array_equal(loaded.state.r, _state().r)


def _linear(path):
    states = [{kind: _state() for kind in linear_checkpoint.KINDS} for _ in range(2)]
    linear_checkpoint.save(path, states, {1, 3}, "xyz")
    loaded, done = linear_checkpoint.load(path, "xyz")
    assert done == {1, 3}
    np.testing.assert_array_equal(loaded[0]["forces"].qty, _state().qty)


def _posterior(path):
    save_posterior(path, (np.eye(2), np.ones((2, 2))))
    with np.load(path) as data:
        np.testing.assert_array_equal(data["posterior_factor"], np.ones((2, 2)))


def _json(path):
    write_json(str(path), {"σ": 0.5, "files": ["a.xyz"]})
    assert json.loads(path.read_text(encoding="utf-8")) == {"σ": 0.5, "files": ["a.xyz"]}


WRITERS = {"nn checkpoint": _nn, "gap checkpoint": _gap, "linear checkpoint": _linear,
           "gap posterior": _posterior, "gap_fit json": _json}


@pytest.mark.parametrize("umask", [0o022, 0o077])
@pytest.mark.parametrize("name", list(WRITERS))
def test_writer_leaves_only_its_file_with_the_umask_mode(tmp_path, name, umask):
    path = tmp_path / "out"  # no .npz suffix: np.savez(path) would have appended one
    old = os.umask(umask)
    try:
        WRITERS[name](path)
        WRITERS[name](path)  # a second save replaces the first
    finally:
        os.umask(old)
    assert os.listdir(tmp_path) == ["out"]
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_text_mode_writes_utf8_and_binary_mode_bytes(tmp_path):
    with atomic_write(tmp_path / "t.txt", "w") as fh:
        fh.write("Å σ\n")
    assert (tmp_path / "t.txt").read_bytes() == "Å σ\n".encode()
    with atomic_write(tmp_path / "b.bin") as fh:
        fh.write(b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"


def test_an_error_inside_the_block_keeps_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "keep.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="mid-write"):
        with atomic_write(path, "w") as fh:
            fh.write("half of the new")
            raise RuntimeError("mid-write")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["keep.txt"]


def test_an_unknown_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="mode must be one of"):
        with atomic_write(tmp_path / "x", "a"):
            pass
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("suffix", [".extxyz", ".traj"])
def test_trajectory_truncated_in_place_for_a_resumed_run(tmp_path, suffix):
    """A resumed MD run rewrites its trajectory up to the checkpoint's frame count (text
    extxyz or binary ASE .traj) atomically, leaving no temporary file."""
    path = tmp_path / f"md{suffix}"
    frames = [bulk("Cu", cubic=True) for _ in range(3)]
    for i, atoms in enumerate(frames):
        atoms.positions[0, 0] += 0.1 * i
    writer = TrajectoryWriter(path, every=1)
    writer.write(frames)
    writer.truncate(2)
    kept = ase.io.read(path, ":")
    assert [a.positions[0, 0] for a in kept] == [a.positions[0, 0] for a in frames[:2]]
    assert os.listdir(tmp_path) == [path.name]
