"""The neutrality check of periodic Coulomb sums: on the host before a jitted call, and
inside jit as a guard.

An error raised in a host callback reaches the caller wrapped in a ``JaxRuntimeError``, where
``except NonNeutralCellError`` does not catch it.  So the entry points check the concrete
inputs first (:func:`check_model_neutral`, cheap: a sum of per-element charges), and the
in-jit guard (:func:`check_neutral`) raises :class:`NonNeutralCellError` itself whenever the
charges are concrete (a call outside jit), through a callback only for traced charges.
"""

from __future__ import annotations

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.model import register_host_check
from jaxpot.types import Array

#: largest |net charge| (e) accepted as neutral
NEUTRAL_TOLERANCE = 1e-6
#: model kinds with a periodic Coulomb sum that needs a neutral cell
_PERIODIC_KINDS = ("ewald", "pme")


class NonNeutralCellError(ValueError):
    """A periodic cell with a net charge was given to a sum that needs a neutral one."""


def _raise_if_charged(total, name: str) -> None:
    totals = np.atleast_1d(np.asarray(total))
    bad = np.flatnonzero(np.abs(totals) > NEUTRAL_TOLERANCE)
    if bad.size:
        where = f" (structure {int(bad[0])} of the batch)" if totals.size > 1 else ""
        raise NonNeutralCellError(
            f"{name}: the cell is not neutral{where}: net charge {float(totals[bad[0]]):+.6g} e. "
            "A periodic Coulomb sum diverges for a charged cell; fix the charges or ask for the "
            "uniform neutralising background with neutralize=True")


def check_neutral(charges: Array, name: str) -> None:
    """Raise :class:`NonNeutralCellError` if ``|sum(charges)| > NEUTRAL_TOLERANCE``: at once
    for concrete charges, through a host callback for traced ones (inside jit, where the
    error reaches the caller wrapped in a ``JaxRuntimeError``)."""
    if not isinstance(charges, jax.core.Tracer):
        _raise_if_charged(np.sum(np.asarray(charges, dtype=float)), name)
        return
    jax.debug.callback(lambda t: _raise_if_charged(t, name), jnp.sum(charges))


@functools.lru_cache(maxsize=64)
def _fixed_charge_parts(spec: str) -> tuple[tuple[tuple[int, ...], str, tuple[int, ...]], ...]:
    """(path into the model's params, name, Z of the charges) of each Ewald/PME part of a
    model spec whose per-element charges must add up to zero (no ``neutralize``)."""
    out = []

    def walk(node, path):
        kind = node.get("kind") if isinstance(node, dict) else None
        if kind == "sum":
            for k, child in enumerate(node.get("children", ())):
                walk(child, path + (k,))
        elif kind == "scaled":
            walk(node.get("child"), path)
        elif kind in _PERIODIC_KINDS:
            config = node.get("config", {})
            if not config.get("neutralize") and config.get("charges", {}).get("kind") == "species":
                out.append((path, kind, tuple(config["charges"]["species"])))

    try:
        walk(json.loads(spec), ())
    except ValueError:
        return ()
    return tuple(out)


def check_model_neutral(model, species) -> None:
    """Raise :class:`NonNeutralCellError` on the host when a periodic Coulomb part of
    ``model`` (``ewald``/``pme`` with per-element charges, no ``neutralize``) would see a
    charged cell: ``species`` (N,) atomic numbers, or (B, N) with 0 for padding.  Charge
    models fixing the total charge are neutral by construction; other models pass.  Call it
    on concrete inputs before a jitted evaluation."""
    parts = _fixed_charge_parts(getattr(model, "spec", "{}"))
    if not parts:
        return
    z = np.asarray(species)
    for path, name, zs in parts:
        params = model.params
        for k in path:
            params = params[k]
        q = params["charges"]["q"]
        if isinstance(q, jax.core.Tracer):
            continue  # traced parameters: the in-jit guard checks
        table = np.zeros(max(max(zs), int(z.max(initial=0))) + 1)
        table[list(zs)] = np.asarray(q, dtype=float)
        known = (z >= 0) & (z < len(table))
        totals = np.sum(np.where(known, table[np.where(known, z, 0)], 0.0), axis=-1)
        _raise_if_charged(totals, name)


register_host_check(check_model_neutral)  # every entry point runs it (jaxpot.model)
