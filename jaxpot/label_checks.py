"""Checks of training and test labels for meaning, not only type.

A stress label in the wrong unit is a number like any other: GPa read as eV/Å^3 (ASE's unit)
makes every stress 160x too large, and a fit follows it without complaint.  DFT stresses of
the structures potentials are trained on stay well below ``STRESS_LIMIT_GPA`` (mlearn's Si,
Ge and Li sets: at most 21 GPa; a diamond-anvil cell: ~400 GPa), so a component beyond it is
refused as a unit mistake, naming the configuration.  Frames must be ``ase.Atoms``, not paths.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms, units

#: |stress component| above this (GPa) is refused as a unit mistake (1000 GPa = 6.24 eV/Å^3)
STRESS_LIMIT_GPA = 1000.0


class TrainingDataError(ValueError):
    """A training configuration that cannot be used, with file and index in the message
    (re-exported as :class:`jaxpot.training_data.TrainingDataError`)."""


class LabelError(TrainingDataError):
    """A label that cannot mean what the file says (a unit mistake, a name matching nothing)."""


def check_stress_plausible(stress, where: str) -> None:
    """Refuse a stress (any shape, eV/Å^3) with a component beyond ``STRESS_LIMIT_GPA``;
    ``where`` names the file and configuration."""
    s = np.abs(np.asarray(stress, float))
    if s.size == 0:
        return
    worst = float(np.max(s))
    if worst > STRESS_LIMIT_GPA * units.GPa:
        raise LabelError(
            f"{where}: stress label of {worst:.4g} eV/Å^3 = {worst / units.GPa:.4g} GPa, "
            "beyond any "
            f"plausible DFT stress (limit {STRESS_LIMIT_GPA:g} GPa). Stresses must be in eV/Å^3 "
            "(ASE's unit, with virial = -stress * volume in eV); a file holding GPa needs its "
            "stresses multiplied by ase.units.GPa (divided by 160.2)")


def check_frames(frames, what: str = "frames") -> list:
    """``frames`` as a list of ase.Atoms; a path, a string or any other item is refused,
    naming its index (read files with ``ase.io.read(path, ":")`` first)."""
    if isinstance(frames, Atoms):
        raise TypeError(f"{what}: expected a list of ase.Atoms, got a single ase.Atoms "
                        "(wrap it in a list)")
    if isinstance(frames, (str, bytes)) or not isinstance(frames, Sequence) and not hasattr(
            frames, "__iter__"):
        raise TypeError(f"{what}: expected a list of ase.Atoms, got {type(frames).__name__} "
                        f"{frames!r:.80}; read a file with ase.io.read(path, ':')")
    frames = list(frames)
    for i, atoms in enumerate(frames):
        if not isinstance(atoms, Atoms):
            hint = (" (a path: read it with ase.io.read(path, ':') first)"
                    if isinstance(atoms, (str, bytes)) or hasattr(atoms, "__fspath__") else "")
            raise TypeError(f"{what}[{i}] is {type(atoms).__name__} {atoms!r:.80}, not "
                            f"ase.Atoms{hint}")
    return frames


def check_names_present(frames: Sequence, names: dict, where: str) -> None:
    """Refuse a label name the user chose (``{role: key}``, None entries skipped) that no
    frame carries in ``info`` or ``arrays``: a misspelt name must not fall back silently to
    the calculator's results."""
    for role, key in names.items():
        if key is None:
            continue
        if not any(key in a.info or key in a.arrays for a in frames):
            seen = sorted({k for a in frames for k in (*a.info, *a.arrays)})
            raise LabelError(f"{where}: the {role} label name {key!r} matches nothing: no "
                             f"configuration has it in info or arrays (keys present: {seen})")
