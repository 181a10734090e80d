"""Trajectory observables: RDF, MSD/diffusion, VACF/VDOS and ionic conductivity.

Conventions: positions (T, N, 3) in Å, *unwrapped* Cartesian; velocities (T, N, 3) in any unit
(jaxpot's are Å per ASE time unit); cell (3, 3) with rows = lattice vectors, or (T, 3, 3);
``dt`` = time between stored frames in fs; masses in amu; charges in units of e.
Time correlations average over all time origins with an FFT (O(T log T)).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot import units

#: elementary charge in C (exact SI value); used for the conductivity unit conversion
_E_COULOMB = 1.602176634e-19
#: 1 Å^2/fs in cm^2/s: (1e-8 cm)^2 / 1e-15 s
A2_PER_FS_TO_CM2_PER_S = 0.1
#: 1 fs^-1 in THz (cycles per ps)
_PER_FS_TO_THZ = 1.0e3


# --------------------------------------------------------------------------- input checks
def _trajectory(x, name: str) -> np.ndarray:
    """(T, N, 3) float64 array with T >= 2, N >= 1, all finite, else ValueError."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 3 or a.shape[-1] != 3 or a.shape[0] < 2 or a.shape[1] < 1:
        raise ValueError(f"{name} must have shape (T, N, 3) with T >= 2 frames, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains non-finite values")
    return a


def _per_atom(x, n: int, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.shape != (n,):
        raise ValueError(f"{name} must have shape (N,) = ({n},), got {a.shape}")
    return a


def _positive(x: float, name: str) -> float:
    if not (np.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be a positive finite number, got {x!r}")
    return float(x)


def _max_lag(max_lag: int | None, n_frames: int) -> int:
    if max_lag is None:
        return n_frames - 1
    if not 1 <= int(max_lag) <= n_frames - 1:
        raise ValueError(f"max_lag must be in [1, T-1] = [1, {n_frames - 1}], got {max_lag}")
    return int(max_lag)


def _selection(species, n: int) -> np.ndarray:
    """Atom indices from None (all), a boolean mask (N,) or unique integer indices."""
    if species is None:
        return np.arange(n)
    s = np.asarray(species)
    if s.dtype == bool:
        if s.shape != (n,):
            raise ValueError(f"species mask must have shape ({n},), got {s.shape}")
        idx = np.flatnonzero(s)
    elif np.issubdtype(s.dtype, np.integer) and s.ndim == 1:
        idx = s
        if np.unique(idx).size != idx.size or idx.min(initial=0) < 0 or idx.max(initial=0) >= n:
            raise ValueError("species as integer indices must be unique and in [0, N); "
                             "to select an element pass a mask such as numbers == Z")
    else:
        raise ValueError("species must be None, a boolean mask (N,) or an index array")
    if idx.size == 0:
        raise ValueError("species selects no atoms")
    return idx


# --------------------------------------------------------------------------- RDF
def _cells(cell, n_frames: int) -> np.ndarray:
    c = np.asarray(cell, dtype=np.float64)
    if c.shape == (3, 3):
        c = np.broadcast_to(c, (n_frames, 3, 3))
    if c.shape != (n_frames, 3, 3):
        raise ValueError(f"cell must have shape (3, 3) or (T, 3, 3) = ({n_frames}, 3, 3), "
                         f"got {np.asarray(cell).shape}")
    return c


def _perpendicular_widths(cells: np.ndarray) -> np.ndarray:
    """(T, 3) plane spacings h_i = V / |a_j x a_k| in Å."""
    vol = np.abs(np.linalg.det(cells))
    cross = np.stack([np.cross(cells[:, (i + 1) % 3], cells[:, (i + 2) % 3]) for i in range(3)], 1)
    return vol[:, None] / np.linalg.norm(cross, axis=-1)


@partial(jax.jit, static_argnames=("n_bins",))
def _pair_histograms(frac_a, frac_b, cells, exclude, r_max, n_bins: int):
    """(T, n_bins) counts of a-b pair distances in [0, r_max), minimum image.

    The rounded fractional difference is the true minimum image for any pair closer than
    h_min / 2 (each fractional component of such a vector is r . b_i <= |r| / h_i < 1/2), and
    no second image can also be within r_max <= h_min / 2, so every pair counts once.
    """
    dr = r_max / n_bins

    def frame(args):
        fa, fb, cell = args
        ds = [fa[:, None, i] - fb[None, :, i] for i in range(3)]  # per component: ~2x faster
        ds = [x - jnp.round(x) for x in ds]                       # on CPU than (Na, Nb, 3) @ cell
        d2 = sum((ds[0] * cell[0, j] + ds[1] * cell[1, j] + ds[2] * cell[2, j]) ** 2
                 for j in range(3))
        k = jnp.floor(jnp.sqrt(d2) / dr).astype(jnp.int32)
        k = jnp.where((k < n_bins) & ~exclude, k, n_bins)
        return jnp.bincount(k.ravel(), length=n_bins + 1)[:n_bins]

    return jax.lax.map(frame, (frac_a, frac_b, cells))


def rdf(positions, cell, species=None, *, r_max: float, n_bins: int = 100,
        pair: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Radial distribution function g(r), averaged over frames (periodic, minimum image).

    positions (T, N, 3) Å (or one frame (N, 3)); cell (3, 3) or (T, 3, 3) Å; species (N,) atomic
    numbers, needed only for ``pair=(Z1, Z2)`` (partial g of Z2 atoms around Z1 atoms).
    Normalisation per frame: g_k = V n_k / (N_pairs 4/3 pi (r_{k+1}^3 - r_k^3)) with
    N_pairs = N1 N2 - (atoms in both sets), i.e. N (N - 1) for the total RDF, so an ideal gas
    gives g = 1 exactly (ASE and MDAnalysis use N1 N2, which is lower by (N - 1) / N for like
    pairs). Requires r_max <= half the smallest perpendicular cell width.
    Returns bin centres r (n_bins,) in Å and g (n_bins,), dimensionless.
    """
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim == 2:
        pos = pos[None]
    if pos.ndim != 3 or pos.shape[-1] != 3 or pos.shape[1] < 1:
        raise ValueError(f"positions must have shape (T, N, 3) or (N, 3), got {pos.shape}")
    n_frames, n_atoms, _ = pos.shape
    cells = _cells(cell, n_frames)
    r_max = _positive(r_max, "r_max")
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    vol = np.abs(np.linalg.det(cells))
    if np.any(vol < 1e-10):
        raise ValueError("cell has zero volume")
    h_min = _perpendicular_widths(cells).min()
    if r_max > 0.5 * h_min + 1e-12:
        raise ValueError(f"r_max = {r_max:g} Å exceeds half the smallest perpendicular cell "
                         f"width ({0.5 * h_min:g} Å); use r_max <= {0.5 * h_min:g}")

    if pair is None:
        idx_a = idx_b = np.arange(n_atoms)
    else:
        if species is None:
            raise ValueError("pair=(Z1, Z2) needs species (N,) atomic numbers")
        numbers = np.asarray(species)
        if numbers.shape != (n_atoms,):
            raise ValueError(f"species must have shape (N,) = ({n_atoms},), got {numbers.shape}")
        if len(pair) != 2:
            raise ValueError(f"pair must be two atomic numbers (Z1, Z2), got {pair!r}")
        idx_a, idx_b = (np.flatnonzero(numbers == z) for z in pair)
        if idx_a.size == 0 or idx_b.size == 0:
            raise ValueError(f"pair {tuple(pair)}: no atoms of species {pair[idx_a.size != 0]}")
    exclude = idx_a[:, None] == idx_b[None, :]
    n_pairs = idx_a.size * idx_b.size - int(exclude.sum())
    if n_pairs == 0:
        raise ValueError("rdf needs at least two atoms in the chosen pair sets")

    frac = np.einsum("tnj,tjk->tnk", pos, np.linalg.inv(cells))
    frac -= np.floor(frac)  # wrap in float64 before handing to JAX (unwrapped |x| may be large)
    counts = np.asarray(_pair_histograms(frac[:, idx_a], frac[:, idx_b], cells,
                                         exclude, r_max, int(n_bins)), dtype=np.float64)
    edges = np.linspace(0.0, r_max, int(n_bins) + 1)
    shell = 4.0 / 3.0 * np.pi * np.diff(edges**3)
    g = (counts * vol[:, None] / (n_pairs * shell)).mean(axis=0)
    return 0.5 * (edges[1:] + edges[:-1]), g


# --------------------------------------------------------------------------- correlations
def _autocorrelation(x: np.ndarray) -> np.ndarray:
    """Origin-averaged sum_a <x_a(t0) x_a(t0 + m)> for x (T, M, 3): returns (T, M), lags 0..T-1."""
    n_frames = x.shape[0]
    n_fft = 1 << (2 * n_frames - 1).bit_length()  # zero padding: linear, not circular
    f = np.fft.rfft(x, n=n_fft, axis=0)
    s = np.fft.irfft(f * f.conj(), n=n_fft, axis=0)[:n_frames].sum(axis=-1)
    return s / (n_frames - np.arange(n_frames))[:, None]


def _msd_per_particle(x: np.ndarray) -> np.ndarray:
    """Origin-averaged <|x(t0 + m) - x(t0)|^2> for x (T, M, 3): returns (T, M).

    FFT algorithm (Kneller et al., nMoldyn): MSD(m) = S1(m) - 2 S2(m), S2 the autocorrelation,
    S1(m) = (2 sum_k D_k - sum_{k<m} D_k - sum_{k>=T-m} D_k) / (T - m), D_k = |x_k|^2.
    """
    n_frames = x.shape[0]
    x = x - x.mean(axis=0)  # MSD is shift invariant; centring limits cancellation
    d = np.sum(x * x, axis=-1)
    zero = np.zeros((1, d.shape[1]))
    head = np.concatenate([zero, np.cumsum(d, axis=0)[:-1]])
    tail = np.concatenate([zero, np.cumsum(d[::-1], axis=0)[:-1]])
    s1 = (2.0 * d.sum(axis=0) - head - tail) / (n_frames - np.arange(n_frames))[:, None]
    msd = np.maximum(s1 - 2.0 * _autocorrelation(x), 0.0)
    msd[0] = 0.0  # exact by definition; the FFT leaves round-off there
    return msd


def mean_squared_displacement(positions, *, species=None, max_lag: int | None = None,
                              com_correct: bool = True,
                              masses=None) -> tuple[np.ndarray, np.ndarray]:
    """MSD(m) = <|r_i(t0 + m) - r_i(t0)|^2> over selected atoms and all origins t0.

    positions (T, N, 3) unwrapped, Å. species selects atoms: None (all), a boolean mask (N,)
    e.g. ``numbers == 3``, or unique indices. com_correct removes the drift of the centre of
    mass of *all* atoms (weighted by ``masses`` (N,) amu if given, else equally).
    Returns lags (max_lag + 1,) in frames (default max_lag = T - 1) and msd in Å^2.
    """
    pos = _trajectory(positions, "positions")
    n_frames, n_atoms, _ = pos.shape
    lag = _max_lag(max_lag, n_frames)
    idx = _selection(species, n_atoms)
    if com_correct:
        w = np.ones(n_atoms) if masses is None else _per_atom(masses, n_atoms, "masses")
        pos = pos - np.einsum("n,tnk->tk", w / w.sum(), pos)[:, None, :]
    msd = _msd_per_particle(pos[:, idx]).mean(axis=1)
    return np.arange(lag + 1), msd[: lag + 1]


def _einstein_slope(y: np.ndarray, dt: float, fit_range: tuple[float, float]) -> float:
    """Slope (per fs) of a straight line y = a t + b fitted on lags in fit_range * (len(y) - 1)."""
    lo, hi = fit_range
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"fit_range must satisfy 0 <= lo < hi <= 1, got {fit_range!r}")
    lags = np.arange(y.size)
    sel = (lags >= lo * (y.size - 1)) & (lags <= hi * (y.size - 1))
    if sel.sum() < 2:
        raise ValueError(f"fit_range {fit_range!r} covers fewer than 2 lags; use more frames")
    return float(np.polyfit(lags[sel] * dt, y[sel], 1)[0])


def diffusion_coefficient(positions, dt: float, *, species=None,
                          fit_range: tuple[float, float] = (0.2, 0.8), max_lag: int | None = None,
                          com_correct: bool = True, masses=None) -> float:
    """Self-diffusion coefficient D in Å^2/fs from the Einstein relation MSD = 6 D t.

    Straight line (with intercept) fitted to the all-origins MSD of
    :func:`mean_squared_displacement` over lags in ``fit_range`` times max_lag (default T - 1).
    positions (T, N, 3) Å unwrapped; dt in fs. ``diffusion_to_cm2_per_s`` converts the result.
    """
    dt = _positive(dt, "dt")
    _, msd = mean_squared_displacement(positions, species=species, max_lag=max_lag,
                                       com_correct=com_correct, masses=masses)
    return _einstein_slope(msd, dt, fit_range) / 6.0


def diffusion_to_cm2_per_s(d: float) -> float:
    """Convert a diffusion coefficient from Å^2/fs to cm^2/s (factor 0.1)."""
    return d * A2_PER_FS_TO_CM2_PER_S


def velocity_autocorrelation(velocities, *, masses=None, max_lag: int | None = None,
                             normalize: bool = True) -> np.ndarray:
    """VACF C(m) = (1/N) sum_i w_i <v_i(t0) . v_i(t0 + m)> over atoms and all origins.

    velocities (T, N, 3); w_i = masses (N,) in amu if given, else 1 (then with jaxpot units
    C(0) = 2 <KE> / N = 3 kB T in eV). Returns (max_lag + 1,) for lags 0..max_lag frames,
    divided by C(0) if normalize.
    """
    vel = _trajectory(velocities, "velocities")
    n_frames, n_atoms, _ = vel.shape
    lag = _max_lag(max_lag, n_frames)
    w = np.ones(n_atoms) if masses is None else _per_atom(masses, n_atoms, "masses")
    c = (_autocorrelation(vel) @ w)[: lag + 1] / n_atoms
    if normalize:
        if c[0] <= 0:
            raise ValueError("velocities are all zero; cannot normalise the VACF")
        c = c / c[0]
    return c


def vibrational_dos(velocities, dt: float, *, masses=None,
                    max_lag: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Vibrational density of states from the cosine transform of the (mass-weighted) VACF.

    The VACF (lags 0..max_lag, default T - 1) is tapered with a half Hann window (suppresses the
    noisy long-lag tail and truncation ripples), then DOS(nu) = C_0 + 2 sum_m C_m cos(2 pi nu m dt).
    velocities (T, N, 3); dt in fs; masses (N,) amu (recommended: weights modes by kinetic energy).
    Returns freq (M,) in THz (cycles per ps, 0..Nyquist) and dos (M,) in 1/THz normalised so that
    the trapezoid integral over freq equals 3N (the number of modes). The window's side lobes can
    leave small negative ripples (a few % of a peak); they are not clipped.
    """
    dt = _positive(dt, "dt")
    vel = _trajectory(velocities, "velocities")
    c = velocity_autocorrelation(vel, masses=masses, max_lag=max_lag, normalize=True)
    m = c.size
    c = c * np.cos(0.5 * np.pi * np.arange(m) / m) ** 2
    even = np.concatenate([c, [0.0], c[:0:-1]])  # symmetric extension, length 2m
    dos = np.fft.rfft(even).real
    freq = np.fft.rfftfreq(2 * m, d=dt) * _PER_FS_TO_THZ
    area = np.sum(0.5 * (dos[1:] + dos[:-1]) * np.diff(freq))
    return freq, dos * 3 * vel.shape[1] / area


# --------------------------------------------------------------------------- conductivity
# sigma = e^2 / (V kB T) * X with X in Å^2/fs (charges in e), V in Å^3, kB T in eV. In SI,
# sigma = e_C^2 X / (V kB T [J]) and kB T [J] = e_C * kB T [eV], so
# sigma = e_C * X[m^2/s] / (V[m^3] * kB T[eV]) in C/(s V m) = S/m. With X[m^2/s] = 1e-5 X[Å^2/fs],
# V[m^3] = 1e-30 V[Å^3] and S/cm = S/m / 100:
# sigma[S/cm] = e_C * 1e-5 / 1e-30 / 100 * X / (V kB T) = 1.602176634e4 * X / (V[Å^3] kB T[eV]).
_CONDUCTIVITY_TO_S_PER_CM = _E_COULOMB * 1.0e-5 / 1.0e-30 / 100.0


def _conductivity_prefactor(volume: float, temperature: float) -> float:
    """(S/cm) per (e^2 Å^2/fs): 1 / (V kB T) with the unit conversion above."""
    volume = _positive(volume, "volume")
    temperature = _positive(temperature, "temperature")
    return _CONDUCTIVITY_TO_S_PER_CM / (volume * units.kB * temperature)


def ionic_conductivity_nernst_einstein(D_per_species: dict[int, float], counts: dict[int, int],
                                       charges: dict[int, float], volume: float,
                                       temperature: float) -> float:
    """Nernst-Einstein conductivity sigma = e^2 / (V kB T) sum_s N_s z_s^2 D_s in S/cm.

    D_per_species Å^2/fs, counts (atoms per species), charges in e, all keyed by species;
    volume Å^3, temperature K. Ignores ion-ion cross correlations (Haven ratio 1).
    """
    missing = set(D_per_species) - set(counts) | set(D_per_species) - set(charges)
    if missing:
        raise ValueError(f"species {sorted(missing)} lack counts or charges")
    x = sum(counts[s] * charges[s] ** 2 * D_per_species[s] for s in D_per_species)
    return float(x * _conductivity_prefactor(volume, temperature))


def ionic_conductivity(positions, charges, volume: float, temperature: float, dt: float,
                       fit_range: tuple[float, float] = (0.2, 0.8),
                       max_lag: int | None = None) -> float:
    """Collective (charge-current) Einstein conductivity in S/cm, cross correlations included.

    sigma = 1 / (6 V kB T) d/dt <|sum_i q_i (r_i(t0 + t) - r_i(t0))|^2>, all origins, slope fitted
    over ``fit_range`` of lags 0..max_lag (default T - 1). positions (T, N, 3) Å unwrapped,
    charges (N,) in e, volume Å^3, temperature K, dt fs. For a neutral system a uniform drift
    cancels, so no centre-of-mass correction is applied. Far noisier than Nernst-Einstein: the
    polarisation is a single "particle", so average over long or many runs.
    """
    dt = _positive(dt, "dt")
    pos = _trajectory(positions, "positions")
    q = _per_atom(charges, pos.shape[1], "charges")
    lag = _max_lag(max_lag, pos.shape[0])
    dipole = np.einsum("n,tnk->tk", q, pos)[:, None, :]
    msd = _msd_per_particle(dipole)[: lag + 1, 0]
    return _einstein_slope(msd, dt, fit_range) / 6.0 * _conductivity_prefactor(volume, temperature)
