"""``jaxpot train CONFIG.toml`` and :func:`train`: a network potential from a config mapping.

Minimal config (TOML or a dict)::

    model = "painn"            # or "bpnn", "mace"
    train = ["data.extxyz"]    # labelled extxyz files (ASE-readable)
    output = "si.jaxpot"
    cutoff = 5.0               # Å
    species = ["Si"]

Optional: ``validation`` (files; default: a seeded fraction of ``train``, each config_type
giving its share; ``stratify_validation = false`` in ``[training]``: a plain random one),
``test`` (files to report errors on), ``checkpoint`` (default ``<output>.ckpt.npz``),
``report`` (directory, default ``<output>_report``), ``[architecture]``
(:func:`~jaxpot.nn.bpnn`, :func:`~jaxpot.nn.painn` or :func:`~jaxpot.nn.mace` keywords),
``[training]`` (:class:`~jaxpot.nn.train.TrainSettings` fields, ``config_type_weights`` a
table ``{Surface = 2.0}`` or ``"balanced"``; ``[training.weights]`` the loss
sigmas ``energy`` eV/atom, ``forces`` eV/Å, ``stress`` GPa; ``[training.stage_two_weights]``
those of the last ``1 - stage_two_start`` of the epochs, those it leaves out as in
``weights``; both default to the model kind's, :mod:`jaxpot.nn.kinds`).  As a mapping (the
Python :func:`train`) these two tables are ``model_settings`` and ``train_settings``.  The
report directory gets ``metrics.jsonl`` (one line per epoch), ``errors.json`` and parity
plots for the validation and test files.
"""

from __future__ import annotations

import json
import os
import typing
from typing import NamedTuple
from collections.abc import Mapping

from jaxpot.nn.epochs import TrainResult
from jaxpot.nn.kinds import NETWORK_KINDS
from jaxpot.nn.loss import LossWeights
from jaxpot.nn.train import TrainSettings, train_model

_TOP = {"model", "train", "output", "cutoff", "species", "validation", "test", "checkpoint",
        "report", "model_settings", "train_settings", "train_frames", "seed"}


class ConfigError(ValueError):
    """A training config that cannot be run (the message names the key)."""


class TrainJob(NamedTuple):
    result: TrainResult
    output: str
    report: str | None


def load_config(path: str) -> dict:
    """The mapping of a TOML config file; ``[model]``/``[train]`` tables become
    ``model_settings``/``train_settings`` (``train`` stays the list of files)."""
    import tomllib
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    config = dict(raw)
    for table, key in (("architecture", "model_settings"), ("training", "train_settings")):
        if table in config:
            if not isinstance(config[table], dict):
                raise ConfigError(f"{path}: [{table}] must be a table")
            config[key] = config.pop(table)
    base = os.path.dirname(os.path.abspath(path))
    for key in ("train", "validation", "test"):
        files = config.get(key)
        if isinstance(files, str):
            files = [files]
        if files:
            config[key] = [f if os.path.isabs(f) else os.path.join(base, f) for f in files]
    if isinstance(config.get("output"), str) and not os.path.isabs(config["output"]):
        config["output"] = os.path.join(base, config["output"])
    return config


SIGMA_TABLES = ("weights", "stage_two_weights")  # [train] tables of LossWeights sigmas


def _field_type(name: str) -> type:
    """The type a TrainSettings field holds (``int`` for ``int | None``)."""
    hint = typing.get_type_hints(TrainSettings)[name]
    return next((t for t in typing.get_args(hint) if t is not type(None)), hint)


def _settings(table: Mapping) -> TrainSettings:
    table = dict(table or {})
    sigma_tables = {key: table.pop(key, None) for key in SIGMA_TABLES}
    known = set(TrainSettings._fields) - set(SIGMA_TABLES)
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"unknown [training] keys {unknown}; known: {sorted(known)} and "
                          f"{', '.join(SIGMA_TABLES)}")
    for key, weights in sigma_tables.items():
        if weights is None:
            continue
        if not isinstance(weights, Mapping):
            raise ConfigError(f"[training.{key}] must be a table of energy, forces, stress "
                              f"sigmas, got {weights!r}")
        bad = sorted(set(weights) - set(LossWeights._fields))
        if bad:
            raise ConfigError(f"unknown [training.{key}] keys {bad}; use energy, forces, "
                              "stress")
        # stage two's missing sigmas are stage one's
        base = table.get("weights", LossWeights()) if key == "stage_two_weights" else (
            LossWeights())
        table[key] = base._replace(**{k: float(v) for k, v in weights.items()})
    typed = {}
    for key, value in table.items():
        if key == "config_type_weights":  # a table or "balanced", checked against the frames
            if not isinstance(value, (Mapping, str)):
                raise ConfigError(f"[training] config_type_weights = {value!r}: expected a "
                                  "table {config_type = factor} or \"balanced\"")
            typed[key] = dict(value) if isinstance(value, Mapping) else value
            continue
        kind = _field_type(key)
        try:
            typed[key] = value if key in SIGMA_TABLES or value is None else kind(value)
        except (TypeError, ValueError):
            raise ConfigError(f"[training] {key} = {value!r}: expected {kind.__name__}") from None
    return TrainSettings()._replace(**typed)


def _read(paths, what: str) -> tuple[list, list[str]]:
    from jaxpot.gap.pipeline import read_frames
    frames, names = [], []
    for path in paths:
        got = read_frames(path)
        frames += got
        names += [f"{path}[{i}]" for i in range(len(got))]
    if not frames:
        raise ConfigError(f"{what}: no configurations")
    return frames, names


def build_model(config: Mapping):
    """The untrained model a config names (``model``, ``species``, ``cutoff``, ``[model]``)."""
    kind = config.get("model")
    if kind not in NETWORK_KINDS:
        raise ConfigError(f"model must be one of {list(NETWORK_KINDS)}, got {kind!r}")
    for key in ("species", "cutoff"):
        if key not in config:
            raise ConfigError(f"the config needs {key!r}")
    builder = NETWORK_KINDS[kind].build
    settings = dict(config.get("model_settings") or {})
    settings.setdefault("seed", int(config.get("seed", 0)))
    try:
        return builder(config["species"], float(config["cutoff"]), **settings)
    except TypeError as err:
        raise ConfigError(f"[architecture]: {err}") from None


def train(config: Mapping, *, progress: bool = True, echo=print) -> TrainResult:
    """Train the model a config describes (see the module docstring), write it, the checkpoint
    and the report; return the :class:`~jaxpot.nn.epochs.TrainResult`."""
    config = dict(config)
    unknown = sorted(set(config) - _TOP)
    if unknown:
        raise ConfigError(f"unknown config keys {unknown}; known: {sorted(_TOP)}")
    if not config.get("output"):
        raise ConfigError("the config needs 'output' (the model file to write)")
    model = build_model(config)
    settings = _settings(config.get("train_settings"))
    if "seed" in config:
        settings = settings._replace(seed=int(config["seed"]))
    if config.get("train_frames") is not None:
        frames = list(config["train_frames"])
        source = "train_frames"
    else:
        if not config.get("train"):
            raise ConfigError("the config needs 'train' (a list of labelled files)")
        frames, source = _read(config["train"], "train")
    val = _read(config["validation"], "validation")[0] if config.get("validation") else None
    output = str(config["output"])
    checkpoint = config.get("checkpoint", output + ".ckpt.npz")
    report = config.get("report", os.path.splitext(output)[0] + "_report")
    if report:
        os.makedirs(report, exist_ok=True)
    log_path = os.path.join(report, "metrics.jsonl") if report else None
    resumed = checkpoint and os.path.exists(checkpoint)
    if log_path and not resumed and os.path.exists(log_path):
        os.remove(log_path)

    def log(record):
        if log_path:
            with open(log_path, "a") as fh:
                fh.write(json.dumps(record) + "\n")

    result = train_model(model, frames, settings=settings, validation_frames=val,
                         source=source if isinstance(source, str) else "train",
                         checkpoint=checkpoint, progress=progress, log=log)
    from jaxpot.io import save
    save(result.model, output)
    echo(f"wrote {output} (best epoch {result.best_epoch}, stopped: {result.stop_reason})")
    if report:
        _report(result, config, report, echo)
    return result


def _report(result: TrainResult, config: Mapping, report: str, echo) -> None:
    from jaxpot.evaluation import evaluate, parity_plots
    errors = {}
    sets = [("validation", result.validation_frames)]
    for path in config.get("test") or []:
        sets.append((path, _read([path], "test")[0]))
    for name, frames in sets:
        if not frames:
            continue
        ev = evaluate(result.model, frames, progress=False)
        errors[name] = ev.to_dict()
        tag = "validation" if name == "validation" else os.path.splitext(
            os.path.basename(name))[0]
        parity_plots(ev, os.path.join(report, tag))
        echo(f"== {name}\n{ev.table()}")
    with open(os.path.join(report, "errors.json"), "w") as fh:
        json.dump(errors, fh, indent=1)
