"""A model that carries its uncertainty: the model kind ``"uncertain"``.

    model = carry(gap_model, "gap_posterior", {"kmm_factor": U, "posterior_factor": R},
                  scale=(1.3, 2.0), threshold=0.8)
    child, info = unwrap(model)      # the model it wraps and what it carries

Its energy (and so forces, stress, MD, every property) is the wrapped model's; its params are
``{"model": the wrapped model's params, "uq": {name: array}}`` and its spec records the method,
the calibration (``scale``: factors on the energy and force standard deviations) and the
domain threshold, so :func:`jaxpot.save` / :func:`jaxpot.load` keep all of it
(bit-identical).  The arrays' shapes are in the spec, so a model file rebuilds placeholders
of the right shapes before its leaves are read.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import jax
import numpy as np

from jaxpot.model import EnergyModel, make_spec, model_from_spec, register_model_kind
from jaxpot.model_registry import register_uncertainty

KIND = "uncertain"
_MODULE = "jaxpot.uncertainty.carrier"
#: the methods a carried uncertainty may have
METHODS = ("gap_posterior", "ensemble", "distance")


class Carried(NamedTuple):
    """What an ``"uncertain"`` model carries: ``method``, ``arrays`` (host NumPy), ``scale``
    (energy, forces) factors applied to raw standard deviations, ``threshold`` of the domain
    score (None: not calibrated), ``settings`` (method-specific JSON), ``calibrated``."""

    method: str
    arrays: dict
    scale: tuple[float, float]
    threshold: float | None
    settings: dict
    calibrated: bool


def carry(model: EnergyModel, method: str, arrays: dict, *, scale=(1.0, 1.0),
          threshold: float | None = None, settings: dict | None = None,
          calibrated: bool = False) -> EnergyModel:
    """``model`` carrying an uncertainty of ``method`` (its ``arrays``, the calibration
    ``scale`` and domain ``threshold``); a model that already carries one is re-wrapped."""
    if method not in METHODS:
        raise ValueError(f"uncertainty method must be one of {METHODS}, got {method!r}")
    if is_uncertain(model):
        model = unwrap(model)[0]
    scale = tuple(float(s) for s in scale)
    if len(scale) != 2 or not all(np.isfinite(scale)) or min(scale) <= 0:
        raise ValueError(f"scale must be two positive factors (energy, forces), got {scale}")
    host = {k: np.asarray(v) for k, v in arrays.items()}
    config = {"child": json.loads(model.spec), "method": method,
              "arrays": {k: [list(v.shape), str(v.dtype)] for k, v in sorted(host.items())},
              "scale": list(scale), "threshold": None if threshold is None else float(threshold),
              "settings": settings or {}, "calibrated": bool(calibrated)}
    template = _from_config(config, model)
    return template.replace(params={"model": model.params,
                                    "uq": {k: jax.device_put(v) for k, v in host.items()}})


def _from_config(config: dict, child: EnergyModel | None = None) -> EnergyModel:
    child = child or model_from_spec(config["child"])
    fn, afn = child.energy_fn, child.atomic_energies_fn

    def energy(params, positions, cell, species, neighbors):
        return fn(params["model"], positions, cell, species, neighbors)

    atomic = None
    if afn is not None:
        def atomic(params, positions, cell, species, neighbors):
            return afn(params["model"], positions, cell, species, neighbors)

    placeholders = {k: jax.device_put(np.zeros(shape, dtype))
                    for k, (shape, dtype) in config["arrays"].items()}
    return EnergyModel(energy_fn=energy, params={"model": child.params, "uq": placeholders},
                       cutoff=child.cutoff, species=child.species, atomic_energies_fn=atomic,
                       spec=make_spec(KIND, _MODULE, **config),
                       name=f"{child.name} (with {config['method']} uncertainty)",
                       part_cutoffs=child.part_cutoffs,
                       reciprocal_spacing=child.reciprocal_spacing, uses_rows=child.uses_rows,
                       cpu_fusions=child.cpu_fusions, precision=child.precision)


def is_uncertain(model: EnergyModel) -> bool:
    """Whether ``model`` carries an uncertainty (kind ``"uncertain"``)."""
    return model.kind == KIND


def unwrap(model: EnergyModel) -> tuple[EnergyModel, Carried]:
    """(the wrapped model with its params, what it carries)."""
    if not is_uncertain(model):
        raise ValueError(f"{model.name} carries no uncertainty (kind {model.kind!r}); "
                         "jaxpot.uncertainty.calibrate(model, validation_frames, ...) adds one")
    config = json.loads(model.spec)["config"]
    child = model_from_spec(config["child"]).replace(params=model.params["model"])
    arrays = {k: np.asarray(v) for k, v in model.params["uq"].items()}
    return child, Carried(config["method"], arrays, tuple(config["scale"]), config["threshold"],
                          config["settings"], config["calibrated"])


def _example() -> EnergyModel:
    """A small Stillinger-Weber model carrying a distance reference (the contract table)."""
    from jaxpot.potentials import stillinger_weber
    rng = np.random.default_rng(3)
    return carry(stillinger_weber(), "distance",
                 {"mean": rng.normal(size=(1, 4)), "whitening": np.eye(4)[None]},
                 scale=(0.02, 0.1), threshold=2.5,
                 settings={"descriptor": {"cutoff": 3.0, "n_max": 2, "l_max": 1,
                                          "atom_sigma": 0.5, "species": [14]}})


def _sigma_builder(model: EnergyModel):
    """The model's sigma as a JAX function (:func:`jaxpot.uncertainty.sigma.sigma_of_spec`)."""
    from jaxpot.uncertainty.sigma import sigma_of_spec
    return sigma_of_spec(model.spec)


register_model_kind(KIND, _from_config, example=_example)
register_uncertainty(KIND, _sigma_builder)
