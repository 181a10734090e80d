"""An uncertainty as a JAX function: ``sigma(params, positions, cell, species, neighbors)``.

The calibrated standard deviation (eV) of a model's total energy, differentiable in positions
and cell, for what acts inside jit: uncertainty-biased energies (:mod:`.bias`), MD that stops
where the model is unsure (``md.run(..., stop_when_uncertain=...)``) and metadynamics that
pauses there.  Ensembles (the members' spread, :func:`jaxpot.nn.ensemble.energy_std_function`),
models carrying a distance reference and GAPs carrying their posterior (the DTC variance of
the total energy, :func:`jaxpot.gap.posterior_sigma.carried_std_function`, equal to
:func:`jaxpot.gap.predictive_std`'s) have one.  Read from the model's spec alone (no arrays),
so one function serves every model of one spec and compiled MD is shared.
"""

from __future__ import annotations

import functools
import json

import jax.numpy as jnp

from jaxpot.model import EnergyModel, model_from_spec


def energy_std_function(model: EnergyModel):
    """``sigma(params, positions, cell, species, neighbors)`` (eV) of an ensemble, a model
    carrying a calibrated uncertainty (kind ``uncertain``) or a biased one, with ``params``
    the model's."""
    spec = json.loads(model.spec)
    if model.kind == "biased":  # a biased model's params are its child's
        return energy_std_function(model_from_spec(spec["config"]["child"]))
    if model.kind == "ensemble":
        from jaxpot.nn.ensemble import energy_std_function as ensemble_std
        return ensemble_std(model)
    if model.kind != "uncertain":
        raise ValueError(f"{model.name} ({model.kind}) carries no uncertainty to act on: "
                         "uq.calibrate(model, validation_frames, training=training_frames) "
                         "first (or use an ensemble)")
    config = spec["config"]
    method, factor = config["method"], float(config["scale"][0])
    if method == "ensemble":
        inner = energy_std_function(model_from_spec(config["child"]))
        return lambda params, *rest: factor * inner(params["model"], *rest)
    if method == "gap_posterior":
        from jaxpot.gap.posterior_sigma import carried_std_function
        return carried_std_function(config)
    if method != "distance":
        raise ValueError(f"sigma as a JAX function: method {method!r} has none yet; carry a "
                         "distance reference (uq.calibrate(model, validation, training=...)) "
                         "or use an ensemble")
    from jaxpot.uncertainty.distance import atom_distances
    settings = config["settings"]

    def distance_std(params, positions, cell, species, neighbors):
        d = atom_distances(params["uq"], settings, positions, cell, species, neighbors)
        return factor * jnp.sqrt(jnp.sum(d * d))
    return distance_std


@functools.lru_cache(maxsize=64)
def sigma_of_spec(spec: str):
    """One sigma function per model spec (a static argument of compiled MD: equal models
    share it, and so their compiled chunks)."""
    return energy_std_function(model_from_spec(json.loads(spec)))
