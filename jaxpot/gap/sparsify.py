"""Choosing the sparse (representative) points of a GAP from the training environments.

``cur_points``: gap_fit's CUR column selection (Mahoney & Drineas, PNAS 106, 697 (2009), as in
GAP's ``clustering.F90``): leverage scores p_j = min(1, M sum_{k<r} v_jk^2 / r) of the rank-r
right singular vectors of the (environments x features) matrix, with r half the number of
singular values above 1e-8; columns are taken where ``u_j - p_j`` is smallest for uniform
random u_j (``n_iter`` draws, the one with the smallest CUR reconstruction error kept), or
by largest p_j when ``n_iter=0``.
``fps``: farthest-point sampling in the kernel-induced distance of unit vectors.
``random``: uniform without replacement.  ``uniform`` (distance_2b): M points evenly spaced
between the smallest and the largest distance seen.  ``all``: every environment.
Every method is deterministic for a given ``seed``.
"""

from __future__ import annotations

import numpy as np

METHODS = ("cur_points", "fps", "random", "all", "uniform", "index_file")


def select_sparse(x: np.ndarray, n_sparse: int, method: str = "cur_points", seed: int = 0,
                  n_iter: int = 1) -> np.ndarray:
    """Indices (n_sparse,) of rows of ``x`` (n, F) to keep as sparse points (sorted).

    Raises ValueError when fewer distinct environments than ``n_sparse`` exist for the
    methods that cannot repeat a point, naming both counts.
    """
    x = np.asarray(x, float)
    n = len(x)
    if method == "all":
        return np.arange(n)
    if n_sparse < 1:
        raise ValueError(f"n_sparse must be >= 1, got {n_sparse}")
    if n_sparse > n:
        raise ValueError(f"n_sparse={n_sparse} but only {n} training environments: lower "
                         "n_sparse or add data")
    rng = np.random.default_rng(seed)
    if method == "random":
        return np.sort(rng.choice(n, n_sparse, replace=False))
    if method == "fps":
        return np.sort(farthest_points(x, n_sparse, rng))
    if method == "cur_points":
        return np.sort(cur_columns(x, n_sparse, rng, n_iter))
    raise ValueError(f"unknown sparse_method {method!r}; choose from {METHODS}")


def cur_columns(x: np.ndarray, n_sparse: int, rng: np.random.Generator,
                n_iter: int = 1) -> np.ndarray:
    """gap_fit's CUR selection of ``n_sparse`` rows of ``x`` (module docstring)."""
    _, s, vt = np.linalg.svd(x.T, full_matrices=False)  # x.T = U S V^T, V: (n, r)
    rank = max(1, int(np.sum(s > 1e-8)) // 2)
    v = vt[:rank].T
    p = np.minimum(np.sum(v ** 2, axis=1) * n_sparse / rank, 1.0)
    if n_iter <= 0:
        return np.argsort(-p, kind="stable")[:n_sparse]
    best, best_err = None, np.inf
    for _ in range(n_iter):
        chosen = np.argsort(rng.uniform(size=len(p)) - p, kind="stable")[:n_sparse]
        c = x[chosen].T  # (F, M)
        err = np.sum((x.T - c @ (np.linalg.pinv(c) @ x.T)) ** 2) if n_iter > 1 else 0.0
        if best is None or err < best_err:
            best, best_err = chosen, err
    return best


def farthest_points(x: np.ndarray, n_sparse: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy farthest-point sampling; distance^2 = |x_i|^2 + |x_j|^2 - 2 x_i.x_j."""
    sq = np.sum(x * x, axis=1)
    chosen = [int(rng.integers(len(x)))]
    dist = sq + sq[chosen[0]] - 2.0 * x @ x[chosen[0]]
    for _ in range(n_sparse - 1):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, sq + sq[nxt] - 2.0 * x @ x[nxt])
    return np.array(chosen)


def uniform_grid(values: np.ndarray, n_sparse: int) -> np.ndarray:
    """``n_sparse`` points evenly spaced from min to max of ``values`` (gap_fit's uniform)."""
    values = np.asarray(values, float)
    if values.size == 0:
        raise ValueError("no training distances for the distance_2b sparse points")
    return np.linspace(values.min(), values.max(), n_sparse)
