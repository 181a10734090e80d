"""``uq.calibrate``: fit a model's uncertainty on labelled validation frames and carry it.

    cal = uq.calibrate(model, validation, training=train)        # a distance reference
    cal = uq.calibrate(gap_model, validation, posterior=post)    # a GAP's posterior
    cal = uq.calibrate(ensemble_model, validation)                # an ensemble's spread
    jaxpot.save(cal, "model.jaxpot")                               # all of it kept

The raw standard deviations (:func:`jaxpot.uncertainty.predict.raw_std`) are scaled by one
factor for energies and one for forces, each the factor with the smallest miscalibration area
on the validation errors (:func:`jaxpot.nn.uncertainty_metrics.fit_sigma_scale`: robust to a
few errors over tiny sigmas, unlike the Gaussian likelihood's closed form); an ensemble is
first calibrated with its own factors (:func:`jaxpot.nn.ensemble.calibrate`), then these are
fitted on the per-atom sigma ``predict`` reports.  The domain
threshold is the ``inside_fraction`` quantile of the validation structures' domain scores
(:func:`jaxpot.uncertainty.domain.domain`), so that fraction of structures like the
validation set's are inside.  The returned model's energy is the original's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from jaxpot.model import EnergyModel
from jaxpot.uncertainty.carrier import carry, is_uncertain, unwrap

_log = logging.getLogger(__name__)

#: the fewest labelled validation frames a calibration accepts
MIN_FRAMES = 5


def _errors(frames: Sequence, energy, forces, e_std, f_std):
    """(energy errors, energy stds, force component errors, their per-atom stds) over the
    labelled values of ``frames``."""
    from jaxpot.training.labels import read_labels_checked
    labels = read_labels_checked(frames, source="uq.calibrate: frames")
    e_err, e_sig, f_err, f_sig = [], [], [], []
    for i, lab in enumerate(labels):
        if lab.energy is not None:
            e_err.append(energy[i] - lab.energy)
            e_sig.append(e_std[i])
        if lab.forces is not None:
            f_err.append((forces[i] - lab.forces).ravel())
            f_sig.append(np.repeat(f_std[i], 3))
    return np.array(e_err), np.array(e_sig), _cat(f_err), _cat(f_sig)


def _cat(parts: list) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0)


def _factor(errors: np.ndarray, stds: np.ndarray, what: str) -> float:
    from jaxpot.nn.uncertainty_metrics import fit_sigma_scale
    keep = stds > 0
    if keep.sum() < MIN_FRAMES:
        _log.warning("uq.calibrate: %s factor kept at 1 (%d labelled values with sigma > 0)",
                     what, int(keep.sum()))
        return 1.0
    return fit_sigma_scale(errors[keep], stds[keep])


def calibrate(model: EnergyModel, frames: Sequence, *, training: Sequence | None = None,
              posterior=None, inside_fraction: float = 0.95, **distance_settings
              ) -> EnergyModel:
    """``model`` carrying a calibrated uncertainty and domain threshold (module docstring).

    Args:
        model: any model (a GAP, an ensemble, anything else; one that already carries an
            uncertainty is recalibrated).
        frames: labelled validation ``ase.Atoms`` (not training frames), at least
            :data:`MIN_FRAMES`.
        training: the training frames of a model without a native uncertainty (the distance
            reference); not needed for GAPs and ensembles, or to recalibrate.
        posterior: a GAP's posterior (``GapFit.posterior`` or
            :func:`jaxpot.gap.load_posterior`).
        inside_fraction: the fraction of validation structures the domain threshold keeps in.
        distance_settings: the distance reference's descriptor settings
            (:data:`jaxpot.uncertainty.distance.DEFAULTS`, ``ridge``).
    """
    from jaxpot.structure import check_frames as check_atoms
    from jaxpot.uncertainty.domain import structure_scores
    from jaxpot.uncertainty.predict import method_of, raw_std
    frames = check_atoms(frames, "uq.calibrate: frames")
    if len(frames) < MIN_FRAMES:
        raise ValueError(f"uq.calibrate needs at least {MIN_FRAMES} labelled validation "
                         f"frames, got {len(frames)}")
    if not 0 < inside_fraction <= 1:
        raise ValueError(f"inside_fraction must be in (0, 1], got {inside_fraction}")
    method = method_of(model)
    child, carried = unwrap(model) if is_uncertain(model) else (model, None)
    arrays, settings = (carried.arrays, carried.settings) if carried else ({}, {})
    if method == "ensemble":
        from jaxpot.nn.ensemble import calibrate as calibrate_ensemble
        child = calibrate_ensemble(child, frames)
    elif method == "gap_posterior" and carried is None:
        if posterior is None:
            raise ValueError(f"{model.name}: calibrating a GAP needs its posterior "
                             "(posterior=jaxpot.gap.load_posterior('<model>.posterior.npz'))")
        from jaxpot.gap.uncertainty import check_posterior
        u, r, _ = check_posterior(child, posterior)
        arrays = {"kmm_factor": np.asarray(u), "posterior_factor": np.asarray(r)}
    elif method == "distance" and (carried is None or training is not None):
        if training is None:
            raise ValueError(f"{model.name} ({model.kind}) has no uncertainty of its own: give "
                             "its training frames (training=...) for a distance reference")
        from jaxpot.uncertainty.distance import fit_reference
        arrays, settings = fit_reference(child, check_atoms(training, "training"),
                                         **distance_settings)
    raw = carry(child, method, arrays, settings=settings)
    _, _, means, e_std, f_std, _ = raw_std(raw, frames)
    if means is None:
        from jaxpot.prediction import predict as jaxpot_predict
        p = jaxpot_predict(child, frames, progress=False)
        means = (p.energy, p.forces, p.stress)
    e_err, e_sig, f_err, f_sig = _errors(frames, means[0], means[1], e_std, f_std)
    # the factors are fitted on what uq.predict reports (an ensemble's per-atom force sigma is
    # the RMS of its calibrated components', a quantity its own factors were not fitted on)
    scale = (_factor(e_err, e_sig, "energy"), _factor(f_err, f_sig, "force"))
    scored = carry(child, method, arrays, scale=scale, settings=settings)
    scores = structure_scores(scored, frames)
    threshold = float(np.quantile(scores, inside_fraction, method="higher"))
    _log.info("uq.calibrate (%s) on %d frames: factors energy %.4g, forces %.4g; domain "
              "threshold %.4g (%.0f %% of these frames inside)", method, len(frames), *scale,
              threshold, 100 * np.mean(scores <= threshold))
    return carry(child, method, arrays, scale=scale, threshold=threshold, settings=settings,
                 calibrated=True)
