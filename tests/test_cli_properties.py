"""``jaxpot properties`` run as a user runs it, in a fresh process: properties.json holds the
numbers :mod:`jaxpot.properties` gives for the same relaxed structure (C_ij, Birch-Murnaghan
V0 E0 B0 B0', phonon frequencies at the high-symmetry points, QHA V(T) B(T) alpha(T)), the
plots and band/DOS data are written, the defaults (properties, supercell, folder) are the
documented ones, and a mistake is one line and exit 2.  Stillinger-Weber Si: the 2-atom cell
with a 2x2x2 phonon supercell, and the 8-atom cube."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest
from ase.build import bulk
from ase.io import read, write

from jaxpot import properties
from jaxpot.potentials import stillinger_weber

jax.config.update("jax_enable_x64", True)

TEMPERATURES = np.arange(0.0, 401.0, 100.0)
MESH = (6, 6, 6)
TOL = dict(rtol=1e-10, atol=1e-8)


def jaxpot(*args, cwd):
    """``jaxpot ARGS`` in a fresh Python process (the console script's entry point)."""
    return subprocess.run([sys.executable, "-c", "from jaxpot.cli import main; "
                           "raise SystemExit(main())", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Every property of 2-atom Si (a little off its lattice constant), by the command and by
    the library: (folder, properties.json, stdout, library results)."""
    folder = tmp_path_factory.mktemp("properties")
    write(folder / "si2.extxyz", bulk("Si", "diamond", a=5.46))
    result = jaxpot("properties", "sw", "si2.extxyz", "--elastic", "--eos", "--phonons",
                    "--bands", "--qha", "--supercell", "2x2x2", "--mesh", *MESH,
                    "--temperatures", "0:400:100", "--out", "props", cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    model = stillinger_weber()
    relaxed = properties.relax(model, read(folder / "si2.extxyz"), fmax=1e-4, smax=1e-4).atoms
    ph = properties.phonons(model, relaxed, (2, 2, 2))
    lib = dict(relaxed=relaxed, elastic=properties.elastic_tensors(model, relaxed),
               eos=properties.equation_of_state(model, relaxed), phonons=ph,
               qha=properties.quasi_harmonic(model, relaxed, (2, 2, 2), TEMPERATURES,
                                             np.linspace(-0.012, 0.012, 7), MESH))
    with open(folder / "props" / "properties.json") as f:
        data = json.load(f)
    return folder, data, result.stdout, lib


def test_relaxed_structure_and_elastic_constants(run):
    folder, data, out, lib = run
    relaxed = lib["relaxed"]
    assert data["relaxation"]["converged"] is True
    np.testing.assert_allclose(data["relaxation"]["cell_A"], relaxed.cell.array, **TOL)
    np.testing.assert_allclose(read(folder / "props" / "relaxed.extxyz").cell.array,
                               relaxed.cell.array, rtol=0, atol=1e-7)
    elastic = data["elastic"]
    assert elastic["voigt_order"] == "xx yy zz yz xz xy" and data["units"]["frequency"] == "THz"
    np.testing.assert_allclose(elastic["C_GPa"], lib["elastic"].relaxed, **TOL)
    np.testing.assert_allclose(elastic["C_clamped_ion_GPa"], lib["elastic"].clamped, **TOL)
    for name, value in lib["elastic"].moduli._asdict().items():
        assert elastic["moduli_GPa"][name] == pytest.approx(value, rel=1e-10)
    assert elastic["born_stable"] is True
    assert "C_ij (GPa, relaxed-ion" in out and "Born stable: yes" in out


def test_equation_of_state(run):
    folder, data, out, lib = run
    eos, expected = data["eos"], lib["eos"]
    for key, value in (("V0_A3", expected.v0), ("E0_eV", expected.e0), ("B0_GPa", expected.b0),
                       ("B0_prime", expected.b0_prime)):
        assert eos[key] == pytest.approx(value, rel=1e-10, abs=1e-8), key
    np.testing.assert_allclose(eos["energies_eV"], expected.energies, **TOL)
    assert 95 < eos["B0_GPa"] < 105  # Stillinger-Weber Si: 101.4 GPa
    assert f"B0 {expected.b0:.2f} GPa" in out


def test_phonon_frequencies_bands_and_dos(run):
    folder, data, out, lib = run
    ph, relaxed = lib["phonons"], lib["relaxed"]
    phonons = data["phonons"]
    assert phonons["supercell"] == [2, 2, 2] and phonons["band_path"] == "GXWKGLUWLK,UX"
    special = relaxed.cell.bandpath(npoints=0).special_points
    assert set(phonons["frequencies_THz"]) == set(special) == {"G", "X", "W", "K", "L", "U"}
    for label, frequencies in phonons["frequencies_THz"].items():
        np.testing.assert_allclose(phonons["q_points"][label], special[label], atol=1e-12)
        np.testing.assert_allclose(frequencies, ph.frequencies([special[label]])[0], **TOL)
    assert phonons["imaginary_modes"] == 0
    bandpath, bands = ph.band_structure("GXWKGLUWLK,UX", npoints=200)
    table = np.loadtxt(folder / "props" / "phonon_bands.dat")
    np.testing.assert_allclose(table[:, 1:], bands, rtol=0, atol=1e-7)
    grid, dos = ph.dos(MESH)
    np.testing.assert_allclose(np.loadtxt(folder / "props" / "phonon_dos.dat"),
                               np.column_stack([grid, dos]), rtol=0, atol=1e-7)
    for name in ("phonon_bands.png", "phonon_dos.png", "eos.png", "qha.png"):
        assert (folder / "props" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_quasi_harmonic(run):
    folder, data, out, lib = run
    qha, expected = data["qha"], lib["qha"]
    np.testing.assert_allclose(qha["temperatures_K"], TEMPERATURES)
    np.testing.assert_allclose(qha["volumes_A3"], expected.volumes, **TOL)
    np.testing.assert_allclose(qha["bulk_modulus_GPa"], expected.bulk_modulus, **TOL)
    np.testing.assert_allclose(qha["thermal_expansion_per_K"], expected.thermal_expansion,
                               rtol=1e-8, atol=1e-14)
    assert np.all(np.diff(qha["volumes_A3"]) > 0)  # Si (Stillinger-Weber) expands when heated
    assert "QHA at 300 K" in out


def test_defaults_on_the_8_atom_cube(run):
    """No property named: elastic, eos and phonons; the default supercell of the 5.43 Å cube
    is 2x2x2; the folder is <structure name>_properties; Gamma's optical modes are those of
    the 2-atom cell (the same crystal)."""
    folder, _, _, lib = run
    write(folder / "cube.extxyz", bulk("Si", "diamond", a=5.43, cubic=True))
    result = jaxpot("properties", "sw", "cube.extxyz", cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    with open(folder / "cube_properties" / "properties.json") as f:
        data = json.load(f)
    assert {"elastic", "eos", "phonons"} <= set(data) and "qha" not in data
    assert data["phonons"]["supercell"] == [2, 2, 2] and data["phonons"]["band_path"] == \
        "GXMGRX,MR"
    gamma = np.sort(data["phonons"]["frequencies_THz"]["G"])
    optical = lib["phonons"].frequencies([[0, 0, 0]])[0][-1]
    np.testing.assert_allclose(gamma[-3:], optical, rtol=1e-5)
    np.testing.assert_allclose(data["elastic"]["C_GPa"], lib["elastic"].relaxed, rtol=1e-5,
                               atol=1e-4)


@pytest.mark.parametrize("args, phrases", [
    (["missing.extxyz", "--phonons"], ["missing.extxyz", "no such file"]),
    (["si2.extxyz", "--phonons", "--supercell", "0", "2", "2"], ["--supercell", "0 2 2"]),
    (["si2.extxyz", "--bands", "--band-path", "GQX"], ["--band-path GQX", "'Q'", "G K L"]),
    (["si2.extxyz", "--qha", "--temperatures", "300"], ["--temperatures", "'300'"]),
], ids=["missing-structure", "bad-supercell", "bad-band-path", "one-temperature"])
def test_a_mistake_is_one_line_naming_it_and_exit_2(run, args, phrases):
    folder = run[0]
    result = jaxpot("properties", "sw", *args, "--out", "refused", cwd=folder)
    err = result.stderr.strip()
    assert result.returncode == 2, result.stdout + err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("jaxpot properties: error: ")
    for phrase in phrases:
        assert phrase in err, (phrase, err)
    assert not (folder / "refused").exists()  # refused before any work
