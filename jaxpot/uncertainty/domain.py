"""``uq.domain``: is a structure inside the domain the model was trained and calibrated on?

    d = uq.domain(model, frames)
    d.atom_scores [(N_i,)], d.scores (n,), d.inside (n,) bool, d.threshold

An atom's score is its calibrated standard deviation of the quantity the method knows best:
the local energy's (eV) for a GAP and for the distance method (c_E d_i), the force's (eV/Å,
per atom) for an ensemble.  A structure's score is its largest atom score (one unknown
environment is enough to leave the domain).  The threshold comes with the model
(:func:`jaxpot.uncertainty.calibrate`: a quantile of the validation structures' scores) or is
given; a structure is inside when its score is at most the threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from jaxpot.model import EnergyModel


class Domain(NamedTuple):
    """Per-atom scores [(N_i,)], per-structure scores (n,), ``inside`` (n,) bool, the
    ``threshold`` used and the ``unit`` of the scores."""

    atom_scores: list
    scores: np.ndarray
    inside: np.ndarray
    threshold: float
    unit: str


def atom_scores(model: EnergyModel, frames: Sequence, posterior=None,
                progress: bool | None = False) -> tuple[list, str]:
    """(per-atom scores [(N_i,)], their unit) of ``model`` on ``frames``."""
    from jaxpot.uncertainty.predict import predict
    u = predict(model, frames, posterior=posterior, progress=progress)
    if u.energies_std is not None:
        return u.energies_std, "eV"
    return u.forces_std, "eV/Å"


def structure_scores(model: EnergyModel, frames: Sequence, posterior=None) -> np.ndarray:
    """Each structure's largest atom score (n,)."""
    return np.array([float(np.max(s)) for s in atom_scores(model, frames, posterior)[0]])


def domain(model: EnergyModel, frames: Sequence, *, threshold: float | None = None,
           posterior=None, progress: bool | None = False) -> Domain:
    """Domain scores of ``frames`` and whether each is inside (module docstring);
    ``threshold`` overrides the calibrated one (a model without one needs it)."""
    from jaxpot.structure import check_frames as check_atoms
    from jaxpot.uncertainty.carrier import is_uncertain, unwrap
    frames = check_atoms(frames, "uq.domain: frames")
    if threshold is None and is_uncertain(model):
        threshold = unwrap(model)[1].threshold
    if threshold is None:
        raise ValueError(f"{model.name} has no domain threshold: calibrate it "
                         "(uq.calibrate(model, validation_frames, ...)) or pass threshold=")
    scores, unit = atom_scores(model, frames, posterior, progress)
    per_structure = np.array([float(np.max(s)) for s in scores])
    return Domain(scores, per_structure, per_structure <= threshold, float(threshold), unit)
