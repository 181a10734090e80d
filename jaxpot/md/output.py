"""What an MD run leaves behind: the log, trajectory files and atomic checkpoints."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
from pathlib import Path

import ase
import ase.io
import jax
import numpy as np
from ase.calculators.singlepoint import SinglePointCalculator

from jaxpot.io.atomic_file import atomic_write
from jaxpot.md.state import MDError, MDState

LOG_FIELDS = ("step", "time", "potential_energy", "kinetic_energy", "total_energy",
              "temperature", "pressure", "volume", "conserved_energy")
CHECKPOINT_VERSION = 1


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


def save_checkpoint(path: str | os.PathLike, *, state, neighbors, rows: list[dict],
                    n_frames: int, integrator_id: str) -> None:
    """Write state, neighbor list, log and RNG key to ``path`` atomically (temp + rename)."""
    payload = {"version": CHECKPOINT_VERSION, "integrator": integrator_id,
               "state": jax.device_get(state), "neighbors": jax.device_get(neighbors),
               "rows": rows, "n_frames": n_frames}
    with atomic_write(path) as f:
        pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)


def load_checkpoint(path: str | os.PathLike, integrator_id: str) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (a trusted file: pickle).

    Raises MDError naming the file when it is unreadable, of another version, or written by
    a different integrator or model.
    """
    try:
        with open(path, "rb") as f:
            payload = pickle.load(f)
    except Exception as err:
        raise MDError(f"checkpoint {path}: cannot be read ({type(err).__name__}: {err})") from err
    if not isinstance(payload, dict) or payload.get("version") != CHECKPOINT_VERSION:
        raise MDError(f"checkpoint {path}: not a jaxpot MD checkpoint of version "
                      f"{CHECKPOINT_VERSION}")
    if payload["integrator"] != integrator_id:
        raise MDError(f"checkpoint {path} was written by a different integrator or model; "
                      "delete it or pass another checkpoint path to start afresh")
    return payload
