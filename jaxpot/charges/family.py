"""Environment-dependent charges as a trainable family: ``model = "charges"`` in ``jaxpot fit
CONFIG.toml`` fits :func:`~jaxpot.electrostatics.environment_charges` to per-atom reference
charges (:func:`~jaxpot.charges.fit.fit_charges`) and writes the energy model those charges
give, an Ewald or PME sum (``[energy]``), as a jaxpot model file.

    model = "charges"
    train = ["water.extxyz"]
    species = ["H", "O"]
    cutoff = 4.0                    # Å, the ACSF features' radius
    names = {charges = "n2p2_charge"}

The report folder gets ``errors.json`` (charge RMSE and MAE in e per file, and on the
validation carve), ``history.json`` (train and validation RMSE every 10 steps) and
``settings.json``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import numpy as np

from jaxpot.training.families import Family, register_family
from jaxpot.training.keys import CUTOFF, root
from jaxpot.training.schema import Key, Table
from jaxpot.training.values import choice, integer_rule, number_rule, widths

_log = logging.getLogger(__name__)


def schema() -> Table:
    import dataclasses
    from inspect import signature

    from jaxpot.charges.fit import fit_charges
    from jaxpot.electrostatics.charge_models import environment_charges
    model, fit = signature(environment_charges).parameters, signature(fit_charges).parameters
    architecture = Table("architecture", "the per-element network on ACSF features", (
        Key("hidden", ("list",), list(model["hidden"].default), "hidden layer widths", "",
            widths),
        Key("total_charge", ("float",), model["total_charge"].default, "the charge every "
            "structure carries (the excess is spread evenly)", "e", number_rule())))
    training = Table("training", "full-batch Adam on the charge RMSE, best validation step "
                     "kept", (
        Key("steps", ("int",), fit["steps"].default, "Adam steps", "", integer_rule(1)),
        Key("learning_rate", ("float",), fit["learning_rate"].default, "peak learning rate "
            "(cosine decay)", "", number_rule(low=0.0, low_open=True)),
        Key("validation_fraction", ("float",), fit["validation_fraction"].default,
            "fraction of train carved for validation", "",
            number_rule(low=0.0, high=1.0, high_open=True))))
    energy = Table("energy", "the long-range model written with the fitted charges", (
        Key("kind", ("string",), "ewald", "ewald or pme", "",
            lambda v, n: choice(v, n, ("ewald", "pme"))),
        Key("accuracy", ("float",), None, "relative size of the neglected terms (default: "
            "1e-8 for ewald, 1e-5 for pme)", "", number_rule(low=0.0, low_open=True,
                                                              high=1.0), 1e-6),
        Key("r_cut", ("float",), 10.0, "real-space cutoff", "Å",
            number_rule(low=0.0, low_open=True))))
    names = Table("names", "the arrays key of the reference charges", (
        Key("charges", ("string",), "charges", "per-atom reference charges", "e"),
        Key("config_type", ("string",), "config_type", "info key of the configuration type "
            "(the carve is stratified by it)")))
    cutoff = dataclasses.replace(CUTOFF, default=model["r_cut"].default,
                                 doc="the ACSF features' cutoff radius")
    return root("charges", "environment-dependent charges (per-element MLP on ACSF features) "
                "fitted to reference charges, written as the Ewald/PME model they give",
                architecture, training, energy, species=_species(), cutoff=cutoff,
                validation=None, names=names)


def _species() -> Key:
    import dataclasses

    from jaxpot.training.keys import SPECIES
    return dataclasses.replace(SPECIES, example=["Na", "Cl"])


def build(config: Mapping):
    """The untrained charge model of a config."""
    from jaxpot.electrostatics.charge_models import environment_charges
    from jaxpot.training.config import ConfigError
    kw = dict(config.get("architecture") or {})
    if "cutoff" in config:
        kw["r_cut"] = config["cutoff"]
    try:
        return environment_charges(config["species"], seed=config.get("seed", 0), **kw)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"the config: {err}") from None


def _key(config: Mapping) -> str:
    return (config.get("names") or {}).get("charges", "charges")


def _read(config: Mapping) -> dict[str, list]:
    """{path: frames} of every input file, each frame's charges present and finite."""
    from jaxpot.charges.fit import _labels
    from jaxpot.training.fitting import input_files
    from jaxpot.training.frames import read_frames
    from jaxpot.training.labels import TrainingDataError
    model = build(config)
    sets = {}
    for path in (p for group in input_files(config).values() for p in group):
        _log.info("reading configurations from %s", path)
        frames = read_frames(path)
        for atoms in frames:  # ASE's extxyz reader moves a "charges" array into the results
            results = getattr(atoms.calc, "results", None) or {}
            if _key(config) not in atoms.arrays and _key(config) in results:
                atoms.arrays[_key(config)] = np.asarray(results[_key(config)], float)
        _labels(frames, _key(config), path)
        extra = sorted({int(z) for a in frames for z in a.numbers} - set(model.species))
        if extra:
            raise TrainingDataError(f"{path}: atomic numbers {extra} are not in species "
                                    f"{config['species']}")
        sets[path] = frames
    return sets


def check(config: Mapping) -> None:
    from jaxpot.training.fitting import check_outputs
    check_outputs(config)
    _read(config)
    _energy_model(config, build(config))


def _energy_model(config: Mapping, charges):
    from jaxpot.potentials.ewald import ewald, pme
    table = dict(config.get("energy") or {})
    kind = table.pop("kind", "ewald")
    return (pme if kind == "pme" else ewald)(charges, **table)


def _errors(model, frames, key: str) -> dict:
    from jaxpot.neighbors import allocate_neighbor_list
    diffs = []
    for atoms in frames:
        nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc,
                                      cutoff=model.cutoff)
        q = np.asarray(model.charges(atoms.positions, atoms.cell.array, atoms.numbers, nbrs))
        diffs.append(q - np.asarray(atoms.arrays[key], float).reshape(-1))
    d = np.concatenate(diffs)
    return {"n_atoms": int(d.size), "rmse_e": float(np.sqrt(np.mean(d ** 2))),
            "mae_e": float(np.mean(np.abs(d)))}


def fit(config: Mapping, *, progress: bool = True, echo=None):
    """Fit the charges, save the energy model, write the report."""
    import jaxpot
    from jaxpot.charges.fit import fit_charges
    from jaxpot.training.fitting import check_outputs, input_files
    from jaxpot.training.frames import write_json
    echo = echo or _log.info
    check_outputs(config)
    sets = _read(config)
    files = input_files(config)
    frames = [a for path in files["train"] for a in sets[path]]
    training = dict(config.get("training") or {})
    model = build(config)
    echo(f"jaxpot fit: charges of {sorted(config['species'])} on {len(frames)} "
         f"configurations ({len(model.params['q0'])} elements)")
    _log.info("fitting charges (%s)", ", ".join(f"{k} = {v}" for k, v in training.items())
              or "default settings")
    result = fit_charges(model, frames, _key(config), seed=config.get("seed", 0),
                         source=files["train"][0], **training)
    energy = _energy_model(config, result.model)
    jaxpot.save(energy, config["output"])
    echo(f"model written to {config['output']} (best step {result.best_step})")
    report = config["report"]
    os.makedirs(report, exist_ok=True)
    _log.info("evaluating charges on %s", ", ".join(["train", *files["test"]]))
    errors = {"train": _errors(result.model, frames, _key(config))}
    for path in files["test"]:
        errors[os.path.basename(path)] = _errors(result.model, sets[path], _key(config))
    if result.history:
        errors["validation"] = {"rmse_e": min(h[2] for h in result.history)}
    write_json(os.path.join(report, "errors.json"), errors)
    write_json(os.path.join(report, "history.json"),
               [{"step": s, "train_rmse_e": t, "validation_rmse_e": v}
                for s, t, v in result.history])
    write_json(os.path.join(report, "settings.json"), dict(config))
    for name, e in errors.items():
        if "mae_e" in e:
            echo(f"{name}: charge RMSE {e['rmse_e']:.4f} e, MAE {e['mae_e']:.4f} e "
                 f"({e['n_atoms']} atoms)")
    echo(f"report: {report}")
    return result


register_family(Family("charges", "environment-dependent charges fitted to reference "
                       "charges, written as their Ewald/PME model", schema, fit, build=build,
                       check=check))
