"""GAP fits given what a careless user gives them (issue 67): each mistake is refused before
any work, naming the file, configuration, key and fix; nothing is fitted to numbers that
cannot mean what they say, and no input file is overwritten.

Tiny fits: three small mlearn Si surfaces (16, 16, 12 atoms) from the bundled data, one SOAP
setting throughout (so jit compiles one set of programs).
"""

import json
import os
from pathlib import Path

import jax
import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write

import jaxpot
from jaxpot import gap
from jaxpot.gap.config import ConfigError, parse_gap_fit, parse_toml
from jaxpot.gap.pipeline import run_job
from jaxpot.gap.uncertainty import PosteriorError, load_posterior, predictive_std, save_posterior
from jaxpot.io.paths import OutputOverwritesInputError
from jaxpot.structure import StructureError
from jaxpot.training.checkpoint import CheckpointError
from jaxpot.training.labels import LabelError, TrainingDataError

jax.config.update("jax_enable_x64", True)

DATA = Path(jaxpot.__file__).parent / "data" / "si_mlearn_train_subset.extxyz"
SOAP_LINE = "soap l_max=2 n_max=3 atom_sigma=0.5 zeta=4 cutoff=4.0 delta=0.8 n_sparse=10"
SIGMA = "default_sigma={0.005 0.1 0.05 0.0}"
SETTINGS = gap.GapSettings(soap=gap.SoapSettings(cutoff=4.0, n_max=3, l_max=2, zeta=4,
                                                 delta=0.8, n_sparse=10),
                           distance_2b=None, e0=-0.79, default_sigma=(0.005, 0.1, 0.05, 0.0))


@pytest.fixture(scope="module")
def frames():
    """Three small surfaces (config_type Surface), labels as calculator results and an
    info virial."""
    return [read(DATA, k) for k in (6, 7, 8)]


@pytest.fixture
def work(tmp_path, frames, monkeypatch):
    """A directory holding train.xyz (the frames), as the current directory."""
    write(tmp_path / "train.xyz", frames)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def fits(frames, tmp_path_factory):
    """Two fits of the same settings and shapes on other data, the first with a checkpoint
    (left in place: gap.fit removes none)."""
    path = str(tmp_path_factory.mktemp("ckpt") / "fit.ckpt.npz")
    first = gap.fit(frames, SETTINGS, progress=False, checkpoint=path)
    other = [a.copy() for a in frames]
    for a, b in zip(other, frames):
        a.rattle(0.02, seed=1)
        a.calc = SinglePointCalculator(a, energy=b.get_potential_energy() + 0.1,
                                       forces=b.get_forces())
        del a.info["virial"]
    second = gap.fit(other, SETTINGS, progress=False)
    return first, second, path


def _no_fit(monkeypatch):
    """Make any fit started by the pipeline fail the test: the check must come first."""
    from jaxpot.gap import pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("the fit started although an input was bad")
    monkeypatch.setattr(pipeline, "fit", refuse)


def _line(extra: str = "", soap: str = SOAP_LINE) -> str:
    return f"at_file=train.xyz gap={{{soap}}} e0=-0.79 {SIGMA} gp_file=si.jaxpot {extra}"


# ----------------------------------------------------------------------------------- labels
def test_a_zero_sigma_is_refused_like_a_negative_one(frames):
    """energy_sigma = 0 in a configuration's info (an infinite weight) was silently replaced
    by the default sigma; zero default or config_type sigmas are refused too."""
    bad = [a.copy() for a in frames]
    for a, b in zip(bad, frames):
        a.calc = b.calc
    bad[1].info["energy_sigma"] = 0.0
    with pytest.raises(TrainingDataError, match=r"train.xyz, configuration 1: energy sigma "
                       r"must be positive, got 0.0 \(info\['energy_sigma'\]"):
        gap.fit(bad, SETTINGS, source="train.xyz", progress=False)
    with pytest.raises(ConfigError, match="default_sigma.*positive"):
        parse_gap_fit(_line().replace(SIGMA, "default_sigma={0.0 0.1 0.05 0.0}"))
    with pytest.raises(ConfigError, match="config_type_sigma for 'Surface'.*positive"):
        parse_gap_fit(_line("config_type_sigma={Surface:0.01:0.0:0.1:0.0}"))


def test_stresses_in_gpa_are_refused_naming_file_and_configuration(work, frames):
    """A file whose stresses are GPa numbers (ASE reads eV/Å^3: 10 GPa becomes 1602 GPa), or
    whose virial was made from them, is refused as a unit mistake, naming the file and the
    configuration."""
    in_gpa = []
    for a in frames:
        b = a.copy()
        del b.info["virial"]  # labels: energy, forces and the stress in the file
        b.calc = SinglePointCalculator(b, energy=a.get_potential_energy(),
                                       forces=a.get_forces(), stress=a.get_stress() / units.GPa)
        in_gpa.append(b)
    in_gpa[2].calc.results["stress"] = np.array([-10.0, -8.0, -9.0, 0.1, 0.0, 0.0])
    write("gpa.xyz", in_gpa)
    with pytest.raises(LabelError, match=r"gpa.xyz, configuration 2: stress \('stress'\): "
                       r"stress label of 10 eV/Å\^3 = 1602 GPa.*ase.units.GPa"):
        gap.fit(read("gpa.xyz", ":"), SETTINGS, source="gpa.xyz", progress=False)
    virials = [a.copy() for a in frames]
    for a, b in zip(virials, frames):
        a.calc = b.calc
    virials[1].info["virial"] = 10.0 * virials[1].get_volume() * np.eye(3)
    write("virial.xyz", virials)
    with pytest.raises(LabelError, match=r"virial.xyz, configuration 1: -virial / volume: "
                       r"stress label of 10 eV/Å\^3"):
        gap.fit(read("virial.xyz", ":"), SETTINGS, source="virial.xyz", progress=False)


def test_a_stress_of_five_components_is_named(frames):
    bad = [a.copy() for a in frames]  # copies carry no calculator: labels from info only
    for a, b in zip(bad, frames):
        a.info.update(energy=b.get_potential_energy(), dft_stress=np.ones(6) * 1e-3)
        del a.info["virial"]
    bad[1].info["dft_stress"] = np.ones(5) * 1e-3
    settings = SETTINGS.replace(names=gap.LabelNames(stress="dft_stress"))
    with pytest.raises(TrainingDataError, match=r"data.xyz, configuration 1: stress "
                       r"\('dft_stress'\) has 5 components, expected 6 .* or 9"):
        gap.fit(bad, settings, source="data.xyz", progress=False)


def test_a_label_name_matching_nothing_is_refused(work):
    """energy_parameter_name=dft_energy on a file without that key fell back silently to the
    calculator's energies; a config_type_sigma key no frame has (Bulk for bulk) was ignored."""
    job = parse_gap_fit(_line("energy_parameter_name=dft_energy"))
    with pytest.raises(LabelError, match=r"train.xyz: the energy \(energy_parameter_name\) "
                       r"label name 'dft_energy' matches nothing"):
        run_job(job, progress=False, echo=lambda *_: None)
    job = parse_gap_fit(_line("config_type_sigma={surface:0.01:0.2:0.1:0.0}"))
    with pytest.raises(TrainingDataError, match=r"train.xyz: config_type_sigma names "
                       r"\['surface'\], which no training configuration has \(config_types: "
                       r"\['Surface'\]"):
        run_job(job, progress=False, echo=lambda *_: None)
    assert not os.path.exists("si.jaxpot")


# ------------------------------------------------------------------------------- settings
@pytest.mark.parametrize("change, key", [
    ("cutoff=4.0", "cutoff=abc"), ("n_sparse=10", "n_sparse=ten"), ("l_max=2", "l_max=2.5")])
def test_text_where_a_number_belongs_names_the_key(change, key):
    name, value = key.split("=")
    with pytest.raises(ConfigError, match=rf"soap {name} must be a (whole )?number, got "
                       rf"'?{value}"):
        parse_gap_fit(_line(soap=SOAP_LINE.replace(change, key)))


def test_bad_top_level_values_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"default_sigma=\{a b c d\}: 'a' is not a number"):
        parse_gap_fit(_line().replace(SIGMA, "default_sigma={a b c d}"))
    with pytest.raises(ConfigError, match=r"e0 names 'Xx', which is not an element"):
        parse_gap_fit(_line().replace("e0=-0.79", "e0={Si:-0.79:Xx:-1.0}"))
    with pytest.raises(ConfigError, match="sigma_per_atom must be T or F"):
        parse_gap_fit(_line("sigma_per_atom=maybe"))
    toml = tmp_path / "fit.toml"
    toml.write_text('at_file = "train.xyz"\ndefault_sigma = ["a", 0.1, 0.05, 0]\n'
                    'sigma_per_atom = "false"\n[soap]\ncutoff = 4.0\n')
    with pytest.raises(ConfigError, match=r"fit.toml: default_sigma: 'a' is not a number"):
        parse_toml(str(toml))
    toml.write_text('at_file = "train.xyz"\nsigma_per_atom = "no"\n[soap]\ncutoff = 4.0\n')
    with pytest.raises(ConfigError, match="fit.toml: sigma_per_atom must be T or F"):
        parse_toml(str(toml))
    toml.write_text('e0 = {Si = -0.79, si = -0.79}\n[soap]\ncutoff = 4.0\n')
    with pytest.raises(ConfigError, match="e0 names 'si'.*case-sensitive"):
        parse_toml(str(toml))
    with pytest.raises(ValueError, match="soap cutoff must be a number, got '5'"):
        gap.SoapSettings(cutoff="5")


def test_two_soap_descriptors_are_refused_not_merged():
    """gap_fit fits one term per descriptor; jaxpot fits one SOAP term, so a second one is
    refused rather than silently dropped."""
    soap2 = SOAP_LINE.replace("cutoff=4.0", "cutoff=3.0")
    with pytest.raises(ConfigError, match="has 2 soap descriptors.*Keep one soap"):
        parse_gap_fit(_line(soap=f"{SOAP_LINE} : {soap2}"))
    two_b = "distance_2b cutoff=4.0 theta_uniform=1.0 n_sparse=5"
    with pytest.raises(ConfigError, match="has 2 distance_2b descriptors"):
        parse_gap_fit(_line(soap=f"{SOAP_LINE} : {two_b} : {two_b}"))


def _cli_failure(args: list[str], capsys) -> str:
    """The message of a failing ``jaxpot`` command (an exception, an exit or stderr)."""
    from jaxpot.cli import main
    try:
        rc = main(args)
    except SystemExit as err:
        assert err.code not in (0, None)
        return str(err.code) + capsys.readouterr().err
    except ValueError as err:
        return str(err)
    assert rc != 0
    return capsys.readouterr().err


def test_an_xml_gp_file_writes_the_model_file_and_the_xml(work, capsys):
    """gap_fit's gp_file=small.xml (refused before the XML writer existed) writes the model
    file small.jaxpot and the GAP XML small.xml, and says so; both predict the same."""
    from jaxpot.cli import main
    from jaxpot.gap.xml_reader import read_gap_xml
    assert main(["fit", "--gap-fit", _line().replace("gp_file=si.jaxpot",
                                                     "gp_file=small.xml")]) == 0
    out = capsys.readouterr().out
    assert "gp_file=small.xml: writing the jaxpot model file small.jaxpot and the GAP XML " \
           "small.xml" in out
    frames = read("train.xyz", ":")[:1]
    a = jaxpot.predict(jaxpot.load("small.jaxpot"), frames)
    b = jaxpot.predict(read_gap_xml("small.xml"), frames)
    assert np.array_equal(a.energy, b.energy) and np.array_equal(a.forces[0], b.forces[0])
    assert not list(work.glob("**/.*.tmp"))


# ---------------------------------------------------------------------------------- inputs
def test_a_bad_test_file_is_refused_before_the_fit(work, frames, monkeypatch):
    """A test file without labels, or with a species the training data lacks, is reported
    before the fit, which would otherwise be lost when the report fails."""
    _no_fit(monkeypatch)
    bare = [a.copy() for a in frames]  # no calculator, no info labels
    for a in bare:
        del a.info["virial"]
    write("bare.xyz", bare)
    job = parse_gap_fit(_line())
    with pytest.raises(TrainingDataError, match=r"bare.xyz\[0\]: no energy"):
        run_job(job, test_files=["bare.xyz"], progress=False, echo=lambda *_: None)
    carbon = bulk("C", "diamond", a=3.57)
    carbon.calc = SinglePointCalculator(carbon, energy=-18.0, forces=np.zeros((2, 3)))
    write("carbon.xyz", carbon)
    with pytest.raises(TrainingDataError, match=r"carbon.xyz, configuration 0: species "
                       r"Z=\[6\] do not occur in the training data"):
        run_job(job._replace(validation_file="carbon.xyz"), progress=False,
                echo=lambda *_: None)
    assert not os.path.exists("si.jaxpot") and not os.path.exists("si_report")


@pytest.mark.parametrize("role", ["output", "report"])
def test_an_output_that_is_an_input_is_refused(work, capsys, monkeypatch, role):
    """``jaxpot fit --gap-fit ... --output <at_file>`` overwrote the training data."""
    _no_fit(monkeypatch)
    before = (work / "train.xyz").read_bytes()
    write("test.xyz", read("train.xyz", ":"))
    target = "train.xyz" if role == "output" else "test.xyz"
    job = parse_gap_fit(_line())
    kwargs = {"output": target} if role == "output" else {"report_dir": "./test.xyz"}
    with pytest.raises(OutputOverwritesInputError, match=f"is the (training|test) file "
                       f".*{target}"):
        run_job(job, test_files=["test.xyz"], progress=False, echo=lambda *_: None, **kwargs)
    message = _cli_failure(["fit", "--quiet", "--gap-fit", _line(), "--output", "./train.xyz"],
                           capsys)
    assert "train.xyz" in message and "destroy" in message
    assert (work / "train.xyz").read_bytes() == before


def test_outputs_that_cannot_be_written_are_refused_before_the_fit(work, monkeypatch):
    _no_fit(monkeypatch)
    job = parse_gap_fit(_line())
    with pytest.raises(FileNotFoundError, match="missing, which does not exist"):
        run_job(job, output="missing/si.jaxpot", progress=False, echo=lambda *_: None)
    (work / "notes").write_text("mine")
    with pytest.raises(FileExistsError, match="report directory notes is a file"):
        run_job(job, report_dir="notes", progress=False, echo=lambda *_: None)
    assert (work / "notes").read_text() == "mine"


def test_gap_fits_own_label_names_reach_the_error_report(work, frames):
    """With energy_parameter_name=dft_energy force_parameter_name=dft_forces
    virial_parameter_name=dft_virial the fit worked and the report died; the report reads
    labels by the job's names.  An XML gp_file with an explicit --output is fine."""
    from jaxpot.cli import main
    renamed = [a.copy() for a in frames]  # no calculator: labels only under gap_fit's names
    for a, b in zip(renamed, frames):
        a.info["dft_energy"] = b.get_potential_energy()
        a.arrays["dft_forces"] = b.get_forces()
        a.info["dft_virial"] = a.info.pop("virial")
    write("train.xyz", renamed)
    write("test.xyz", renamed[:1])
    line = _line("energy_parameter_name=dft_energy force_parameter_name=dft_forces "
                 "virial_parameter_name=dft_virial").replace("gp_file=si.jaxpot",
                                                               "gp_file=si.xml")
    assert main(["fit", "--quiet", "--gap-fit", line, "--output", "si.jaxpot",
                 "--test", "test.xyz"]) == 0
    errors = json.loads((work / "si_report" / "errors.json").read_text())
    counts = [errors[k]["overall"] for k in ("train", "test.xyz")]
    assert [c["n_energy"] for c in counts] == [3, 1] == [c["n_stress"] for c in counts]
    assert counts[1]["n_force_atoms"] == len(renamed[0])
    assert not list(work.glob("**/.*.tmp"))
    model = jaxpot.load("si.jaxpot")
    post = load_posterior("si.posterior.npz", model)
    assert np.all(predictive_std(model, post, renamed[:1]).energy > 0)


def test_a_cutoff_below_the_nearest_neighbour_is_refused(work):
    """A SOAP cutoff of 2 Å in silicon (nearest neighbour 2.2-2.4 Å) fitted a model with zero
    forces; a distance_2b term that sees no neighbour likewise."""
    frames = read("train.xyz", ":")
    settings = SETTINGS.replace(soap=gap.SoapSettings(cutoff=2.0, n_max=3, l_max=2,
                                                      cutoff_transition_width=0.5))
    with pytest.raises(ConfigError, match=r"train.xyz: the soap cutoff 2 Å sees no neighbour "
                       r"in any training configuration \(the shortest interatomic distance "
                       r"found is 2\.\d+ Å"):
        gap.fit(frames, settings, source="train.xyz", progress=False)
    settings = SETTINGS.replace(distance_2b=gap.TwoBodySettings(cutoff=1.5))
    with pytest.raises(ConfigError, match="the distance_2b cutoff 1.5 Å sees no neighbour"):
        gap.fit(frames, settings, source="train.xyz", progress=False)


# ------------------------------------------------------------------------------ checkpoints
@pytest.mark.parametrize("correct", ["energy", "forces", "virial", "config_type", "sigma"])
def test_a_checkpoint_is_refused_once_its_labels_are_corrected(fits, frames, correct):
    """A fit resumed after a label was corrected must not continue from the rows built on the
    wrong one: the checkpoint names labels as what differs."""
    _, _, path = fits
    again = gap.fit(frames, SETTINGS, progress=False, checkpoint=path)  # same data: resumes
    assert again.n_observations == fits[0].n_observations
    fixed = [a.copy() for a in frames]
    for a, b in zip(fixed, frames):
        a.calc = b.calc
    if correct == "energy":
        fixed[1].info["energy"] = frames[1].get_potential_energy() + 0.01
    elif correct == "forces":
        fixed[2].arrays["forces"] = frames[2].get_forces() * 0.99
    elif correct == "virial":
        fixed[0].info["virial"] = frames[0].info["virial"] * 1.01
    elif correct == "config_type":
        fixed[0].info["config_type"] = "Surface-relaxed"
    else:
        fixed[0].info["energy_sigma"] = 0.01
    with pytest.raises(CheckpointError, match="the labels differ from the run that "
                       "wrote it"):
        gap.fit(fixed, SETTINGS, progress=False, checkpoint=path)
    with pytest.raises(CheckpointError, match="the settings differ"):
        gap.fit(frames, SETTINGS.replace(sparse_jitter=1e-6), progress=False, checkpoint=path)


# ------------------------------------------------------------------------------ uncertainty
def test_another_fits_posterior_is_refused(fits, frames, tmp_path):
    """Two fits of the same shapes: the second's posterior with the first's model gave
    standard deviations off by 100 %; in memory and from files it is refused."""
    first, second, _ = fits
    assert first.posterior[0].shape == second.posterior[0].shape
    own = predictive_std(first.gap, first.posterior, frames[:1])
    with pytest.raises(PosteriorError, match="belongs to another fit"):
        predictive_std(first.gap, second.posterior, frames[:1])
    jaxpot.save(first.model, tmp_path / "a.jaxpot")
    save_posterior(str(tmp_path / "a.posterior.npz"), first.posterior)
    save_posterior(str(tmp_path / "b.posterior.npz"), second.posterior)
    loaded = jaxpot.load(tmp_path / "a.jaxpot")
    again = predictive_std(loaded, load_posterior(str(tmp_path / "a.posterior.npz")), frames[:1])
    np.testing.assert_allclose(again.energy, own.energy, rtol=1e-10)
    with pytest.raises(PosteriorError, match="b.posterior.npz belongs to another fit"):
        load_posterior(str(tmp_path / "b.posterior.npz"), loaded)
    with pytest.raises(PosteriorError, match="belongs to another fit"):
        predictive_std(loaded, load_posterior(str(tmp_path / "b.posterior.npz")), frames[:1])


def test_a_species_the_model_never_saw_is_refused(fits):
    """Carbon in a silicon GAP got a zero force std ("certain"); it is refused as
    jaxpot.predict refuses it."""
    first = fits[0]
    with pytest.raises(StructureError, match=r"frames\[0\].*C \(Z=6\)"):
        predictive_std(first.gap, first.posterior, [bulk("C", "diamond", a=3.57)])


def test_a_file_of_the_wrong_kind_is_not_a_posterior(fits, tmp_path):
    jaxpot.save(fits[0].model, tmp_path / "m.jaxpot")
    (tmp_path / "r.npz").write_bytes(os.urandom(256))
    (tmp_path / "e.json").write_text(json.dumps({"kmm_factor": [[1.0]]}))
    np.save(tmp_path / "one.npy", np.eye(2))
    for name, what in (("m.jaxpot", "a jaxpot model file"), ("r.npz", "not an .npz"),
                       ("e.json", "not an .npz"), ("one.npy", "a single .npy array")):
        with pytest.raises(PosteriorError, match=rf"{name}: not a GAP posterior.*{what}.*"
                           r"posterior.npz"):
            load_posterior(str(tmp_path / name))


# -------------------------------------------------------------------------- paths as frames
def test_paths_instead_of_structures_are_named(fits):
    with pytest.raises(TypeError, match=r"frames\[0\] is str 'a.xyz', not ase.Atoms.*read it "
                       r"with ase.io.read"):
        gap.fit(["a.xyz"], SETTINGS, progress=False)
    with pytest.raises(TypeError, match=r"got str 'a.xyz'"):
        gap.fit("a.xyz", SETTINGS, progress=False)
    first = fits[0]
    with pytest.raises(TypeError, match=r"frames\[0\] is str"):
        predictive_std(first.gap, first.posterior, ["a.xyz"])
    with pytest.raises(PosteriorError, match="is a path: load it with"):
        predictive_std(first.gap, "a.posterior.npz", [])
