"""jaxpot.md integrators against ASE and jax-md trajectories, energy conservation, ensembles.

References: ASE 3.29 ``VelocityVerlet``, ``NoseHooverChainNVT``, ``IsotropicMTKNPT`` and
``MTKNPT`` driven by the same energy through ``JaxpotCalculator`` (so only the integrators are
compared); jax-md 0.2.29 ``simulate.nve`` with jax-md's own LJ energy; canonical kinetic-energy
statistics (mean 3N kT/2, variance 3N (kT)^2/2); velocity Verlet's O(dt^2) energy error;
the NPT mean volume and volume fluctuations against the equation of state of ASE's
``LennardJones`` (static pressure of the ideal crystal) and <dV^2> = k_B T V / B.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase import units
from ase.build import bulk

import jaxpot
from jaxpot import md
from jaxpot.potentials import lennard_jones, stillinger_weber

jax.config.update("jax_enable_x64", True)

LJ = lennard_jones(sigma=3.4, epsilon=0.0104, cutoff=7.0, smooth=True)  # argon, ASE's switch


def argon(repeat=2, rattle=0.05, temperature=None, seed=1):
    atoms = bulk("Ar", "fcc", a=5.3, cubic=True).repeat(repeat)
    atoms.rattle(rattle, seed=seed)
    if temperature is not None:
        atoms.set_momenta(np.asarray(md.maxwell_boltzmann(jax.random.PRNGKey(seed),
                                                          atoms.get_masses(), temperature)))
    return atoms


def _ase_trajectory(make_dynamics, atoms, steps):
    a = atoms.copy()
    a.calc = jaxpot.JaxpotCalculator(LJ, skin=0.5)
    make_dynamics(a).run(steps)
    return a


@pytest.mark.parametrize("name", ["nve", "nose_hoover", "npt_isotropic", "npt_flexible"])
def test_trajectory_equals_ase(name):
    """60 steps of 5 fs: positions, momenta and cell equal ASE's integrators to 1e-10."""
    from ase.md.nose_hoover_chain import MTKNPT, IsotropicMTKNPT, NoseHooverChainNVT
    from ase.md.verlet import VelocityVerlet
    dt, fs = 5.0, units.fs
    cases = {
        "nve": (md.nve(LJ, dt), lambda a: VelocityVerlet(a, dt * fs)),
        "nose_hoover": (md.nose_hoover(LJ, dt, 300, tau=50.0),
                        lambda a: NoseHooverChainNVT(a, dt * fs, 300, 50 * fs)),
        "npt_isotropic": (md.npt(LJ, dt, 300, 0.1, tau_t=50.0, tau_p=200.0),
                          lambda a: IsotropicMTKNPT(a, dt * fs, 300, 0.1 * units.GPa, 50 * fs,
                                                    200 * fs)),
        "npt_flexible": (md.npt(LJ, dt, 300, 0.1, tau_t=50.0, tau_p=200.0, cell="flexible"),
                         lambda a: MTKNPT(a, dt * fs, 300, 0.1 * units.GPa, 50 * fs, 200 * fs)),
    }
    integrator, make_dynamics = cases[name]
    atoms = argon(temperature=200.0, seed=3)
    ref = _ase_trajectory(make_dynamics, atoms, 60)
    ours = md.run(integrator, atoms, 60, log_interval=20, skin=0.5).atoms
    assert np.abs(ours.positions - atoms.positions).max() > 0.3  # it moved
    np.testing.assert_allclose(ours.positions, ref.positions, atol=1e-10, rtol=0)
    np.testing.assert_allclose(ours.get_momenta(), ref.get_momenta(), atol=1e-10, rtol=0)
    np.testing.assert_allclose(ours.cell.array, ref.cell.array, atol=1e-10, rtol=0)
    if name.startswith("npt"):
        assert abs(ours.get_volume() - atoms.get_volume()) > 1.0  # the cell moved


def test_nve_equals_jax_md():
    """jaxpot NVE of jax-md's own LJ energy (wrapped by from_jax_md) = jax_md.simulate.nve,
    float64, 100 steps (positions compared modulo the box, momenta directly).  jax-md rounds
    the time step to float32 (``f32(dt)`` in simulate.py), so dt is chosen representable."""
    from jax_md import energy as jmd_energy
    from jax_md import simulate, space

    from jaxpot.interop.jax_md import from_jax_md

    def make(d):
        return jmd_energy.lennard_jones_pair(d, sigma=3.4, epsilon=0.0104, r_onset=6.0,
                                             r_cutoff=7.0)

    model = from_jax_md(make, cutoff=7.0)
    atoms = argon(repeat=3, temperature=100.0, seed=5)
    box = atoms.cell.array[0, 0]
    displacement, shift = space.periodic(box)
    dt = float(np.float32(2.0 * units.fs))
    init, apply = simulate.nve(make(displacement), shift, dt=dt)
    masses = jnp.asarray(atoms.get_masses())[:, None]
    state = init(jax.random.PRNGKey(0), jnp.asarray(atoms.positions), kT=0.0, mass=masses)
    state = state.set(momentum=jnp.asarray(atoms.get_momenta()))
    state = jax.lax.fori_loop(0, 100, lambda i, s: apply(s), state)
    ours = md.run(md.nve(model, dt / units.fs), atoms, 100, log_interval=50, skin=0.5).atoms
    d = ours.positions - np.asarray(state.position)
    d -= box * np.round(d / box)
    assert np.abs(d).max() < 1e-9
    np.testing.assert_allclose(ours.get_momenta(), np.asarray(state.momentum), atol=1e-9)


def _drift_per_atom_ps(model, atoms, dt, total_fs, temperature):
    steps = int(round(total_fs / dt))
    res = md.run(md.nve(model, dt), atoms, steps, temperature=temperature, log_interval=10,
                 skin=0.5)
    e = res.log.total_energy / len(atoms)
    t = res.log.time / 1000.0  # ps
    slope = np.polyfit(t, e, 1)[0]
    return abs(slope), float(np.std(e)), res


@pytest.mark.parametrize("system", ["lj_liquid", "sw_si"])
def test_nve_energy_error_scales_as_dt_squared(system):
    """Velocity Verlet: the total-energy fluctuation falls as dt^2 (ratio 4 for dt/2, within
    [2.5, 6]), and the drift is below a stated bound per atom per ps."""
    if system == "lj_liquid":
        model, atoms, dts, temp, bound = LJ, argon(rattle=0.0), (8.0, 4.0), 300.0, 2e-4
        atoms.set_cell(atoms.cell * 1.12, scale_atoms=True)  # expanded: a liquid at 300 K
    else:
        model, dts, temp, bound = stillinger_weber(), (2.0, 1.0), 1000.0, 2e-4
        atoms = bulk("Si", "diamond", a=5.431, cubic=True).repeat(2)
    (d1, s1, r1), (d2, s2, _) = [_drift_per_atom_ps(model, atoms, dt, 400.0, temp) for dt in dts]
    assert np.mean(r1.log.temperature[5:]) > 0.3 * temp  # it is hot
    assert 2.5 < s1 / s2 < 6.0, (s1, s2)
    assert d2 < bound, f"drift {d2:.2e} eV/atom/ps"


def _kinetic_statistics(integrator, atoms, steps, temperature, equilibrate=2000):
    res = md.run(integrator, atoms, steps, temperature=temperature, log_interval=5, seed=11)
    ke = res.log.kinetic_energy[equilibrate // 5:]
    n_dof = 3 * len(atoms)
    kT = units.kB * temperature
    blocks = np.array_split(ke, 20)
    means = np.array([b.mean() for b in blocks])
    return ke, means, n_dof, kT


@pytest.mark.parametrize("kind", ["langevin", "nose_hoover"])
def test_canonical_kinetic_energy(kind, optimized_xla):
    """<K> = 3N kT/2 within 4 block-averaged standard errors; var(K) = 3N (kT)^2 / 2 within 25 %."""
    temperature = 60.0
    integrator = (md.langevin(LJ, 10.0, temperature, 0.01) if kind == "langevin"
                  else md.nose_hoover(LJ, 10.0, temperature, tau=200.0))
    ke, means, n_dof, kT = _kinetic_statistics(integrator, argon(rattle=0.02), 14000, temperature)
    expected = 0.5 * n_dof * kT
    err = means.std(ddof=1) / np.sqrt(len(means))
    assert abs(ke.mean() - expected) < 4 * err + 1e-3 * expected, (ke.mean(), expected, err)
    assert abs(ke.var() / (0.5 * n_dof * kT ** 2) - 1) < 0.25, ke.var() / (0.5 * n_dof * kT ** 2)


def _ase_static_pressure(volume_per_atom: float) -> float:
    """Pressure (GPa) of the ideal argon fcc crystal at this volume per atom (Å^3), from
    ASE's LennardJones calculator (same sigma, epsilon, cutoff and switch as LJ)."""
    from ase.calculators.lj import LennardJones
    atoms = bulk("Ar", "fcc", a=(4 * volume_per_atom) ** (1 / 3), cubic=True).repeat(2)
    atoms.calc = LennardJones(sigma=3.4, epsilon=0.0104, rc=7.0, smooth=True)
    return -float(np.trace(atoms.get_stress(voigt=False))) / 3 / units.GPa


def _ase_volume_at(pressure: float) -> float:
    """Volume per atom (Å^3) of the ideal argon fcc crystal at ``pressure`` (GPa) under ASE's
    LennardJones (bisection)."""
    lo, hi = 30.0, 45.0  # P(lo) > 0.3 GPa > P(hi)
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _ase_static_pressure(mid) > pressure else (lo, mid)
    return 0.5 * (lo + hi)


def test_npt_volume_and_compressibility_match_ase_equation_of_state(optimized_xla):
    """MTK NPT (isotropic) of the 32-atom LJ argon crystal at 0.3 GPa against the equation of
    state of ASE's LennardJones (ideal crystal, static pressure from ASE's stress):

    * at 1 K (2 replicas) the mean volume is the volume at which ASE gives 0.3 GPa, within
      0.2 % (measured +0.07 %: the thermal expansion at 1 K);
    * at 10 K the volume fluctuations of 12 replicas (other seeds, the same vmapped run) give
      the compressibility of that equation of state, <dV^2> / (k_B T <V>) = 1 / B with
      B = -V dP/dV from ASE at the mean volume (central differences), within 40 % (measured
      +6 % here in 6,000 steps, +11 % in 8,000, +2 to +18 % with 16 replicas of
      10,000-20,000 steps: the anharmonic softening of B at 10 K plus a sampling error of
      ~10-15 %).  At 1 K the volume mode takes ~100 ps to take up its share of kT from the
      nearly harmonic crystal: too slow here;
    * the mean pressure and temperature are the targets (0.01 GPa, 5 %) and the extended
      energy is conserved (drift < 5e-5 eV/atom)."""
    n, pressure = 32, 0.3
    v_ref = _ase_volume_at(pressure)
    atoms = bulk("Ar", "fcc", a=(4 * v_ref) ** (1 / 3), cubic=True).repeat(2)
    atoms.rattle(0.002, seed=4)
    # one vmapped run: 12 replicas at 10 K and 2 at 1 K (the barostat mass scales with kT,
    # so the cold crystal needs a longer tau_p for dt = 10 fs)
    temperature, replicas = 10.0, 12
    integrators = ([md.npt(LJ, 10.0, temperature, pressure, tau_t=100.0, tau_p=2000.0)]
                   * replicas + [md.npt(LJ, 10.0, 1.0, pressure, tau_t=100.0, tau_p=5000.0)] * 2)
    run = md.run_replicas(integrators, atoms, 6000, log_interval=10, seeds=list(range(14)),
                          temperatures=[temperature] * replicas + [1.0] * 2)
    cold = np.mean([np.mean(log.volume[100:]) for log in run.logs[replicas:]])
    assert abs(cold / (n * v_ref) - 1) < 2e-3, cold / (n * v_ref) - 1
    warm = run.logs[:replicas]
    volumes = [log.volume[300:] for log in warm]  # after the first 30 ps
    mean = np.mean([np.mean(v) for v in volumes])
    variance = np.mean([np.var(v) for v in volumes])
    kappa = variance / (units.kB * temperature * mean) * units.GPa  # 1/GPa
    v, h = mean / n, 1e-3 * mean / n
    bulk_modulus = -v * (_ase_static_pressure(v + h) - _ase_static_pressure(v - h)) / (2 * h)
    assert abs(kappa * bulk_modulus - 1) < 0.4, kappa * bulk_modulus
    pressures = np.concatenate([log.pressure[300:] for log in warm])
    temperatures = np.concatenate([log.temperature[300:] for log in warm])
    assert abs(np.mean(pressures) - pressure) < 0.01, np.mean(pressures)
    assert abs(np.mean(temperatures) / temperature - 1) < 0.05, np.mean(temperatures)
    assert max(np.ptp(log.conserved_energy) for log in warm) / n < 5e-5


def test_compressing_run_equals_large_allocation():
    """NPT at 3 GPa squeezes the cell: the neighbor count grows, chunks are replayed with a
    larger list, and the energies equal a run whose list was allocated 3x larger; so do those
    of the same system run padded in a batch (md.run_batch)."""
    atoms = argon(rattle=0.02, temperature=30.0)
    atoms.set_cell(atoms.cell * 1.06, scale_atoms=True)
    integrator = md.npt(LJ, 5.0, 30.0, 3.0, tau_p=300.0)
    small = md.run(integrator, atoms, 140, log_interval=20, skin=0.3, capacity_multiplier=1.0)
    large = md.run(integrator, atoms, 140, log_interval=20, skin=0.3, capacity_multiplier=3.0)
    assert small.n_reallocations > 0 and large.n_reallocations == 0
    assert small.log.volume[-1] < 0.9 * small.log.volume[0]
    np.testing.assert_allclose(small.log.potential_energy, large.log.potential_energy,
                               rtol=0, atol=1e-9)
    np.testing.assert_allclose(small.atoms.positions, large.atoms.positions, atol=1e-9)
    # the same system padded in a batch beside a larger one (md.run_batch: shared lists that
    # overflow and are regrown for both; padding counts in no degree of freedom, so NPT's
    # cell mass and kinetic pressure are those of the 32 real atoms)
    bigger = argon(rattle=0.02, temperature=30.0, seed=2).repeat((2, 1, 1))[:40]
    bigger.set_cell(bigger.cell * 1.06, scale_atoms=True)
    batch = md.run_batch(integrator, [atoms, bigger], 140, log_interval=20, skin=0.3,
                         capacity_multiplier=1.0)
    assert batch.n_reallocations > 0 and batch.state.positions.shape[1] == 40
    np.testing.assert_allclose(batch.logs[0].potential_energy, large.log.potential_energy,
                               rtol=0, atol=1e-9)
    np.testing.assert_allclose(batch.logs[0].volume, large.log.volume, rtol=1e-10)
    np.testing.assert_allclose(batch.logs[0].temperature, large.log.temperature, rtol=1e-9)
    np.testing.assert_allclose(batch.atoms[0].positions, large.atoms.positions, atol=1e-9)
