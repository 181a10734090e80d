"""A distance-based uncertainty for any model: how far each atom's environment lies from the
training set's.

Each atom's environment is described by a SOAP power spectrum (QUIP's normalised SOAP,
:func:`jaxpot.gap.terms.quip_soap`, at the model's cutoff up to :data:`DEFAULTS`' 5 Å), the
same for every model, so classic potentials, linear models and networks all get one.  Per
species, the training atoms' features give a mean mu and a covariance C (plus a ridge of
``ridge`` x its mean variance); an atom's score is its Mahalanobis distance

    d_i = | W_s (x_i - mu_s) | / sqrt(F),      W_s = C_s^{-1/2},

(about 1 for a typical training atom).  :mod:`jaxpot.uncertainty.calibrate` turns scores into
standard deviations, sigma_E,i = c_E d_i per atom (the structure's energy std is their root sum
of squares) and sigma_F,i = c_F d_i per atom, with c fitted on validation frames.  The score
is a JAX function of positions and cell (:func:`atom_distances`), so a bias built on it has
forces and stress by autodiff.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from jaxpot.model import EnergyModel, species_lookup

#: the descriptor's settings (QUIP names) when none are given; ``cutoff`` at most this (Å)
DEFAULTS = {"cutoff": 5.0, "n_max": 6, "l_max": 4, "atom_sigma": 0.5}
#: ridge added to each species' feature covariance, relative to its mean variance
RIDGE = 1e-3


def descriptor_settings(model: EnergyModel, species: Sequence[int], **given) -> dict:
    """The SOAP settings of a distance reference for ``model`` (JSON-ready)."""
    out = dict(DEFAULTS, **given)
    out["cutoff"] = float(min(out["cutoff"], model.cutoff))
    out["species"] = [int(z) for z in species]
    return out


def descriptor(settings: dict):
    """The SOAP descriptor of ``settings`` (a hashable NamedTuple: static under jit)."""
    from jaxpot.gap.terms import quip_soap
    return quip_soap(tuple(settings["species"]), settings["cutoff"], settings["n_max"],
                     settings["l_max"], settings["atom_sigma"])


def features(model: EnergyModel, settings: dict, frames: Sequence) -> list[np.ndarray]:
    """Per-atom features (N_i, F) of every frame (batched over few padded shapes)."""
    from jaxpot.batch import frame_pairs
    from jaxpot.gap.design import soap_features
    desc = descriptor(settings)
    pairs = [frame_pairs(model, a) for a in frames]
    out: list = [None] * len(frames)
    for i, x in soap_features(desc, model, frames, pairs):
        out[i] = np.asarray(x, float)
    return out


def reference_settings(model: EnergyModel, frames: Sequence, ridge: float = RIDGE,
                       **settings) -> dict:
    """The settings :func:`fit_reference` fits with: the model's species (else the frames'),
    :func:`descriptor_settings` and the ridge."""
    species = model.species or tuple(sorted({int(z) for a in frames for z in a.numbers}))
    return {**descriptor_settings(model, species, **settings), "ridge": float(ridge)}


def fit_reference(model: EnergyModel, frames: Sequence, ridge: float = RIDGE,
                  **settings) -> tuple[dict, dict]:
    """(arrays ``mean`` (S, F), ``whitening`` (S, F, F); settings) of the training ``frames``'
    per-atom features, per species; a species of the model with no training atom is refused."""
    settings = reference_settings(model, frames, ridge, **settings)
    species = settings["species"]
    x = features(model, settings, frames)
    numbers = np.concatenate([a.numbers for a in frames])
    x = np.concatenate(x)
    means, whitening = [], []
    for z in species:
        xs = x[numbers == z]
        if len(xs) < 2:
            raise ValueError(f"the distance reference needs training atoms of every species; "
                             f"Z={z} has {len(xs)} (add structures containing it)")
        mu = xs.mean(axis=0)
        cov = np.cov(xs, rowvar=False).reshape(len(mu), len(mu))
        cov += ridge * max(np.trace(cov) / len(mu), 1e-12) * np.eye(len(mu))
        w, v = np.linalg.eigh(cov)
        means.append(mu)
        whitening.append((v / np.sqrt(w)) @ v.T)
    return {"mean": np.array(means), "whitening": np.array(whitening)}, settings


def host_distances(model: EnergyModel, arrays: dict, settings: dict,
                   frames: Sequence) -> list[np.ndarray]:
    """Per-atom scores d_i (N_i,) of every frame (host path, batched)."""
    table = species_lookup(tuple(settings["species"]), fill=-1)
    out = []
    for a, x in zip(frames, features(model, settings, frames)):
        s = table[a.numbers]
        if np.any(s < 0):
            raise ValueError(f"a structure holds species {sorted(set(a.numbers[s < 0]))} the "
                             "distance reference has no training atoms of")
        y = np.einsum("nfg,ng->nf", arrays["whitening"][s], x - arrays["mean"][s])
        out.append(np.linalg.norm(y, axis=1) / np.sqrt(x.shape[1]))
    return out


def atom_distances(arrays: dict, settings: dict, positions, cell, species, neighbors):
    """Per-atom scores d_i (N,) as a JAX function (differentiable in positions and cell)."""
    from jaxpot.descriptors.soap import soap_power_spectrum
    desc = descriptor(settings)
    x = soap_power_spectrum(desc, positions, cell, species,
                            neighbors.within(desc.neighbor_cutoff))
    s = jnp.asarray(species_lookup(tuple(settings["species"])))[species]
    y = jnp.einsum("nfg,ng->nf", jnp.asarray(arrays["whitening"])[s],
                   x - jnp.asarray(arrays["mean"])[s])
    # sqrt of (|y|^2 + tiny): finite gradient where an atom sits exactly on the mean
    return jnp.sqrt(jnp.sum(y * y, axis=1) + 1e-30) / np.sqrt(x.shape[1])
