"""Behler–Parrinello atom-centred symmetry functions (G1, G2, G3, G4, G5), dscribe-compatible.

For centre i with neighbours j, k within ``r_cut`` and ``fc(r) = 0.5 (cos(pi r / r_cut) + 1)``:

    G1 = sum_j fc_ij                      G2 = sum_j exp(-eta (r_ij - r_s)^2) fc_ij
    G3 = sum_j cos(kappa r_ij) fc_ij
    G4 = sum_{j<k} 2 [(1 + lambda cos theta_jik) / 2]^zeta exp(-eta (r_ij^2 + r_ik^2 + r_jk^2))
                   fc_ij fc_ik fc_jk            (terms with r_jk > r_cut dropped)
    G5 = sum_{j<k} 2 [(1 + lambda cos theta_jik) / 2]^zeta exp(-eta (r_ij^2 + r_ik^2)) fc_ij fc_ik

Feature order is dscribe's ``ACSF``: species sorted by atomic number; for each neighbour
species [G1, G2..., G3...]; then for each unordered species pair (b >= c, index b(b+1)/2 + c)
[G4..., G5...].  The centre's own species is not encoded (train one network per element).
No normalisation is applied (as dscribe).  Neighbours are all periodic images within r_cut.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.checks import positive_finite
from jaxpot.cutoffs import cosine_cutoff, safe_norm
from jaxpot.descriptors._common import check_features_input, features_of_atoms, species_numbers
from jaxpot.model import species_indices, species_lookup
from jaxpot.neighbors import neighbor_vectors


def _params(value, width: int, name: str, columns: tuple[str, ...]) -> tuple:
    """Parameter rows as a tuple of tuples (hashable: the descriptor is a static jit argument).

    Every value must be finite and eta (if a column) >= 0; errors name the row and column."""
    if value is None or len(value) == 0:
        return ()
    try:
        arr = np.asarray(value, float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers of shape (n, {width}), got {value!r}") from None
    if width == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[1] != width:
        raise ValueError(f"{name} must have shape (n, {width}), got {np.shape(value)}")
    for row, values in enumerate(arr):
        for column, x in zip(columns, values):
            if not np.isfinite(x) or (column == "eta" and x < 0):
                rule = "finite and >= 0" if column == "eta" else "finite"
                raise ValueError(f"{name}: {column} in row {row} must be {rule}, got {x}")
    return tuple(tuple(float(x) for x in row) for row in arr)


class ACSF(NamedTuple):
    """Symmetry-function descriptor (hashable, static parameters); see the module docstring."""

    species: tuple[int, ...]  # atomic numbers, sorted
    r_cut: float
    g2: tuple  # ((eta Å^-2, r_s Å), ...)
    g3: tuple  # ((kappa Å^-1,), ...)
    g4: tuple  # ((eta, zeta, lambda), ...)
    g5: tuple  # ((eta, zeta, lambda), ...)

    @property
    def n_features(self) -> int:
        s = len(self.species)
        return ((1 + len(self.g2) + len(self.g3)) * s
                + (len(self.g4) + len(self.g5)) * s * (s + 1) // 2)

    def features(self, positions, cell, species, neighbors) -> jax.Array:
        """(N, F) features; jittable and differentiable w.r.t. positions and cell.

        ``species`` must all be in ``self.species`` (checked when concrete) and the neighbor
        list must reach ``r_cut`` (checked)."""
        return acsf_features(self, positions, cell, species, neighbors)

    def __call__(self, atoms) -> np.ndarray:
        """Features (N, F) of an ``ase.Atoms`` (periodic images within r_cut included)."""
        return features_of_atoms(self, _jit_features, atoms, self.r_cut, "acsf")


def acsf(species, r_cut: float, g2_params=None, g3_params=None, g4_params=None,
         g5_params=None) -> ACSF:
    """ACSF descriptor with dscribe's keyword names (eta in Å^-2, r_s in Å, kappa in Å^-1).

    r_cut > 0 and finite; every parameter finite, eta >= 0 (ValueError otherwise)."""
    zs = tuple(sorted(set(species_numbers(species, "acsf"))))
    r_cut = positive_finite(r_cut, "r_cut")
    angular = ("eta", "zeta", "lambda")
    return ACSF(zs, r_cut, _params(g2_params, 2, "g2_params", ("eta", "r_s")),
                _params(g3_params, 1, "g3_params", ("kappa",)),
                _params(g4_params, 3, "g4_params", angular),
                _params(g5_params, 3, "g5_params", angular))


def _angular(params, cos, gauss, weight):
    """sum over parameter rows of 2 ((1 + lambda cos) / 2)^zeta * gauss(eta) * weight."""
    terms = []
    for eta, zeta, lam in params:
        base = jnp.maximum(0.5 * (1.0 + lam * cos), 0.0)
        terms.append(2.0 * base ** zeta * gauss(eta) * weight)
    return jnp.stack(terms, axis=-1)


def acsf_features(desc: ACSF, positions, cell, species, neighbors) -> jax.Array:
    """Pure function behind :meth:`ACSF.features`: (N, F)."""
    check_features_input(desc, species, neighbors, desc.r_cut, "acsf")
    vectors, mask = neighbor_vectors(positions, cell, neighbors)
    _, nb_index = species_indices(species_lookup(desc.species), species, neighbors)
    return acsf_features_from_vectors(desc, vectors, mask, nb_index)


def acsf_features_from_vectors(desc: ACSF, vectors, mask, nb_index) -> jax.Array:
    """(N, F) features from pair vectors (N, K, 3) Å, their mask (N, K) and the neighbours'
    species indices (N, K) in ``desc.species`` order; row i depends on ``vectors[i]`` only."""
    rc = desc.r_cut
    s = len(desc.species)
    r = safe_norm(vectors, mask)
    within = mask & (r < rc)
    fc = jnp.where(within, cosine_cutoff(r, rc), 0.0)
    onehot = (nb_index[..., None] == jnp.arange(s)) & within[..., None]  # (N, K, S)
    radial = [fc]
    radial += [jnp.exp(-eta * (r - rs) ** 2) * fc for eta, rs in desc.g2]
    radial += [jnp.cos(kappa * r) * fc for (kappa,) in desc.g3]
    radial = jnp.stack(radial, axis=-1)  # (N, K, 1 + n2 + n3)
    out = [jnp.einsum("nkf,nks->nsf", radial, onehot.astype(radial.dtype)).reshape(r.shape[0], -1)]
    if len(desc.g4) or len(desc.g5):
        k = r.shape[1]
        rs = jnp.where(within, r, 1.0)
        cos = jnp.einsum("nja,nka->njk", vectors, vectors) / (rs[:, :, None] * rs[:, None, :])
        pair_ok = within[:, :, None] & within[:, None, :] & ~jnp.eye(k, dtype=bool)
        rjk = safe_norm(vectors[:, None, :, :] - vectors[:, :, None, :], pair_ok)
        r2 = (r * r)[:, :, None] + (r * r)[:, None, :]
        fc2 = fc[:, :, None] * fc[:, None, :] * pair_ok
        blocks = []
        if len(desc.g4):
            fc_jk = cosine_cutoff(rjk, rc)  # 0 at r_jk = r_cut, so dscribe's r_jk <= r_cut
            blocks.append(_angular(desc.g4, cos, lambda eta: jnp.exp(-eta * (r2 + rjk * rjk)),
                                   fc2 * fc_jk))
        if len(desc.g5):
            blocks.append(_angular(desc.g5, cos, lambda eta: jnp.exp(-eta * r2), fc2))
        ang = jnp.concatenate(blocks, axis=-1)  # (N, K, K, n4 + n5)
        b, c = nb_index[:, :, None], nb_index[:, None, :]
        hi, lo = jnp.maximum(b, c), jnp.minimum(b, c)
        pair = hi * (hi + 1) // 2 + lo
        pair_onehot = (pair[..., None] == jnp.arange(s * (s + 1) // 2)).astype(ang.dtype)
        # each unordered pair j<k appears twice among ordered slot pairs
        out.append(0.5 * jnp.einsum("njkf,njkp->npf", ang, pair_onehot).reshape(r.shape[0], -1))
    return jnp.concatenate(out, axis=-1)


_jit_features = jax.jit(acsf_features, static_argnums=0)


def behler_radial_params(etas, r_s: float = 0.0) -> np.ndarray:
    """G2 parameters (eta, r_s) for a set of widths at one centre (Behler's choice r_s = 0)."""
    return np.array([[eta, r_s] for eta in etas], float)


def shifted_radial_params(r_cut: float, n: int, eta: float, r_min: float = 0.5) -> np.ndarray:
    """ANI-style radial set: one eta, n shifts r_s evenly spaced on [r_min, r_cut)."""
    return np.array([[eta, rs] for rs in np.linspace(r_min, r_cut, n, endpoint=False)], float)


def behler_angular_params(etas, zetas=(1.0, 2.0, 4.0), lambdas=(-1.0, 1.0)) -> np.ndarray:
    """G4/G5 parameters (eta, zeta, lambda) for all combinations."""
    return np.array([[e, z, lam] for e in etas for z in zetas for lam in lambdas], float)
