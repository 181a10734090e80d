"""The ``jaxpot`` command as a user meets it: one line for a mistake (no traceback unless
``--verbose``), no output that overwrites an input, every input read before the work starts,
and the version pyproject declares.  Reference for the version: pyproject.toml itself."""

import os
import subprocess
import sys
import tomllib

import pytest
from ase.build import bulk
from ase.io import write

from jaxpot.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_version_is_the_one_pyproject_declares(capsys):
    """pyproject reads the version from jaxpot/_version.py (one place); the installed
    metadata, ``jaxpot.__version__`` and ``jaxpot --version`` all say it."""
    from importlib.metadata import version

    import jaxpot
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"]["attr"] == \
        "jaxpot._version.__version__"
    declared = jaxpot.__version__
    assert version("jaxpot") == declared
    with open(os.path.join(ROOT, "CITATION.cff")) as f:
        assert f"version: {declared}\n" in f.read()  # the citation file follows it
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"jaxpot {declared}"


def _one_line_error(capsys, *phrases) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for phrase in phrases:
        assert phrase in err, (phrase, err)
    return err


def test_an_output_that_is_an_input_is_refused_and_the_input_kept(tmp_path, capsys):
    """relax --output <its own structure file>, evaluate --json <the test file>: exit 2 with
    one line naming both roles; the input's bytes are unchanged."""
    structure = tmp_path / "si.extxyz"
    atoms = bulk("Si", "diamond", a=5.5)
    atoms.calc = None
    write(structure, atoms)
    before = structure.read_bytes()
    assert main(["relax", str(structure), "--output", str(structure)]) == 2
    _one_line_error(capsys, "relaxed structure file", "is the structure file")
    assert main(["evaluate", "model.jaxpot", str(structure), "--json",
                 str(tmp_path / "." / "si.extxyz")]) == 2
    _one_line_error(capsys, "JSON report", "test file")
    assert structure.read_bytes() == before


def test_missing_and_bad_files_are_named_before_any_work(tmp_path, capsys):
    """A missing model file, and a bad second test file: named in one line, and nothing was
    evaluated before the bad file was found."""
    import jaxpot
    from jaxpot.potentials import stillinger_weber
    model = tmp_path / "sw.jaxpot"
    jaxpot.save(stillinger_weber(), model)
    good = tmp_path / "good.extxyz"
    atoms = bulk("Si", "diamond", a=5.43)
    atoms.info["energy"] = -8.0
    write(good, atoms)
    (tmp_path / "bad.extxyz").write_bytes(os.urandom(300))
    assert main(["evaluate", str(tmp_path / "nope.jaxpot"), str(good)]) == 2
    _one_line_error(capsys, "nope.jaxpot")
    assert main(["evaluate", str(model), str(good), str(tmp_path / "bad.extxyz")]) == 2
    out = capsys.readouterr()
    assert "bad.extxyz" in out.err and out.out == ""  # no table before the refusal


def test_nan_pressure_and_verbose(capsys):
    """A NaN target pressure is named (it used to come back as "check the structure and the
    model" after a NaN relaxation); --verbose shows the traceback instead of one line."""
    assert main(["relax", "--pressure", "nan"]) == 2
    _one_line_error(capsys, "pressure must be a finite number")
    with pytest.raises(ValueError, match="pressure"):
        main(["relax", "--pressure", "nan", "--verbose"])


def test_every_command_computes_in_float64(monkeypatch):
    """One policy: every command runs with float64 on whatever the caller's JAX setting
    (``train --float32`` opts out), and the caller gets its setting back."""
    import jax

    from jaxpot import cli
    seen = {}
    for name in cli.COMMANDS:
        monkeypatch.setitem(cli.COMMANDS, name, lambda args: seen.setdefault(
            (args.command, getattr(args, "float32", False)), jax.config.jax_enable_x64) and 0)
    argvs = (["relax"], ["fit"], ["evaluate", "m", "f"], ["train", "c"], ["train", "c",
                                                                       "--float32"])
    jax.config.update("jax_enable_x64", False)
    try:
        for argv in argvs:
            assert main(argv) == 0
            assert not jax.config.jax_enable_x64
    finally:
        jax.config.update("jax_enable_x64", True)
    assert seen == {("relax", False): True, ("fit", False): True, ("evaluate", False): True,
                    ("train", False): True, ("train", True): False}


def test_evaluate_writes_predicted_extxyz_parity_plots_and_errors(tmp_path, capsys):
    """``jaxpot evaluate MODEL FILE --out DIR`` writes, per file, the structures with their
    reference labels and jaxpot's predictions (read back = ``jaxpot.predict`` to the digits
    extxyz keeps) and parity plots, and errors.json = --json's."""
    import json

    import numpy as np
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import read

    import jaxpot
    from jaxpot.potentials import stillinger_weber
    model = stillinger_weber()
    jaxpot.save(model, tmp_path / "sw.jaxpot")
    frames = []
    for k, a0 in enumerate((5.40, 5.46)):
        atoms = bulk("Si", "diamond", a=a0, cubic=True)
        atoms.rattle(0.05, seed=k)
        atoms.calc = SinglePointCalculator(atoms, energy=-34.0 - k, forces=np.zeros((8, 3)),
                                           stress=np.zeros(6))
        atoms.info["config_type"] = f"bulk{k}"
        frames.append(atoms)
    write(tmp_path / "labelled.extxyz", frames)
    run = subprocess.run([sys.executable, "-m", "jaxpot.cli", "evaluate",  # a fresh shell
                          str(tmp_path / "sw.jaxpot"), str(tmp_path / "labelled.extxyz"),
                          "--out", str(tmp_path / "ev"), "--json", str(tmp_path / "errors.json")],
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    assert "E MAE" in run.stdout
    back = read(tmp_path / "ev" / "labelled_predicted.extxyz", ":")
    expected = jaxpot.predict(model, frames)
    for i, atoms in enumerate(back):
        assert atoms.get_potential_energy() == -34.0 - i  # the reference label is kept
        assert abs(atoms.info["jaxpot_energy"] - expected.energy[i]) < 1e-6
        np.testing.assert_allclose(atoms.arrays["jaxpot_forces"], expected.forces[i],
                                   atol=1e-7)
        np.testing.assert_allclose(atoms.info["jaxpot_stress"], expected.stress[i], atol=1e-9)
        np.testing.assert_allclose(atoms.arrays["jaxpot_energies"], expected.energies[i],
                                   atol=1e-7)
    for quantity in ("energy", "forces", "stress"):
        assert (tmp_path / "ev" / f"labelled_{quantity}.png").stat().st_size > 0
    assert json.loads((tmp_path / "ev" / "errors.json").read_text()) == \
        json.loads((tmp_path / "errors.json").read_text())


def test_relax_writes_a_binary_trajectory_format(tmp_path):
    """``--output x.traj`` (ASE's binary trajectory) is written, and reads back relaxed."""
    from ase.io import read
    assert main(["relax", "--output", str(tmp_path / "relaxed.traj"), "--quiet"]) == 0
    atoms = read(tmp_path / "relaxed.traj")
    assert len(atoms) > 0 and abs(atoms.cell.cellpar()[0] - atoms.cell.cellpar()[1]) < 1e-6
