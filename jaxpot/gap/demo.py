"""jaxpot's main job on its bundled data: fit a silicon GAP, test it, use it.

    jaxpot fit            (no arguments; --out DIR: where it writes, default jaxpot_out/)

Bundled data (``jaxpot/data``): 62 training configurations of the mlearn Si PBE set (all 12
surfaces and a random 50 of the AIMD, vacancy and elastic ones) and the whole 25-configuration
test split of Zuo et al., J. Phys. Chem. A 124, 731 (2020), materialsvirtuallab/mlearn
(BSD-3-Clause).  The job fits energies, forces and virials with jaxpot's default settings,
prints test errors next to the published GAP (trained there on all 214 configurations),
relaxes diamond Si and computes C11/C12/C44 and phonons at Γ, X and L with the fitted GAP.
Everything it writes goes into one folder, ``jaxpot_out/`` unless ``--out DIR`` names
another: the model ``si_gap.jaxpot``, its posterior factors ``si_gap.posterior.npz`` (for
:func:`jaxpot.gap.predictive_std`; the largest file) and the report ``si_gap_report/``
(errors, parity plots, properties).  ``--output MODEL`` puts the model elsewhere, with its
posterior and report beside it, as for any fit.  The job ends with the list of what it wrote
and the size of each file.
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np

_log = logging.getLogger(__name__)

#: Zuo et al. 2020, Table 2 (GAP, Si test split): MAE energy meV/atom, forces eV/Å
PUBLISHED_GAP_SI = {"energy_mae_mev": 2.91, "force_mae": 0.07}
#: PBE C11, C12 (GPa) from the mlearn Elastic strain series (../shared/data README)
PBE_ELASTIC = {"C11": 152.8, "C12": 56.6}
#: CASTEP PW91 phonons (THz), GAP-18 testing framework, for context (another functional)
PW91_PHONONS = {"Gamma": [15.08], "X": [4.42, 12.03, 13.37], "L": [3.35, 11.13, 11.96, 14.29]}
#: the folder the main job writes into unless ``--out`` names another (ignored by git)
DEFAULT_OUT = "jaxpot_out"


def bundled(name: str) -> str:
    return os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", name)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB" if n >= 1e3 else f"{n} B"


def describe_outputs(paths) -> str:
    """Every file at or under ``paths`` (files, or folders walked in order) with its size, and
    the total: what a job wrote."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            for folder, subfolders, names in os.walk(path):
                subfolders.sort()
                files += [os.path.join(folder, name) for name in sorted(names)]
        elif os.path.isfile(path):
            files.append(path)
    sizes = [os.path.getsize(f) for f in files]
    width = max((len(f) for f in files), default=0)
    lines = [f"wrote {len(files)} files, {_size(sum(sizes))} in all:"]
    lines += [f"  {f:<{width}}  {_size(s):>8}" for f, s in zip(files, sizes, strict=True)]
    return "\n".join(lines)


def run_demo(output: str | None = None, progress: bool = True, echo=None,
             out: str = DEFAULT_OUT) -> dict:
    """The whole job; returns the numbers it printed (also written to the report).

    Writes into the folder ``out`` (created if missing): ``si_gap.jaxpot``, its posterior and
    ``si_gap_report/``.  ``output`` names the model file instead (its posterior and report go
    beside it)."""
    from ase.build import bulk

    from jaxpot.gap.config import FitJob
    from jaxpot.gap.pipeline import output_paths, run_job
    from jaxpot.gap.settings import GapSettings
    from jaxpot.properties import elastic_constants, phonons, relax
    from jaxpot.training.frames import read_frames
    echo = echo or _log.info
    train_file = bundled("si_mlearn_train_subset.extxyz")
    test_file = bundled("si_mlearn_test.extxyz")
    job = FitJob(GapSettings(), train_file, None)
    if output is None:
        os.makedirs(out, exist_ok=True)
        output = os.path.join(out, "si_gap.jaxpot")
    _log.info("reading training configurations from %s", train_file)
    result = run_job(job, output=output, test_files=[test_file], progress=progress,
                     frames=read_frames(train_file), echo=echo)
    test = result.errors[os.path.basename(test_file)]["overall"]
    echo(f"test MAE: energy {test['energy_mae']:.2f} meV/atom, forces "
         f"{test['force_mae']:.3f} eV/Å   (published GAP, 214 training configurations: "
         f"{PUBLISHED_GAP_SI['energy_mae_mev']} meV/atom, {PUBLISHED_GAP_SI['force_mae']} eV/Å)")

    model = result.fit.model
    _log.info("relaxing diamond Si (positions and cell) with the fitted GAP")
    relaxed = relax(model, bulk("Si", "diamond", a=5.43)).atoms
    a0 = float(relaxed.cell.cellpar()[0] * np.sqrt(2.0))
    _log.info("elastic constants of relaxed diamond Si (strain-stress fits)")
    c = elastic_constants(model, relaxed)
    echo(f"diamond Si: a = {a0:.4f} Å; C11 {c[0, 0]:.1f}, C12 {c[0, 1]:.1f}, C44 "
         f"{c[3, 3]:.1f} GPa   (PBE from the data: C11 {PBE_ELASTIC['C11']}, C12 "
         f"{PBE_ELASTIC['C12']})")
    _log.info("phonons of relaxed diamond Si (3x3x3 supercell; Gamma, X, L)")
    bands = phonons(model, relaxed, supercell=(3, 3, 3))
    freqs = np.asarray(bands.frequencies([[0, 0, 0], [0.5, 0, 0.5], [0.5, 0.5, 0.5]]))
    names = ("Gamma", "X", "L")
    for name, f in zip(names, freqs):
        echo(f"phonons at {name:5s} (THz): " + " ".join(f"{x:6.2f}" for x in f)
             + f"   (CASTEP PW91: {PW91_PHONONS[name]})")
    numbers = {"test": test, "published_gap": PUBLISHED_GAP_SI, "lattice_constant": a0,
               "elastic_constants_GPa": {"C11": float(c[0, 0]), "C12": float(c[0, 1]),
                                         "C44": float(c[3, 3])},
               "pbe_elastic_from_data": PBE_ELASTIC,
               "phonons_THz": {n: f.tolist() for n, f in zip(names, freqs)},
               "pw91_phonons_context": PW91_PHONONS}
    with open(os.path.join(result.report_dir, "properties.json"), "w") as fh:
        json.dump(numbers, fh, indent=1)
    echo(f"properties: {os.path.join(result.report_dir, 'properties.json')}")
    written = output_paths(result.model_path, result.report_dir)
    echo(describe_outputs([written["model file"], written["posterior file"],
                           written["report directory"]]))
    echo(f"({written['posterior file']} holds the fit's posterior factors, for "
         "jaxpot.gap.predictive_std's error bars; the model does not need it)")
    return numbers
