"""``jaxpot md MODEL STRUCTURE [options]`` or ``jaxpot md CONFIG.toml [options]``: molecular
dynamics with any jaxpot model (:func:`jaxpot.md.run`: jitted chunks, float64).

Integrators: nve, langevin (BAOAB; --friction), nose_hoover (NVT; --tau-t), npt (MTK barostat;
--pressure required, --tau-t, --tau-p, --cell).  Initial velocities are Maxwell-Boltzmann at
--temperature (zero total momentum, --seed) unless the structure file carries momenta.  --log
writes the thermo table (step, time fs, potential/kinetic/total/conserved energy eV,
temperature K, pressure GPa, volume Å^3), --trajectory the frames, --output the final
structure.  With --checkpoint the same command run again resumes where the last one stopped
(or continues a finished run to a larger --steps) and ends bit-identical to an uninterrupted
run.  A config holds the same keys as the options (``tau_t`` for --tau-t, plus ``model`` and
``structure``; paths relative to the config's folder); options on the command line override
it.  The progress bar shows steps/s and ns/day; the end of the run logs both.

    jaxpot md sw si.extxyz --integrator langevin --temperature 1000 --steps 20000 \\
        --log md.log --trajectory md.extxyz --checkpoint md.npz --output final.extxyz
    jaxpot md run.toml --steps 50000           # continue the config's run further
"""

from __future__ import annotations

import logging
import os
import time

from jaxpot.commands._common import write_structure
from jaxpot.commands._md_config import add_arguments, option, resolve

_log = logging.getLogger("jaxpot.cli")

NAME = "md"
HELP = "molecular dynamics: NVE, Langevin, Nosé-Hoover NVT, MTK NPT; checkpoints and resume"
ORDER = 12

#: the thermo log's columns: (MDLog field, header name)
LOG_COLUMNS = (("step", "step"), ("time", "time_fs"), ("potential_energy", "potential_eV"),
               ("kinetic_energy", "kinetic_eV"), ("total_energy", "total_eV"),
               ("conserved_energy", "conserved_eV"), ("temperature", "temperature_K"),
               ("pressure", "pressure_GPa"), ("volume", "volume_A3"))


def arguments(p) -> None:
    p.add_argument("inputs", nargs="*", metavar="MODEL STRUCTURE | CONFIG.toml",
                   help="a model ('sw' or a model file) and a structure file, or one TOML "
                   "config with the keys of the options below plus model and structure")
    add_arguments(p)


def _integrator(s: dict, model):
    from jaxpot import md
    kind = s["integrator"]
    if kind == "nve":
        return md.nve(model, s["timestep"])
    if kind == "langevin":
        return md.langevin(model, s["timestep"], s["temperature"], s["friction"])
    if kind == "nose_hoover":
        return md.nose_hoover(model, s["timestep"], s["temperature"], s["tau_t"])
    return md.npt(model, s["timestep"], s["temperature"], s["pressure"], tau_t=s["tau_t"],
                  tau_p=s["tau_p"], cell=s["cell"])


def _describe(s: dict) -> str:
    kind = s["integrator"]
    parts = [f"{kind}, timestep {s['timestep']:g} fs, {s['steps']} steps"]
    if kind == "nve":
        parts.append(f"initial velocities at {s['temperature']:g} K")
    else:
        parts.append(f"{s['temperature']:g} K")
    if kind == "langevin":
        parts.append(f"friction {s['friction']:g}/fs")
    if kind in ("nose_hoover", "npt"):
        parts.append("tau_t " + (f"{s['tau_t']:g} fs" if s["tau_t"] else "100 steps"))
    if kind == "npt":
        parts.append(f"{s['pressure']:g} GPa, {s['cell']} cell, tau_p "
                     + (f"{s['tau_p']:g} fs" if s["tau_p"] else "1000 steps"))
    return ", ".join(parts) + f", seed {s['seed']}"


def _check_paths(s: dict) -> bool:
    """Refuse, before any work, outputs that are inputs, folders that do not exist, and (for a
    fresh run, unless overwrite) an existing trajectory or log.  Returns whether the run resumes
    from its checkpoint."""
    from jaxpot.io.paths import check_outputs
    model_file = s["model"] if os.path.exists(s["model"]) else None
    check_outputs({"trajectory": s["trajectory"], "log file": s["log"],
                   "checkpoint": s["checkpoint"], "final structure file": s["output"]},
                  {"structure file": s["structure"], "model file": model_file,
                   "config": s["config"]})
    if not os.path.isfile(s["structure"]):
        raise FileNotFoundError(f"structure file {s['structure']}: no such file")
    for key in ("trajectory", "log", "checkpoint", "output"):
        folder = os.path.dirname(os.path.abspath(s[key])) if s[key] else None
        if folder and not os.path.isdir(folder):
            raise FileNotFoundError(f"the {key} {s[key]} would go in {folder}, which does not "
                                    f"exist: create it or choose another {option(key)} path")
    resuming = bool(s["checkpoint"]) and os.path.exists(s["checkpoint"])
    if not resuming and not s["overwrite"]:
        for key in ("trajectory", "log"):
            if s[key] and os.path.exists(s[key]):
                raise FileExistsError(
                    f"the {key} file {s[key]} already exists and this run starts afresh (no "
                    "checkpoint to resume): pass --overwrite to replace it, another "
                    f"{option(key)} path, or the --checkpoint of the run that wrote it")
    return resuming


def write_log_table(path: str, log, header: str) -> None:
    """The thermo table (:data:`LOG_COLUMNS`), whitespace-separated, atomically."""
    import numpy as np

    from jaxpot.io.atomic_file import atomic_write
    names = " ".join(f"{h:>16}" for _, h in LOG_COLUMNS)
    data = np.column_stack([np.asarray(log[field], float) for field, _ in LOG_COLUMNS])
    with atomic_write(path, "w") as f:
        np.savetxt(f, data, fmt=["%10d"] + ["%16.9f"] * (len(LOG_COLUMNS) - 1),
                   header=f"{header}\n{names}")


def _report(result, s: dict, start_step: int, wall: float) -> None:
    import numpy as np
    log, timing = result.log, result.timing
    done = int(result.state.step) - start_step
    if done > 0:
        dt_fs = s["timestep"]
        overall = done / wall
        line = (f"{done} steps in {wall:.1f} s (compilation included): {overall:.3g} steps/s, "
                f"{overall * dt_fs * 0.0864:.3g} ns/day")
        if timing.get("ns_per_day"):
            line += (f"; after the first chunk {timing['steps_per_s']:.3g} steps/s, "
                     f"{timing['ns_per_day']:.3g} ns/day")
        _log.info(line)
    elif start_step:
        _log.info(f"nothing left to run: the checkpoint already holds {s['steps']} steps")
    n = len(result.atoms)
    last = {field: float(log[field][-1]) for field, _ in LOG_COLUMNS}
    _log.info(f"step {int(last['step'])} ({last['time']:g} fs): T {last['temperature']:.1f} K, "
              f"E_pot {last['potential_energy']:.6f} eV ({last['potential_energy'] / n:.6f} "
              f"eV/atom), E_total {last['total_energy']:.6f} eV, P {last['pressure']:.4g} GPa, "
              f"V {last['volume']:.4f} Å^3")
    if len(log) > 2:
        later = slice(1, None)
        _log.info(f"averages over the {len(log) - 1} logged steps after the start: T "
                  f"{np.mean(log.temperature[later]):.1f} K, P {np.mean(log.pressure[later]):.4g}"
                  f" GPa, V {np.mean(log.volume[later]):.4f} Å^3, E_pot "
                  f"{np.mean(log.potential_energy[later]):.6f} eV")
        drift = (log.conserved_energy[-1] - log.conserved_energy[0]) / n
        _log.info(f"conserved-energy drift: {drift:.3e} eV/atom over the run")


def run(args) -> int:
    s = resolve(args)
    resuming = _check_paths(s)
    from jaxpot import md
    from jaxpot.commands._common import load_model
    from jaxpot.training.frames import read_frames
    atoms = read_frames(s["structure"])[-1]
    model = load_model(s["model"])
    integrator = _integrator(s, model)
    _log.info(f"jaxpot md: {len(atoms)} atoms ({atoms.get_chemical_formula()}) from "
              f"{s['structure']}" + (f" (config {s['config']})" if s["config"] else ""))
    _log.info(f"model: {model.name}, cutoff {model.cutoff:.4f} Å")
    _log.info(f"integrator: {_describe(s)}")
    start_step = 0
    if resuming:
        from jaxpot.md.output import read_checkpoint
        start_step = int(read_checkpoint(s["checkpoint"])[0]["step"])
        _log.info(f"resuming from checkpoint {s['checkpoint']} at step {start_step}")
    elif atoms.get_momenta().any():
        _log.info(f"initial velocities: the momenta in {s['structure']}")
    else:
        _log.info(f"initial velocities: Maxwell-Boltzmann at {s['temperature']:g} K "
                  f"(seed {s['seed']})")
    t0 = time.perf_counter()
    result = md.run(integrator, atoms, s["steps"], temperature=s["temperature"],
                    seed=s["seed"], log_interval=s["log_interval"],
                    trajectory=s["trajectory"], trajectory_interval=s["trajectory_interval"],
                    checkpoint=s["checkpoint"], progress=not getattr(args, "quiet", False),
                    overwrite=bool(s["overwrite"]))
    _report(result, s, start_step, time.perf_counter() - t0)
    if s["log"]:
        write_log_table(s["log"], result.log, f"jaxpot md: {_describe(s)}; model {model.name}; "
                        f"structure {s['structure']}")
        _log.info(f"wrote the log {s['log']} ({len(result.log)} rows)")
    if s["trajectory"]:
        _log.info(f"trajectory: {s['trajectory']}")
    if s["checkpoint"]:
        _log.info(f"checkpoint: {s['checkpoint']} (run the same command again, with a larger "
                  "--steps, to continue)")
    if s["output"]:
        write_structure(s["output"], result.atoms)
        _log.info(f"wrote the final structure {s['output']}")
    return 0
