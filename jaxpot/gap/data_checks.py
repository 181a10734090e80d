"""Checks of a GAP fit's data against its settings, run before anything expensive.

* label names the user chose (gap_fit's ``*_parameter_name`` keys other than the defaults)
  must match something: a misspelt ``energy_parameter_name`` must not fall back silently to
  the calculator's energies;
* ``config_type_sigma`` keys must name config_types the data has (``Bulk`` for ``bulk`` would
  otherwise be ignored);
* every descriptor must see a neighbour in at least one training configuration: a cutoff
  below the shortest interatomic distance fits a term with zero forces.

Errors name the file (``source``), the setting and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxpot.gap.labels import PARAMETER_NAMES, LabelNames, TrainingDataError
from jaxpot.training.labels import check_names_present

#: gap_fit's key for each LabelNames field
PARAMETER_KEYS = {field: key for key, field in PARAMETER_NAMES.items()}

#: label fields ASE's extxyz reader may move into calculator results (energy, forces, stress)
_CALCULATOR_KEYS = {"energy", "free_energy", "forces", "stress"}

#: frames searched for the shortest interatomic distance named in an error (a sample)
DISTANCE_SAMPLE = 200


def check_label_names(frames: Sequence, names: LabelNames, source: str,
                      use_virial: bool = True) -> None:
    """Refuse a label name the user set (not gap_fit's default) that no frame has in
    ``info``/``arrays`` (or, for ASE's own keys, in stored calculator results)."""
    default = LabelNames()
    chosen = {}
    for field, key in names._asdict().items():
        if key is None or key == getattr(default, field):
            continue
        if field in ("virial", "stress", "virial_sigma") and not use_virial:
            continue
        if key in _CALCULATOR_KEYS and any(key in _results(a) for a in frames):
            continue
        chosen[f"{field} ({PARAMETER_KEYS[field]})"] = key
    check_names_present(frames, chosen, source)


def _results(atoms) -> dict:
    calc = getattr(atoms, "calc", None)
    return getattr(calc, "results", None) or {}


def check_config_type_sigma(frames: Sequence, config_type_sigma: dict | None, key: str,
                            source: str) -> None:
    """Refuse ``config_type_sigma`` keys no configuration has (``key``: the info name of the
    config_type; configurations without one are ``default``, as in gap_fit)."""
    if not config_type_sigma:
        return
    present = {str(a.info.get(key, "default")) for a in frames}
    missing = sorted(set(map(str, config_type_sigma)) - present)
    if missing:
        raise TrainingDataError(
            f"{source}: config_type_sigma names {missing}, which no training configuration "
            f"has (config_types: {sorted(present)}, read from info[{key!r}]); config_types "
            "are case-sensitive: spell the keys as the file does")


def check_sees_neighbours(frames: Sequence, cutoffs: dict[str, float], source: str) -> None:
    """Refuse a descriptor (``{"soap": cutoff Å, ...}``) whose cutoff sees no neighbour in any
    configuration: its term would be a constant with zero forces."""
    from jaxpot.gap.config import ConfigError
    for name, cutoff in cutoffs.items():
        if any(_has_neighbour(a, cutoff) for a in frames):
            continue
        sample = _sample(frames, DISTANCE_SAMPLE)
        d, index = shortest_distance([frames[i] for i in sample], 4.0 * cutoff + 10.0)
        found = ("no two atoms are close" if index is None else
                 f"the shortest interatomic distance found is {d:.3f} Å (configuration "
                 f"{sample[index]})")
        raise ConfigError(
            f"{source}: the {name} cutoff {cutoff:g} Å sees no neighbour in any training "
            f"configuration ({found}): the {name} term would fit zero forces. Use a {name} "
            "cutoff above the nearest-neighbour distance (Å, not nm or bohr)")


def _has_neighbour(atoms, cutoff: float) -> bool:
    from ase.neighborlist import neighbor_list
    return neighbor_list("i", atoms, float(cutoff)).size > 0


def _sample(frames: Sequence, n: int) -> list[int]:
    """Up to ``n`` evenly spaced frame indices."""
    return sorted(set(np.linspace(0, len(frames) - 1, min(n, len(frames))).astype(int)))


def shortest_distance(frames: Sequence, limit: float) -> tuple[float, int | None]:
    """(shortest interatomic distance below ``limit`` Å over ``frames``, index of its
    frame); (inf, None) when no two atoms are closer than ``limit``."""
    from ase.neighborlist import neighbor_list
    best, where = np.inf, None
    for i, atoms in enumerate(frames):
        d = neighbor_list("d", atoms, float(limit))
        if d.size and d.min() < best:
            best, where = float(d.min()), i
    return best, where
