"""Cost of one training step's gradient for the message-passing networks, side by side.

    python benchmarks/bench_nn_step.py [--out nn_step]

For each model: one 64-atom mlearn Si frame, float32, jitted ``grad`` over the weights of
sum(F^2) + E (forces by autodiff inside, as in training), and the forces alone; compile time
of the first call, then the best of 5 rounds.  PaiNN (the default, F 32) is the peer; MACE at
its default (16 channels, radial MLP tabulated on 128 intervals) and four variants.  Then the
trainer's whole compiled step (energy + forces + stress loss, Adam, EMA; one structure per
step over a bucket of 60 frames) for the defaults.  Prints tables and writes
benchmarks/results/<--out>.json.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
from _common import best_time, machine, print_table, write_json


def measure(model, atoms) -> dict:
    from jaxpot.neighbors import allocate_for_model
    nbrs = allocate_for_model(model, atoms.positions, atoms.cell.array, atoms.pbc, skin=0.0)
    args = (jnp.asarray(atoms.positions, jnp.float32), jnp.asarray(atoms.cell.array, jnp.float32),
            jnp.asarray(atoms.numbers), nbrs)

    def loss(params):
        forces = -jax.grad(model.energy_fn, 1)(params, *args)
        return jnp.sum(forces ** 2) + model.energy_fn(params, *args)

    step, forces = jax.jit(jax.grad(loss)), jax.jit(jax.grad(model.energy_fn, 1))
    start = time.perf_counter()
    jax.block_until_ready(step(model.params))
    compile_s = time.perf_counter() - start
    jax.block_until_ready(forces(model.params, *args))
    return {"K": nbrs.idx.shape[1], "compile s": round(compile_s, 1),
            "loss grad ms": round(1e3 * best_time(
                lambda: jax.block_until_ready(step(model.params))), 1),
            "forces ms": round(1e3 * best_time(
                lambda: jax.block_until_ready(forces(model.params, *args))), 1)}


def training_step(model, frames, n_frames: int = 60, settings=None, members: int = 1,
                  buckets: dict | None = None) -> dict:
    """The trainer's own compiled step (``jaxpot.nn.train``: energy + forces + stress loss,
    Adam, EMA; ``settings.batch_size`` structures, one by default; ``members`` ensemble members
    in one vmap) over the first ``n_frames`` mlearn Si frames, bucketed by ``build_dataset``
    with ``buckets`` (its keyword arguments: the backend's default when None): compile s, then
    ms per step over an epoch of them (best of 2)."""
    import numpy as np

    from jaxpot.nn.normalization import fit_normalization
    from jaxpot.nn.train import (
        TrainSettings,
        _compiled_steps,
        _optimizer,
        _schedule,
        initial_state,
        resolved,
        training_view,
    )
    from jaxpot.training.dataset import build_dataset, epoch_plan
    from jaxpot.training.labels import read_labels_checked
    frames = frames[:n_frames]
    labels = read_labels_checked(frames, None, "mlearn Si")
    settings = resolved(settings or TrainSettings(), model)
    prepare, results_fn = training_view(model)
    data = build_dataset(model, frames, labels, "mlearn Si", prepare=prepare, **(buckets or {}))
    model = fit_normalization(model, frames, labels, data)
    net = jax.tree_util.tree_map(lambda x: jnp.stack([x] * members), model.params["net"])
    optimizer = _optimizer(settings)
    state = initial_state(net, optimizer)
    step, _ = _compiled_steps(model, optimizer, settings, results_fn)
    plan = epoch_plan(data, settings.batch_size, np.random.default_rng(0))
    schedule = _schedule(settings, len(plan))
    sigmas = np.asarray(settings.weights)

    def epoch(state):
        for k, rows, weight in plan:
            b = data.buckets[k]
            state, loss, _ = step(state, b.batch, b.targets, b.extra, rows, weight, schedule,
                                  sigmas)
        jax.block_until_ready(loss)
        return state
    start = time.perf_counter()
    b = data.buckets[plan[0][0]]
    jax.block_until_ready(step(state, b.batch, b.targets, b.extra, *plan[0][1:], schedule,
                               sigmas))
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(2):
        start = time.perf_counter()
        state = epoch(state)
        times.append((time.perf_counter() - start) / len(plan))
    return {"K": b.batch.neighbors.idx.shape[-1], "compile s": round(compile_s, 1),
            "train step ms": round(1e3 * min(times), 1)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="nn_step")
    args = p.parse_args()
    from ase.io import read

    from jaxpot.nn import mace, painn
    data = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
    frames = read(os.path.join(data, "mlearn_Si_PBE.extxyz"), ":")
    atoms = next(a for a in frames if len(a) == 64)
    models = {"PaiNN (default, F 32)": painn(["Si"], 5.0),
              "MACE (default, 16 channels)": mace(["Si"], 5.0),
              "MACE default, radial MLP on every pair": mace(["Si"], 5.0, radial_grid=0),
              "MACE 32 channels": mace(["Si"], 5.0, channels=32),
              "MACE 32 channels, l <= 1": mace(["Si"], 5.0, channels=32, max_ell=1),
              "MACE 32 channels, 1 layer": mace(["Si"], 5.0, channels=32, layers=1)}
    rows = [{"model": name, **measure(model, atoms)} for name, model in models.items()]
    print_table(rows, ["model", "K", "compile s", "loss grad ms", "forces ms"])
    steps = [{"model": name, **training_step(model, frames)} for name, model in
             {"MACE (default)": mace(["Si"], 5.0),
              "MACE default, radial MLP on every pair": mace(["Si"], 5.0, radial_grid=0),
              "PaiNN (default)": painn(["Si"], 5.0)}.items()]
    print_table(steps, ["model", "K", "compile s", "train step ms"])
    print("wrote", write_json(args.out, {"machine": machine(), "frame_atoms": len(atoms),
                                         "rows": rows, "training_steps": steps}))


if __name__ == "__main__":
    main()
