"""Many-body energies over the first neighbors inside the cutoff of each row.

A neighbor list with skin holds shells that no many-body term reaches (diamond Si within
3.2 Å + 1 Å skin: 4 neighbors inside, 20 slots), and three-body terms cost (K, K) per atom.
:func:`picked_slots_energy` evaluates a row-local energy ``sum_i e_i(row i)`` over the first
``count`` slots inside the cutoff of each row when every row has at most ``count`` of them,
and over all slots in blocks of rows otherwise (exact always).

The choice is a ``lax.switch``; differentiating through it would make JAX's reverse mode
carry zero residuals of the branches not taken ((N, K, K) arrays), so the energy is a
``custom_jvp`` whose rule differentiates inside the chosen branch
(:func:`switched_energy`, also used by the BPNN's picked angular sum) and maps the picked
slots' gradients back to their slots by gathers.  Forward mode, second derivatives and
parameter gradients follow.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap

from jaxpot.tangents import instantiate, is_zero
from jaxpot.types import Array

RowEnergy = Callable[..., Array]
"""``row_energy(params, vectors (B, S, 3), within (B, S), slots, centers) -> (B,) eV``: the
energy of B centers from their slots; ``slots`` a pytree of (B, S, ...) arrays, ``centers`` of
(B, ...) arrays; slots with ``within`` False must contribute nothing."""


def pick_first(within: Array, count: int) -> tuple[Array, Array]:
    """Slot index (N, count) of the first ``count`` slots inside each row, in slot order, and
    which of them exist.  The t-th slot inside is the number of slots whose running count of
    inside slots is <= t (XLA:CPU's top_k costs more than a whole pair term)."""
    running = jnp.cumsum(within, axis=1)
    sel = jnp.sum(running[:, :, None] <= jnp.arange(count), axis=1)
    valid = sel < within.shape[1]
    return jnp.minimum(sel, within.shape[1] - 1), valid


def take_slots(tree, sel: Array):
    """Every (N, K, ...) array of ``tree`` at slots ``sel`` (N, S)."""
    return jax.tree_util.tree_map(lambda a: jnp.take_along_axis(
        a, sel.reshape(sel.shape + (1,) * (a.ndim - 2)), axis=1), tree)


def row_blocks(tree, size: int):
    """Rows of every (N, ...) array padded with zeros and split into (N / size, size, ...)."""
    def split(a):
        pad = -a.shape[0] % size
        return jnp.concatenate([a, jnp.zeros((pad,) + a.shape[1:], a.dtype)]).reshape(
            (-1, size) + a.shape[1:])
    return jax.tree_util.tree_map(split, tree)


def picked_slots_energy(row_energy: RowEnergy, counts: tuple[int, ...], block: int = 256):
    """``total(params, vectors, within, slots, centers) -> eV`` = ``sum(row_energy(...))``
    over all rows, from the first ``count`` slots inside (``within``), the smallest of the
    increasing ``counts`` that holds every row's inside slots, else over all slots ``block``
    rows at a time (bounded memory).  Three-body terms cost count^2 per atom: a crystal with
    4 neighbors takes the 6-slot branch, a liquid the 12-slot one.

    ``vectors`` (N, K, 3) and ``params`` are differentiable; ``within``, ``slots`` and
    ``centers`` are not (masks, species indices)."""
    counts = tuple(sorted(int(c) for c in counts))

    def total_of(params, vectors, within, slots, centers):
        return jnp.sum(row_energy(params, vectors, within, slots, centers))

    def picked(count, vectors, within, slots):
        """Vectors, mask and slot data of the first ``count`` slots inside each row."""
        sel, valid = pick_first(within, count)
        vec_p, slot_p, within_p = take_slots((vectors, slots, within), sel)
        return vec_p, within_p & valid, slot_p

    def compact(count, with_params, params, vectors, within, slots, centers):
        e, (gp, gv) = value_and_grads(total_of, with_params)(
            params, *picked(count, vectors, within, slots), centers)
        running = jnp.cumsum(within, axis=1)  # slot k inside is picked slot running_k - 1
        rank = jnp.clip(running - 1, 0, count - 1)
        kept = within & (running <= count)
        gv = jnp.where(kept[..., None], jnp.take_along_axis(gv, rank[..., None], 1), 0.0)
        return e, (gp, gv)

    def fallback(with_params, params, vectors, within, slots, centers):
        n = vectors.shape[0]
        e, (gp, gv) = jax.lax.map(
            lambda blk: value_and_grads(total_of, with_params)(params, *blk),
            row_blocks((vectors, within, slots, centers), min(block, n)))
        gp = jax.tree_util.tree_map(lambda x: jnp.sum(x, axis=0), gp)  # None stays None
        return jnp.sum(e), (gp, gv.reshape((-1,) + vectors.shape[1:])[:n])

    def compact_energy(count, params, vectors, within, slots, centers):
        return total_of(params, *picked(count, vectors, within, slots), centers)

    def fallback_energy(params, vectors, within, slots, centers):
        return jnp.sum(jax.lax.map(
            lambda blk: total_of(params, *blk),
            row_blocks((vectors, within, slots, centers), min(block, vectors.shape[0]))))

    energies = [functools.partial(compact_energy, c) for c in counts] + [fallback_energy]
    gradients = [functools.partial(compact, c) for c in counts] + [fallback]
    return switched_energy(energies, lambda within, slots, centers: branch_of_counts(
        jnp.sum(within, axis=1), counts), gradients)


def value_and_grads(energy, with_params: bool):
    """``f(params, vectors, *rest) -> (e, (d/d params or None, d/d vectors))``."""
    if with_params:
        return jax.value_and_grad(energy, (0, 1))

    def f(params, vectors, *rest):
        e, gv = jax.value_and_grad(energy, 1)(params, vectors, *rest)
        return e, (None, gv)
    return f


def branch_of_counts(count: Array, counts: tuple[int, ...]) -> Array:
    """0, 1, ...: the first of the increasing ``counts`` that holds every entry of ``count``
    (e.g. each row's slots inside a cutoff); len(counts): none does."""
    return jnp.sum(jnp.max(count) > jnp.asarray(counts))


@custom_vmap
def shared_branch(index: Array) -> Array:
    """``index``; under ``vmap``, the largest index of the batch, unbatched."""
    return index


@shared_branch.def_vmap
def _shared_branch_vmap(axis_size, in_batched, index):
    return shared_branch(jnp.max(index)), False


def switched_energy(energies, branch, gradients=None):
    """``total(params, vectors, *rest) -> eV``: the energy of branch ``branch(*rest)`` (an int
    array; ``rest`` are not differentiable: masks, indices), as a ``custom_jvp`` whose tangent
    is that branch's own gradient, computed inside the branch.

    ``energies``: one ``energy(params, vectors, *rest)`` per branch.  ``gradients``: per
    branch, ``value_and_grad(with_params, params, vectors, *rest) -> (energy, (d/d params,
    d/d vectors))``, the first None unless ``with_params`` (a Python bool: forces alone skip
    the parameter gradient); default: autodiff of each energy (:func:`value_and_grads`).
    Differentiating a plain ``lax.switch`` would make reverse mode carry (zero) residuals of
    every branch.  Under ``vmap`` (replicas, batches of systems) every member takes the
    batch's largest branch (:func:`shared_branch`): a ``switch`` on a batched index would run
    all branches, so each branch must be exact wherever a lower one is (as a ladder of counts
    and its fallback).
    """
    if gradients is None:
        gradients = [lambda with_params, *args, e=e: value_and_grads(e, with_params)(*args)
                     for e in energies]

    @jax.custom_jvp
    def total(params, vectors, *rest):
        return jax.lax.switch(shared_branch(branch(*rest)), energies, params, vectors, *rest)

    def total_jvp(primals, tangents):
        params, vectors = primals[:2]
        d_params, d_vectors = tangents[:2]
        with_params = not is_zero(d_params)
        e, (gp, gv) = jax.lax.switch(shared_branch(branch(*primals[2:])), [
            functools.partial(g, with_params) for g in gradients], *primals)
        out = jnp.sum(gv * instantiate(d_vectors, vectors))
        if with_params:
            d_params = instantiate(d_params, params)
            out = out + sum(jnp.sum(a * b) for a, b in zip(jax.tree_util.tree_leaves(gp),
                                                            jax.tree_util.tree_leaves(d_params)))
        return e, out

    total.defjvp(total_jvp, symbolic_zeros=True)
    return total
