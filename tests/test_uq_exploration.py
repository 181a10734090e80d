"""Uncertainty-biased exploration (issue 71): UDD on the Müller–Brown surface.

Reference: the Müller–Brown potential (K. Müller and L. D. Brown, Theor. Chim. Acta 53, 75
(1979)), V(x, y) = sum_k A_k exp(a_k (x-x0_k)^2 + b_k (x-x0_k)(y-y0_k) + c_k (y-y0_k)^2) with
A = (-200, -100, -170, 15), a = (-1, -1, -6.5, 0.7), b = (0, 0, 11, 0.6), c = (-10, -10, -6.5,
0.7), x0 = (1, 0, -0.5, -1), y0 = (0, 0.5, 1.5, 1), and its three minima at (-0.558, 1.442)
(A, the deepest), (0.623, 0.028) (B) and (-0.050, 0.467) (C).  Here energies are V x 0.01 eV
and lengths are MB units read as Å (factor 1): the minima lie at -1.467, -1.082 and -0.808 eV,
the A–C saddle (-0.822, 0.624) at -0.407 eV (1.06 eV above A), the C–B saddle (0.212, 0.293) at
-0.722 eV (0.086 eV above C, 0.36 eV above B).  One hydrogen atom in a periodic 20 Å box
carries it (x, y the MB coordinates, 0.5 K_Z z^2 with K_Z = 5 eV/Å^2 in z), as a model kind of
this file (registered, never saved or loaded).

Learned model: an ensemble (jaxpot.nn.ensemble) of K = 5 MLP "fields" E(x, y, z) (tanh,
32-32), differing by init seed and by a bootstrap of the training points, fitted with Adam
(3000 full-batch steps, the members in one vmapped scan; ~7 s CPU) to MB energies and forces at
200 Boltzmann-weighted points (kT = 0.05 eV) within 0.6 Å of minimum A only.  Not calibrated
(factor 1): B is set against the raw spread sigma, measured here (printed): median 6e-4 eV and
95th percentile 2e-3 eV on the training points, ~0.4 eV at the A–C saddle, 0.74 and 0.56 eV at
minima B and C.

Which energy explores.  uq.biased(ensemble, "udd", A, B) biases the ensemble's *own* mean,
which outside basin A is an extrapolation that knows nothing of basins B and C and does not
confine z: that run leaves A and runs off tens of Å (and so does the unbiased ensemble at this
temperature, over its extrapolated barrier), so the basins it would cross are an accident of
the extrapolation, not exploration of the surface (recorded in the last test, not the check).
The check biases the true energy with the ensemble's sigma, E_MB + A [exp(-sigma^2 / B^2) - 1],
built as the model sum true MB + (uq.biased(ensemble) - ensemble): what an active-learning loop
that labels the frames the biased run visits would see.  Its unbiased counterpart is MD of the
true MB energy.

A and B from sigma's range: B = 0.05 eV is 25x sigma's 95th percentile on the training points
(there the bias is < 0.2 % of A) and well below sigma at the saddle and at B and C, so the bias
switches fully on about 0.35 Å out of A towards the A–C saddle; A = 1.5 eV exceeds the 1.06 eV
climb from A to that saddle, so on the biased surface the straight path out of A rises only
0.23 eV (3.3 kT) before dropping to ~-2.2 eV, and outside A the particle moves on the true MB
surface lowered by a constant A (C and B, over the C–B saddle).

Runs (both): Langevin, T = 800 K (kT = 0.069 eV: A's 1.06 eV barrier is 15 kT, B–C's 0.36 eV
5 kT), timestep 1 fs, friction 0.01/fs, seed 0, N = 20,000 steps from minimum A; positions
every 50 steps (an .extxyz trajectory), each in the basin of the nearest MB minimum when within
0.3 Å of it.  Unbiased MD visits A only (it never gets 1 Å from A); UDD-biased MD visits A, B
and C (first at steps 300 (C) and 350 (B); seeds 0-9 all visit the three within 6,900 steps,
and unbiased seeds 0-9 stayed within 0.71 Å of A over 40,000 steps).  Also: forces of the
biased models equal central differences of their energies (float64), and the bias equals
A [exp(-sigma^2 / B^2) - 1].  About 13 s CPU in all.
"""

import time

import ase
import ase.io
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxpot import md
from jaxpot import uncertainty as uq
from jaxpot.model import EnergyModel, make_spec, register_model_kind
from jaxpot.nn.ensemble import ensemble
from jaxpot.testing import assert_derivatives_match_finite_differences
from jaxpot.uncertainty.bias import energy_std_function

jax.config.update("jax_enable_x64", True)

# Müller–Brown (1979), energies in units of ENERGY_UNIT eV, lengths in Å
MB_A = np.array([-200.0, -100.0, -170.0, 15.0])
MB_a = np.array([-1.0, -1.0, -6.5, 0.7])
MB_b = np.array([0.0, 0.0, 11.0, 0.6])
MB_c = np.array([-10.0, -10.0, -6.5, 0.7])
MB_X0 = np.array([1.0, 0.0, -0.5, -1.0])
MB_Y0 = np.array([0.0, 0.5, 1.5, 1.0])
ENERGY_UNIT = 0.01  # eV per MB unit
K_Z = 5.0  # eV/Å^2, the harmonic term in z
MINIMA = np.array([[-0.558, 1.442], [0.623, 0.028], [-0.050, 0.467]])  # A, B, C
NAMES = "ABC"
BASIN_RADIUS = 0.3  # Å: a logged position within this of a minimum is in its basin
BOX = 20.0  # Å

HIDDEN = (32, 32)
MEMBERS = 5
N_TRAIN = 200
TRAIN_RADIUS = 0.6  # Å around minimum A
TRAIN_KT = 0.05  # eV: Boltzmann weight of the training points
FIT_STEPS = 3000

T, TIMESTEP, FRICTION, SEED = 800.0, 1.0, 0.01, 0  # K, fs, 1/fs
STEPS, LOG = 20_000, 50
UDD_A, UDD_B = 1.5, 0.05  # eV, eV


def muller_brown_xy(params, xyz):
    """MB energy (eV) of the point xyz (..., 3) Å, plus 0.5 K_Z z^2."""
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    dx, dy = x[..., None] - MB_X0, y[..., None] - MB_Y0
    terms = params["A"] * jnp.exp(MB_a * dx * dx + MB_b * dx * dy + MB_c * dy * dy)
    return jnp.sum(terms, -1) + 0.5 * params["k_z"] * z * z


def muller_brown_energy(params, positions, cell, species, neighbors):
    return muller_brown_xy(params, positions[0])


def muller_brown(config: dict | None = None) -> EnergyModel:
    """The Müller–Brown particle as a model kind (test-only: never saved or loaded)."""
    params = {"A": jnp.asarray(MB_A * ENERGY_UNIT), "k_z": jnp.asarray(K_Z)}
    return EnergyModel(energy_fn=muller_brown_energy, params=params, cutoff=1.0,
                       spec=make_spec("test_muller_brown", "tests.test_uq_exploration"),
                       name="Müller–Brown particle", uses_rows=False)


CENTER, SCALE, OFFSET = np.r_[MINIMA[0], 0.0], 0.3, -1.3  # MLP input/output normalisation


def field_xyz(params, xyz):
    """MLP(position) (eV): tanh layers, input centred on minimum A."""
    h = (xyz - CENTER) / SCALE
    for layer in params[:-1]:
        h = jnp.tanh(h @ layer["w"] + layer["b"])
    return (h @ params[-1]["w"] + params[-1]["b"])[..., 0] + OFFSET


def field_energy(params, positions, cell, species, neighbors):
    return field_xyz(params, positions[0])


def init_field(key):
    sizes = (3, *HIDDEN, 1)
    keys = jax.random.split(key, len(sizes) - 1)
    return [{"w": jax.random.normal(k, (m, n)) / np.sqrt(m), "b": jnp.zeros(n)}
            for k, m, n in zip(keys, sizes[:-1], sizes[1:])]


def mlp_field(config: dict | None = None, params=None) -> EnergyModel:
    """Energy = MLP(x, y, z) of atom 0 (test-only kind; placeholder params when rebuilt)."""
    params = init_field(jax.random.PRNGKey(0)) if params is None else params
    return EnergyModel(energy_fn=field_energy, params=params, cutoff=1.0,
                       spec=make_spec("test_mlp_field", "tests.test_uq_exploration",
                                      hidden=list(HIDDEN)),
                       name="MLP field", uses_rows=False)


register_model_kind("test_muller_brown", muller_brown)
register_model_kind("test_mlp_field", mlp_field)
MB = muller_brown()


def particle(xy, z=0.0):
    return ase.Atoms("H", positions=[[xy[0], xy[1], z]], cell=np.eye(3) * BOX, pbc=True)


def training_points(rng):
    """N_TRAIN Boltzmann-weighted (kT = TRAIN_KT) points within TRAIN_RADIUS of minimum A
    (rejection sampling from a uniform disc, z normal with 0.15 Å spread)."""
    n = 200 * N_TRAIN
    r, phi = TRAIN_RADIUS * np.sqrt(rng.random(n)), 2 * np.pi * rng.random(n)
    xyz = np.c_[MINIMA[0] + np.c_[r * np.cos(phi), r * np.sin(phi)], rng.normal(0, 0.15, n)]
    e = np.asarray(muller_brown_xy(MB.params, jnp.asarray(xyz)))
    keep = rng.random(n) < np.exp(-(e - e.min()) / TRAIN_KT)
    assert keep.sum() >= N_TRAIN
    return xyz[keep][:N_TRAIN]


def fit_members(x, rng):
    """MEMBERS fields fitted to MB energies and forces at x (bootstrap weights, own seeds)."""
    xj = jnp.asarray(x)
    e_ref = muller_brown_xy(MB.params, xj)
    f_ref = -jax.vmap(jax.grad(lambda p: muller_brown_xy(MB.params, p)))(xj)
    weights = jnp.asarray(np.stack([np.bincount(rng.integers(0, len(x), len(x)),
                                                minlength=len(x)) for _ in range(MEMBERS)]),
                          float)

    def loss(p, w):
        e = field_xyz(p, xj)
        f = -jax.vmap(jax.grad(lambda q: field_xyz(p, q)))(xj)
        return (jnp.sum(w * (e - e_ref) ** 2) / 0.01 ** 2
                + jnp.sum(w[:, None] * (f - f_ref) ** 2) / (3 * 0.1 ** 2)) / jnp.sum(w)

    opt = optax.adam(optax.exponential_decay(1e-2, FIT_STEPS, 0.05))

    @jax.jit
    def train(params):
        def step(carry, _):
            p, s = carry
            value, grad = jax.vmap(jax.value_and_grad(loss))(p, weights)
            updates, s = jax.vmap(opt.update)(grad, s, p)
            return (optax.apply_updates(p, updates), s), value
        (p, _), values = jax.lax.scan(step, (params, jax.vmap(opt.init)(params)), None,
                                      FIT_STEPS)
        return p, values[-1]

    stacked, final = train(jax.vmap(init_field)(jax.random.split(jax.random.PRNGKey(7),
                                                                 MEMBERS)))
    return [mlp_field(params=jax.tree_util.tree_map(lambda a, k=k: a[k], stacked))
            for k in range(MEMBERS)], np.asarray(final)


@pytest.fixture(scope="module")
def learned():
    """The ensemble fitted on basin A, its training points and the raw spread sigma (eV)
    there, at the A–C saddle and at the three minima."""
    start = time.process_time()
    rng = np.random.default_rng(0)
    x = training_points(rng)
    members, loss = fit_members(x, rng)
    ens = ensemble(members)  # calibration factors 1: B is set against the raw spread
    sigma_fn = energy_std_function(ens)
    sigma = jax.jit(jax.vmap(lambda p: sigma_fn(ens.params, p[None], None, None, None)))
    e_fit = jax.vmap(lambda p: ens.energy_fn(ens.params, p[None], None, None, None))(
        jnp.asarray(x))
    rmse = float(jnp.sqrt(jnp.mean((e_fit - muller_brown_xy(MB.params, jnp.asarray(x))) ** 2)))
    s_train = np.asarray(sigma(jnp.asarray(x)))
    s_saddle = float(sigma(jnp.asarray([[-0.822, 0.624, 0.0]]))[0])
    s_minima = np.asarray(sigma(jnp.asarray(np.c_[MINIMA, np.zeros(3)])))
    print(f"\nfit: {time.process_time() - start:.1f} s CPU, final losses {np.round(loss, 3)}, "
          f"energy RMSE on the training points {rmse * 1e3:.1f} meV; sigma (eV) on them: "
          f"median {np.median(s_train):.2g}, 95th percentile {np.percentile(s_train, 95):.2g}, "
          f"max {s_train.max():.2g}; at the A-C saddle {s_saddle:.2g}; at minima A, B, C "
          f"{np.round(s_minima, 4)}; UDD A = {UDD_A} eV, B = {UDD_B} eV")
    return {"ensemble": ens, "x": x, "sigma": sigma, "train": s_train, "saddle": s_saddle,
            "minima": s_minima, "rmse": rmse}


def test_sigma_range_fits_the_bias_width(learned):
    """B lies between sigma in the training basin and sigma outside it (the choice of B)."""
    assert learned["rmse"] < 0.02
    assert np.percentile(learned["train"], 95) < 0.2 * UDD_B
    assert learned["minima"][0] < 0.2 * UDD_B
    assert learned["saddle"] > 1.5 * UDD_B and learned["minima"][1:].min() > 3 * UDD_B


def exploring_model(ens):
    """True MB energy biased by the ensemble's sigma: MB + (udd(ensemble) - ensemble)."""
    return MB + (uq.biased(ens, "udd", strength=UDD_A, width=UDD_B) - ens)


def test_bias_forces_match_finite_differences(learned):
    """Forces of the UDD-biased ensemble and of MB + UDD(sigma) equal central differences of
    their energies (float64), inside basin A, where the bias switches on, and near C; the
    bias equals A [exp(-sigma^2 / B^2) - 1]."""
    ens = learned["ensemble"]
    udd, explore = uq.biased(ens, "udd", strength=UDD_A, width=UDD_B), exploring_model(ens)
    for xyz in ([-0.55, 1.40, 0.05], [-0.66, 1.12, -0.1], [-0.70, 0.95, 0.0],
                [-0.10, 0.50, 0.2]):
        atoms = particle(xyz[:2], xyz[2])
        for model in (udd, explore):
            assert_derivatives_match_finite_differences(model, atoms, force_atol=1e-6,
                                                        stress_atol=None)
        p = jnp.asarray([xyz])
        s = float(learned["sigma"](p)[0])
        bias = float(explore.energy_fn(explore.params, p, None, None, None)
                     - MB.energy_fn(MB.params, p, None, None, None))
        assert bias == pytest.approx(UDD_A * (np.exp(-s * s / UDD_B ** 2) - 1.0), abs=1e-12)


def run_positions(model, path, seed=SEED):
    """(x, y, z) of the particle every LOG steps of a Langevin run from minimum A.  The
    temperature limit is raised: one particle rolling ~1 eV down the biased surface reads
    as ~10^4 K until friction takes the energy out."""
    md.run(md.langevin(model, TIMESTEP, T, FRICTION), particle(MINIMA[0]), STEPS,
           temperature=T, seed=seed, log_interval=LOG, trajectory=path, max_temperature=1e5)
    return np.array([a.positions[0] for a in ase.io.read(path, ":")])


def basins(positions):
    """Index of the basin (nearest minimum, within BASIN_RADIUS) of each position, -1 for
    none, and {name: first step in that basin}."""
    d = np.linalg.norm(positions[:, None, :2] - MINIMA[None], axis=-1)
    k = np.where(d.min(1) < BASIN_RADIUS, d.argmin(1), -1)
    first = {NAMES[j]: int(np.argmax(k == j)) * LOG for j in range(3) if np.any(k == j)}
    return k, first


def test_udd_explores_all_three_basins_where_unbiased_md_stays_in_one(learned, tmp_path):
    start = time.process_time()
    plain = run_positions(MB, tmp_path / "plain.extxyz")
    k_plain, seen_plain = basins(plain)
    biased = run_positions(exploring_model(learned["ensemble"]), tmp_path / "udd.extxyz")
    k_biased, seen_biased = basins(biased)
    far = np.linalg.norm(plain[:, :2] - MINIMA[0], axis=1).max()
    print(f"\n{STEPS} steps of {TIMESTEP} fs at {T} K (friction {FRICTION}/fs, seed {SEED}): "
          f"unbiased MB visits {seen_plain} (furthest {far:.2f} Å from A); MB + UDD "
          f"(A = {UDD_A} eV, B = {UDD_B} eV) first visits {seen_biased}; "
          f"{time.process_time() - start:.1f} s CPU")
    assert set(seen_plain) == {"A"}
    assert far < 1.0  # never near the A-C saddle (0.86 Å from A)
    assert set(seen_biased) == {"A", "B", "C"}


def test_udd_on_the_learned_energy_leaves_basin_a_and_runs_off(learned, tmp_path):
    """uq.biased(ensemble) alone pushes the particle out of the training basin, onto the
    ensemble mean's extrapolation (no B or C there): recorded, not the exploration check."""
    ens = learned["ensemble"]
    udd = uq.biased(ens, "udd", strength=UDD_A, width=UDD_B)
    pos = {}
    for name, model in (("ensemble", ens), ("udd(ensemble)", udd)):
        pos[name] = run_positions(model, tmp_path / f"{name}.extxyz")
        dist = np.linalg.norm(pos[name][:, :2] - MINIMA[0], axis=1)
        print(f"\n{name}: first visits {basins(pos[name])[1]}, furthest {dist.max():.3g} Å "
              f"from A, final position {np.round(pos[name][-1], 2)} Å")
    out = pos["udd(ensemble)"]
    assert np.linalg.norm(out[:, :2] - MINIMA[0], axis=1).max() > 2 * TRAIN_RADIUS
    assert float(learned["sigma"](jnp.asarray(out[-1:]))[0]) > UDD_B
