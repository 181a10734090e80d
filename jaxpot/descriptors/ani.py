"""ANI atomic environment vectors (Smith, Isayev & Roitberg, Chem. Sci. 8, 3192 (2017)),
element by element equal to torchani 2.9's ``AEVComputer`` (``ANIRadial`` + ``ANIAngular``,
cosine cutoff, ``strategy="pyaev"``).

With ``fc(r) = 0.5 cos(pi r / R_c) + 0.5`` for r < R_c, for centre i:

    radial, per neighbour species s and shift R_s (cutoff R_cr):
        G^R = sum_{j in s} 0.25 exp(-eta_R (r_ij - R_s)^2) fc_R(r_ij)
    angular, per unordered neighbour-species pair (s <= s'), shift R_s and section theta_s
    (cutoff R_ca < R_cr), over unordered neighbour pairs {j, k} (each pair once):
        G^A = sum 2 ((1 + cos(theta_ijk - theta_s)) / 2)^zeta
                    exp(-eta_A ((r_ij + r_ik) / 2 - R_s)^2) fc_A(r_ij) fc_A(r_ik)
        theta_ijk = arccos(0.95 cos(angle jik))   (torchani/NeuroChem's 0.95 factor)

The 0.25 radial factor (NeuroChem, not in the paper) and the 0.95 factor follow torchani.
Feature order (torchani): radial blocks per neighbour species in the order given (torchani's
element indices), each over shifts; then angular blocks per species pair in ``triu`` order
((0,0), (0,1), ..., (1,1), ...), each over shifts (outer) x sections (inner).  Periodic images
within the cutoffs are included.  The angular double sum is one batched contraction over the
slot pairs j < k, in blocks of centres so memory stays linear in N.  A list with a view at
``r_cut_angular`` (rows sorted by distance; a BPNN on ANI features asks for one through its
``part_cutoffs``) confines that double sum to the view's leading slots: its cost falls as
(K_angular / K)^2, 3-10x for Si at the defaults.
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
from jaxpot.row_slots import pick_first, take_slots

_TRIPLETS_PER_BLOCK = 1 << 18  # centre-pair terms at once on a CPU (~100 B each); GPU: 16x


class ANI(NamedTuple):
    """ANI AEV descriptor (hashable static parameters; lengths in Å, angles in rad)."""

    species: tuple[int, ...]  # atomic numbers in the user's order (torchani element index)
    r_cut_radial: float
    r_cut_angular: float
    eta_radial: float  # Å^-2
    shifts_radial: tuple[float, ...]
    eta_angular: float  # Å^-2
    zeta: float
    shifts_angular: tuple[float, ...]
    sections: tuple[float, ...]  # theta_s, rad

    @property
    def neighbor_cutoff(self) -> float:
        return max(self.r_cut_radial, self.r_cut_angular)

    @property
    def n_features(self) -> int:
        s = len(self.species)
        return (s * len(self.shifts_radial)
                + s * (s + 1) // 2 * len(self.shifts_angular) * len(self.sections))

    def features(self, positions, cell, species, neighbors) -> jax.Array:
        """(N, F) AEVs; jittable and differentiable w.r.t. positions and cell.

        ``species`` must all be in ``self.species`` (checked when concrete) and the neighbor
        list must reach ``neighbor_cutoff`` (checked)."""
        return ani_features(self, positions, cell, species, neighbors)

    def __call__(self, atoms) -> np.ndarray:
        """NumPy AEVs (N, F) of an ``ase.Atoms``."""
        return features_of_atoms(self, _jit_features, atoms, self.neighbor_cutoff, "ani")


def _floats(values, name: str) -> tuple[float, ...]:
    arr = np.atleast_1d(np.asarray(values, float))
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a non-empty 1-D list of finite numbers")
    return tuple(float(x) for x in arr)


def ani_aev(species, r_cut_radial: float = 5.2, r_cut_angular: float = 3.5,
            eta_radial: float = 16.0, shifts_radial=None, eta_angular: float = 8.0,
            zeta: float = 32.0, shifts_angular=None, sections=None) -> ANI:
    """ANI AEV descriptor; defaults are ANI-1x's (:func:`ani1x_parameters`).

    Args:
        species: element symbols or atomic numbers, in torchani's element-index order.
        r_cut_radial, r_cut_angular: cutoffs R_cr > R_ca (Å), as torchani requires.
        eta_radial, eta_angular: Gaussian exponents (Å^-2); zeta: angular exponent.
        shifts_radial, shifts_angular: R_s (Å); sections: theta_s (rad).
    """
    defaults = ani1x_parameters()
    zs = species_numbers(species, "ani_aev")
    if len(set(zs)) != len(zs):
        raise ValueError(f"species must be distinct, got {species}")
    r_cut_radial = positive_finite(r_cut_radial, "r_cut_radial")
    r_cut_angular = positive_finite(r_cut_angular, "r_cut_angular")
    if not r_cut_angular < r_cut_radial:
        raise ValueError("need 0 < r_cut_angular < r_cut_radial (torchani's requirement), "
                         f"got r_cut_angular={r_cut_angular}, r_cut_radial={r_cut_radial}")
    eta_radial = positive_finite(eta_radial, "eta_radial", "Å^-2")
    eta_angular = positive_finite(eta_angular, "eta_angular", "Å^-2")
    zeta = positive_finite(zeta, "zeta", "dimensionless")
    pick = {"shifts_radial": shifts_radial, "shifts_angular": shifts_angular,
            "sections": sections}
    vals = {k: _floats(defaults[k] if v is None else v, k) for k, v in pick.items()}
    return ANI(zs, float(r_cut_radial), float(r_cut_angular), float(eta_radial),
               vals["shifts_radial"], float(eta_angular), float(zeta), vals["shifts_angular"],
               vals["sections"])


def ani1x_parameters() -> dict:
    """The ANI-1x AEV hyperparameters (torchani ``AEVComputer.like_1x``; Smith et al.,
    J. Chem. Phys. 148, 241733 (2018)): 16 radial shifts 0.9 + j 4.3/16 Å, eta_R 16 Å^-2,
    R_cr 5.2 Å; 4 angular shifts 0.9 + j 2.6/4 Å, 8 sections pi/16 + j pi/8, eta_A 8 Å^-2,
    zeta 32, R_ca 3.5 Å.  (torchani stores them in float32; pass its buffers for bitwise
    identical inputs.)"""
    return {"r_cut_radial": 5.2, "r_cut_angular": 3.5, "eta_radial": 16.0,
            "shifts_radial": [0.9 + (5.2 - 0.9) / 16 * j for j in range(16)],
            "eta_angular": 8.0, "zeta": 32.0,
            "shifts_angular": [0.9 + (3.5 - 0.9) / 4 * j for j in range(4)],
            "sections": [np.pi / 16 + np.pi / 8 * j for j in range(8)]}


def ani_features(desc: ANI, positions, cell, species, neighbors) -> jax.Array:
    """Pure function behind :meth:`ANI.features`: (N, F)."""
    check_features_input(desc, species, neighbors, desc.neighbor_cutoff, "ani")
    vectors, mask = neighbor_vectors(positions, cell, neighbors)
    _, nb_index = species_indices(species_lookup(desc.species), species, neighbors)
    return ani_features_from_vectors(desc, vectors, mask, nb_index,
                                     angular_slots(neighbors, desc.r_cut_angular))


def angular_slots(neighbors, r_cut_angular: float) -> int | None:
    """Leading slots of each row that hold every neighbour within ``r_cut_angular`` (the
    list's view at that cutoff, rows sorted by distance), or None (all slots) without one."""
    within = getattr(neighbors, "within", None)
    if within is None:
        return None
    k = within(r_cut_angular).capacity
    return k if k < neighbors.capacity else None


def ani_features_from_vectors(desc: ANI, vectors, mask, nb_index,
                              angular_slots: int | None = None) -> jax.Array:
    """(N, F) features from pair vectors (N, K, 3) Å, their mask (N, K) and the neighbours'
    species indices (N, K) in ``desc.species`` order; row i depends on ``vectors[i]`` only.
    ``angular_slots``: only the leading slots hold neighbours within ``r_cut_angular``
    (:func:`angular_slots`); the angular sum then skips the rest."""
    return jnp.concatenate([radial_features(desc, vectors, mask, nb_index), angular_features(
        desc, *angular_view(angular_slots, vectors, mask, nb_index))], axis=-1)


def angular_view(angular_slots: int | None, *arrays):
    """The leading ``angular_slots`` slots of each (N, K, ...) array (all when None)."""
    return tuple(a if angular_slots is None else a[:, :angular_slots] for a in arrays)


def angular_within(desc: ANI, vectors, mask, angular_slots: int | None) -> jax.Array:
    """(N, K_a) which of the leading ``angular_slots`` slots lie within ``r_cut_angular``."""
    vectors, mask = angular_view(angular_slots, vectors, mask)
    return mask & (safe_norm(vectors, mask) < desc.r_cut_angular)


def picked_features(desc: ANI, vectors, mask, nb_index, angular_slots: int | None,
                    within, count: int) -> jax.Array:
    """:func:`ani_features_from_vectors` with the angular sum over the first ``count`` slots
    ``within`` r_cut_angular of each row (:func:`angular_within`): exact when no row has more
    (``count^2`` slot pairs instead of K_a^2)."""
    view_vectors, view_nb = angular_view(angular_slots, vectors, nb_index)
    sel, valid = pick_first(within, count)
    v, inside, nb = take_slots((view_vectors, within, view_nb), sel)
    return jnp.concatenate([radial_features(desc, vectors, mask, nb_index),
                            angular_features(desc, v, inside & valid, nb)], axis=-1)


def radial_features(desc: ANI, vectors, mask, nb_index) -> jax.Array:
    """(N, S R) radial blocks, per neighbour species over shifts."""
    s = len(desc.species)
    r = safe_norm(vectors, mask)
    onehot = (nb_index[..., None] == jnp.arange(s)).astype(vectors.dtype)  # (N, K, S)
    within_r = mask & (r < desc.r_cut_radial)
    shifts_r = jnp.asarray(desc.shifts_radial, vectors.dtype)
    radial = (0.25 * jnp.exp(-desc.eta_radial * (r[..., None] - shifts_r) ** 2)  # (N, K, R)
              * jnp.where(within_r, cosine_cutoff(r, desc.r_cut_radial), 0.0)[..., None])
    return jnp.einsum("nkr,nks->nsr", radial, onehot).reshape(r.shape[0], -1)


def angular_features(desc: ANI, vectors, mask, nb_index) -> jax.Array:
    """(N, P Z) angular blocks, per species pair over shifts x sections, summed over each
    row's slot pairs j < k, in blocks of centres (``lax.map``)."""
    dtype = vectors.dtype
    s = len(desc.species)
    r = safe_norm(vectors, mask)
    n = r.shape[0]
    within_a = mask & (r < desc.r_cut_angular)
    fc_a = jnp.where(within_a, cosine_cutoff(r, desc.r_cut_angular), 0.0)
    r_safe = jnp.where(within_a, r, 1.0)
    v_safe = jnp.where(within_a[..., None], vectors, 0.0)
    pairs = np.zeros((s, s), int)
    rows, cols = np.triu_indices(s)
    pairs[rows, cols] = pairs[cols, rows] = np.arange(rows.size)
    pair_of = jnp.asarray(pairs)
    shifts_a = jnp.asarray(desc.shifts_angular, dtype)
    sections = jnp.asarray(desc.sections, dtype)
    jj, kk = np.triu_indices(r.shape[1], 1)  # each unordered slot pair {j, k} once

    def centre(args):
        """(P S, Z) angular terms of one centre (species pairs x shifts, sections), summed
        over its slot pairs."""
        v, rs, fc, nb = args
        cos = jnp.sum(v[jj] * v[kk], -1) / jnp.maximum(rs[jj] * rs[kk], 1e-10)
        theta = jnp.arccos(0.95 * cos)
        angular = 2.0 * ((1.0 + jnp.cos(theta[..., None] - sections)) / 2.0) ** desc.zeta
        mean_r = 0.5 * (rs[jj] + rs[kk])
        gauss = (jnp.exp(-desc.eta_angular * (mean_r[..., None] - shifts_a) ** 2)
                 * (fc[jj] * fc[kk])[..., None])  # (T, S)
        pair_onehot = (pair_of[nb[jj], nb[kk]][..., None]
                       == jnp.arange(rows.size)).astype(dtype)  # (T, P)
        weighted = (pair_onehot[:, :, None] * gauss[:, None, :]).reshape(jj.size, -1)
        return jnp.einsum("tq,tz->qz", weighted, angular)

    per_block = _TRIPLETS_PER_BLOCK * (1 if jax.default_backend() == "cpu" else 16)
    out = jax.lax.map(centre, (v_safe, r_safe, fc_a, nb_index),
                      batch_size=min(n, max(1, per_block // max(jj.size, 1))))
    return out.reshape(n, -1)


_jit_features = jax.jit(ani_features, static_argnums=0)
