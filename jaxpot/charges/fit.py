"""Fit an environment-dependent charge model to reference (DFT) charges.

    result = fit_charges(environment_charges(["O", "H"]), frames, key="n2p2_charge")
    model = ewald(result.model) + short_range      # charges now follow the environment

The ACSF features of every training atom are computed once (they do not depend on the network),
standardised (the model's ``mean``/``std``), and the per-element networks and offsets are fitted
full-batch with Adam to the mean squared charge error *after* the model's even neutrality
correction, so what is fitted is what the model predicts.  Labels come from
``atoms.arrays[key]`` (e); a frame without them, or with non-finite ones, raises an error naming
the frame.  A validation split (``validation_fraction``, seeded, stratified by config_type as
every trainer's: :func:`jaxpot.training.splits.validation_carve`) picks the best step.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxpot.descriptors.acsf import ACSF
from jaxpot.electrostatics.charge_models import ChargeModel, _mlp
from jaxpot.model import species_lookup
from jaxpot.training.labels import TrainingDataError
from jaxpot.training.splits import validation_carve

_log = logging.getLogger(__name__)


class ChargeFitResult(NamedTuple):
    """The fitted model, per-step ``(train RMSE, validation RMSE)`` in e, and the best step."""

    model: ChargeModel
    history: list
    best_step: int


def _labels(frames, key: str, source: str) -> list[np.ndarray]:
    out = []
    for i, atoms in enumerate(frames):
        if key not in atoms.arrays:
            raise TrainingDataError(f"{source}, configuration {i}: no per-atom charges "
                                    f"{key!r} (arrays: {sorted(atoms.arrays)})")
        q = np.asarray(atoms.arrays[key], float).reshape(-1)
        if not np.all(np.isfinite(q)):
            raise TrainingDataError(f"{source}, configuration {i}: charges {key!r} are not "
                                    "finite")
        out.append(q)
    return out


def _descriptor(model: ChargeModel) -> ACSF:
    d = model.config["descriptor"]
    return ACSF(tuple(d["species"]), float(d["r_cut"]),
                *(tuple(tuple(float(x) for x in row) for row in d[k])
                  for k in ("g2", "g3", "g4", "g5")))


def fit_charges(model: ChargeModel, frames, key: str = "charges", *, steps: int = 2000,
                learning_rate: float = 3e-3, validation_fraction: float = 0.1, seed: int = 0,
                source: str = "frames", progress: bool = False) -> ChargeFitResult:
    """Fit ``model`` (from :func:`environment_charges`) to the charges ``atoms.arrays[key]``."""
    if model.config.get("kind") != "environment":
        raise ValueError("fit_charges fits environment_charges models; per-element charges "
                         "are fitted by least squares or trained end to end")
    if len(frames) == 0:
        raise TrainingDataError(f"{source}: no configurations")
    labels = _labels(frames, key, source)
    desc = _descriptor(model)
    features = [np.asarray(desc(a)) for a in frames]
    lookup = species_lookup(desc.species)
    index = [lookup[a.numbers] for a in frames]
    train, val = validation_carve(frames, validation_fraction, seed)

    def stack(ids):
        x = np.concatenate([features[i] for i in ids])
        s = np.concatenate([index[i] for i in ids])
        q = np.concatenate([labels[i] for i in ids])
        seg = np.concatenate([np.full(len(labels[i]), k) for k, i in enumerate(ids)])
        return jnp.asarray(x), jnp.asarray(s), jnp.asarray(q), jnp.asarray(seg), len(ids)

    x_train = np.concatenate([features[i] for i in train])
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std = np.where(std > 1e-8, std, 1.0)
    params = dict(model.params, mean=jnp.asarray(mean), std=jnp.asarray(std))
    q_total = model.total_charge or 0.0
    q0 = np.zeros(len(desc.species))
    q_train = np.concatenate([labels[i] for i in train])
    s_train = np.concatenate([index[i] for i in train])
    for k in range(len(q0)):
        if np.any(s_train == k):
            q0[k] = q_train[s_train == k].mean()
    params["q0"] = jnp.asarray(q0)
    trainable = {"net": params["net"], "q0": params["q0"]}

    def predict(p, data):
        x, s, _, seg, n = data
        raw = p["q0"][s] + _mlp(p["net"], (x - params["mean"]) / params["std"], s)
        count = jax.ops.segment_sum(jnp.ones_like(raw), seg, n)
        excess = (jax.ops.segment_sum(raw, seg, n) - q_total) / count
        return raw - excess[seg]

    def rmse(p, data):
        return jnp.sqrt(jnp.mean((predict(p, data) - data[2]) ** 2))

    train_data = stack(train)
    val_data = stack(val) if len(val) else train_data
    optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, steps, 0.01))

    @jax.jit
    def step(p, opt):
        loss, grads = jax.value_and_grad(lambda p: rmse(p, train_data) ** 2)(p)
        updates, opt = optimizer.update(grads, opt, p)
        return optax.apply_updates(p, updates), opt, jnp.sqrt(loss)

    validation = jax.jit(lambda p: rmse(p, val_data))
    opt = optimizer.init(trainable)
    best, best_score, best_step, history = trainable, np.inf, 0, []
    for k in range(int(steps)):
        trainable, opt, loss = step(trainable, opt)
        if k % 10 == 0 or k == steps - 1:
            score = float(validation(trainable))
            history.append((k, float(loss), score))
            _log.log(logging.INFO if progress else logging.DEBUG,
                     "step %d: train RMSE %.4f e, validation %.4f e", k, float(loss), score)
            if score < best_score:
                best, best_score, best_step = trainable, score, k
    fitted = dataclasses.replace(model, params=dict(params, **best))
    return ChargeFitResult(fitted, history, best_step)
