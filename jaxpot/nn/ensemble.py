"""Deep ensembles: K networks of one architecture evaluated in one ``vmap``.

An ensemble is an :class:`~jaxpot.model.EnergyModel` whose energy is the members' mean, so
forces, stress, MD and every property use the mean model.  Its params are the members' params
stacked on a leading axis (``params["members"]``) plus calibration factors
(``params["calibration"]``: energy, forces, stress) that turn the members' spread into an error
bar: sigma = factor * std over members (Lakshminarayanan et al., NeurIPS 2017; the single
scale factor as apax's shallow ensembles do, fitted on a validation split of at least
:data:`MIN_CALIBRATION_FRAMES` labelled frames by :func:`calibration_factors` to the smallest
miscalibration area).  :func:`ensemble_predict`
returns the mean and calibrated spread of energy, forces and stress; :func:`pooled` merges
ensembles (or single models) trained apart into one.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.batch import (
    PREDICT_BATCH,
    batch_energy_forces_stress,
    check_frames,
    frame_pairs,
    packed_batches,
    plan_buckets,
)
from jaxpot.model import EnergyModel, make_spec, model_from_spec, register_model_kind
from jaxpot.model_registry import register_uncertainty
from jaxpot.nn.uncertainty_metrics import fit_sigma_scale
from jaxpot.pytree import stack_trees
from jaxpot.space import VOIGT_PAIRS

_MODULE = "jaxpot.nn.ensemble"
_log = logging.getLogger(__name__)
_ROWS, _COLS = (np.array(x) for x in zip(*VOIGT_PAIRS))


def ensemble(members: Sequence[EnergyModel], calibration=None) -> EnergyModel:
    """Ensemble of models of one kind and configuration (differing only in params)."""
    members = list(members)
    if not members:
        raise ValueError("an ensemble needs at least one member")
    first = members[0]
    for k, m in enumerate(members[1:], 1):
        if m.spec != first.spec or jax.tree_util.tree_structure(m.params) != \
                jax.tree_util.tree_structure(first.params):
            raise ValueError(f"ensemble member {k} differs from member 0 in architecture")
    stacked = stack_trees([m.params for m in members])
    return stacked_ensemble(first, stacked, calibration)


def stacked_ensemble(member: EnergyModel, stacked_params, calibration=None) -> EnergyModel:
    """Ensemble from one member (for its architecture) and params stacked on axis 0."""
    size = int(jax.tree_util.tree_leaves(stacked_params)[0].shape[0])
    config = {"member": json.loads(member.spec), "size": size}
    model = _from_config(config, member)
    cal = np.ones(3) if calibration is None else np.asarray(calibration, float).reshape(3)
    dtype = jax.tree_util.tree_leaves(stacked_params)[0].dtype
    return model.replace(params={"members": stacked_params,
                                 "calibration": jnp.asarray(cal, dtype)})


def _from_config(config: dict, member: EnergyModel | None = None) -> EnergyModel:
    member = member or model_from_spec(config["member"])
    size = int(config["size"])
    fn, afn = member.energy_fn, member.atomic_energies_fn

    def energy(params, positions, cell, species, neighbors):
        e = jax.vmap(fn, in_axes=(0, None, None, None, None))(
            params["members"], positions, cell, species, neighbors)
        return jnp.mean(e)

    atomic = None
    if afn is not None:
        def atomic(params, positions, cell, species, neighbors):
            e = jax.vmap(afn, in_axes=(0, None, None, None, None))(
                params["members"], positions, cell, species, neighbors)
            return jnp.mean(e, axis=0)

    # placeholders by host copies (no device computation, so loading compiles nothing)
    stacked = jax.tree_util.tree_map(
        lambda x: jax.device_put(np.broadcast_to(np.asarray(x), (size,) + np.shape(x)).copy()),
        member.params)
    dtype = jax.tree_util.tree_leaves(stacked)[0].dtype
    params = {"members": stacked, "calibration": jax.device_put(np.ones(3, dtype))}
    return EnergyModel(energy_fn=energy, params=params, cutoff=member.cutoff,
                       species=member.species, atomic_energies_fn=atomic,
                       spec=make_spec("ensemble", _MODULE, **config),
                       name=f"ensemble of {size} x {member.name}",
                       part_cutoffs=member.part_cutoffs)


def members_of(model: EnergyModel) -> tuple[EnergyModel, object]:
    """(one member as a model, the stacked member params) of an ensemble."""
    config = json.loads(model.spec)
    if config.get("kind") != "ensemble":
        raise ValueError(f"{model.name} is not an ensemble")
    member = model_from_spec(config["config"]["member"])
    return member, model.params["members"]


def members(model: EnergyModel) -> list[EnergyModel]:
    """The single models of ``model``: its members if it is an ensemble, else ``[model]``."""
    if json.loads(model.spec).get("kind") != "ensemble":
        return [model]
    member, stacked = members_of(model)
    size = int(jax.tree_util.tree_leaves(stacked)[0].shape[0])
    return [member.replace(params=jax.tree_util.tree_map(lambda x, k=k: x[k], stacked))
            for k in range(size)]


def pooled(models: Sequence[EnergyModel], calibration=None) -> EnergyModel:
    """One ensemble of every member of ``models`` (single models or ensembles of one
    architecture, e.g. trained in separate runs or on separate machines), each member weighted
    equally; its calibration is ``calibration`` (default ones): refit it on a validation split
    with :func:`calibrate`."""
    return ensemble([m for model in models for m in members(model)], calibration)


class EnsemblePrediction(NamedTuple):
    """Mean and calibrated spread (one sigma) over the members, NumPy float64:
    energy/energy_std (n,) eV, forces/forces_std [(N_i,3)] eV/Å, stress/stress_std (n,6) eV/Å^3
    (NaN rows for non-periodic frames), and the members' raw energies (n, K) eV."""

    energy: np.ndarray
    energy_std: np.ndarray
    forces: list
    forces_std: list
    stress: np.ndarray
    stress_std: np.ndarray
    member_energies: np.ndarray


def _member_results(member: EnergyModel):
    def run(stacked, batch):
        return jax.vmap(lambda p: batch_energy_forces_stress(member.replace(params=p), batch)
                        )(stacked)
    return jax.jit(run)


def ensemble_predict(model: EnergyModel, frames, batch_size: int | None = None,
                     calibrated: bool = True) -> EnsemblePrediction:
    """Mean and spread of every member's energy, forces and stress on ``frames``.

    The spread is the standard deviation over members times the model's calibration factors
    (1 until :func:`calibration_factors` has been applied), or the raw standard deviation with
    ``calibrated=False``."""
    if hasattr(frames, "positions"):
        frames = [frames]
    from jaxpot.structure import check_frames as check_atoms
    frames = check_atoms(frames, "ensemble_predict: frames")
    member, stacked = members_of(model)
    check_frames(model, frames)
    cal = np.asarray(model.params["calibration"], float) if calibrated else np.ones(3)
    pairs = [frame_pairs(model, a) for a in frames]
    n = len(frames)
    k = int(jax.tree_util.tree_leaves(stacked)[0].shape[0])
    energies = np.zeros((n, k))
    forces, forces_std = [None] * n, [None] * n
    stress, stress_std = np.full((n, 6), np.nan), np.full((n, 6), np.nan)
    run = _member_results(member)
    buckets = plan_buckets(frames, pairs, pad_atoms=True, batch_size=batch_size,
                           max_batch=PREDICT_BATCH)
    for idx, batch in packed_batches(model, frames, pairs, buckets):
        res = run(stacked, batch)
        e, f, s = (np.asarray(x, float) for x in res[:3])  # (K, B, ...)
        for slot, i in enumerate(idx):
            m = len(frames[i])
            energies[i] = e[:, slot]
            forces[i] = f[:, slot, :m].mean(0)
            forces_std[i] = cal[1] * f[:, slot, :m].std(0)
            if all(frames[i].pbc) and frames[i].cell.rank == 3:
                voigt = s[:, slot][:, _ROWS, _COLS]
                stress[i], stress_std[i] = voigt.mean(0), cal[2] * voigt.std(0)
    return EnsemblePrediction(energies.mean(1), cal[0] * energies.std(1), forces, forces_std,
                              stress, stress_std, energies)


#: the fewest labelled frames a calibration fits its factors on: with fewer, a scale factor
#: fitted to the spread of a handful of errors says little about the next structure
MIN_CALIBRATION_FRAMES = 5


class CalibrationCounts(NamedTuple):
    """What a calibration used: frames, and the labelled values of each quantity (energies,
    force components, stress components) its factors were fitted on."""

    frames: int
    energy: int
    forces: int
    stress: int


def calibration_factors(prediction: EnsemblePrediction, labels, *,
                        min_frames: int = MIN_CALIBRATION_FRAMES) -> np.ndarray:
    """Scale factors (energy, forces, stress) making the raw spread an error bar on ``labels``
    (one :class:`~jaxpot.training.labels.Labels` per predicted frame).

    For each quantity the factor c gives c * std the smallest miscalibration area on these
    errors (:func:`jaxpot.nn.uncertainty_metrics.fit_sigma_scale`).  A quantity labelled on
    fewer than ``min_frames`` frames keeps factor 1 (logged as a warning); ValueError when the
    labels do not match the frames one to one, or when neither energies nor forces are
    labelled on ``min_frames`` frames (nothing to calibrate on)."""
    return _fit_factors(prediction, labels, min_frames)[0]


def _fit_factors(prediction: EnsemblePrediction, labels, min_frames: int
                 ) -> tuple[np.ndarray, CalibrationCounts]:
    labels = list(labels)
    n = len(prediction.energy)
    if len(labels) != n:
        raise ValueError(f"calibration got {len(labels)} labels for {n} frames: give one "
                         "Labels per frame (jaxpot.training_data.read_labels_checked(frames))")
    for i, lab in enumerate(labels):
        if not all(hasattr(lab, k) for k in ("energy", "forces", "stress")):
            raise ValueError(f"calibration labels[{i}] is {type(lab).__name__}, not Labels "
                             "(read them with jaxpot.training_data.read_labels_checked)")
    e_err, e_std, f_err, f_std, s_err, s_std = [], [], [], [], [], []
    for i, lab in enumerate(labels):
        if lab.energy is not None:
            e_err.append(np.atleast_1d(prediction.energy[i] - lab.energy))
            e_std.append(np.atleast_1d(prediction.energy_std[i]))
        if lab.forces is not None:
            f_err.append((prediction.forces[i] - lab.forces).ravel())
            f_std.append(prediction.forces_std[i].ravel())
        if lab.stress is not None and np.all(np.isfinite(prediction.stress[i])):
            s_err.append(prediction.stress[i] - lab.stress)
            s_std.append(prediction.stress_std[i])
    if max(len(e_err), len(f_err)) < min_frames:
        raise ValueError(
            f"calibration needs at least {min_frames} frames labelled with energies or forces; "
            f"got {n} frames, {len(e_err)} with energies, {len(f_err)} with forces "
            "(calibrate on a larger labelled validation set)")
    factors = []
    for what, err, std in (("energy", e_err, e_std), ("forces", f_err, f_std),
                           ("stress", s_err, s_std)):
        if len(err) < min_frames:
            if err:
                _log.warning("ensemble calibration: %s factor kept at 1, only %d of %d frames "
                             "have %s labels (need %d)", what, len(err), n, what, min_frames)
            factors.append(1.0)
        else:
            factors.append(fit_sigma_scale(np.concatenate(err), np.concatenate(std)))
    counts = CalibrationCounts(n, len(e_err), sum(e.size for e in f_err),
                               sum(s.size for s in s_err))
    return np.array(factors), counts


def calibrate(model: EnergyModel, frames, labels=None, *,
              min_frames: int = MIN_CALIBRATION_FRAMES) -> EnergyModel:
    """``model`` with calibration factors fitted on labelled ``frames`` (a validation split;
    at least ``min_frames``, :data:`MIN_CALIBRATION_FRAMES`): ``labels`` one per frame
    (default: read from the frames).  Logs (INFO, logger ``jaxpot.nn.ensemble``) the frames
    and labelled values used; :func:`calibration_factors` says what is refused."""
    from jaxpot.structure import check_frames as check_atoms
    frames = check_atoms(frames, "calibrate: frames")
    if len(frames) < min_frames:
        raise ValueError(f"calibrate needs at least {min_frames} labelled frames, got "
                         f"{len(frames)}")
    if labels is None:
        from jaxpot.training.labels import read_labels_checked
        labels = read_labels_checked(frames, source="calibrate: frames")
    raw = ensemble_predict(model, frames, calibrated=False)
    factors, counts = _fit_factors(raw, labels, min_frames)
    _log.info("ensemble calibrated on %d frames (%d energies, %d force components, %d stress "
              "components): factors energy %.4g, forces %.4g, stress %.4g", counts.frames,
              counts.energy, counts.forces, counts.stress, *factors)
    dtype = model.params["calibration"].dtype
    return model.replace(params={**model.params, "calibration": jnp.asarray(factors, dtype)})


def example() -> EnergyModel:
    """Small model for the contract test: an ensemble of two silicon BPNNs on a small ACSF
    (cutoff 3.5 Å; it compiles in a fraction of the default ANI's time), each with its own
    seed, calibration factors not one."""
    from jaxpot.nn.bpnn import bpnn
    acsf = {"type": "acsf", "species": [14], "r_cut": 3.5,
            "g2_params": [[0.5, 0.0], [1.0, 2.4], [1.0, 3.0]],
            "g4_params": [[0.05, 1.0, 1.0], [0.05, 1.0, -1.0], [0.05, 4.0, 1.0]]}
    return ensemble([bpnn(["Si"], descriptor=acsf, hidden=(8,), seed=s) for s in (11, 12)],
                    calibration=[1.5, 2.0, 0.5])


register_model_kind("ensemble", _from_config, example=example)


def energy_std_function(model: EnergyModel):
    """``sigma(params, positions, cell, species, neighbors)``: the calibrated standard
    deviation (eV) of the members' total energies, a JAX function (biased MD, MD stopped
    where the model is unsure)."""
    member = members_of(model)[0]

    def std(params, positions, cell, species, neighbors):
        e = jax.vmap(member.energy_fn, in_axes=(0, None, None, None, None))(
            params["members"], positions, cell, species, neighbors)
        return params["calibration"][0] * jnp.sqrt(jnp.var(e) + 1e-30)
    return std


@functools.lru_cache(maxsize=32)
def _std_of_spec(spec: str):
    """One sigma function per ensemble spec (equal models share compiled MD)."""
    return energy_std_function(model_from_spec(json.loads(spec)))


register_uncertainty("ensemble", lambda model: _std_of_spec(model.spec))
