"""The loop's model families: fit one on labelled frames, deterministically given the frames
and the seed.

- ``"gap"``: :func:`jaxpot.gap.fit` with small settings for tens of frames (:data:`GAP_DEFAULTS`:
  SOAP cutoff 4.5 Å, n_max 6, l_max 4, zeta 2, up to 100 sparse points; distance_2b 4.5 Å,
  15 points; default_sigma 0.002 eV/atom, 0.05 eV/Å, 0.05 eV/atom).
- ``"ensemble"`` / ``"bpnn"``: a small BPNN ensemble (:data:`ENSEMBLE_DEFAULTS`: 4 members,
  16-16 hidden, cutoff 4.5 Å, 300 epochs) trained by :func:`jaxpot.nn.train_model` with the
  calibration carve as its validation frames; after the first update, warm-started from the
  last update's members (:mod:`jaxpot.active.monitor`).
- any other registered family (``jaxpot.training.families``): its own fit on a config of the
  labelled frames written to a scratch folder.

A mapping names the family under ``"model"`` (default ``"gap"``) and overrides the defaults:
``{"model": "gap", "soap": {"n_max": 4}, "distance_2b": None}``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from jaxpot.model import EnergyModel

_log = logging.getLogger(__name__)

GAP_DEFAULTS = {
    "soap": {"cutoff": 4.5, "n_max": 6, "l_max": 4, "atom_sigma": 0.5, "zeta": 2,
             "n_sparse": 100},
    "distance_2b": {"cutoff": 4.5, "n_sparse": 15},
    "default_sigma": [0.002, 0.05, 0.05, 0.0],
    "e0": "average",
}
ENSEMBLE_DEFAULTS = {"size": 4, "hidden": [16, 16], "cutoff": 4.5, "epochs": 300,
                     "learning_rate": 3e-3}
#: names of the small network ensemble
ENSEMBLE_NAMES = ("ensemble", "bpnn")


class ModelConfig(NamedTuple):
    """A family (``"gap"``, ``"ensemble"`` or another registered name) and its settings
    (JSON-ready, defaults filled)."""

    family: str
    settings: dict


class Fitted(NamedTuple):
    """A fitted model, the GAP posterior (None for other families) and the frame indices the
    fit did not train on (an ensemble's validation carve)."""

    model: EnergyModel
    posterior: Any
    held_out: tuple[int, ...] = ()


def model_config(model: str | Mapping) -> ModelConfig:
    """The :class:`ModelConfig` of ``model`` (a family name or a settings mapping)."""
    if isinstance(model, str):
        given: dict = {"model": model}
    elif isinstance(model, Mapping):
        given = json.loads(json.dumps(dict(model)))  # a JSON-ready copy (refuses objects)
    else:
        raise TypeError(f"active.learn: model must be a family name or a mapping of settings, "
                        f"got {type(model).__name__}")
    family = given.pop("model", "gap")
    if family == "gap":
        return ModelConfig("gap", _merged(GAP_DEFAULTS, given))
    if family in ENSEMBLE_NAMES:
        return ModelConfig("ensemble", _merged(ENSEMBLE_DEFAULTS, given))
    from jaxpot.training.families import family as registered
    registered(family)  # ConfigError listing the registered names
    return ModelConfig(family, given)


def _merged(defaults: dict, given: dict) -> dict:
    """``defaults`` overridden by ``given``, one level into tables (None removes a table)."""
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def needs_validation(config: ModelConfig) -> bool:
    """Whether the family trains on a split (ensembles calibrate on their validation frames)."""
    return config.family == "ensemble"


def fit_model(config: ModelConfig, frames: Sequence, seed: int, *,
              validation: Sequence[int] = (), scratch: str | None = None,
              start_from: EnergyModel | None = None) -> Fitted:
    """Fit ``config``'s family on ``frames`` (minus the ``validation`` indices, which an
    ensemble validates on); ``seed`` seeds sparse points and initial weights; an ensemble
    starts from ``start_from``'s weights when given (a warm start)."""
    held = sorted(set(int(i) for i in validation))
    train = [a for i, a in enumerate(frames) if i not in held]
    if config.family == "gap":
        from jaxpot.gap import fit
        result = fit(train, gap_settings(config.settings, seed), progress=False,
                     source="active learning frames")
        return Fitted(result.model, result.posterior, tuple(held))
    if config.family == "ensemble":
        return Fitted(_fit_ensemble(config.settings, train, [frames[i] for i in held], seed,
                                    start_from), None, tuple(held))
    folder = None if scratch is None else os.path.join(scratch, "carve" if held else "all")
    return Fitted(_fit_registered(config, train, folder, seed), None, tuple(held))


def gap_settings(settings: Mapping, seed: int):
    """:class:`jaxpot.gap.GapSettings` of a merged GAP settings mapping."""
    from jaxpot.gap import GapSettings, SoapSettings, TwoBodySettings
    values = dict(settings)
    values.pop("add_sparse_per_frame", None)  # the loop's, not the fit's (active.monitor)
    soap, pair = values.pop("soap", None), values.pop("distance_2b", None)
    if "default_sigma" in values:
        values["default_sigma"] = tuple(values["default_sigma"])
    try:
        return GapSettings(soap=None if soap is None else SoapSettings(**soap),
                           distance_2b=None if pair is None else TwoBodySettings(**pair),
                           seed=int(seed), **values)
    except TypeError as err:
        raise ValueError(f"active.learn model settings (gap): {err}") from None


def _fit_ensemble(settings: Mapping, train: Sequence, validation: Sequence, seed: int,
                  start_from: EnergyModel | None = None):
    from jaxpot.nn import TrainSettings, bpnn, train_model
    s = dict(settings)
    species = sorted({int(z) for a in list(train) + list(validation) for z in a.numbers})
    model = bpnn(species, float(s.pop("cutoff")), hidden=tuple(s.pop("hidden")), seed=seed)
    size = int(s.pop("size"))
    try:
        train_settings = TrainSettings(ensemble_size=size, seed=int(seed), **s)
    except TypeError as err:
        raise ValueError(f"active.learn model settings (ensemble): {err}") from None
    return train_model(model, train, settings=train_settings, validation_frames=validation,
                       progress=False, source="active learning frames",
                       start_from=start_from).model


def _fit_registered(config: ModelConfig, train: Sequence, scratch: str | None, seed: int):
    """A registered family's fit through its config schema, on files in ``scratch``."""
    import ase.io

    from jaxpot.training.families import family
    from jaxpot.training.schema import check
    if scratch is None:
        raise ValueError(f"active.learn: fitting family {config.family!r} needs a workdir")
    scratch = os.path.abspath(scratch)
    os.makedirs(scratch, exist_ok=True)
    path = os.path.join(scratch, "train.extxyz")
    ase.io.write(path, list(train), format="extxyz")
    fam = family(config.family)
    raw = {"model": config.family, "seed": int(seed), **config.settings, "train": path,
           "output": os.path.join(scratch, "model.jaxpot")}
    checked = check(raw, fam.config_schema(), scratch, source=f"active.learn model "
                    f"{config.family!r}")
    checked.setdefault("report", os.path.join(scratch, "report"))
    return fam.fit(checked, progress=False, echo=_log.debug).model


def reference_settings(config: ModelConfig, model: EnergyModel) -> dict:
    """SOAP settings of the distance reference (the selection's feature space): a GAP's own
    SOAP settings, else :data:`jaxpot.uncertainty.distance.DEFAULTS`."""
    from jaxpot.uncertainty.distance import DEFAULTS
    if config.family == "gap" and config.settings.get("soap") is not None:
        s = config.settings["soap"]
        return {"cutoff": float(min(s.get("cutoff", 4.5), model.cutoff)),
                "n_max": int(s.get("n_max", 6)), "l_max": int(s.get("l_max", 4)),
                "atom_sigma": float(s.get("atom_sigma", 0.5))}
    return {**DEFAULTS, "cutoff": float(min(DEFAULTS["cutoff"], model.cutoff))}
