"""Full-batch (L-)BFGS training of a potential's ``params["net"]`` (as mlip-2 fits MTPs).

    result = train_lbfgs(model, frames, settings=LbfgsSettings(iterations=500))

The loss is :mod:`jaxpot.training.loss`'s over the whole training split (global means, so the
sum of the chunks' contributions is exact); each iteration takes the L-BFGS direction (two-loop
recursion, ``memory`` pairs, :mod:`jaxpot.training.quasi_newton`; ``memory = 0``: full BFGS
with a dense inverse Hessian, which keeps the curvature of every step, for a few thousand
parameters at most, as an MTP's) and a backtracking line search with Armijo's condition.  The
recursion starts from an inverse Gauss-Newton approximation (:func:`preconditioner`: exact
blocks where the caller has them, such as an MTP's moment coefficients, in which the loss is
quadratic, and the Gauss-Newton diagonal elsewhere), not from a multiple of the identity:
basis functions of very different scales make the identity start crawl.  The
validation loss is tracked, the iteration with the best one is kept, and the run stops after
``patience`` iterations without a gain or when the relative decrease of the training loss
falls below ``tolerance``.  With a checkpoint path the state (params, memory, best) is written
atomically every ``checkpoint_every`` iterations and a rerun resumes from it (also with more
``iterations`` than the first run had: the stopping rules are not part of its fingerprint).
Returns a :class:`jaxpot.training.epochs.TrainResult` (``best_epoch`` counts iterations).
Used by the MTP fit's non-linear stage (:func:`jaxpot.linear.fit_mtp`) and open to any model
with ``params["net"]`` and ``params["norm"]``.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxpot.model import EnergyModel
from jaxpot.training import checkpoint as ckpt
from jaxpot.training.config import SPLIT_RULES
from jaxpot.training.dataset import build_dataset, epoch_plan
from jaxpot.training.epochs import TrainResult, close_epoch
from jaxpot.training.loss import (
    add_sums,
    autodiff_results,
    error_metrics,
    error_sums,
    loss_from_sums,
)
from jaxpot.training.quasi_newton import first_direction, remember, two_loop_direction
from jaxpot.training.splits import labelled_splits
from jaxpot.training.values import CheckedSettings, integer_rule, number_rule, sigmas
from jaxpot.training.weights import LossWeights

DENSE_BYTES = 1 << 30  #: the largest dense inverse Hessian of full BFGS (memory = 0), bytes
#: the kind of run an L-BFGS checkpoint belongs to (jaxpot.training.checkpoint)
CHECKPOINT_KIND = "L-BFGS run"


class _LbfgsFields(NamedTuple):
    iterations: int = 200
    #: (s, y) pairs kept (L-BFGS); 0: full BFGS with a dense (P, P) inverse Hessian, as mlip-2
    #: (mlearn Si, level 20: the validation loss of 200 L-BFGS iterations in ~125)
    memory: int = 0
    weights: LossWeights = LossWeights()
    validation_fraction: float = 0.1
    stratify_validation: bool = True  #: carve per config_type (False: plain random)
    seed: int = 0
    chunk: int = 8  #: structures per jitted evaluation (bounds memory)
    tolerance: float = 1e-7
    #: iterations without a better validation loss before stopping; the validation loss of an
    #: MTP fit can rise for ~100 iterations before falling below the linear fit's (mlearn Ge,
    #: level 20), and the best iteration is kept anyway, so the default never stops early
    patience: int = 200
    first_step: float = 1e-3  #: first step length relative to |params| (no preconditioner)
    checkpoint_every: int = 5
    diagonal_chunks: int = 8  #: chunks for the Gauss-Newton diagonal of the preconditioner


#: the check of each LbfgsSettings field (value, name) -> value, or ValueError naming it
LBFGS_RULES = {
    "iterations": integer_rule(0), "memory": integer_rule(0), "weights": sigmas,
    **SPLIT_RULES, "chunk": integer_rule(1),
    "tolerance": number_rule(low=0.0), "patience": integer_rule(1),
    "first_step": number_rule(low=0.0, low_open=True), "checkpoint_every": integer_rule(1),
    "diagonal_chunks": integer_rule(1),
}


class LbfgsSettings(CheckedSettings, _LbfgsFields):
    """Settings of :func:`train_lbfgs`, checked by :data:`LBFGS_RULES` on
    construction and ``_replace`` (ValueError naming the field)."""

    __slots__ = ()
    RULES = LBFGS_RULES


def _share(net, model, weights, batch, targets, weight, counts):
    m = model.replace(params={"net": net, "norm": model.params["norm"]})
    sums = error_sums(autodiff_results(m, batch), batch, targets, weight)
    scaled = sums._replace(n_energy=counts[0], n_forces=counts[1], n_stress=counts[2])
    return loss_from_sums(scaled, weights), sums


@functools.partial(jax.jit, static_argnames=("weights",))
def _chunk(model, weights, net, batch, targets, rows, weight, counts):
    """(value, grad, sums) of one chunk's share of the global loss (the model is a pytree
    argument, so every fit of the same model kind shares the compilation)."""
    batch, targets = jax.tree_util.tree_map(lambda x: x[rows], (batch, targets))
    (value, sums), grad = jax.value_and_grad(_share, has_aux=True)(
        net, model, weights, batch, targets, weight.astype(targets.energy.dtype), counts)
    return value, grad, sums


@jax.jit
def _chunk_sums(model, net, batch, targets, rows, weight):
    """Error sums of one chunk (the validation split needs no gradient)."""
    batch, targets = jax.tree_util.tree_map(lambda x: x[rows], (batch, targets))
    m = model.replace(params={"net": net, "norm": model.params["norm"]})
    return error_sums(autodiff_results(m, batch), batch, targets,
                      weight.astype(targets.energy.dtype))


def _objective(model: EnergyModel, weights: LossWeights):
    """``chunk(net, batch, targets, rows, weight, counts) -> (value, grad, sums)``."""
    return functools.partial(_chunk, model, weights)


def _gauss_newton_diagonal(model: EnergyModel, weights: LossWeights, dataset, plan, counts,
                           indices: np.ndarray) -> np.ndarray:
    """Diagonal of the Gauss-Newton matrix of the loss (without its factor 2) for the flattened
    net params ``indices``: one forward-mode derivative of the predictions per parameter, summed
    over the chunks of ``plan`` (``counts``: the whole split's, as the loss)."""
    from jaxpot.units import GPa
    net = model.params["net"]
    scale = jnp.asarray([1.0 / (counts[0] * weights.energy ** 2),
                         1.0 / (counts[1] * weights.forces ** 2),
                         1.0 / (counts[2] * (weights.stress * GPa) ** 2)])
    x0, unravel = ravel_pytree(net)
    diag = np.zeros(len(indices))
    for k, rows, weight in plan:
        b = dataset.buckets[k]
        for n, i in enumerate(indices):
            direction = unravel(jnp.zeros_like(x0).at[int(i)].set(1.0))
            diag[n] += float(_column_norm(model, net, direction, b.batch, b.targets, rows,
                                          weight, scale))
    return diag


@jax.jit
def _column_norm(model, net, direction, batch, targets, rows, weight, scale):
    """Weighted squared norm of the Jacobian-vector product of the predictions."""
    batch, targets = jax.tree_util.tree_map(lambda a: a[rows], (batch, targets))

    def predict(n):
        m = model.replace(params={"net": n, "norm": model.params["norm"]})
        e, f, s = autodiff_results(m, batch)
        return e / jnp.maximum(targets.n_atoms, 1.0), f, s

    _, (de, df, ds) = jax.jvp(predict, (net,), (direction,))
    w = weight.astype(de.dtype)
    w_f = (w * targets.has_forces)[:, None, None] * batch.atom_mask[..., None]
    return (scale[0] * jnp.sum(w * targets.has_energy * de ** 2)
            + scale[1] * jnp.sum(w_f * df ** 2)
            + scale[2] * jnp.sum((w * targets.has_stress)[:, None, None] * ds ** 2))


def preconditioner(model: EnergyModel, weights: LossWeights, dataset, plan, counts,
                   blocks: dict | None, n_chunks: int) -> np.ndarray:
    """Inverse Gauss-Newton approximation M (P, P) of the loss: given blocks (the Hessian of
    one top-level net leaf, e.g. an MTP's linear coefficients from its linear fit) inverted,
    every other parameter by its Gauss-Newton diagonal (forward mode on ``n_chunks``)."""
    net = model.params["net"]
    x0, _ = ravel_pytree(net)
    sizes = {k: int(np.size(v)) for k, v in sorted(net.items())}  # ravel order: sorted keys
    offsets = np.cumsum([0] + list(sizes.values()))
    m = np.zeros((x0.size, x0.size))
    rest = []
    for (key, size), start in zip(sizes.items(), offsets):
        if blocks and key in blocks:
            h = np.asarray(blocks[key], float)
            ridge = 1e-10 * np.trace(h) / len(h)
            m[start:start + size, start:start + size] = np.linalg.inv(h + ridge * np.eye(len(h)))
        else:
            rest.extend(range(start, start + size))
    if rest:
        rng = np.random.default_rng(0)
        chosen = [plan[i] for i in rng.permutation(len(plan))[:n_chunks]]
        diag = _gauss_newton_diagonal(model, weights, dataset, chosen, counts, np.array(rest))
        diag = diag * len(plan) / max(len(chosen), 1)
        floor = 1e-12 * max(diag.max(), 1e-300)
        m[rest, rest] = 1.0 / (2.0 * np.maximum(diag, floor))
    return m


def _full(chunk_fn, net, dataset, plan, counts):
    """(loss, grad, error sums) over every chunk of ``plan``."""
    value, grad, total = 0.0, None, None
    for k, rows, weight in plan:
        b = dataset.buckets[k]
        v, g, s = chunk_fn(net, b.batch, b.targets, rows, weight, counts)
        value, grad, total = value + v, add_sums(grad, g), add_sums(total, s)
    return float(value), grad, total


def _counts(dataset) -> np.ndarray:
    """Labelled energies, force components and stress components of a dataset."""
    n_e = n_f = n_s = 0.0
    for b in dataset.buckets:
        t, mask = b.targets, np.asarray(b.batch.atom_mask)
        n_e += float(np.sum(t.has_energy))
        n_f += 3.0 * float(np.sum(np.asarray(t.has_forces)[:, None] * mask))
        n_s += 9.0 * float(np.sum(t.has_stress))
    return np.array([n_e, n_f, n_s])


def train_lbfgs(model: EnergyModel, frames: Sequence, *, settings: LbfgsSettings | None = None,
                validation_frames: Sequence | None = None, source: str = "frames",
                checkpoint: str | None = None, progress: bool = True, log=None,
                precondition: bool = True, hessian_blocks: dict | None = None,
                penalty=None, names=None):
    """Fit ``params["net"]`` of ``model`` (``params["norm"]`` kept) by full-batch L-BFGS.

    precondition: start each two-loop recursion from an inverse Gauss-Newton approximation
    (:func:`preconditioner`) instead of a multiple of the identity. hessian_blocks: exact
    Gauss-Newton blocks {net key: (n, n)} (e.g. a linear fit's normal matrix), the rest by its
    diagonal. penalty: a jittable ``penalty(net) -> scalar`` added to the training loss (a
    ridge, say; the validation loss is the data term alone). names: info/arrays keys of the
    labels (as :func:`jaxpot.nn.train.train_model`'s)."""
    from jaxpot.structure import check_frames
    settings = settings or LbfgsSettings()
    if not isinstance(settings, LbfgsSettings):
        raise TypeError(f"settings must be LbfgsSettings, got {type(settings).__name__}")
    frames = check_frames(frames, source)
    if validation_frames is not None:
        validation_frames = check_frames(validation_frames, f"{source} (validation)")
    frames, labels, val_frames, val_labels = labelled_splits(frames, validation_frames,
                                                             settings, names, source)
    train_set = build_dataset(model, frames, labels, source)
    val_set = build_dataset(model, val_frames, val_labels, f"{source} (validation)") \
        if val_frames else None
    chunk_fn = _objective(model, settings.weights)
    train_plan = epoch_plan(train_set, settings.chunk, None)
    train_counts = jnp.asarray(_counts(train_set))
    val_plan = epoch_plan(val_set, settings.chunk, None) if val_set is not None else None
    x0, unravel = ravel_pytree(model.params["net"])
    p = x0.size
    m = settings.memory
    if m == 0 and p * p * 8 > DENSE_BYTES:
        raise ValueError(f"memory = 0 (full BFGS) keeps a dense inverse Hessian of {p} x {p} "
                         f"parameters ({p * p * 8 / 1e9:.1f} GB); give memory > 0 (L-BFGS)")
    state = {"x": np.asarray(x0, float), "best": np.asarray(x0, float)}
    state.update({"h": np.zeros((p, p))} if m == 0 else
                 {"s": np.zeros((m, p)), "y": np.zeros((m, p))})
    header = {"epoch": 0, "history": [], "best_epoch": -1, "best_loss": None, "bad_epochs": 0,
              "n_memory": 0}
    # the stopping rules are not part of the run: a finished run resumes with more iterations
    stopping = {"iterations": 0, "patience": 0, "tolerance": 0.0, "checkpoint_every": 0}
    same_run = tuple.__new__(LbfgsSettings, [stopping.get(k, v) for k, v in  # only its repr
                                             settings._asdict().items()])  # is used: unchecked
    digest = ckpt.fingerprint(("lbfgs", model.spec, same_run, len(val_frames),
                               hashlib.sha256(np.asarray(x0).tobytes()).hexdigest()),
                              frames + val_frames)
    if checkpoint:
        restored = ckpt.load_tree(checkpoint, CHECKPOINT_KIND, digest, state)
        if restored is not None:
            state, header = restored
            state = {k: np.array(v, float) for k, v in state.items()}  # writable copies

    penalty_value_and_grad = jax.jit(jax.value_and_grad(penalty)) if penalty else None

    def evaluate(x):
        """Training loss (with the penalty), its gradient and error sums at x."""
        net = unravel(jnp.asarray(x))
        v, g, s = _full(chunk_fn, net, train_set, train_plan, train_counts)
        g = np.asarray(ravel_pytree(g)[0], float)
        if penalty_value_and_grad is not None:
            pv, pg = penalty_value_and_grad(net)
            v, g = v + float(pv), g + np.asarray(ravel_pytree(pg)[0], float)
        return v, g, s

    def validate(x):
        """Validation loss and error sums at x (no gradient)."""
        net, total = unravel(jnp.asarray(x)), None
        for k, rows, weight in val_plan:
            b = val_set.buckets[k]
            total = add_sums(total, _chunk_sums(model, net, b.batch, b.targets, rows, weight))
        return float(loss_from_sums(total, settings.weights)), total

    m0 = None
    if precondition:
        m0 = preconditioner(model, settings.weights, train_set, train_plan,
                            np.asarray(train_counts), hessian_blocks, settings.diagonal_chunks)
    from jaxpot.progress import progress_bar
    bar = progress_bar(total=settings.iterations, initial=header["epoch"], disable=not progress,
               unit="iter", desc=f"L-BFGS {model.name}")
    x = state["x"]
    f, g, sums = evaluate(x)
    stop = "iterations"
    for it in range(header["epoch"], settings.iterations):
        start = time.perf_counter()
        n = header["n_memory"]
        if n and m == 0:
            d = -(state["h"] @ g)
        elif n:
            s_last, y_last = state["s"][n - 1], state["y"][n - 1]
            gamma = np.dot(s_last, y_last) / np.dot(y_last, y_last if m0 is None
                                                     else m0 @ y_last)
            d = two_loop_direction(g, state["s"], state["y"], n, gamma, m0)
        else:
            d = first_direction(g, x, m0, settings.first_step)
        slope = float(np.dot(g, d))
        if slope >= 0:  # not a descent direction: restart without memory
            header["n_memory"] = 0
            d = first_direction(g, x, m0, settings.first_step)
            slope = float(np.dot(g, d))
        t, accepted = 1.0, False
        for _ in range(30):
            x_new = x + t * d
            f_new, g_new, sums_new = evaluate(x_new)
            if np.isfinite(f_new) and f_new <= f + 1e-4 * t * slope:
                accepted = True
                break
            t *= 0.5
        if not accepted:
            stop = "line search failed"
            break
        s_vec, y_vec = x_new - x, g_new - g
        if np.dot(s_vec, y_vec) > 1e-10 * np.linalg.norm(s_vec) * np.linalg.norm(y_vec):
            header["n_memory"] = remember(state, header["n_memory"], s_vec, y_vec, m0)
        decrease = (f - f_new) / max(abs(f), 1e-300)
        x, f, g, sums = x_new, f_new, g_new, sums_new
        state["x"] = x
        record = {"epoch": it, "train_loss": f, "step": t,
                  **{f"train_{k}": v for k, v in error_metrics(sums).items()}}
        score = f
        if val_plan is not None:
            vf, vs = validate(x)
            record["val_loss"] = vf
            record.update({f"val_{k}": v for k, v in error_metrics(vs).items()})
            score = vf
        if close_epoch(header, record, score, it, start, log):
            state["best"] = x.copy()
        bar.set_postfix_str(f"loss {f:.4g}" + (f", val {record['val_loss']:.4g}"
                                               if "val_loss" in record else ""), refresh=False)
        bar.update(1)
        if checkpoint and ((it + 1) % settings.checkpoint_every == 0
                           or it + 1 == settings.iterations):
            ckpt.save_tree(checkpoint, CHECKPOINT_KIND, digest, state, header)
        if header["bad_epochs"] >= settings.patience:
            stop = "early stopping"
            break
        if 0 <= decrease < settings.tolerance:
            stop = "converged"
            break
    bar.close()
    if checkpoint:
        ckpt.save_tree(checkpoint, CHECKPOINT_KIND, digest, state, header)
    net = unravel(jnp.asarray(state["best"]))
    best = model.replace(params={"net": net, "norm": model.params["norm"]})
    return TrainResult(best, header["history"], header["best_epoch"], stop, val_frames, frames)

