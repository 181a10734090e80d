"""How much each quantity and each frame counts in a training loss.

:class:`LossWeights` are the expected errors (sigmas) that weight energy (eV/atom), forces
(eV/Å) and stress (GPa) in every trainer's loss, as gap_fit's ``default_sigma``;
``config_type_weights`` multiply the residuals of a type of structure
(:func:`config_type_loss_weights`), as the linear fits' rows and FitSNAP's group weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from jaxpot.training.labels import config_types


class LossWeights(NamedTuple):
    """Expected errors: energy eV/atom, forces eV/Å, stress GPa (inf drops a quantity)."""

    energy: float = 0.002
    forces: float = 0.05
    stress: float = 0.5


def config_type_loss_weights(frames: Sequence, weights) -> np.ndarray:
    """Each frame's weight in a training loss (n,) from ``config_type_weights``.

    ``weights``: None or {} (all 1); a mapping {config_type: factor} whose factor multiplies
    that type's residuals, as the linear fits' rows and FitSNAP's group weights, so its loss
    terms by factor^2 (frames of other types, or none, keep 1); or ``"balanced"``: the factor
    that gives every config_type (frames without one form a type) the same total weight, a
    loss weight n / (types x frames of that type).  A key no frame has, or a negative or
    non-finite factor, raises ValueError: a misspelt type would silently weigh nothing."""
    kinds = config_types(frames)
    n = len(kinds)
    if not weights:
        return np.ones(n)
    if isinstance(weights, str):
        if weights != "balanced":
            raise ValueError(f"config_type_weights = {weights!r}: expected a mapping "
                             "{config_type: factor} or 'balanced'")
        counts = {k: kinds.count(k) for k in set(kinds)}
        return np.array([n / (len(counts) * counts[k]) for k in kinds])
    check_config_type_weights(frames, weights)
    return np.array([float(weights.get(k, 1.0)) ** 2 for k in kinds])


def check_config_type_weights(frames: Sequence, weights: Mapping[str, float]) -> None:
    """Refuse a ``{config_type: factor}`` mapping with a key no frame has or a negative or
    non-finite factor (ValueError naming them)."""
    present = {k for k in config_types(frames) if k is not None}
    missing = sorted(set(weights) - present)
    if missing:
        raise ValueError(f"config_type_weights names {missing}, which no training "
                         f"configuration has (config_types: {sorted(present)})")
    bad = {k: v for k, v in weights.items() if not (np.isfinite(v) and v >= 0)}
    if bad:
        raise ValueError(f"config_type_weights {bad}: factors must be finite and >= 0")
