"""What an MD run leaves behind: the log, trajectory files and atomic checkpoints.

A checkpoint is a plain ``.npz`` (:mod:`jaxpot.io.array_tree`, no pickle): every array leaf of
the MD state and the neighbor list, the log rows as stacked arrays, and a JSON header with the
format, version, the trees' schema (classes from an allowlist and their static fields), the
identity of the run that wrote it and a SHA-256 digest.  Loading never runs code from the
file, and refuses (:class:`MDError`, naming the file and what to do) a file of another
format or version, a corrupt one, and one written by another run, naming what differs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import ase
import ase.io
import jax
import numpy as np
from ase.calculators.singlepoint import SinglePointCalculator

from jaxpot.io.array_tree import (
    ArrayFileError,
    decode_tree,
    encode_tree,
    file_kind,
    read_arrays,
    write_arrays,
)
from jaxpot.io.atomic_file import atomic_write
from jaxpot.md.hills import Hills
from jaxpot.md.state import CellState, ChainState, MDError, MDState
from jaxpot.neighbors import NeighborList

LOG_FIELDS = ("step", "time", "potential_energy", "kinetic_energy", "total_energy",
              "temperature", "pressure", "volume", "conserved_energy")
CHECKPOINT_FORMAT = "jaxpot-md-checkpoint"
CHECKPOINT_VERSION = 2  # 1: a pickle (no longer read: loading it could run code)
#: the only classes a checkpoint may rebuild
CHECKPOINT_CLASSES = {c.__name__: c for c in (MDState, ChainState, CellState, NeighborList,
                                               Hills)}


@dataclasses.dataclass(frozen=True)
class MDLog:
    """Equal-length arrays, one entry per logged step.

    step; time fs; potential_energy, kinetic_energy, total_energy, conserved_energy eV
    (conserved_energy: the integrator's extended energy, constant for exact dynamics);
    temperature K (3N degrees of freedom); pressure GPa and stress (n, 6) GPa Voigt
    (xx, yy, zz, yz, xz, xy, ASE sign), both with the kinetic (ideal-gas) part, NaN for cells
    not periodic in 3D; volume Å^3 (NaN when not periodic).
    """

    step: np.ndarray
    time: np.ndarray
    potential_energy: np.ndarray
    kinetic_energy: np.ndarray
    total_energy: np.ndarray
    temperature: np.ndarray
    pressure: np.ndarray
    volume: np.ndarray
    conserved_energy: np.ndarray
    stress: np.ndarray

    def __getitem__(self, name: str) -> np.ndarray:
        return getattr(self, name)

    def __len__(self) -> int:
        return len(self.step)

    def as_dict(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_rows(cls, rows: list[dict]) -> MDLog:
        names = [f.name for f in dataclasses.fields(cls)]
        if not rows:
            return cls(**{n: np.zeros((0, 6) if n == "stress" else (0,)) for n in names})
        return cls(**{n: np.stack([np.asarray(r[n]) for r in rows]) for n in names})


def state_to_atoms(state: MDState, energy: bool = True) -> ase.Atoms:
    """An ``ase.Atoms`` of an MD state: positions, cell, pbc, masses, momenta, and a
    single-point calculator holding the potential energy and forces."""
    atoms = ase.Atoms(numbers=np.asarray(state.species), positions=np.asarray(state.positions),
                      cell=np.asarray(state.cell), pbc=state.pbc)
    atoms.set_masses(np.asarray(state.masses, float))
    atoms.set_momenta(np.asarray(state.momenta, float))
    if energy:
        atoms.calc = SinglePointCalculator(atoms, energy=float(state.energy),
                                           forces=np.asarray(state.forces, float))
    return atoms


class TrajectoryWriter:
    """Appends frames to an extxyz (``.xyz``/``.extxyz``) or ASE ``.traj`` file."""

    def __init__(self, path: str | os.PathLike, every: int):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in (".xyz", ".extxyz", ".traj"):
            raise ValueError(f"trajectory {self.path}: use a .extxyz, .xyz or .traj file name")
        self.format = "traj" if suffix == ".traj" else "extxyz"
        self.every = int(every)
        self.n_written = 0

    def truncate(self, n_frames: int) -> None:
        """Keep the first ``n_frames`` frames (a resumed run rewrites what came after its
        checkpoint); atomic."""
        self.n_written = n_frames
        if not self.path.exists():
            if n_frames:
                raise MDError(f"trajectory {self.path} is missing but the checkpoint says "
                              f"{n_frames} frames were written")
            return
        frames = (ase.io.read(self.path, index=f":{n_frames}", format=self.format)
                  if n_frames else [])
        if len(frames) < n_frames:
            raise MDError(f"trajectory {self.path} has {len(frames)} frames, the checkpoint "
                          f"expects {n_frames}")
        if frames:
            with atomic_write(self.path, "wb" if self.format == "traj" else "w") as f:
                ase.io.write(f, frames, format=self.format)
        else:
            self.path.unlink()

    def wants(self, step: int) -> bool:
        return step % self.every == 0

    def write(self, images: list[ase.Atoms]) -> None:
        if not images:
            return
        if self.format == "traj":
            from ase.io.trajectory import Trajectory
            with Trajectory(self.path, "a") as traj:
                for atoms in images:
                    traj.write(atoms)
        else:
            ase.io.write(self.path, images, format="extxyz", append=True)
        self.n_written += len(images)


def fingerprint(tree) -> str:
    """SHA-256 of a pytree's structure and leaf bytes (integrator + model identity)."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    h = hashlib.sha256(str(treedef).encode())
    for leaf in leaves:
        a = np.asarray(leaf)
        h.update(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return h.hexdigest()


#: identity entries compared by digest, and what a difference means to the user
_HASHED = {
    "integrator": "one with a different integrator or model (kind, time step, thermostat "
                  "or barostat settings, masses=, model parameters)",
    "species": "one starting from another structure (species differ)",
    "cell": "one starting from another structure (cell differs)",
    "positions": "one starting from another structure (positions differ)",
    "masses": "one starting from another structure (masses differ)",
    "momenta": "one starting from other momenta (temperature=, seed= or the atoms' "
               "momenta differ)",
}


def run_identity(integrator, structure, masses, momenta, **settings) -> dict[str, str]:
    """What makes a checkpoint this run's: digests of the integrator (with its model), the
    start structure (species, cell, positions, masses) and the starting momenta, its atom
    count and pbc, and the ``settings`` that change the trajectory or the files (as text:
    seed, precision, log and trajectory intervals, skin, chunk, trajectory path)."""
    identity = {"integrator": fingerprint(integrator),
                "n_atoms": str(len(np.asarray(structure.species))),
                "pbc": str(tuple(bool(p) for p in structure.pbc))}
    for name, value in (("species", structure.species), ("cell", structure.cell),
                        ("positions", structure.positions), ("masses", masses),
                        ("momenta", momenta)):
        identity[name] = fingerprint(np.asarray(value))
    identity.update({name: str(value) for name, value in settings.items()})
    return identity


def _differences(saved: dict, identity: dict[str, str]) -> list[str]:
    """What differs between a checkpoint's identity and this run's, in the user's words."""
    out = []
    for name, value in identity.items():
        there = saved.get(name, "(not recorded)")
        if there == value:
            continue
        if name in _HASHED:
            out.append(_HASHED[name])
        elif name in ("n_atoms", "pbc"):
            out.append(f"one starting from another structure ({name} {there} there, {value} "
                       "in this call)")
        else:
            out.append(f"{name} {there} in the checkpoint, {value} in this call")
        if name == "n_atoms":
            break  # the species, positions, masses and momenta differ too
    return out


def save_checkpoint(path: str | os.PathLike, *, state, neighbors, rows: list[dict],
                    n_frames: int, identity: dict[str, str]) -> None:
    """Write state, neighbor list, log rows, frame count and the run's ``identity``
    (:func:`run_identity`) to ``path`` atomically (temporary file + rename), as arrays."""
    leaves: list[tuple[str, np.ndarray]] = []
    tree = {"state": encode_tree(jax.device_get(state), leaves, "state"),
            "neighbors": encode_tree(jax.device_get(neighbors), leaves, "neighbors")}
    names = list(rows[0])
    for name in names:
        leaves.append((f"log.{name}", np.stack([np.asarray(r[name]) for r in rows])))
    header = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
              "identity": dict(identity), "tree": tree, "log": names, "n_rows": len(rows),
              "n_frames": int(n_frames), "step": int(state.step)}
    write_arrays(path, header, leaves)


def _refuse(path, problem: str) -> MDError:
    return MDError(f"checkpoint {path} {problem}; delete it (the run then starts afresh) or "
                   "pass another checkpoint path")


def read_checkpoint(path: str | os.PathLike) -> tuple[dict, list[np.ndarray]]:
    """(header, arrays) of a checkpoint file whose format, version and digest are right (read
    on the host, nothing compiled).  Raises MDError naming the file when it is unreadable,
    corrupt, or of another format or version (an old pickled one is refused unopened)."""
    try:
        kind = file_kind(path)
    except OSError as err:
        raise _refuse(path, f"cannot be read ({type(err).__name__}: {err})") from None
    if kind == "pickle":
        raise _refuse(path, "is in an old (pickled, jaxpot MD checkpoint version 1) or foreign "
                      "format, which jaxpot no longer opens because loading it could run code; "
                      "it was not read")
    if kind != "npz":
        raise _refuse(path, "cannot be read: it is not a jaxpot MD checkpoint (not an .npz "
                      "archive)")
    try:
        header, arrays = read_arrays(path)
    except ArrayFileError as err:
        raise _refuse(path, f"cannot be read: {err}") from None
    if header.get("format") != CHECKPOINT_FORMAT or header.get("version") != CHECKPOINT_VERSION:
        raise _refuse(path, f"is not a jaxpot MD checkpoint of version {CHECKPOINT_VERSION} "
                      f"(format {header.get('format')!r}, version {header.get('version')!r})")
    return header, arrays


def load_checkpoint(path: str | os.PathLike, identity: dict[str, str], checked=None) -> dict:
    """This run's checkpoint (:func:`save_checkpoint`) at ``path``, for the run ``identity``
    (``checked``: :func:`read_checkpoint`'s result when already read).

    Returns ``{"state", "neighbors", "rows", "n_frames"}``.  Raises MDError naming the file
    for the cases of :func:`read_checkpoint` and for a checkpoint written by another run
    (naming what differs).
    """
    header, arrays = checked if checked is not None else read_checkpoint(path)
    saved = header.get("identity")
    differences = _differences(saved if isinstance(saved, dict) else {}, identity)
    if differences:
        raise MDError(f"checkpoint {path} was written by a different run, "
                      + "; ".join(differences) + ". To resume it, repeat the call that wrote "
                      "it; to start this run afresh, delete the checkpoint or pass another "
                      "checkpoint path")
    try:
        return _rebuild(header, arrays)
    except (ArrayFileError, KeyError, TypeError, ValueError) as err:
        raise _refuse(path, f"cannot be read: {type(err).__name__}: {err}") from None


def _rebuild(header: dict, arrays: list[np.ndarray]) -> dict:
    """The state, neighbor list and log rows of a checked checkpoint (allowlisted classes)."""
    tree = header["tree"]
    state = decode_tree(tree["state"], arrays, CHECKPOINT_CLASSES, "state")
    neighbors = decode_tree(tree["neighbors"], arrays, CHECKPOINT_CLASSES, "neighbors")
    if not isinstance(state, MDState) or not isinstance(neighbors, NeighborList):
        raise ArrayFileError("the state or neighbor list is of the wrong class")
    names, n_rows = header["log"], header["n_rows"]
    missing = sorted(set(LOG_FIELDS + ("stress", "escaped")) - set(names))
    if missing or type(n_rows) is not int or n_rows < 1 or len(names) > len(arrays):
        raise ArrayFileError(f"the log is incomplete (missing {missing})")
    columns = dict(zip(names, arrays[len(arrays) - len(names):]))
    if any(c.ndim < 1 or len(c) != n_rows for c in columns.values()):
        raise ArrayFileError(f"the log columns do not all hold {n_rows} rows")
    rows = [{name: column[k] for name, column in columns.items()} for k in range(n_rows)]
    return {"state": state, "neighbors": neighbors, "rows": rows,
            "n_frames": int(header["n_frames"])}
