"""``jaxpot properties MODEL STRUCTURE [--elastic] [--eos] [--phonons [--bands]] [--qha]
[--out DIR]``: material properties of a crystal by autodiff (:mod:`jaxpot.properties`).

The structure (its last frame) is relaxed first, positions and cell (FIRE, keeping its space
group; --no-relax for a relaxed one), then each property asked for (none asked: elastic, eos
and phonons):

- ``--elastic``: the relaxed-ion (and clamped-ion) elastic tensor C_ij in GPa, Voigt order xx
  yy zz yz xz xy, Voigt/Reuss/Hill bulk and shear moduli, Born stability.
- ``--eos``: an E(V) scan (±3 % linear strain, ions relaxed) fitted with Birch-Murnaghan: V0,
  E0, B0 (GPa), B0'; ``eos.png``.
- ``--phonons``: force constants of a supercell (--supercell; default: each lattice vector
  repeated to about 10 Å and twice the cutoff, e.g. 3x3x3 of diamond Si's 2-atom cell, 2x2x2
  of its 8-atom cube) and the frequencies (THz) at the high-symmetry points of the cell's
  standard path (ASE's ``cell.bandpath()``); ``--bands`` adds the band structure along that
  path (--band-path to choose another) and the DOS on a --mesh: ``phonon_bands.png``,
  ``phonon_dos.png`` and their data ``phonon_bands.dat``, ``phonon_dos.dat``.
- ``--qha``: the quasi-harmonic V(T), B(T) and linear thermal expansion over --temperatures
  (7 volumes within ±--qha-strain); ``qha.png``.

Everything goes into ``DIR`` (default ``<structure name>_properties``): ``properties.json``
(units in the keys and in its ``units`` table; rewritten after each property, so a later
failure keeps the earlier ones), ``relaxed.extxyz`` and the plots.  Phonons and QHA use the
cell as given: a conventional cell (8-atom Si) folds the bands, give the primitive one for
the textbook band structure.  Exit status 1 when the relaxation did not converge.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time

_log = logging.getLogger("jaxpot.cli")

NAME = "properties"
HELP = "elastic constants, equation of state, phonons (bands, DOS) and QHA of a crystal"
ORDER = 14

VOIGT = "xx yy zz yz xz xy"
UNITS = {"energy": "eV", "volume": "Å^3 (per cell unless the key says per atom)",
         "elastic constants, moduli, pressure, stress": "GPa", "frequency": "THz",
         "temperature": "K", "thermal expansion": "1/K (linear)", "length": "Å",
         "q-points": "fractional coordinates of the cell's reciprocal lattice (no 2π)"}


def arguments(p) -> None:
    p.add_argument("model", help="'sw' (Stillinger-Weber Si) or a jaxpot model file")
    p.add_argument("structure", help="crystal structure file readable by ASE (its last frame)")
    for name, text in (("elastic", "elastic constants C_ij (GPa) and moduli"),
                       ("eos", "equation of state: Birch-Murnaghan V0, E0, B0, B0'"),
                       ("phonons", "phonon frequencies at the high-symmetry points"),
                       ("bands", "phonon band structure and DOS plots (implies --phonons)"),
                       ("qha", "quasi-harmonic thermal expansion, V(T) and B(T)")):
        p.add_argument(f"--{name}", action="store_true", help=text)
    p.add_argument("--supercell", nargs="+", metavar="N", help="phonon/QHA supercell: N, "
                   "N N N or NxNxN (default: about 10 Å and twice the cutoff along each vector)")
    p.add_argument("--mesh", nargs="+", metavar="N", help="q-mesh of the DOS and QHA: N, N N N "
                   "or NxNxN (default 16)")
    p.add_argument("--band-path", dest="band_path", help="band path in ASE's labels, e.g. "
                   "GXWKGLUWLK,UX (default: the cell's standard path)")
    p.add_argument("--temperatures", default="0:1000:10", help="QHA temperatures, K: "
                   "START:STOP:STEP (STOP included) or a comma list (default 0:1000:10)")
    p.add_argument("--qha-strain", dest="qha_strain", type=float, default=0.012,
                   help="QHA: largest linear strain of the 7 scanned volumes (default 0.012)")
    p.add_argument("--fmax", type=float, default=1e-4, help="relaxation force criterion, eV/Å")
    p.add_argument("--smax", type=float, default=1e-4, help="relaxation stress criterion, GPa")
    p.add_argument("--no-relax", dest="no_relax", action="store_true",
                   help="use the structure as given (already relaxed)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: "
                   "<structure name>_properties)")


def grid(tokens, name: str) -> tuple[int, int, int] | None:
    """``N``, ``N N N`` or ``NxNxN`` as three positive integers; ValueError naming ``name``."""
    if tokens is None:
        return None
    text = " ".join(tokens).lower().replace("x", " ").replace(",", " ").split()
    try:
        values = [int(t) for t in text]
    except ValueError:
        values = []
    if len(values) == 1:
        values *= 3
    if len(values) != 3 or min(values) < 1:
        raise ValueError(f"{name} must be N, N N N or NxNxN with positive integers (e.g. "
                         f"{name} 2 2 2), got {' '.join(tokens)!r}")
    return tuple(values)


def temperatures(text: str):
    """START:STOP:STEP (STOP included) or a comma list, K: at least two, increasing, >= 0."""
    import numpy as np
    try:
        if ":" in text:
            start, stop, step = (float(v) for v in text.split(":"))
            if not step > 0:
                raise ValueError
            temps = np.arange(start, stop + 0.5 * step, step)
        else:
            temps = np.array([float(v) for v in text.split(",")])
    except ValueError:
        temps = None
    if temps is None or len(temps) < 2 or not np.all(np.isfinite(temps)) \
            or np.any(temps < 0) or np.any(np.diff(temps) <= 0):
        raise ValueError(f"--temperatures must be START:STOP:STEP (e.g. 0:1000:10) or a comma "
                         f"list of at least two increasing temperatures >= 0 K, got {text!r}")
    return temps


def default_supercell(atoms, cutoff: float, length: float = 10.0) -> tuple[int, int, int]:
    """Repetitions making each of the cell's heights (the distance between opposite faces) at
    least about ``length`` Å and at least twice ``cutoff``."""
    import numpy as np
    cell = atoms.cell.array
    volume = abs(np.linalg.det(cell))
    reps = []
    for i in range(3):
        height = volume / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3]))
        reps.append(max(1, round(length / height), int(np.ceil(2 * cutoff / height - 1e-9))))
    return tuple(reps)


def band_points(atoms, path: str | None):
    """(path, [labels in path order], {label: q}) of ``atoms``' cell; ValueError for a label
    the lattice does not have."""
    from ase.dft.kpoints import parse_path_string
    standard = atoms.cell.bandpath(npoints=0)
    path = path or standard.path
    labels = [k for segment in parse_path_string(path) for k in segment]
    unknown = [k for k in labels if k not in standard.special_points]
    if unknown:
        raise ValueError(f"--band-path {path}: this lattice has no point {unknown[0]!r} (its "
                         f"points: {' '.join(sorted(standard.special_points))}; standard path "
                         f"{standard.path})")
    order = list(dict.fromkeys(labels))
    return path, order, {k: standard.special_points[k] for k in order}


@contextlib.contextmanager
def _stage(what: str):
    """Log ``what``, then its time; Python warnings raised inside become log warnings."""
    import warnings
    _log.info(f"{what} ...")
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        yield
    for w in caught:
        if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning)):
            _log.warning(f"{what}: {w.message}")
    _log.debug(f"{what}: {time.perf_counter() - start:.1f} s")


def _plain(value):
    """JSON-ready: arrays to lists, NumPy scalars to Python, NaN and inf to None."""
    import math

    import numpy as np
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_text(value, indent: str = "") -> str:
    """JSON with one line per key and each list of numbers (a row) on one line."""
    import json
    inner = indent + " "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {_json_text(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return "[\n" + ",\n".join(inner + _json_text(v, inner) for v in value) + f"\n{indent}]"
    return json.dumps(value, ensure_ascii=False)


def _write_json(path: str, data: dict) -> None:
    from jaxpot.io.atomic_file import atomic_write
    with atomic_write(path, "w") as f:
        f.write(_json_text(_plain(data)) + "\n")


def _savetxt(path: str, data, header: str) -> None:
    import numpy as np

    from jaxpot.io.atomic_file import atomic_write
    with atomic_write(path, "w") as f:
        np.savetxt(f, data, fmt="%.8f", header=header)


def relaxation(model, atoms, fmax: float, smax: float, out: str):
    """(relaxed atoms, report); ``relaxed.extxyz`` written into ``out``."""
    import numpy as np

    from jaxpot.commands._common import write_structure
    from jaxpot.properties import relax
    result = relax(model, atoms, fmax=fmax, smax=smax)
    relaxed, n = result.atoms, len(atoms)
    write_structure(os.path.join(out, "relaxed.extxyz"), relaxed)
    cellpar = relaxed.cell.cellpar()
    s = result.stress_GPa
    _log.info(f"relaxed: converged {result.converged} after {result.n_steps} FIRE steps; "
              f"E {result.energy:.6f} eV ({result.energy / n:.6f} eV/atom), V "
              f"{relaxed.get_volume():.4f} Å^3, a b c " + " ".join(f"{x:.5f}" for x in cellpar[:3])
              + " Å, angles " + " ".join(f"{x:.3f}" for x in cellpar[3:]) + "°")
    return relaxed, {
        "converged": result.converged, "fire_steps": result.n_steps, "energy_eV": result.energy,
        "energy_per_atom_eV": result.energy / n, "volume_A3": relaxed.get_volume(),
        "cell_A": relaxed.cell.array, "cellpar_A_deg": cellpar,
        "stress_voigt_GPa": [s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]],
        "max_force_eV_per_A": float(np.linalg.norm(result.forces, axis=1).max()),
        "structure_file": "relaxed.extxyz"}


def elastic(model, relaxed) -> dict:
    from jaxpot.properties import elastic_tensors
    r = elastic_tensors(model, relaxed)
    m = r.moduli
    stress = float(abs(r.stress_GPa).max())
    if stress > 0.01:
        _log.warning(f"the structure is under stress (up to {stress:.3g} GPa): these are second "
                     "derivatives of the energy, not stress-strain coefficients; relax first")
    _log.info(f"C_ij (GPa, relaxed-ion, Voigt order {VOIGT}):")
    for row in r.relaxed:
        _log.info("  " + " ".join(f"{v:9.2f}" for v in row))
    _log.info(f"bulk modulus {m.bulk_hill:.2f} GPa, shear modulus {m.shear_hill:.2f} GPa (Hill; "
              f"Voigt {m.bulk_voigt:.2f}/{m.shear_voigt:.2f}, Reuss {m.bulk_reuss:.2f}/"
              f"{m.shear_reuss:.2f}); Born stable: {'yes' if r.stable else 'NO'}")
    return {"voigt_order": VOIGT, "C_GPa": r.relaxed, "C_clamped_ion_GPa": r.clamped,
            "moduli_GPa": dict(m._asdict()), "born_stable": r.stable,
            "stress_GPa": r.stress_GPa}


def eos(model, relaxed, out: str) -> dict:
    from jaxpot.commands._plots import eos_plot
    from jaxpot.properties import equation_of_state
    r = equation_of_state(model, relaxed)
    n = len(relaxed)
    eos_plot(os.path.join(out, "eos.png"), r, n)
    _log.info(f"Birch-Murnaghan: V0 {r.v0:.4f} Å^3 ({r.v0 / n:.4f} Å^3/atom), E0 {r.e0:.6f} eV "
              f"({r.e0 / n:.6f} eV/atom), B0 {r.b0:.2f} GPa, B0' {r.b0_prime:.3f}")
    return {"V0_A3": r.v0, "V0_per_atom_A3": r.v0 / n, "E0_eV": r.e0, "E0_per_atom_eV": r.e0 / n,
            "B0_GPa": r.b0, "B0_prime": r.b0_prime, "volumes_A3": r.volumes,
            "energies_eV": r.energies, "plot": "eos.png"}


def phonon_report(model, relaxed, supercell, band_path, bands: bool, mesh, out: str) -> dict:
    import numpy as np

    from jaxpot.commands._plots import band_plot, dos_plot
    from jaxpot.properties import phonons
    ph = phonons(model, relaxed, supercell)
    path, labels, points = band_points(relaxed, band_path)
    freqs = ph.frequencies(np.array([points[k] for k in labels]))
    for k, f in zip(labels, freqs):
        shown = " ".join(f"{v:.3f}" for v in f) if len(f) <= 12 else \
            f"{len(f)} modes, {f.min():.3f} to {f.max():.3f}"
        _log.info(f"  {k:>3} {np.round(points[k], 4).tolist()}: {shown} THz")
    real = freqs.copy()
    if "G" in labels:  # the three acoustic modes at Gamma are zero up to round-off
        g = labels.index("G")
        real[g, np.argsort(np.abs(real[g]))[:3]] = 0.0
    n_imaginary = int((real < -1e-3).sum())
    if n_imaginary:
        _log.warning(f"dynamically unstable: {n_imaginary} imaginary modes at the "
                     f"high-symmetry points (most negative {real.min():.4g} THz, shown negative)")
    report = {"supercell": supercell, "supercell_atoms": len(relaxed) * int(np.prod(supercell)),
              "band_path": path, "q_points": points,
              "frequencies_THz": dict(zip(labels, freqs)), "imaginary_modes": n_imaginary,
              "acoustic_sum_rule_eV_per_A2": ph.acoustic_sum_rule_violation()}
    if bands:
        bandpath, band_freqs = ph.band_structure(path, npoints=200)
        x, ticks, tick_labels = bandpath.get_linear_kpoint_axis()
        band_plot(os.path.join(out, "phonon_bands.png"), bandpath, band_freqs)
        _savetxt(os.path.join(out, "phonon_bands.dat"), np.column_stack([x, band_freqs]),
                 f"phonon bands along {path}: x (1/Å, ASE's linear axis), then frequencies THz\n"
                 + "labels " + " ".join(f"{s}={t:.6f}" for s, t in zip(tick_labels, ticks)))
        grid_thz, dos = ph.dos(mesh)
        dos_plot(os.path.join(out, "phonon_dos.png"), grid_thz, dos)
        _savetxt(os.path.join(out, "phonon_dos.dat"), np.column_stack([grid_thz, dos]),
                 f"phonon DOS, {'x'.join(map(str, mesh))} q-mesh, 0.1 THz Gaussian: "
                 "frequency THz, states/THz per cell")
        report.update(dos_mesh=mesh, band_plot="phonon_bands.png", dos_plot="phonon_dos.png",
                      band_data="phonon_bands.dat", dos_data="phonon_dos.dat")
        _log.info(f"band structure along {path} and DOS: phonon_bands.png, phonon_dos.png")
    return report


def qha(model, relaxed, supercell, temps, strain: float, mesh, out: str) -> dict:
    import numpy as np

    from jaxpot.commands._plots import qha_plot
    from jaxpot.properties import quasi_harmonic
    strains = np.linspace(-strain, strain, 7)
    r = quasi_harmonic(model, relaxed, supercell, temperatures=temps, strains=strains, mesh=mesh)
    n = len(relaxed)
    qha_plot(os.path.join(out, "qha.png"), r, n)
    t = 300.0 if temps[0] <= 300.0 <= temps[-1] else float(temps[-1])
    v, b, alpha = (float(np.interp(t, r.temperatures, y))
                   for y in (r.volumes, r.bulk_modulus, r.thermal_expansion))
    _log.info(f"QHA at {t:g} K: V {v:.4f} Å^3 ({v / n:.4f} Å^3/atom; {r.volumes[0]:.4f} at "
              f"{temps[0]:g} K), B {b:.2f} GPa, linear thermal expansion {alpha * 1e6:.3g}e-6/K")
    return {"temperatures_K": r.temperatures, "volumes_A3": r.volumes,
            "bulk_modulus_GPa": r.bulk_modulus, "thermal_expansion_per_K": r.thermal_expansion,
            "scan_strains": strains, "scan_volumes_A3": r.scan_volumes,
            "electronic_energies_eV": r.electronic_energies, "supercell": supercell,
            "mesh": mesh, "plot": "qha.png"}


def run(args) -> int:
    from jaxpot.commands._common import load_model
    from jaxpot.io.paths import check_outputs
    from jaxpot.training.frames import read_frames
    asked = {k: getattr(args, k) for k in ("elastic", "eos", "phonons", "qha")}
    asked["phonons"] = asked["phonons"] or args.bands
    if not any(asked.values()):
        asked.update(elastic=True, eos=True, phonons=True)
    supercell, mesh = grid(args.supercell, "--supercell"), grid(args.mesh, "--mesh") or (16,) * 3
    temps = temperatures(args.temperatures) if asked["qha"] else None
    if asked["qha"] and not 0 < args.qha_strain < 0.2:
        raise ValueError(f"--qha-strain must be a linear strain in (0, 0.2), got "
                         f"{args.qha_strain}")
    out = args.out or os.path.splitext(os.path.basename(args.structure))[0] + "_properties"
    check_outputs({"output folder": out},
                  {"structure file": args.structure,
                   "model file": args.model if os.path.exists(args.model) else None})
    if os.path.exists(out) and not os.path.isdir(out):
        raise FileExistsError(f"the output folder {out} is a file: choose another --out")
    atoms = read_frames(args.structure)[-1]
    if not all(atoms.pbc):
        raise ValueError(f"{args.structure}: properties need a crystal, periodic along all "
                         f"three lattice vectors (pbc {atoms.pbc.tolist()})")
    if asked["phonons"]:
        band_points(atoms, args.band_path)  # a bad --band-path: refused before any work
    model = load_model(args.model)
    os.makedirs(out, exist_ok=True)
    json_path = os.path.join(out, "properties.json")
    names = [k for k, v in asked.items() if v]
    _log.info(f"jaxpot properties: {len(atoms)} atoms ({atoms.get_chemical_formula()}) from "
              f"{args.structure}; model {model.name}; {', '.join(names)} -> {out}")
    report = {"structure": args.structure, "model": model.name,
              "formula": atoms.get_chemical_formula(), "n_atoms": len(atoms), "units": UNITS}
    converged = True
    if args.no_relax:
        relaxed = atoms
        report["relaxation"] = None
    else:
        with _stage(f"relaxing positions and cell (fmax {args.fmax} eV/Å, smax {args.smax} "
                    "GPa)"):
            relaxed, report["relaxation"] = relaxation(model, atoms, args.fmax, args.smax,
                                                              out)
        converged = report["relaxation"]["converged"]
    _write_json(json_path, report)
    if asked["elastic"]:
        with _stage("elastic constants"):
            report["elastic"] = elastic(model, relaxed)
        _write_json(json_path, report)
    if asked["eos"]:
        with _stage("equation of state (9 volumes, ±3 % linear strain, ions relaxed)"):
            report["eos"] = eos(model, relaxed, out)
        _write_json(json_path, report)
    supercell = supercell or default_supercell(relaxed, model.cutoff)
    if asked["phonons"]:
        n_super = len(relaxed) * supercell[0] * supercell[1] * supercell[2]
        with _stage(f"phonons ({'x'.join(map(str, supercell))} supercell, {n_super} atoms)"):
            report["phonons"] = phonon_report(model, relaxed, supercell, args.band_path,
                                                     args.bands, mesh, out)
        _write_json(json_path, report)
    if asked["qha"]:
        with _stage(f"quasi-harmonic approximation ({len(temps)} temperatures "
                    f"{temps[0]:g}-{temps[-1]:g} K, 7 volumes, "
                    f"{'x'.join(map(str, supercell))} supercell, {'x'.join(map(str, mesh))} "
                    "q-mesh)"):
            report["qha"] = qha(model, relaxed, supercell, temps, args.qha_strain, mesh,
                                       out)
        _write_json(json_path, report)
    _log.info(f"wrote {json_path}" + ("" if converged else
                                      " (the relaxation did not converge: exit status 1)"))
    return 0 if converged else 1
