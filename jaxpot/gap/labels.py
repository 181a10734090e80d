"""Training labels and their noise levels, read from extxyz frames the way gap_fit reads them.

Labels are looked up by gap_fit's parameter names (``energy_parameter_name`` etc.) in
``atoms.info`` / ``atoms.arrays``; when a name is absent, ASE's calculator results stored in the
file are used (``energy``, ``forces``, ``stress`` -> virial = -stress * volume).  Noise levels
follow gap_fit: ``default_sigma = (energy, force, virial, hessian)``, replaced per
``config_type`` by ``config_type_sigma`` and per configuration by the
``energy_sigma``/``force_sigma``/``virial_sigma`` info keys; with ``sigma_per_atom`` (gap_fit's
default) the default and config-type energy and virial sigmas are per atom (scaled by sqrt(N)),
per-configuration ones are absolute (a zero or negative sigma is refused wherever it is
given).  Every problem raises :class:`TrainingDataError` naming the file, the configuration
index and what is wrong; a stress (or -virial / volume) beyond a plausible magnitude, a unit
mistake such as GPa read as eV/Å^3, raises :class:`jaxpot.training.labels.LabelError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from jaxpot.training.labels import (  # one error type for all data
    TrainingDataError,
    check_stress_plausible,
)


class LabelNames(NamedTuple):
    """gap_fit's names of the label fields (None: the field is not fitted)."""

    energy: str | None = "energy"
    force: str | None = "force"
    virial: str | None = "virial"
    config_type: str = "config_type"
    stress: str | None = "stress"  # used when no virial: virial = -stress * volume (gap_fit)
    energy_sigma: str = "energy_sigma"
    force_sigma: str = "force_sigma"
    virial_sigma: str = "virial_sigma"


#: gap_fit's command-line key of each :class:`LabelNames` field
PARAMETER_NAMES = {"energy_parameter_name": "energy", "force_parameter_name": "force",
                   "virial_parameter_name": "virial", "stress_parameter_name": "stress",
                   "config_type_parameter_name": "config_type",
                   "energy_sigma_parameter_name": "energy_sigma",
                   "force_sigma_parameter_name": "force_sigma",
                   "virial_sigma_parameter_name": "virial_sigma"}


class Observations(NamedTuple):
    """Labels of one configuration (None where absent) and their noise std."""

    energy: float | None
    forces: np.ndarray | None  # (N, 3) eV/Å
    virial: np.ndarray | None  # (3, 3) eV
    energy_sigma: float
    force_sigma: float
    virial_sigma: float
    config_type: str


def _lookup(atoms, name):
    if name is None:
        return None
    if name in atoms.info:
        return atoms.info[name]
    if name in atoms.arrays:
        return atoms.arrays[name]
    return None


def _calc_result(atoms, key):
    calc = getattr(atoms, "calc", None)
    results = getattr(calc, "results", {}) if calc is not None else {}
    return results.get(key)


def read_observations(atoms, index: int, source: str, names: LabelNames,
                      default_sigma: Sequence[float], config_type_sigma: dict | None = None,
                      sigma_per_atom: bool = True, use_virial: bool = True) -> Observations:
    """Labels and sigmas of configuration ``index`` of ``source`` (see module docstring)."""
    where = f"{source}, configuration {index}"
    n = len(atoms)
    config_type = str(atoms.info.get(names.config_type, "default"))
    sig = list(default_sigma)
    if config_type_sigma and config_type in config_type_sigma:
        sig = list(config_type_sigma[config_type])

    energy = _lookup(atoms, names.energy) if names.energy else None
    if energy is None and names.energy:
        energy = _calc_result(atoms, "energy")
    forces = _lookup(atoms, names.force) if names.force else None
    if forces is None and names.force:
        forces = _calc_result(atoms, "forces")
    virial = None
    if use_virial:
        virial = _lookup(atoms, names.virial)
        if virial is None and names.stress:
            stress = _lookup(atoms, names.stress)
            if stress is None:
                stress = _calc_result(atoms, "stress")
            if stress is not None and atoms.cell.rank == 3:
                virial = -_stress_3x3(stress, f"{where}: stress ({names.stress!r})") \
                    * atoms.get_volume()

    if energy is not None:
        energy = _scalar(energy, f"{where}: energy")
    if forces is not None:
        forces = _floats(forces, f"{where}: forces ({names.force!r})")
        if forces.shape != (n, 3):
            raise TrainingDataError(f"{where}: forces have shape {forces.shape}, expected "
                                    f"({n}, 3) for its {n} atoms")
        if not np.all(np.isfinite(forces)):
            bad = int(np.argwhere(~np.isfinite(forces))[0][0])
            raise TrainingDataError(f"{where}: force of atom {bad} is not finite")
    if virial is not None:
        virial = _floats(virial, f"{where}: virial")
        if virial.size != 9:
            raise TrainingDataError(f"{where}: virial has {virial.size} numbers, expected 9")
        virial = virial.reshape(3, 3)
        if not np.all(np.isfinite(virial)):
            raise TrainingDataError(f"{where}: virial is not finite")
        if atoms.cell.rank < 3:
            raise TrainingDataError(f"{where}: a virial needs a periodic 3D cell")
        virial = 0.5 * (virial + virial.T)  # gap_fit symmetrises too
        check_stress_plausible(-virial / atoms.get_volume(), f"{where}: -virial / volume")
    if energy is None and forces is None and virial is None:
        raise TrainingDataError(f"{where}: no energy, forces or virial found (looked for "
                                f"{names.energy!r}, {names.force!r}, {names.virial!r} and "
                                "ASE calculator results)")
    scale = np.sqrt(n) if sigma_per_atom else 1.0
    own = [_own_sigma(atoms, key, where)
           for key in (names.energy_sigma, names.force_sigma, names.virial_sigma)]
    for label, key, s in zip(("energy", "force", "virial"),
                             (names.energy_sigma, names.force_sigma, names.virial_sigma), own):
        if s is not None and not (np.isfinite(s) and s > 0):
            raise TrainingDataError(f"{where}: {label} sigma must be positive, got {s} "
                                    f"(info[{key!r}]; remove it to use the default sigma)")
    defaults = (sig[0] * scale, sig[1], sig[2] * scale)
    e_sigma, f_sigma, v_sigma = (d if s is None else s for s, d in zip(own, defaults))
    for label, s in (("energy", e_sigma), ("force", f_sigma), ("virial", v_sigma)):
        if not (np.isfinite(s) and s > 0):
            raise TrainingDataError(f"{where}: {label} sigma must be positive, got {s}")
    return Observations(energy, forces, virial, float(e_sigma), float(f_sigma), float(v_sigma),
                        config_type)


def _scalar(value, what: str) -> float:
    try:
        x = float(np.asarray(value, float).reshape(()))
    except (TypeError, ValueError):
        raise TrainingDataError(f"{what} is not a number: {value!r}") from None
    if not np.isfinite(x):
        raise TrainingDataError(f"{what} is not finite ({x})")
    return x


def _stress_3x3(stress, what: str) -> np.ndarray:
    """(3, 3) stress (eV/Å^3) from 6 Voigt (xx yy zz yz xz xy) or 9 numbers, refusing any
    other size, a non-finite component or an implausible magnitude (a unit mistake)."""
    from ase.stress import voigt_6_to_full_3x3_stress
    s = _floats(stress, what)
    if s.size not in (6, 9):
        raise TrainingDataError(f"{what} has {s.size} components, expected 6 (Voigt xx yy zz "
                                "yz xz xy) or 9 (a 3x3 matrix), in eV/Å^3")
    if not np.all(np.isfinite(s)):
        raise TrainingDataError(f"{what} is not finite")
    check_stress_plausible(s, what)
    return voigt_6_to_full_3x3_stress(s.reshape(6)) if s.size == 6 else s.reshape(3, 3)


def _floats(value, what: str) -> np.ndarray:
    try:
        return np.asarray(value, float)
    except (TypeError, ValueError):
        raise TrainingDataError(f"{what} is not numbers: {value!r:.80}") from None


def _own_sigma(atoms, name: str, where: str) -> float | None:
    value = atoms.info.get(name)
    return None if value is None else _scalar(value, f"{where}: {name}")


def read_all(frames: Sequence, source: str, names: LabelNames, default_sigma,
             config_type_sigma=None, sigma_per_atom: bool = True,
             use_virial: bool = True) -> list[Observations]:
    """:func:`read_observations` of every frame; an empty list is an error."""
    if len(frames) == 0:
        raise TrainingDataError(f"{source}: no configurations")
    return [read_observations(a, i, source, names, default_sigma, config_type_sigma,
                              sigma_per_atom, use_virial) for i, a in enumerate(frames)]
