"""Watching MD by the model's own uncertainty (``active.learn(monitor="own")``): a GAP's
posterior (the DTC standard deviation of the total energy, a JAX function:
:mod:`jaxpot.gap.posterior_sigma`) or an ensemble's spread, instead of a distance reference.

The watched quantity is the total-energy sigma_E (eV) md's chunk computes; the loop's
threshold is on a calibrated rms force sigma, so, as for the distance reference
(:mod:`jaxpot.active.monitor`), sigma_F = c_F sigma_E / sqrt(N) with c_F (eV/Å per eV/sqrt
(atom)) fitted on the calibration carve's force errors of the calibration fit
(:func:`jaxpot.nn.uncertainty_metrics.fit_sigma_scale`, as ``uq.calibrate`` fits its
factors), and c_E on its energy errors.  Below the carve's size a GAP's unscaled posterior
sets c_F (its force std against sigma_E / sqrt(N) on the labelled frames, medians).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxpot.active.models import Fitted
from jaxpot.model import EnergyModel


def has_own(fitted: Fitted) -> bool:
    """Whether the fit carries an uncertainty of its own (a GAP posterior, an ensemble)."""
    return fitted.posterior is not None or fitted.model.kind == "ensemble"


def own_watched(fitted: Fitted) -> EnergyModel:
    """The fitted model carrying its own, unscaled uncertainty (md's sigma_E)."""
    if fitted.model.kind == "ensemble":
        return fitted.model
    if fitted.posterior is None:
        raise ValueError(f"active.learn(monitor='own'): {fitted.model.name} "
                         f"({fitted.model.kind}) has no uncertainty of its own (a GAP or an "
                         "ensemble has); use monitor='distance'")
    from jaxpot.uncertainty.carrier import carry
    return carry(fitted.model, "gap_posterior",
                 {"kmm_factor": np.asarray(fitted.posterior[0]),
                  "posterior_factor": np.asarray(fitted.posterior[1])})


def _per_frame(watched: EnergyModel, frames: Sequence):
    """(sigma_E (n,), sigma_E / sqrt(N) (n,), per-atom force stds [(N_i,)])."""
    from jaxpot.uncertainty.predict import raw_std
    _, _, _, e_std, f_std, _ = raw_std(watched, list(frames))
    e_std = np.asarray(e_std, float)
    return e_std, e_std / np.sqrt([len(a) for a in frames]), f_std


def carve_factors(check: Fitted, frames: Sequence, held: Sequence[int]):
    """((c_E, c_F), median calibrated sigma_F of the carve, source) on the carve's errors of
    the calibration fit ``check``."""
    from jaxpot.nn.uncertainty_metrics import fit_sigma_scale
    from jaxpot.prediction import predict
    validation = [frames[i] for i in held]
    e_std, scaled, _ = _per_frame(own_watched(check), validation)
    p = predict(check.model, validation, progress=False)
    f_err = np.concatenate([np.ravel(p.forces[i] - a.get_forces())
                            for i, a in enumerate(validation)])
    f_sig = np.concatenate([np.full(3 * len(a), scaled[i]) for i, a in enumerate(validation)])
    e_err = np.asarray(p.energy, float) - np.array([a.get_potential_energy()
                                                    for a in validation])
    c_f = fit_sigma_scale(f_err, f_sig)
    c_e = fit_sigma_scale(e_err, e_std)
    return (c_e, c_f), float(np.median(c_f * scaled)), \
        f"validation carve ({len(validation)} frames), own uncertainty"


def posterior_factors(fitted: Fitted, frames: Sequence):
    """((c_E, c_F), median sigma_F of ``frames``) from a GAP's unscaled posterior: c_F maps
    sigma_E / sqrt(N) to the posterior's rms force std (medians over the frames)."""
    _, scaled, f_std = _per_frame(own_watched(fitted), frames)
    force = np.array([float(np.sqrt(np.mean(np.square(f)))) for f in f_std])
    c_f = max(float(np.median(force)) / max(float(np.median(scaled)), 1e-12), 1e-12)
    return (1.0, c_f), float(np.median(c_f * scaled))
