"""``jaxpot md`` run as a user runs it, in a fresh process: its trajectory, thermo log and
final structure equal :func:`jaxpot.md.run`'s with the same settings and seed; a run stopped
at its checkpoint and run again to the full count equals one uninterrupted run; a TOML config
gives the same run as the options, which override it; a mistake is one line and exit 2.
Stillinger-Weber Si, 8 atoms, tens of steps."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from ase.build import bulk
from ase.io import read, write

from jaxpot import md
from jaxpot.potentials import stillinger_weber

jax.config.update("jax_enable_x64", True)

STEPS, EVERY = 40, 10
LANGEVIN = dict(temperature=500.0, friction=0.02, seed=7)


def jaxpot(*args, cwd):
    """``jaxpot ARGS`` in a fresh Python process (the console script's entry point)."""
    return subprocess.run([sys.executable, "-c", "from jaxpot.cli import main; "
                           "raise SystemExit(main())", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder with si.extxyz (8 atoms, rattled) and the structure as read back."""
    folder = tmp_path_factory.mktemp("md")
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.02, seed=1)
    write(folder / "si.extxyz", atoms)
    return folder, read(folder / "si.extxyz")


@pytest.fixture(scope="module")
def api_langevin(work):
    """The Python API's Langevin run: result and the frames of its trajectory."""
    folder, atoms = work
    model = stillinger_weber()
    integrator = md.langevin(model, 1.0, LANGEVIN["temperature"], LANGEVIN["friction"])
    result = md.run(integrator, atoms, STEPS, temperature=LANGEVIN["temperature"],
                    seed=LANGEVIN["seed"], log_interval=EVERY,
                    trajectory=folder / "api.extxyz", progress=False)
    return result, read(folder / "api.extxyz", ":")


def langevin_args(**files):
    args = ["md", "sw", "si.extxyz", "--integrator", "langevin", "--temperature",
            LANGEVIN["temperature"], "--friction", LANGEVIN["friction"], "--seed",
            LANGEVIN["seed"], "--log-interval", EVERY]
    for key, value in files.items():
        args += [f"--{key}", value]
    return args


def check_same_run(folder, prefix, api):
    """The CLI's trajectory, log and final structure (``prefix``.*) equal the API run's."""
    result, frames = api
    cli_frames = read(folder / f"{prefix}.extxyz", ":")
    assert len(cli_frames) == len(frames) == STEPS // EVERY + 1
    for ours, theirs in zip(cli_frames, frames):
        np.testing.assert_array_equal(ours.positions, theirs.positions)
        np.testing.assert_array_equal(ours.get_momenta(), theirs.get_momenta())
    final = read(folder / f"{prefix}.traj")  # binary: full precision
    np.testing.assert_allclose(final.positions, result.atoms.positions, rtol=0, atol=1e-12)
    np.testing.assert_allclose(final.get_momenta(), result.atoms.get_momenta(), rtol=0,
                               atol=1e-12)
    table = np.loadtxt(folder / f"{prefix}.log")
    log = result.log
    columns = [log.step, log.time, log.potential_energy, log.kinetic_energy, log.total_energy,
               log.conserved_energy, log.temperature, log.pressure, log.volume]
    np.testing.assert_allclose(table, np.column_stack(columns), rtol=0, atol=2e-9)


def test_langevin_run_equals_the_api_run(work, api_langevin):
    """Same seed, same settings: identical frames, log rows and final positions/momenta; the
    run reports ns/day and writes what it says."""
    folder, _ = work
    out = ok(jaxpot(*langevin_args(trajectory="cli.extxyz", log="cli.log", output="cli.traj"),
                    "--steps", STEPS, cwd=folder)).stdout
    check_same_run(folder, "cli", api_langevin)
    assert "Maxwell-Boltzmann at 500 K" in out and "ns/day" in out
    assert "wrote the final structure cli.traj" in out


def test_a_run_resumed_from_its_checkpoint_equals_an_uninterrupted_one(work, api_langevin):
    """--steps 20 with a checkpoint, then the same command with --steps 40: the trajectory,
    the log and the final state are those of one 40-step run."""
    folder, _ = work
    args = langevin_args(trajectory="res.extxyz", log="res.log", output="res.traj",
                         checkpoint="res.npz")
    ok(jaxpot(*args, "--steps", STEPS // 2, cwd=folder))
    assert len(read(folder / "res.extxyz", ":")) == STEPS // EVERY // 2 + 1
    out = ok(jaxpot(*args, "--steps", STEPS, cwd=folder)).stdout
    assert f"resuming from checkpoint res.npz at step {STEPS // 2}" in out
    check_same_run(folder, "res", api_langevin)


def test_a_config_gives_the_run_of_its_keys_and_options_override_it(work):
    """An NPT config in a subfolder (paths relative to it), --steps overriding its steps: the
    final positions and cell are md.run's with md.npt and the same settings."""
    folder, atoms = work
    (folder / "runs").mkdir()
    (folder / "runs" / "npt.toml").write_text(
        'model = "sw"\nstructure = "../si.extxyz"\nintegrator = "npt"\ntemperature = 400.0\n'
        'pressure = 2.0\ntau_t = 50.0\ntau_p = 200.0\ntimestep = 1.5\nsteps = 1000\n'
        'log_interval = 10\nseed = 3\noutput = "npt.traj"\n')
    out = ok(jaxpot("md", "runs/npt.toml", "--steps", 30, cwd=folder)).stdout
    assert "npt, timestep 1.5 fs, 30 steps, 400 K" in out and "2 GPa" in out
    integrator = md.npt(stillinger_weber(), 1.5, 400.0, 2.0, tau_t=50.0, tau_p=200.0)
    expected = md.run(integrator, atoms, 30, temperature=400.0, seed=3, log_interval=10,
                      progress=False).atoms
    final = read(folder / "runs" / "npt.traj")
    np.testing.assert_allclose(final.positions, expected.positions, rtol=0, atol=1e-12)
    np.testing.assert_allclose(final.cell.array, expected.cell.array, rtol=0, atol=1e-12)
    assert not np.allclose(final.cell.array, atoms.cell.array)  # the barostat moved the cell


@pytest.mark.parametrize("kind, options", [
    ("nve", ["--friction", "0.05"]), ("nose_hoover", ["--tau-t", "30"])])
def test_nve_and_nose_hoover_equal_the_api(work, kind, options):
    """The other two integrators; an option the integrator does not take is warned about and
    ignored (nve: --friction)."""
    folder, atoms = work
    out = ok(jaxpot("md", "sw", "si.extxyz", "--integrator", kind, "--temperature", 800,
                    "--steps", 20, "--log-interval", 10, "--output", f"{kind}.traj",
                    *options, cwd=folder)).stdout
    model = stillinger_weber()
    integrator = md.nve(model, 1.0) if kind == "nve" else md.nose_hoover(model, 1.0, 800.0, 30.0)
    expected = md.run(integrator, atoms, 20, temperature=800.0, log_interval=10,
                      progress=False).atoms
    final = read(folder / f"{kind}.traj")
    np.testing.assert_allclose(final.positions, expected.positions, rtol=0, atol=1e-12)
    np.testing.assert_allclose(final.get_momenta(), expected.get_momenta(), rtol=0, atol=1e-12)
    if kind == "nve":
        assert "friction ignored: it applies to langevin" in out


@pytest.fixture(scope="module")
def mistakes(work):
    folder, _ = work
    (folder / "typo.toml").write_text('model = "sw"\nstructure = "si.extxyz"\ntemprature = 300\n')
    (folder / "taken.log").write_text("an earlier run's log\n")
    return folder


@pytest.mark.parametrize("args, phrases", [
    (["sw", "missing.extxyz"], ["missing.extxyz", "no such file"]),
    (["sw", "si.extxyz", "--integrator", "nvtt"], ["unknown --integrator 'nvtt'", "nve"]),
    (["sw", "si.extxyz", "--temperature", "-5"], ["--temperature", "> 0", "-5"]),
    (["sw", "si.extxyz", "--integrator", "npt"], ["npt integrator needs a pressure",
                                                  "--pressure"]),
    (["typo.toml"], ["typo.toml", "unknown keys ['temprature']",
                     "did you mean 'temperature'"]),
    (["sw", "si.extxyz", "--log", "taken.log"], ["taken.log already exists", "--overwrite"]),
    (["sw"], ["give MODEL STRUCTURE"]),
], ids=["missing-structure", "unknown-integrator", "negative-temperature",
        "npt-without-pressure", "unknown-toml-key", "existing-log", "one-argument"])
def test_a_mistake_is_one_line_naming_it_and_exit_2(mistakes, args, phrases):
    result = jaxpot("md", *args, cwd=mistakes)
    err = result.stderr.strip()
    assert result.returncode == 2, result.stdout + err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("jaxpot md: error: ")
    for phrase in phrases:
        assert phrase in err, (phrase, err)
    assert (mistakes / "taken.log").read_text() == "an earlier run's log\n"
    assert not os.path.exists(mistakes / "missing.extxyz")
