"""jaxpot's quasi-Newton optimiser against ``optax.lbfgs`` on the MTP non-linear stage's loss.

The objective is the one :func:`jaxpot.linear.fit_mtp` hands to
:func:`jaxpot.training.lbfgs.train_lbfgs`: the global training loss of an MTP (species,
radial coefficients and xi together) over a few mlearn Si training frames
(``jaxpot/data/si_mlearn_train_subset.extxyz``), with the linear stage's weights and its xi
ridge, from the linear stage's coefficients.  The same start, the same number of
objective + gradient evaluations:

  jaxpot        ``train_lbfgs`` called as ``fit_mtp`` calls it (its defaults: full BFGS,
                memory 0, started from the inverse Gauss-Newton preconditioner, backtracking
                Armijo line search; it also evaluates the validation split each iteration)
  optax         ``optax.lbfgs()`` (memory 10, zoom line search), the documented loop with
                ``value_and_grad_from_state``, one jitted step
  optax+precond ``optax.lbfgs()`` in the variables z of x = x0 + L z, L L^T = jaxpot's
                preconditioner (what replacing the optimiser but keeping the preconditioner
                would give)

An evaluation is one loss + gradient over the whole training split (a line-search trial
counts). ``loss@k`` is the lowest training loss seen in the first k evaluations; ``first_s``
is the wall time to the first evaluation's result (preconditioner + compilation); ``wall_s``
the wall time of all ``--evals`` evaluations (optax's jitted step compiles twice: the
state after the first step has other types than ``opt.init``'s); ``s_per_eval`` the median
time between evaluations; ``val_*`` the validation split's errors at the
point of lowest training loss.

Run: python benchmarks/bench_quasi_newton.py [--level 10] [--frames 12] [--evals 150]
Writes benchmarks/results/quasi_newton.json.
"""

from __future__ import annotations

import argparse
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from _common import machine, print_table, write_json

CHECKPOINTS = (5, 10, 20, 50, 100, 150, 200, 300)


class _Budget(Exception):
    """The evaluation budget is spent."""


class Problem:
    """The MTP non-linear stage's objective, built as fit_mtp / train_lbfgs build it."""

    def __init__(self, level: int, n_frames: int, seed: int = 0):
        from ase.io import read

        import jaxpot
        from jaxpot.descriptors.moment_tensors import MomentTensors
        from jaxpot.linear import LinearFitSettings, fit_mtp
        from jaxpot.linear.mtp_fit import ridge_norms, xi_hessian
        from jaxpot.training import lbfgs
        from jaxpot.training.dataset import build_dataset, epoch_plan
        from jaxpot.training.splits import labelled_splits
        from jaxpot.training.weights import LossWeights
        path = f"{jaxpot.__path__[0]}/data/si_mlearn_train_subset.extxyz"
        frames = read(path, ":")[:n_frames]
        self.desc = MomentTensors((14,), level, 1.5, 5.0)
        lin_settings = LinearFitSettings()
        start = time.perf_counter()
        fit = fit_mtp(frames, self.desc, lin_settings, nonlinear=False, seed=seed,
                      progress=False)
        self.linear_s = time.perf_counter() - start
        linear = fit.linear
        self.model = linear.model
        self.frames = frames
        self.settings = lbfgs.LbfgsSettings()._replace(
            weights=LossWeights(*(1.0 / w if w else np.inf for w in linear.choice.weights)),
            validation_fraction=lin_settings.validation_fraction, seed=lin_settings.seed,
            stratify_validation=lin_settings.stratify_validation)
        s = len(self.desc.species)
        ridge_scale = linear.choice.ridge * ridge_norms(linear)[s:] ** 2
        scale = jnp.asarray(ridge_scale)

        def ridge(net):
            return jnp.sum(scale * net["xi"] ** 2)

        self.ridge = ridge
        self.ridge_jit = jax.jit(ridge)
        self.blocks = {"xi": xi_hessian(linear, self.settings.weights, s)
                       + 2.0 * np.diag(ridge_scale)}
        tr, labels, va, va_labels = labelled_splits(frames, None, self.settings, None, "frames")
        self.n_train, self.n_val = len(tr), len(va)
        self.train_set = build_dataset(self.model, tr, labels, "frames")
        self.val_set = build_dataset(self.model, va, va_labels, "val") if va else None
        self.train_plan = epoch_plan(self.train_set, self.settings.chunk, None)
        self.val_plan = epoch_plan(self.val_set, self.settings.chunk, None) if va else None
        self.counts = jnp.asarray(lbfgs._counts(self.train_set))
        x0, self.unravel = ravel_pytree_net(self.model)
        self.x0 = np.asarray(x0, float)

    def traced_loss(self, x):
        """The training loss (with the ridge) of flat params x, traceable (for optax)."""
        from jaxpot.training import lbfgs
        net = self.unravel(x)
        total = self.ridge(net)
        for k, rows, weight in self.train_plan:
            b = self.train_set.buckets[k]
            batch, targets = jax.tree_util.tree_map(lambda a: a[rows], (b.batch, b.targets))
            v, _ = lbfgs._share(net, self.model, self.settings.weights, batch, targets,
                                weight.astype(targets.energy.dtype), self.counts)
            total = total + v
        return total

    def preconditioner(self) -> np.ndarray:
        from jaxpot.training import lbfgs
        return lbfgs.preconditioner(self.model, self.settings.weights, self.train_set,
                                    self.train_plan, np.asarray(self.counts), self.blocks,
                                    self.settings.diagonal_chunks)

    def validation(self, x) -> dict:
        """Validation loss and errors at flat params x."""
        from jaxpot.training import lbfgs
        from jaxpot.training.loss import add_sums, error_metrics, loss_from_sums
        if self.val_plan is None:
            return {}
        net, total = self.unravel(jnp.asarray(x)), None
        for k, rows, weight in self.val_plan:
            b = self.val_set.buckets[k]
            total = add_sums(total, lbfgs._chunk_sums(self.model, net, b.batch, b.targets,
                                                      rows, weight))
        m = error_metrics(total)
        return {"val_loss": float(loss_from_sums(total, self.settings.weights)),
                "val_energy_mae_meV": float(m.get("energy_mae", np.nan)),
                "val_force_mae": float(m.get("forces_mae", np.nan))}


def ravel_pytree_net(model):
    from jax.flatten_util import ravel_pytree
    return ravel_pytree(model.params["net"])


class Trace:
    """Loss and wall time of every evaluation, in order."""

    def __init__(self, budget: int):
        self.budget, self.losses, self.times, self.best_x = budget, [], [], None
        self.start = time.perf_counter()

    def full(self) -> bool:
        return len(self.losses) >= self.budget

    def add(self, value: float, x=None, stop: bool = True) -> None:
        if self.full():
            if stop:
                raise _Budget
            return  # inside a jitted step: the caller's loop stops after it
        if x is not None and (not self.losses or value < min(self.losses)):
            self.best_x = np.array(x, float)
        self.losses.append(float(value))
        self.times.append(time.perf_counter() - self.start)

    def row(self, name: str, problem: Problem) -> dict:
        best = np.minimum.accumulate(np.asarray(self.losses))
        row = {"method": name, "evals": len(self.losses),
               "first_s": round(self.times[0], 2), "wall_s": round(self.times[-1], 2),
               "s_per_eval": round(float(np.median(np.diff(self.times))), 4)
               if len(self.times) > 1 else None,
               "loss_start": self.losses[0]}
        for k in CHECKPOINTS:
            if k <= len(best):
                row[f"loss@{k}"] = float(best[k - 1])
        if self.best_x is not None:
            row.update(problem.validation(self.best_x))
        return row


def run_jaxpot(problem: Problem, budget: int) -> dict:
    """train_lbfgs as fit_mtp calls it; every _full call (an evaluation) is counted."""
    from jaxpot.training import lbfgs
    trace = Trace(budget)
    real_full = lbfgs._full

    def counted(chunk_fn, net, dataset, plan, counts):
        out = real_full(chunk_fn, net, dataset, plan, counts)
        x = np.asarray(ravel_pytree_net(problem.model.replace(
            params={"net": net, "norm": problem.model.params["norm"]}))[0])
        trace.add(out[0] + float(problem.ridge_jit(net)), x)
        return out

    settings = problem.settings._replace(iterations=10 * budget, patience=10 * budget,
                                         tolerance=0.0)
    lbfgs._full = counted
    stop = "budget"
    try:
        result = lbfgs.train_lbfgs(problem.model, problem.frames, settings=settings,
                                   progress=False, hessian_blocks=problem.blocks,
                                   penalty=problem.ridge)
        stop = result.stop_reason
    except _Budget:
        pass
    finally:
        lbfgs._full = real_full
    return {**trace.row("jaxpot (BFGS, precond.)", problem), "stop": stop}


def run_optax(problem: Problem, budget: int, precondition: bool, memory: int = 10) -> dict:
    import optax
    trace = Trace(budget)
    x0 = jnp.asarray(problem.x0)
    if precondition:
        chol = jnp.asarray(np.linalg.cholesky(problem.preconditioner()))

        def to_x(z):
            return x0 + chol @ z
    else:
        def to_x(z):
            return z

    def record(value, z):
        trace.add(float(value), np.asarray(to_x(jnp.asarray(z))), stop=False)

    def f(z):
        value = problem.traced_loss(to_x(z))
        jax.debug.callback(record, value, z)
        return value

    opt = optax.lbfgs(memory_size=memory)
    value_and_grad = optax.value_and_grad_from_state(f)

    traces = []

    @jax.jit
    def step(z, state):
        traces.append(1)  # runs once per compilation
        value, grad = value_and_grad(z, state=state)
        updates, state = opt.update(grad, state, z, value=value, grad=grad, value_fn=f)
        return optax.apply_updates(z, updates), state

    z = jnp.zeros_like(x0) if precondition else x0
    state = opt.init(z)
    stop, steps = "budget", 0
    while not trace.full():
        z, state = step(z, state)
        jax.block_until_ready(z)
        steps += 1
        if not np.all(np.isfinite(np.asarray(z))):
            stop = "non-finite"
            break
    name = f"optax.lbfgs (m={memory}{', precond.' if precondition else ''})"
    return {**trace.row(name, problem), "stop": stop, "steps": steps,
            "compilations": len(traces)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--level", type=int, default=10)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--evals", type=int, default=150)
    parser.add_argument("--methods", nargs="+", default=["jaxpot", "optax", "optax_precond"])
    parser.add_argument("--out", default="quasi_newton")
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    problem = Problem(args.level, args.frames)
    check = float(problem.traced_loss(jnp.asarray(problem.x0)))
    print(f"MTP level {args.level}, {problem.n_train} training + {problem.n_val} validation "
          f"frames, {problem.x0.size} parameters, loss at the linear fit {check:.6g} "
          f"(linear stage {problem.linear_s:.1f} s)", flush=True)
    rows = []
    for method in args.methods:
        if method == "jaxpot":
            row = run_jaxpot(problem, args.evals)
        elif method == "optax":
            row = run_optax(problem, args.evals, precondition=False)
        elif method == "optax_precond":
            row = run_optax(problem, args.evals, precondition=True)
        else:
            raise SystemExit(f"unknown method {method!r}")
        rows.append(row)
        print(row, flush=True)
    columns = ["method", "evals", "first_s", "wall_s", "s_per_eval", "loss_start"]
    columns += [f"loss@{k}" for k in CHECKPOINTS if k <= args.evals]
    columns += ["val_energy_mae_meV", "val_force_mae", "stop"]
    fmt = [{k: (f"{v:.5g}" if isinstance(v, float) else v) for k, v in r.items()} for r in rows]
    print_table(fmt, columns)
    import optax
    payload = {"objective": {"model": "mtp", "species": [14], "level": args.level,
                             "r_min": problem.desc.r_min, "r_cut": problem.desc.r_cut,
                             "data": "jaxpot/data/si_mlearn_train_subset.extxyz",
                             "frames": args.frames, "n_train": problem.n_train,
                             "n_val": problem.n_val, "n_params": int(problem.x0.size),
                             "loss_at_start": check},
               "evals": args.evals, "checkpoints": [k for k in CHECKPOINTS if k <= args.evals],
               "rows": rows, "optax": optax.__version__,
               "command": "python " + " ".join(["benchmarks/bench_quasi_newton.py",
                                                *sys.argv[1:]]),
               "machine": machine()}
    print(write_json(args.out, payload))


if __name__ == "__main__":
    main()
