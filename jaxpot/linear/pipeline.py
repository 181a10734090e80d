"""``jaxpot fit CONFIG.toml`` for linear models: SNAP and qSNAP from a config mapping.

    model = "snap"                 # or "qsnap" (= quadraticflag 1)
    train = ["train.extxyz"]       # labelled files (ASE-readable)
    output = "si.jaxpot"           # also writes si.snapcoeff / si.snapparam for LAMMPS
    test = ["test.extxyz"]         # optional: files to report errors on
    [snap]                         # the .snapparam names
    twojmax = 8
    rcutfac = 4.9
    rfac0 = 0.99363
    rmin0 = 0.0
    bzeroflag = 0
    quadraticflag = 0
    radius = {Si = 0.5}
    weight = {Si = 1.0}
    [fit]                          # optional, LinearFitSettings fields
    ridge = 1e-8                   # default: chosen on the validation split
    config_type_weights = {Elastic = 2.0}

While it runs, ``<output>.checkpoint.npz`` holds the rows absorbed so far (atomic): running
the same config again resumes from it; it is removed once the model is written.  The report
directory (default ``<output>_report``) gets ``errors.txt``/``errors.json`` (MAE and
RMSE per config_type on the training and test files), parity plots, ``validation.json`` (the
searched grid), ``settings.json`` and ``timings.json``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from ase.data import chemical_symbols

from jaxpot.linear.fit import LinearFit, LinearFitSettings, fit_snap

MODELS = ("snap", "qsnap")
_TOP = {"model", "train", "output", "test", "report", "snap", "fit"}
_SNAP_KEYS = {"twojmax", "rcutfac", "rfac0", "rmin0", "quadraticflag", "bzeroflag",
              "switchflag", "radius", "weight"}


class ConfigError(ValueError):
    """A fit config that cannot be run (the message names the key)."""


def is_linear_config(config: Mapping) -> bool:
    return config.get("model") in MODELS


def load_config(path: str) -> dict:
    import tomllib
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None


def descriptor_from_config(config: Mapping, species: list[str]):
    """The :func:`~jaxpot.descriptors.bispectrum` of a config's ``[snap]`` table."""
    from jaxpot.descriptors.bispectrum import bispectrum
    table = dict(config.get("snap") or {})
    unknown = sorted(set(table) - _SNAP_KEYS)
    if unknown:
        raise ConfigError(f"[snap]: unknown keys {unknown}; known: {sorted(_SNAP_KEYS)}")
    for key in ("twojmax", "rcutfac"):
        if key not in table:
            raise ConfigError(f"[snap] needs {key!r}")
    if config["model"] == "qsnap":
        table.setdefault("quadraticflag", 1)
    try:
        return bispectrum(species, **table)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"[snap]: {err}") from None


def _settings(table: Mapping) -> LinearFitSettings:
    fields = set(LinearFitSettings.__dataclass_fields__)
    unknown = sorted(set(table) - fields)
    if unknown:
        raise ConfigError(f"[fit]: unknown keys {unknown}; known: {sorted(fields)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
    return LinearFitSettings(**values)


def run(config: Mapping, *, progress: bool = True, echo=print) -> LinearFit:
    """Fit the model a config describes, save it (and LAMMPS files), write the report."""
    import jaxpot
    from jaxpot.evaluation import error_report
    from jaxpot.gap.pipeline import read_frames, write_json
    from jaxpot.potentials.snap import write_snap
    unknown = sorted(set(config) - _TOP)
    if unknown:
        raise ConfigError(f"unknown keys {unknown}; known: {sorted(_TOP)}")
    if config.get("model") not in MODELS:
        raise ConfigError(f"model must be one of {list(MODELS)}, got {config.get('model')!r}")
    files = config.get("train")
    if not files:
        raise ConfigError("the config needs 'train' (a list of labelled files)")
    files = [files] if isinstance(files, str) else list(files)
    frames = [a for path in files for a in read_frames(path)]
    species = [chemical_symbols[z] for z in sorted({int(z) for a in frames for z in a.numbers})]
    desc = descriptor_from_config(config, species)
    settings = _settings(config.get("fit") or {})
    output = config.get("output") or os.path.splitext(files[0])[0] + ".jaxpot"
    report = config.get("report") or os.path.splitext(output)[0] + "_report"
    echo(f"jaxpot fit: {config['model']} (twojmax {desc.twojmax}, {desc.n_features} features"
         f" per species {species}) on {len(frames)} configurations from {', '.join(files)}")
    start = time.perf_counter()
    checkpoint = output + ".checkpoint.npz"
    result = fit_snap(frames, desc, settings, source=files[0] if len(files) == 1 else "train",
                      progress=progress, checkpoint=checkpoint)
    seconds = time.perf_counter() - start
    jaxpot.save(result.model, output)
    os.remove(checkpoint)
    root = os.path.splitext(output)[0]
    write_snap(result.model, root + ".snapcoeff", root + ".snapparam")
    echo(f"fitted in {seconds:.1f} s; model written to {output} (LAMMPS: {root}.snapcoeff, "
         f"{root}.snapparam)")
    os.makedirs(report, exist_ok=True)
    sets = {"train": frames}
    for path in config.get("test") or []:
        sets[os.path.basename(path)] = read_frames(path)
    _, text = error_report(result.model, sets, report)
    echo(text)
    write_json(os.path.join(report, "validation.json"), result.validation)
    write_json(os.path.join(report, "settings.json"), dict(
        model=config["model"], descriptor=desc._asdict(), chosen=result.choice._asdict(),
        fit=dict(config.get("fit") or {})))
    write_json(os.path.join(report, "timings.json"), dict(
        result.timings, total_fit=seconds, n_observations=result.n_observations))
    echo(f"report: {report}")
    return result

