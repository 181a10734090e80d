"""SOAP power spectrum p_{n n' l} per atom, element by element equal to dscribe or featomic.

The neighbour density of centre i in species channel s is a sum of Gaussians of width
``sigma`` (Å) on the neighbours j of species s (and on the centre itself, with the centre
weight), each multiplied by a weight w(r_ij).  It is expanded in radial functions times real
orthonormal spherical harmonics,

    c^s_{nlm}(i) = sum_{j in s} w(r_ij) R_ln(r_ij) Y_lm(r_ij / |r_ij|) + w_c R_0n(0) Y_00 [s = s_i]

(R_ln is the Gaussian x radial-basis integral, ``radial_basis.py`` / ``radial_spline.py``) and
the power spectrum is p^{s s'}_{n n' l}(i) = k_l sum_m c^s_{nlm} c^{s'}_{n'lm}.

Two conventions, chosen with ``convention=`` (each option below follows the named code):

``"dscribe"`` (default; dscribe 2.1 ``SOAP``): ``rbf="gto"`` or ``"polynomial"``; neighbours
within r_cut + sigma sqrt(2 ln 1000) with a hard truncation there (``cutoff="dscribe"``);
``weighting`` = dscribe's dict (``"function"``: ``"poly"``, ``"pow"``, ``"exp"`` with ``r0``,
``c``, ``d``, ``m``, ``threshold``; ``"w0"``: centre weight, which replaces the function's value
at r = 0); k_l = pi sqrt(8 / (2l + 1)) (erratum of Bartók et al., PRB 87, 184115);
``compression`` = dscribe's dict (``"mode"``: ``"off"``, ``"crossover"``, ``"mu2"``,
``"mu1nu1"``; ``"species_weighting"``: {species: weight}); ``average`` ``"off"``, ``"inner"``,
``"outer"``; feature order species pair (s <= s', species sorted by Z), l, n, n' (n <= n' when
s = s').  So ``soap(...)(atoms)`` equals ``dscribe.descriptors.SOAP(...).create(atoms)``.

``"featomic"`` (featomic 0.6 ``SoapPowerSpectrum`` with ``Gto(max_radial=n_max-1)`` radial basis,
``Gaussian(width=sigma)`` density): featomic's GTO basis and L2-normalised Gaussians, splined
as featomic does (``spline_accuracy``); neighbours within r_cut; ``cutoff="smooth"``
(featomic's ``ShiftedCosine(width=cutoff_width)``) or ``"step"``; ``weighting={"w0": x}`` is
featomic's ``center_atom_weight``; ``weighting={"function": "pow", "c": a, "d": a, "m": e,
"r0": s}`` is featomic's ``Willatt2018(rate=a, exponent=e, scale=s)`` density scaling (it
multiplies the centre weight too); k_l = (-1)^l / sqrt(2l + 1), times sqrt(2) for s != s';
order: species pair (s <= s'), l, n, n' (all n, n') — featomic's blocks after
``keys_to_properties(["neighbor_1_type", "neighbor_2_type"])``, absent pairs as zeros.

``"quip"`` (QUIP/GAP ``soap`` descriptor as in quippy 0.10, ``radial_basis=EQUISPACED_GAUSS``,
the default): ``rbf="equispaced_gauss"`` (``quip_basis.py``); ``r_cut`` = QUIP's ``cutoff``,
``cutoff_width`` = ``cutoff_transition_width`` (QUIP's default 0.5), ``sigma`` = ``atom_sigma``;
neighbours within r_cut with QUIP's cosine ``coordination_function`` (``cutoff="smooth"``);
``weighting={"w0": x}`` is ``central_weight`` and ``{"function": "pow", "c": a, "d": a,
"r0": s, "m": e}`` is ``cutoff_rate=a, cutoff_scale=s, cutoff_dexp=e``; the centre Gaussian
goes in the centre's own species channel only (QUIP's default for n_species > 1; for one
species this equals ``central_reference_all_species``); k_l = 1 / sqrt(2l + 1) and sqrt(2)
on off-diagonal (s n) != (s' n') pairs; ``normalize`` defaults to True (QUIP's
``normalise=T``); order: radial-species index p = s n_max + n (species sorted by Z, so give
quippy ``species_Z`` sorted), pairs (p, q <= p) row by row, l fastest, then QUIP's trailing
``covariance_sigma0`` element, here always 0.  So ``soap(...)(atoms)`` equals quippy's
``Descriptor("soap ...").calc(atoms)["data"]`` with species_Z sorted and Z=0 (all centres).

Extensions in all conventions: ``cutoff="smooth"`` multiplies each neighbour weight by
QUIP's cosine transition from r_cut - cutoff_width to r_cut (smooth features and forces across
the cutoff; with the dscribe convention this is no longer equal to dscribe), and
``normalize=True`` scales each feature vector to unit l2 norm (QUIP's ``normalise=T``, what a
GAP dot-product kernel uses).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.cutoffs import cosine_switch, safe_norm
from jaxpot.descriptors import radial_basis as rb
from jaxpot.descriptors._common import check_features_input, features_of_atoms, species_numbers
from jaxpot.descriptors.quip_basis import quip_gauss_basis, quip_radial
from jaxpot.descriptors.radial_basis import gto_basis  # noqa: F401  (public re-export)
from jaxpot.descriptors.radial_spline import featomic_gto_table, spline_radial
from jaxpot.descriptors.soap_options import check_options, infer_r_cut, weighting_function
from jaxpot.descriptors.spherical_harmonics import real_spherical_harmonics
from jaxpot.model import species_indices, species_lookup
from jaxpot.neighbors import neighbor_vectors


class SOAP(NamedTuple):
    """SOAP descriptor: static, hashable settings (a static argument under jit).

    Build it with :func:`soap`.  ``features(positions, cell, species, neighbors)`` is the pure
    jittable function; calling the descriptor on an ``ase.Atoms`` returns NumPy features.
    """

    species: tuple[int, ...]
    r_cut: float
    n_max: int
    l_max: int
    sigma: float
    rbf: str
    convention: str
    cutoff: str
    cutoff_width: float
    weighting: tuple  # sorted (key, value) items of the weighting dict
    average: str
    compression: str
    species_weights: tuple[float, ...] | None
    normalize: bool
    spline_accuracy: float

    @property
    def neighbor_cutoff(self) -> float:
        """Radius (Å) of the neighbour list the features need."""
        if self.cutoff == "dscribe":
            return self.r_cut + self.sigma * np.sqrt(-2.0 * np.log(rb.DECAY))
        return self.r_cut

    @property
    def n_channels(self) -> int:
        return 1 if self.compression == "mu2" else len(self.species)

    @property
    def n_features(self) -> int:
        s, n, l1 = self.n_channels, self.n_max, self.l_max + 1
        if self.convention == "featomic":
            return s * (s + 1) // 2 * n * n * l1
        if self.convention == "quip":
            return s * n * (s * n + 1) // 2 * l1 + 1
        if self.compression == "mu1nu1":
            return s * n * n * l1
        cross = 0 if self.compression == "crossover" else s * (s - 1) // 2 * n * n
        return (s * n * (n + 1) // 2 + cross) * l1

    def features(self, positions, cell, species, neighbors) -> jax.Array:
        """Power spectrum (N, F), or (F,) when averaged.

        Args:
            positions: (N, 3) Å.
            cell: (3, 3) Å, rows are lattice vectors.
            species: (N,) int atomic numbers, all in ``self.species`` (checked when concrete:
                :class:`jaxpot.structure.StructureError` otherwise).
            neighbors: full neighbour list with radius >= ``self.neighbor_cutoff`` (checked:
                ValueError otherwise).
        """
        return soap_power_spectrum(self, positions, cell, species, neighbors)

    def __call__(self, atoms) -> np.ndarray:
        """NumPy features of an ``ase.Atoms``: (N, F), or (F,) when averaged."""
        return features_of_atoms(self, _jit_power_spectrum, atoms, self.neighbor_cutoff, "soap")


def soap(species, r_cut: float | None = None, n_max: int = 8, l_max: int = 6,
         sigma: float = 1.0, rbf: str | None = None, weighting: dict | None = None,
         average: str = "off", compression: dict | None = None, *,
         convention: str = "dscribe", cutoff: str | None = None, cutoff_width: float = 1.0,
         normalize: bool | None = None, spline_accuracy: float = 1e-8) -> SOAP:
    """SOAP power spectrum descriptor with dscribe's keyword names (lengths in Å).

    Args:
        species: every species the descriptor will see (symbols or atomic numbers).
        r_cut: cutoff radius; may be left out when ``weighting`` has a function (dscribe).
        n_max: number of radial basis functions.
        l_max: largest spherical-harmonic degree.
        sigma: Gaussian width of each atom's density.
        rbf: ``"gto"`` (default) or ``"polynomial"`` (dscribe convention only);
            ``"equispaced_gauss"`` (the only and default one of the quip convention).
        weighting: dscribe's weighting dict (module docstring).
        average: ``"off"``, ``"inner"`` or ``"outer"`` (dscribe).
        compression: dscribe's compression dict (dscribe convention only).
        convention: ``"dscribe"``, ``"featomic"`` or ``"quip"`` (module docstring).
        cutoff: ``"dscribe"`` (default for that convention), ``"smooth"`` (default and only
            choice for quip; default for featomic) or ``"step"`` (featomic only).
        cutoff_width: width of the smooth transition, Å.
        normalize: scale each feature vector to unit length (default: True for quip,
            False otherwise).
        spline_accuracy: featomic's spline accuracy (featomic convention).
    """
    zs = tuple(sorted(set(species_numbers(species, "soap"))))
    weighting = dict(weighting or {})
    compression = dict(compression or {})
    if cutoff is None:
        cutoff = "dscribe" if convention == "dscribe" else "smooth"
    if rbf is None:
        rbf = "equispaced_gauss" if convention == "quip" else "gto"
    if normalize is None:
        normalize = convention == "quip"
    if r_cut is None:
        r_cut = infer_r_cut(weighting)
    if not (np.isfinite(spline_accuracy) and spline_accuracy > 0):
        raise ValueError(f"spline_accuracy must be positive and finite, got {spline_accuracy!r}")
    mode = compression.get("mode", "off")
    check_options(convention, rbf, cutoff, cutoff_width, r_cut, n_max, l_max, sigma,
                  weighting, average, mode)
    species_weights = None
    if compression.get("species_weighting") is not None:
        weighting_of = compression["species_weighting"]
        table = dict(zip(species_numbers(list(weighting_of), "compression species_weighting"),
                         map(float, weighting_of.values())))
        bad = {z: w for z, w in table.items() if not np.isfinite(w)}
        if bad:
            raise ValueError(f"compression species_weighting must be finite, got {bad}")
        if set(table) != set(zs):
            raise ValueError("compression species_weighting needs exactly one weight per "
                             f"species {zs}, got {sorted(table)}")
        species_weights = tuple(table[z] for z in zs)
    desc = SOAP(zs, float(r_cut), int(n_max), int(l_max), float(sigma), rbf, convention,
                cutoff, float(cutoff_width), tuple(sorted(weighting.items())), average, mode,
                species_weights, bool(normalize), float(spline_accuracy))
    _radial_centre(desc)  # builds (and caches) the basis: fails early if it cannot
    return desc


def _radial_centre(desc: SOAP) -> np.ndarray:
    """R_0n(0) (n_max,) for the centre atom's own Gaussian."""
    if desc.convention == "featomic":
        table = featomic_gto_table(0, desc.r_cut, desc.n_max, desc.sigma, desc.spline_accuracy)
        return table.values[0]
    if desc.convention == "quip":
        return quip_gauss_basis(desc.r_cut, desc.n_max, desc.sigma)[2]
    if desc.rbf == "polynomial":
        return rb.polynomial_centre(desc.r_cut, desc.n_max, desc.sigma)
    return rb.gto_centre(desc.r_cut, desc.n_max, desc.l_max, desc.sigma)


def _radial(desc: SOAP, r):
    """Radial integrals: list over l of (N, K, n_max)."""
    if desc.convention == "featomic":
        r_in = jnp.minimum(r, desc.r_cut)
        return [spline_radial(r_in, featomic_gto_table(l, desc.r_cut, desc.n_max, desc.sigma,
                                                        desc.spline_accuracy))
                for l in range(desc.l_max + 1)]
    if desc.convention == "quip":
        return quip_radial(r, desc.l_max, desc.r_cut, desc.n_max, desc.sigma)
    if desc.rbf == "polynomial":
        bessel = rb.polynomial_bessel(r, desc.l_max, desc.r_cut, desc.sigma)
        return [rb.polynomial_radial(b, desc.r_cut, desc.n_max) for b in bessel]
    return [rb.gto_radial(r, l, desc.r_cut, desc.n_max, desc.l_max, desc.sigma)
            for l in range(desc.l_max + 1)]


def _weights(desc: SOAP, r, within, dtype):
    """Neighbour weights (N, K) and the centre weight (scalar) before species weights."""
    weight = within.astype(dtype)
    options = dict(desc.weighting)
    func = weighting_function(options)
    centre = 1.0
    if func is not None:
        weight = weight * func(r)
        centre = func(jnp.zeros((), dtype))
    if desc.cutoff == "smooth":
        weight = weight * cosine_switch(r, desc.r_cut - desc.cutoff_width, desc.r_cut)
    elif desc.cutoff == "step":
        weight = weight * (r < desc.r_cut)
    if "w0" in options:  # dscribe: w0 replaces w(0); featomic: multiplies the scaling
        centre = options["w0"] * (centre if desc.convention == "featomic" else 1.0)
    return weight, centre


class _Density(NamedTuple):
    """Per-slot pieces of the neighbour density of every centre."""

    onehot: jax.Array  # (N, K, S) species channel of each neighbour slot
    centre: jax.Array  # (N, S) centre-atom weight in its own channel
    mask: jax.Array  # (N, K) slot inside the density's cutoff


def _density(desc: SOAP, vectors, mask, species, neighbors) -> _Density:
    # every entry point (features, coefficients, pair gradients) passes here
    check_features_input(desc, species, neighbors, desc.neighbor_cutoff, "soap")
    dtype = vectors.dtype
    r = safe_norm(vectors, mask)
    within = mask & (r < desc.neighbor_cutoff)
    _, centre_weight = _weights(desc, r, within, dtype)
    index, nb_index = species_indices(species_lookup(desc.species), species, neighbors)
    s = desc.n_channels
    onehot_weight = jnp.ones(nb_index.shape, dtype)
    if desc.species_weights is not None:
        sw = jnp.asarray(desc.species_weights, dtype)
        onehot_weight = sw[nb_index]
        centre_weight = centre_weight * sw[index]
    if s == 1:
        index, nb_index = jnp.zeros_like(index), jnp.zeros_like(nb_index)
    onehot = (nb_index[..., None] == jnp.arange(s)).astype(dtype) * onehot_weight[..., None]
    centre = jax.nn.one_hot(index, s, dtype=dtype) * jnp.reshape(centre_weight, (-1, 1))
    return _Density(onehot, centre, within)


def _slot_factors(desc: SOAP, vectors, within) -> tuple[list, list]:
    """Each neighbour slot's weighted radial integrals w(r) R_ln(r) (list over l of
    (N, K, n_max)) and Y_lm(r^) (list over l of (N, K, 2l+1)); the slot's term in the density
    coefficients is their outer product and depends on its own vector only (so a JVP gives
    per-slot derivatives)."""
    dtype = vectors.dtype
    r = safe_norm(vectors, within)
    weight, _ = _weights(desc, r, within, dtype)
    r_safe = jnp.where(within, r, 1.0)
    unit = jnp.where(within[..., None], vectors / r_safe[..., None],
                     jnp.array([0.0, 0.0, 1.0], dtype))
    ylm = real_spherical_harmonics(unit, desc.l_max)
    return [weight[..., None] * radial for radial in _radial(desc, r_safe)], ylm


def _centre_term(desc: SOAP, density: _Density, dtype) -> jax.Array:
    """The centre atom's own Gaussian in the l = 0 coefficients: (N, S, n_max, 1)."""
    own = jnp.asarray(_radial_centre(desc), dtype) / np.sqrt(4 * np.pi)  # R_0n(0) Y_00
    return density.centre[:, :, None, None] * own[None, None, :, None]


def _sum_slot_factors(desc: SOAP, density: _Density, radial: list, ylm: list) -> list:
    """Coefficients (list over l of (N, S, n_max, 2l+1)) without materialising the
    (N, K, n_max, 2l+1) slot terms: one batched (S n_max, K) x (K, 2l+1) product per l."""
    n, k, s = density.onehot.shape
    coeffs = []
    for rad, y in zip(radial, ylm):
        channel_radial = (density.onehot[..., :, None] * rad[..., None, :]).reshape(n, k, -1)
        coeffs.append(jnp.einsum("nkp,nkq->npq", channel_radial, y).reshape(
            n, s, desc.n_max, y.shape[-1]))
    coeffs[0] = coeffs[0] + _centre_term(desc, density, radial[0].dtype)
    return coeffs


def density_coefficients(desc: SOAP, positions, cell, species, neighbors) -> list:
    """c^s_{nlm}: list over l of (N, S, n_max, 2l+1), real Y_lm of ``spherical_harmonics``."""
    vectors, mask = neighbor_vectors(positions, cell, neighbors)
    density = _density(desc, vectors, mask, species, neighbors)
    return _sum_slot_factors(desc, density, *_slot_factors(desc, vectors, density.mask))


def _pair_blocks(desc: SOAP):
    """(s, s', full n x n' block?, extra factor) in output order."""
    s = desc.n_channels
    if desc.convention == "featomic":
        return [(a, b, True, 1.0 if a == b else np.sqrt(2.0))
                for a in range(s) for b in range(a, s)]
    last = {"crossover": lambda a: a + 1}.get(desc.compression, lambda a: s)
    return [(a, b, a != b, 1.0) for a in range(s) for b in range(a, last(a))]


def full_products(coeffs: list) -> list:
    """sum_m c^a_{nlm} c^b_{n'lm}: list over l of (M, S, S, n_max, n_max)."""
    return [jnp.einsum("manq,mbpq->mabnp", c, c) for c in coeffs]


def spectrum_layout(desc: SOAP, full: list) -> jax.Array:
    """(M, F) features from the full products (list over l of (M, S, S, n, n)): the
    convention's prefactors, selection and order.  Linear in ``full``."""
    def prefactor(l):
        if desc.convention == "featomic":
            return (-1) ** l / np.sqrt(2 * l + 1)
        return np.pi * np.sqrt(8.0 / (2 * l + 1))

    m, s, n = full[0].shape[0], desc.n_channels, desc.n_max
    if desc.convention == "quip":  # pairs (p, q <= p) of p = s n_max + n, then l; then 0
        rows, cols = np.tril_indices(s * n)
        factor = np.where(rows == cols, 1.0, np.sqrt(2.0))
        per_l = [f.transpose(0, 1, 3, 2, 4).reshape(m, s * n, s * n)[:, rows, cols]
                 * (factor / np.sqrt(2 * l + 1)) for l, f in enumerate(full)]
        out = jnp.stack(per_l, axis=-1).reshape(m, -1)
        return jnp.concatenate([out, jnp.zeros((m, 1), out.dtype)], axis=-1)
    if desc.compression == "mu1nu1":
        return jnp.concatenate([prefactor(l) * f[:, a].sum(axis=1).reshape(m, -1)
                                for a in range(s) for l, f in enumerate(full)], axis=-1)
    triu = np.triu_indices(n)
    blocks = []
    for a, b, whole, factor in _pair_blocks(desc):
        for l, f in enumerate(full):
            p = (prefactor(l) * factor) * f[:, a, b]
            blocks.append(p.reshape(m, -1) if whole else p[:, triu[0], triu[1]])
    return jnp.concatenate(blocks, axis=-1)


def power_spectrum(desc: SOAP, coeffs: list) -> jax.Array:
    """(M, F) power spectrum from coefficients (list over l of (M, S, n_max, 2l+1))."""
    return spectrum_layout(desc, full_products(coeffs))


def soap_power_spectrum(desc: SOAP, positions, cell, species, neighbors) -> jax.Array:
    """Pure function behind :meth:`SOAP.features`."""
    coeffs = density_coefficients(desc, positions, cell, species, neighbors)
    if desc.average == "inner":
        return _finish(desc, [c.mean(axis=0, keepdims=True) for c in coeffs])[0]
    if desc.average == "outer":
        out = power_spectrum(desc, coeffs).mean(axis=0)
        return out / safe_norm(out) if desc.normalize else out
    return _finish(desc, coeffs)


def _finish(desc: SOAP, coeffs: list) -> jax.Array:
    out = power_spectrum(desc, coeffs)
    return out / safe_norm(out)[..., None] if desc.normalize else out


_jit_power_spectrum = jax.jit(soap_power_spectrum, static_argnums=0)
