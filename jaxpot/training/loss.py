"""Training loss of a potential on a batch of structures, and its error sums.

    L = mean_s (dE_s / N_s)^2 / sigma_E^2 + mean_{atoms, xyz} dF^2 / sigma_F^2
        + mean_{s, ab} dsigma^2 / sigma_S^2

over the labelled structures of the batch (weights 0 drop padding rows).  The sigmas (eV/atom,
eV/Å, GPa) are the expected errors that weight each quantity, as gap_fit's ``default_sigma``.
A structure's ``Targets.loss_weight`` (``config_type_weights``) multiplies its squared errors in
the loss, over the same unweighted counts (so a batch of one config_type keeps its weight); the
error sums reported as metrics stay unweighted.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.batch import Batch, batch_energy_forces_stress
from jaxpot.model import EnergyModel
from jaxpot.training.dataset import Targets
from jaxpot.training.weights import LossWeights
from jaxpot.units import GPa


class ErrorSums(NamedTuple):
    """Sums over a batch: counts, absolute and squared errors of energy/atom (eV), force
    components (eV/Å) and stress components (eV/Å^3)."""

    n_energy: jnp.ndarray
    abs_energy: jnp.ndarray
    sq_energy: jnp.ndarray
    n_forces: jnp.ndarray
    abs_forces: jnp.ndarray
    sq_forces: jnp.ndarray
    n_stress: jnp.ndarray
    abs_stress: jnp.ndarray
    sq_stress: jnp.ndarray


def autodiff_results(model: EnergyModel, batch: Batch, extra=None):
    """(energy, forces, stress) of a batch by autodiff through the model (the general path)."""
    res = batch_energy_forces_stress(model, batch)
    return res.energy, res.forces, res.stress


def error_sums(results, batch: Batch, targets: Targets, weight, square_weight=None
               ) -> ErrorSums:
    """Per-batch error sums of predicted ``results`` = (energy (B,), forces (B,N,3), stress
    (B,3,3)); weight (B,) 0/1 selects rows.  ``square_weight`` (B,), when given, multiplies
    each structure's squared errors (the loss's sums; counts and absolute errors unweighted)."""
    energy, forces, stress = results
    w_e = weight * targets.has_energy
    de = (energy - targets.energy) / jnp.maximum(targets.n_atoms, 1.0)
    w_f = (weight * targets.has_forces)[:, None, None] * batch.atom_mask[..., None]
    df = (forces - targets.forces) * w_f
    w_s = (weight * targets.has_stress)[:, None, None]
    ds = (stress - targets.stress) * w_s
    q = 1.0 if square_weight is None else square_weight
    q3 = 1.0 if square_weight is None else square_weight[:, None, None]
    return ErrorSums(jnp.sum(w_e), jnp.sum(w_e * jnp.abs(de)), jnp.sum(q * w_e * de * de),
                     3.0 * jnp.sum(w_f[..., 0]), jnp.sum(jnp.abs(df)), jnp.sum(q3 * df * df),
                     9.0 * jnp.sum(w_s), jnp.sum(jnp.abs(ds)), jnp.sum(q3 * ds * ds))


def loss_from_sums(sums: ErrorSums, weights: LossWeights):
    """The weighted loss (dimensionless) from error sums.  A sigma may be a traced scalar (the
    trainer's stage-two weights are an argument of its compiled step); an infinite Python
    float drops its term from the program."""
    def term(sq, n, sigma):
        if isinstance(sigma, (int, float)) and not math.isfinite(sigma):
            return 0.0
        return sq / jnp.maximum(n, 1.0) / sigma ** 2
    return (term(sums.sq_energy, sums.n_energy, weights.energy)
            + term(sums.sq_forces, sums.n_forces, weights.forces)
            + term(sums.sq_stress, sums.n_stress, weights.stress * GPa))


def batch_loss(model: EnergyModel, batch: Batch, targets: Targets, weight,
               weights: LossWeights, results_fn=autodiff_results, extra=None):
    """(loss, error sums) of ``model`` on a batch; ``results_fn(model, batch, extra)`` gives
    the predictions (autodiff by default); the sums are unweighted by ``loss_weight``."""
    results = results_fn(model, batch, extra)
    loss_sums = error_sums(results, batch, targets, weight, targets.loss_weight)
    return loss_from_sums(loss_sums, weights), error_sums(results, batch, targets, weight)


def add_sums(total: ErrorSums | None, sums: ErrorSums) -> ErrorSums:
    """``total + sums`` field by field (``sums`` when ``total`` is None)."""
    return sums if total is None else jax.tree_util.tree_map(jnp.add, total, sums)


def error_metrics(sums: ErrorSums) -> dict:
    """``{energy,forces,stress}_{mae,rmse}`` in meV/atom, eV/Å, GPa from error sums (averaged
    over ensemble members when they have a leading axis); a quantity without labels is left
    out."""
    s = {k: float(np.mean(np.asarray(v))) for k, v in sums._asdict().items()}
    out = {}
    for name, n, unit in (("energy", "n_energy", 1000.0), ("forces", "n_forces", 1.0),
                          ("stress", "n_stress", 1.0 / GPa)):
        if s[n] > 0:
            out[f"{name}_mae"] = s[f"abs_{name}"] / s[n] * unit
            out[f"{name}_rmse"] = float(np.sqrt(s[f"sq_{name}"] / s[n])) * unit
    return out
