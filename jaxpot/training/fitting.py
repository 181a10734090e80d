"""A fit config file from reading to fitting, the same for every family (``jaxpot fit``,
``jaxpot validate``, ``jaxpot template``).

    fam, config = prepare("si.toml", Overrides(output="other.jaxpot"))   # checked, not run
    validate_file("si.toml")                  # and the files' labels, the model built, ...
    result = fit_file("si.toml", progress=False, echo=log.info)
    text = template_text("bpnn")              # a commented config with every key

The config's family is its ``model`` (:func:`jaxpot.training.families.family_of`); its keys
are checked against the family's schema (:func:`jaxpot.training.schema.check`), relative paths
are read from the config's folder, and ``output`` (default: the config's name with
``.jaxpot``) and ``report`` (default: the output's name + ``_report``) are filled in before the
family's fit sees the config.  Command-line overrides (``--output``, ``--report``, ``--test``,
``--at-file``) are relative to the working folder, as every command-line path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from jaxpot.training.config import ConfigError
from jaxpot.training.families import Family, family, family_of
from jaxpot.training.schema import Table, check, template


class Overrides(NamedTuple):
    """Command-line settings that replace (``train``, ``output``, ``report``) or extend
    (``test``) a config's; paths relative to the working folder."""

    train: str | None = None
    output: str | None = None
    report: str | None = None
    test: Sequence[str] = ()


def load_toml(path: str) -> dict:
    """The table of a TOML file; ConfigError naming the file when it is missing or invalid."""
    import tomllib
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: a folder, not a config file") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None


def _here(path: str, base: str) -> str:
    """A command-line path, made independent of the config's folder."""
    return path if os.path.isabs(path) or not base else os.path.abspath(path)


def _overridden(raw: dict, schema: Table, overrides: Overrides, base: str) -> dict:
    raw = dict(raw)
    keys = schema.keys()
    for name in ("train", "output", "report"):
        value = getattr(overrides, name)
        if value is not None:
            for alias in (name, *(keys[name].aliases if name in keys else ())):
                raw.pop(alias, None)
            raw[name] = _here(value, base)
    if overrides.test:
        given = raw.pop("test", None)
        given = [given] if isinstance(given, str) else list(given or [])
        raw["test"] = given + [_here(p, base) for p in overrides.test]
    return raw


def prepare(path: str, overrides: Overrides = Overrides()) -> tuple[Family, dict]:
    """The family of a config file and the config checked against its schema (ConfigError
    naming every problem), relative paths resolved, ``output`` and ``report`` filled in."""
    raw = load_toml(path)
    fam = family_of(raw, path)
    if fam.read is not None:
        raw = fam.read(raw)
    if fam.unnamed is not None and "model" not in raw:
        raw["model"] = fam.name
    base = os.path.dirname(path)
    raw = _overridden(raw, fam.config_schema(), overrides, base)
    config = check(raw, fam.config_schema(), base, source=path)
    config.setdefault("output", os.path.splitext(path)[0] + ".jaxpot")
    if config.get("report") is None:
        config["report"] = os.path.splitext(config["output"])[0] + "_report"
    return fam, config


def input_files(config: Mapping) -> dict[str, list[str]]:
    """{"train"/"validation"/"test": [paths]} of a checked config."""
    out = {}
    for key in ("train", "validation", "test"):
        value = config.get(key) or []
        out[key] = [value] if isinstance(value, str) else list(value)
    return out


def check_outputs(config: Mapping) -> None:
    """Refuse a model file or report folder that is an input, or that could not be written."""
    from jaxpot.io.paths import check_outputs as refuse
    from jaxpot.training.frames import check_writable
    files = input_files(config)
    report = config.get("report") or None
    refuse({"model file": config["output"], "report directory": report},
           {"training file": files["train"], "validation file": files["validation"],
            "test file": files["test"]})
    check_writable(config["output"], report or "")


def check_labelled(config: Mapping, names=None) -> dict[str, list]:
    """Every input file read and its energy, force and stress labels checked (``names``: the
    label keys, default the config's ``[names]``): {path: frames}."""
    from jaxpot.training.inputs import read_labelled
    paths = [p for group in input_files(config).values() for p in group]
    return read_labelled(paths, config.get("names") if names is None else names)


def validate_file(path: str, overrides: Overrides = Overrides()) -> tuple[Family, dict]:
    """Everything a fit of ``path`` checks before its work, without fitting: the keys, the
    files named (read, labels checked), the outputs, the family's own checks."""
    fam, config = prepare(path, overrides)
    check_outputs(config)
    if fam.check is not None:
        fam.check(config)
    else:
        check_labelled(config)
    return fam, config


def fit_file(path: str, overrides: Overrides = Overrides(), *, progress: bool = True,
             echo=None, float32: bool = False):
    """Fit the model a config file describes (its family's fit: model, report); ``echo``
    (default: INFO records of the logger ``jaxpot.fit.<family>``) takes the fit's messages."""
    fam, config = prepare(path, overrides)
    if float32 and not fam.float32:
        floats = sorted(name for name, f in _families().items() if f.float32)
        raise ConfigError(f"--float32: model = {fam.name!r} fits in float64 only; --float32 "
                          f"is for {floats}")
    if echo is None:  # a family's fit is given a callable: the family's logger (under jaxpot)
        import logging
        echo = logging.getLogger(f"jaxpot.fit.{fam.name}").info
    return fam.fit(config, progress=progress, echo=echo)


def _families():
    from jaxpot.training.families import families
    return families()


def template_text(name: str) -> str:
    """The commented config of family ``name`` (``jaxpot template NAME``)."""
    fam = family(name)
    return template(fam.config_schema(), header=f"jaxpot fit config for model = "
                    f"{name!r}: {fam.doc}")
