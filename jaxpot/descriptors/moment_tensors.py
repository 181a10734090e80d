"""Moment-tensor basis functions B_alpha of each atom (the features of an MTP), inside jit.

    Q_beta(r)  = T_beta(x) (r_cut - r)^2 for r < r_cut, x = (2 r - r_min - r_cut)/(r_cut - r_min)
    f_mu(r_ij) = sum_beta c[z_i, z_j, mu, beta] Q_beta(r_ij)                  (learnable c)
    M_{mu,nu}  = sum_j f_mu(r_ij) rhat_ij^(x nu)

(mlip-2's Chebyshev radial basis and unit-vector moments), and B_alpha the contractions of
:mod:`jaxpot.descriptors.mtp_basis`.  Each moment is accumulated in its symmetric (monomial)
form, m[a, b, c] = sum_j f_mu x^a y^b z^c with a + b + c = nu, and expanded to a full Cartesian
tensor only for contractions of three or more factors; a contraction of two factors is the
multinomial-weighted dot product of their monomial forms.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.descriptors.mtp_basis import MTPBasis, mtp_basis


class MomentTensors(NamedTuple):
    """Settings of an MTP's features: species (Z, sorted), level, radial range (Å) and the
    number of Chebyshev polynomials of the radial basis."""

    species: tuple[int, ...]
    level: int
    r_min: float
    r_cut: float
    radial_basis_size: int = 8

    @property
    def basis(self) -> MTPBasis:
        return mtp_basis(self.level)

    @property
    def n_features(self) -> int:
        return self.basis.n_functions

    @property
    def radial_shape(self) -> tuple[int, int, int, int]:
        """Shape of the radial coefficients c: (S, S, n_mu, radial_basis_size)."""
        s = len(self.species)
        return (s, s, self.basis.n_radial, self.radial_basis_size)


def check_settings(desc: MomentTensors) -> None:
    """Clear errors for settings that cannot make an MTP."""
    if not 0.0 <= desc.r_min < desc.r_cut:
        raise ValueError(f"MTP radial range must satisfy 0 <= r_min < r_cut, got r_min = "
                         f"{desc.r_min}, r_cut = {desc.r_cut}")
    if desc.radial_basis_size < 2:
        raise ValueError(f"radial_basis_size must be >= 2, got {desc.radial_basis_size}")
    if not desc.species:
        raise ValueError("an MTP needs at least one species")
    mtp_basis(desc.level)  # raises for a bad level


def chebyshev_radial_basis(r, r_min: float, r_cut: float, size: int):
    """Q_beta(r) (..., size): Chebyshev polynomials on [r_min, r_cut] times (r_cut - r)^2,
    zero beyond r_cut."""
    x = (2.0 * r - (r_min + r_cut)) / (r_cut - r_min)
    terms = [jnp.ones_like(x), x]
    for _ in range(2, size):
        terms.append(2.0 * x * terms[-1] - terms[-2])
    envelope = jnp.where(r < r_cut, (r_cut - r) ** 2, 0.0)
    return jnp.stack(terms[:size], axis=-1) * envelope[..., None]


@functools.lru_cache(maxsize=32)
def _monomials(nu: int) -> tuple[np.ndarray, np.ndarray]:
    """Exponents (P, 3) of the monomials of degree nu and their multinomial weights (P,)."""
    exps = [(a, b, nu - a - b) for a in range(nu, -1, -1) for b in range(nu - a, -1, -1)]
    weights = [math.factorial(nu) // (math.factorial(a) * math.factorial(b) * math.factorial(c))
               for a, b, c in exps]
    return np.array(exps, int).reshape(-1, 3), np.array(weights, float)


@functools.lru_cache(maxsize=32)
def _full_index(nu: int) -> np.ndarray:
    """For each of the 3^nu Cartesian index tuples, the row of its monomial in _monomials."""
    exps, _ = _monomials(nu)
    row = {tuple(e): k for k, e in enumerate(exps.tolist())}
    index = [row[tuple(np.bincount(t, minlength=3))]
             for t in itertools.product(range(3), repeat=nu)]
    return np.array(index, int).reshape((3,) * nu) if nu else np.zeros((), int)


def moments(desc: MomentTensors, radial_coeffs, vectors, vmask, centre, nb_index) -> dict:
    """Monomial forms of the moment tensors of every atom: {(mu, nu): (N, P_nu)}.

    vectors (N, K, 3) Å, vmask (N, K), centre (N,) and nb_index (N, K) species indices."""
    basis = desc.basis
    r2 = jnp.sum(vectors * vectors, axis=-1)
    inside = vmask & (r2 < desc.r_cut ** 2)
    r = jnp.sqrt(jnp.where(inside, r2, 1.0))
    unit = jnp.where(inside[..., None], vectors / r[..., None], 0.0)
    q = chebyshev_radial_basis(r, desc.r_min, desc.r_cut, desc.radial_basis_size)
    c = radial_coeffs[centre[:, None], nb_index]  # (N, K, n_mu, size)
    f = jnp.einsum("nkmb,nkb->nkm", c, q) * inside[..., None]  # (N, K, n_mu)
    nu_max = max(nu for _, nu in basis.moments)
    powers = [jnp.ones_like(unit)]
    for _ in range(nu_max):
        powers.append(powers[-1] * unit)
    powers = jnp.stack(powers, axis=0)  # (nu_max + 1, N, K, 3)
    out = {}
    for nu in sorted({nu for _, nu in basis.moments}):
        exps, _ = _monomials(nu)
        mono = (powers[exps[:, 0], ..., 0] * powers[exps[:, 1], ..., 1]
                * powers[exps[:, 2], ..., 2])  # (P, N, K)
        mus = [mu for mu, n in basis.moments if n == nu]
        m = jnp.einsum("nkm,pnk->nmp", f[..., jnp.asarray(mus)], mono)
        for k, mu in enumerate(mus):
            out[(mu, nu)] = m[:, k]
    return out


def _edge_letters(contraction) -> list[str]:
    """Einsum subscripts of each node (one letter per shared index)."""
    letters = iter("abcdefghijklmopqrstuvwxyz")
    subs = [""] * len(contraction.mus)
    for k, l, m in contraction.edges:
        for _ in range(m):
            ch = next(letters)
            subs[k] += ch
            subs[l] += ch
    return subs


def contraction_values(desc: MomentTensors, monomial_moments: dict):
    """Value of every connected contraction for every atom, (N, n_contractions)."""
    values = []
    full = {}
    for con in desc.basis.contractions:
        nus = con.nus
        if len(con.mus) == 1:
            values.append(monomial_moments[(con.mus[0], 0)][:, 0])
            continue
        if len(con.mus) == 2:
            _, weights = _monomials(nus[0])
            a = monomial_moments[(con.mus[0], nus[0])]
            b = monomial_moments[(con.mus[1], nus[1])]
            values.append(jnp.einsum("np,np,p->n", a, b, jnp.asarray(weights)))
            continue
        operands = []
        for mu, nu in zip(con.mus, nus):
            if (mu, nu) not in full:
                m = monomial_moments[(mu, nu)]
                full[(mu, nu)] = m[:, jnp.asarray(_full_index(nu))]
            operands.append(full[(mu, nu)])
        subs = ",".join("n" + s for s in _edge_letters(con)) + "->n"
        values.append(jnp.einsum(subs, *operands, optimize="optimal"))
    return jnp.stack(values, axis=-1)


def basis_from_contractions(desc: MomentTensors, con_values):
    """B_alpha (N, n_functions): products of connected contractions."""
    functions = desc.basis.functions
    width = max(len(f) for f in functions)
    index = np.full((len(functions), width), con_values.shape[-1], int)
    for a, f in enumerate(functions):
        index[a, :len(f)] = f
    padded = jnp.concatenate([con_values, jnp.ones_like(con_values[:, :1])], axis=-1)
    return jnp.prod(padded[:, jnp.asarray(index)], axis=-1)


def mtp_features_from_vectors(desc: MomentTensors, radial_coeffs, vectors, vmask, centre,
                              nb_index):
    """B_alpha of every atom (N, n_functions) from its neighbour vectors (N, K, 3) Å."""
    m = moments(desc, radial_coeffs, vectors, vmask, centre, nb_index)
    return basis_from_contractions(desc, contraction_values(desc, m))


def mtp_features_and_jacobian(desc: MomentTensors, radial_coeffs, vectors, vmask, centre,
                              nb_index):
    """(B (N, F), dB_i/dr_ik (N, F, K, 3)): forward-mode per atom (3K tangents)."""
    def one(v, vm, ci, nb):
        return mtp_features_from_vectors(desc, radial_coeffs, v[None], vm[None], ci[None],
                                         nb[None])[0]

    def value_and_jac(v, vm, ci, nb):
        b = one(v, vm, ci, nb)
        jac = jax.jacfwd(one)(v, vm, ci, nb)  # (F, K, 3)
        return b, jac

    return jax.vmap(value_and_jac)(vectors, vmask, centre, nb_index)


def initial_radial_coeffs(desc: MomentTensors, seed: int = 0, noise: float = 0.01,
                          dtype=None) -> np.ndarray:
    """c with f_mu = Q_mu (distinct, orthogonal-ish radial functions) plus small seeded noise,
    the same for every species pair, scaled so that f_mu is O(1) over (r_min, r_cut)."""
    s, _, n_mu, size = desc.radial_shape
    rng = np.random.default_rng(seed)
    c = noise * rng.standard_normal((s, s, n_mu, size))
    for mu in range(n_mu):
        c[:, :, mu, mu % size] += 1.0
    scale = 1.0 / (desc.r_cut - desc.r_min) ** 2
    return np.asarray(c * scale, dtype or float)
