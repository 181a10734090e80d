"""``jaxpot fit CONFIG.toml`` for linear models: SNAP, qSNAP and MTP from a config mapping.

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

An MTP (``model = "mtp"``) takes an ``[mtp]`` table instead of ``[snap]`` and an optional
``[lbfgs]`` table (:class:`jaxpot.training.lbfgs.LbfgsSettings` fields) for its non-linear fit:

    model = "mtp"                  # also writes si.mtp for mlip-2 / LAMMPS pair_style mlip
    [mtp]
    level = 24                     # mlip-2's levels; default 24 (16 for several species)
    r_cut = 5.0                    # Å, default 5.0
    r_min = 1.6                    # Å, default: the shortest training distance - 0.2
    radial_basis_size = 8
    [lbfgs]
    iterations = 200               # BFGS of every coefficient; default 0: the linear fit
                                   # only (200 for several species)

The defaults (level 24, linear stage only) were chosen on the validation splits of mlearn Si,
Ge and Li: their validation score (sum of RMSE / sigma) is lower than level 22's (Si 3.82 vs
4.65, Ge 3.31 vs 3.58, Li 0.474 vs 0.532) and level 16's with 200 BFGS iterations, and than
level 20's with 250-450 BFGS iterations on Si and Ge (Li: 0.465), in 20-25 minutes on 2 cores
(level 22: 3-4); on the test splits it gives Si 2.48, Ge 1.78, Li 0.36 meV/atom against the
published MTP's 2.21, 1.79, 0.49 (benchmarks/RESULTS.md,
benchmarks/published_zuo2020.json).  At this level the non-linear stage costs far more than
the linear one; lower levels take it in minutes.  With several species the defaults stay level 16
with 200 BFGS iterations: the linear stage's radial functions are the same for every species
pair, so only the non-linear stage tells neighbours of different species apart (no
multi-species validation has chosen otherwise).

Optional: ``names`` (a table of label keys, ``{energy = "dft_energy", forces =
"dft_forces", virial = ..., config_type = ...}``; default: ASE's calculator results).  Before
the fit starts every input is read and checked: the training and test files and their labels,
the settings (values of their TOML types: ``stratify_validation = false``, not ``"false"``;
numbers without quotes) and the descriptor, whose cutoff must reach a neighbour in some
training frame; an output (model, LAMMPS files, checkpoint, report) that is an input file is
refused.

While it runs, ``<output>.checkpoint.npz`` holds the rows absorbed so far (atomic): running
the same config again resumes from it; it is removed once the model is written.  The report
directory (default ``<output>_report``) gets ``errors.txt``/``errors.json`` (MAE and
RMSE per config_type on the training and test files), parity plots, ``validation.json`` (the
searched grid), ``settings.json`` and ``timings.json``; an MTP's also ``lbfgs_history.json``
(one record per iteration) and ``learning_curves.png``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import NamedTuple

from ase.data import chemical_symbols

from jaxpot.linear.distances import CutoffError, check_sees_neighbours, shortest_distance
from jaxpot.linear.fit import (
    LINEAR_RULES,
    LinearFit,
    LinearFitSettings,
    fit_snap,
    snap_cutoff_setting,
    snap_pair_cutoff,
)
from jaxpot.training.config import SPLIT_KEYS, ConfigError
from jaxpot.training.inputs import file_list, names_table, read_labelled
from jaxpot.training.metrics_log import learning_curves
from jaxpot.training.values import check_values, integer_rule, number, number_rule, unknown_keys

_log = logging.getLogger(__name__)

MODELS = ("snap", "qsnap", "mtp")
_TOP = {"model", "train", "output", "test", "report", "snap", "fit", "mtp", "lbfgs", "names"}
_MTP_KEYS = {"level", "r_cut", "r_min", "radial_basis_size"}
MTP_DEFAULTS = {"level": 24, "r_cut": 5.0, "radial_basis_size": 8}
MTP_LBFGS_DEFAULTS = {"iterations": 0}  #: the linear stage only (see the module docstring)
_SNAP_KEYS = {"twojmax", "rcutfac", "rfac0", "rmin0", "quadraticflag", "bzeroflag",
              "switchflag", "radius", "weight"}


def _flag(value, name: str) -> int:
    """A LAMMPS flag: 0 or 1 (or a boolean)."""
    if isinstance(value, bool) or (not isinstance(value, str) and value in (0, 1)):
        return int(value)
    raise ValueError(f"{name} must be 0 or 1 (without quotes), got {value!r}")


def _per_species(value, name: str):
    """A number, or a table {symbol: number} (symbols checked by the descriptor)."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            number(v, f"{name}.{k}")
        return value
    return number(value, name)


_SNAP_RULES = {
    "twojmax": integer_rule(0), "rcutfac": number_rule(low=0.0, low_open=True),
    "rfac0": number_rule(low=0.0, low_open=True, high=1.0), "rmin0": number_rule(low=0.0),
    "quadraticflag": _flag, "bzeroflag": _flag, "switchflag": _flag,
    "radius": _per_species, "weight": _per_species,
}
_MTP_RULES = {"level": integer_rule(1), "r_cut": number_rule(low=0.0, low_open=True),
              "r_min": number_rule(low=0.0), "radial_basis_size": integer_rule(2)}


def mtp_defaults(n_species: int) -> tuple[dict, dict]:
    """The defaults of the ``[mtp]`` and ``[lbfgs]`` tables for ``n_species`` species: with
    several, level 16 and 200 BFGS iterations, since the linear stage's radial functions are
    the same for every species pair (xi is shared, as in mlip-2) and only the non-linear stage
    tells neighbours of different species apart."""
    if n_species > 1:
        return dict(MTP_DEFAULTS, level=16), dict(MTP_LBFGS_DEFAULTS, iterations=200)
    return dict(MTP_DEFAULTS), dict(MTP_LBFGS_DEFAULTS)


def load_config(path: str) -> dict:
    """The table of a TOML config file (:func:`jaxpot.training.fitting.load_toml`)."""
    from jaxpot.training.fitting import load_toml
    return load_toml(path)


def _table(config: Mapping, key: str, known, rules=None) -> dict:
    """The ``[key]`` table of a config, its keys known and (``rules``) values checked."""
    table = config.get(key) or {}
    if not isinstance(table, Mapping):
        raise ConfigError(f"[{key}] must be a table, got {table!r}")
    message = unknown_keys(table, known, f"[{key}]")
    if message:
        raise ConfigError(message)
    try:
        check_values(table, rules or {}, f"[{key}] ")
    except ValueError as err:
        raise ConfigError(str(err)) from None
    return dict(table)


def descriptor_from_config(config: Mapping, species: list[str]):
    """The :func:`~jaxpot.descriptors.bispectrum` of a config's ``[snap]`` table."""
    from jaxpot.descriptors.bispectrum import bispectrum
    table = _table(config, "snap", _SNAP_KEYS, _SNAP_RULES)
    for key in ("twojmax", "rcutfac"):
        if key not in table:
            raise ConfigError(f"[snap] needs {key!r}")
    if config["model"] == "qsnap":
        table.setdefault("quadraticflag", 1)
    try:
        return bispectrum(species, **table)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"[snap]: {err}") from None


def mtp_descriptor_from_config(config: Mapping, species: list[str], frames):
    """The :class:`~jaxpot.descriptors.moment_tensors.MomentTensors` of an ``[mtp]`` table."""
    from ase.data import atomic_numbers

    from jaxpot.descriptors.moment_tensors import MomentTensors, check_settings
    table = {**mtp_defaults(len(species))[0], **_table(config, "mtp", _MTP_KEYS, _MTP_RULES)}
    if "r_min" not in table:
        shortest = shortest_distance(frames, float(table["r_cut"]))
        table["r_min"] = max(0.0, round(shortest - 0.2, 2)) if shortest < float("inf") else 0.0
    desc = MomentTensors(tuple(sorted(atomic_numbers[s] for s in species)), int(table["level"]),
                         float(table["r_min"]), float(table["r_cut"]),
                         int(table["radial_basis_size"]))
    try:
        check_settings(desc)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"[mtp]: {err}") from None
    if frames:
        _check_reach(frames, desc.r_cut, f"[mtp] r_cut = {desc.r_cut:g} Å")
    return desc


def _check_reach(frames, cutoff: float, setting: str, pair_cutoff=None) -> None:
    """ConfigError for a cutoff within which no training frame has a neighbour."""
    try:
        check_sees_neighbours(frames, cutoff, setting, pair_cutoff)
    except CutoffError as err:
        raise ConfigError(str(err)) from None


def _lbfgs_settings(table: Mapping):
    """The ``[lbfgs]`` table (weights and the split come from the linear stage: fit_mtp)."""
    from jaxpot.training.lbfgs import LBFGS_RULES, LbfgsSettings
    fields = set(LbfgsSettings._fields) - {"weights", *SPLIT_KEYS}
    table = _table({"lbfgs": table}, "lbfgs", fields, LBFGS_RULES)
    return LbfgsSettings(**table)


def _settings(table: Mapping) -> LinearFitSettings:
    """The ``[fit]`` table as LinearFitSettings, each value checked (ConfigError naming it)."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"[fit] must be a table, got {table!r}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
    values = _table({"fit": values}, "fit", LinearFitSettings.__dataclass_fields__,
                    LINEAR_RULES)
    return LinearFitSettings(**values)


class _Paths(NamedTuple):
    """What a config reads and writes."""

    train: list
    test: list
    output: str
    report: str
    root: str  # the output without its extension: LAMMPS / mlip-2 files


def _paths(config: Mapping) -> _Paths:
    """Input and output paths; an output that is an input (or another output) is refused
    (:func:`jaxpot.io.paths.check_outputs`) before anything is read or written."""
    from jaxpot.io.paths import check_outputs
    if not config.get("train"):
        raise ConfigError("the config needs 'train' (a list of labelled files)")
    train = file_list(config["train"], "train", ConfigError)
    test = file_list(config["test"], "test", ConfigError) if config.get("test") else []
    for key in ("output", "report"):
        if config.get(key) is not None and not isinstance(config[key], (str, os.PathLike)):
            raise ConfigError(f"{key} must be a path, got {config[key]!r}")
    output = os.fspath(config.get("output") or os.path.splitext(train[0])[0] + ".jaxpot")
    report = os.fspath(config.get("report") or os.path.splitext(output)[0] + "_report")
    root = os.path.splitext(output)[0]
    mtp = config.get("model") == "mtp"
    lammps = {"mlip-2 file": root + ".mtp"} if mtp else {
        "LAMMPS coefficient file": root + ".snapcoeff",
        "LAMMPS parameter file": root + ".snapparam"}
    checkpoints = ([output + ".checkpoint.linear.npz", output + ".checkpoint.train.npz"]
                   if mtp else [output + ".checkpoint.npz"])
    reports = [os.path.join(report, name) for name in (
        "errors.txt", "errors.json", "validation.json", "settings.json", "timings.json",
        "lbfgs_history.json", "learning_curves.png")]
    check_outputs({"model file": output, **lammps, "checkpoint": checkpoints,
                   "report directory": report, "report file": reports},
                  {"training file": train, "test file": test})
    from jaxpot.training.frames import check_writable
    check_writable(output, report)  # a missing model directory fails now, not after the fit
    return _Paths(train, test, output, report, root)


def _check_species(sets: Mapping[str, list], species: list[str]) -> None:
    """Refuse a test file with a species no training frame has (before the fit)."""
    for path, frames in sets.items():
        extra = sorted({chemical_symbols[z] for a in frames for z in a.numbers} - set(species))
        if extra:
            raise ConfigError(f"{path}: species {extra} appear in no training configuration "
                              f"(trained on {species}); the fitted model cannot evaluate them")


def run(config: Mapping, *, progress: bool = True, echo=None) -> LinearFit:
    """Fit the model a config describes, save it (and LAMMPS files), write the report.
    Every input is read and checked before the fit starts."""
    import jaxpot
    from jaxpot.evaluation import error_report
    from jaxpot.potentials.mtp_files import write_mtp
    from jaxpot.potentials.snap import write_snap
    from jaxpot.training.frames import read_frames, write_json
    echo = echo or _log.info
    config = dict(config)
    message = unknown_keys(config, _TOP, "the config")
    if message:
        raise ConfigError(message)
    if config.get("model") not in MODELS:
        raise ConfigError(f"model must be one of {list(MODELS)}, got {config.get('model')!r}")
    paths = _paths(config)
    names = names_table(config.get("names"), "names", ConfigError)
    settings = _settings(config.get("fit") or {})
    mtp = config["model"] == "mtp"
    if mtp and config.get("snap"):
        raise ConfigError("model = 'mtp' takes an [mtp] table, not [snap]")
    if not mtp and (config.get("mtp") or config.get("lbfgs")):
        raise ConfigError(f"model = {config['model']!r} takes a [snap] table, not [mtp] or "
                          "[lbfgs]")
    frames = []
    for path in paths.train:  # labels: in the fit
        _log.info("reading training configurations from %s", path)
        frames += read_frames(path)
    for path in paths.test:
        _log.info("reading test configurations from %s", path)
    tests = read_labelled(paths.test, names)  # read now: a bad test file fails before the fit
    species = [chemical_symbols[z] for z in sorted({int(z) for a in frames for z in a.numbers})]
    _check_species(tests, species)
    _log.debug("fit settings: %s", settings)
    files = paths.train
    source = files[0] if len(files) == 1 else "train"
    start = time.perf_counter()
    if mtp:
        result, desc = _run_mtp(config, species, frames, settings, source, paths.output,
                                progress, echo, files, names)
        seconds = time.perf_counter() - start
        jaxpot.save(result.model, paths.output)
        write_mtp(result.model, paths.root + ".mtp")
        echo(f"fitted in {seconds:.1f} s; model written to {paths.output} (mlip-2: "
             f"{paths.root}.mtp)")
    else:
        desc = descriptor_from_config(config, species)
        _check_reach(frames, desc.cutoff, snap_cutoff_setting(desc, "[snap] "),
                     snap_pair_cutoff(desc))
        echo(f"jaxpot fit: {config['model']} (twojmax {desc.twojmax}, {desc.n_features} "
             f"features per species {species}) on {len(frames)} configurations from "
             f"{', '.join(files)}")
        checkpoint = paths.output + ".checkpoint.npz"
        _log.info("fitting %s: descriptors, least squares, weights and ridge chosen on the "
                  "validation split", config["model"])
        result = fit_snap(frames, desc, settings, source=source, progress=progress,
                          checkpoint=checkpoint, names=names)
        seconds = time.perf_counter() - start
        jaxpot.save(result.model, paths.output)
        os.remove(checkpoint)
        write_snap(result.model, paths.root + ".snapcoeff", paths.root + ".snapparam")
        echo(f"fitted in {seconds:.1f} s; model written to {paths.output} (LAMMPS: "
             f"{paths.root}.snapcoeff, {paths.root}.snapparam)")
    report = paths.report
    os.makedirs(report, exist_ok=True)
    sets = {"train": frames, **{os.path.basename(p): got for p, got in tests.items()}}
    _, text = error_report(result.model, sets, report, names=names)
    echo(text)
    write_json(os.path.join(report, "validation.json"), result.validation)
    if mtp and result.history:
        write_json(os.path.join(report, "lbfgs_history.json"), result.history)
        learning_curves(result.history, os.path.join(report, "learning_curves.png"))
    write_json(os.path.join(report, "settings.json"), dict(
        model=config["model"], descriptor=desc._asdict(), chosen=result.choice._asdict(),
        fit=dict(config.get("fit") or {})))
    write_json(os.path.join(report, "timings.json"), dict(
        result.timings, total_fit=seconds, n_observations=result.n_observations))
    echo(f"report: {report}")
    return result


class MtpRun(NamedTuple):
    """What :func:`run` reports of an MTP fit (the fields of a LinearFit it uses)."""

    model: object
    choice: object
    validation: list
    timings: dict
    n_observations: dict
    history: list


def _run_mtp(config, species, frames, settings, source, output, progress, echo, files,
             names=None):
    from jaxpot.linear.mtp_fit import fit_mtp
    desc = mtp_descriptor_from_config(config, species, frames)
    lbfgs = _lbfgs_settings({**mtp_defaults(len(species))[1],
                             **dict(config.get("lbfgs") or {})})
    echo(f"jaxpot fit: MTP level {desc.level} ({desc.n_features} basis functions, radial "
         f"range {desc.r_min}-{desc.r_cut} Å, species {species}) on {len(frames)} "
         f"configurations from {', '.join(files)}")
    _log.info("fitting MTP level %d (linear fit%s)", desc.level,
              ", then L-BFGS" if lbfgs.iterations > 0 else "")
    fit = fit_mtp(frames, desc, settings, lbfgs, nonlinear=lbfgs.iterations > 0,
                  source=source, progress=progress, checkpoint=output + ".checkpoint",
                  names=names)
    for suffix in (".linear.npz", ".train.npz"):
        if os.path.exists(output + ".checkpoint" + suffix):
            os.remove(output + ".checkpoint" + suffix)
    lin = fit.linear
    history = fit.training.history if fit.training is not None else []
    timings = dict(lin.timings, lbfgs=sum(r["seconds"] for r in history))
    return MtpRun(fit.model, lin.choice, lin.validation, timings, lin.n_observations,
                  history), desc
