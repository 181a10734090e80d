"""Weighted ridge least squares from streamed QR factors, and its validation-chosen settings.

Rows are absorbed once, per subset (train / validation) and kind (energy per atom, forces,
stress), into running QR factors (:mod:`jaxpot.training.qr`'s tall-skinny QR), so memory is
O(P^2) per kind however many observations there are.  For kind weights w_k (1 / expected
error) and a ridge lambda the coefficients minimise

    sum_k w_k^2 / n_k ||A_k x - y_k||^2 + lambda ||C x||^2,

with n_k the number of rows of kind k (each kind weighs as its mean squared error) and C the
column norms of the weighted data (so lambda is scale free; the constants beta_0 are not
penalised).  The stacked factors [w_k R_k / sqrt(n_k); sqrt(lambda) C] are solved by SVD in
float64, which also gives the condition number.  The residual of any x on any subset is exact
from the factors: ||A x - y||^2 = ||R x - Q^T y||^2 + rss.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np

from jaxpot.training.qr import QRState, qr_update

KINDS = ("energy", "forces", "stress")
#: a system whose condition number exceeds this is refused (digits of float64 would be lost)
MAX_CONDITION = 1e13


class IllConditionedError(np.linalg.LinAlgError):
    """The weighted, regularised design matrix is too ill-conditioned to solve reliably."""


class Choice(NamedTuple):
    """Kind weights (1/expected error: per eV/atom, per eV/Å, per GPa) and ridge."""

    weights: tuple[float, float, float]
    ridge: float


def empty_state(p: int) -> QRState:
    return QRState(np.zeros((p, p)), np.zeros(p), 0.0, 0)


def absorb(state: QRState, rows: np.ndarray, targets: np.ndarray) -> QRState:
    """Add rows (n, P) with targets (n,) (unit noise: weights are applied by the caller)."""
    if len(rows) == 0:
        return state
    return qr_update(state, np.asarray(rows), np.asarray(targets), np.ones(len(rows)))


def merge(a: QRState, b: QRState) -> QRState:
    """Factors of the rows of ``a`` and ``b`` together."""
    if b.n_rows == 0:
        return a
    out = qr_update(a, b.r, b.qty, np.ones(len(b.r)))
    return QRState(out.r, out.qty, out.rss + b.rss, a.n_rows + b.n_rows)


def sum_of_squares(state: QRState, x: np.ndarray) -> float:
    """||A x - y||^2 of the absorbed rows."""
    return float(np.sum((state.r @ x - state.qty) ** 2) + state.rss)


def rmse(state: QRState, x: np.ndarray) -> float:
    return float(np.sqrt(sum_of_squares(state, x) / state.n_rows)) if state.n_rows else np.nan


def solve(states: dict[str, QRState], choice: Choice,
          penalised: np.ndarray) -> tuple[np.ndarray, float]:
    """Coefficients (P,) and the condition number of the stacked system.

    ``penalised`` (P,) bool marks the columns under the ridge."""
    blocks, rhs = [], []
    for kind, w in zip(KINDS, choice.weights):
        s = states.get(kind)
        if s is None or s.n_rows == 0 or w == 0:
            continue
        f = w / np.sqrt(s.n_rows)
        blocks.append(f * s.r)
        rhs.append(f * s.qty)
    if not blocks:
        raise ValueError("no observations with a non-zero weight to fit")
    a = np.vstack(blocks)
    norms = np.sqrt(np.sum(a * a, axis=0))
    c = np.where(penalised, norms, 0.0)
    if choice.ridge > 0:
        a = np.vstack([a, np.sqrt(choice.ridge) * np.diag(c)])
        rhs.append(np.zeros(len(c)))
    b = np.concatenate(rhs)
    scale = np.where(norms > 0, norms, 1.0)  # column equilibration before the SVD
    u, s, vt = np.linalg.svd(a / scale, full_matrices=False)
    cond = float(s[0] / s[-1]) if s[-1] > 0 else np.inf
    if not cond < MAX_CONDITION:
        raise IllConditionedError(
            f"the design matrix is ill-conditioned (condition number {cond:.2g} > "
            f"{MAX_CONDITION:.0e}) with ridge = {choice.ridge:g} and weights (energy, forces, "
            f"stress) = {choice.weights}: raise the ridge regulariser (e.g. ridge = 1e-8), "
            "give forces a non-zero weight, or use fewer features (a smaller twojmax)")
    x = vt.T @ ((u.T @ b) / s)
    return x / scale, cond


def select(train: dict[str, QRState], validation: dict[str, QRState], penalised: np.ndarray,
           sigmas: tuple[float, float, float], ridges, force_factors, stress_factors
           ) -> tuple[Choice, list[dict]]:
    """The grid point with the lowest validation score sum_k RMSE_k / sigma_k.

    Weights are 1/sigma_k, forces and stress scaled by each factor of their grids; ridges
    from ``ridges``.  Returns the choice and one table row per grid point."""
    table, best = [], None
    for ridge, ff, sf in itertools.product(ridges, force_factors, stress_factors):
        choice = Choice((1.0 / sigmas[0], ff / sigmas[1], sf / sigmas[2]), float(ridge))
        try:
            x, cond = solve(train, choice, penalised)
        except IllConditionedError:
            continue
        errors = {k: rmse(validation[k], x) if k in validation else np.nan for k in KINDS}
        score = sum(errors[k] / s for k, s in zip(KINDS, sigmas) if np.isfinite(errors[k]))
        table.append(dict(ridge=float(ridge), force_factor=ff, stress_factor=sf,
                          condition=cond, score=score,
                          **{f"rmse_{k}": errors[k] for k in KINDS}))
        if best is None or score < best[0]:
            best = (score, choice)
    if best is None:
        raise IllConditionedError("every ridge of the grid left the design matrix "
                                  "ill-conditioned; give larger ridge values")
    return best[1], table
