"""The run's folder: every oracle call and the run state on disk, written atomically.

    workdir/state.json              identity, history rows, unstable replicas, the pending
                                    batch, finished reason, wall time (JSON)
    workdir/calls/call_000012.npz   call 12: the structure and the oracle's energy, forces,
                                    stress (float64, exact), or its error text
    workdir/rounds/round_003.npz    the structures chosen in round 3, before any is labelled,
                                    with the forces the model that chose them predicts
                                    (float64; the error at selection is computed from them)
    workdir/rounds/ends_003.npz     where round 3's replicas ended (positions, momenta, cell,
                                    masses), which round 4 continues
    workdir/labelled.extxyz         the initial frames and every labelled call, in order (for
                                    people and other tools; rewritten after each call)

The call files are the record of what the oracle answered: a resumed run reads them and calls
the oracle only for the pending batch's structures that have none.  Plain ``.npz`` (no
pickle) and JSON; each written to a temporary file and renamed
(:func:`jaxpot.io.atomic_file.atomic_write`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from typing import NamedTuple

import ase
import numpy as np
from ase.calculators.singlepoint import SinglePointCalculator

from jaxpot.io.atomic_file import atomic_write

FORMAT = "jaxpot-active-run"
VERSION = 1


class ActiveRunError(RuntimeError):
    """A workdir that belongs to another run, or a damaged one."""


class CallRecord(NamedTuple):
    """One oracle call: its index, round, position in the round's batch, the structure
    (labelled when the call succeeded) and the error text (None on success)."""

    index: int
    round: int
    candidate: int
    atoms: ase.Atoms
    error: str | None


def _arrays(atoms: ase.Atoms) -> dict:
    return {"numbers": np.asarray(atoms.numbers, np.int64),
            "positions": np.asarray(atoms.positions, float),
            "cell": np.asarray(atoms.cell.array, float), "pbc": np.asarray(atoms.pbc, bool)}


def _atoms(data, prefix: str = "") -> ase.Atoms:
    return ase.Atoms(numbers=data[prefix + "numbers"], positions=data[prefix + "positions"],
                     cell=data[prefix + "cell"], pbc=data[prefix + "pbc"])


def call_path(workdir: str, index: int) -> str:
    return os.path.join(workdir, "calls", f"call_{index:06d}.npz")


def write_call(workdir: str, record: CallRecord) -> None:
    """Write one call's record atomically."""
    arrays = {**_arrays(record.atoms), "round": np.int64(record.round),
              "candidate": np.int64(record.candidate), "error": np.array(record.error or "")}
    if record.error is None:
        calc = record.atoms.calc
        arrays["energy"] = np.float64(calc.results["energy"])
        arrays["forces"] = np.asarray(calc.results["forces"], float)
        if "stress" in calc.results:
            arrays["stress"] = np.asarray(calc.results["stress"], float)
    os.makedirs(os.path.dirname(call_path(workdir, record.index)), exist_ok=True)
    with atomic_write(call_path(workdir, record.index)) as f:
        np.savez(f, **arrays)


def read_call(workdir: str, index: int) -> CallRecord | None:
    """Call ``index``'s record, or None when the call has not been made."""
    path = call_path(workdir, index)
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            atoms = _atoms(data)
            error = str(data["error"]) or None
            if error is None:
                results = {"energy": float(data["energy"]), "forces": data["forces"].copy()}
                if "stress" in data.files:
                    results["stress"] = data["stress"].copy()
                atoms.calc = SinglePointCalculator(atoms, **results)
            return CallRecord(index, int(data["round"]), int(data["candidate"]), atoms, error)
    except (OSError, ValueError, KeyError) as err:
        raise ActiveRunError(f"{path}: a damaged oracle record ({err}); remove it to call the "
                             "oracle again for that structure") from None


def round_path(workdir: str, round_index: int) -> str:
    return os.path.join(workdir, "rounds", f"round_{round_index:03d}.npz")


def write_batch(workdir: str, round_index: int, batch: Sequence[ase.Atoms],
                predicted: Sequence[np.ndarray] | None = None) -> None:
    """The structures chosen in a round, before the oracle sees any, and the forces (eV/Å)
    the selecting model predicts for each (optional)."""
    arrays = {"count": np.int64(len(batch))}
    for i, atoms in enumerate(batch):
        arrays.update({f"{i}_{k}": v for k, v in _arrays(atoms).items()})
        if predicted is not None:
            arrays[f"{i}_predicted_forces"] = np.asarray(predicted[i], float)
    os.makedirs(os.path.dirname(round_path(workdir, round_index)), exist_ok=True)
    with atomic_write(round_path(workdir, round_index)) as f:
        np.savez(f, **arrays)


def read_batch(workdir: str, round_index: int) -> list[ase.Atoms]:
    """The structures :func:`write_batch` wrote for a round."""
    path = round_path(workdir, round_index)
    try:
        with np.load(path, allow_pickle=False) as data:
            return [_atoms(data, f"{i}_") for i in range(int(data["count"]))]
    except (OSError, ValueError, KeyError) as err:
        raise ActiveRunError(f"{path}: the pending batch cannot be read ({err})") from None


def read_predicted(workdir: str, round_index: int) -> list[np.ndarray | None]:
    """The forces :func:`write_batch` stored for a round's structures (None where absent: a
    run written before they were stored)."""
    path = round_path(workdir, round_index)
    try:
        with np.load(path, allow_pickle=False) as data:
            return [data[f"{i}_predicted_forces"].copy() if f"{i}_predicted_forces" in data.files
                    else None for i in range(int(data["count"]))]
    except (OSError, ValueError, KeyError) as err:
        raise ActiveRunError(f"{path}: the batch cannot be read ({err})") from None


def ends_path(workdir: str, round_index: int) -> str:
    return os.path.join(workdir, "rounds", f"ends_{round_index:03d}.npz")


def write_ends(workdir: str, round_index: int, ends: Sequence[ase.Atoms | None]) -> None:
    """Where a round's replicas ended (with momenta and masses; None: every attempt failed),
    for the next round to continue."""
    arrays = {"count": np.int64(len(ends))}
    for i, atoms in enumerate(ends):
        if atoms is not None:
            arrays.update({f"{i}_{k}": v for k, v in _arrays(atoms).items()})
            arrays[f"{i}_momenta"] = np.asarray(atoms.get_momenta(), float)
            arrays[f"{i}_masses"] = np.asarray(atoms.get_masses(), float)
    os.makedirs(os.path.dirname(ends_path(workdir, round_index)), exist_ok=True)
    with atomic_write(ends_path(workdir, round_index)) as f:
        np.savez(f, **arrays)


def read_ends(workdir: str, round_index: int) -> list[ase.Atoms | None]:
    """:func:`write_ends`' replicas (an empty list when the round wrote none)."""
    path = ends_path(workdir, round_index)
    if not os.path.exists(path):
        return []
    try:
        with np.load(path, allow_pickle=False) as data:
            out = []
            for i in range(int(data["count"])):
                if f"{i}_numbers" not in data.files:
                    out.append(None)
                    continue
                atoms = _atoms(data, f"{i}_")
                atoms.set_masses(data[f"{i}_masses"])
                atoms.set_momenta(data[f"{i}_momenta"])
                out.append(atoms)
            return out
    except (OSError, ValueError, KeyError) as err:
        raise ActiveRunError(f"{path}: the replicas' end states cannot be read ({err})"
                             ) from None


def load_state(workdir: str) -> dict | None:
    """The saved run state, or None for a fresh workdir."""
    path = os.path.join(workdir, "state.json")
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, ValueError) as err:
        raise ActiveRunError(f"{path}: not a readable run state ({err})") from None
    if state.get("format") != FORMAT:
        raise ActiveRunError(f"{path} is not an active-learning run state")
    return state


def save_state(workdir: str, state: dict) -> None:
    """Write the run state atomically (JSON; floats round-trip exactly)."""
    with atomic_write(os.path.join(workdir, "state.json"), "w") as f:
        json.dump(state, f, indent=1, allow_nan=True)


def write_labelled(workdir: str, frames: Sequence[ase.Atoms]) -> None:
    """Every labelled frame in one extxyz file (atomically replaced)."""
    import ase.io
    with atomic_write(os.path.join(workdir, "labelled.extxyz"), "w") as f:
        ase.io.write(f, list(frames), format="extxyz")


def frames_digest(frames: Sequence[ase.Atoms]) -> str:
    """SHA-256 of the frames' species, positions, cells, pbc and energy/force labels."""
    from jaxpot.training.labels import read_labels_checked
    h = hashlib.sha256()
    labels = read_labels_checked(frames, source="active.learn frames")
    for atoms, lab in zip(frames, labels):
        for value in (*_arrays(atoms).values(), lab.energy, lab.forces, lab.stress):
            a = np.asarray(np.nan if value is None else value)
            h.update(str(a.shape).encode() + np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def check_identity(state: dict, identity: dict, workdir: str) -> None:
    """Refuse a workdir written by another run, naming what differs."""
    saved = state.get("identity", {})
    differ = [key for key in sorted(set(saved) | set(identity))
              if saved.get(key) != identity.get(key)]
    if differ:
        raise ActiveRunError(
            f"{workdir} holds another active-learning run: its {', '.join(differ)} differ from "
            "this call's; use another workdir, or the same frames and settings to resume")
