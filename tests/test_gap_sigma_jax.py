"""A GAP's posterior standard deviations as JAX functions (:mod:`jaxpot.gap.posterior_sigma`).

References: the sparse-GP projected-process (DTC) predictive variance of Quiñonero-Candela &
Rasmussen, JMLR 6, 1939 (2005),

    var f* = k** - k*^T K_MM^-1 k* + k*^T (K_MM + K_MN Lambda^-1 K_NM)^-1 k*,

evaluated (i) by :func:`jaxpot.gap.predictive_std` (host NumPy/SciPy on the fit's Cholesky and
QR factors) and (ii) densely in this file with NumPy inverses of kernel matrices assembled here
from the SOAP vectors (the descriptor called on ase.Atoms), ase's neighbour list and central
differences for the force rows, independently of jaxpot's kernel rows; gradients against
central finite differences.  Small two-species (Cu, Au) cells labelled by ASE's EMT, so both
the per-species sparse sets and the three distance_2b pair types are exercised.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.neighborlist import neighbor_list

import jaxpot
from jaxpot import gap
from jaxpot import uncertainty as uq
from jaxpot.gap.posterior_sigma import local_energy_std_function
from jaxpot.gap.uncertainty import predictive_std
from jaxpot.neighbors import allocate_for_model
from jaxpot.uncertainty.carrier import carry
from jaxpot.uncertainty.sigma import energy_std_function, sigma_of_spec

jax.config.update("jax_enable_x64", True)

SOAP = gap.SoapSettings(cutoff=4.0, n_max=3, l_max=2, zeta=2, n_sparse=8, delta=0.5)
TWO_B = gap.TwoBodySettings(cutoff=3.5, n_sparse=6, delta=0.3, theta_uniform=0.6)
SIGMAS = (0.005, 0.1, 0.05, 0.0)


def _cuau(seed: int, amplitude: float, strain: float = 1.0):
    """An 8-atom fcc Cu cell with two Au atoms, rattled, labelled by EMT."""
    atoms = bulk("Cu", "fcc", a=3.65 * strain, cubic=True).repeat((2, 1, 1))
    atoms.numbers[[1, 6]] = 79
    atoms.rattle(amplitude, seed=seed)
    atoms.calc = EMT()
    e, f = atoms.get_potential_energy(), atoms.get_forces()
    atoms.calc = SinglePointCalculator(atoms, energy=e, forces=f)
    return atoms


@pytest.fixture(scope="module")
def fits():
    """Training frames, test frames, and GAPs carrying their posterior: SOAP + distance_2b
    (neighbor rows) and distance_2b alone (its half list)."""
    train = [_cuau(k, 0.1) for k in range(3)]
    test = [_cuau(10, 0.05), _cuau(11, 0.2), _cuau(12, 0.1, strain=0.93)]
    out = {}
    for name, settings in (
            ("soap+2b", gap.GapSettings(soap=SOAP, distance_2b=TWO_B, e0=0.0,
                                        default_sigma=SIGMAS, fit_virials=False,
                                        sparse_jitter=1e-6)),
            ("2b", gap.GapSettings(soap=None, distance_2b=TWO_B, e0=0.0,
                                   default_sigma=SIGMAS, fit_virials=False,
                                   sparse_jitter=1e-6))):
        result = gap.fit(train, settings, progress=False)
        u, r, _ = result.posterior
        model = carry(result.gap, "gap_posterior", {"kmm_factor": u, "posterior_factor": r})
        out[name] = (result, model)
    return train, test, out


def _args(model, atoms, skin: float = 0.5):
    nbrs = allocate_for_model(model, atoms.positions, atoms.cell.array, atoms.pbc, skin=skin)
    return (jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
            jnp.asarray(atoms.numbers), nbrs)


def test_total_sigma_equals_predictive_std(fits):
    """sigma(params, ...) of a GAP carrying its posterior = predictive_std's energy std
    (1e-10 relative) for SOAP + distance_2b and distance_2b alone, on several frames; a
    carried calibration multiplies it by its energy factor, as uq.predict does."""
    _, test, models = fits
    for name, (result, model) in models.items():
        ref = predictive_std(result.gap, result.posterior, test)
        sigma = jax.jit(energy_std_function(model))
        got = [float(sigma(model.params, *_args(model, a))) for a in test]
        np.testing.assert_allclose(got, ref.energy, rtol=1e-10, err_msg=name)
    result, model = models["soap+2b"]
    u, r, _ = result.posterior
    scaled = carry(result.gap, "gap_posterior", {"kmm_factor": u, "posterior_factor": r},
                   scale=(1.7, 2.0), calibrated=True)
    got = float(jax.jit(sigma_of_spec(scaled.spec))(scaled.params, *_args(scaled, test[1])))
    assert got == pytest.approx(float(uq.predict(scaled, test[1:2]).energy_std[0]),
                                rel=1e-10)


def test_local_std_equals_predictive_std(fits):
    """local_energy_std_function = predictive_std's local-energy stds (1e-10 relative) and,
    calibrated, uq.predict's energies_std; a GAP without a SOAP term has none."""
    _, test, models = fits
    result, model = models["soap+2b"]
    ref = predictive_std(result.gap, result.posterior, test)
    local = jax.jit(local_energy_std_function(model))
    for atoms, want in zip(test, ref.local_energies):
        np.testing.assert_allclose(local(model.params, *_args(model, atoms)), want, rtol=1e-10)
    u, r, _ = result.posterior
    scaled = carry(result.gap, "gap_posterior", {"kmm_factor": u, "posterior_factor": r},
                   scale=(0.4, 1.0))
    got = jax.jit(local_energy_std_function(scaled))(scaled.params, *_args(scaled, test[2]))
    np.testing.assert_allclose(got, uq.predict(scaled, test[2:]).energies_std[0], rtol=1e-10)
    with pytest.raises(ValueError, match="SOAP"):
        local_energy_std_function(models["2b"][1])


def _dense_variance(result, train, atoms) -> float:
    """The DTC variance of ``atoms``' total energy from dense kernel matrices: SOAP vectors
    from the descriptor, pair distances from ase's neighbour list, force rows by central
    differences of the energy rows, NumPy inverses."""
    from jaxpot.gap.design import gap_terms
    from jaxpot.gap.terms import soap_gp_descriptor
    soap, pair = gap_terms(result.gap)
    desc = soap_gp_descriptor(soap)
    x, delta = np.asarray(soap.params["sparse"]), float(soap.params["delta"])
    owner = np.repeat([29, 79], json.loads(soap.spec)["config"]["n_sparse"])
    centres = np.asarray(pair.params["sparse"])  # (3, M) for CuCu, CuAu, AuAu
    theta, delta2 = np.asarray(pair.params["theta"]), np.asarray(pair.params["delta"])
    cut, width = TWO_B.cutoff, TWO_B.cutoff_transition_width

    def f(r):
        t = np.clip((r - (cut - width)) / width, 0.0, 1.0)
        return np.where(r < cut, 0.5 * (np.cos(np.pi * t) + 1.0), 0.0)

    def pairs(a):
        i, j, d = neighbor_list("ijd", a, cut)
        z = a.numbers
        return d, np.where((z[i] == 29) & (z[j] == 29), 0,
                           np.where((z[i] == 79) & (z[j] == 79), 2, 1))

    def energy_row(a):  # k*_E (M_tot,)
        p = desc(a)
        k_soap = delta ** 2 * np.sum(np.where(a.numbers[:, None] == owner[None, :],
                                              (p @ x.T) ** SOAP.zeta, 0.0), axis=0)
        d, t = pairs(a)
        k_pair = [delta2[k] ** 2 * f(centres[k]) * np.sum(
            f(d[t == k])[:, None] * np.exp(-0.5 * ((d[t == k][:, None] - centres[k]) /
                                                   theta[k]) ** 2), axis=0) for k in range(3)]
        return np.concatenate([k_soap] + k_pair)

    def prior(a):  # k**
        p = desc(a)
        same = a.numbers[:, None] == a.numbers[None, :]
        out = delta ** 2 * np.sum(np.where(same, (p @ p.T) ** SOAP.zeta, 0.0))
        d, t = pairs(a)
        for k in range(3):
            dk, fk = d[t == k], f(d[t == k])
            out += delta2[k] ** 2 * fk @ np.exp(-0.5 * ((dk[:, None] - dk) / theta[k]) ** 2) @ fk
        return out

    blocks = [delta ** 2 * np.where(owner[:, None] == owner, (x @ x.T) ** SOAP.zeta, 0.0)]
    blocks += [delta2[k] ** 2 * np.exp(-0.5 * ((c[:, None] - c) / theta[k]) ** 2)
               * np.outer(f(c), f(c)) for k, c in enumerate(centres)]
    m = sum(len(b) for b in blocks)
    k_mm, at = 1e-6 * np.eye(m), 0
    for b in blocks:
        k_mm[at:at + len(b), at:at + len(b)] += b
        at += len(b)
    rows, lam, h = [], [], 1e-4
    for a in train:
        rows.append(energy_row(a))
        lam.append((SIGMAS[0] * np.sqrt(len(a))) ** 2)
        for n in range(len(a)):
            for c in range(3):
                plus, minus = a.copy(), a.copy()
                plus.positions[n, c] += h
                minus.positions[n, c] -= h
                rows.append(-(energy_row(plus) - energy_row(minus)) / (2 * h))
                lam.append(SIGMAS[1] ** 2)
    k_nm, lam = np.array(rows), np.array(lam)
    posterior = np.linalg.inv(k_mm + k_nm.T @ (k_nm / lam[:, None]))
    k = energy_row(atoms)
    return prior(atoms) - k @ np.linalg.solve(k_mm, k) + k @ posterior @ k


def test_sigma_equals_the_dense_dtc_variance(fits):
    """sigma^2 of a SOAP + distance_2b GAP = the DTC variance assembled densely here (the
    force rows by central differences, h = 1e-4 Å: 1e-6 relative)."""
    train, test, models = fits
    result, model = models["soap+2b"]
    sigma = jax.jit(energy_std_function(model))
    for atoms in (test[2], train[0]):
        got = float(sigma(model.params, *_args(model, atoms))) ** 2
        assert got == pytest.approx(_dense_variance(result, train, atoms), rel=1e-6)


def test_gradient_equals_central_differences_and_sigma_is_invariant(fits):
    """jax.grad of sigma in positions = central differences (h = 1e-5 Å, rtol 1e-6, atol 1e-6
    x the largest component: sigma^2 ~ 0.03 eV^2 is the difference of k** ~ 300 eV^2 and the
    fit terms, so its round-off, ~1e-14 k**, leaves the differences an absolute noise of
    ~4e-8 eV/Å at this h) and is finite in the cell too; sigma is unchanged by a translation
    and a permutation of the atoms, and its gradient permutes with them."""
    _, test, models = fits
    for name, (_, model) in models.items():
        atoms = test[1]
        pos, cell, z, nbrs = _args(model, atoms)
        fn = energy_std_function(model)
        sigma = jax.jit(fn)
        grad = jax.jit(jax.grad(fn, argnums=(1, 2)))
        g_pos, g_cell = grad(model.params, pos, cell, z, nbrs)
        assert np.all(np.isfinite(g_pos)) and np.all(np.isfinite(g_cell))
        h, fd = 1e-5, np.zeros(pos.shape)
        for n in range(pos.shape[0]):
            for c in range(3):
                step = jnp.zeros(pos.shape).at[n, c].set(h)
                fd[n, c] = (sigma(model.params, pos + step, cell, z, nbrs)
                            - sigma(model.params, pos - step, cell, z, nbrs)) / (2 * h)
        np.testing.assert_allclose(g_pos, fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max(),
                                   err_msg=name)
        s0 = float(sigma(model.params, pos, cell, z, nbrs))
        moved = atoms.copy()
        moved.positions += [0.37, -1.1, 2.3]
        assert float(sigma(model.params, *_args(model, moved))) == pytest.approx(s0, rel=1e-10)
        perm = np.random.default_rng(0).permutation(len(atoms))
        shuffled = atoms[perm]
        args = _args(model, shuffled)
        assert float(sigma(model.params, *args)) == pytest.approx(s0, rel=1e-10)
        np.testing.assert_allclose(grad(model.params, *args)[0], np.asarray(g_pos)[perm],
                                   rtol=1e-8, atol=1e-12)


def test_one_compiled_sigma_serves_models_of_one_spec(fits):
    """Two GAPs of one spec (other weights and posterior) share sigma_of_spec's function and
    one compilation, each with its own values."""
    _, test, models = fits
    result, model = models["soap+2b"]
    u, r, _ = result.posterior
    other_gap = result.gap.replace(params=jax.tree_util.tree_map(lambda a: 1.1 * a,
                                                                 result.gap.params))
    other = carry(other_gap, "gap_posterior", {"kmm_factor": u, "posterior_factor": 0.9 * r})
    assert other.spec == model.spec
    fn = sigma_of_spec(model.spec)
    assert sigma_of_spec(other.spec) is fn
    sigma = jax.jit(fn)
    args = _args(model, test[0])
    a, b = float(sigma(model.params, *args)), float(sigma(other.params, *args))
    assert sigma._cache_size() == 1
    assert a != b
    assert b == pytest.approx(float(uq.predict(other, test[:1]).energy_std[0]), rel=1e-10)


def test_md_stops_where_the_gap_posterior_is_unsure(fits):
    """md.run(langevin(GAP carrying its posterior), stop_when_uncertain=s) runs and stops at
    the first log row whose sigma exceeds s; that row's sigma = uq.predict's energy std of
    the structure handed back."""
    from jaxpot import md
    _, test, models = fits
    _, model = models["soap+2b"]
    atoms = test[0].copy()
    threshold = 1.02 * float(uq.predict(model, [atoms]).energy_std[0])
    result = md.run(md.langevin(model, 2.0, 2000.0, friction=0.05), atoms, 400,
                    temperature=2000.0, log_interval=5, seed=3,
                    stop_when_uncertain=threshold)
    assert result.stopped is not None and "stop_when_uncertain" in result.stopped
    sigma = result.extra_log["uncertainty"]
    assert len(sigma) >= 2 and sigma[-1] > threshold and np.all(sigma[:-1] <= threshold)
    assert f"step {int(result.log.step[-1])}" in result.stopped
    host = uq.predict(model, [result.atoms]).energy_std[0]
    assert host == pytest.approx(float(sigma[-1]), rel=1e-8)
    assert np.isfinite(jaxpot.predict(model, [result.atoms]).energy[0])


def test_blocked_prior_sums_and_both_pair_lists_give_the_same_sigma(fits, monkeypatch):
    """The prior's double sums taken 5 rows at a time (padding the last block) give the
    direct sums' sigma and gradient; distance_2b on full neighbor rows = on the half list."""
    from jaxpot.gap import posterior_sigma
    _, test, models = fits
    atoms = test[1]
    for name, (_, model) in models.items():
        fn = energy_std_function(model)
        args = _args(model, atoms)
        want = jax.jit(jax.value_and_grad(lambda *a: fn(*a), argnums=1))(model.params, *args)
        with monkeypatch.context() as patch:
            patch.setattr(posterior_sigma, "BLOCK", 5)
            got = jax.jit(jax.value_and_grad(lambda *a: fn(*a), argnums=1))(model.params,
                                                                            *args)
        assert float(got[0]) == pytest.approx(float(want[0]), rel=1e-12), name
        np.testing.assert_allclose(got[1], want[1], rtol=1e-9, atol=1e-12, err_msg=name)
    _, model = models["2b"]
    half = _args(model, atoms)
    assert half[3].half_i is not None
    rows = allocate_for_model(model, atoms.positions, atoms.cell.array, atoms.pbc, skin=0.5,
                              rows=True)
    rows = rows.replace(half_i=None, half_j=None, half_shifts=None)
    sigma = energy_std_function(model)
    assert float(jax.jit(sigma)(model.params, *half[:3], rows)) == pytest.approx(
        float(jax.jit(sigma)(model.params, *half)), rel=1e-12)


def test_hal_biased_gap_has_the_posterior_in_its_energy_and_finite_forces(fits):
    """uq.biased(GAP carrying its posterior, "hal", tau): E - tau sigma with sigma the
    posterior's (uq.predict's), and finite forces and stress (the gradient of sigma)."""
    _, test, models = fits
    _, model = models["soap+2b"]
    hal = uq.biased(model, "hal", strength=0.7)
    frames = test[:2]
    got = jaxpot.predict(hal, frames)
    want = jaxpot.predict(model, frames).energy - 0.7 * uq.predict(model, frames).energy_std
    np.testing.assert_allclose(got.energy, want, rtol=1e-10)
    assert all(np.all(np.isfinite(f)) for f in got.forces) and np.all(np.isfinite(got.stress))
    assert not np.allclose(got.forces[1], jaxpot.predict(model, frames[1:]).forces[0])


def test_safe_std_clips_at_a_tiny_variance():
    """sqrt(max(var, 1e-30 eV^2)): a zero or rounded-negative variance gives 1e-15 eV and a
    zero gradient, not NaN."""
    from jaxpot.gap.posterior_sigma import safe_std
    assert float(safe_std(jnp.asarray(4.0))) == 2.0
    for var in (0.0, -1e-12):
        assert float(safe_std(jnp.asarray(var))) == pytest.approx(1e-15)
        assert float(jax.grad(safe_std)(jnp.asarray(var))) == 0.0
