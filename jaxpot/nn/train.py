"""Training loop for network potentials: optax, padded buckets, EMA, early stopping, ensembles.

    result = train_model(bpnn(["Si"], 5.0), frames, settings=TrainSettings(epochs=200))
    result.model            # best (validation) EMA weights, an EnergyModel (or an ensemble)

K ensemble members train side by side in one ``vmap`` (same batches, different initial
weights); a single model is the case K = 1.  Each epoch visits every training structure once in
a seeded shuffled order; the validation split is evaluated with the EMA weights, the best epoch
is kept, and training stops after ``patience`` epochs without improvement.  With
``stage_two_weights`` the last epochs train on other loss sigmas (MACE's stage two); the
sigmas are an argument of the compiled step, so the switch compiles nothing, and the best
epoch and patience restart with it (the two stages' losses do not compare); patience does not
end a run before its stage two.  With a checkpoint path the state is written atomically every
``checkpoint_every`` epochs and a rerun resumes from it, ending bit-identical to an
uninterrupted run on the same machine.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxpot.model import EnergyModel
from jaxpot.nn import fixed_features
from jaxpot.nn.ensemble import MIN_CALIBRATION_FRAMES, calibrate, stacked_ensemble
from jaxpot.nn.epochs import budget_epochs, stage_two_pending, stage_weights
from jaxpot.nn.kinds import NETWORK_KINDS, default_epochs
from jaxpot.nn.normalization import fit_normalization, pair_count
from jaxpot.nn.settings import TrainSettings
from jaxpot.nn.warm_start import initial_members, params_digest
from jaxpot.pytree import stack_trees
from jaxpot.structure import check_frames as check_atoms
from jaxpot.training import checkpoint as ckpt
from jaxpot.training.dataset import Dataset, build_dataset, epoch_plan
from jaxpot.training.epochs import TrainResult, close_epoch
from jaxpot.training.loss import (
    ErrorSums,
    add_sums,
    autodiff_results,
    batch_loss,
    error_metrics,
    error_sums,
    loss_from_sums,
)
from jaxpot.training.splits import labelled_splits
from jaxpot.training.weights import LossWeights, config_type_loss_weights

PROBE_EPOCHS = 3  # epochs timed before a time budget sets the run's length
#: the kind of run a training checkpoint belongs to (jaxpot.training.checkpoint)
CHECKPOINT_KIND = "training run"


class TrainingDivergedError(RuntimeError):
    """The loss became non-finite; ``result`` holds the best model reached before."""

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


def resolved(settings: TrainSettings, model: EnergyModel, n_pairs: int | None = None,
             n_structures: int | None = None) -> TrainSettings:
    """``settings`` with the model-dependent defaults (epochs, batch size, patience, loss
    sigmas of both stages) filled in; a network kind's default epochs depend on the training
    set's ``n_structures`` and their ``n_pairs`` ordered pairs within the cutoff
    (:func:`jaxpot.nn.kinds.default_epochs`)."""
    kind = NETWORK_KINDS.get(model.kind)
    if settings.epochs is not None:
        epochs = settings.epochs
    elif kind is None:
        epochs = 300
    else:
        epochs = default_epochs(kind, n_pairs, n_structures)
    batch_size = settings.batch_size if settings.batch_size is not None else (
        kind.default_batch_size if kind else 4)
    patience = settings.patience if settings.patience is not None else max(50, epochs // 3)
    weights = settings.weights or (kind.default_weights if kind else LossWeights())
    stage_two = settings.stage_two_weights or (kind.default_stage_two if kind else None)
    return settings._replace(epochs=int(epochs), batch_size=int(batch_size),
                             patience=int(patience), weights=weights,
                             stage_two_weights=stage_two)


def _optimizer(settings: TrainSettings):
    """Adam with gradient clipping, without the learning rate: the step scales by
    :func:`learning_rate` of the schedule it is given.  With ``weight_decay`` > 0 it is AdamW
    (``optax.adamw``'s decoupled decay, scaled by the learning rate) on the weight matrices
    only: arrays of two or more dimensions, not biases or per-element scalars."""
    parts = [optax.clip_by_global_norm(settings.grad_clip), optax.scale_by_adam()]
    if settings.weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {settings.weight_decay}")
    if settings.weight_decay > 0:
        parts.append(optax.add_decayed_weights(settings.weight_decay, mask=_matrices))
    return optax.chain(*parts)


def _matrices(params):
    """Mask of the weight matrices (leaves of two or more dimensions) of ``params``."""
    return jax.tree_util.tree_map(lambda x: jnp.ndim(x) >= 2, params)


def _schedule(settings: TrainSettings, steps_per_epoch: int):
    """(peak, final, warmup steps, total steps) of the warmup-cosine rate: an argument of the
    compiled step rather than a constant, so one compiled step serves any run length (a time
    budget's refits, a resumed run, and JAX's persistent compilation cache all reuse it)."""
    total = max(settings.epochs * steps_per_epoch, 1)
    warmup_epochs = min(settings.warmup_epochs, max(settings.epochs // 6, 1))  # <= 1/6 of a run
    warmup = max(min(warmup_epochs * steps_per_epoch, total - 1), 1)
    return jnp.asarray([settings.learning_rate, settings.final_learning_rate, warmup, total])


def initial_state(net, optimizer) -> dict:
    """The trainer's state for members' weights ``net`` (stacked on axis 0): weights, the
    optimizer's state, EMA and best weights, step counter."""
    return {"net": net, "opt": jax.jit(jax.vmap(optimizer.init))(net), "ema": net,
            "best": net, "step": jnp.zeros((), jnp.int32)}


def learning_rate(step, schedule):
    """Warmup-cosine learning rate at optimizer step ``step`` (0-based), as
    ``optax.warmup_cosine_decay_schedule(0, peak, warmup, total, final)``: linear from 0 to
    peak over ``warmup`` steps, then a half cosine to ``final`` at ``total``; jit-traceable in
    both arguments."""
    peak, final, warmup, total = (schedule[i] for i in range(4))
    rising = peak * step / warmup
    t = jnp.clip((step - warmup) / jnp.maximum(total - warmup, 1.0), 0.0, 1.0)
    falling = final + (peak - final) * 0.5 * (1.0 + jnp.cos(jnp.pi * t))
    return jnp.where(step < warmup, rising, falling)


def train_model(model: EnergyModel, frames: Sequence, *, settings: TrainSettings | None = None,
                validation_frames: Sequence | None = None, names=None,
                source: str = "frames", checkpoint: str | None = None,
                progress: bool = True, log=None,
                start_from: EnergyModel | None = None) -> TrainResult:
    """Train ``model`` (a BPNN, PaiNN or MACE) on labelled ``ase.Atoms`` frames.

    Args:
        frames: training frames with energies/forces/stress (ASE calculator results or the
            info/arrays keys ``names``).  validation_frames: held-out frames; default: a
            seeded ``settings.validation_fraction`` of ``frames``, stratified by config_type
            (:func:`jaxpot.training.splits.validation_carve`).  An ensemble
            (``ensemble_size`` > 1) needs :data:`~jaxpot.nn.ensemble.MIN_CALIBRATION_FRAMES`
            validation frames to calibrate its spread on (checked before training).
        source: name of the frames in error messages. checkpoint: path of a resumable
            checkpoint (``.npz``). progress: live tqdm bar with train/validation errors.
        log: callable receiving each epoch's metrics dict (e.g. a JSON-lines writer).
        start_from: a trained model of ``model``'s architecture (an ensemble of
            ``ensemble_size`` members, or one network) whose weights the training starts
            from, its normalization kept (:mod:`jaxpot.nn.warm_start`).

    With ``settings.time_budget_s`` the first :data:`PROBE_EPOCHS` epochs are timed and the
    epoch count (and so the cosine schedule's length) is set to what fits in the budget, then
    refitted after every epoch to the median epoch time so far (a machine that speeds up or
    slows down still ends its schedule at the budget); capped by ``settings.epochs`` when that
    is given.  The budget counts this call's data preparation and every epoch run, those of
    a resumed run's earlier calls included; training stops after the epoch that passes it.
    The fitted count depends on the machine's speed, so such a run is reproducible only
    through its checkpoint (which stores the count), not bit for bit.
    """
    frames = check_atoms(frames, source)
    if not frames:
        raise ValueError("train_model got no frames")
    if validation_frames is not None:
        validation_frames = check_atoms(validation_frames, f"{source} (validation)")
    if not (isinstance(model.params, dict) and {"net", "norm"} <= set(model.params)):
        raise ValueError(f"train_model trains network potentials (params 'net' and 'norm': "
                         f"{', '.join(NETWORK_KINDS)}), not a {model.kind!r} model")
    called = time.perf_counter()
    requested = settings or TrainSettings()
    if not isinstance(requested, TrainSettings):
        raise TypeError(f"settings must be TrainSettings, got {type(requested).__name__}")
    frames, labels, val_frames, val_labels = labelled_splits(frames, validation_frames,
                                                             requested, names, source)
    if requested.ensemble_size > 1 and len(val_frames) < MIN_CALIBRATION_FRAMES:
        raise ValueError(
            f"an ensemble of {requested.ensemble_size} is calibrated on its validation frames "
            f"and needs at least {MIN_CALIBRATION_FRAMES}, got {len(val_frames)}: give more "
            "validation_frames or a larger validation_fraction")
    kind = NETWORK_KINDS.get(model.kind)
    needs_pairs = "avg_neighbors" in model.params["norm"] or (
        requested.epochs is None and kind is not None and kind.reference_pairs is not None)
    n_pairs = pair_count(frames, model.cutoff) if needs_pairs else None  # one ASE pass
    settings = resolved(requested, model, n_pairs, len(frames))
    prepare, results_fn = training_view(model)
    train_set = build_dataset(model, frames, labels, source, prepare=prepare, loss_weights=(
        config_type_loss_weights(frames, settings.config_type_weights)))
    val_set = build_dataset(model, val_frames, val_labels, f"{source} (validation)",
                            prepare=prepare) if val_frames else None
    k_members = settings.ensemble_size
    if start_from is None:
        model = fit_normalization(model, frames, labels, train_set, n_pairs)
    model, net = initial_members(model, k_members, settings.seed, start_from)
    norm = model.params["norm"]
    steps_per_epoch = len(epoch_plan(train_set, settings.batch_size, None))
    optimizer, schedule = _optimizer(settings), _schedule(settings, steps_per_epoch)
    state = initial_state(net, optimizer)
    step_fn, eval_fn = _compiled_steps(model, optimizer, settings, results_fn)

    header = {"epoch": 0, "history": [], "best_epoch": -1, "best_loss": None, "bad_epochs": 0}
    run = (model.spec, settings, len(val_frames))
    digest = ckpt.fingerprint(run if start_from is None else (*run, params_digest(start_from)),
                              frames + val_frames)
    if checkpoint:
        restored = ckpt.load_tree(checkpoint, CHECKPOINT_KIND, digest, state)
        if restored is not None:
            state, header = restored
    if "epochs" in header:  # the budget-fitted length of the run being resumed
        settings = resolved(requested._replace(epochs=header["epochs"]), model)
        schedule = _schedule(settings, steps_per_epoch)
    from jaxpot.progress import progress_bar
    bar = progress_bar(total=settings.epochs, initial=header["epoch"], disable=not progress,
               unit="epoch", desc=f"training {model.name}")
    budget = settings.time_budget_s
    preparation_s = time.perf_counter() - called
    for epoch in itertools.count(header["epoch"]):
        if header["bad_epochs"] >= settings.patience and not stage_two_pending(settings,
                                                                               header):
            stop = "early stopping"
            break
        if epoch >= settings.epochs:
            stop = "epochs"
            break
        start = time.perf_counter()
        weights = stage_weights(settings, epoch, header)
        sigmas = np.asarray(weights, np.float64)
        rng = np.random.default_rng([settings.seed, epoch])
        losses, total = [], None
        for bucket_index, rows, weight in epoch_plan(train_set, settings.batch_size, rng):
            bucket = train_set.buckets[bucket_index]
            state, loss, sums = step_fn(state, bucket.batch, bucket.targets, bucket.extra,
                                        rows, weight, schedule, sigmas)
            losses.append(loss)
            total = add_sums(total, sums)
        losses = np.asarray(jnp.stack(losses))  # (steps, K)
        if not np.all(np.isfinite(losses)):
            bad = int(np.argmax(~np.all(np.isfinite(losses), axis=1)))
            bar.close()
            result = _result(model, state["best"], norm, header, "diverged", val_frames, frames)
            raise TrainingDivergedError(
                f"training diverged: the loss became {losses[bad].tolist()} at epoch {epoch}, "
                f"step {bad} (global step {epoch * steps_per_epoch + bad}); the best model "
                f"(epoch {header['best_epoch']}) is kept" + (
                    f" in the checkpoint {checkpoint}" if checkpoint else "")
                + "; lower learning_rate or check the labels", result)
        lr = _rate_now(int(state["step"]) - 1, schedule)
        record = {"epoch": epoch, "stage": header.get("stage", 1), "learning_rate": float(lr),
                  "train_loss": float(losses.mean()),
                  **{f"train_{k}": v for k, v in error_metrics(total).items()}}
        if val_set is not None:
            val_sums = _evaluate(eval_fn, state["ema"], val_set, settings.batch_size)
            val_loss = np.asarray(_member_losses(val_sums, weights))
            record["val_loss"] = float(val_loss.mean())
            record.update({f"val_{k}": v for k, v in error_metrics(val_sums).items()})
            score = record["val_loss"]
        else:
            score = record["train_loss"]
        if close_epoch(header, record, score, epoch, start, log):
            state = {**state, "best": state["ema"]}
        spent = preparation_s + sum(r["seconds"] for r in header["history"])
        if budget is not None and epoch + 1 >= PROBE_EPOCHS:
            header["epochs"] = budget_epochs(header["history"], spent, budget, requested.epochs)
            settings = resolved(requested._replace(epochs=header["epochs"]), model)
            schedule = _schedule(settings, steps_per_epoch)
            bar.total = settings.epochs
        bar.set_postfix_str(_postfix(record), refresh=False)
        bar.update(1)
        out_of_time = budget is not None and epoch + 1 < settings.epochs and spent > budget
        if checkpoint and ((epoch + 1) % settings.checkpoint_every == 0
                           or epoch + 1 == settings.epochs or out_of_time):
            ckpt.save_tree(checkpoint, CHECKPOINT_KIND, digest, state, header)
        if out_of_time:
            stop = "time budget"
            break
    bar.close()
    result = _result(model, state["best"], norm, header, stop, val_frames, frames)
    if k_members > 1 and val_frames:
        result = result._replace(model=calibrate(result.model, val_frames, val_labels))
    return result


@jax.jit
def _rate_now(step, schedule):
    return learning_rate(step, schedule)


@functools.partial(jax.jit, static_argnames="weights")
def _member_losses(sums: ErrorSums, weights: LossWeights):
    """Each ensemble member's loss from its error sums (one program, not op by op)."""
    return jax.vmap(lambda s: loss_from_sums(s, weights))(sums)


def _postfix(record: dict) -> str:
    parts = [f"loss {record['train_loss']:.3g}"]
    for split in ("train", "val"):
        if f"{split}_energy_rmse" in record:
            parts.append(f"{split} E {record[f'{split}_energy_rmse']:.2f} meV/at")
        if f"{split}_forces_rmse" in record:
            parts.append(f"F {record[f'{split}_forces_rmse']:.3f} eV/Å")
    return ", ".join(parts)


def _result(model, best_net, norm, header, stop, val_frames, frames) -> TrainResult:
    k = int(jax.tree_util.tree_leaves(best_net)[0].shape[0])
    if k == 1:
        # the row taken on the host: eager indexing compiled a program per leaf shape (and
        # jnp.asarray of a NumPy array a copy program; jax.device_put does not)
        first = jax.tree_util.tree_map(lambda x: jax.device_put(np.asarray(x)[0]), best_net)
        best = model.replace(params={"net": first, "norm": norm})
    else:
        norms = stack_trees([norm] * k)
        best = stacked_ensemble(model, {"net": best_net, "norm": norms})
    return TrainResult(best, header["history"], header["best_epoch"], stop, val_frames, frames)


def training_view(model: EnergyModel):
    """(prepare, results_fn) for :func:`train_model`: BPNNs train on fixed features and their
    Jacobians (:mod:`jaxpot.nn.fixed_features`); other models by autodiff."""
    kind = NETWORK_KINDS.get(model.kind)
    if kind is not None and kind.fixed_features:
        return fixed_features.prepare, fixed_features.results
    return None, autodiff_results


def _compiled_steps(model: EnergyModel, optimizer, settings: TrainSettings,
                    results_fn=autodiff_results):
    """(jitted train step, jitted evaluation) closed over the model's static structure."""
    norm = model.params["norm"]
    stages = [settings.weights] + [settings.stage_two_weights] * (
        settings.stage_two_weights is not None)
    # a quantity no stage weights (infinite sigma) is left out of the program
    dropped = [all(not math.isfinite(w[i]) for w in stages) for i in range(3)]
    decay = settings.ema_decay

    def member_loss(net, batch, targets, extra, weight, sigmas):
        m = model.replace(params={"net": net, "norm": norm})
        weights = LossWeights(*(math.inf if dropped[i] else sigmas[i] for i in range(3)))
        return batch_loss(m, batch, targets, weight, weights, results_fn, extra)

    grad = jax.vmap(jax.value_and_grad(member_loss, has_aux=True),
                    in_axes=(0, None, None, None, None, None))

    @jax.jit
    def step(state, batch, targets, extra, rows, weight, schedule, sigmas):
        """One optimizer step; ``sigmas`` (3,): the loss weights' energy, forces, stress."""
        batch, targets, extra = jax.tree_util.tree_map(lambda x: x[rows],
                                                       (batch, targets, extra))
        dtype = targets.energy.dtype
        (loss, sums), grads = grad(state["net"], batch, targets, extra, weight.astype(dtype),
                                   sigmas.astype(dtype))
        updates, opt = jax.vmap(optimizer.update)(grads, state["opt"], state["net"])
        t = state["step"].astype(loss.dtype)
        lr = learning_rate(t, schedule.astype(loss.dtype))
        net = optax.apply_updates(state["net"], jax.tree_util.tree_map(lambda u: -lr * u,
                                                                       updates))
        d = jnp.minimum(decay, (1.0 + t) / (10.0 + t))
        ema = jax.tree_util.tree_map(lambda e, p: d * e + (1.0 - d) * p, state["ema"], net)
        return {**state, "net": net, "opt": opt, "ema": ema, "step": state["step"] + 1}, loss, sums

    @jax.jit
    def evaluate(net, batch, targets, extra, rows, weight):
        batch, targets, extra = jax.tree_util.tree_map(lambda x: x[rows],
                                                       (batch, targets, extra))
        w = weight.astype(targets.energy.dtype)

        def member(p):
            m = model.replace(params={"net": p, "norm": norm})
            return error_sums(results_fn(m, batch, extra), batch, targets, w)
        return jax.vmap(member)(net)

    return step, evaluate


def _evaluate(eval_fn, net, dataset: Dataset, batch_size: int) -> ErrorSums:
    total = None
    for bucket_index, rows, weight in epoch_plan(dataset, batch_size, None):
        bucket = dataset.buckets[bucket_index]
        total = add_sums(total, eval_fn(net, bucket.batch, bucket.targets, bucket.extra,
                                           rows, weight))
    return total
