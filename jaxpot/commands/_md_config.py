"""The settings of ``jaxpot md``: one table of keys that the command-line options and a TOML
config share (a config key is the option's name with ``_`` for ``-``: ``--tau-t`` is
``tau_t``), checked the same way from both.

    settings = resolve(args)     # defaults < CONFIG.toml < options given on the command line

A config names its model and structure (``model``, ``structure``); relative paths in it are
read from the config's folder, paths on the command line from the working folder (as for
``jaxpot fit``).  An unknown key is refused naming the closest known one.  Nothing here imports
JAX: every mistake is found before any work.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from jaxpot.training.values import boolean, integer, number, unknown_keys

_log = logging.getLogger("jaxpot.cli")

INTEGRATORS = ("nve", "langevin", "nose_hoover", "npt")
ALIASES = {"nvt": "nose_hoover", "nose-hoover": "nose_hoover", "nosehoover": "nose_hoover",
           "verlet": "nve", "mtk": "npt"}
CELL_MODES = ("isotropic", "flexible")

#: which integrators take each integrator-specific setting
APPLIES = {"friction": ("langevin",), "tau_t": ("nose_hoover", "npt"),
           "tau_p": ("npt",), "pressure": ("npt",), "cell": ("npt",)}

#: settings that are file paths (a config's relative ones are read from its folder)
PATHS = ("model", "structure", "trajectory", "log", "checkpoint", "output")


def _text(value, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def integrator_name(value, name: str = "integrator") -> str:
    """One of :data:`INTEGRATORS` (or an alias of one), else ValueError naming the closest."""
    import difflib
    if isinstance(value, str):
        key = value.strip().lower()
        key = ALIASES.get(key, key)
        if key in INTEGRATORS:
            return key
    close = difflib.get_close_matches(str(value).lower(), [*INTEGRATORS, *ALIASES], n=1)
    hint = f"; did you mean {ALIASES.get(close[0], close[0])!r}?" if close else ""
    raise ValueError(f"unknown {name} {value!r}{hint} (known: {', '.join(INTEGRATORS)}; nvt "
                     "is nose_hoover)")


def _cell(value, name: str) -> str:
    if value not in CELL_MODES:
        raise ValueError(f"{name} must be one of {list(CELL_MODES)}, got {value!r}")
    return value


def _positive(unit: str) -> Callable:
    return lambda v, name: number(v, f"{name} ({unit})", low=0.0, low_open=True)


#: key -> (rule (value, name) -> value, default, help)
KEYS: dict[str, tuple[Callable, object, str]] = {
    "model": (_text, None, "'sw' (Stillinger-Weber Si) or a jaxpot model file"),
    "structure": (_text, None, "start structure (any file ASE reads; its last frame)"),
    "integrator": (integrator_name, "langevin",
                   "nve, langevin (BAOAB), nose_hoover (NVT, Nosé-Hoover chain) or npt "
                   "(MTK barostat + Nosé-Hoover chains)"),
    "temperature": (_positive("K"), 300.0, "K: the thermostat's target and the "
                    "Maxwell-Boltzmann initial velocities (nve: the latter only)"),
    "pressure": (lambda v, name: number(v, f"{name} (GPa)"), None,
                 "GPa, hydrostatic (npt: required; 0 for ambient)"),
    "cell": (_cell, "isotropic", "npt: 'isotropic' (volume only) or 'flexible' (full cell)"),
    "steps": (lambda v, name: integer(v, name, 0), 1000,
              "total MD steps (a resumed run continues up to this count)"),
    "timestep": (_positive("fs"), 1.0, "fs"),
    "friction": (_positive("1/fs"), 0.01, "langevin friction, 1/fs"),
    "tau_t": (_positive("fs"), None, "nose_hoover/npt thermostat time, fs (default 100 steps)"),
    "tau_p": (_positive("fs"), None, "npt barostat time, fs (default 1000 steps)"),
    "seed": (lambda v, name: integer(v, name, 0), 0,
             "seed of the initial velocities and the Langevin noise"),
    "trajectory": (_text, None, "trajectory file (.extxyz, .xyz or .traj)"),
    "trajectory_interval": (lambda v, name: integer(v, name, 1), None,
                            "steps between trajectory frames (a multiple of log_interval; "
                            "default log_interval)"),
    "log": (_text, None, "thermo log file: step, time fs, potential/kinetic/total/conserved "
            "energy eV, temperature K, pressure GPa, volume Å^3"),
    "log_interval": (lambda v, name: integer(v, name, 1), 100, "steps between log rows"),
    "checkpoint": (_text, None, "checkpoint file (.npz); when it exists, the run resumes from "
                   "it (run the same command again to continue)"),
    "output": (_text, None, "write the final structure here (extxyz, .traj, ...)"),
    "overwrite": (boolean, False, "let a fresh run replace an existing trajectory or log"),
}


def option(key: str) -> str:
    return "--" + key.replace("_", "-")


def read_config(path: str) -> dict:
    """The checked settings of a TOML config, its relative paths made relative to the working
    folder; ValueError/OSError naming the file and the key."""
    from jaxpot.training.fitting import load_toml
    raw = load_toml(path)  # a missing file or bad TOML: one error naming the file
    problem = unknown_keys(raw, KEYS, f"config {path}")
    if problem:
        raise ValueError(problem)
    folder = os.path.dirname(path)
    settings = {}
    for key, value in raw.items():
        value = KEYS[key][0](value, f"config {path}: {key}")
        if key in PATHS and not (key == "model" and value in ("sw", "stillinger_weber")):
            value = os.path.normpath(os.path.join(folder, os.path.expanduser(value)))
        settings[key] = value
    return settings


def resolve(args) -> dict:
    """Every setting: the defaults, then ``args.inputs``' config (if it is one), then the
    options given on the command line; checked, with integrator-specific ones that do not
    apply warned about and dropped."""
    inputs = list(args.inputs)
    config = None
    if len(inputs) == 1 and inputs[0].lower().endswith(".toml"):
        config = inputs[0]
        settings = read_config(config)
    elif len(inputs) == 2 and not any(p.lower().endswith(".toml") for p in inputs):
        settings = {"model": inputs[0], "structure": inputs[1]}
    else:
        raise ValueError(f"give MODEL STRUCTURE (e.g. jaxpot md sw si.extxyz) or one CONFIG.toml,"
                         f" got {len(inputs)} argument(s): {' '.join(inputs) or '(none)'}")
    for key, (rule, _, _) in KEYS.items():
        value = getattr(args, key, None)
        if value is not None and key not in ("model", "structure"):
            settings[key] = rule(value, option(key))
    for key in ("model", "structure"):
        if key not in settings:
            raise ValueError(f"config {config}: no {key}; add {key} = \"...\" to it")
    out = {key: default for key, (_, default, _) in KEYS.items()}
    out.update(settings)
    out["config"] = config
    kind = out["integrator"]
    for key, kinds in APPLIES.items():
        if kind not in kinds and key in settings:
            _log.warning(f"{key} ignored: it applies to {' and '.join(kinds)}, not the {kind} "
                         "integrator")
            out[key] = KEYS[key][1]
    every, log_every = out["trajectory_interval"], out["log_interval"]
    if every is not None and every % log_every:
        raise ValueError(f"trajectory_interval ({every}) must be a multiple of log_interval "
                         f"({log_every}): frames are written at logged steps")
    if kind == "npt" and out["pressure"] is None:
        raise ValueError("the npt integrator needs a pressure: --pressure GPa (0 for ambient), "
                         "or pressure = ... in the config")
    return out


def add_arguments(p) -> None:
    """The command-line options of every key but model and structure (default None: only
    what is given overrides the config)."""
    for key, (_, default, text) in KEYS.items():
        if key in ("model", "structure"):
            continue
        shown = "" if default is None or default is False else f" (default {default})"
        if key == "overwrite":
            p.add_argument(option(key), dest=key, action="store_true", default=None, help=text)
        elif key in ("steps", "seed", "trajectory_interval", "log_interval"):
            p.add_argument(option(key), dest=key, type=int, help=text + shown)
        elif key in ("integrator", "cell") or key in PATHS:
            p.add_argument(option(key), dest=key, help=text + shown)
        else:
            p.add_argument(option(key), dest=key, type=float, help=text + shown)
