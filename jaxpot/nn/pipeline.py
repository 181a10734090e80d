"""``jaxpot train CONFIG.toml`` and :func:`train`: a network potential from a config mapping.

Minimal config (TOML or a dict)::

    model = "painn"            # or "bpnn", "mace"
    train = ["data.extxyz"]    # labelled extxyz files (ASE-readable)
    output = "si.jaxpot"
    cutoff = 5.0               # Å
    species = ["Si"]

Optional: ``validation`` (files; default: a seeded fraction of ``train``, each config_type
giving its share; ``stratify_validation = false`` in ``[training]``: a plain random one),
``test`` (files to report errors on), ``names`` (a table of label keys, ``{energy =
"dft_energy", forces = "dft_forces", virial = ..., config_type = ...}``; default: ASE's
calculator results and ``config_type``), ``checkpoint`` (default ``<output>.ckpt.npz``),
``report`` (directory, default ``<output>_report``), ``[architecture]``
(:func:`~jaxpot.nn.bpnn`, :func:`~jaxpot.nn.painn` or :func:`~jaxpot.nn.mace` keywords),
``[training]`` (:class:`~jaxpot.nn.train.TrainSettings` fields, ``config_type_weights`` a
table ``{Surface = 2.0}`` or ``"balanced"``; ``[training.weights]`` the loss
sigmas ``energy`` eV/atom, ``forces`` eV/Å, ``stress`` GPa; ``[training.stage_two_weights]``
those of the last ``1 - stage_two_start`` of the epochs, those it leaves out as in
``weights``; both default to the model kind's, :mod:`jaxpot.nn.kinds`).  As a mapping (the
Python :func:`train`) these two tables are ``model_settings`` and ``train_settings``.  The
report directory gets ``metrics.jsonl`` (one line per epoch), ``learning_curves.png``,
``errors.json`` and parity plots for the validation and test files.

Before training starts every input is read and checked (training, validation and test files,
their labels, the settings and the architecture), and an output (model, checkpoint, report)
that is one of the input files is refused: a bad test file or a typo must not cost the run.
Values must have their TOML types (``stratify_validation = false``, not ``"false"``; numbers
without quotes); an unknown key is named with the closest known one.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import typing
from collections.abc import Mapping
from typing import NamedTuple

from jaxpot.nn.kinds import NETWORK_KINDS
from jaxpot.nn.settings import TRAIN_RULES, TrainSettings
from jaxpot.nn.train import train_model
from jaxpot.training.config import ConfigError
from jaxpot.training.epochs import TrainResult
from jaxpot.training.inputs import file_list, names_table, read_labelled, species_list
from jaxpot.training.metrics_log import learning_curves, metrics_log, read_metrics
from jaxpot.training.values import integer, number, unknown_keys
from jaxpot.training.weights import LossWeights

_log = logging.getLogger(__name__)

_TOP = {"model", "train", "output", "cutoff", "species", "validation", "test", "checkpoint",
        "report", "model_settings", "train_settings", "train_frames", "seed", "names"}


class TrainJob(NamedTuple):
    result: TrainResult
    output: str
    report: str | None


def load_config(path: str) -> dict:
    """The mapping of a TOML config file; ``[architecture]``/``[training]`` tables become
    ``model_settings``/``train_settings``; relative paths (``train``, ``validation``,
    ``test``, ``output``, ``checkpoint``, ``report``) are relative to the config's directory."""
    from jaxpot.training.fitting import load_toml
    config = dict(load_toml(path))
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
    for key in ("output", "checkpoint", "report"):  # relative to the config, as the files
        if isinstance(config.get(key), str) and config[key] and not os.path.isabs(config[key]):
            config[key] = os.path.join(base, config[key])
    return config


SIGMA_TABLES = ("weights", "stage_two_weights")  # [train] tables of LossWeights sigmas


def _field_type(name: str) -> type:
    """The type a TrainSettings field holds (``int`` for ``int | None``)."""
    hint = typing.get_type_hints(TrainSettings)[name]
    return next((t for t in typing.get_args(hint) if t is not type(None)), hint)


def _typed(key: str, value, kind: type):
    """``value`` if it has the TOML type of a ``kind`` field (an int is a float; a bool is
    neither), else ConfigError naming the key."""
    from jaxpot.training.values import is_number
    ok = (isinstance(value, bool) if kind is bool else
          is_number(value) and (kind is not int or float(value).is_integer())
          if kind in (int, float) else True)
    if not ok:
        hint = (" (TOML's true or false, without quotes)" if kind is bool else
                " (write numbers without quotes)" if isinstance(value, str) else "")
        raise ConfigError(f"[training] {key} = {value!r}: expected {kind.__name__}{hint}")
    return value


def _sigma_table(key: str, weights, base: LossWeights) -> LossWeights:
    """``base`` with the sigmas of a ``[training.<key>]`` table (numbers > 0; inf: left out)."""
    if not isinstance(weights, Mapping):
        raise ConfigError(f"[training.{key}] must be a table of energy, forces, stress "
                          f"sigmas, got {weights!r}")
    message = unknown_keys(weights, LossWeights._fields, f"[training.{key}]")
    if message:
        raise ConfigError(message)
    try:
        values = {k: number(v, f"[training.{key}] {k}", low=0.0, low_open=True,
                            allow_inf=True, hint="an expected error; inf leaves it out")
                  for k, v in weights.items()}
    except ValueError as err:
        raise ConfigError(str(err)) from None
    return base._replace(**values)


def _settings(table: Mapping) -> TrainSettings:
    """The TrainSettings of a ``[training]`` table, each value checked for type and range
    (ConfigError naming the key)."""
    if table is not None and not isinstance(table, Mapping):
        raise ConfigError(f"[training] must be a table, got {table!r}")
    table = dict(table or {})
    sigma_tables = {key: table.pop(key, None) for key in SIGMA_TABLES}
    message = unknown_keys(table, TrainSettings._fields, "[training]")
    if message:
        raise ConfigError(message)
    typed = {}
    for key, value in table.items():
        if key != "config_type_weights":  # a table or "balanced": TRAIN_RULES checks it
            _typed(key, value, _field_type(key))
        try:
            typed[key] = TRAIN_RULES[key](value, f"[training] {key}")
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if key == "config_type_weights" and isinstance(value, Mapping):
            typed[key] = dict(value)
    for key in SIGMA_TABLES:  # stage two's missing sigmas are stage one's
        if sigma_tables[key] is not None:
            base = typed.get("weights", LossWeights()) if key == "stage_two_weights" else (
                LossWeights())
            typed[key] = _sigma_table(key, sigma_tables[key], base)
    try:
        return TrainSettings(**typed)
    except ValueError as err:
        raise ConfigError(f"[training]: {err}") from None


def build_model(config: Mapping):
    """The untrained model a config names (``model``, ``species``, ``cutoff``,
    ``[architecture]``); ConfigError naming a missing, misspelt or bad key."""
    kind = config.get("model")
    if kind not in NETWORK_KINDS:
        raise ConfigError(f"model must be one of {list(NETWORK_KINDS)}, got {kind!r}")
    for key in ("species", "cutoff"):
        if key not in config:
            raise ConfigError(f"the config needs {key!r}")
    species = species_list(config["species"], "species", ConfigError)
    try:
        cutoff = number(config["cutoff"], "cutoff (Å)", low=0.0, low_open=True)
        seed = integer(config.get("seed", 0), "seed", 0)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    builder = NETWORK_KINDS[kind].build
    settings = config.get("model_settings") or {}
    if not isinstance(settings, Mapping):
        raise ConfigError(f"[architecture] must be a table, got {settings!r}")
    settings = dict(settings)
    known = [p for p in inspect.signature(builder).parameters
             if p not in ("species", "cutoff", "params")]
    message = unknown_keys(settings, known, "[architecture]")
    if message:
        if set(settings) & {"species", "cutoff"}:
            message += "; species and cutoff are top-level keys of the config"
        raise ConfigError(message)
    settings.setdefault("seed", seed)
    try:
        return builder(species, cutoff, **settings)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"[architecture] ({kind}): {err}") from None


class _Paths(NamedTuple):
    """The files a config reads and writes (``None``: not written)."""

    train: list
    validation: list
    test: list
    output: str
    checkpoint: str | None
    report: str | None


def _paths(config: Mapping) -> _Paths:
    """Input and output paths of a config, checked: an output that is an input is refused
    (:func:`jaxpot.io.paths.check_outputs`) before anything is read or written."""
    from jaxpot.io.paths import check_outputs
    output = config.get("output")
    if not output or not isinstance(output, (str, os.PathLike)):
        raise ConfigError(f"the config needs 'output' (the model file to write), got "
                          f"{output!r}")
    output = os.fspath(output)
    files = {key: file_list(config[key], key, ConfigError) if config.get(key) else []
             for key in ("train", "validation", "test")}
    if config.get("train_frames") is None and not files["train"]:
        raise ConfigError("the config needs 'train' (a list of labelled files)")
    checkpoint = config.get("checkpoint", output + ".ckpt.npz")
    report = config.get("report", os.path.splitext(output)[0] + "_report")
    for key, value in (("checkpoint", checkpoint), ("report", report)):
        if value and not isinstance(value, (str, os.PathLike)):
            raise ConfigError(f"{key} must be a path (or false for none), got {value!r}")
    checkpoint = os.fspath(checkpoint) if checkpoint else None
    report = os.fspath(report) if report else None
    check_outputs({"model file": output, "checkpoint": checkpoint, "report directory": report,
                   "metrics log": report and os.path.join(report, "metrics.jsonl"),
                   "error report": report and os.path.join(report, "errors.json")},
                  {"training file": files["train"], "validation file": files["validation"],
                   "test file": files["test"]})
    from jaxpot.training.frames import check_writable
    check_writable(output, report or "")  # a missing model directory fails now, not after
    return _Paths(files["train"], files["validation"], files["test"], output, checkpoint,
                  report)


def train(config: Mapping, *, progress: bool = True, echo=None) -> TrainResult:
    """Train the model a config describes (see the module docstring), write it, the checkpoint
    and the report; return the :class:`~jaxpot.training.epochs.TrainResult`.  Every input is read
    and checked before training starts."""
    from jaxpot.structure import check_frames
    echo = echo or _log.info
    config = dict(config)
    message = unknown_keys(config, _TOP, "the config")
    if message:
        raise ConfigError(message)
    paths = _paths(config)
    model = build_model(config)
    settings = _settings(config.get("train_settings"))
    if "seed" in config:
        settings = settings._replace(seed=integer(config["seed"], "seed", 0))
    names = names_table(config.get("names"), "names", ConfigError)
    if config.get("train_frames") is not None:
        frames = check_frames(config["train_frames"], "train_frames")
        source = "train_frames"
    else:
        frames, source = _read(paths.train, "train")
    val = _read(paths.validation, "validation")[0] if paths.validation else None
    tests = read_labelled(paths.test, names)  # read now: a bad test file fails before training
    _check_species(model, tests)
    _log.info("training %s on %d configurations from %s", config.get("model", "the network"),
              len(frames), source if isinstance(source, str) else ", ".join(paths.train))
    _log.debug("training settings: %s", settings)
    if paths.report:
        os.makedirs(paths.report, exist_ok=True)
    log = metrics_log(paths.report, bool(paths.checkpoint and os.path.exists(paths.checkpoint)))
    result = train_model(model, frames, settings=settings, validation_frames=val, names=names,
                         source=source if isinstance(source, str) else "train",
                         checkpoint=paths.checkpoint, progress=progress, log=log)
    from jaxpot.io import save
    save(result.model, paths.output)
    echo(f"wrote {paths.output} (best epoch {result.best_epoch}, stopped: "
         f"{result.stop_reason})")
    if paths.report:
        _report(result, tests, names, paths.report, echo)
        learning_curves(read_metrics(os.path.join(paths.report, "metrics.jsonl")),
                        os.path.join(paths.report, "learning_curves.png"))
    return result


def _read(paths, what: str) -> tuple[list, list[str]]:
    from jaxpot.training.frames import read_frames
    frames, names = [], []
    for path in paths:
        _log.info("reading %s configurations from %s", what, path)
        got = read_frames(path)
        frames += got
        names += [f"{path}[{i}]" for i in range(len(got))]
    if not frames:
        raise ConfigError(f"{what}: no configurations")
    return frames, names


def _check_species(model, sets: Mapping[str, list]) -> None:
    """Refuse a test file with a species the model does not know (before training)."""
    from jaxpot.batch import check_frames
    for path, frames in sets.items():
        check_frames(model, frames, path)


def _report(result: TrainResult, tests: Mapping[str, list], names, report: str,
            echo) -> None:
    """Errors of the trained model on the validation split and the test files: parity plots
    and ``errors.json`` (written atomically) in ``report``."""
    from jaxpot.evaluation import evaluate, parity_plots
    from jaxpot.io.atomic_file import atomic_write
    errors = {}
    sets = [("validation", result.validation_frames)] + list(tests.items())
    for name, frames in sets:
        if not frames:
            continue
        _log.info("evaluating on %s (%d configurations)", name, len(frames))
        ev = evaluate(result.model, frames, names=names, progress=False)
        errors[name] = ev.to_dict()
        tag = "validation" if name == "validation" else os.path.splitext(
            os.path.basename(name))[0]
        parity_plots(ev, os.path.join(report, tag))
        echo(f"== {name}\n{ev.table()}")
    with atomic_write(os.path.join(report, "errors.json"), "w") as fh:
        json.dump(errors, fh, indent=1)
