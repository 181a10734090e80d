"""Metadynamics (jaxpot.md.metadynamics) on a one-particle analytic potential: the
reconstructed free energy against the exact one, walkers sharing one bias, a buffer that
overflows and is regrown equal to a large one, bias forces and stress against finite
differences, deposition paused by an uncertainty, and checkpoint resumption."""

import ase
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpot import md
from jaxpot.md import collective_variables as cv
from jaxpot.md.metadynamics import bias_model, empty_hills, hill_sum
from jaxpot.mechanics import energy_forces_stress
from jaxpot.model import EnergyModel
from jaxpot.units import kB

BARRIER, A, K_YZ = 0.25, 1.0, 2.0  # eV, Å (minima at x = +-A), eV/Å^2
T = 300.0  # K: the barrier is 9.7 kT, unbiased MD stays in its basin
KT = kB * T
RUN = dict(temperature=T, log_interval=100, chunk=2000, seed=1)
GRID = np.linspace(-1.6, 1.6, 161)


def double_well_energy(params, positions, cell, species, neighbors):
    """U = h ((x/a)^2 - 1)^2 + k (y^2 + z^2) / 2 of atom 0 (eV): F(x) = U(x) exactly."""
    x, y, z = positions[0, 0], positions[0, 1], positions[0, 2]
    return params["h"] * ((x / A) ** 2 - 1.0) ** 2 + 0.5 * K_YZ * (y * y + z * z)


MODEL = EnergyModel(energy_fn=double_well_energy, params={"h": jnp.asarray(BARRIER)},
                    cutoff=1.0, name="double well", uses_rows=False)


def particle(x=-A):
    return ase.Atoms("H", positions=[[x, 0.0, 0.0]], cell=np.eye(3) * 20.0, pbc=True)


def meta(capacity=1024, walkers=1, height=0.01, **kwargs):
    return md.metadynamics(md.langevin(MODEL, 2.0, T, 0.02), cvs=[cv.position(0, 0)],
                           height=height, width=0.1, pace=50, bias_factor=10.0,
                           walkers=walkers, capacity=capacity, **kwargs)


EXACT = BARRIER * ((GRID / A) ** 2 - 1.0) ** 2
BASINS = EXACT < 5 * KT


def fes_error(res) -> float:
    """RMS (kT) of F - U over the basins (U < 5 kT), after the best constant shift."""
    f, _ = res.free_energy(GRID)
    diff = f[BASINS] - EXACT[BASINS]
    return float(np.sqrt(np.mean((diff - diff.mean()) ** 2)) / KT)


def hills_of(res):
    h = res.state.bias
    n = int(h.count)
    return {name: np.asarray(getattr(h, name))[:n] for name in
            ("centers", "heights", "biases", "steps", "paused")}


@pytest.fixture(scope="module")
def one_walker():
    """One walker, 20,000 steps: 400 hills."""
    return md.run(meta(), particle(), 20_000, **RUN)


def test_free_energy_of_a_double_well_matches_the_exact_one(one_walker):
    """Unbiased Langevin stays in its basin; well-tempered metadynamics (400 hills, 20,000
    steps) crosses and gives F(x) within 0.5 kT RMS of U(x) over the basins."""
    plain = md.run(md.langevin(MODEL, 2.0, T, 0.02), particle(), 20_000, **RUN)
    assert plain.state.positions[0, 0] < 0 and plain.log.potential_energy.max() < BARRIER
    with pytest.raises(ValueError, match="needs a metadynamics run"):
        plain.free_energy(GRID)

    res = one_walker
    error = fes_error(res)
    assert error < 0.5
    f, f_std = res.free_energy(GRID)
    assert f.min() == 0.0 and np.all(np.isfinite(f_std[BASINS]))
    assert 0.3 * error < np.sqrt(np.mean(f_std[BASINS] ** 2)) / KT < 3 * error  # its size
    hills = hills_of(res)
    assert len(hills["steps"]) == 400 and np.all(hills["steps"] % 50 == 0)
    assert hills["centers"][:, 0].max() > 0.5  # crossed
    assert res.extra_log["n_hills"][-1] == 400 and res.extra_log["n_paused"][-1] == 0
    # well-tempered heights h exp(-V / (kT (gamma - 1))) from the recorded bias
    np.testing.assert_allclose(hills["heights"], 0.01 * np.exp(-hills["biases"] / (9 * KT)))


def test_a_biased_npt_run_carries_the_bias_forces_and_stress():
    """MTK NPT of 32 LJ argon atoms with a distance bias: the state's forces and stress are
    the model's plus the bias's (the barostat feels the bias), its energy the model's."""
    from ase.build import bulk

    from jaxpot.potentials import lennard_jones
    lj = lennard_jones(sigma=3.4, epsilon=0.0104, cutoff=7.0, smooth=True)
    atoms = bulk("Ar", "fcc", a=5.3, cubic=True).repeat(2)
    atoms.rattle(0.03, seed=1)
    biased = md.metadynamics(md.npt(lj, 5.0, 100.0, pressure=0.0), cvs=[cv.distance(0, 1)],
                             height=0.02, width=0.05, pace=7, bias_factor=5.0)
    res = md.run(biased, atoms, 100, temperature=100.0, log_interval=50)  # last deposit: 98
    st = res.state
    assert int(st.bias.count) == 14 and res.log.volume[-1] != res.log.volume[0]
    plain = energy_forces_stress(lj, st.positions, st.cell, st.species, res.neighbors)
    bias = energy_forces_stress(bias_model(biased, st.bias), st.positions, st.cell,
                                st.species, None)
    assert float(abs(bias.stress).max()) > 1e-7 and float(abs(bias.forces).max()) > 1e-4
    np.testing.assert_allclose(st.forces, plain.forces + bias.forces, atol=1e-12)
    np.testing.assert_allclose(st.stress, plain.stress + bias.stress, atol=1e-14)
    assert float(st.energy) == pytest.approx(float(plain.energy), abs=1e-12)
    assert res.extra_log["bias_energy"][-1] == pytest.approx(float(bias.energy), abs=1e-12)


def test_walkers_share_one_bias_and_need_fewer_steps_each(one_walker, tmp_path):
    """4 walkers of 5,000 steps deposit 400 hills into one buffer (4 per deposition step)
    and reach the accuracy one walker reaches in 20,000 steps; a checkpoint holds them all."""
    four = md.run(meta(walkers=4), particle(), 5_000, **RUN)
    ckpt = tmp_path / "walkers.ckpt"
    md.run(meta(walkers=4), particle(), 3_000, checkpoint=ckpt, **RUN)
    resumed = md.run(meta(walkers=4), particle(), 5_000, checkpoint=ckpt, **RUN)
    np.testing.assert_array_equal(resumed.state.bias.walkers.positions,
                                  four.state.bias.walkers.positions)
    np.testing.assert_array_equal(resumed.state.bias.centers, four.state.bias.centers)
    hills = hills_of(four)
    assert len(hills["steps"]) == 400 and np.all(np.bincount(hills["steps"] // 50)[1:] == 4)
    assert len({tuple(np.round(c, 12)) for c in hills["centers"][:4]}) == 4  # 4 trajectories
    assert fes_error(four) < 0.5 and fes_error(four) < 1.5 * fes_error(one_walker)


def test_a_full_buffer_is_grown_and_equals_a_large_one(tmp_path):
    """128 slots overflow at the 129th hill: the chunk is replayed with 256, and hills,
    positions and the bias equal those of a 1024-slot run bit for bit."""
    small = md.run(meta(capacity=100), particle(), 8_000, **RUN)
    large = md.run(meta(capacity=1024), particle(), 8_000, **RUN)
    assert small.state.bias.capacity == 256 and int(small.state.bias.count) == 160
    for name, values in hills_of(large).items():
        np.testing.assert_array_equal(hills_of(small)[name], values)
    np.testing.assert_array_equal(small.state.positions, large.state.positions)
    np.testing.assert_array_equal(small.extra_log["bias_energy"], large.extra_log["bias_energy"])
    np.testing.assert_array_equal(small.free_energy(GRID)[0], large.free_energy(GRID)[0])


def test_checkpoint_resume_equals_an_uninterrupted_run(tmp_path):
    """A run stopped at 6,000 steps (its buffer grown past 128 slots later) and resumed to
    8,000 from its checkpoint equals one uninterrupted run: hills, state and log."""
    full = md.run(meta(capacity=100), particle(), 8_000, **RUN)
    ckpt = tmp_path / "meta.ckpt"
    md.run(meta(capacity=100), particle(), 6_000, checkpoint=ckpt, **RUN)
    resumed = md.run(meta(capacity=100), particle(), 8_000, checkpoint=ckpt, **RUN)
    assert resumed.state.bias.capacity == 256
    for name, values in hills_of(full).items():
        np.testing.assert_array_equal(hills_of(resumed)[name], values)
    for name in ("positions", "momenta", "key", "step"):
        np.testing.assert_array_equal(np.asarray(getattr(resumed.state, name)),
                                      np.asarray(getattr(full.state, name)))
    for name, column in full.extra_log.items():
        np.testing.assert_array_equal(resumed.extra_log[name], column)
    np.testing.assert_array_equal(resumed.log.potential_energy, full.log.potential_energy)


def uncertain_right(positions, cell, species, neighbors):
    """A fake uncertainty model: 1 eV in the right basin (x > 0), 0 in the left."""
    return jnp.where(positions[0, 0] > 0, 1.0, 0.0)


def test_pause_above_deposits_no_hill_where_the_uncertainty_is_high():
    """With sigma = 1 eV for x > 0 and pause_above = 0.5 eV no hill lies at x > 0; those
    attempts are recorded (count, log flag) and reported as candidate steps."""
    res = md.run(meta(height=0.03, pause_above=0.5, uncertainty=uncertain_right), particle(),
                 8_000, **RUN)
    hills = hills_of(res)
    right = hills["centers"][:, 0] > 0
    assert right.any() and np.all(hills["paused"] == right)
    assert np.all(hills["heights"][right] == 0) and np.all(hills["heights"][~right] > 0)
    np.testing.assert_array_equal(res.candidate_steps, hills["steps"][right])
    assert res.extra_log["n_paused"][-1] == right.sum()
    assert res.extra_log["n_hills"][-1] == (~right).sum()
    assert res.extra_log["paused"].any() and not res.extra_log["paused"].all()
    h = res.state.bias  # the bias in the right basin is the left hills' tails only
    assert float(hill_sum(jnp.asarray([A]), h.centers, h.heights, h.width, h.count)) < 1e-6


def test_bias_forces_and_stress_are_derivatives_of_the_bias_energy():
    """Distance, angle and coordination CVs of 4 atoms in a skewed periodic cell: forces and
    stress of the bias equal central finite differences of its energy to 1e-8."""
    rng = np.random.default_rng(0)
    cell = np.array([[6.0, 0.0, 0.0], [1.0, 5.5, 0.0], [0.5, 0.7, 6.2]])
    positions = np.array([[0.2, 0.1, 0.3], [1.4, 0.2, 5.9], [5.6, 1.3, 0.8], [0.9, 4.9, 1.2]])
    cvs = (cv.distance(0, 1), cv.angle(0, 1, 2), cv.coordination(0, [1, 2, 3], r0=1.6))
    biased = md.metadynamics(md.langevin(MODEL, 1.0, T, 0.01), cvs=list(cvs), height=0.1,
                             width=[0.2, 0.3, 0.4], pace=1, capacity=64)
    s = np.array([float(c(jnp.asarray(positions), jnp.asarray(cell))) for c in cvs])
    hills = empty_hills(64, 3, jnp.float64, [0.2, 0.3, 0.4], 10.0, KT).replace(
        centers=jnp.zeros((64, 3)).at[:5].set(s + rng.normal(0, 0.2, (5, 3))),
        heights=jnp.zeros(64).at[:5].set(rng.uniform(0.05, 0.1, 5)),
        count=jnp.asarray(5, jnp.int32))
    model = bias_model(biased, hills)
    species = jnp.ones(4, jnp.int32)
    res = energy_forces_stress(model, jnp.asarray(positions), jnp.asarray(cell), species, None)
    assert float(res.energy) > 0.01

    jitted = jax.jit(lambda r, c: model.energy(r, c, species, None))

    def energy(r, c):
        return float(jitted(jnp.asarray(r), jnp.asarray(c)))
    delta = 1e-5
    fd_forces = np.zeros((4, 3))
    for i in range(4):
        for a in range(3):
            step = np.zeros((4, 3))
            step[i, a] = delta
            fd_forces[i, a] = -(energy(positions + step, cell)
                                - energy(positions - step, cell)) / (2 * delta)
    np.testing.assert_allclose(res.forces, fd_forces, atol=1e-8)
    fd_stress = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            eps = np.zeros((3, 3))
            eps[a, b] = eps[b, a] = delta / 2 if a != b else delta
            plus, minus = np.eye(3) + eps, np.eye(3) - eps
            fd_stress[a, b] = (energy(positions @ plus, cell @ plus)
                               - energy(positions @ minus, cell @ minus)) / (2 * delta)
    volume = abs(np.linalg.det(cell))
    np.testing.assert_allclose(res.stress, fd_stress / volume, atol=1e-8)


def test_collective_variables_and_settings():
    cell = jnp.eye(3) * 10.0
    r = jnp.asarray([[0.5, 0.0, 0.0], [9.5, 0.0, 0.0], [0.5, 2.0, 0.0]])
    assert float(cv.distance(0, 1)(r, cell)) == pytest.approx(1.0)  # minimum image
    assert float(cv.distance(0, 1, periodic=False)(r, cell)) == pytest.approx(9.0)
    assert float(cv.angle(1, 0, 2)(r, cell)) == pytest.approx(np.pi / 2)
    assert float(cv.coordination(0, [0, 1], r0=1.0)(r, cell)) == pytest.approx(0.5)
    assert float(cv.position(2, 1)(r, cell)) == 2.0
    assert cv.distance(0, 1) == cv.distance(0, 1) and repr(cv.angle(1, 0, 2)) == \
        "CV(angle(1, 0, 2))"
    mine = cv.collective_variable(lambda pos, c: pos[0, 0] - pos[1, 0], name="dx")
    assert mine.name == "dx" and float(mine(r, cell)) == -9.0
    for bad in (dict(height=-1.0), dict(bias_factor=1.0), dict(pace=0), dict(width=0.0),
                dict(pause_above=0.1)):
        with pytest.raises(ValueError):
            md.metadynamics(md.langevin(MODEL, 1.0, T, 0.01), cvs=[cv.position(0, 0)],
                            **{"height": 0.01, "width": 0.1, "pace": 10, **bad})
    with pytest.raises(ValueError, match="temperature"):
        md.metadynamics(md.nve(MODEL, 1.0), cvs=[cv.position(0, 0)], height=0.01, width=0.1,
                        pace=10)


def test_replicas_and_batches_refuse_a_metadynamics_integrator():
    """run_replicas / run_batch cannot grow a hill buffer: refused in one message, not a
    run that loops on a full buffer."""
    from ase import Atoms

    from jaxpot.potentials import lennard_jones
    lj = lennard_jones(sigma=3.4, epsilon=0.0104, cutoff=7.0, smooth=True)
    meta = md.metadynamics(md.langevin(lj, 2.0, 100.0, friction=0.01),
                           cvs=[md.collective_variables.distance(0, 1)], height=0.01,
                           width=0.1, pace=10)
    atoms = Atoms("Ar2", positions=[[0, 0, 0], [3.8, 0, 0]], cell=[12, 12, 12], pbc=True)
    with pytest.raises(md.MDError, match="walkers=W"):
        md.run_replicas([meta, meta], atoms, 20, temperatures=[100, 200], log_interval=10)
    with pytest.raises(md.MDError, match="walkers=W"):
        md.run_batch([meta, meta], [atoms, atoms.copy()], 20, log_interval=10)
