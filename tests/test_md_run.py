"""md.run as a user meets it: logs, trajectory files, checkpoints that resume bit-identically,
compiled once, usable in a hand-written lax.scan, and clear errors for bad input and unstable
runs (naming the step, keeping the last good state and the trajectory up to it)."""


import ase.io
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk, molecule

import jaxpot
from jaxpot import md
from jaxpot.neighbors import allocate_for_model
from jaxpot.potentials import lennard_jones
from jaxpot.testing import CompilationCounter

jax.config.update("jax_enable_x64", True)

LJ = lennard_jones(sigma=3.4, epsilon=0.0104, cutoff=7.0, smooth=True)


def argon(rattle=0.03, seed=1):
    atoms = bulk("Ar", "fcc", a=5.3, cubic=True).repeat(2)
    atoms.rattle(rattle, seed=seed)
    return atoms


def test_reachable_from_import_jaxpot():
    assert jaxpot.md.nve is md.nve and jaxpot.md.run is md.run


def test_log_trajectory_and_final_atoms(tmp_path):
    """Log rows every log_interval steps (equal-length arrays in eV, K, GPa, Å^3), extxyz and
    .traj frames at trajectory_interval, final atoms with momenta; the logged total energy is
    potential + kinetic and temperature = 2K / (3N kB) (ASE's get_temperature)."""
    atoms = argon()
    res = md.run(md.langevin(LJ, 5.0, 80.0, 0.02), atoms, 100, temperature=80.0,
                 log_interval=10, trajectory=tmp_path / "t.extxyz", trajectory_interval=20)
    log = res.log
    assert list(log.step) == list(range(0, 101, 10)) and len(log) == 11
    np.testing.assert_allclose(log.time, log.step * 5.0)
    np.testing.assert_allclose(log.total_energy, log.potential_energy + log.kinetic_energy)
    assert log.stress.shape == (11, 6)
    np.testing.assert_allclose(log.pressure, -log.stress[:, :3].mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(log.volume, atoms.get_volume())
    final = res.atoms
    assert final.get_temperature() == pytest.approx(log.temperature[-1], rel=1e-12)
    assert final.get_kinetic_energy() == pytest.approx(log.kinetic_energy[-1], rel=1e-12)
    frames = ase.io.read(tmp_path / "t.extxyz", ":")
    assert len(frames) == 6
    np.testing.assert_allclose(frames[-1].positions, final.positions, atol=1e-8)
    np.testing.assert_allclose(frames[-1].get_potential_energy(), log.potential_energy[-1])
    # ASE's own stress with the kinetic part equals the logged stress (GPa)
    final.calc = jaxpot.JaxpotCalculator(LJ)
    ref = final.get_stress(include_ideal_gas=True) / units.GPa
    np.testing.assert_allclose(log.stress[-1], ref, atol=1e-9)
    res2 = md.run(md.nve(LJ, 5.0), atoms, 40, log_interval=20, trajectory=tmp_path / "t.traj")
    traj = ase.io.read(tmp_path / "t.traj", ":")
    assert len(traj) == 3
    np.testing.assert_allclose(traj[-1].get_momenta(), res2.atoms.get_momenta(), atol=1e-12)


def test_maxwell_boltzmann_start():
    """temperature= draws momenta with zero total momentum when the atoms carry none; the
    same seed gives the same momenta; momenta already on the atoms are kept."""
    atoms = argon()
    a = md.run(md.nve(LJ, 5.0), atoms, 0, temperature=300.0, seed=4)
    b = md.run(md.nve(LJ, 5.0), atoms, 0, temperature=300.0, seed=4)
    p = a.atoms.get_momenta()
    np.testing.assert_allclose(p.sum(axis=0), 0.0, atol=1e-12)
    np.testing.assert_array_equal(p, b.atoms.get_momenta())
    assert 100.0 < a.atoms.get_temperature() < 600.0
    moving = atoms.copy()
    moving.set_momenta(p * 0.5)
    c = md.run(md.nve(LJ, 5.0), moving, 0, temperature=300.0)
    np.testing.assert_array_equal(c.atoms.get_momenta(), p * 0.5)


def test_checkpoint_resume_is_bit_identical(tmp_path):
    """A Langevin run interrupted after 60 steps and resumed from its checkpoint ends with
    exactly the state (positions, momenta, RNG key) and log of an uninterrupted run; the
    trajectory holds each frame once."""
    atoms = argon()
    integrator = md.langevin(LJ, 5.0, 100.0, 0.02)
    kwargs = dict(temperature=100.0, log_interval=10, chunk=20, seed=3)
    full = md.run(integrator, atoms, 120, **kwargs)
    ckpt, traj = tmp_path / "run.ckpt", tmp_path / "run.extxyz"
    first = md.run(integrator, atoms, 60, checkpoint=ckpt, trajectory=traj, **kwargs)
    assert ckpt.exists() and not list(tmp_path.glob("*.tmp"))
    ase.io.write(traj, first.atoms, append=True)  # a frame written after the checkpoint
    resumed = md.run(integrator, atoms, 120, checkpoint=ckpt, trajectory=traj, **kwargs)
    for name in ("positions", "momenta", "cell", "forces", "key"):
        np.testing.assert_array_equal(np.asarray(getattr(resumed.state, name)),
                                      np.asarray(getattr(full.state, name)))
    np.testing.assert_array_equal(resumed.log.potential_energy, full.log.potential_energy)
    frames = ase.io.read(traj, ":")
    assert [len(f) for f in frames] == [32] * 13
    np.testing.assert_allclose(frames[-1].positions, full.atoms.positions, atol=1e-7)  # %.8f text


def test_checkpoint_of_another_integrator_is_refused(tmp_path):
    ckpt = tmp_path / "run.ckpt"
    md.run(md.nve(LJ, 5.0), argon(), 20, log_interval=10, checkpoint=ckpt)
    (tmp_path / "plain").write_bytes(b"")  # the checkpoint's mode is a new file's (umask)
    assert ckpt.stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain", "run.ckpt"]
    with pytest.raises(md.MDError, match="different integrator"):
        md.run(md.nve(LJ, 2.0), argon(), 40, log_interval=10, checkpoint=ckpt)
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(md.MDError, match="cannot be read"):
        md.run(md.nve(LJ, 5.0), argon(), 40, log_interval=10, checkpoint=ckpt)


def test_compiles_once_and_hand_written_scan():
    """A second run with another temperature and time step (same kind and shape) compiles
    nothing; init/step in a hand-written lax.scan give the run's trajectory."""
    atoms = argon()
    md.run(md.nose_hoover(LJ, 5.0, 50.0), atoms, 30, temperature=50.0, log_interval=10)
    with CompilationCounter() as compiled:
        res = md.run(md.nose_hoover(LJ, 4.0, 70.0), atoms, 30, temperature=70.0,
                     log_interval=10)
    assert compiled.count == 0
    init, step = md.nose_hoover(LJ, 4.0, 70.0)
    nbrs = allocate_for_model(LJ, atoms.positions, atoms.cell.array, True, skin=1.0)
    mb_key, key = jax.random.split(jax.random.PRNGKey(0))  # what run(seed=0) uses
    momenta = md.maxwell_boltzmann(mb_key, jnp.asarray(atoms.get_masses()), 70.0)
    state = init(jnp.asarray(atoms.positions), momenta, jnp.asarray(atoms.cell.array),
                 jnp.asarray(atoms.numbers), jnp.asarray(atoms.get_masses()), nbrs, key)
    (state, nbrs), _ = jax.lax.scan(lambda c, _: (step(*c), None), (state, nbrs), None, 30)
    np.testing.assert_allclose(np.asarray(state.positions), res.atoms.positions, atol=1e-10)


def test_a_continued_run_reuses_the_compiled_chunk():
    """md.run from the final atoms of an earlier run, whose neighbor counts differ from the
    first start, compiles nothing: md.run rounds list capacities up to
    ``jaxpot.neighbors.fine_ladder`` sizes (exact capacities gave every run its own shapes)."""
    from jaxpot.neighbors import fine_ladder
    atoms = argon(rattle=0.2, seed=2)
    integrator = md.nve(LJ, 5.0)
    first = md.run(integrator, atoms, 10, temperature=120.0, log_interval=10)
    sizes = [(nb.capacity, nb.half_capacity) for nb in (
        allocate_for_model(LJ, a.positions, a.cell.array, True, skin=1.0)
        for a in (atoms, first.atoms))]
    assert sizes[0] != sizes[1]  # exact capacities: the continued run needs other shapes
    assert [[fine_ladder(k) for k in ks] for ks in sizes] == [[76, 1152]] * 2
    with CompilationCounter() as compiled:
        second = md.run(integrator, first.atoms, 10, log_interval=10)
    assert compiled.count == 0
    assert second.neighbors.capacity == first.neighbors.capacity
    assert [fine_ladder(k) for k in (1, 4, 5, 63, 64, 65, 100, 1000, 4097)] == \
        [4, 4, 8, 64, 64, 68, 100, 1024, 4352]


def test_small_systems_start_from_an_unoptimised_program_with_the_same_run(monkeypatch):
    """md.run's start program (first forces and log row, run once) is compiled without
    optimisation (jaxpot.compiler.RUN_ONCE) up to ``RUN_ONCE_MAX_ATOMS`` atoms and optimised
    above; both give the same run (float64: energies to 1e-12, positions to 1e-10 Å)."""
    from jaxpot.md import chunk
    atoms = argon()
    integrator = md.nve(LJ, 5.0)
    called = []

    def counted(name):
        program = getattr(chunk._start_programs, name)
        return lambda *a, **k: (called.append(name), program(*a, **k))[1]
    monkeypatch.setattr(chunk, "_start_programs", chunk._start_programs._replace(
        run_once=counted("run_once"), optimised=counted("optimised")))
    small = md.run(integrator, atoms, 20, temperature=60.0, log_interval=10)
    monkeypatch.setattr(chunk, "RUN_ONCE_MAX_ATOMS", len(atoms) - 1)
    large = md.run(integrator, atoms, 20, temperature=60.0, log_interval=10)
    assert called == ["run_once", "optimised"]
    np.testing.assert_allclose(large.log.potential_energy, small.log.potential_energy,
                               rtol=1e-12)
    np.testing.assert_allclose(large.atoms.positions, small.atoms.positions, atol=1e-10)


def test_models_without_cpu_fusions_run_md_with_them_off_and_the_same_trajectory(tmp_path):
    """Stillinger–Weber says ``cpu_fusions=False`` (its MD chunk runs 1.3x faster without
    XLA:CPU's YNNPACK fusions; jaxpot.compiler): md.run compiles its chunk with them off, a
    sum with such a part does too, a pair model keeps the defaults, a saved and loaded SW
    keeps the flag, and the trajectory equals a hand-written lax.scan compiled with the
    defaults (float64, 1e-10 Å)."""
    from jaxpot.compiler import YNN_FUSIONS_OFF, compiler_options
    from jaxpot.potentials import stillinger_weber
    sw = stillinger_weber()
    expected = YNN_FUSIONS_OFF if jax.default_backend() == "cpu" else ()
    assert compiler_options(sw) == expected and compiler_options(sw + LJ) == expected
    assert compiler_options(LJ) == () and LJ.cpu_fusions and not (sw + LJ).cpu_fusions
    jaxpot.save(sw, tmp_path / "sw.jaxpot")
    assert not jaxpot.load(tmp_path / "sw.jaxpot").cpu_fusions
    atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat(2)
    atoms.rattle(0.05, seed=4)
    integrator = md.nve(sw, 1.0)
    res = md.run(integrator, atoms, 20, temperature=600.0, log_interval=10)
    init, step = integrator
    nbrs = allocate_for_model(sw, atoms.positions, atoms.cell.array, True, skin=1.0)
    mb_key, key = jax.random.split(jax.random.PRNGKey(0))  # what run(seed=0) uses
    momenta = md.maxwell_boltzmann(mb_key, jnp.asarray(atoms.get_masses()), 600.0)
    state = init(jnp.asarray(atoms.positions), momenta, jnp.asarray(atoms.cell.array),
                 jnp.asarray(atoms.numbers), jnp.asarray(atoms.get_masses()), nbrs, key)
    (state, nbrs), _ = jax.jit(lambda c: jax.lax.scan(lambda c, _: (step(*c), None), c, None,
                                                      20))((state, nbrs))
    np.testing.assert_allclose(np.asarray(state.positions), res.atoms.positions, atol=1e-10)


def test_bad_input_is_refused_before_compiling():
    atoms = argon()
    with pytest.raises(ValueError, match="timestep"):
        md.nve(LJ, 0.0)
    with pytest.raises(ValueError, match="timestep"):
        md.langevin(LJ, -1.0, 300.0, 0.01)
    with pytest.raises(ValueError, match="temperature"):
        md.langevin(LJ, 1.0, None, 0.01)
    with pytest.raises(ValueError, match="temperature"):
        md.nose_hoover(LJ, 1.0, 0.0)
    with pytest.raises(ValueError, match="cell must be"):
        md.npt(LJ, 1.0, 300.0, 0.0, cell="triclinic")
    with pytest.raises(ValueError, match="mass of Ar"):
        md.nve(LJ, 1.0, masses={"Ar": 0.0})
    gas = molecule("CH4")
    gas.center(vacuum=4.0)
    with CompilationCounter() as compiled:
        with pytest.raises(md.MDError, match="barostat needs a periodic cell"):
            md.run(md.npt(LJ, 1.0, 300.0, 0.0), gas, 10)
        bad = atoms.copy()
        bad.set_masses(np.r_[0.0, bad.get_masses()[1:]])
        with pytest.raises(md.MDError, match="atom 0 .* mass"):
            md.run(md.nve(LJ, 1.0), bad, 10)
        with pytest.raises(ValueError, match="multiple of log_interval"):
            md.run(md.nve(LJ, 1.0), atoms, 10, log_interval=10, trajectory_interval=15)
    assert compiled.count == 0


def test_exploding_run_stops_naming_the_step(tmp_path):
    """Two argon atoms 1.2 Å apart fly apart with huge energy: the run stops with MDError
    naming the step, last_good is the state before it, the trajectory ends there."""
    atoms = argon(rattle=0.0)
    atoms.positions[1] = atoms.positions[0] + [1.2, 0.0, 0.0]
    with pytest.raises(md.MDError, match=r"stopped at step (\d+)") as err:
        md.run(md.nve(LJ, 2.0), atoms, 200, log_interval=5, max_temperature=2000.0,
               trajectory=tmp_path / "boom.extxyz")
    step = err.value.step
    assert step is not None and step > 0
    good = err.value.last_good
    frames = ase.io.read(tmp_path / "boom.extxyz", ":")
    np.testing.assert_allclose(frames[-1].positions, good.positions)
    assert good.get_temperature() <= 2000.0


def test_atom_leaving_an_open_box_is_an_error():
    """A molecule in a non-periodic box: an atom shot out of it stops the run."""
    atoms = Atoms("Ar2", positions=[[4, 5, 5], [7.8, 5, 5]], cell=[10, 10, 10], pbc=False)
    atoms.set_momenta([[0, 0, 0], [400.0, 0, 0]])  # amu Å / ASE time: ~1 Å/fs
    with pytest.raises(md.MDError, match="left the cell along a non-periodic direction"):
        md.run(md.nve(LJ, 1.0), atoms, 100, log_interval=5, max_temperature=1e9,
               max_energy_change=1e9)


def test_replicas_equal_separate_runs():
    """Three Langevin replicas (two temperatures, two seeds) in one vmapped jit give the
    trajectories of three separate md.run calls (one compiled chunk for all replicas)."""
    atoms = argon()
    setups = [(40.0, 0), (120.0, 0), (120.0, 5)]
    integrators = [md.langevin(LJ, 5.0, t, 0.02) for t, _ in setups]
    rep = md.run_replicas(integrators, atoms, 60, temperatures=[t for t, _ in setups],
                          seeds=[s for _, s in setups], log_interval=20, skin=0.3)
    assert len(rep.atoms) == 3 and len(rep.logs[0]) == 4
    for r, ((t, seed), integrator) in enumerate(zip(setups, integrators)):
        single = md.run(integrator, atoms, 60, temperature=t, seed=seed, log_interval=20,
                        skin=0.3)
        np.testing.assert_allclose(rep.atoms[r].positions, single.atoms.positions, atol=1e-10)
        np.testing.assert_allclose(rep.logs[r].temperature, single.log.temperature, rtol=1e-9)
    assert not np.allclose(rep.atoms[1].positions, rep.atoms[2].positions)


def test_runs_in_two_threads_equal_runs_alone():
    """Two md.run calls at once, from two Python threads, each give the trajectory of the
    same run made alone (bit-identical): the host rebuilds' kept buffers
    (jaxpot.neighbors.host_workers.Scratch) are not shared between concurrent calls."""
    import concurrent.futures

    from jaxpot.neighbors.binned import binned_pairs
    lj = lennard_jones(sigma=3.4, epsilon=0.0104, cutoff=4.0, smooth=True)
    atoms = bulk("Ar", "fcc", a=5.3, cubic=True).repeat(4)  # 21.2 Å: 9 bins of 2.25 Å
    assert binned_pairs(atoms.positions, atoms.cell.array, atoms.pbc, 4.5) is not None
    integrator = md.nve(lj, timestep=5.0)

    def one(seed):
        return md.run(integrator, atoms, 120, temperature=200.0, seed=seed, skin=0.5,
                      log_interval=40, chunk=40, progress=False)

    alone = [one(seed) for seed in (1, 2)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        together = list(pool.map(one, (1, 2)))
    for a, b in zip(alone, together):
        assert not np.allclose(np.asarray(a.neighbors.reference_positions),
                               atoms.positions)  # the list was rebuilt during the run
        np.testing.assert_array_equal(a.atoms.positions, b.atoms.positions)
        np.testing.assert_array_equal(a.log.total_energy, b.log.total_energy)
    assert not np.array_equal(alone[0].atoms.positions, alone[1].atoms.positions)
