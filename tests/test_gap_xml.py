"""jaxpot.gap.xml_reader.read_gap_xml against QUIP/GAP itself.

Reference: quippy-ase 0.10.3.  Each GAP is fitted inside the test with its ``gap_fit``
(a few configurations, small n_max/l_max/n_sparse: ~2 s each) and evaluated with
``quippy.potential.Potential(param_filename=...)`` on held-out rattled structures.

Tolerances: the distance_2b alphas reach 1e5..1e6 eV with cancelling signs, so rounding
differences of ~1e-16 (relative) between QUIP's and jaxpot's arithmetic become ~1e-10 after
the cancellation.  Measured maxima (``rnd_seed=1``, so the fits are reproducible): SOAP only
7.6e-15 relative energy, 3.1e-13 eV/Å forces, 1.8e-15 eV/Å^3 stress; with distance_2b up to
3.1e-11, 8.5e-10 and 1.5e-11.  The tolerances keep a factor >= 10 above that.
"""

import re
import subprocess
from pathlib import Path

import ase.io
import jax
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.lj import LennardJones
from ase.calculators.singlepoint import SinglePointCalculator

import jaxpot
from jaxpot.gap.xml_reader import read_gap_xml

jax.config.update("jax_enable_x64", True)

DATA = Path(__file__).parents[1].parent / "shared" / "data"
SOAP = ("soap l_max=4 n_max=4 atom_sigma=0.5 zeta=4 cutoff=4.5 cutoff_transition_width=0.5 "
        "delta=1.0 n_sparse=30 covariance_type=dot_product sparse_method=cur_points")
TWO_B = ("distance_2b cutoff=4.0 covariance_type=ard_se theta_uniform=1.0 delta=0.5 "
         "n_sparse=10 sparse_method=uniform")
RTOL_E, ATOL_F, ATOL_S = 1e-9, 1e-8, 1e-9



def sic_frames(seeds, label: bool) -> list:
    """Rattled, strained 2x2x2 zincblende SiC cells (64 atoms), LJ-labelled if ``label``."""
    frames = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        atoms = bulk("SiC", "zincblende", a=4.36).repeat((2, 2, 2))
        atoms.set_cell(atoms.cell * (1 + 0.03 * rng.standard_normal()), scale_atoms=True)
        atoms.rattle(0.15, seed=seed)
        if label:  # any consistent numbers will do as labels
            atoms.calc = LennardJones(sigma=2.0, epsilon=0.1, rc=4.5)
            energy, forces = atoms.get_potential_energy(), atoms.get_forces()
            atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        frames.append(atoms)
    return frames


def gap_fit(directory: Path, at_file: str, gap: str, e0: str, extra: tuple = ()) -> Path:
    """Run quippy-ase 0.10.3's gap_fit; return the written XML's path."""
    args = ["gap_fit", *extra, f"at_file={at_file}", "energy_parameter_name=energy",
            "force_parameter_name=forces", "virial_parameter_name=none", f"gap={{{gap}}}",
            "default_sigma={0.01 0.1 0.05 0.0}", f"e0={e0}", "rnd_seed=1", "gp_file=gp.xml"]
    run = subprocess.run(args, cwd=directory, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return directory / "gp.xml"


@pytest.fixture(scope="module")
def gaps(tmp_path_factory) -> dict:
    """{name: (xml path, held-out structures)} for the three GAPs, fitted once."""
    si = ase.io.read(DATA / "mlearn_Si_PBE.extxyz", ":")
    held_out = [si[k].copy() for k in (100, 180)]
    for k, atoms in enumerate(held_out):
        atoms.calc = None
        atoms.rattle(0.05, seed=k)
    out = {}
    inline = ("sparse_separate_file=F",)  # sparse points inside the XML
    for name, frames, gap, e0, tests, extra in (
            ("Si soap", si[:6], SOAP, "-0.79", held_out, ()),
            ("Si soap+2b", si[:6], f"{TWO_B} : {SOAP}", "-0.79", held_out, ()),
            ("Si soap+2b inline", si[:6], f"{TWO_B} : {SOAP}", "-0.79", held_out[:1], inline),
            ("SiC soap+2b", sic_frames(range(5), True), f"{TWO_B} : {SOAP}",
             "{C:-1.5:Si:-0.79}", sic_frames((11, 12), False), ())):
        directory = tmp_path_factory.mktemp(name.replace(" ", "_").replace("+", "_"))
        ase.io.write(directory / "train.xyz", frames)
        out[name] = (gap_fit(directory, "train.xyz", gap, e0, extra), tests)
    return out


def quippy_reference(xml: Path, frames) -> tuple:
    """Energies (eV), forces (eV/Å), Voigt stress (eV/Å^3) from quippy's Potential."""
    from quippy.potential import Potential
    pot = Potential(param_filename=str(xml))
    energy, forces, stress = [], [], []
    for atoms in frames:
        atoms = atoms.copy()
        atoms.calc = pot
        energy.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
        stress.append(atoms.get_stress())
    return np.array(energy), forces, np.array(stress)


@pytest.mark.parametrize("name", ["Si soap", "Si soap+2b", "Si soap+2b inline", "SiC soap+2b"])
def test_matches_quippy_potential(gaps, name):
    """Reference: quippy-ase 0.10.3 ``Potential(param_filename=gp.xml)`` on structures not
    in the training set: energy, forces and stress."""
    xml, frames = gaps[name]
    assert ("sparseX_filename" in xml.read_text()) != name.endswith("inline")
    model = read_gap_xml(str(xml))
    pred = jaxpot.predict(model, frames)
    energy, forces, stress = quippy_reference(xml, frames)
    np.testing.assert_allclose(pred.energy, energy, rtol=RTOL_E, atol=0)
    for mine, ref in zip(pred.forces, forces):
        np.testing.assert_allclose(mine, ref, rtol=0, atol=ATOL_F)
    np.testing.assert_allclose(pred.stress, stress, rtol=0, atol=ATOL_S)


def test_two_species_layout(gaps):
    """gap_fit (quippy-ase 0.10.3) writes species_Z in order of appearance ({14 6}); the
    reader sorts by Z: SOAP centres (C, Si) with 30 points each, 2b pairs CC, CSi, SiSi, and
    e0 per species in the SOAP term only."""
    xml, _ = gaps["SiC soap+2b"]
    assert "species_Z={14 6 }" in xml.read_text()
    model = read_gap_xml(str(xml))
    soap_params, pair_params = model.params
    assert model.species == (6, 14)
    np.testing.assert_array_equal(soap_params["e0"], [-1.5, -0.79])
    assert soap_params["sparse"].shape == (60, 2 * 4 * (2 * 4 + 1) // 2 * 5 + 1)
    assert pair_params["sparse"].shape == (3, 10)
    np.testing.assert_array_equal(pair_params["e0"], [0.0, 0.0])


def test_save_load_round_trip(gaps, tmp_path):
    """jaxpot.save / jaxpot.load of a read GAP gives bit-identical predictions."""
    xml, frames = gaps["SiC soap+2b"]
    model = read_gap_xml(str(xml))
    jaxpot.save(model, tmp_path / "gap.jaxpot")
    again = jaxpot.load(tmp_path / "gap.jaxpot")
    a, b = jaxpot.predict(model, frames[:1]), jaxpot.predict(again, frames[:1])
    np.testing.assert_array_equal(a.energy, b.energy)
    np.testing.assert_array_equal(a.forces[0], b.forces[0])
    np.testing.assert_array_equal(a.stress, b.stress)


@pytest.mark.parametrize("old, new, match", [
    ('covariance_type="2"', 'covariance_type="4"', "covariance_type"),
    (" soap l_max=4", " soap radial_basis=GTO l_max=4", "radial_basis"),
    (" soap l_max=4", " soap Z_mix=T l_max=4", "z_mix"),
    (" soap l_max=4", " soap cutoff_dexp=2 cutoff_rate=0.5 l_max=4", "cutoff_dexp"),
    ('zeta="4.0000000000000000"', 'zeta="3.5"', "zeta"),
    ('signal_mean=".00000000000000000E+000"', 'signal_mean="0.1"', "signal_mean"),
    ("distance_2b cutoff=4.0", "distance_2b tail_exponent=2 cutoff=4.0", "tail_exponent"),
    ('init_args="IP GAP', 'init_args="Sum init_args_pot1={IP Glue} init_args_pot2={IP GAP',
     "core"),
])
def test_unsupported_option_is_a_clear_error(gaps, old, new, match):
    """Options jaxpot's terms do not reproduce give a ValueError naming file and option."""
    xml, _ = gaps["Si soap+2b"]
    text = xml.read_text()
    assert old in text
    edited = xml.with_name("edited.xml")  # next to the sparseX files it refers to
    edited.write_text(text.replace(old, new, 1))
    with pytest.raises(ValueError, match=match) as err:
        read_gap_xml(str(edited))
    assert "edited.xml" in str(err.value)


def test_sparse_file_checksum(gaps):
    """A sparseX file that does not match the XML's recorded md5 sum is rejected."""
    xml, _ = gaps["Si soap"]
    text = xml.read_text()
    md5 = re.search(r'sparseX_md5sum="([0-9a-f]{32})"', text).group(1)
    edited = xml.with_name("edited.xml")
    edited.write_text(text.replace(md5, "0" * 32))
    with pytest.raises(ValueError, match="md5"):
        read_gap_xml(str(edited))


@pytest.mark.parametrize("content, match", [("<foo><bar/></foo>", "not a GAP XML"),
                                            ("energy = 1.0 eV\n", "not an XML")])
def test_not_a_gap_file(tmp_path, content, match):
    """A file that is not GAP XML is a ValueError, not a crash deep in the parser."""
    path = tmp_path / "model.xml"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        read_gap_xml(str(path))
