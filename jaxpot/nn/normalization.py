"""Statistics of the training set stored in a network's ``params["norm"]`` before training.

* e0 (S,) eV: per-species reference energies, least squares of the total energies on the
  composition (a tiny ridge keeps absent or collinear species finite).
* energy_scale (eV): RMS of the force components of the training set (the scale the networks'
  outputs should have, as MACE and NequIP use), or the standard deviation of the residual
  per-atom energies when no forces are labelled.
* avg_neighbors: mean number of neighbours within the cutoff per atom (MACE's message
  normalisation), for models that have it.
* shift, scale (S, F): mean and standard deviation of each BPNN feature over the atoms of each
  species (features that never vary get scale 1).
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.model import EnergyModel, species_lookup
from jaxpot.training.dataset import Dataset


def reference_energies(frames, labels, species: tuple[int, ...], ridge: float = 1e-8
                       ) -> np.ndarray:
    """Per-species e0 (S,) eV from the labelled energies (zeros when there are none)."""
    rows = [(atoms, lab.energy) for atoms, lab in zip(frames, labels) if lab.energy is not None]
    s = len(species)
    if not rows:
        return np.zeros(s)
    counts = np.array([[np.sum(a.numbers == z) for z in species] for a, _ in rows], float)
    energy = np.array([e for _, e in rows])
    return np.linalg.solve(counts.T @ counts + ridge * len(rows) * np.eye(s), counts.T @ energy)


def energy_scale(frames, labels, e0: np.ndarray, species: tuple[int, ...]) -> float:
    """RMS force component (eV/Å x 1 Å = eV), else std of residual energy per atom, else 1."""
    forces = [lab.forces for lab in labels if lab.forces is not None]
    if forces:
        rms = float(np.sqrt(np.mean(np.concatenate(forces) ** 2)))
        if rms > 1e-6:
            return rms
    table = species_lookup(species)
    resid = [(lab.energy - e0[table[a.numbers]].sum()) / len(a)
             for a, lab in zip(frames, labels) if lab.energy is not None]
    std = float(np.std(resid)) if len(resid) > 1 else 0.0
    return std if std > 1e-6 else 1.0


def pair_count(frames, cutoff: float) -> int:
    """Ordered pairs (i, j) within ``cutoff`` Å over the frames (periodic images included)."""
    from ase.neighborlist import neighbor_list
    return sum(len(neighbor_list("i", atoms, cutoff)) for atoms in frames)


def mean_neighbor_count(frames, cutoff: float, n_pairs: int | None = None) -> float:
    """Mean number of neighbours within ``cutoff`` Å per atom over the frames (at least 1);
    ``n_pairs``: their :func:`pair_count`, if already known."""
    if n_pairs is None:
        n_pairs = pair_count(frames, cutoff)
    return max(n_pairs / max(sum(len(atoms) for atoms in frames), 1), 1.0)


def feature_statistics(model: EnergyModel, dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(shift, scale) (S, F) of a BPNN's features over the dataset's real atoms."""
    from jaxpot.nn.bpnn import features, make_descriptor
    config = json.loads(model.spec)["config"]
    desc = make_descriptor(config["descriptor"])
    table = jnp.asarray(species_lookup(tuple(config["species"]), fill=-1))
    s, f = len(config["species"]), desc.n_features

    @jax.jit
    def sums(batch, g=None):
        if g is None:
            g = jax.vmap(lambda *a: features(desc, *a))(batch.positions, batch.cell,
                                                         batch.species, batch.neighbors)
        onehot = (table[batch.species][..., None] == jnp.arange(s)) & batch.atom_mask[..., None]
        w = onehot.astype(g.dtype)
        return (jnp.einsum("bns,bnf->sf", w, g), jnp.einsum("bns,bnf->sf", w, g * g),
                jnp.sum(w, axis=(0, 1)))

    total, total_sq, count = np.zeros((s, f)), np.zeros((s, f)), np.zeros(s)
    for bucket in dataset.buckets:
        g = bucket.extra.get("g") if isinstance(bucket.extra, dict) else None
        a, b, c = (np.asarray(x, float) for x in sums(bucket.batch, g))
        total, total_sq, count = total + a, total_sq + b, count + c
    n = np.maximum(count, 1.0)[:, None]
    mean = total / n
    std = np.sqrt(np.maximum(total_sq / n - mean ** 2, 0.0))
    return mean, np.where(std > 1e-6 * np.maximum(np.abs(mean), 1.0), std, 1.0)


def fit_normalization(model: EnergyModel, frames, labels, dataset: Dataset,
                      n_pairs: int | None = None) -> EnergyModel:
    """``model`` with ``params["norm"]`` fitted on the training frames (see module docstring);
    ``n_pairs``: the frames' :func:`pair_count` within the model's cutoff, if already known."""
    species = tuple(model.species)
    norm = dict(model.params["norm"])
    dtype = norm["e0"].dtype
    e0 = reference_energies(frames, labels, species)
    norm["e0"] = jnp.asarray(e0, dtype)
    norm["energy_scale"] = jnp.asarray(energy_scale(frames, labels, e0, species), dtype)
    if "avg_neighbors" in norm:
        norm["avg_neighbors"] = jnp.asarray(
            mean_neighbor_count(frames, model.cutoff, n_pairs), dtype)
    if "shift" in norm:
        shift, scale = feature_statistics(model, dataset)
        norm["shift"], norm["scale"] = jnp.asarray(shift, dtype), jnp.asarray(scale, dtype)
    return model.replace(params={**model.params, "norm": norm})
