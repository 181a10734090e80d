"""jaxpot's main job on its bundled data: fit a silicon GAP, test it, use it.

    jaxpot fit            (no arguments)

Bundled data (``jaxpot/data``): 62 training configurations of the mlearn Si PBE set (all 12
surfaces and a random 50 of the AIMD, vacancy and elastic ones) and the whole 25-configuration
test split of Zuo et al., J. Phys. Chem. A 124, 731 (2020), materialsvirtuallab/mlearn
(BSD-3-Clause).  The job fits energies, forces and virials with jaxpot's default settings,
prints test errors next to the published GAP (trained there on all 214 configurations),
relaxes diamond Si and computes C11/C12/C44 and phonons at Γ, X and L with the fitted GAP,
and writes the model and a report (errors, parity plots, properties) to ``--output``'s
directory.
"""

from __future__ import annotations

import json
import os

import numpy as np

#: Zuo et al. 2020, Table 2 (GAP, Si test split): MAE energy meV/atom, forces eV/Å
PUBLISHED_GAP_SI = {"energy_mae_mev": 2.91, "force_mae": 0.07}
#: PBE C11, C12 (GPa) from the mlearn Elastic strain series (../shared/data README)
PBE_ELASTIC = {"C11": 152.8, "C12": 56.6}
#: CASTEP PW91 phonons (THz), GAP-18 testing framework, for context (another functional)
PW91_PHONONS = {"Gamma": [15.08], "X": [4.42, 12.03, 13.37], "L": [3.35, 11.13, 11.96, 14.29]}


def bundled(name: str) -> str:
    return os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", name)


def run_demo(output: str = "si_gap.jaxpot", progress: bool = True, echo=print) -> dict:
    """The whole job; returns the numbers it printed (also written to the report)."""
    from ase.build import bulk

    from jaxpot.gap.config import FitJob
    from jaxpot.gap.pipeline import read_frames, run_job
    from jaxpot.gap.settings import GapSettings
    from jaxpot.properties import elastic_constants, phonons, relax
    train_file = bundled("si_mlearn_train_subset.extxyz")
    test_file = bundled("si_mlearn_test.extxyz")
    job = FitJob(GapSettings(), train_file, None)
    result = run_job(job, output=output, test_files=[test_file], progress=progress,
                     frames=read_frames(train_file), echo=echo)
    test = result.errors[os.path.basename(test_file)]["overall"]
    echo(f"test MAE: energy {test['energy_mae']:.2f} meV/atom, forces "
         f"{test['force_mae']:.3f} eV/Å   (published GAP, 214 training configurations: "
         f"{PUBLISHED_GAP_SI['energy_mae_mev']} meV/atom, {PUBLISHED_GAP_SI['force_mae']} eV/Å)")

    model = result.fit.model
    relaxed = relax(model, bulk("Si", "diamond", a=5.43)).atoms
    a0 = float(relaxed.cell.cellpar()[0] * np.sqrt(2.0))
    c = elastic_constants(model, relaxed)
    echo(f"diamond Si: a = {a0:.4f} Å; C11 {c[0, 0]:.1f}, C12 {c[0, 1]:.1f}, C44 "
         f"{c[3, 3]:.1f} GPa   (PBE from the data: C11 {PBE_ELASTIC['C11']}, C12 "
         f"{PBE_ELASTIC['C12']})")
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
    return numbers
