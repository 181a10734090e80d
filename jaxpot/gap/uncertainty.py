"""Predictive uncertainty of a fitted GAP (what active learning consumes).

With K_MM + jitter = U^T U and the posterior precision K_MM + K_MN Lambda^-1 K_NM = R^T R (both
from :func:`jaxpot.gap.fit`), the projected-process (DTC) predictive variance of any linear
functional f* of the local energies with prior variance k** and covariance k* with the sparse
points is

    var f* = k** - |U^-T k*|^2 + |R^-T k*|^2

(Quiñonero-Candela & Rasmussen, JMLR 6, 1939 (2005), eq. for DTC; the GP's noise is not
added).  Computed here for each SOAP local energy (k** = delta^2, unit vectors) and each total
energy (k** = sum over atom pairs of the SOAP kernel plus the distance_2b kernel over ordered
pairs).  Force components get the posterior variance of the projected model, |R^-T k*|^2: the
prior term of a force needs second derivatives of the kernel and is left out, so force standard
deviations are lower bounds that rank configurations, not calibrated errors.

To rank structures by their likely energy error (active learning), use the largest local-energy
standard deviation of each structure: on the mlearn Si test split it ranks the per-atom energy
errors with Spearman 0.48, where the total energy's deviation per atom gives -0.34 (the prior
term of a sum over many correlated atoms dominates it; ``benchmarks/gap_accuracy.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import scipy.linalg

from jaxpot.batch import check_frames, frame_pairs
from jaxpot.gap.design import coordination, gap_terms, pair_distances, soap_features, structure_rows
from jaxpot.gap.terms import soap_gp_descriptor, sparse_species_index
from jaxpot.io.atomic_file import atomic_write
from jaxpot.model import EnergyModel
from jaxpot.structure import check_frames as check_atoms


class Uncertainty(NamedTuple):
    """Predictive standard deviations: energy (n,) eV, local_energies [(N_i,)] eV (SOAP term;
    None without one), forces [(N_i, 3)] eV/Å (projected-model part only)."""

    energy: np.ndarray
    local_energies: list | None
    forces: list


class Posterior(NamedTuple):
    """The posterior of one fit: upper factors U (K_MM + jitter = U^T U) and R (posterior
    precision = R^T R), each (M, M), and the :func:`model_digest` of the fit's GAP terms
    (None: unknown, only the shapes can be checked)."""

    kmm_factor: np.ndarray
    posterior_factor: np.ndarray
    digest: str | None = None


class PosteriorError(ValueError):
    """A posterior that is not one, or that belongs to another fit."""


#: the ``format`` entry of a posterior file
FORMAT = "jaxpot-gap-posterior"


def model_digest(model: EnergyModel) -> str:
    """SHA-256 of a GAP's terms: each term's spec and its parameters rounded to float32 (so
    the model loaded with or without x64 has the digest of the fitted one)."""
    terms = gap_terms(model)
    h = hashlib.sha256()
    for term in (terms.soap, terms.pair):
        if term is None:
            h.update(b"<none>")
            continue
        h.update(json.dumps(json.loads(term.spec), sort_keys=True).encode())
        for key in sorted(term.params):
            a = np.asarray(term.params[key], np.float32)
            h.update(f"{key}{a.shape}".encode() + np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def as_posterior(posterior) -> Posterior:
    """A :class:`Posterior` from one, or from a plain (U, R) pair (digest unknown)."""
    if isinstance(posterior, Posterior):
        return posterior
    if isinstance(posterior, (str, bytes)) or hasattr(posterior, "__fspath__"):
        raise PosteriorError(f"posterior {posterior!r:.80} is a path: load it with "
                             "jaxpot.gap.uncertainty.load_posterior(path) first")
    try:
        u, r = posterior
    except (TypeError, ValueError):
        raise PosteriorError("posterior must be GapFit.posterior (or load_posterior's result), "
                             f"got {type(posterior).__name__}") from None
    return Posterior(np.asarray(u, float), np.asarray(r, float))


def check_posterior(model: EnergyModel, posterior, where: str = "posterior") -> Posterior:
    """``posterior`` as a :class:`Posterior` that belongs to ``model``'s fit: its factors
    match the model's sparse points and its digest (when known) the model's."""
    post = as_posterior(posterior)
    u, r = (np.asarray(x, float) for x in post[:2])
    m = gap_terms(model).n_columns
    if u.shape != (m, m) or r.shape != (m, m):
        raise PosteriorError(f"{where}: factors are {u.shape} and {r.shape}, the model has {m} "
                             "sparse points: they belong to another fit")
    if post.digest is not None and post.digest != model_digest(model):
        raise PosteriorError(
            f"{where} belongs to another fit: its digest does not match this model's. Use "
            "the posterior of the same fit (GapFit.posterior, or the <model>.posterior.npz "
            "written next to the model file by jaxpot fit)")
    return Posterior(u, r, post.digest)


def predictive_std(model: EnergyModel, posterior: Posterior | tuple[np.ndarray, np.ndarray],
                   frames: Sequence) -> Uncertainty:
    """Standard deviations of a GAP's predictions on ``frames`` (see module docstring).

    Args:
        model: the fitted GAP terms (``GapFit.gap``, or a loaded model of the same terms).
        posterior: ``GapFit.posterior`` or :func:`load_posterior`'s result, tied to ``model``
            by a digest (another fit's is refused); a plain (U, R) pair is checked by shape.
        frames: ``ase.Atoms`` to evaluate; a species the model does not know is refused, as
            :func:`jaxpot.predict` refuses it.
    """
    frames = check_atoms(frames, "frames")
    u, r, _ = check_posterior(model, posterior)
    terms = gap_terms(model)
    check_frames(model, frames)
    pairs = [frame_pairs(model, a) for a in frames]
    n = len(frames)
    energy_var, forces = np.zeros(n), [None] * n
    prior = _energy_prior(terms, model, frames, pairs)
    for i, rows in structure_rows(model, frames, pairs):
        k = np.concatenate([rows.energy[None], rows.forces]).T  # (M, 1 + 3N)
        prior_fit = _sq_norms(u, k)
        posterior_fit = _sq_norms(r, k)
        energy_var[i] = prior[i] - prior_fit[0] + posterior_fit[0]
        forces[i] = np.sqrt(np.maximum(posterior_fit[1:], 0.0)).reshape(-1, 3)
    local = _local_energy_std(terms, model, frames, pairs, u, r) if terms.soap else None
    return Uncertainty(np.sqrt(np.maximum(energy_var, 0.0)), local, forces)


def _sq_norms(factor: np.ndarray, k: np.ndarray) -> np.ndarray:
    """|factor^-T k|^2 per column of k (M, c)."""
    v = scipy.linalg.solve_triangular(factor, k, trans="T", lower=False, check_finite=False)
    return np.sum(v * v, axis=0)


def _soap_parts(terms):
    config = json.loads(terms.soap.spec)["config"]
    delta = float(terms.soap.params["delta"])
    x = np.asarray(terms.soap.params["sparse"])
    owner = sparse_species_index(tuple(config["n_sparse"]))
    return config, delta, x, owner


def _energy_prior(terms, model, frames, pairs) -> np.ndarray:
    """k** of each total energy (eV^2)."""
    out = np.zeros(len(frames))
    if terms.soap is not None:
        config, delta, _, _ = _soap_parts(terms)
        desc = soap_gp_descriptor(terms.soap)
        for i, p in soap_features(desc, model, frames, pairs):
            z = frames[i].numbers
            same = z[:, None] == z[None, :]
            out[i] += delta ** 2 * np.sum(np.where(same, (p @ p.T) ** config["zeta"], 0.0))
    if terms.pair is not None:
        config = json.loads(terms.pair.spec)["config"]
        params = {k: np.asarray(v) for k, v in terms.pair.params.items()}
        for i, (atoms, p) in enumerate(zip(frames, pairs)):
            dist, t = pair_distances(atoms, p, config["cutoff"], config["species"])
            f = coordination(dist, config["cutoff"], config["cutoff_transition_width"])
            for typ in np.unique(t):
                sel = t == typ
                d, ff = dist[sel], f[sel]
                k = np.exp(-0.5 * ((d[:, None] - d[None, :]) / params["theta"][typ]) ** 2)
                out[i] += 4.0 * params["delta"][typ] ** 2 * ff @ k @ ff  # ordered pairs
    return out


def _local_energy_std(terms, model, frames, pairs, u, r) -> list:
    config, delta, x, owner = _soap_parts(terms)
    zs = config["species"]
    desc = soap_gp_descriptor(terms.soap)
    m = u.shape[0]
    out = [None] * len(frames)
    for i, p in soap_features(desc, model, frames, pairs):
        index = np.searchsorted(zs, frames[i].numbers)
        k = np.zeros((m, len(p)))
        k[:len(x)] = np.where(owner[:, None] == index[None, :],
                              delta ** 2 * (x @ p.T) ** config["zeta"], 0.0)
        var = delta ** 2 - _sq_norms(u, k) + _sq_norms(r, k)
        out[i] = np.sqrt(np.maximum(var, 0.0))
    return out


def save_posterior(path: str, posterior: Posterior | tuple[np.ndarray, np.ndarray]) -> None:
    """Write ``GapFit.posterior`` (U, R and the digest of its fit) to an ``.npz`` file
    (atomically: temporary name, then rename), to compute variances later with the loaded
    model.  A plain (U, R) pair is written without a digest."""
    post = as_posterior(posterior)
    with atomic_write(path) as f:
        np.savez(f, format=np.array(FORMAT), kmm_factor=post.kmm_factor,
                 posterior_factor=post.posterior_factor, digest=np.array(post.digest or ""))


def load_posterior(path: str, model: EnergyModel | None = None) -> Posterior:
    """The :class:`Posterior` written by :func:`save_posterior` (checked against ``model``
    when given); a file of another kind raises :class:`PosteriorError`, nothing unpickled."""
    import zipfile
    hint = ("expected a GAP posterior file (<model>.posterior.npz, written by jaxpot fit or "
            "save_posterior)")
    if not os.path.exists(path):
        raise PosteriorError(f"{path}: no such file; {hint}")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        raise PosteriorError(f"{path}: not a GAP posterior (not an .npz archive); {hint}"
                             ) from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise PosteriorError(f"{path}: not a GAP posterior (a single .npy array); {hint}")
    with data:
        files = set(data.files)
        if not {"kmm_factor", "posterior_factor"} <= files:
            kind = " (a jaxpot model file)" if "__jaxpot__" in files else ""
            raise PosteriorError(f"{path}: not a GAP posterior{kind}; {hint}")
        try:
            u, r = data["kmm_factor"], data["posterior_factor"]
            digest = str(data["digest"]) if "digest" in files else ""
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise PosteriorError(f"{path}: a damaged GAP posterior ({err}); {hint}") from None
    if u.ndim != 2 or u.shape[0] != u.shape[1] or r.shape != u.shape or \
            u.dtype.kind != "f" or r.dtype.kind != "f":
        raise PosteriorError(f"{path}: its factors are {u.dtype} {u.shape} and {r.dtype} "
                             f"{r.shape}, not two square float matrices; {hint}")
    post = Posterior(u, r, digest or None)
    return post if model is None else check_posterior(model, post, path)
