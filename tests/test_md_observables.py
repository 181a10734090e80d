"""jaxpot.md.observables against independent references (ASE, naive loops, analytic results)."""

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np
import pytest
import scipy.constants as sc
from ase import Atoms, units
from ase.build import bulk
from ase.geometry.rdf import get_rdf
from ase.md.analysis import DiffusionCoefficient

from jaxpot.md import observables as obs


def _rattled_frames(atoms, n_frames, stdev, rng, strains=None):
    frames = []
    for t in range(n_frames):
        a = atoms.copy()
        if strains is not None:
            a.set_cell(a.cell @ (np.eye(3) + strains[t]), scale_atoms=True)
        a.positions += rng.normal(0.0, stdev, a.positions.shape)
        a.wrap()
        frames.append(a)
    return frames


def _unwrapped(frames, rng):
    """Positions shifted by random whole lattice vectors, as an unwrapped trajectory holds them."""
    return np.stack([a.positions + rng.integers(-3, 4, (len(a), 3)) @ a.cell[:] for a in frames])


# --------------------------------------------------------------------------- RDF
def test_rdf_matches_ase_rattled_fcc():
    """Reference: ase.geometry.rdf.get_rdf averaged over the same images and bins (rescaled by
    N/(N-1): ASE normalises like pairs by N^2, jaxpot by N(N-1))."""
    rng = np.random.default_rng(0)
    frames = _rattled_frames(bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3), 4, 0.1, rng)
    n = len(frames[0])
    r, g = obs.rdf(_unwrapped(frames, rng), frames[0].cell[:], r_max=5.0, n_bins=50)
    g_ase, r_ase = get_rdf(frames, 5.0, 50)
    np.testing.assert_allclose(r, r_ase, rtol=1e-12)
    np.testing.assert_allclose(g * (n - 1) / n, g_ase, rtol=1e-10, atol=1e-12)
    assert g.max() > 5.0  # first-shell peak present


def test_rdf_triclinic_cell_changing_per_frame_matches_ase():
    """Reference: ase get_rdf per image (each with its own sheared primitive-fcc supercell)."""
    rng = np.random.default_rng(1)
    strains = [0.02 * (rng.random((3, 3)) - 0.5) for _ in range(3)]
    frames = _rattled_frames(bulk("Al", "fcc", a=4.05).repeat(5), 3, 0.08, rng, strains)
    n = len(frames[0])
    cells = np.stack([a.cell[:] for a in frames])
    _, g = obs.rdf(_unwrapped(frames, rng), cells, r_max=5.5, n_bins=40)
    g_ase, _ = get_rdf(frames, 5.5, 40)
    np.testing.assert_allclose(g * (n - 1) / n, g_ase, rtol=1e-10, atol=1e-12)


def test_partial_rdf_rocksalt_matches_ase():
    """Reference: ase get_rdf(elements=...) for Na-Cl (same normalisation) and Na-Na
    (ASE's N_Na^2 vs jaxpot's N_Na(N_Na-1))."""
    rng = np.random.default_rng(2)
    frames = _rattled_frames(bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(2), 3, 0.1, rng)
    pos, cell, z = _unwrapped(frames, rng), frames[0].cell[:], frames[0].numbers
    n_na = int(np.sum(z == 11))
    _, g_nacl = obs.rdf(pos, cell, z, r_max=5.5, n_bins=30, pair=(11, 17))
    _, g_clna = obs.rdf(pos, cell, z, r_max=5.5, n_bins=30, pair=(17, 11))
    _, g_nana = obs.rdf(pos, cell, z, r_max=5.5, n_bins=30, pair=(11, 11))
    np.testing.assert_allclose(g_nacl, get_rdf(frames, 5.5, 30, elements=(11, 17))[0], rtol=1e-10)
    np.testing.assert_allclose(g_clna, g_nacl, rtol=1e-12)
    np.testing.assert_allclose(g_nana * (n_na - 1) / n_na,
                               get_rdf(frames, 5.5, 30, elements=(11, 11))[0], rtol=1e-10)


def test_rdf_ideal_gas_is_one():
    """Reference: analytic g = 1 for uniform random points (N(N-1) normalisation; the N^2
    convention would give (N-1)/N = 0.95 here)."""
    rng = np.random.default_rng(3)
    n, n_frames, box = 20, 2000, 10.0
    pos = rng.random((n_frames, n, 3)) * box
    _, g = obs.rdf(pos, np.eye(3) * box, r_max=5.0, n_bins=20)
    shell = 4 / 3 * np.pi * np.diff(np.linspace(0, 5.0, 21) ** 3)
    expected = n * (n - 1) * n_frames * shell / box**3  # expected ordered-pair counts per bin
    assert abs(np.sum(g * expected) / np.sum(expected) - 1.0) < 0.005
    assert np.all(np.abs(g - 1.0) < 5 * np.sqrt(2.0 / expected))


# --------------------------------------------------------------------------- MSD / diffusion
def _naive_msd(pos, max_lag):
    """Direct O(T^2) average over all time origins and atoms."""
    n_frames = pos.shape[0]
    return np.array([np.mean([np.sum((pos[t + m] - pos[t]) ** 2, -1).mean()
                              for t in range(n_frames - m)]) for m in range(max_lag + 1)])


def test_msd_fft_matches_naive_loop():
    """Reference: direct loop over all origins, with and without COM removal and a selection."""
    rng = np.random.default_rng(4)
    pos = np.cumsum(rng.normal(size=(60, 7, 3)), axis=0) + 100.0
    masses = rng.uniform(1, 20, 7)
    lags, msd = obs.mean_squared_displacement(pos, com_correct=False)
    np.testing.assert_array_equal(lags, np.arange(60))
    np.testing.assert_allclose(msd, _naive_msd(pos, 59), rtol=1e-10, atol=1e-10)

    com = np.einsum("n,tnk->tk", masses / masses.sum(), pos)[:, None]
    mask = np.array([True, False, True, True, False, False, True])
    _, msd = obs.mean_squared_displacement(pos, species=mask, max_lag=25, masses=masses)
    np.testing.assert_allclose(msd, _naive_msd((pos - com)[:, mask], 25), rtol=1e-10, atol=1e-10)
    _, msd_idx = obs.mean_squared_displacement(pos, species=np.flatnonzero(mask), max_lag=25,
                                               masses=masses)
    np.testing.assert_allclose(msd_idx, msd, rtol=1e-12)


def test_msd_ballistic_and_drift_removal():
    """Reference: free particles r0 + v t give MSD = <|v|^2> t^2 (analytic); with COM removal
    <|v - v_com|^2> t^2, and a uniform drift leaves the COM-corrected MSD unchanged."""
    rng = np.random.default_rng(5)
    r0, v = rng.normal(size=(10, 3)) * 5, rng.normal(size=(10, 3))
    t = np.arange(40.0)
    pos = r0 + t[:, None, None] * v
    lags, msd = obs.mean_squared_displacement(pos, com_correct=False)
    np.testing.assert_allclose(msd, np.mean(np.sum(v**2, -1)) * lags**2, rtol=1e-10)
    _, msd_c = obs.mean_squared_displacement(pos)
    np.testing.assert_allclose(msd_c, np.mean(np.sum((v - v.mean(0)) ** 2, -1)) * lags**2,
                               rtol=1e-10)
    _, msd_d = obs.mean_squared_displacement(pos + 3.0 * t[:, None, None])
    np.testing.assert_allclose(msd_d, msd_c, rtol=1e-10, atol=1e-10)


def test_random_walk_diffusion_recovers_step_variance():
    """Reference: a Gaussian random walk with per-axis step variance s^2 every dt has
    D = s^2 / (2 dt) exactly; checked per species, and in cm^2/s (1 Å^2/fs = 0.1 cm^2/s)."""
    rng = np.random.default_rng(6)
    dt, n_frames = 2.0, 150
    step = np.where(np.arange(8000) < 4000, 0.1, 0.05)
    pos = np.cumsum(rng.normal(size=(n_frames, 8000, 3)) * step[None, :, None], axis=0)
    for s in (0.1, 0.05):  # estimator spread over seeds here: 1.4 % (1 sigma)
        d = obs.diffusion_coefficient(pos, dt, species=step == s, com_correct=False)
        assert d == pytest.approx(s**2 / (2 * dt), rel=0.06)
    assert obs.diffusion_to_cm2_per_s(1.0) == pytest.approx((1e-8) ** 2 / 1e-15, rel=1e-12)


def test_diffusion_matches_ase_diffusion_coefficient():
    """Reference: ase.md.analysis.DiffusionCoefficient (single origin, fit over all frames, ASE time
    units). On ballistic data every origin gives the same MSD, so with fit_range=(0, 1) both fit
    the same points and must agree exactly; a random walk agrees statistically."""
    rng = np.random.default_rng(7)
    dt, n_frames, n = 1.5, 60, 12
    v = rng.normal(size=(n, 3)) * 0.01
    pos = rng.normal(size=(n, 3)) * 4 + np.arange(n_frames)[:, None, None] * dt * v
    symbols = ["Li"] * 6 + ["O"] * 6
    images = [Atoms(symbols, positions=p) for p in pos]
    ase_d, _ = DiffusionCoefficient(images, dt * units.fs).get_diffusion_coefficients()
    ase_d = np.array(ase_d) * units.fs  # Å^2/(ASE time) -> Å^2/fs; order Li, O
    for i, z in enumerate((3, 8)):
        ours = obs.diffusion_coefficient(pos, dt, species=np.array([3] * 6 + [8] * 6) == z,
                                         fit_range=(0.0, 1.0), com_correct=False)
        assert ours == pytest.approx(ase_d[i], rel=1e-9)

    walk = np.cumsum(rng.normal(size=(30, 2000, 3)) * 0.1, axis=0)
    ase_walk = DiffusionCoefficient([Atoms(["Ar"] * 2000, positions=p) for p in walk],
                                    dt * units.fs).get_diffusion_coefficients()[0][0] * units.fs
    ours = obs.diffusion_coefficient(walk, dt, com_correct=False)
    # spread over seeds: ours / ASE 1.0 %, ours / exact 2.2 % (1 sigma)
    assert ours == pytest.approx(ase_walk, rel=0.05)
    assert ours == pytest.approx(0.1**2 / (2 * dt), rel=0.08)


# --------------------------------------------------------------------------- VACF / VDOS
def _oscillator_velocities(freqs_thz, amps, n_per, n_frames, dt):
    """v_i(t) = A cos(2 pi nu t + phi_i) with evenly spaced phases (exact origin averages)."""
    t = np.arange(n_frames) * dt  # fs
    vel = []
    for nu, a in zip(freqs_thz, amps):
        phases = 2 * np.pi * np.arange(n_per) / n_per
        ph = np.stack([phases, np.roll(phases, 1), np.roll(phases, 3)], axis=-1)  # (n_per, 3)
        vel.append(a * np.cos(2 * np.pi * nu * 1e-3 * t[:, None, None] + ph))
    return np.concatenate(vel, axis=1)


def test_vacf_harmonic_oscillators_and_naive_loop():
    """Reference: analytic cos(w t) for oscillators (mass-weighted mixture for two kinds, C(0) from
    equipartition-like averages), and a direct O(T^2) loop on random velocities."""
    dt, n_frames = 0.5, 400
    t = np.arange(n_frames) * dt
    vel = _oscillator_velocities([8.0], [0.3], 8, n_frames, dt)
    np.testing.assert_allclose(obs.velocity_autocorrelation(vel), np.cos(2 * np.pi * 8e-3 * t),
                               atol=1e-10)

    vel = _oscillator_velocities([8.0, 20.0], [0.3, 0.1], 8, n_frames, dt)
    masses = np.array([2.0] * 8 + [30.0] * 8)
    w1, w2 = 2.0 * 0.3**2, 30.0 * 0.1**2
    expected = (w1 * np.cos(2 * np.pi * 8e-3 * t) + w2 * np.cos(2 * np.pi * 20e-3 * t)) / (w1 + w2)
    c = obs.velocity_autocorrelation(vel, masses=masses, max_lag=100)
    np.testing.assert_allclose(c, expected[:101], atol=1e-10)
    c_raw = obs.velocity_autocorrelation(vel, masses=masses, normalize=False)
    assert c_raw[0] == pytest.approx(8 * (w1 + w2) * 1.5 / 16, rel=1e-10)

    rng = np.random.default_rng(8)
    v = rng.normal(size=(50, 5, 3))
    m = rng.uniform(1, 10, 5)
    naive = [np.mean([np.sum(m * np.sum(v[s] * v[s + k], -1)) / 5 for s in range(50 - k)])
             for k in range(50)]
    np.testing.assert_allclose(obs.velocity_autocorrelation(v, masses=m, normalize=False), naive,
                               rtol=1e-10, atol=1e-12)


def test_vdos_peaks_at_oscillator_frequencies():
    """Reference: analytic spectrum of oscillators at 5 and 12.5 THz (dt in fs, so THz = 1/ps);
    peak areas in the ratio of m A^2, total area 3N."""
    dt, n_frames = 1.0, 2000
    vel = _oscillator_velocities([5.0, 12.5], [0.2, 0.1], 6, n_frames, dt)
    masses = np.array([4.0] * 6 + [48.0] * 6)  # m A^2: 0.16 vs 0.48
    freq, dos = obs.vibrational_dos(vel, dt, masses=masses)
    assert freq[-1] == pytest.approx(500.0)  # Nyquist 1 / (2 dt) = 0.5 fs^-1 = 500 THz
    df = freq[1] - freq[0]
    low, high = (freq > 2) & (freq < 8), (freq > 9.5) & (freq < 15.5)
    assert abs(freq[low][np.argmax(dos[low])] - 5.0) <= df
    assert abs(freq[high][np.argmax(dos[high])] - 12.5) <= df
    assert np.sum(0.5 * (dos[1:] + dos[:-1]) * np.diff(freq)) == pytest.approx(36.0, rel=1e-10)
    assert np.sum(dos[high]) / np.sum(dos[low]) == pytest.approx(3.0, rel=0.03)


# --------------------------------------------------------------------------- conductivity
def test_nernst_einstein_units_against_scipy_constants():
    """Reference: sigma = sum N z^2 e^2 D / (V k T) evaluated in SI with scipy.constants."""
    d = {3: 1e-4, 8: 2e-5}  # Å^2/fs
    counts, charges, vol, temp = {3: 64, 8: 32}, {3: 1.0, 8: -2.0}, 1500.0, 600.0
    si = sum(counts[s] * (charges[s] * sc.e) ** 2 * d[s] * 1e-20 / 1e-15 for s in d)
    si /= vol * 1e-30 * sc.k * temp  # S/m
    sigma = obs.ionic_conductivity_nernst_einstein(d, counts, charges, vol, temp)
    assert sigma == pytest.approx(si / 100.0, rel=1e-6)  # ASE (CODATA 2014) vs scipy kB: 3e-7


def test_collective_conductivity_matches_nernst_einstein_for_independent_walkers():
    """Reference: Nernst-Einstein with the exact walker D = s^2 / (2 dt); without cross
    correlations the ensemble mean of the collective estimate must agree within 4 standard
    errors."""
    rng = np.random.default_rng(9)
    n_runs, n_frames, dt, vol, temp = 200, 300, 2.0, 800.0, 500.0
    z = np.array([1.0] * 8 + [-2.0] * 4)
    step = np.array([0.1] * 8 + [0.05] * 4)
    sig = [obs.ionic_conductivity(np.cumsum(rng.normal(size=(n_frames, 12, 3)) * step[:, None],
                                            axis=0), z, vol, temp, dt)
           for _ in range(n_runs)]
    ne = obs.ionic_conductivity_nernst_einstein({1: 0.1**2 / (2 * dt), -2: 0.05**2 / (2 * dt)},
                                                {1: 8, -2: 4}, {1: 1.0, -2: -2.0}, vol, temp)
    mean, sem = np.mean(sig), np.std(sig, ddof=1) / np.sqrt(n_runs)
    assert sem < 0.1 * ne
    assert abs(mean - ne) < 4 * sem


def test_collective_conductivity_vanishes_for_bound_neutral_pairs():
    """Reference: analytic; cation-anion pairs that move together carry no net current, so the
    collective sigma is 0 while Nernst-Einstein (no cross terms) is positive."""
    rng = np.random.default_rng(10)
    walk = np.cumsum(rng.normal(size=(200, 5, 3)) * 0.1, axis=0)
    pos = np.concatenate([walk, walk + 2.0], axis=1)
    z = np.array([1.0] * 5 + [-1.0] * 5)
    assert abs(obs.ionic_conductivity(pos, z, 500.0, 300.0, 1.0)) < 1e-9
    d = obs.diffusion_coefficient(pos, 1.0)
    assert obs.ionic_conductivity_nernst_einstein({1: d, -1: d}, {1: 5, -1: 5}, {1: 1, -1: -1},
                                                  500.0, 300.0) > 0.1


# --------------------------------------------------------------------------- bad input
def test_bad_input_raises_clear_value_errors():
    """Reference: the documented contract (shapes, r_max limit, selections, fit ranges)."""
    pos = np.zeros((5, 4, 3)) + np.arange(4)[None, :, None]
    cell = np.eye(3) * 10.0
    with pytest.raises(ValueError, match=r"r_max = 6 Å exceeds half the smallest perpendicular"):
        obs.rdf(pos, cell, r_max=6.0)
    with pytest.raises(ValueError, match="smallest perpendicular"):  # sheared: h < |a|
        obs.rdf(pos, [[10, 0, 0], [9, 4, 0], [0, 0, 10]], r_max=3.0)
    with pytest.raises(ValueError, match=r"cell must have shape \(3, 3\) or \(T, 3, 3\)"):
        obs.rdf(pos, np.eye(2), r_max=3.0)
    with pytest.raises(ValueError, match=r"positions must have shape"):
        obs.rdf(np.zeros((5, 4, 2)), cell, r_max=3.0)
    with pytest.raises(ValueError, match="needs species"):
        obs.rdf(pos, cell, r_max=3.0, pair=(1, 1))
    with pytest.raises(ValueError, match="no atoms of species 9"):
        obs.rdf(pos, cell, [1, 1, 2, 2], r_max=3.0, pair=(1, 9))
    with pytest.raises(ValueError, match=r"positions must have shape \(T, N, 3\)"):
        obs.mean_squared_displacement(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="T >= 2"):
        obs.mean_squared_displacement(np.zeros((1, 4, 3)))
    with pytest.raises(ValueError, match="max_lag"):
        obs.mean_squared_displacement(pos, max_lag=5)
    with pytest.raises(ValueError, match="numbers == Z"):  # atomic numbers passed as indices
        obs.mean_squared_displacement(pos, species=np.array([1, 1, 2, 2]))
    with pytest.raises(ValueError, match="masses must have shape"):
        obs.velocity_autocorrelation(pos, masses=np.ones(3))
    with pytest.raises(ValueError, match="fit_range"):
        obs.diffusion_coefficient(pos, 1.0, fit_range=(0.8, 0.2))
    with pytest.raises(ValueError, match="dt must be a positive"):
        obs.vibrational_dos(pos, 0.0)
    with pytest.raises(ValueError, match="charges must have shape"):
        obs.ionic_conductivity(pos, np.ones(5), 100.0, 300.0, 1.0)
    with pytest.raises(ValueError, match="temperature must be a positive"):
        obs.ionic_conductivity_nernst_einstein({3: 1.0}, {3: 1}, {3: 1.0}, 100.0, -1.0)
    with pytest.raises(ValueError, match="lack counts or charges"):
        obs.ionic_conductivity_nernst_einstein({3: 1.0}, {}, {3: 1.0}, 100.0, 300.0)
