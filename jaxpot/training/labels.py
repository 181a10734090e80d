"""Reference labels of training and test frames: one reader, checked for meaning.

    keys = label_keys({"energy": "dft_energy"})       # or None: ASE's calculator results
    labels = read_labels_checked(frames, keys, "train.extxyz")   # one Labels per frame

Labels are read from named ``atoms.info`` / ``atoms.arrays`` keys (:class:`LabelKeys`; gap's
``LabelNames`` with ``force`` are accepted), falling back to ASE's stored calculator results:
energy eV, forces (N, 3) eV/Å, stress (6,) Voigt eV/Å^3 (xx yy zz yz xz xy; from a virial
eV as -sym(virial) / volume).  Every problem raises :class:`TrainingDataError` naming the file
and configuration index.

A stress label in the wrong unit is a number like any other: GPa read as eV/Å^3 (ASE's unit)
makes every stress 160x too large, and a fit follows it without complaint.  DFT stresses of
the structures potentials are trained on stay well below ``STRESS_LIMIT_GPA`` (mlearn's Si,
Ge and Li sets: at most 21 GPa; a diamond-anvil cell: ~400 GPa), so a component beyond it is
refused as a unit mistake (:class:`LabelError`), naming the configuration.  A label name the
caller chose that no frame carries is refused too: it must not fall back silently to the
calculator's results.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from ase import units
from ase.calculators.calculator import PropertyNotImplementedError
from ase.stress import full_3x3_to_voigt_6_stress

from jaxpot.structure import check_frames

#: |stress component| above this (GPa) is refused as a unit mistake (1000 GPa = 6.24 eV/Å^3)
STRESS_LIMIT_GPA = 1000.0


class TrainingDataError(ValueError):
    """A training configuration that cannot be used, with file and index in the message
    (also :class:`jaxpot.gap.TrainingDataError`)."""


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


class LabelKeys(NamedTuple):
    """info/arrays key names of the labels (None: do not evaluate that quantity)."""

    energy: str | None = "energy"
    forces: str | None = "forces"
    virial: str | None = "virial"
    config_type: str = "config_type"


class Labels(NamedTuple):
    """energy eV or None, forces (N,3) eV/Å or None, stress (6,) eV/Å^3 or None."""

    energy: float | None
    forces: np.ndarray | None
    stress: np.ndarray | None
    config_type: str


def label_keys(names: LabelKeys | Mapping | object | None) -> LabelKeys | None:
    """Normalise ``names`` (LabelKeys, dict, or gap's LabelNames with ``force``) to LabelKeys."""
    if names is None or isinstance(names, LabelKeys):
        return names
    if isinstance(names, Mapping):
        unknown = set(names) - set(LabelKeys._fields) - {"force"}
        if unknown:
            raise ValueError(f"unknown label names {sorted(unknown)}; use {LabelKeys._fields}")
        get = names.get
    else:
        def get(key, default=None):
            return getattr(names, key, default)
    d = LabelKeys()
    return LabelKeys(get("energy", d.energy), get("forces", get("force", d.forces)),
                     get("virial", d.virial), get("config_type", d.config_type))


def check_chosen_names_present(frames: Sequence, names, keys: LabelKeys | None,
                               where: str) -> None:
    """Refuse label keys the caller chose (``names`` given, keys other than the defaults)
    that no frame carries: a misspelt key must not fall back to calculator results."""
    if names is None or keys is None:
        return
    default = LabelKeys()
    chosen = {role: key for role, key in keys._asdict().items()
              if role != "config_type" and key is not None and key != getattr(default, role)}
    check_names_present(frames, chosen, where)


def read_labels(atoms, keys: LabelKeys | None, where: str) -> Labels:
    """Reference labels of one frame (named keys first, then calculator results)."""
    k = keys or LabelKeys(None, None, None)
    energy = _checked(_label(atoms, k.energy, "energy"), (), "energy", where)
    forces = _checked(_label(atoms, k.forces, "forces"), (len(atoms), 3), "forces", where)
    virial = _checked(_label(atoms, k.virial, None), (3, 3), "virial", where)
    if virial is not None:
        stress = virial_to_stress(virial, atoms)
    else:
        s = _label(atoms, None, "stress")
        s = full_3x3_to_voigt_6_stress(np.asarray(s, float)) if np.shape(s) == (3, 3) else s
        stress = _checked(s, (6,), "stress", where)
    if stress is not None:
        check_stress_plausible(stress, where)
    if energy is None and forces is None and stress is None:
        looked = "" if keys is None else f"keys {k.energy!r}, {k.forces!r}, {k.virial!r} and "
        raise ValueError(f"{where}: no energy, forces or stress labels (looked for {looked}"
                         "ASE calculator results)")
    kind = atoms.info.get(keys.config_type if keys else "config_type", "default")
    return Labels(None if energy is None else float(energy), forces, stress, str(kind))


def read_labels_checked(frames: Sequence, names=None, source: Sequence[str] | str = "frames"
                        ) -> list[Labels]:
    """Labels of every frame; errors name the file and configuration index."""
    keys = label_keys(names)
    frames = check_frames(frames, source if isinstance(source, str) else "frames")
    check_chosen_names_present(frames, names, keys,
                               source if isinstance(source, str) else "frames")
    where = ([f"{source}[{i}]" for i in range(len(frames))] if isinstance(source, str)
             else list(source))
    out = []
    for i, atoms in enumerate(frames):
        try:
            out.append(read_labels(atoms, keys, where[i]))
        except ValueError as err:
            if isinstance(err, TrainingDataError):
                raise
            raise TrainingDataError(str(err)) from None
    return out


def virial_to_stress(virial: np.ndarray, atoms) -> np.ndarray | None:
    """(3,3) virial eV -> (6,) Voigt stress eV/Å^3 = -sym(virial)/volume; None without a 3D cell."""
    if atoms.cell.rank < 3:
        return None
    return full_3x3_to_voigt_6_stress(-0.5 * (virial + virial.T) / atoms.get_volume())


def config_types(frames: Sequence) -> list:
    """Each frame's ``info["config_type"]`` (None where it has none)."""
    return [getattr(a, "info", {}).get("config_type") for a in frames]


def _label(atoms, key: str | None, prop: str | None):
    """``info``/``arrays[key]`` if present, else the stored calculator result ``prop``, or None."""
    if key is not None and (key in atoms.info or key in atoms.arrays):
        return atoms.info[key] if key in atoms.info else atoms.arrays[key]
    if prop is None or atoms.calc is None:
        return None
    try:  # None when absent or stale; never computes
        return atoms.calc.get_property(prop, atoms, allow_calculation=False)
    except PropertyNotImplementedError:
        return None


def _checked(value, shape: tuple, what: str, where: str) -> np.ndarray | None:
    """``value`` as a finite float array of ``shape`` (flat input allowed but for forces)."""
    if value is None:
        return None
    try:
        x = np.asarray(value, float)
    except (TypeError, ValueError):
        x = np.array([np.nan])
    if not (x.shape == shape or (x.size == math.prod(shape) and what != "forces")) \
            or not np.all(np.isfinite(x)):
        raise ValueError(f"{where}: reference {what} must be finite numbers of shape {shape}, "
                         f"got {value!r:.60}")
    return x.reshape(shape)
