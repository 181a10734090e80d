"""GAP as a trainable family: ``model = "gap"`` (or a TOML file in gap_fit's names, which
has no ``model``) in ``jaxpot fit CONFIG.toml``.

The config takes the shared keys (``train``, ``validation``, ``test``, ``output``, ``report``,
``seed``, ``[names]``) under gap_fit's names too: ``at_file`` is ``train``, ``gp_file`` is
``output``, ``validation_file`` is ``validation`` (a file to report errors on: a GAP has no
choice made on validation data), ``rnd_seed`` is ``seed``, and ``*_parameter_name`` are the
``[names]`` keys.  gap_fit's keys are case-insensitive, as in gap_fit.  The fit is
:func:`jaxpot.gap.pipeline.run_job`, as ``jaxpot fit --gap-fit "..."``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from jaxpot.training.families import Family, register_family
from jaxpot.training.keys import root
from jaxpot.training.schema import Key, Table
from jaxpot.training.values import integer_rule, number_rule

#: gap_fit's top-level keys: a config holding one of them and no ``model`` is a GAP's
GAP_FIT_KEYS = frozenset({
    "at_file", "gp_file", "validation_file", "rnd_seed", "e0", "e0_offset", "e0_method",
    "default_sigma", "config_type_sigma", "sparse_jitter", "sigma_per_atom",
    "kernel_regularisation_is_per_atom", "soap", "distance_2b", "energy_parameter_name",
    "force_parameter_name", "virial_parameter_name", "stress_parameter_name",
    "config_type_parameter_name", "energy_sigma_parameter_name", "force_sigma_parameter_name",
    "virial_sigma_parameter_name"})

#: the [names] key of each gap_fit *_parameter_name
_NAME_KEYS = {"energy": "energy_parameter_name", "forces": "force_parameter_name",
              "virial": "virial_parameter_name", "config_type": "config_type_parameter_name"}
_SHARED = {"model", "train", "validation", "test", "output", "report", "names", "seed"}

_SOAP_DOCS = {
    "cutoff": (("float",), "SOAP cutoff radius", "Å"),
    "n_max": (("int",), "radial basis functions", ""),
    "l_max": (("int",), "largest angular momentum of the spherical harmonics", ""),
    "atom_sigma": (("float",), "width of the Gaussian smearing each neighbour", "Å"),
    "zeta": (("int",), "exponent of the dot-product kernel", ""),
    "delta": (("float",), "energy scale of the term (the kernel's prefactor)", "eV"),
    "n_sparse": (("int",), "sparse points per centre species", ""),
    "sparse_method": (("string",), "how sparse points are chosen: cur_points, fps, random, "
                      "all, uniform or index_file", ""),
    "cutoff_transition_width": (("float",), "width of the smooth cutoff", "Å"),
    "central_weight": (("float",), "weight of the central atom in its density", ""),
    "f0": (("float",), "kernel offset (0 only)", ""),
}
_PAIR_DOCS = {
    "cutoff": (("float",), "pair cutoff radius", "Å"),
    "theta_uniform": (("float",), "length scale of the squared-exponential kernel", "Å"),
    "delta": (("float",), "energy scale of the term", "eV"),
    "n_sparse": (("int",), "sparse pair distances", ""),
    "sparse_method": (("string",), "how sparse points are chosen: uniform or random", ""),
    "cutoff_transition_width": (("float",), "width of the smooth cutoff", "Å"),
}
_POSITIVE = {"cutoff", "atom_sigma", "delta", "theta_uniform"}
_COUNTS = {"n_max": 1, "zeta": 1, "n_sparse": 1, "l_max": 0}


def _descriptor_table(name: str, cls, docs: dict, doc: str, ignored) -> Table:
    keys = []
    for field in dataclasses.fields(cls):
        types, line, unit = docs[field.name]
        rule = (number_rule(low=0.0, low_open=True) if field.name in _POSITIVE else
                integer_rule(_COUNTS[field.name]) if field.name in _COUNTS else None)
        keys.append(Key(field.name, types, field.default, line, unit, rule))
    return Table(name, doc, tuple(keys), frozenset(ignored))


def _e0(value, name: str):
    from jaxpot.gap.settings import check_e0
    check_e0(value)
    return value


def _sigmas(value, name: str):
    """Four numbers: a list, or gap_fit's "energy force virial hessian" string."""
    from jaxpot.training.values import numbers_list
    words = value.split() if isinstance(value, str) else value
    if len(numbers_list([_float(w) for w in words] if isinstance(value, str) else words,
                        name)) != 4:
        raise ValueError(f"{name} needs four numbers [energy, force, virial, hessian], got "
                         f"{value!r}")
    return value


def _float(word: str):
    try:
        return float(word)
    except ValueError:
        return word


def schema() -> Table:
    from jaxpot.gap.config import _DESCRIPTOR_IGNORED, _IGNORED
    from jaxpot.gap.settings import GapSettings, SoapSettings, TwoBodySettings
    d = GapSettings()
    names = Table("names", "label keys in the files' info/arrays (gap_fit's "
                  "*_parameter_name; default: energy, forces, virial, config_type)", tuple(
                      Key(role, ("string",), None, f"gap_fit's {key}", example=f"dft_{role}")
                      for role, key in _NAME_KEYS.items()))
    top = [
        Key("e0", ("float", "table", "string"), d.e0, "reference energy per atom: a number, "
            "{Si = -158.5} or \"average\" (least squares over the training set)", "eV",
            _e0),
        Key("e0_offset", ("float",), 0.0, "added to e0 (gap_fit's e0_offset)", "eV"),
        Key("e0_method", ("string",), None, "\"average\", or \"isolated\" with an explicit e0",
            example="average"),
        Key("default_sigma", ("list", "string"), list(d.default_sigma), "expected errors [energy, "
            "force, virial, hessian] (per atom: sigma_per_atom)", "eV, eV/Å, eV, -", _sigmas),
        Key("config_type_sigma", ("table", "string"), None, "{config_type = [4 sigmas]}, or "
            "gap_fit's \"type:E:F:V:H\" string", example={"bulk": [0.001, 0.02, 0.02, 0.0]}),
        Key("sparse_jitter", ("float",), d.sparse_jitter, "added to the sparse kernel's "
            "diagonal", rule=number_rule(low=0.0)),
        Key("sigma_per_atom", ("bool", "string"), d.sigma_per_atom, "energy and virial "
            "sigmas per atom (gap_fit's T/F accepted)",
            aliases=("kernel_regularisation_is_per_atom",)),
        *(Key(key, ("string",), None, f"label key (prefer [names] {role})",
              example=f"dft_{role}") for key, role in (
                  ("energy_parameter_name", "energy"), ("force_parameter_name", "forces"),
                  ("virial_parameter_name", "virial"), ("stress_parameter_name", "stress"),
                  ("config_type_parameter_name", "config_type"),
                  ("energy_sigma_parameter_name", "energy_sigma"),
                  ("force_sigma_parameter_name", "force_sigma"),
                  ("virial_sigma_parameter_name", "virial_sigma"))),
    ]
    table = root(
        "gap", "a Gaussian Approximation Potential: SOAP and distance_2b sparse GPs fitted as "
        "gap_fit does (jaxpot's defaults: GapSettings())",
        _descriptor_table("soap", SoapSettings, _SOAP_DOCS, "SOAP descriptor and its "
                          "dot-product GP (no [soap] and no [distance_2b]: both, as here)",
                          _DESCRIPTOR_IGNORED),
        _descriptor_table("distance_2b", TwoBodySettings, _PAIR_DOCS, "pair-distance "
                          "descriptor and its squared-exponential GP", _DESCRIPTOR_IGNORED),
        validation="labelled structures to report errors on (gap_fit's validation_file; a "
                   "GAP makes no choice on validation data)",
        names=names, ignored=_IGNORED, top=tuple(top),
        refused={"species": "a GAP takes its species from the training data",
                 "cutoff": "a GAP's cutoffs are [soap] cutoff and [distance_2b] cutoff"})
    return _aliased(table)


def _aliased(table: Table) -> Table:
    """gap_fit's names of the shared keys: at_file, gp_file, validation_file, rnd_seed."""
    aliases = {"train": ("at_file",), "output": ("gp_file",),
               "validation": ("validation_file",), "seed": ("rnd_seed",)}
    entries = tuple(dataclasses.replace(e, aliases=aliases[e.name])
                    if isinstance(e, Key) and e.name in aliases else e for e in table.entries)
    return dataclasses.replace(table, entries=entries)


def _read(config: dict) -> dict:
    """gap_fit's keys are case-insensitive (top level and descriptor tables)."""
    out = {}
    for key, value in config.items():
        low = key.lower() if isinstance(key, str) else key
        if low in ("soap", "distance_2b") and isinstance(value, dict):
            value = {k.lower(): v for k, v in value.items()}
        out[low] = value
    return out


def _files(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def job(config: Mapping):
    """The :class:`~jaxpot.gap.config.FitJob` of a checked config (ConfigError naming a
    setting GapSettings refuses)."""
    from jaxpot.gap.config import ConfigError, _job
    values = {k: v for k, v in config.items()
              if k not in _SHARED and k not in ("soap", "distance_2b")}
    for role, value in (config.get("names") or {}).items():
        key = _NAME_KEYS[role]
        if key in values and values[key] != value:
            raise ConfigError(f"[names] {role} and {key} disagree: give one")
        values[key] = value
    if "seed" in config:
        values["seed"] = config["seed"]
    descriptors = [(n, dict(config[n])) for n in ("soap", "distance_2b") if n in config]
    validation = _files(config.get("validation"))
    made = _job(values, descriptors, "the config")
    return made._replace(at_file=_files(config["train"])[0], gp_file=config.get("output"),
                         validation_file=validation[0] if validation else None)


def _output(config: Mapping) -> str:
    """The model file: ``output`` (gp_file), or for an ``output`` ending in ``.xml`` the
    ``.jaxpot`` file of that name (run_job writes the XML too, as gap_fit's gp_file)."""
    output = config["output"]
    root_, ext = os.path.splitext(output)
    return root_ + ".jaxpot" if ext.lower() == ".xml" else output


def fit(config: Mapping, *, progress: bool = True, echo=None):
    """Fit the GAP a checked config describes (:func:`jaxpot.gap.pipeline.run_job`)."""
    from jaxpot.gap.pipeline import run_job
    from jaxpot.training.fitting import check_outputs
    from jaxpot.training.frames import read_frames
    made, output = job(config), _output(config)
    check_outputs(config)  # every training file, not only the first
    train = _files(config["train"])
    frames = [a for path in train for a in read_frames(path)] if len(train) > 1 else None
    tests = _files(config.get("test")) + _files(config.get("validation"))[1:]
    return run_job(made, output=output, test_files=tests, report_dir=config["report"],
                   progress=progress, frames=frames, echo=echo)


def check(config: Mapping) -> None:
    """What the fit checks before its work: settings, outputs, every file and its labels,
    the cutoffs against the training data."""
    from jaxpot.gap.data_checks import (
        check_config_type_sigma,
        check_label_names,
        check_sees_neighbours,
    )
    from jaxpot.gap.labels import read_all
    from jaxpot.gap.pipeline import check_test_frames
    from jaxpot.io.paths import check_outputs as refuse
    from jaxpot.training.fitting import check_outputs, input_files
    from jaxpot.training.frames import read_frames
    made = job(config)
    check_outputs(config)
    files = input_files(config)
    if _output(config) != config["output"]:  # output = x.xml: the model file x.jaxpot too
        refuse({"model file": _output(config), "GAP XML file": config["output"]},
               {f"{role} file": paths for role, paths in files.items()})
    frames = [a for path in files["train"] for a in read_frames(path)]
    source, s = files["train"][0], made.settings
    check_label_names(frames, s.names, source, s.fit_virials)
    check_config_type_sigma(frames, s.config_type_sigma, s.names.config_type, source)
    read_all(frames, source, s.names, s.default_sigma, s.config_type_sigma, s.sigma_per_atom,
             s.fit_virials)
    check_sees_neighbours(frames, {name: d.cutoff for name, d in (
        ("soap", s.soap), ("distance_2b", s.distance_2b)) if d is not None}, source)
    species = sorted({int(z) for a in frames for z in a.numbers})
    for path in files["test"] + files["validation"]:
        check_test_frames(read_frames(path), path, s.names, species, source)


register_family(Family(
    "gap", "a Gaussian Approximation Potential (SOAP + distance_2b sparse GPs, gap_fit's "
    "settings)", schema, fit, check=check,
    unnamed=lambda config: any(str(k).lower() in GAP_FIT_KEYS for k in config),
    read=_read))
