"""Potential files and electrostatics given the wrong thing, as a careless user would (issue 67):
files of another LAMMPS style with the same layout, binary / empty / JSON files, files of the
wrong EAM form, mlip-2 files whose blocks do not fit the header, SNAP variants jaxpot does not
implement, unknown element symbols, and a charged cell for an Ewald sum.  Each must raise a
clear error naming the file (or argument) and the thing to fix."""

import os
import re
import shutil

import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk
from lammps_reference import potentials_dir

from jaxpot.electrostatics import NonNeutralCellError, check_model_neutral, environment_charges
from jaxpot.neighbors import allocate_for_model
from jaxpot.potentials import (
    coulomb,
    eam,
    ewald,
    lennard_jones,
    morse,
    mtp,
    pme,
    read_mtp,
    snap,
    stillinger_weber,
    tersoff,
    write_mtp,
)
from jaxpot.potentials.mlip_mtp import MtpFileError

POT = potentials_dir()


def pot(name: str) -> str:
    return os.path.join(POT, name)


# ------------------------------------------------------------ files of another LAMMPS style
@pytest.mark.parametrize("reader,name,style", [
    (tersoff, "SiC.gw", "gw"),
    (tersoff, "SiC.gw.zbl", "gw/zbl"),
    (tersoff, "Si.tersoff.mod", "tersoff/mod"),
    (tersoff, "Si.tersoff.modc", "tersoff/mod/c"),
    (tersoff, "SiC.tersoff.zbl", "tersoff/zbl"),
    (tersoff, "InP.vashishta", "vashishta"),
    (stillinger_weber, "tmd.sw.mod", "sw/mod"),
    (stillinger_weber, "SiGeH.sw.quip", "quip"),
    (stillinger_weber, "MOH.nb3b.harmonic", "nb3b/harmonic"),
    (eam, "Ni.adp", "adp"),
    (eam, "PdHHe.eam.he", "eam/he"),
    (eam, "FeCr.cdeam", "eam/cd"),
])
def test_a_file_of_another_style_is_refused_naming_its_style(reader, name, style):
    with pytest.raises(ValueError) as err:
        reader(pot(name))
    message = str(err.value)
    assert name in message and f"pair_style {style} file" in message
    assert f"jaxpot.potentials.{reader.__name__}" in message  # which reader, which style


def test_a_gw_file_renamed_in_a_project_folder_is_still_refused(tmp_path):
    """The user's own copy of a Gao-Weber file: same 17-field layout as a .tersoff entry."""
    mine = tmp_path / "my_SiC.gw"
    shutil.copy(pot("SiC.gw"), mine)
    with pytest.raises(ValueError, match=r"pair_style gw file \(Gao-Weber.*pair_style tersoff"):
        tersoff(str(mine))


def test_a_file_for_the_other_three_body_reader_names_the_right_reader():
    with pytest.raises(ValueError, match=r"Si\.tersoff.*read it with jaxpot\.potentials\.tersoff"):
        stillinger_weber(pot("Si.tersoff"))
    with pytest.raises(ValueError, match=r"read it with jaxpot\.potentials\.stillinger_weber"):
        tersoff(pot("Si.sw"))
    with pytest.raises(ValueError, match=r"read it with jaxpot\.potentials\.tersoff"):
        eam(pot("Si.tersoff"))


# ------------------------------------------------------- binary, empty and JSON files
def _readers(tmp_path):
    """(name the user gave the file, call reading it) for every file reader."""
    coeff, param = pot("Ta06A.snapcoeff"), pot("Ta06A.snapparam")
    return [("Si.tersoff", lambda p: tersoff(p)), ("Si.sw", lambda p: stillinger_weber(p)),
            ("Cu.eam", lambda p: eam(p)), ("CuNi.eam.alloy", lambda p: eam(p)),
            ("FeCr.eam.fs", lambda p: eam(p)), ("Cu.txt", lambda p: eam(p, form="setfl")),
            ("Ta.snapcoeff", lambda p: snap(p, param)), ("Ta.snapparam", lambda p: snap(coeff, p)),
            ("pot.mtp", lambda p: read_mtp(p, ["Si"]))]


def test_random_bytes_are_refused_as_binary_naming_the_file(tmp_path):
    rng = np.random.default_rng(0)
    for name, read in _readers(tmp_path):
        path = tmp_path / name
        path.write_bytes(rng.bytes(4000))
        with pytest.raises(ValueError, match=re.escape(str(path)) + ".*binary data"):
            read(str(path))


def test_empty_files_are_refused_naming_the_file(tmp_path):
    for name, read in _readers(tmp_path):
        path = tmp_path / name
        path.write_text("")
        with pytest.raises(ValueError, match=re.escape(str(path))) as err:
            read(str(path))
        assert "empty" in str(err.value) or "first line must be 'MTP'" in str(err.value)


def test_json_files_are_refused_naming_the_file(tmp_path):
    """A JSON file under the reader's usual name, and one under its own name."""
    for name, read in _readers(tmp_path):
        path = tmp_path / name
        path.write_text('{"elements": ["Si"], "A": 1830.8}\n')
        with pytest.raises(ValueError, match=re.escape(str(path))):
            read(str(path))
    path = tmp_path / "pot.json"
    path.write_text('{"elements": ["Si"]}\n')
    for read in (tersoff, stillinger_weber, eam):
        with pytest.raises(ValueError, match=r"pot\.json.*JSON file"):
            read(str(path))


def test_an_eam_file_read_as_another_form_is_refused_naming_the_form():
    with pytest.raises(ValueError, match=r"Cu_mishin1\.eam\.alloy.*read as funcfl.*setfl"):
        eam(pot("Cu_mishin1.eam.alloy"), form="funcfl")
    with pytest.raises(ValueError, match=r"AlFe_mm\.eam\.fs.*read as setfl.*name says fs"):
        eam(pot("AlFe_mm.eam.fs"), form="setfl")
    with pytest.raises(ValueError, match=r"CuNi\.eam\.alloy.*read as fs"):
        eam(pot("CuNi.eam.alloy"), form="fs")
    with pytest.raises(ValueError, match="form must be 'funcfl', 'setfl' or 'fs'"):
        eam(pot("Cu_u3.eam"), form="alloy")


def test_an_adp_file_renamed_as_setfl_is_refused_for_its_extra_tables(tmp_path):
    """ADP = setfl tables + u(r), w(r): the extra tables follow the last setfl table."""
    renamed = tmp_path / "Ni.eam.alloy"
    shutil.copy(pot("Ni.adp"), renamed)
    with pytest.raises(ValueError, match=re.escape(str(renamed)) + r".*values follow the last "
                                         r"table.*not setfl"):
        eam(str(renamed))


# -------------------------------------------------------------- mlip-2 .mtp block sizes
@pytest.fixture(scope="module")
def mtp_text(tmp_path_factory):
    path = tmp_path_factory.mktemp("mtp") / "good.mtp"
    model = mtp(["Si", "Ge"], 8, 5.0, 1.8, radial_basis_size=6)
    rng = np.random.default_rng(1)
    net = dict(model.params["net"], xi=jnp.asarray(rng.normal(size=model.params["net"]["xi"]
                                                              .shape)))
    write_mtp(model.replace(params=dict(model.params, net=net)), path)
    read_mtp(path, ["Si", "Ge"])  # the unedited file loads
    return path.read_text()


def _drop_first(text: str, key: str) -> str:
    """The file with the first value of ``key = {...}`` removed (a block one short)."""
    return re.sub(rf"({key} = \{{)[^,}}]*, ", r"\1", text, count=1)


def _edit_first_row(text: str, pair: str, edit) -> str:
    lines = text.splitlines()
    k = lines.index(f"\t\t{pair}") + 1
    lines[k:k + 1] = [x for x in [edit(lines[k])] if x is not None]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("edit,match", [
    (lambda t: _drop_first(t, "species_coeffs"),
     "species_coeffs has 1 values, expected species_count = 2"),
    (lambda t: t.replace("species_coeffs = {", "species_coeffs = {0.25, "),
     "species_coeffs has 3 values, expected species_count = 2"),
    (lambda t: _drop_first(t, "moment_coeffs"),
     r"moment_coeffs has \d+ values, expected alpha_scalar_moments = \d+"),
    (lambda t: re.sub(r"min_dist = \S+", "min_dist = 7.5", t),
     r"0 <= min_dist < max_dist \(Å\), got min_dist = 7.5, max_dist = 5.0"),
    (lambda t: re.sub(r"radial_basis_size = \d+", "radial_basis_size = 0", t),
     "radial_basis_size must be an integer >= 1, got 0"),
    (lambda t: _edit_first_row(t, "0-1", lambda row: re.sub(r", [^,]*\}$", "}", row)),
     "radial_coeffs 0-1 row 0 has 5 values, expected radial_basis_size = 6"),
    (lambda t: re.sub(r"radial_basis_size = \d+", "radial_basis_size = 7", t),
     "radial_coeffs 0-0 row 0 has 6 values, expected radial_basis_size = 7"),
    (lambda t: _edit_first_row(t, "1-0", lambda row: None),
     r"radial_coeffs 1-0 has \d+ rows, expected radial_funcs_count = \d+"),
    (lambda t: re.sub(r"alpha_scalar_moments = (\d+)",
                      lambda m: f"alpha_scalar_moments = {int(m[1]) + 1}", t),
     r"alpha_moment_mapping has \d+ entries, the header declares alpha_scalar_moments"),
    (lambda t: re.sub(r"alpha_moments_count = (\d+)",
                      lambda m: f"alpha_moments_count = {int(m[1]) - 3}", t),
     r"names moment \d+, outside 0\.\.\d+ \(alpha_moments_count"),
    (lambda t: re.sub(r"alpha_index_basic_count = (\d+)",
                      lambda m: f"alpha_index_basic_count = {int(m[1]) - 1}", t),
     r"alpha_index_basic has \d+ entries, the header declares alpha_index_basic_count"),
])
def test_mtp_blocks_that_do_not_fit_the_header_are_refused(tmp_path, mtp_text, edit, match):
    path = tmp_path / "edited.mtp"
    path.write_text(edit(mtp_text))
    with pytest.raises(MtpFileError, match=re.escape(str(path)) + ".*" + match):
        read_mtp(path, ["Si", "Ge"])


# ------------------------------------------------------------ SNAP variants and keywords
@pytest.mark.parametrize("line", ["chemflag 1", "bnormflag 1", "wselfallflag 1",
                                  "switchinnerflag 1"])
def test_snap_variants_jaxpot_does_not_implement_are_refused(tmp_path, line):
    param = tmp_path / "Ta.snapparam"
    param.write_text(open(pot("Ta06A.snapparam")).read() + line + "\n")
    key = line.split()[0]
    with pytest.raises(ValueError, match=rf"{re.escape(str(param))}, line \d+: {key} = 1 is not "
                                         r"supported.*cannot evaluate"):
        snap(pot("Ta06A.snapcoeff"), str(param))


def test_snap_keyword_mistakes_and_swapped_files_are_named(tmp_path):
    param = tmp_path / "Ta.snapparam"
    base = open(pot("Ta06A.snapparam")).read()
    param.write_text(base + "rcutfack 4.7\n")
    with pytest.raises(ValueError, match=r"unknown SNAP keyword 'rcutfack'.*rcutfac"):
        snap(pot("Ta06A.snapcoeff"), str(param))
    param.write_text(base + "twojmax 8\n")
    with pytest.raises(ValueError, match=r"twojmax is given twice"):
        snap(pot("Ta06A.snapcoeff"), str(param))
    param.write_text(base + "chunksize 2048\n")  # a LAMMPS performance setting: harmless
    assert snap(pot("Ta06A.snapcoeff"), str(param)).cutoff > 0
    with pytest.raises(ValueError, match=r"coefficient file given as the parameter file"):
        snap(pot("Ta06A.snapparam"), pot("Ta06A.snapcoeff"))
    with pytest.raises(ValueError, match=r"Ta06A\.snap: .*input snippet"):
        snap(pot("Ta06A.snap"), pot("Ta06A.snapparam"))


# ---------------------------------------------------------------- unknown element symbols
@pytest.mark.parametrize("build", [
    lambda: tersoff(pot("SiC.tersoff"), species=["Xx"]),
    lambda: stillinger_weber(species=["Xx"]),
    lambda: lennard_jones(1.0, 0.01, 3.0, species=["Si", "Xx"]),
    lambda: morse(species=["Xx"]),
    lambda: mtp(["Xx"], 6),
    lambda: snap(pot("Ta06A.snapcoeff"), pot("Ta06A.snapparam"), species=["Xx"]),
    lambda: ewald({"Xx": 1.0, "Cl": -1.0}),
    lambda: pme({"Na": 1.0, "Xx": -1.0}),
    lambda: coulomb({"Xx": 0.4}),
    lambda: environment_charges(["Na", "Xx"]),
])
def test_an_unknown_element_symbol_is_named(build):
    with pytest.raises(ValueError, match="unknown element symbol 'Xx'"):
        build()


def test_element_mistakes_are_named_not_keyerrors(tmp_path, mtp_text):
    (tmp_path / "pot.mtp").write_text(mtp_text)
    with pytest.raises(ValueError, match="unknown element symbol 'Xx'"):
        read_mtp(tmp_path / "pot.mtp", ["Xx", "Si"])
    with pytest.raises(ValueError, match=r"list of elements.*got the string 'SiC'"):
        tersoff(pot("SiC.tersoff"), species="SiC")
    with pytest.raises(ValueError, match=r"unknown element symbol 'si' \(did you mean 'Si'\?\)"):
        stillinger_weber(species=["si"])
    with pytest.raises(ValueError, match=r"species \['Ge'\] are not in the file"):
        tersoff(pot("SiC.tersoff"), species=["Ge"])
    with pytest.raises(ValueError, match=r"charges: the element of 'Na' is given twice"):
        ewald({"Na": 1.0, 11: -1.0})
    with pytest.raises(ValueError, match=r"charges: atomic number 0 is outside 1\.\.118"):
        ewald({0: 1.0, "Cl": -1.0})
    with pytest.raises(ValueError, match=r"the charge of 'Na' must be finite .*got 'one'"):
        ewald({"Na": "one", "Cl": -1.0})


# ------------------------------------------------------------------------ charged cells
def _rocksalt():
    return bulk("NaCl", "rocksalt", a=5.64, cubic=True)


def test_a_charged_cell_raises_nonneutralcellerror_itself_on_the_host():
    """Before a jitted evaluation (the calculator, predict, MD call it), and from the energy
    function evaluated outside jit: the error is the user's ``NonNeutralCellError``."""
    atoms = _rocksalt()
    charges = {"Na": 1.0, "Cl": -0.75}
    for model in (ewald(charges), pme(charges), 0.5 * ewald(charges),
                  lennard_jones(3.0, 0.01, 6.0) + ewald(charges)):
        with pytest.raises(NonNeutralCellError, match=r"not neutral: net charge \+1 e"):
            check_model_neutral(model, atoms.numbers)
    check_model_neutral(ewald(charges, neutralize=True), atoms.numbers)
    check_model_neutral(ewald({"Na": 1.0, "Cl": -1.0}), atoms.numbers)
    batch = np.stack([atoms.numbers, np.r_[atoms.numbers[:5], np.zeros(3, int)]])
    with pytest.raises(NonNeutralCellError, match=r"structure 1 of the batch"):
        check_model_neutral(ewald({"Na": 1.0, "Cl": -1.0}), batch)
    model = ewald(charges)
    nbrs = allocate_for_model(model, atoms.positions, atoms.cell.array, atoms.pbc)
    with pytest.raises(NonNeutralCellError, match="neutralize=True"):
        model.energy(jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
                     jnp.asarray(atoms.numbers), nbrs)


def test_a_charged_cell_reaches_every_entry_point_as_nonneutralcellerror():
    """The calculator, predict, MD and relax: ``except NonNeutralCellError`` catches it (no
    JaxRuntimeError from the in-jit callback)."""
    from jaxpot import JaxpotCalculator, md, predict
    from jaxpot.properties import relax
    atoms = _rocksalt()
    model = ewald({"Na": 1.0, "Cl": -0.75}, accuracy=1e-6, r_cut=6.0)
    with pytest.raises(NonNeutralCellError, match="neutralize=True"):
        atoms.calc = JaxpotCalculator(model)
        atoms.get_potential_energy()
    atoms.calc = None
    with pytest.raises(NonNeutralCellError, match=r"frames\[0\]|not neutral"):
        predict(model, [atoms])
    with pytest.raises(NonNeutralCellError):
        md.run(md.nve(model, 1.0), atoms, 2, temperature=300)
    with pytest.raises(NonNeutralCellError):
        relax(model, atoms)
