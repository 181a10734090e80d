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
``[lbfgs]`` table (:class:`jaxpot.nn.lbfgs.LbfgsSettings` fields) for its non-linear fit:

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
(level 22: 3-4); on the test splits it is the first level at or below the published MTP on all
three (benchmarks/RESULTS.md).  At this level the non-linear stage costs far more than the
linear one; lower levels take it in minutes.  With several species the defaults stay level 16
with 200 BFGS iterations: the linear stage's radial functions are the same for every species
pair, so only the non-linear stage tells neighbours of different species apart (no
multi-species validation has chosen otherwise).

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
from typing import NamedTuple

from ase.data import chemical_symbols

from jaxpot.linear.fit import LinearFit, LinearFitSettings, fit_snap

MODELS = ("snap", "qsnap", "mtp")
_TOP = {"model", "train", "output", "test", "report", "snap", "fit", "mtp", "lbfgs"}
_MTP_KEYS = {"level", "r_cut", "r_min", "radial_basis_size"}
MTP_DEFAULTS = {"level": 24, "r_cut": 5.0, "radial_basis_size": 8}
MTP_LBFGS_DEFAULTS = {"iterations": 0}  #: the linear stage only (see the module docstring)
_SNAP_KEYS = {"twojmax", "rcutfac", "rfac0", "rmin0", "quadraticflag", "bzeroflag",
              "switchflag", "radius", "weight"}


def mtp_defaults(n_species: int) -> tuple[dict, dict]:
    """The defaults of the ``[mtp]`` and ``[lbfgs]`` tables for ``n_species`` species: with
    several, level 16 and 200 BFGS iterations, since the linear stage's radial functions are
    the same for every species pair (xi is shared, as in mlip-2) and only the non-linear stage
    tells neighbours of different species apart."""
    if n_species > 1:
        return dict(MTP_DEFAULTS, level=16), dict(MTP_LBFGS_DEFAULTS, iterations=200)
    return dict(MTP_DEFAULTS), dict(MTP_LBFGS_DEFAULTS)


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


def shortest_distance(frames, cutoff: float = 6.0) -> float:
    """Shortest interatomic distance (Å) within ``cutoff`` over the frames, periodic images
    (an atom's own included) counted; inf when no pair is that close."""
    from ase.neighborlist import neighbor_list
    best = float("inf")
    for atoms in frames:
        d = neighbor_list("d", atoms, cutoff)
        if len(d):
            best = min(best, float(d.min()))
    return best


def mtp_descriptor_from_config(config: Mapping, species: list[str], frames):
    """The :class:`~jaxpot.descriptors.moment_tensors.MomentTensors` of an ``[mtp]`` table."""
    from ase.data import atomic_numbers
    from jaxpot.descriptors.moment_tensors import MomentTensors, check_settings
    table = {**mtp_defaults(len(species))[0], **dict(config.get("mtp") or {})}
    unknown = sorted(set(table) - _MTP_KEYS)
    if unknown:
        raise ConfigError(f"[mtp]: unknown keys {unknown}; known: {sorted(_MTP_KEYS)}")
    if "r_min" not in table:
        shortest = shortest_distance(frames, float(table["r_cut"]))
        table["r_min"] = max(0.0, round(shortest - 0.2, 2)) if shortest < float("inf") else 0.0
    desc = MomentTensors(tuple(sorted(atomic_numbers[s] for s in species)), table["level"],
                         float(table["r_min"]), float(table["r_cut"]),
                         table["radial_basis_size"])
    try:
        check_settings(desc)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"[mtp]: {err}") from None
    return desc


def _lbfgs_settings(table: Mapping):
    """The ``[lbfgs]`` table (weights and the split come from the linear stage: fit_mtp)."""
    from jaxpot.nn.lbfgs import LbfgsSettings
    fields = set(LbfgsSettings._fields) - {"weights", "validation_fraction", "seed",
                                           "stratify_validation"}
    unknown = sorted(set(table) - fields)
    if unknown:
        raise ConfigError(f"[lbfgs]: unknown keys {unknown}; known: {sorted(fields)}")
    return LbfgsSettings(**table)


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
    from jaxpot.potentials.mtp_files import write_mtp
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
    settings = _settings(config.get("fit") or {})
    output = config.get("output") or os.path.splitext(files[0])[0] + ".jaxpot"
    report = config.get("report") or os.path.splitext(output)[0] + "_report"
    root = os.path.splitext(output)[0]
    source = files[0] if len(files) == 1 else "train"
    start = time.perf_counter()
    if config["model"] == "mtp":
        if config.get("snap"):
            raise ConfigError("model = 'mtp' takes an [mtp] table, not [snap]")
        result, desc = _run_mtp(config, species, frames, settings, source, output, progress,
                                echo, files)
        seconds = time.perf_counter() - start
        jaxpot.save(result.model, output)
        write_mtp(result.model, root + ".mtp")
        echo(f"fitted in {seconds:.1f} s; model written to {output} (mlip-2: {root}.mtp)")
    else:
        if config.get("mtp") or config.get("lbfgs"):
            raise ConfigError(f"model = {config['model']!r} takes a [snap] table, not [mtp] or "
                              "[lbfgs]")
        desc = descriptor_from_config(config, species)
        echo(f"jaxpot fit: {config['model']} (twojmax {desc.twojmax}, {desc.n_features} "
             f"features per species {species}) on {len(frames)} configurations from "
             f"{', '.join(files)}")
        checkpoint = output + ".checkpoint.npz"
        result = fit_snap(frames, desc, settings, source=source, progress=progress,
                          checkpoint=checkpoint)
        seconds = time.perf_counter() - start
        jaxpot.save(result.model, output)
        os.remove(checkpoint)
        write_snap(result.model, root + ".snapcoeff", root + ".snapparam")
        echo(f"fitted in {seconds:.1f} s; model written to {output} (LAMMPS: "
             f"{root}.snapcoeff, {root}.snapparam)")
    os.makedirs(report, exist_ok=True)
    sets = {"train": frames}
    for path in config.get("test") or []:
        sets[os.path.basename(path)] = read_frames(path)
    _, text = error_report(result.model, sets, report)
    echo(text)
    write_json(os.path.join(report, "validation.json"), result.validation)
    if config["model"] == "mtp" and result.history:
        write_json(os.path.join(report, "lbfgs_history.json"), result.history)
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


def _run_mtp(config, species, frames, settings, source, output, progress, echo, files):
    from jaxpot.linear.mtp_fit import fit_mtp
    desc = mtp_descriptor_from_config(config, species, frames)
    lbfgs = _lbfgs_settings({**mtp_defaults(len(species))[1],
                             **dict(config.get("lbfgs") or {})})
    echo(f"jaxpot fit: MTP level {desc.level} ({desc.n_features} basis functions, radial "
         f"range {desc.r_min}-{desc.r_cut} Å, species {species}) on {len(frames)} "
         f"configurations from {', '.join(files)}")
    fit = fit_mtp(frames, desc, settings, lbfgs, nonlinear=lbfgs.iterations > 0,
                  source=source, progress=progress, checkpoint=output + ".checkpoint")
    for suffix in (".linear.npz", ".train.npz"):
        if os.path.exists(output + ".checkpoint" + suffix):
            os.remove(output + ".checkpoint" + suffix)
    lin = fit.linear
    history = fit.training.history if fit.training is not None else []
    timings = dict(lin.timings, lbfgs=sum(r["seconds"] for r in history))
    return MtpRun(fit.model, lin.choice, lin.validation, timings, lin.n_observations,
                  history), desc
