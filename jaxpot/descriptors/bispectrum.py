"""SNAP bispectrum components (Thompson et al. 2015), in LAMMPS ``compute sna/atom``'s convention.

For centre i, the neighbours j of species b within r_cut,ij = rcutfac (R_a + R_b) are mapped
onto the 3-sphere (theta0 = rfac0 pi (r - rmin0) / (r_cut - rmin0), z0 = r / tan theta0) and
summed into the density's hyperspherical expansion

    U^j_i = w_self I + sum_j f_c(r_ij) w_b U^j(r_ij)        (Wigner U matrices, j = 0..twojmax,
                                                            LAMMPS's doubled units)

with the switching function f_c = (cos(pi (r - rmin0) / (r_cut - rmin0)) + 1) / 2 (1 if
``switchflag`` is 0) and w_self = 1.  The bispectrum components are

    B_{j1 j2 j} = sum_{m m'} conj(U^j)_{m m'} Z^{j1 j2 j}_{m m'},
    Z^{j1 j2 j} = C^T (U^{j1} (x) U^{j2}) C           (C: Clebsch–Gordan block)

in LAMMPS's order (:func:`~jaxpot.descriptors.sna_tables.bispectrum_indices`), minus the
isolated-atom value w_self^3 (j + 1) when ``bzeroflag`` is set.  With ``quadraticflag`` the
products 0.5 B_k^2 and B_k B_l (l > k) follow, as ``compute sna/atom`` writes them.  The
non-chemical (``chem`` off), un-normalised (``bnormflag`` 0) variant is implemented; that is
what ``pair_style snap`` files of Zuo et al. and FitSNAP's defaults use.  Everything is
differentiable, so SNAP forces and virials come from JAX, equal to ``compute snad/atom``.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from ase.data import chemical_symbols

from jaxpot.checks import positive_finite
from jaxpot.cutoffs import safe_norm
from jaxpot.descriptors._common import check_features_input, features_of_atoms, species_numbers
from jaxpot.descriptors.sna_tables import (
    bispectrum_indices,
    cg_blocks,
    n_bispectrum,
    quadratic_pairs,
)
from jaxpot.model import species_indices, species_lookup
from jaxpot.neighbors import neighbor_vectors
from jaxpot.tangents import materialized

#: LAMMPS's limit (the SNA code accepts any, but the tables grow as twojmax^5)
MAX_TWOJMAX = 16


class Bispectrum(NamedTuple):
    """SNAP bispectrum descriptor (hashable, static settings); see the module docstring."""

    species: tuple[int, ...]  # atomic numbers, in the order given (LAMMPS's type order)
    twojmax: int
    rcutfac: float  # Å
    rfac0: float
    rmin0: float  # Å
    radius: tuple[float, ...]  # per species (LAMMPS R_1 R_2 ...)
    weight: tuple[float, ...]  # per species (LAMMPS w_1 w_2 ...)
    switchflag: bool = True
    bzeroflag: bool = True
    quadraticflag: bool = False

    @property
    def cutoff(self) -> float:
        """Largest pair cutoff rcutfac (R_a + R_b), Å: the neighbor list must reach it."""
        return 2.0 * self.rcutfac * max(self.radius)

    @property
    def n_bispectrum(self) -> int:
        return n_bispectrum(self.twojmax)

    @property
    def n_features(self) -> int:
        n = self.n_bispectrum
        return n + n * (n + 1) // 2 if self.quadraticflag else n

    def features(self, positions, cell, species, neighbors) -> jax.Array:
        """(N, F) features; jittable and differentiable w.r.t. positions and cell."""
        return bispectrum_features(self, positions, cell, species, neighbors)

    def __call__(self, atoms) -> np.ndarray:
        """Features (N, F) of an ``ase.Atoms``, equal to LAMMPS ``compute sna/atom``."""
        return features_of_atoms(self, _jit_features, atoms, self.cutoff, "bispectrum")


def _real(value, name: str) -> None:
    """Refuse anything but a real number (a string "0.5" or a bool is not one)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")  # noqa: TRY004 (a setting)


def _per_species(value, zs: tuple[int, ...], name: str) -> tuple[float, ...]:
    symbols = [chemical_symbols[z] for z in zs]
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(symbols))
        missing = [s for s in symbols if s not in value]
        if unknown or missing:
            raise ValueError(f"bispectrum {name}: need one value per species {symbols}; "
                             f"missing {missing}, unknown {unknown}")
        value = [value[s] for s in symbols]
    elif isinstance(value, str) or np.ndim(value) == 0:
        value = [value] * len(zs)
    for s, v in zip(symbols, value):
        _real(v, f"bispectrum {name} of {s}")
    value = [float(v) for v in value]
    if len(value) != len(zs):
        raise ValueError(f"bispectrum {name}: {len(value)} values for {len(zs)} species "
                         f"{symbols}")
    for s, v in zip(symbols, value):
        if not np.isfinite(v) or v < 0 or (name == "radius" and v == 0):
            rule = "> 0" if name == "radius" else ">= 0"
            raise ValueError(f"bispectrum {name} of {s} must be finite and {rule}, got {v}")
    return tuple(value)


def bispectrum(species, twojmax: int, rcutfac: float, rfac0: float = 0.99363,
               rmin0: float = 0.0, radius=0.5, weight=1.0, switchflag: int = 1,
               bzeroflag: int = 1, quadraticflag: int = 0) -> Bispectrum:
    """SNAP bispectrum descriptor with LAMMPS ``compute sna/atom``'s keyword names and defaults.

    Args:
        species: element symbols or atomic numbers (order = LAMMPS atom types).
        twojmax: band limit 2J (even or odd, 0..16).
        rcutfac: Å; the pair cutoff is rcutfac (R_a + R_b).
        rfac0: fraction of pi reached by theta0 at the cutoff (0 < rfac0 <= 1).
        rmin0: Å, inner distance of the theta0 map and the switching function.
        radius, weight: per species R and w (a number, a sequence or {symbol: value}).
        switchflag, bzeroflag, quadraticflag: as in LAMMPS (1 = on).
    """
    zs = species_numbers(species, "bispectrum")
    if len(set(zs)) != len(zs):
        raise ValueError(f"bispectrum: repeated species in {species!r}")
    if int(twojmax) != twojmax or not 0 <= twojmax <= MAX_TWOJMAX:
        raise ValueError(f"bispectrum: twojmax must be an integer in 0..{MAX_TWOJMAX}, got "
                         f"{twojmax!r}")
    for value, name in ((rcutfac, "rcutfac"), (rfac0, "rfac0"), (rmin0, "rmin0")):
        _real(value, f"bispectrum {name}")
    rcutfac = positive_finite(rcutfac, "rcutfac")
    rfac0 = positive_finite(rfac0, "rfac0")
    if rfac0 > 1.0:
        raise ValueError(f"bispectrum: rfac0 must be in (0, 1], got {rfac0}")
    if not np.isfinite(rmin0) or rmin0 < 0:
        raise ValueError(f"bispectrum: rmin0 must be finite and >= 0, got {rmin0}")
    radius = _per_species(radius, zs, "radius")
    if 2 * rcutfac * min(radius) <= rmin0:
        raise ValueError(f"bispectrum: rmin0 = {rmin0} Å must be below the smallest pair "
                         f"cutoff {2 * rcutfac * min(radius):g} Å")
    for flag, name in ((switchflag, "switchflag"), (bzeroflag, "bzeroflag"),
                       (quadraticflag, "quadraticflag")):
        if flag not in (0, 1, True, False):
            raise ValueError(f"bispectrum: {name} must be 0 or 1, got {flag!r}")
    return Bispectrum(zs, int(twojmax), rcutfac, float(rfac0), float(rmin0), radius,
                      _per_species(weight, zs, "weight"), bool(switchflag), bool(bzeroflag),
                      bool(quadraticflag))


# ------------------------------------------------------------------------ Wigner U matrices
def cayley_klein(vectors, r, rcut, rfac0: float, rmin0: float):
    """Cayley–Klein parameters (a, b) of each pair vector (..., 3) Å on the 3-sphere."""
    theta0 = (r - rmin0) * (rfac0 * np.pi) / (rcut - rmin0)
    z0 = r * jnp.cos(theta0) / jnp.sin(theta0)
    r0inv = 1.0 / jnp.sqrt(r * r + z0 * z0)
    x, y, z = vectors[..., 0], vectors[..., 1], vectors[..., 2]
    a = jax.lax.complex(r0inv * z0, -r0inv * z)
    b = jax.lax.complex(r0inv * y, -r0inv * x)
    return a, b


def wigner_u_left(a, b, twojmax: int) -> list[jax.Array]:
    """Columns mb <= j/2 of each U^j (indexed [ma, mb] as in LAMMPS), (..., j+1, j//2+1):
    the recursion of LAMMPS ``SNA::compute_uarray`` (VMK 4.8.2) needs no others;
    :func:`full_columns` adds the rest."""
    ca, cb = jnp.conj(a)[..., None, None], jnp.conj(b)[..., None, None]
    out = [jnp.ones(a.shape + (1, 1), a.dtype)]
    for j in range(1, twojmax + 1):
        h = j // 2
        prev = out[-1]  # U^{j-1}[:, :h+1]; for even j column h is U^{j-1}'s first mirrored one
        if prev.shape[-1] == h:
            sign = (-1.0) ** (np.arange(j) + h)[:, None]
            prev = jnp.concatenate([prev, sign * jnp.conj(prev[..., ::-1, h - 1:h])], axis=-1)
        ma, mb = np.arange(j + 1)[:, None], np.arange(h + 1)[None, :]
        c_a = np.sqrt(np.maximum(j - ma, 0) / (j - mb))  # 0 on row ma = j
        c_b = np.sqrt(ma / (j - mb))
        pad = [(0, 0)] * (prev.ndim - 2)
        top = jnp.pad(prev, pad + [(0, 1), (0, 0)])  # U^{j-1}[ma, mb]
        low = jnp.pad(prev, pad + [(1, 0), (0, 0)])  # U^{j-1}[ma-1, mb]
        # materialised: XLA:CPU would recompute the cotangent chain in every level's
        # reverse pass (jaxpot.tangents.materialized)
        out.append(materialized(c_a * ca * top - c_b * cb * low))  # (..., j+1, h+1)
    return out


def full_columns(left: jax.Array, j: int) -> jax.Array:
    """U^j (..., j+1, j+1) from its columns mb <= j/2 by the symmetry
    U^j_{j-ma, j-mb} = (-1)^(ma+mb) conj(U^j_{ma, mb})."""
    h = j // 2
    sign = (-1.0) ** (np.arange(j + 1)[:, None] + np.arange(h + 1, j + 1)[None, :])
    right = sign * jnp.conj(left[..., ::-1, ::-1])[..., 2 * h + 1 - j:]
    return jnp.concatenate([left, right], axis=-1)


# ------------------------------------------------------------------------ features
def padded_cg(twojmax: int) -> np.ndarray:
    """Clebsch–Gordan blocks of all components zero-padded to (nB, d, d, d), d = twojmax+1."""
    d = twojmax + 1
    out = np.zeros((n_bispectrum(twojmax), d, d, d))
    for k, ((j1, j2, j), cg) in enumerate(zip(bispectrum_indices(twojmax), cg_blocks(twojmax))):
        out[k, :j1 + 1, :j2 + 1, :j + 1] = cg
    return out


def triple_stacks(twojmax: int, u_tot: list[jax.Array]):
    """(U^{j1}, U^{j2}, U^j) of every component, zero-padded: three (N, nB, d, d) arrays.

    All components then run as one batched contraction: a few large XLA ops rather than
    three per component, which compile and run faster."""
    d = twojmax + 1
    padded = jnp.stack([jnp.pad(u, [(0, 0)] * (u.ndim - 2) + [(0, d - u.shape[-1])] * 2)
                        for u in u_tot], axis=-3)  # (N, J+1, d, d)
    idx = np.array(bispectrum_indices(twojmax))
    return padded[..., idx[:, 0], :, :], padded[..., idx[:, 1], :, :], padded[..., idx[:, 2], :, :]


def components_of_stacks(u1, u2, uj, cg) -> jax.Array:
    """B_k = Re sum conj(U^j) . C^T (U^{j1} (x) U^{j2}) C for each atom and component, (N, nB);
    ``cg`` from :func:`padded_cg`."""
    c = jnp.asarray(cg, u1.dtype)
    t = jnp.einsum("kabm,nkax->nkbxm", c, u1)
    t = jnp.einsum("nkbxm,nkby->nkxym", t, u2)
    z = jnp.einsum("nkxym,kxyq->nkmq", t, c)
    return jnp.sum(jnp.real(jnp.conj(uj) * z), axis=(-2, -1))


def bispectrum_features(desc: Bispectrum, positions, cell, species, neighbors) -> jax.Array:
    """Pure function behind :meth:`Bispectrum.features`: (N, F)."""
    check_features_input(desc, species, neighbors, desc.cutoff, "bispectrum")
    vectors, mask = neighbor_vectors(positions, cell, neighbors)
    centre, nb_index = species_indices(species_lookup(desc.species), species, neighbors)
    return bispectrum_features_from_vectors(desc, vectors, mask, centre, nb_index)


def bispectrum_features_from_vectors(desc: Bispectrum, vectors, mask, centre,
                                     nb_index) -> jax.Array:
    """(N, F) from pair vectors (N, K, 3) Å, their mask (N, K), the centres' species indices
    (N,) and the neighbours' (N, K), both in ``desc.species`` order."""
    bis = bispectrum_of_u(desc, atom_u(desc, vectors, mask, centre, nb_index))
    return with_quadratic(bis) if desc.quadraticflag else bis


def slot_u(desc: Bispectrum, vectors, mask, centre, nb_index) -> list[jax.Array]:
    """Each neighbour slot's weighted f_c(r) w_b U^j(r), j = 0..twojmax: (N, K, j+1, j+1)."""
    return [full_columns(u, j)
            for j, u in enumerate(slot_u_left(desc, vectors, mask, centre, nb_index))]


def slot_u_left(desc: Bispectrum, vectors, mask, centre, nb_index) -> list[jax.Array]:
    """Columns mb <= j/2 of :func:`slot_u`, (N, K, j+1, j//2+1)."""
    a, b, scale = slot_cayley_klein(desc, vectors, mask, centre, nb_index)
    return [scale[..., None, None] * u for u in wigner_u_left(a, b, desc.twojmax)]


def slot_cayley_klein(desc: Bispectrum, vectors, mask, centre, nb_index):
    """Each neighbour slot's Cayley–Klein parameters (a, b) (N, K) complex and its weight
    f_c(r) w_b (N, K) real, 0 on empty slots and beyond the pair cutoff."""
    radius = jnp.asarray(desc.radius, vectors.dtype)
    weight = jnp.asarray(desc.weight, vectors.dtype)
    rcut = desc.rcutfac * (radius[centre][..., None] + radius[nb_index])  # (N, K)
    r = safe_norm(vectors, mask)
    within = mask & (r < rcut)
    safe_r = jnp.where(within, r, 0.5 * rcut)
    safe_v = jnp.where(within[..., None], vectors, jnp.zeros_like(vectors).at[..., 2].set(1.0)
                       * safe_r[..., None])
    a, b = cayley_klein(safe_v, safe_r, rcut, desc.rfac0, desc.rmin0)
    if desc.switchflag:
        x = (safe_r - desc.rmin0) / (rcut - desc.rmin0)
        sfac = jnp.where(safe_r <= desc.rmin0, 1.0, 0.5 * (jnp.cos(np.pi * x) + 1.0))
    else:
        sfac = jnp.ones_like(safe_r)
    return a, b, jnp.where(within, sfac * weight[nb_index], 0.0)


def atom_u(desc: Bispectrum, vectors, mask, centre, nb_index) -> list[jax.Array]:
    """Total U^j_i = w_self I + sum over the slots, (N, j+1, j+1), w_self = 1; the slots are
    summed on the columns mb <= j/2 before the others are added (per atom, not per slot)."""
    return [full_columns(jnp.sum(u, axis=1), j) + jnp.eye(j + 1, dtype=u.dtype)
            for j, u in enumerate(slot_u_left(desc, vectors, mask, centre, nb_index))]


def total_u(u_slots: list[jax.Array]) -> list[jax.Array]:
    """U^j_i = w_self I + sum over the slots (axis -3), w_self = 1."""
    return [jnp.sum(u, axis=-3) + jnp.eye(u.shape[-1], dtype=u.dtype) for u in u_slots]


def bispectrum_of_u(desc: Bispectrum, u_tot: list[jax.Array]) -> jax.Array:
    """Linear bispectrum components (N, nB) from the total U^j (minus bzero if set)."""
    bis = components_of_stacks(*triple_stacks(desc.twojmax, u_tot), padded_cg(desc.twojmax))
    if desc.bzeroflag:
        bis = bis - bzero(desc.twojmax)
    return bis


def bzero(twojmax: int) -> np.ndarray:
    """Isolated-atom components w_self^3 (j + 1) (w_self = 1), LAMMPS's ``bzero``."""
    return np.array([j + 1.0 for _, _, j in bispectrum_indices(twojmax)])


def with_quadratic(bis: jax.Array) -> jax.Array:
    """B followed by LAMMPS's quadratic products 0.5 B_k^2, B_k B_l (l > k)."""
    first, second, factor = quadratic_pairs(bis.shape[-1])
    return jnp.concatenate([bis, factor * bis[..., first] * bis[..., second]], axis=-1)


_jit_features = jax.jit(bispectrum_features, static_argnums=0)
