"""``jaxpot relax [STRUCTURE] [--model sw|MODEL] [--pressure GPa] [--output FILE]``: relax
positions and cell (FIRE, jitted); with no STRUCTURE, the bundled strained diamond-Si cell with
Stillinger-Weber.  Prints the energy, cell, lattice constant and stress."""

from __future__ import annotations

import logging
import os
import time

from jaxpot.commands._common import add_model_argument, bundled, load_model, write_structure

_log = logging.getLogger("jaxpot.cli")

NAME = "relax"
HELP = "relax positions and cell (FIRE, jitted)"
ORDER = 10


def arguments(p) -> None:
    p.add_argument("structure", nargs="?", help="structure file readable by ASE "
                   "(default: bundled strained diamond Si)")
    add_model_argument(p)
    p.add_argument("--pressure", type=float, default=0.0, help="target pressure, GPa")
    p.add_argument("--fmax", type=float, default=1e-4, help="force criterion, eV/Å")
    p.add_argument("--smax", type=float, default=1e-4, help="stress criterion, GPa")
    p.add_argument("--output", help="write the relaxed structure here (extxyz, cif, ...)")


def run(args) -> int:
    import numpy as np

    from jaxpot.io.paths import check_outputs
    from jaxpot.properties.relax import relax
    path = args.structure or bundled("si_diamond_strained.extxyz")
    check_outputs({"relaxed structure file": args.output},
                  {"structure file": path,
                   "model file": args.model if os.path.exists(args.model) else None})
    from jaxpot.training.frames import read_frames
    atoms = read_frames(path)[-1]  # the last structure, as ase.io.read; errors name the file
    model = load_model(args.model)
    _log.info(f"jaxpot relax: {len(atoms)} atoms ({atoms.get_chemical_formula()}) from {path}")
    _log.info(f"model: {model.name}, cutoff {model.cutoff:.4f} Å, target pressure "
              f"{args.pressure} GPa")
    _log.info(f"relaxing positions and cell (FIRE; fmax {args.fmax} eV/Å, smax {args.smax} "
              "GPa)")
    start = time.perf_counter()
    result = relax(model, atoms, fmax=args.fmax, smax=args.smax, pressure=args.pressure)
    elapsed = time.perf_counter() - start
    relaxed = result.atoms
    a, b, c, alpha, beta, gamma = relaxed.cell.cellpar()
    _log.info(f"converged: {result.converged} after {result.n_steps} FIRE steps "
              f"({elapsed:.1f} s)")
    _log.info(f"energy: {result.energy:.6f} eV  ({result.energy / len(relaxed):.6f} eV/atom)")
    _log.info(f"cell: a={a:.5f} b={b:.5f} c={c:.5f} Å  alpha={alpha:.3f} beta={beta:.3f} "
              f"gamma={gamma:.3f}°")
    if np.allclose([a, b, c], a, rtol=1e-6) and np.allclose([alpha, beta, gamma], 90, atol=1e-4):
        _log.info(f"lattice constant: {a:.5f} Å")
    s = result.stress_GPa
    _log.info("stress (GPa, Voigt xx yy zz yz xz xy): "
              + " ".join(f"{v:+.2e}" for v in (s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2],
                                               s[0, 1])))
    _log.info(f"max force: {np.linalg.norm(result.forces, axis=1).max():.2e} eV/Å")
    if args.output:
        write_structure(args.output, relaxed)
        _log.info(f"wrote {args.output}")
    return 0 if result.converged else 1
