"""Frozen dataclass pytrees (what ``flax.struct`` offers, without importing flax).

    @pytree_dataclass
    class State:
        x: jax.Array                      # a leaf
        n: int = static_field(default=0)  # part of the tree structure, compared by value

Instances are immutable; ``state.replace(x=...)`` returns a copy.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp


def static_field(**kwargs):
    """A dataclass field that is static (tree structure), not a pytree leaf."""
    return dataclasses.field(metadata={"static": True}, **kwargs)


def pytree_dataclass(cls):
    """Make ``cls`` a frozen dataclass registered as a pytree (static fields as metadata)."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    fields = dataclasses.fields(cls)
    data = [f.name for f in fields if not f.metadata.get("static", False)]
    meta = [f.name for f in fields if f.metadata.get("static", False)]
    jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=meta)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    cls.replace = replace
    return cls


def stack_trees(trees):
    """Equal pytrees stacked along a new leading axis (one entry per ensemble member, replica
    or system), in one compiled program: stacked eagerly, leaf by leaf, each leaf shape
    compiled a program of its own."""
    return _stacked(list(trees))


@jax.jit
def _stacked(trees: list):
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)
