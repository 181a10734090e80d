"""The hills of metadynamics: a fixed-capacity buffer carried in the MD state, the bias they
sum to, and the free energy they give.

:class:`Hills` lives in :attr:`jaxpot.md.state.MDState.bias`: the run driver grows it when a
deposit does not fit (``did_overflow``, ``grow``) and replays the chunk, as it does for
neighbor lists; checkpoints hold it.  :func:`hill_sum` is the bias V(s) of the deposited
Gaussians (blocks of :data:`BLOCK`, in a fixed order); :func:`free_energy` the well-tempered
reconstruction with block-averaged error bars.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import logsumexp

from jaxpot.md.state import MDState
from jaxpot.neighbors import NeighborList, rebuild_neighbor_list
from jaxpot.pytree import pytree_dataclass
from jaxpot.types import Array

#: hills summed per block; capacities are multiples of it
BLOCK = 64
DEFAULT_CAPACITY = 1024


@pytree_dataclass
class Hills:
    """The bias's state: a fixed-capacity buffer of deposition attempts and the walkers.

    Per attempt (C slots, ``count`` used): centers (C, d) CV units, heights (C,) eV (0 for a
    paused attempt), biases (C,) eV (V at the centre just before the attempt), sigmas (C,)
    eV (the uncertainty, NaN without one), steps (C,) int32, paused (C,) bool.  full () bool:
    a deposit did not fit (the driver grows the buffer); energy () eV: V at walker 0's CVs;
    pausing () bool: the last attempt was paused; width (d,), gamma () (inf: plain), kT ()
    eV: what :meth:`free_energy` needs.  walkers: the other W-1 walkers' stacked MDStates and
    walker_neighbors their lists (None for one walker).
    """

    centers: Array
    heights: Array
    biases: Array
    sigmas: Array
    steps: Array
    paused: Array
    count: Array
    full: Array
    energy: Array
    pausing: Array
    width: Array
    gamma: Array
    kT: Array
    walkers: MDState | None = None
    walker_neighbors: NeighborList | None = None

    @property
    def capacity(self) -> int:
        return self.centers.shape[-2]

    @property
    def did_overflow(self) -> Array:
        """The buffer was full (the driver grows it and replays the chunk)."""
        return self.full

    def log_row(self) -> dict:
        """Log columns: bias_energy (eV, walker 0), n_hills, n_paused (cumulative), paused
        (deposition is paused at this row: the last attempt's uncertainty was too high)."""
        n_paused = jnp.sum(self.paused).astype(jnp.int32)
        return {"bias_energy": self.energy, "n_hills": self.count - n_paused,
                "n_paused": n_paused, "paused": self.pausing}

    def grow(self, overflowed: Hills) -> Hills:
        """This (a chunk's start) with room for where ``overflowed`` ran out (host side):
        the buffer at least doubled."""
        need = int(overflowed.count) + _n_walkers(self)
        return _padded(self, max(2 * self.capacity, -(-need // BLOCK) * BLOCK))

    def matching(self, neighbors: NeighborList) -> Hills:
        """The walkers' lists in the shapes of the run's list (host side): rebuilt at their
        positions after the driver regrew it (a walker's overflow is the run list's)."""
        lists = self.walker_neighbors
        if lists is None or (jax.tree_util.tree_structure(lists)
                             == jax.tree_util.tree_structure(neighbors) and all(
                a.shape[1:] == jnp.shape(b) for a, b in zip(jax.tree_util.tree_leaves(lists),
                                                            jax.tree_util.tree_leaves(neighbors)))):
            return self
        return self.replace(walker_neighbors=_rebuild_all(self.walkers.positions,
                                                          self.walkers.cell, neighbors))

    def candidate_steps(self) -> np.ndarray:
        """Steps whose deposition was paused (uncertainty above ``pause_above``), sorted."""
        n = int(self.count)
        return np.unique(np.asarray(self.steps)[:n][np.asarray(self.paused)[:n]])

    def free_energy(self, grid, blocks: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """(F, F_std) on ``grid`` (eV): see :func:`free_energy`."""
        return free_energy(self, grid, blocks)


def _n_walkers(hills: Hills) -> int:
    return 1 if hills.walkers is None else 1 + hills.walkers.positions.shape[0]


def _row(tree, r: int):
    return jax.tree_util.tree_map(lambda x: x[r], tree)


@jax.jit
def _rebuild_all(positions, cells, template):
    return jax.vmap(rebuild_neighbor_list, in_axes=(0, 0, None))(positions, cells, template)


def _padded(hills: Hills, capacity: int) -> Hills:
    """The buffer padded with empty slots (zeros) to ``capacity``."""
    def pad(a):
        return np.concatenate([np.asarray(a), np.zeros((capacity - a.shape[0],) + a.shape[1:],
                                                       a.dtype)])
    return hills.replace(**{f: jnp.asarray(pad(getattr(hills, f))) for f in
                            ("centers", "heights", "biases", "sigmas", "steps", "paused")})


def empty_hills(capacity: int, d: int, dtype, width, gamma, kT) -> Hills:
    """An empty buffer of ``capacity`` slots for ``d`` CVs."""
    z = jnp.zeros((capacity,), dtype)
    return Hills(centers=jnp.zeros((capacity, d), dtype), heights=z, biases=z, sigmas=z,
                 steps=jnp.zeros((capacity,), jnp.int32), paused=jnp.zeros((capacity,), bool),
                 count=jnp.asarray(0, jnp.int32), full=jnp.asarray(False),
                 energy=jnp.zeros((), dtype), pausing=jnp.asarray(False),
                 width=jnp.asarray(width, dtype), gamma=jnp.asarray(gamma, dtype),
                 kT=jnp.asarray(kT, dtype))


# --- the bias ----------------------------------------------------------------------------

def _sum_and_gradient(s, centers, heights, width, count):
    """V(s) (eV) and dV/ds: blocks of :data:`BLOCK` hills added in order up to ``count``."""
    n_blocks = centers.shape[0] // BLOCK
    cb = centers.reshape(n_blocks, BLOCK, centers.shape[1])
    hb = heights.reshape(n_blocks, BLOCK)
    inv = 1.0 / width

    def block(k, acc):
        value, grad = acc
        z = (s - cb[k]) * inv
        g = hb[k] * jnp.exp(-0.5 * jnp.sum(z * z, axis=-1))
        return value + jnp.sum(g), grad - jnp.sum(g[:, None] * z, axis=0) * inv

    used = (count + BLOCK - 1) // BLOCK
    return jax.lax.fori_loop(0, used, block, (jnp.zeros((), heights.dtype), jnp.zeros_like(s)))


@jax.custom_jvp
def hill_sum(s: Array, centers: Array, heights: Array, width: Array, count: Array) -> Array:
    """The bias V(s) (eV) of ``count`` hills at CV values ``s`` (d,); differentiable in ``s``
    (the hills are constants), with the derivative summed in the same fixed order."""
    return _sum_and_gradient(s, centers, heights, width, count)[0]


@hill_sum.defjvp
def _hill_sum_jvp(primals, tangents):
    value, grad = _sum_and_gradient(*primals)
    return value, jnp.dot(grad, tangents[0])


def _grid_points(grid, d: int) -> tuple[np.ndarray, tuple]:
    """Grid points (M, d) and the output shape: a 1-D array for one CV, d 1-D axes (a
    meshgrid, ``indexing="ij"``) or an array (..., d) of points."""
    if isinstance(grid, (list, tuple)) and len(grid) == d and all(
            np.ndim(a) == 1 for a in grid):
        axes = np.meshgrid(*[np.asarray(a, float) for a in grid], indexing="ij")
        return np.stack([a.ravel() for a in axes], axis=1), axes[0].shape
    g = np.asarray(grid, float)
    if d == 1 and g.ndim == 1:
        return g[:, None], g.shape
    if g.ndim < 1 or g.shape[-1] != d:
        raise ValueError(f"free_energy: a grid for {d} CVs is {d} 1-D axes or points (..., {d}),"
                         f" got shape {g.shape}")
    return g.reshape(-1, d), g.shape[:-1]


def free_energy(hills: Hills, grid, blocks: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Free energy F(s) on ``grid`` (eV, minimum 0) and its standard error F_std (eV).

    F = -gamma/(gamma-1) V(s) from the final bias (Barducci et al. 2008; -V for plain
    metadynamics).  F_std is a block analysis of the reweighted sampling: each deposition
    attempt k (CVs s_k at step t_k, bias V_k there) gets the weight
    ``exp((V_k - c(t_k)) / kT)`` with Tiwary & Parrinello's c(t) (J. Phys. Chem. B 119, 736
    (2015)) computed on the grid; the attempts are cut into ``blocks`` consecutive blocks,
    each gives a probability density p_b (Gaussian kernels of the hill widths), and
    ``F_std = kT * std_b(p_b) / sqrt(blocks) / mean_b(p_b)`` (the block-averaging error of
    the PLUMED tutorials, Flyvbjerg & Petersen, J. Chem. Phys. 91, 461 (1989)).  The grid
    should be uniform and cover the sampled region (c(t) integrates over it); F_std is inf
    where no block sampled, NaN with fewer attempts than ``2 * blocks``.
    """
    h = jax.device_get(hills)
    n, d = int(h.count), h.centers.shape[1]
    points, shape = _grid_points(grid, d)
    kT, gamma = float(h.kT), float(h.gamma)
    a, b = (1.0, 0.0) if math.isinf(gamma) else (gamma / (gamma - 1.0), 1.0 / (gamma - 1.0))
    centers, steps = np.asarray(h.centers[:n], float), np.asarray(h.steps[:n])
    z = (points[:, None, :] - centers[None]) / np.asarray(h.width, float)
    kernel = np.exp(-0.5 * np.sum(z * z, axis=-1))  # (M, n)
    cum = np.concatenate([np.zeros((len(points), 1)),
                          np.cumsum(kernel * np.asarray(h.heights[:n], float), axis=1)], axis=1)
    f = -a * cum[:, n]
    f = f - f.min()
    if n < 2 * blocks or blocks < 2:
        return f.reshape(shape), np.full(shape, np.nan)
    before = cum[:, np.searchsorted(steps, steps, side="left")]  # V on the grid at each t_k
    c = kT * (logsumexp(a * before / kT, axis=0) - logsumexp(b * before / kT, axis=0))
    logw = (np.asarray(h.biases[:n], float) - c) / kT
    p = []
    for idx in np.array_split(np.arange(n), blocks):
        w = np.exp(logw[idx] - logw[idx].max())
        density = kernel[:, idx] @ w
        p.append(density / density.sum())
    p = np.asarray(p)
    mean = p.mean(axis=0)
    err = p.std(axis=0, ddof=1) / np.sqrt(blocks)
    with np.errstate(divide="ignore", invalid="ignore"):
        std = np.where(mean > 0, kT * err / np.where(mean > 0, mean, 1.0), np.inf)
    return f.reshape(shape), std.reshape(shape)
