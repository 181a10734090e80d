"""The design matrix of a GAP over many structures: kernel rows yielded structure by structure.

    for i, rows in structure_rows(gap_model, frames):
        rows.energy (M,), rows.forces (3 N_i, M), rows.virial (6, M)

``gap_model`` is a :func:`~jaxpot.gap.terms.soap_gp` term, a
:func:`~jaxpot.gap.terms.distance_2b_gp` term, or their sum; columns are the SOAP sparse points
first, then the distance_2b points (pair type by pair type).  Structures are packed into a few
padded bucket shapes (:mod:`jaxpot.batch`) with batch sizes bounded by a memory budget, so a
training set of any size compiles a handful of times and memory stays bounded.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.batch import (
    FramePairs,
    first_batch_of_each_bucket,
    frame_pairs,
    packed_batches,
    plan_buckets,
    slot_work,
)
from jaxpot.descriptors.soap import soap_power_spectrum
from jaxpot.gap import rows as gap_rows
from jaxpot.gap.terms import pair_type_table, soap_gp_descriptor
from jaxpot.model import EnergyModel, model_from_spec

ROWS_BYTES = 1 << 28  #: memory budget of one batch of kernel rows or descriptors (bytes)

_log = logging.getLogger(__name__)


class StructureRows(NamedTuple):
    """Kernel rows of one structure: energy (M,), forces (3N, M), virial (6, M) (gap_fit's
    upper-triangle order xx, xy, xz, yy, yz, zz)."""

    energy: np.ndarray
    forces: np.ndarray
    virial: np.ndarray


class Terms(NamedTuple):
    """The GP terms of a GAP model (None where absent)."""

    soap: EnergyModel | None
    pair: EnergyModel | None

    @property
    def n_columns(self) -> int:
        return sum(int(np.size(t.params["alpha"])) for t in self if t is not None)


def gap_terms(model: EnergyModel) -> Terms:
    """Split a GAP model (one term or a sum of a SOAP and a distance_2b term)."""
    spec = json.loads(model.spec)
    if spec.get("kind") == "sum":
        parts = [model_from_spec(c).replace(params=p)
                 for c, p in zip(spec["children"], model.params)]
    else:
        parts = [model]
    found = {p.kind: p for p in parts}
    if set(found) - {"gap_soap", "gap_distance_2b"} or len(found) != len(parts):
        raise ValueError(f"not a GAP model (SOAP and/or distance_2b terms): {model.name}")
    return Terms(found.get("gap_soap"), found.get("gap_distance_2b"))


def _buckets(frames: Sequence, pairs: Sequence[FramePairs], per_structure_bytes=None):
    """The padded buckets of ``frames``, batch sizes bounded by the memory budget."""
    out = []
    for bucket in plan_buckets(frames, pairs, pad_atoms=True):
        size = bucket.batch_size
        if per_structure_bytes is not None:
            size = max(1, min(size, ROWS_BYTES // max(per_structure_bytes(bucket), 1)))
        out.append(bucket._replace(batch_size=size))
    return out


def padded_atoms(frames: Sequence, pairs: Sequence[FramePairs],
                 per_structure_bytes=None) -> list[int]:
    """Each frame's share of the padded atom slots its batch computes
    (:func:`jaxpot.batch.slot_work`): the frame's work, for progress bars."""
    return slot_work(_buckets(frames, pairs, per_structure_bytes), len(frames))


def _rows_bytes(model: EnergyModel):
    m_tot = gap_terms(model).n_columns
    return lambda bucket: gap_rows.rows_memory_per_structure(bucket.n_atoms, m_tot)


def _soap_bytes(desc):
    per_slot = 8 * 4 * (desc.n_max * (desc.l_max + 1) + (desc.l_max + 1) ** 2)
    # radial and angular slot factors, with temporaries
    return lambda bucket: bucket.n_atoms * bucket.capacity * per_slot


def rows_work(model: EnergyModel, frames: Sequence, pairs: Sequence[FramePairs]) -> list[int]:
    """:func:`padded_atoms` of :func:`structure_rows`' batches."""
    return padded_atoms(frames, pairs, _rows_bytes(model))


def soap_work(desc, frames: Sequence, pairs: Sequence[FramePairs]) -> list[int]:
    """:func:`padded_atoms` of :func:`soap_features`' batches."""
    return padded_atoms(frames, pairs, _soap_bytes(desc))


def batches(model: EnergyModel, frames: Sequence, pairs: Sequence[FramePairs],
            per_structure_bytes=None):
    """Yield (member indices, padded Batch) over few bucket shapes."""
    yield from packed_batches(model, frames, pairs, _buckets(frames, pairs, per_structure_bytes))


def _compile_shapes(compile_one: Callable, model, frames, pairs, per_structure_bytes,
                    what: str) -> None:
    """Compile ``compile_one(batch)`` for every batch shape before the first batch runs, so
    a stage's progress counts computation only (its ETA would otherwise take each shape's
    compilation, ~10 s in the main job's last batch, for work to come)."""
    shapes = list(first_batch_of_each_bucket(model, frames, pairs,
                                             _buckets(frames, pairs, per_structure_bytes)))
    n = len(shapes)
    _log.info("compiling %s for %d batch shape%s", what, n, "s" * (n != 1))
    t0 = time.perf_counter()
    for batch in shapes:
        compile_one(batch)
    _log.info("compiled %s in %.1f s", what, time.perf_counter() - t0)


def _rows_calls(model: EnergyModel):
    """The jitted kernel-row functions of each GP term, as (function, leading args)."""
    terms = gap_terms(model)
    calls = []
    if terms.soap is not None:
        config = json.loads(terms.soap.spec)["config"]
        p = terms.soap.params
        calls.append((gap_rows.soap_rows_jit,
                      (soap_gp_descriptor(terms.soap), config["zeta"],
                       tuple(config["n_sparse"]), p["sparse"], p["delta"])))
    if terms.pair is not None:
        calls.append((gap_rows.linear_rows_jit, (terms.pair,)))
    return calls


def structure_rows(model: EnergyModel, frames: Sequence,
                   pairs: Sequence[FramePairs] | None = None,
                   on_batch=None, on_compiled=None) -> Iterator[tuple[int, StructureRows]]:
    """Yield ``(frame index, StructureRows)`` for every frame (in bucket order).

    Every batch shape is compiled first; then ``on_compiled()`` is called (a progress bar
    restarts its clock there), and ``on_batch(members)`` after each batch with the indices
    of its structures (progress bars, which weigh them by size).
    """
    pairs = pairs if pairs is not None else [frame_pairs(model, a) for a in frames]
    calls = _rows_calls(model)
    budget = _rows_bytes(model)

    def compile_one(batch):
        for fn, args in calls:
            fn.lower(*args, batch).compile()

    _compile_shapes(compile_one, model, frames, pairs, budget, "GAP kernel rows")
    if on_compiled is not None:
        on_compiled()
    for members, batch in batches(model, frames, pairs, budget):
        parts = [fn(*args, batch) for fn, args in calls]
        host = [jax.tree_util.tree_map(np.asarray, r) for r in parts]
        for slot, i in enumerate(members):
            pieces = [gap_rows.observation_rows(r, len(frames[i]), slot) for r in host]
            yield i, StructureRows(*(np.concatenate([p[k] for p in pieces], axis=-1)
                                     for k in range(3)))
        if on_batch is not None:
            on_batch(members)


def _features(desc, batch):
    def one(pos, cell, z, nbrs):
        return soap_power_spectrum(desc, pos, cell, z, nbrs.within(desc.neighbor_cutoff))
    return jax.vmap(one)(batch.positions, batch.cell, batch.species, batch.neighbors)


_features_jit = jax.jit(_features, static_argnums=0)


def soap_features(desc, model: EnergyModel, frames: Sequence,
                  pairs: Sequence[FramePairs] | None = None,
                  on_batch=None, on_compiled=None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame index, SOAP vectors (N_i, F))`` of ``desc`` for every frame, batched on
    the neighbor data of ``model`` (whose cutoff must reach ``desc``'s); ``on_compiled`` and
    ``on_batch(members)`` as :func:`structure_rows` calls them."""
    pairs = pairs if pairs is not None else [frame_pairs(model, a) for a in frames]
    budget = _soap_bytes(desc)
    _compile_shapes(lambda batch: _features_jit.lower(desc, batch).compile(), model, frames,
                    pairs, budget, "SOAP descriptors")
    if on_compiled is not None:
        on_compiled()
    for members, batch in batches(model, frames, pairs, budget):
        x = np.asarray(_features_jit(desc, batch))
        for slot, i in enumerate(members):
            yield i, x[slot, :len(frames[i])]
        if on_batch is not None:
            on_batch(members)


def sparse_covariance(model: EnergyModel) -> np.ndarray:
    """K_MM (M_tot, M_tot) of a GAP model's sparse points (block diagonal over terms,
    centre species and pair types), without jitter."""
    terms = gap_terms(model)
    blocks = []
    if terms.soap is not None:
        config = json.loads(terms.soap.spec)["config"]
        x = np.asarray(terms.soap.params["sparse"])
        k = float(terms.soap.params["delta"]) ** 2 * (x @ x.T) ** config["zeta"]
        owner = np.repeat(np.arange(len(config["n_sparse"])), config["n_sparse"])
        blocks.append(np.where(owner[:, None] == owner[None, :], k, 0.0))
    if terms.pair is not None:
        config = json.loads(terms.pair.spec)["config"]
        p = jax.tree_util.tree_map(np.asarray, terms.pair.params)
        for r, theta, delta in zip(p["sparse"], p["theta"], p["delta"]):
            f = coordination(r, config["cutoff"], config["cutoff_transition_width"])
            blocks.append(delta ** 2 * np.exp(-0.5 * ((r[:, None] - r[None, :]) / theta) ** 2)
                          * f[:, None] * f[None, :])
    m = sum(len(b) for b in blocks)
    out = np.zeros((m, m))
    at = 0
    for b in blocks:
        out[at:at + len(b), at:at + len(b)] = b
        at += len(b)
    return out


def coordination(r, cutoff: float, width: float) -> np.ndarray:
    """QUIP's cosine coordination function, 1 below cutoff - width and 0 at cutoff: the NumPy
    twin of :func:`jaxpot.cutoffs.cosine_switch` (host paths run no eager JAX ops, which
    would compile for every new array shape)."""
    r = np.asarray(r, float)
    x = np.clip((r - (cutoff - width)) / max(width, 1e-300), 0.0, 1.0)
    return np.where(r < cutoff, 0.5 * (np.cos(np.pi * x) + 1.0), 0.0)


def pair_distances(atoms, pairs: FramePairs, cutoff: float,
                   species: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Each pair of ``atoms`` within ``cutoff`` once (from its half list): distances (P,) Å
    and species-pair type (P,) in :func:`jaxpot.gap.terms.species_pairs` order."""
    i, j, shifts = pairs.half
    if len(i) == 0:
        return np.zeros(0), np.zeros(0, int)
    r = np.linalg.norm(atoms.positions[j] - atoms.positions[i] + shifts @ atoms.cell.array,
                       axis=1)
    keep = r < cutoff
    index = np.searchsorted(np.asarray(species), atoms.numbers)
    types = pair_type_table(len(species))[index[i], index[j]]
    return r[keep], types[keep]


def set_alpha(model: EnergyModel, alpha: np.ndarray) -> EnergyModel:
    """The GAP model with its weights replaced by ``alpha`` (M_tot,) in column order."""
    terms = gap_terms(model)
    out, at = [], 0
    for t in terms:
        if t is None:
            continue
        size = int(np.size(t.params["alpha"]))
        a = jnp.asarray(np.asarray(alpha[at:at + size]).reshape(np.shape(t.params["alpha"])))
        out.append(t.replace(params=dict(t.params, alpha=a)))
        at += size
    return sum(out)
