"""A training run's initial member weights: fresh, or a warm start that continues from a
trained network or ensemble.

After frames are added (active learning), a network retrained from its last weights needs
fewer epochs than one from fresh weights, and its members stay where the last fit put them.
:func:`start_params` turns a trained model of the architecture being trained into the
trainer's initial weights: its normalization (``params["norm"]``: reference energies, energy
scale) is kept, not refitted on the new frames, so that the weights mean what they meant.
"""

from __future__ import annotations

import hashlib
import json

import jax
import numpy as np

from jaxpot.model import EnergyModel
from jaxpot.nn.kinds import NETWORK_KINDS
from jaxpot.pytree import stack_trees


def _member_spec(model: EnergyModel) -> dict:
    spec = json.loads(model.spec)
    return spec["config"]["member"] if model.kind == "ensemble" else spec


def initial_members(model: EnergyModel, members: int, seed: int,
                    start_from: EnergyModel | None = None):
    """(model, stacked initial weights (members, ...)) for :func:`jaxpot.nn.train_model`:
    without ``start_from``, member 0 is ``model``'s own weights and member k fresh ones from
    ``seed + k`` (``model``'s normalization as fitted); else :func:`start_params`."""
    if start_from is not None:
        return start_params(model, start_from, members)
    return model, stack_trees([_member_params(model, k, seed)["net"] for k in range(members)])


def _member_params(model: EnergyModel, k: int, seed: int):
    """Member k's params: the model's own for k = 0, fresh ones from seed + k otherwise."""
    if k == 0:
        return model.params
    if model.kind not in NETWORK_KINDS:
        raise ValueError(f"ensembles can be trained for {list(NETWORK_KINDS)}, not "
                         f"{model.kind!r}")
    config = json.loads(model.spec)["config"]
    return NETWORK_KINDS[model.kind].from_config(config, seed=seed + k).params


def start_params(model: EnergyModel, start_from: EnergyModel, members: int):
    """(``model`` carrying ``start_from``'s normalization, stacked initial member weights
    (members, ...)) for :func:`jaxpot.nn.train_model`.

    ``start_from``: a trained network of ``model``'s architecture (``members`` = 1) or an
    ensemble of ``members`` of them.  ValueError naming the mismatch otherwise."""
    if _member_spec(start_from) != json.loads(model.spec):
        raise ValueError(f"train_model(start_from=...): {start_from.name} is not a trained "
                         f"{model.name} of this architecture (their specs differ)")
    if start_from.kind == "ensemble":
        stacked = start_from.params["members"]
        size = int(jax.tree_util.tree_leaves(stacked)[0].shape[0])
        if size != members:
            raise ValueError(f"train_model(start_from=...): an ensemble of {size} members "
                             f"cannot start ensemble_size={members}")
        norm = jax.tree_util.tree_map(lambda x: x[0], stacked["norm"])
        net = stacked["net"]
    else:
        if members != 1:
            raise ValueError(f"train_model(start_from=...): one network cannot start "
                             f"ensemble_size={members} (give an ensemble of {members})")
        norm, net = start_from.params["norm"], stack_trees([start_from.params["net"]])
    return model.replace(params={"net": model.params["net"], "norm": norm}), net


def params_digest(model: EnergyModel | None) -> str:
    """SHA-256 of a model's parameter arrays ("" for None): a warm-started run's checkpoint
    is its own."""
    if model is None:
        return ""
    h = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(model.params):
        h.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
    return h.hexdigest()
