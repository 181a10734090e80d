"""Hyperparameters of a GAP by maximising the log marginal likelihood (gap_fit cannot).

The sparse GP's (DTC) evidence for targets y with noise Lambda and Q = K_NM K_MM^-1 K_MN is

    log p(y) = -1/2 y^T (Q + Lambda)^-1 y - 1/2 log|Q + Lambda| - n/2 log(2 pi),

and with C = K_MM + K_MN Lambda^-1 K_NM (Woodbury and the matrix determinant lemma)

    y^T (Q + Lambda)^-1 y = y^T Lambda^-1 y - v^T C^-1 v,   v = K_MN Lambda^-1 y,
    log|Q + Lambda| = log|Lambda| + log|C| - log|K_MM|.

The tuned quantities are a common signal scale ``delta`` (every kernel times delta^2 /
delta_0^2) and one noise scale per observation kind (energy, force, virial), each multiplying
the per-row sigmas of the settings (so per-atom and per-config_type structure is kept).  The
data enter only through a streamed QR of each kind's weighted rows (an (M, M) factor, its
projected targets and residual), accumulated in one pass; afterwards each optax step costs
O(M^3), whatever the number of observations.  ``atom_sigma``, the
cutoff and zeta change the kernel rows themselves: choose those on a validation split.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.gap.design import sparse_covariance
from jaxpot.gap.fit import observation_blocks, prepare
from jaxpot.gap.settings import GapSettings
from jaxpot.training.qr import qr_init, qr_update


class EvidenceStatistics(NamedTuple):
    """Sufficient statistics of the evidence: per kind k (energy, force, virial) the QR
    factor R_k of W_k^1/2 K_NM^k, Q_k^T W_k^1/2 y^k and the residual |.|^2 beyond it, so
    K_MN^k W_k K_NM^k = R_k^T R_k is never formed (its condition number would be squared)."""

    k_mm: np.ndarray  # (M, M) at delta_0
    r: np.ndarray  # (3, M, M)
    qty: np.ndarray  # (3, M)
    rss: np.ndarray  # (3,)
    count: np.ndarray  # (3,) observations per kind
    log_sigma_sum: np.ndarray  # (3,) sum of log(row sigma^2) at the settings' sigmas


def evidence_statistics(frames: Sequence, settings: GapSettings, *, baseline=None,
                        progress: bool = False) -> EvidenceStatistics:
    """One streamed pass over the data (sparse points chosen as :func:`jaxpot.gap.fit` does)."""
    problem = prepare(frames, settings, baseline=baseline, progress=progress)
    k_mm = sparse_covariance(problem.unfitted)
    m = len(k_mm)
    states = [qr_init(np.zeros((m, m))) for _ in range(3)]
    count, logs = np.zeros(3), np.zeros(3)
    for block in observation_blocks(problem, progress):
        k = block.kind
        states[k] = qr_update(states[k], block.rows, block.targets, block.sigmas)
        count[k] += len(block.targets)
        logs[k] += float(np.sum(np.log(block.sigmas ** 2)))
    return EvidenceStatistics(k_mm, np.stack([st.r for st in states]),
                              np.stack([st.qty for st in states]),
                              np.array([st.rss for st in states]), count, logs)


def log_marginal_likelihood(log_delta_ratio, log_noise_ratio, stats: EvidenceStatistics,
                            jitter: float):
    """log p(y) for delta = delta_0 exp(log_delta_ratio) and sigma_k = sigma_k,0 exp(
    log_noise_ratio[k]) (jittable and differentiable).

    The least-squares system [Lambda^-1/2 s K_NM; U_s] alpha ~ [Lambda^-1/2 y; 0] (s = delta^2
    / delta_0^2, U_s^T U_s = s K_MM + jitter) is rebuilt from the per-kind factors as a
    (3M + M, M) stack and factorised by QR: the residual gives y^T (Q + Lambda)^-1 y and the
    R diagonal log|C|, both without squaring a condition number."""
    s = jnp.exp(2.0 * log_delta_ratio)
    scale = jnp.exp(-log_noise_ratio)  # 1 / noise ratio per kind
    m = stats.k_mm.shape[0]
    k_mm = s * jnp.asarray(stats.k_mm) + jitter * jnp.eye(m)
    chol_k = jnp.linalg.cholesky(k_mm)
    a = jnp.concatenate([(s * scale[:, None, None] * jnp.asarray(stats.r)).reshape(3 * m, m),
                         chol_k.T])
    b = jnp.concatenate([(scale[:, None] * jnp.asarray(stats.qty)).reshape(-1),
                         jnp.zeros(m)])
    r_aug = jnp.linalg.qr(jnp.concatenate([a, b[:, None]], axis=1), mode="reduced")[1]
    fit_term = jnp.sum(scale ** 2 * jnp.asarray(stats.rss)) + r_aug[m, m] ** 2
    log_det = (jnp.sum(jnp.asarray(stats.log_sigma_sum) + 2.0 * log_noise_ratio
                       * jnp.asarray(stats.count))
               + 2.0 * jnp.sum(jnp.log(jnp.abs(jnp.diag(r_aug)[:m])))
               - 2.0 * jnp.sum(jnp.log(jnp.diag(chol_k))))
    n = jnp.sum(jnp.asarray(stats.count))
    return -0.5 * fit_term - 0.5 * log_det - 0.5 * n * jnp.log(2.0 * jnp.pi)


class Tuned(NamedTuple):
    """Result of :func:`optimize_hyperparameters`: the tuned settings, the evidence before
    and after (nats), and the evidence at each step."""

    settings: GapSettings
    log_likelihood_start: float
    log_likelihood: float
    history: np.ndarray


def optimize_hyperparameters(frames: Sequence, settings: GapSettings, *, steps: int = 200,
                             learning_rate: float = 0.05, baseline=None,
                             progress: bool = False) -> Tuned:
    """Maximise the evidence over delta and the energy/force/virial noise scales (Adam).

    Kinds with no observations keep their sigma.  Returns settings to pass to
    :func:`jaxpot.gap.fit` (the hand-set path stays the default of a fit)."""
    import optax
    stats = evidence_statistics(frames, settings, baseline=baseline, progress=progress)
    jitter = settings.sparse_jitter
    present = jnp.asarray(stats.count > 0)

    def loss(params):
        noise = jnp.where(present, params["noise"], 0.0)
        return -log_marginal_likelihood(params["delta"], noise, stats, jitter)

    params = {"delta": jnp.zeros(()), "noise": jnp.zeros(3)}
    opt = optax.adam(learning_rate)
    state = opt.init(params)

    @jax.jit
    def step(params, state):
        value, grads = jax.value_and_grad(loss)(params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    history = []
    for _ in range(steps):
        params, state, value = step(params, state)
        history.append(-float(value))
    final = -float(loss(params))
    ratio = float(np.exp(params["delta"]))
    noise = np.where(np.asarray(present), np.exp(np.asarray(params["noise"])), 1.0)
    tuned = _scaled(settings, ratio, noise)
    return Tuned(tuned, history[0], final, np.array(history))


def _scaled(settings: GapSettings, delta_ratio: float, noise: np.ndarray) -> GapSettings:
    sigma = np.asarray(settings.default_sigma, float)
    sigma[:3] *= noise
    config = None
    if settings.config_type_sigma:
        config = {k: [v[0] * noise[0], v[1] * noise[1], v[2] * noise[2], v[3]]
                  for k, v in settings.config_type_sigma.items()}
    changes = dict(default_sigma=tuple(float(x) for x in sigma), config_type_sigma=config)
    if settings.soap is not None:
        changes["soap"] = _replace(settings.soap, delta=settings.soap.delta * delta_ratio)
    if settings.distance_2b is not None:
        changes["distance_2b"] = _replace(settings.distance_2b,
                                          delta=settings.distance_2b.delta * delta_ratio)
    return settings.replace(**changes)


def _replace(obj, **changes):
    import dataclasses
    return dataclasses.replace(obj, **changes)
