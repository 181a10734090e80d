"""Energies of the bispectrum and their gradient by LAMMPS's adjoint (``SNA::compute_yi``).

An energy E_i = f(B_i) of the bispectrum components (SNAP: linear, qSNAP: quadratic) depends
on the total U^j of atom i only through the cubic forms B_{j1 j2 j}.  Differentiating the
einsum contraction of :mod:`jaxpot.descriptors.bispectrum` costs twice its (slow, zero-padded)
forward pass; instead, with the Z matrices of *every* coupling j1 >= j2 (any j),

    Z^{j1 j2 j}_{m m'} = sum C^{j}_{m1 m2 m} C^{j}_{m1' m2' m'} U^{j1}_{m1 m1'} U^{j2}_{m2 m2'},

the gradient is Y^j = sum_{j1 >= j2} beta_{j1 j2 j} Z^{j1 j2 j}, with beta the weights
dE/dB of the component that (j1, j2, j) permutes to (LAMMPS's ``betaj``: factors 3, 2 and
(j1 + 1)/(j + 1) from the symmetry of B under permutations), so that
dE_i = Re sum_j <Y^j, dU^j> for every tangent dU from moving atoms (the U^j keep their
symmetry U_{j-a, j-b} = (-1)^(a+b) conj(U_{ab})).  Z is computed once per atom, as a loop
over (m2, m2') of windows of U^{j1}, vectorised over atoms; the components B come from the
same Z.  :func:`bispectrum_energies` is a ``custom_jvp`` with this tangent: forces, stress,
forward mode, second derivatives (phonons) and parameter gradients all follow.

Arrays here put atoms last: U^j as real and imaginary parts (j+1, j+1, N).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.descriptors.sna_tables import bispectrum_indices, clebsch_gordan
from jaxpot.tangents import instantiate, is_zero
from jaxpot.types import Array

FeatureEnergy = Callable[[object, Array, Array], Array]
"""``feature_energy(params, B (N, nB), centre (N,)) -> (N,) eV``: the energy of each atom from
its bispectrum components (bzero already subtracted)."""


class Coupling(NamedTuple):
    """Static data of one coupling (j1 >= j2, j) for the Z loop and the adjoint weights."""

    j1: int
    j2: int
    j: int
    weights: np.ndarray  # (pairs, j//2+1, j+1): C[m1, m2, m] C[m1', m2', m'] per (m2, m2')
    rows: np.ndarray  # (pairs,) o - m2: U^{j1} row of the window's first row (may be < 0)
    cols: np.ndarray  # (pairs,) o - m2': its first column
    component: int  # index of the bispectrum component (j1, j2, j) permutes to
    factor: float  # LAMMPS's betaj factor: Y^j += factor * g[component] * Z


@cache
def couplings(twojmax: int) -> tuple[Coupling, ...]:
    """Every (j1 >= j2, j) coupling in LAMMPS's idxz order, with its tables (cached)."""
    index = {t: k for k, t in enumerate(bispectrum_indices(twojmax))}
    out = []
    for j1 in range(twojmax + 1):
        for j2 in range(j1 + 1):
            for j in range(j1 - j2, min(twojmax, j1 + j2) + 1, 2):
                out.append(_coupling(j1, j2, j, index))
    return tuple(out)


def _coupling(j1: int, j2: int, j: int, index: dict) -> Coupling:
    cg = clebsch_gordan(j1, j2, j)
    o = (j1 + j2 - j) // 2  # m1 + m2 = m + o
    w = np.zeros((j + 1, j2 + 1))  # w[m, m2] = C[m + o - m2, m2, m]
    for m in range(j + 1):
        for m2 in range(j2 + 1):
            if 0 <= m + o - m2 <= j1:
                w[m, m2] = cg[m + o - m2, m2, m]
    pairs = [(a, b) for a in range(j2 + 1) for b in range(j2 + 1)]
    half = j // 2 + 1  # rows m <= j/2: the others follow from the symmetry of Z
    weights = np.stack([np.outer(w[:half, a], w[:, b]) for a, b in pairs])
    starts = np.array([o - a for a, _ in pairs]), np.array([o - b for _, b in pairs])
    if j >= j1:  # (j1, j2, j) is a component itself
        component = index[(j1, j2, j)]
        factor = 3.0 if j1 == j2 == j else (2.0 if j1 == j else 1.0)
    elif j >= j2:
        component = index[(j, j2, j1)]
        factor = (j1 + 1) / (j + 1) * (2.0 if j2 == j else 1.0)
    else:
        component = index[(j2, j, j1)]
        factor = (j1 + 1) / (j + 1)
    return Coupling(j1, j2, j, weights, starts[0], starts[1], component, factor)


class ZPlan(NamedTuple):
    """One loop per j over (coupling, (m2, m2')) of every coupling with that j."""

    j: int
    members: tuple[int, ...]  # indices into couplings(twojmax)
    slot: np.ndarray  # (steps,) which member each step adds to
    frame: np.ndarray  # (steps,) j1 of the window's U (index into the stacked frames)
    rows: np.ndarray  # (steps,) window start in the frame, first axis
    cols: np.ndarray  # (steps,) second axis
    flat: np.ndarray  # (steps,) index of U^{j2}_{m2 m2'} in the flattened U
    weights: np.ndarray  # (steps, j//2+1, j+1)


@cache
def z_plans(twojmax: int) -> tuple[ZPlan, ...]:
    """The Z loops, one per j (few loops compile fast; cached)."""
    offsets = np.cumsum([0] + [(j + 1) ** 2 for j in range(twojmax + 1)])
    names = ("slot", "frame", "rows", "cols", "flat", "weights")
    plans = []
    for j in range(twojmax + 1):
        members = tuple(k for k, c in enumerate(couplings(twojmax)) if c.j == j)
        cols = {n: [] for n in names}
        for g, k in enumerate(members):
            c = couplings(twojmax)[k]
            n2 = c.j2 + 1
            for p, (m2, m2p) in enumerate((a, b) for a in range(n2) for b in range(n2)):
                cols["slot"].append(g)
                cols["frame"].append(c.j1)
                cols["rows"].append(c.rows[p] + twojmax)  # U^j_{00} sits at [J, J]
                cols["cols"].append(c.cols[p] + twojmax)
                cols["flat"].append(offsets[c.j2] + m2 * n2 + m2p)
                cols["weights"].append(c.weights[p])
        plans.append(ZPlan(j, members, *(np.asarray(cols[n]) for n in names)))
    return tuple(plans)


def _frames(twojmax: int, u, part: int) -> Array:
    """Every U^j (part 0: real, 1: imaginary) zero-padded into one (J+1, F, F, N) stack with
    U^j_{00} at [twojmax, twojmax]; F = 2.5 twojmax + 1 holds every Z window."""
    size = twojmax + (3 * twojmax) // 2 + 1
    return jnp.stack([jnp.pad(u[j][part], ((twojmax, size - twojmax - j - 1),) * 2
                              + ((0, 0),)) for j in range(twojmax + 1)])


def all_z(twojmax: int, u: tuple[tuple[Array, Array], ...]) -> list:
    """Rows m <= j/2 of Z^{j1 j2 j} (re, im), each (j//2+1, j+1, N), of every coupling of
    :func:`couplings`, from U^j = u[j] = (re, im) (j+1, j+1, N).  Z has the symmetry of U:
    Z_{j-m, j-m'} = (-1)^(m+m') conj(Z_{m m'}).  One loop per j adds the windows
    C C U^{j1}[m + o - m2, m' + o - m2'] U^{j2}_{m2 m2'} over (coupling, m2, m2')."""
    n = u[0][0].shape[-1]
    frames = _frames(twojmax, u, 0), _frames(twojmax, u, 1)
    flat = [jnp.concatenate([x[part].reshape(-1, n) for x in u]) for part in (0, 1)]
    out = [None] * len(couplings(twojmax))
    for plan in z_plans(twojmax):
        shape = (1, plan.j // 2 + 1, plan.j + 1, n)
        tables = [jnp.asarray(a) for a in (plan.slot, plan.frame, plan.rows, plan.cols,
                                           plan.flat)]
        weights = jnp.asarray(plan.weights, flat[0].dtype)[..., None]

        def body(k, acc, tables=tables, weights=weights, shape=shape):
            slot, frame, row, col, index = (t[k] for t in tables)
            s_re = jax.lax.dynamic_slice(frames[0], (frame, row, col, 0), shape)[0]
            s_im = jax.lax.dynamic_slice(frames[1], (frame, row, col, 0), shape)[0]
            b_re, b_im, w = flat[0][index], flat[1][index], weights[k]
            start = (slot, 0, 0, 0)
            z_re = jax.lax.dynamic_slice(acc[0], start, shape)[0]
            z_im = jax.lax.dynamic_slice(acc[1], start, shape)[0]
            z_re = z_re + w * (s_re * b_re - s_im * b_im)
            z_im = z_im + w * (s_re * b_im + s_im * b_re)
            return (jax.lax.dynamic_update_slice(acc[0], z_re[None], start),
                    jax.lax.dynamic_update_slice(acc[1], z_im[None], start))

        zero = jnp.zeros((len(plan.members),) + shape[1:], flat[0].dtype)
        z_re, z_im = jax.lax.fori_loop(0, len(plan.slot), body, (zero, zero))
        for g, k in enumerate(plan.members):
            out[k] = (z_re[g], z_im[g])
    return out


def half_inner(j: int, a: tuple[Array, Array], b: tuple[Array, Array]) -> Array:
    """Re sum conj(A) B over all (j+1)^2 entries of two matrices with U's symmetry, from
    their rows m <= j/2 (weight 2, the middle row of an even j weight 1): (N,)."""
    rows = np.where(2 * np.arange(j // 2 + 1) < j, 2.0, 1.0)[:, None, None]
    h = j // 2 + 1
    return jnp.sum(rows * (a[0][:h] * b[0][:h] + a[1][:h] * b[1][:h]), axis=(0, 1))


def components_of_z(twojmax: int, u, z) -> Array:
    """Bispectrum components (nB, N) B = Re sum conj(U^j) Z of the component couplings."""
    out = [None] * len(bispectrum_indices(twojmax))
    for c, zc in zip(couplings(twojmax), z):
        if c.j >= c.j1:
            out[c.component] = half_inner(c.j, u[c.j], zc)
    return jnp.stack(out)


def adjoint_of_z(twojmax: int, z, g: Array) -> list:
    """Y^j (re, im) (rows m <= j/2: (j//2+1, j+1, N)) for weights g = dE/dB (nB, N).

    Each Y^j is accumulated by a loop over its couplings: a loop's result is materialised,
    whereas XLA:CPU would fuse a plain sum into every neighbour slot of the reverse pass and
    recompute it there (K times the work)."""
    groups = [[] for _ in range(twojmax + 1)]
    for c, zc in zip(couplings(twojmax), z):
        groups[c.j].append((c.factor * g[c.component], zc))
    return [_weighted_sum(group) for group in groups]


def _weighted_sum(group) -> tuple[Array, Array]:
    """sum_t w_t (re_t, im_t) over ``group = [(w (N,), (re, im) (.., N))]`` in a loop."""
    w = jnp.stack([t[0] for t in group])
    z_re, z_im = jnp.stack([t[1][0] for t in group]), jnp.stack([t[1][1] for t in group])

    def body(t, acc):
        return acc[0] + w[t] * z_re[t], acc[1] + w[t] * z_im[t]

    zero = jnp.zeros_like(z_re[0])
    return jax.lax.fori_loop(0, len(group), body, (zero, zero))


def bispectrum_energies(twojmax: int, bzero: np.ndarray | None,
                        feature_energy: FeatureEnergy):
    """``energies(params, u, centre) -> (N,)`` eV: ``feature_energy`` of the bispectrum of the
    total U ``u`` (tuple over j of (re, im) (j+1, j+1, N)), minus ``bzero`` if given, as a
    ``custom_jvp`` whose position tangent is the adjoint contraction Re <Y, dU>."""
    offset = 0.0 if bzero is None else np.asarray(bzero)[:, None]

    def components(u):
        z = all_z(twojmax, u)
        return z, components_of_z(twojmax, u, z) - offset

    @jax.custom_jvp
    def energies(params, u, centre):
        return feature_energy(params, components(u)[1].T, centre)

    def energies_jvp(primals, tangents):
        params, u, centre = primals
        d_params, d_u = tangents[:2]
        z, bis = components(u)
        e, pull = jax.vjp(lambda b: feature_energy(params, b, centre), bis.T)
        g = pull(jnp.ones_like(e))[0].T  # dE_i / dB_i, (nB, N)
        y = adjoint_of_z(twojmax, z, g)
        d_u = instantiate(d_u, u)
        out = sum(half_inner(j, d_u[j], y[j]) for j in range(twojmax + 1))
        if not is_zero(d_params):
            out = out + jax.jvp(lambda p: feature_energy(p, bis.T, centre), (params,),
                                (instantiate(d_params, params),))[1]
        return e, out

    energies.defjvp(energies_jvp, symbolic_zeros=True)
    return energies
