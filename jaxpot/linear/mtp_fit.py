"""Fit a moment tensor potential: the linear fit with the radial part fixed, then all of it.

    fit = fit_mtp(frames, MomentTensors((14,), 16, 1.5, 5.0))
    fit.model            # the non-linear fit (best validation iteration), an EnergyModel
    fit.linear.model     # the linear fit it started from

1. Radial coefficients: f_mu = Q_mu (plus seeded noise), scaled per mu so that the scalar
   moments M_{mu,0} are 1 on average over the training atoms (every basis function is then
   O(1), which keeps the design matrix and the optimiser well scaled).
2. Linear fit (:func:`jaxpot.linear.fit.fit_linear` with :class:`MtpBasis`): e0 per species and
   the moment coefficients xi by weighted ridge least squares, weights and ridge chosen on the
   validation split.
3. Non-linear fit (:func:`jaxpot.training.lbfgs.train_lbfgs`): radial coefficients and xi together
   by full-batch L-BFGS on the linear stage's own objective (its validation-chosen weights and
   scale-free ridge on xi), from the linear solution, preconditioned by that objective's exact
   Hessian in xi, keeping the iteration with the best validation loss (mlip-2 fits the same
   parameters by BFGS; first-order optimisers such as Adam leave the linear solution's basin
   at once: the basis functions are products of up to level/2 moments, so the loss is stiff).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.descriptors.moment_tensors import MomentTensors, initial_radial_coeffs, radial_functions
from jaxpot.descriptors.mtp_jacobian import mtp_features_and_jacobian
from jaxpot.linear import rows as linear_rows
from jaxpot.linear.fit import LinearFit, LinearFitSettings, fit_linear
from jaxpot.model import EnergyModel, species_indices, species_lookup


class MtpBasis(NamedTuple):
    """The linear basis of an MTP with fixed radial coefficients: columns [e0 (S), xi (F)]."""

    descriptor: MomentTensors
    radial: tuple[float, ...]  # flattened (S, S, n_mu, size), hashable and repr-stable

    @property
    def radial_array(self) -> np.ndarray:
        return np.asarray(self.radial, float).reshape(self.descriptor.radial_shape)

    @property
    def n_columns(self) -> int:
        return len(self.descriptor.species) + self.descriptor.n_features

    def penalised(self) -> np.ndarray:
        """Columns under the ridge: the moment coefficients, not the e0."""
        s = len(self.descriptor.species)
        return np.arange(self.n_columns) >= s

    def model(self, coefficients: np.ndarray) -> EnergyModel:
        from jaxpot.potentials.mtp import mtp
        d, s = self.descriptor, len(self.descriptor.species)
        c = np.asarray(coefficients, float)
        dtype = jnp.result_type(float)
        params = {"net": {"radial": jnp.asarray(self.radial_array, dtype),
                          "xi": jnp.asarray(c[s:], dtype)},
                  "norm": {"e0": jnp.asarray(c[:s], dtype), "energy_scale": jnp.ones((), dtype)}}
        return mtp(d.species, d.level, d.r_cut, d.r_min, radial_basis_size=d.radial_basis_size,
                   params=params)

    def rows(self, batch):
        d, s = self.descriptor, len(self.descriptor.species)
        r = _mtp_rows(d, jnp.asarray(self.radial_array), batch)

        def shared(x):  # per-species columns (S (1 + F)) -> [e0 (S), xi shared (F)]
            x = x.reshape(x.shape[:-1] + (s, 1 + d.n_features))
            return jnp.concatenate([x[..., 0], jnp.sum(x[..., 1:], axis=-2)], axis=-1)
        return linear_rows.Rows(shared(r.energy), shared(r.forces), shared(r.stress))

    def compile(self, batch) -> None:
        """Compile :meth:`rows` for ``batch``'s shape without running it."""
        _mtp_rows.lower(self.descriptor, jnp.asarray(self.radial_array), batch).compile()

    def bytes_per_structure(self, bucket) -> int:
        d = self.descriptor
        return linear_rows.rows_bytes_per_structure(bucket.n_atoms, bucket.capacity,
                                                    d.n_features, False, len(d.species))


@functools.partial(jax.jit, static_argnums=0)
def _mtp_rows(desc: MomentTensors, radial, batch) -> linear_rows.Rows:
    """Per-species rows of a batch (radial coefficients traced: one compilation per settings
    and bucket shape, whatever the radial part)."""
    fn = functools.partial(mtp_features_and_jacobian, desc, radial)
    return linear_rows.batch_rows(fn, desc.species, False, batch)


class MtpFit(NamedTuple):
    model: EnergyModel
    linear: LinearFit
    training: object | None  # jaxpot.training.epochs.TrainResult of the non-linear fit


def scaled_radial(desc: MomentTensors, frames: Sequence, seed: int = 0,
                  max_frames: int = 32) -> np.ndarray:
    """Initial radial coefficients scaled so that mean |M_{mu,0}| = 1 over the atoms of (up to
    ``max_frames`` of) the frames."""
    from jaxpot.batch import frame_pairs, packed_batches, plan_buckets
    from jaxpot.potentials.mtp import mtp
    c = initial_radial_coeffs(desc, seed)
    template = mtp(desc.species, desc.level, desc.r_cut, desc.r_min,
                   radial_basis_size=desc.radial_basis_size)
    sample = list(frames)[:max_frames]
    pairs = [frame_pairs(template, a) for a in sample]
    n_mu = desc.radial_shape[2]
    total, count = np.zeros(n_mu), 0.0
    for _, batch in packed_batches(template, sample, pairs, plan_buckets(sample, pairs)):
        s, n = _scalar_moments(desc, batch, jnp.asarray(c))
        total += np.asarray(s).sum(0)
        count += float(np.asarray(n).sum())
    mean = total / max(count, 1.0)
    return c / np.where(mean > 0, mean, 1.0)[None, None, :, None]


def ridge_norms(linear: LinearFit) -> np.ndarray:
    """Column norms C of the linear fit's weighted data (its scale-free ridge is lambda |C x|^2,
    :func:`jaxpot.linear.solve.solve`)."""
    total = 0.0
    for kind, w in zip(("energy", "forces", "stress"), linear.choice.weights):
        state = linear.states[kind]
        if state.n_rows and w:
            r = np.asarray(state.r)
            total = total + (w * w / state.n_rows) * np.sum(r * r, axis=0)
    return np.sqrt(total)


def xi_hessian(linear: LinearFit, weights, n_species: int) -> np.ndarray:
    """Gauss-Newton Hessian of the L-BFGS loss in the moment coefficients xi (exact: the loss
    is quadratic in xi), from the linear fit's QR factors: 2 sum_k R_k^T R_k / (n_k sigma_k^2)
    (rows in eV/atom, eV/Å and GPa, as the sigmas)."""
    sigmas = dict(zip(("energy", "forces", "stress"), weights))
    h = 0.0
    for kind, state in linear.states.items():
        if state.n_rows and np.isfinite(sigmas[kind]):
            r = np.asarray(state.r)[:, n_species:]
            h = h + 2.0 * (r.T @ r) / (state.n_rows * sigmas[kind] ** 2)
    return np.asarray(h)


@functools.partial(jax.jit, static_argnums=0)
def _scalar_moments(desc: MomentTensors, batch, radial):
    """Sum over each structure's atoms of |M_{mu,0}| (B, n_mu) and the atom counts (B,)."""
    from jaxpot.neighbors import neighbor_vectors
    table = species_lookup(desc.species)

    def one(pos, cell, species, mask, nbrs):
        v, vm = neighbor_vectors(pos, cell, nbrs)
        centre, nb = species_indices(table, species, nbrs)
        f, _ = radial_functions(radial, desc.r_min, desc.r_cut, desc.radial_basis_size, v, vm,
                                centre, nb)
        vals = jnp.sum(f, axis=1)  # M_{mu,0} (N, n_mu)
        return jnp.sum(jnp.abs(vals) * mask[:, None], 0), jnp.sum(mask)
    return jax.vmap(one)(batch.positions, batch.cell, batch.species, batch.atom_mask,
                         batch.neighbors)


def fit_mtp(frames: Sequence, descriptor: MomentTensors,
            settings: LinearFitSettings = LinearFitSettings(), lbfgs_settings=None, *,
            nonlinear: bool = True, seed: int = 0, source: str = "frames",
            progress: bool = True, checkpoint: str | None = None, names=None) -> MtpFit:
    """Fit an MTP: linear fit, then (``nonlinear``) every coefficient by L-BFGS.

    Args:
        settings: the linear fit's weights, ridge and validation split.
        lbfgs_settings: :class:`jaxpot.training.lbfgs.LbfgsSettings` of the non-linear fit (its
            weights, split and seed are replaced by the linear stage's chosen weights and
            ``settings``' split and seed).
        checkpoint: path stem; ``<checkpoint>.linear.npz`` and ``<checkpoint>.train.npz`` hold
            the two stages' resumable state.
        names: info/arrays keys of the labels (:class:`jaxpot.training.labels.LabelKeys` or a dict).

    An ``r_cut`` within which no frame has a neighbour is refused (CutoffError).
    """
    from jaxpot.descriptors.moment_tensors import check_settings
    from jaxpot.linear.distances import check_sees_neighbours
    check_settings(descriptor)
    from jaxpot.structure import check_frames
    from jaxpot.training.labels import read_labels_checked
    frames = check_frames(frames, source)
    read_labels_checked(frames, names, source)  # bad labels fail before the radial scaling
    check_sees_neighbours(frames, descriptor.r_cut, f"r_cut = {descriptor.r_cut:g} Å")
    radial = scaled_radial(descriptor, frames, seed)
    basis = MtpBasis(descriptor, tuple(float(x) for x in radial.reshape(-1)))
    linear = fit_linear(frames, basis, settings, source=source, progress=progress,
                        checkpoint=f"{checkpoint}.linear.npz" if checkpoint else None,
                        names=names)
    if not nonlinear:
        return MtpFit(linear.model, linear, None)
    from jaxpot.training.lbfgs import LbfgsSettings, train_lbfgs
    from jaxpot.training.weights import LossWeights
    lbfgs_settings = (lbfgs_settings or LbfgsSettings())._replace(
        weights=LossWeights(*(1.0 / w if w else math.inf for w in linear.choice.weights)),
        validation_fraction=settings.validation_fraction, seed=settings.seed,
        stratify_validation=settings.stratify_validation)
    s = len(descriptor.species)
    ridge_scale = linear.choice.ridge * ridge_norms(linear)[s:] ** 2
    scale = jnp.asarray(ridge_scale)

    def ridge(net):
        return jnp.sum(scale * net["xi"] ** 2)

    h = xi_hessian(linear, lbfgs_settings.weights, s) + 2.0 * np.diag(ridge_scale)
    result = train_lbfgs(linear.model, frames, settings=lbfgs_settings, source=source,
                         progress=progress,
                         checkpoint=f"{checkpoint}.train.npz" if checkpoint else None,
                         hessian_blocks={"xi": h}, penalty=ridge, names=names)
    return MtpFit(result.model, linear, result)
