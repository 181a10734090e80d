"""SOAP power spectrum with dscribe's GTO radial basis, element by element equal to dscribe.

The neighbour density of centre i for species s is a sum of Gaussians of width ``sigma`` on the
neighbours (the centre itself included, with weight ``w0``).  It is expanded in orthonormalised
Gaussian-type orbitals r^l exp(-alpha_{lk} r^2) (alphas chosen so that each decays to 1e-3 at
evenly spaced radii between 1 Å and r_cut; Löwdin orthonormalisation, as dscribe) times real
spherical harmonics.  The Gaussian-GTO radial integral has a closed form, so

    c^{s}_{nlm}(i) = (pi/2) sqrt(4 pi) sum_k B_{l n k} sum_{j in s} w_j exp(A_{lk} r_ij^2)
                     r_ij^l Y_lm(r_ij)
    A_{lk} = -alpha_{lk} / (1 + 2 sigma^2 alpha_{lk})
    B_{lnk} = (2 sigma^2)^{3/2} beta_{lnk} (1 + 2 sigma^2 alpha_{lk})^{-(l + 3/2)}
    p^{s s'}_{n n' l}(i) = pi sqrt(8 / (2l + 1)) sum_m c^{s}_{nlm} c^{s'}_{n'lm}

(the l-dependent factor is dscribe's, from the erratum of Bartók et al., PRB 87, 184115).
Conventions that follow dscribe 2.1 ``SOAP(rbf="gto")``: neighbours within
``r_cut + sigma sqrt(2 ln 1000)`` contribute with a hard truncation there (``cutoff="dscribe"``);
species sorted by atomic number; feature order species pair (s <= s'), l, n, n' (n <= n' when
s == s'); no normalisation unless ``normalize=True`` (unit l2 norm per centre).
``cutoff="smooth"`` instead multiplies each neighbour weight by a cosine switch from
``r_cut - cutoff_width`` to ``r_cut`` (QUIP-style), making features and forces smooth.
"""

from __future__ import annotations

from typing import NamedTuple

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
from ase.data import atomic_numbers as _atomic_numbers
from scipy.linalg import sqrtm
from scipy.special import gamma

from jaxpot.cutoffs import cosine_switch, safe_norm
from jaxpot.model import species_lookup
from jaxpot.descriptors._common import features_of_atoms
from jaxpot.neighbors import neighbor_vectors

_DECAY = 1e-3  # GTO and Gaussian decay threshold (dscribe's)


def gto_basis(r_cut: float, n_max: int, l_max: int) -> tuple[np.ndarray, np.ndarray]:
    """GTO exponents alpha (l_max+1, n_max) and Löwdin orthonormalisation beta (l, n, n)."""
    radii = np.linspace(1.0, r_cut, n_max)
    alphas = np.zeros((l_max + 1, n_max))
    betas = np.zeros((l_max + 1, n_max, n_max))
    for l in range(l_max + 1):
        a = -np.log(_DECAY / radii ** l) / radii ** 2
        overlap = 0.5 * gamma(l + 1.5) * (a[:, None] + a[None, :]) ** (-l - 1.5)
        b = sqrtm(np.linalg.inv(overlap))
        if np.iscomplexobj(b):
            if np.abs(b.imag).max() > 1e-10:
                raise ValueError("GTO basis cannot be orthonormalised; lower n_max or raise r_cut")
            b = b.real
        alphas[l], betas[l] = a, b
    return alphas, betas


class SOAP(NamedTuple):
    """SOAP descriptor (hashable static settings; a static argument under jit)."""

    species: tuple[int, ...]
    r_cut: float
    n_max: int
    l_max: int
    sigma: float
    w0: float  # weight of the centre atom's own Gaussian
    cutoff: str  # "dscribe" (hard, padded) or "smooth"
    cutoff_width: float
    normalize: bool
    compression: str = "off"  # "off", "crossover" (no cross-species blocks), "mu2" (one channel)

    @property
    def neighbor_cutoff(self) -> float:
        if self.cutoff == "dscribe":
            return self.r_cut + self.sigma * np.sqrt(-2.0 * np.log(_DECAY))
        return self.r_cut

    @property
    def n_features(self) -> int:
        s, n, l1 = len(self.species), self.n_max, self.l_max + 1
        if self.compression == "mu2":
            return n * (n + 1) // 2 * l1
        cross = 0 if self.compression == "crossover" else s * (s - 1) // 2 * n * n
        return (s * n * (n + 1) // 2 + cross) * l1

    def features(self, positions, cell, species, neighbors) -> jax.Array:
        """(N, F) power spectrum; jittable, differentiable w.r.t. positions and cell."""
        return soap_power_spectrum(self, positions, cell, species, neighbors)

    def __call__(self, atoms) -> np.ndarray:
        """(N, F) features of an ``ase.Atoms``."""
        return features_of_atoms(self, _jit_power_spectrum, atoms, self.neighbor_cutoff, "soap")


def soap(species, r_cut: float, n_max: int, l_max: int, sigma: float = 1.0, rbf: str = "gto",
         weighting: dict | None = None, cutoff: str = "dscribe", cutoff_width: float = 1.0,
         normalize: bool = False, compression: dict | None = None) -> SOAP:
    """SOAP power spectrum with dscribe's keyword names (Å).

    ``weighting={"w0": x}`` sets the centre atom's weight (dscribe); other dscribe weighting
    functions and the polynomial basis are not implemented yet.  ``compression={"mode": m}``
    with m in "off", "crossover" (only same-species blocks) or "mu2" (all neighbours in one
    density channel), as dscribe; species weighting is not implemented.
    """
    compression = dict(compression or {})
    mode = compression.pop("mode", "off")
    if mode not in ("off", "crossover", "mu2") or compression.get("species_weighting"):
        raise NotImplementedError(f"compression {mode!r} / species weighting not implemented")
    if rbf != "gto":
        raise NotImplementedError(f"rbf={rbf!r}: only the GTO basis is implemented")
    weighting = weighting or {}
    unknown = set(weighting) - {"w0"}
    if unknown:
        raise NotImplementedError(f"weighting options {sorted(unknown)} are not implemented")
    if cutoff not in ("dscribe", "smooth"):
        raise ValueError(f"cutoff must be 'dscribe' or 'smooth', got {cutoff!r}")
    if r_cut <= 1.0 or n_max < 1 or l_max < 0 or sigma <= 0:
        raise ValueError("need r_cut > 1 Å, n_max >= 1, l_max >= 0, sigma > 0")
    zs = tuple(sorted({int(_atomic_numbers[s]) if isinstance(s, str) else int(s) for s in species}))
    gto_basis(r_cut, n_max, l_max)  # fail early if the basis cannot be built
    return SOAP(zs, float(r_cut), int(n_max), int(l_max), float(sigma),
                float(weighting.get("w0", 1.0)), cutoff, float(cutoff_width), bool(normalize),
                mode)


def _radial_tables(desc: SOAP):
    alphas, betas = gto_basis(desc.r_cut, desc.n_max, desc.l_max)
    two_s2 = 2.0 * desc.sigma ** 2
    shrink = 1.0 / (1.0 + two_s2 * alphas)  # (L, K)
    exponents = -alphas * shrink
    ls = np.arange(desc.l_max + 1)[:, None]
    prefactors = two_s2 ** 1.5 * betas * (np.sqrt(shrink) * shrink ** (ls + 1))[:, None, :]
    return exponents, prefactors  # (L, K), (L, N, K)


def soap_power_spectrum(desc: SOAP, positions, cell, species, neighbors) -> jax.Array:
    n_atoms = positions.shape[0]
    s = len(desc.species)
    lmax, nmax = desc.l_max, desc.n_max
    exponents, prefactors = _radial_tables(desc)
    vectors, mask = neighbor_vectors(positions, cell, neighbors)
    r = safe_norm(vectors, mask)
    within = mask & (r < desc.neighbor_cutoff)
    weight = within.astype(positions.dtype)
    if desc.cutoff == "smooth":
        weight = weight * cosine_switch(r, desc.r_cut - desc.cutoff_width, desc.r_cut)
    safe_vec = jnp.where(within[..., None], vectors, jnp.array([0.0, 0.0, 1.0], positions.dtype))
    irreps = e3nn.Irreps([(1, (l, (-1) ** l)) for l in range(lmax + 1)])
    ylm = e3nn.spherical_harmonics(irreps, safe_vec, normalize=True,
                                   normalization="integral").array  # (N, K, (L+1)^2)
    index = jnp.asarray(species_lookup(desc.species))[species]
    if desc.compression == "mu2":  # one density channel for all species
        index, s = jnp.zeros_like(index), 1
    nb_index = jnp.concatenate([index, jnp.zeros((1,), jnp.int32)])[neighbors.idx]
    onehot = (nb_index[..., None] == jnp.arange(s)).astype(positions.dtype)  # (N, K, S)
    r2 = r * r
    coeffs = []
    for l in range(lmax + 1):
        radial = jnp.exp(r2[..., None] * exponents[l]) * (r ** l)[..., None]  # (N, K, Kb)
        radial = jnp.einsum("nkb,mb->nkm", radial, prefactors[l])  # (N, K, n_max)
        y = ylm[..., l * l:(l + 1) * (l + 1)]  # (N, K, 2l+1)
        c = jnp.einsum("nk,nkm,nks,nkq->nsmq", weight, radial, onehot, y)
        if l == 0:  # the centre's own Gaussian (r = 0): only l = 0, Y00 = 1/sqrt(4 pi)
            own = desc.w0 * prefactors[0].sum(axis=1) / np.sqrt(4 * np.pi)  # (n_max,)
            centre = jax.nn.one_hot(index, s, dtype=positions.dtype)
            c = c + centre[:, :, None, None] * own[None, None, :, None]
        coeffs.append(c * (0.5 * np.pi * np.sqrt(4 * np.pi)))
    blocks = []
    triu = np.triu_indices(nmax)
    for a in range(s):
        for b in range(a, a + 1 if desc.compression == "crossover" else s):
            for l in range(lmax + 1):
                p = np.pi * np.sqrt(8.0 / (2 * l + 1)) * jnp.einsum(
                    "nmq,nkq->nmk", coeffs[l][:, a], coeffs[l][:, b])
                blocks.append(p[:, triu[0], triu[1]] if a == b else p.reshape(n_atoms, -1))
    out = jnp.concatenate(blocks, axis=-1)
    if desc.normalize:
        out = out / safe_norm(out)[:, None]
    return out


_jit_power_spectrum = jax.jit(soap_power_spectrum, static_argnums=0)
