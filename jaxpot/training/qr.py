"""Streamed (tall-skinny) QR least squares, shared by the GAP solve and the linear fits.

    state = qr_init(prior_rows)                       # (M, M) upper triangular start
    for rows, targets, sigmas in blocks:              # any number of row blocks
        state = qr_update(state, rows, targets, sigmas)
    weights = qr_solve(state)                         # (M,), never an explicit inverse

The sparse-GP (projected process / DTC) solve as gap_fit does it is the first user: with K_MM
the sparse-point covariance (plus ``sparse_jitter`` on its diagonal) = U^T U, K_NM the
observation rows and Lambda the diagonal of observation variances, the weights are the
least-squares solution of

    [ Lambda^{-1/2} K_NM ]          [ Lambda^{-1/2} y ]
    [        U           ] alpha ~= [        0        ],

solved by Householder QR in float64 (gap_fit's ``gp_predict.F90``; never an explicit inverse).
Here the QR is accumulated block by block (tall-skinny QR): the running R factor and Q^T y are
stacked on each new block of rows and re-factorised, so memory is O(M^2 + block M) however many
observations there are.  The final R also gives the posterior covariance (R^T R)^{-1} used for
predictive variances.  The linear fits (:mod:`jaxpot.linear.solve`) keep one such state per
subset and kind of row and combine them under their weights and ridge.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.linalg


class QRState(NamedTuple):
    """Running factorisation: r (M, M) upper triangular, qty (M,), residual sum of squares
    of the rows already absorbed beyond rank M (a float), rows seen."""

    r: np.ndarray
    qty: np.ndarray
    rss: float
    n_rows: int


def cholesky_upper(k_mm: np.ndarray, jitter: float) -> np.ndarray:
    """U with U^T U = K_MM + jitter I; a clear error when it is not positive definite."""
    m = len(k_mm)
    try:
        return scipy.linalg.cholesky(k_mm + jitter * np.eye(m), lower=False)
    except np.linalg.LinAlgError:
        raise np.linalg.LinAlgError(
            f"the sparse covariance K_MM ({m} points) plus sparse_jitter={jitter:g} is not "
            "positive definite: duplicate sparse points or a too small jitter; raise "
            "sparse_jitter or n_sparse fewer") from None


def qr_init(u: np.ndarray) -> QRState:
    """Start from the prior rows [U | 0]."""
    return QRState(np.array(u, float), np.zeros(len(u)), 0.0, 0)


def qr_update(state: QRState, rows: np.ndarray, targets: np.ndarray,
              sigmas: np.ndarray) -> QRState:
    """Absorb observation rows (n, M) with targets (n,) and noise std (n,) into the QR."""
    rows = np.asarray(rows, float)
    if len(rows) == 0:
        return state
    w = 1.0 / np.asarray(sigmas, float)
    m = state.r.shape[1]
    stacked = np.empty((m + len(rows), m + 1))
    stacked[:m, :m], stacked[:m, m] = state.r, state.qty
    stacked[m:, :m] = rows * w[:, None]
    stacked[m:, m] = targets * w
    r_aug = scipy.linalg.qr(stacked, mode="r", overwrite_a=True, check_finite=False)[0]
    r_aug = r_aug[:m + 1]
    rss = state.rss + (float(r_aug[m, m]) ** 2 if len(r_aug) > m else 0.0)
    return QRState(r_aug[:m, :m], r_aug[:m, m], rss, state.n_rows + len(rows))


def qr_solve(state: QRState) -> np.ndarray:
    """alpha (M,) from the accumulated factorisation."""
    diag = np.abs(np.diag(state.r))
    if not np.all(np.isfinite(state.r)) or diag.min() <= 1e-300:
        raise np.linalg.LinAlgError("the GP system is singular (a zero pivot in R): check for "
                                    "duplicate sparse points or raise sparse_jitter")
    return scipy.linalg.solve_triangular(state.r, state.qty, lower=False)
