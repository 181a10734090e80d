"""Helpers for ``custom_jvp`` rules defined with ``symbolic_zeros=True``."""

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
