"""``uq.predict``: predictions and their standard deviations, for any model.

    u = uq.predict(model, frames)
    u.energy (n,) eV, u.forces [(N_i, 3)] eV/Å, u.stress (n, 6) eV/Å^3   (the model's means)
    u.energy_std (n,) eV, u.forces_std [(N_i,)] eV/Å per atom, u.energies_std [(N_i,)] eV
    u.method ("gap_posterior", "ensemble", "distance"), u.calibrated

Where the standard deviations come from:

- ``gap_posterior``: a GAP's projected-process (DTC) variances
  (:func:`jaxpot.gap.predictive_std`): the total energy's, each SOAP local energy's, and the
  force components' (the projected-model part, a lower bound).  The posterior is carried by
  the model (:func:`jaxpot.uncertainty.calibrate` with ``posterior=``) or passed here.
- ``ensemble``: the members' spread times the ensemble's calibration factors (epistemic;
  :func:`jaxpot.nn.ensemble.ensemble_predict`).
- ``distance``: any other model, through the distance of its atoms' environments to the
  training set's (:mod:`jaxpot.uncertainty.distance`), scaled by factors fitted on validation
  frames.

A per-atom force standard deviation is the root mean square of the three components'.  A
carried calibration multiplies the raw standard deviations by its factors (energy, forces).
The aleatoric part (noise in the labels) is not modelled by any jaxpot family yet: these are
epistemic standard deviations, and a calibration on validation errors folds the labels' noise
into the factors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from jaxpot.model import EnergyModel
from jaxpot.uncertainty.carrier import Carried, is_uncertain, unwrap


class UncertainPrediction(NamedTuple):
    """Means and one-sigma standard deviations (NumPy float64): energy/energy_std (n,) eV,
    forces [(N_i, 3)] and forces_std [(N_i,)] eV/Å (per atom), stress (n, 6) eV/Å^3 Voigt
    (NaN rows for non-periodic frames), energies_std [(N_i,)] eV per atom (None where the
    method has none), the ``method`` and whether a calibration was applied."""

    energy: np.ndarray
    forces: list
    stress: np.ndarray
    energy_std: np.ndarray
    forces_std: list
    energies_std: list | None
    method: str
    calibrated: bool


def method_of(model: EnergyModel) -> str:
    """The uncertainty method ``predict`` uses for ``model``."""
    if is_uncertain(model):
        return unwrap(model)[1].method
    if model.kind == "ensemble":
        return "ensemble"
    if _is_gap(model):
        return "gap_posterior"
    return "distance"


def _is_gap(model: EnergyModel) -> bool:
    from jaxpot.gap.design import gap_terms
    try:
        gap_terms(model)
    except ValueError:
        return False
    return True


def _per_atom(std_xyz: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean(np.asarray(std_xyz, float) ** 2, axis=1))


def raw_std(model: EnergyModel, frames: Sequence, posterior=None,
            progress: bool | None = None):
    """(child model, carried info or None, means or None, raw energy_std (n,), raw per-atom
    forces_std [(N_i,)], raw energies_std or None) before any carried calibration."""
    carried: Carried | None = None
    child = model
    if is_uncertain(model):
        child, carried = unwrap(model)
    method = carried.method if carried else method_of(model)
    if method == "ensemble":
        from jaxpot.nn.ensemble import ensemble_predict
        p = ensemble_predict(child, frames)
        means = (p.energy, p.forces, p.stress)
        return child, carried, means, p.energy_std, [_per_atom(f) for f in p.forces_std], None
    if method == "gap_posterior":
        from jaxpot.gap.uncertainty import Posterior, predictive_std
        if carried is not None:
            posterior = Posterior(carried.arrays["kmm_factor"],
                                  carried.arrays["posterior_factor"])
        if posterior is None:
            raise ValueError(f"{model.name}: a GAP's uncertainty needs its posterior: pass "
                             "posterior=jaxpot.gap.load_posterior('<model>.posterior.npz') "
                             "(jaxpot fit writes it beside the model), or carry it with "
                             "uq.calibrate(model, validation_frames, posterior=...)")
        u = predictive_std(child, posterior, frames)
        return child, carried, None, u.energy, [_per_atom(f) for f in u.forces], \
            u.local_energies
    if carried is None:
        raise ValueError(f"{model.name} ({model.kind}) has no uncertainty of its own: give it "
                         "a distance reference with uq.calibrate(model, validation_frames, "
                         "training=training_frames)")
    from jaxpot.uncertainty.distance import host_distances
    d = host_distances(child, carried.arrays, carried.settings, frames)
    return child, carried, None, np.array([np.sqrt(np.sum(x ** 2)) for x in d]), d, d


def predict(model: EnergyModel, frames: Sequence, *, posterior=None,
            progress: bool | None = None) -> UncertainPrediction:
    """Predictions of ``model`` on ``frames`` (``ase.Atoms``) with standard deviations (see
    the module docstring); ``posterior``: a GAP's, when the model does not carry it;
    ``progress``: the means' progress bar (None: for many frames on a terminal)."""
    from jaxpot.prediction import predict as jaxpot_predict
    from jaxpot.structure import check_frames as check_atoms
    frames = check_atoms(frames, "uq.predict: frames")
    child, carried, means, e_std, f_std, a_std = raw_std(model, frames, posterior)
    if means is None:
        p = jaxpot_predict(child, frames, progress=progress)
        means = (p.energy, p.forces, p.stress)
    scale = carried.scale if carried else (1.0, 1.0)
    calibrated = bool(carried and carried.calibrated) or (
        child.kind == "ensemble" and not np.all(np.asarray(child.params["calibration"]) == 1))
    return UncertainPrediction(
        np.asarray(means[0], float), [np.asarray(f, float) for f in means[1]],
        np.asarray(means[2], float), scale[0] * np.asarray(e_std, float),
        [scale[1] * np.asarray(f, float) for f in f_std],
        None if a_std is None else [scale[0] * np.asarray(a, float) for a in a_std],
        carried.method if carried else method_of(model), calibrated)
