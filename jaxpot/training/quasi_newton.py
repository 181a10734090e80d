"""The quasi-Newton pieces of a full-batch optimiser, on flat NumPy vectors (float64).

    d = two_loop_direction(g, s_mem, y_mem, n, gamma, m0)   # -H g from the newest n pairs
    n = remember(state, n, s, y, m0)                       # take (s, y) after a step
    h = bfgs_update(h, s, y)                               # dense BFGS (memory = 0)

The inverse Hessian approximation H is either dense (full BFGS, Nocedal & Wright, Numerical
Optimization, eq. 6.17) or kept as the newest ``m`` pairs (s, y) of steps and gradient changes
(L-BFGS, their two-loop recursion, algorithm 7.4), started from gamma M0 with M0 a
preconditioner (an inverse Gauss-Newton approximation) or the identity.  The loop that uses
them (line search, validation, checkpoints) is :func:`jaxpot.training.lbfgs.train_lbfgs`.
"""

from __future__ import annotations

import numpy as np


def bfgs_update(h: np.ndarray, s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The BFGS update of an inverse Hessian approximation h (P, P) by the step s and gradient
    change y (s.y > 0): (I - rho s y^T) h (I - rho y s^T) + rho s s^T, rho = 1 / s.y."""
    rho = 1.0 / np.dot(s, y)
    hy = h @ y
    return (h - rho * (np.outer(s, hy) + np.outer(hy, s))
            + (rho * rho * np.dot(y, hy) + rho) * np.outer(s, s))


def remember(state: dict, n: int, s: np.ndarray, y: np.ndarray, m0) -> int:
    """Take the pair (s, y) into ``state`` (in place) after n earlier ones; the new count.

    Dense (``state["h"]``): BFGS update, the first from gamma M0 with gamma = s.y / y.M0 y
    (Nocedal & Wright 6.20); else the newest ``len(state["s"])`` pairs are kept."""
    if "h" in state:
        h = state["h"]
        if n == 0:
            m0y = y if m0 is None else m0 @ y
            h = (np.eye(len(s)) if m0 is None else m0) * (np.dot(s, y) / np.dot(y, m0y))
        state["h"] = bfgs_update(h, s, y)
        return n + 1
    if n == len(state["s"]):
        state["s"][:-1], state["y"][:-1] = state["s"][1:].copy(), state["y"][1:].copy()
        n -= 1
    state["s"][n], state["y"][n] = s, y
    return n + 1


def two_loop_direction(g, s_mem, y_mem, n, gamma, m0=None):
    """-H g by the two-loop recursion over the newest n pairs (rows 0..n-1, oldest first),
    from H0 = gamma * m0 (m0 = identity when None)."""
    q = g.copy()
    alpha = np.zeros(n)
    rho = np.array([1.0 / np.dot(y_mem[i], s_mem[i]) for i in range(n)])
    for i in range(n - 1, -1, -1):
        alpha[i] = rho[i] * np.dot(s_mem[i], q)
        q -= alpha[i] * y_mem[i]
    r = gamma * (q if m0 is None else m0 @ q)
    for i in range(n):
        beta = rho[i] * np.dot(y_mem[i], r)
        r += s_mem[i] * (alpha[i] - beta)
    return -r


def first_direction(g, x, m0, first_step: float):
    """-M g with the preconditioner, else a steepest-descent step of length first_step |x|."""
    if m0 is not None:
        return -(m0 @ g)
    return -g * first_step * max(np.linalg.norm(x), 1.0) / max(np.linalg.norm(g), 1e-300)
