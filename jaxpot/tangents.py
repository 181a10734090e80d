"""Tangent helpers: for ``custom_jvp`` rules defined with ``symbolic_zeros=True``, and an
identity whose tangent XLA stores instead of recomputing (:func:`materialized`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero


def is_zero(tangent) -> bool:
    """True when every leaf of a ``custom_jvp`` tangent (``symbolic_zeros=True``) is zero."""
    return all(isinstance(t, SymbolicZero) for t in jax.tree_util.tree_leaves(
        tangent, is_leaf=lambda t: isinstance(t, SymbolicZero)))


def instantiate(tangent, primal):
    """A ``custom_jvp`` tangent pytree with its symbolic zeros made arrays like ``primal``."""
    return jax.tree_util.tree_map(
        lambda t, p: jnp.zeros_like(p) if isinstance(t, SymbolicZero) else t,
        tangent, primal, is_leaf=lambda t: isinstance(t, SymbolicZero))


@jax.custom_jvp
def materialized(x):
    """``x``, with its tangent (and so, in reverse mode, its cotangent) stored rather than
    recomputed: the tangent passes through a two-step loop of multiplications by one.

    XLA:CPU fuses cheap elementwise chains into every consumer.  The reverse pass of a
    recursion (each level's cotangent feeds the next level and a per-level reduction) is
    then recomputed from the top level inside each consumer, quadratic in the depth; a loop's
    result is always stored.  Costs two passes over the tangent."""
    return x


@materialized.defjvp
def _materialized_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    ones = jnp.ones(2, jnp.real(dx).dtype)
    return x, jax.lax.fori_loop(0, 2, lambda i, t: t * ones[i], dx)


@jax.custom_jvp
def reciprocal(x):
    """``1 / x``, whose derivative ``-t / x^2`` reuses the quotient (``-y * y * t``).

    Autodiff of ``1 / x`` divides a second time (``t / (x * x)``), and XLA:CPU stores each
    division's result as a pass of its own over the pairs rather than recompute it."""
    return 1.0 / x


@reciprocal.defjvp
def _reciprocal_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    y = 1.0 / x
    return y, -(y * y) * dx
