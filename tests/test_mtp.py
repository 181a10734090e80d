"""MTP against motep (an independent Python implementation of mlip-2's MTP, PyPI ``motep``):
the mlip-2 ``.mtp`` file jaxpot writes gives motep's energies, forces and stress; the basis of a
low level equals the list from the definition; autodiff = finite differences; invariances;
save/load; the linear fit recovers a known MTP; the L-BFGS fit lowers the validation loss and
resumes from its checkpoint; the CLI fit; bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

import jaxpot
from jaxpot.calculator import JaxpotCalculator
from jaxpot.descriptors.moment_tensors import MomentTensors, initial_radial_coeffs
from jaxpot.descriptors.mtp_basis import Contraction, mtp_basis
from jaxpot.linear import LinearFitSettings
from jaxpot.linear.mtp_fit import MtpBasis, fit_mtp
from jaxpot.potentials.mtp import mtp
from jaxpot.potentials.mtp_files import write_mtp
from jaxpot.testing import (
    assert_derivatives_match_finite_differences,
    assert_host_kernel_matches,
    random_rotation,
)
from jaxpot.training.lbfgs import LbfgsSettings

jax.config.update("jax_enable_x64", True)


def _random_mtp(species=("Si", "Ge"), level=12, seed=0, r_min=1.8):
    model = mtp(list(species), level, 5.0, r_min, seed=seed)
    rng = np.random.default_rng(seed)
    net = model.params["net"]
    radial = np.asarray(net["radial"]) * (1 + rng.normal(size=net["radial"].shape)) * 5
    params = {"net": {"radial": jnp.asarray(radial),
                      "xi": jnp.asarray(0.1 * rng.normal(size=net["xi"].shape))},
              "norm": {"e0": jnp.asarray(-1.0 - np.arange(len(species), dtype=float)),
                       "energy_scale": jnp.asarray(1.0)}}
    return model.replace(params=params)


def _sige(seed=1):
    atoms = bulk("SiGe", "zincblende", 5.6, cubic=True) * (1, 1, 2)
    atoms.set_cell(atoms.cell.array + np.array([[0, 0.3, 0.1], [0.2, 0, -0.4], [0.1, 0.3, 0]]),
                   scale_atoms=True)
    atoms.rattle(0.15, seed=seed)
    return atoms


def test_low_levels_list_every_contraction_of_the_definition():
    """lev M_{mu,nu} = 2 + 4 mu + nu (Novikov et al. 2021): level 6 has M_{0,0}, M_{0,0}^2,
    M_{0,0}^3, M_{1,0} and M_{0,1}.M_{0,1}; level 8 adds M_{0,0}^4, M_{0,0} M_{0,1}.M_{0,1},
    M_{0,2}:M_{0,2} and M_{0,0} M_{1,0}."""
    b6 = mtp_basis(6)
    assert set(b6.contractions) == {Contraction((0,), ()), Contraction((1,), ()),
                                    Contraction((0, 0), ((0, 1, 1),))}
    assert b6.n_functions == 5
    b8 = mtp_basis(8)
    assert b8.n_functions == 9
    assert Contraction((0, 0), ((0, 1, 2),)) in b8.contractions
    # levels 10 and 12 gain the first three-tensor contractions (a triangle of M_{0,2})
    triangle = Contraction((0, 0, 0), ((0, 1, 1), (0, 2, 1), (1, 2, 1)))
    assert triangle not in mtp_basis(8).contractions and triangle in mtp_basis(12).contractions
    assert all(c.level <= 16 for c in mtp_basis(16).contractions)
    with pytest.raises(ValueError, match="level must be an integer >= 2"):
        mtp_basis(1)


@pytest.mark.parametrize("level", [8, 14])
def test_written_mtp_file_equals_motep(tmp_path, level):
    """motep's numpy engine (a reimplementation of mlip-2) reading the .mtp file jaxpot writes
    gives jaxpot's energy, forces and stress (two species, a triclinic rattled cell)."""
    from motep.calculator import make_calculator
    from motep.io.mlip.mtp import read_mtp
    model = _random_mtp(level=level)
    write_mtp(model, tmp_path / "pot.mtp")
    data = read_mtp(tmp_path / "pot.mtp")
    data.species = [14, 32]
    atoms, ref = _sige(), _sige()
    atoms.calc = JaxpotCalculator(model)
    ref.calc = make_calculator(data, engine="numpy")
    e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    assert e == pytest.approx(ref.get_potential_energy(), rel=1e-12)
    np.testing.assert_allclose(f, ref.get_forces(), atol=1e-11 * np.abs(f).max())
    np.testing.assert_allclose(s, ref.get_stress(), atol=1e-11 * np.abs(s).max())


def test_mtp_derivatives_invariances_and_save_load(tmp_path):
    model = _random_mtp(level=10)
    atoms = _sige(seed=2)
    assert_derivatives_match_finite_differences(model, atoms, force_atol=1e-5,
                                                stress_atol=1e-7)
    calc = JaxpotCalculator(model)
    atoms.calc = calc
    e, f = atoms.get_potential_energy(), atoms.get_forces()
    rot = random_rotation(3)
    moved = atoms.copy()
    moved.set_cell(atoms.cell.array @ rot.T, scale_atoms=True)
    moved.positions += np.array([0.3, -1.1, 2.0])
    moved.calc = calc
    assert moved.get_potential_energy() == pytest.approx(e, rel=1e-12)
    np.testing.assert_allclose(moved.get_forces(), f @ rot.T, atol=1e-9 * np.abs(f).max())
    perm = np.random.default_rng(0).permutation(len(atoms))
    shuffled = atoms[perm]
    shuffled.calc = calc
    np.testing.assert_allclose(shuffled.get_forces(), f[perm], atol=1e-9 * np.abs(f).max())
    double = atoms.repeat((2, 1, 1))
    double.calc = calc
    assert double.get_potential_energy() == pytest.approx(2 * e, rel=1e-12)
    jaxpot.save(model, tmp_path / "m.jaxpot")
    again = jaxpot.load(tmp_path / "m.jaxpot")
    atoms.calc = JaxpotCalculator(again)
    assert atoms.get_potential_energy() == e
    np.testing.assert_array_equal(atoms.get_forces(), f)


def test_host_kernel_equals_the_xla_program_under_every_transform():
    """On a CPU, xi . B(i) runs in the numba kernel of moment_host (energies and forces equal
    motep's in test_written_mtp_file_equals_motep); here energies, forces, the Hessian (its
    product with a random direction), a force-matching loss gradient in every parameter, vmap
    and float32 equal the XLA program of the features (moment_tensors.alpha_features), a
    product the kernel shares no code with."""
    from jaxpot.descriptors import moment_tensors as mt
    from jaxpot.model import species_indices, species_lookup
    from jaxpot.neighbors import allocate_for_model, neighbor_components
    from jaxpot.potentials.mtp import descriptor_of
    model = _random_mtp(level=12)
    desc = descriptor_of(model)
    atoms = _sige(seed=4)
    pos, cell = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)
    species = jnp.asarray(atoms.numbers)
    nbrs = allocate_for_model(model, atoms.positions, atoms.cell.array, skin=0.3)
    table = species_lookup(desc.species)

    def reference(params, x):
        v, vmask = neighbor_components(x, cell, nbrs)
        centre, nb = species_indices(table, species, nbrs)
        f, u = mt.radial_functions(params["net"]["radial"], desc.r_min, desc.r_cut,
                                   desc.radial_basis_size, v, vmask, centre, nb)
        b = mt.alpha_features(mt.program_of(desc.level), f, u)
        norm = params["norm"]
        return jnp.sum(norm["e0"][centre] + norm["energy_scale"] * (b @ params["net"]["xi"]))

    def host(params, x):
        return model.energy_fn(params, x, cell, species, nbrs)

    assert_host_kernel_matches(host, reference, model.params, pos, hessian=True)


def test_design_jacobian_equals_jacfwd_of_the_features():
    """The design rows' explicit forward mode (tangents as a trailing axis, atoms in chunks)
    equals jax.jacfwd of the features, and central finite differences, for two species, an
    atom count that is not a multiple of the chunk, and padding slots."""
    from jaxpot.descriptors.moment_tensors import mtp_features_from_vectors
    from jaxpot.descriptors.mtp_jacobian import mtp_features_and_jacobian
    from jaxpot.model import species_indices, species_lookup
    from jaxpot.neighbors import neighbor_vectors
    atoms = _sige()[:7]
    model = _random_mtp(level=12)
    desc = MomentTensors((14, 32), 12, 1.8, 5.0)
    pos, cell = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell[:])
    nbrs = jaxpot.neighbors.allocate_for_model(model, pos, cell, skin=0.5)
    v, vm = neighbor_vectors(pos, cell, nbrs)
    centre, nb = species_indices(species_lookup(desc.species),
                                 jnp.asarray(atoms.numbers), nbrs)
    assert not bool(jnp.all(vm))  # some padding slots
    radial = model.params["net"]["radial"]
    features_and_jacobian = jax.jit(
        lambda vv: mtp_features_and_jacobian(desc, radial, vv, vm, centre, nb))
    b, jac = features_and_jacobian(v)

    def one(vi, mi, ci, ni):
        return mtp_features_from_vectors(desc, radial, vi[None], mi[None], ci[None],
                                         ni[None])[0]
    ref = jax.jit(jax.vmap(one))(v, vm, centre, nb)
    ref_jac = jax.jit(jax.vmap(jax.jacfwd(one)))(v, vm, centre, nb)
    np.testing.assert_allclose(b, ref, rtol=1e-12, atol=1e-12 * float(jnp.abs(ref).max()))
    np.testing.assert_allclose(jac, ref_jac, rtol=1e-10,
                               atol=1e-12 * float(jnp.abs(ref_jac).max()))
    h = 1e-5  # and central finite differences in a few neighbour-vector components
    for i, slot, a in ((0, 0, 0), (3, 2, 1), (6, 5, 2)):
        step = jnp.zeros_like(v).at[i, slot, a].set(h)
        up = features_and_jacobian(v + step)[0][i]
        down = features_and_jacobian(v - step)[0][i]
        np.testing.assert_allclose(jac[i, :, slot, a], (up - down) / (2 * h), rtol=1e-6,
                                   atol=1e-7 * float(jnp.abs(jac[i]).max()))


@pytest.fixture(scope="module")
def labelled():
    """Frames labelled by a known level-8 Si MTP (the radial part the fit will use)."""
    desc = MomentTensors((14,), 8, 1.5, 4.5)
    radial = initial_radial_coeffs(desc, seed=0)
    rng = np.random.default_rng(7)
    basis = MtpBasis(desc, tuple(radial.reshape(-1)))
    truth = basis.model(np.concatenate([[-4.5], 0.05 * rng.normal(size=desc.n_features)]))
    frames = []
    for k in range(14):
        atoms = bulk("Si", "diamond", 5.43 * (0.97 + 0.005 * k), cubic=True)
        atoms.rattle(0.1, seed=k)
        atoms.calc = JaxpotCalculator(truth)
        copy = atoms.copy()
        copy.calc = SinglePointCalculator(copy, energy=atoms.get_potential_energy(),
                                          forces=atoms.get_forces(),
                                          stress=atoms.get_stress())
        frames.append(copy)
    return desc, basis, truth, frames


def test_linear_fit_recovers_the_labelling_mtp(labelled):
    from jaxpot.linear import fit_linear
    _, basis, truth, frames = labelled
    fit = fit_linear(frames, basis, LinearFitSettings(ridge=0.0, force_factors=(1.0,),
                                                      stress_factors=(1.0,)), progress=False)
    ours, ref = jaxpot.predict(fit.model, frames[:3]), jaxpot.predict(truth, frames[:3])
    np.testing.assert_allclose(ours.energy, ref.energy, atol=1e-7)
    for a, b in zip(ours.forces, ref.forces):
        np.testing.assert_allclose(a, b, atol=1e-7)


@pytest.mark.parametrize("memory", [20, 0])
def test_lbfgs_fit_lowers_validation_loss_and_resumes(labelled, tmp_path, memory):
    """From a perturbed radial start the linear fit cannot be exact; L-BFGS (memory 20) or
    full BFGS (memory 0, a dense inverse Hessian in the checkpoint) over all coefficients
    lowers the validation loss, keeps the best iteration, and a run interrupted after 3
    iterations resumes to the uninterrupted result."""
    desc, _, _, frames = labelled
    lin = LinearFitSettings(ridge=1e-10, force_factors=(1.0,), stress_factors=(1.0,),
                            validation_fraction=0.25)
    settings = LbfgsSettings(iterations=6, memory=memory, validation_fraction=0.25,
                             checkpoint_every=1)
    full = fit_mtp(frames, desc, lin, settings, seed=3, progress=False)
    hist = full.training.history
    assert len(hist) == 6 and hist[-1]["train_loss"] < hist[0]["train_loss"]
    best = min(range(len(hist)), key=lambda i: hist[i]["val_loss"])
    assert full.training.best_epoch == best
    path = str(tmp_path / "run")
    fit_mtp(frames, desc, lin, settings._replace(iterations=3), seed=3, progress=False,
            checkpoint=path)
    from jaxpot.training.checkpoint import CheckpointError
    with pytest.raises(CheckpointError, match="other settings"):
        fit_mtp(frames, desc, lin, settings._replace(iterations=6, memory=5), seed=3,
                progress=False, checkpoint=path)
    resumed = fit_mtp(frames, desc, lin, settings, seed=3, progress=False, checkpoint=path)
    assert resumed.training.history[-1]["train_loss"] == pytest.approx(
        hist[-1]["train_loss"], rel=1e-9)


def test_bfgs_update_satisfies_the_secant_equation():
    """The BFGS inverse-Hessian update (Nocedal & Wright, Numerical Optimization, eq. 6.17)
    maps y to s (the secant equation, 6.6) and keeps h symmetric positive definite when
    s.y > 0; on a vector v orthogonal to s and y it acts as h v - rho s (h y).v (the
    product form (I - rho s y^T) h (I - rho y s^T) + rho s s^T applied to v)."""
    from jaxpot.training.quasi_newton import bfgs_update
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 6))
    h = a @ a.T + 6 * np.eye(6)
    s, y = rng.normal(size=6), rng.normal(size=6)
    y = y if np.dot(s, y) > 0 else -y
    new = bfgs_update(h, s, y)
    np.testing.assert_allclose(new @ y, s, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(new, new.T, rtol=0, atol=1e-12)
    assert np.linalg.eigvalsh(new).min() > 0
    q, _ = np.linalg.qr(np.stack([s, y], axis=1))
    v = rng.normal(size=6)
    v -= q @ (q.T @ v)
    rho = 1.0 / np.dot(s, y)
    np.testing.assert_allclose(new @ v, h @ v - rho * s * np.dot(h @ y, v), rtol=1e-10,
                               atol=1e-10)


def test_dense_bfgs_refuses_a_matrix_over_its_memory_limit(labelled, monkeypatch):
    from jaxpot.training.lbfgs import train_lbfgs
    _, _, truth, frames = labelled
    monkeypatch.setattr("jaxpot.training.lbfgs.DENSE_BYTES", 1000)
    with pytest.raises(ValueError, match=r"memory = 0 \(full BFGS\).*give memory > 0"):
        train_lbfgs(truth, frames, settings=LbfgsSettings(memory=0), progress=False)


def test_cli_fit_mtp_writes_model_mlip_file_and_report(labelled, tmp_path):
    from motep.calculator import make_calculator
    from motep.io.mlip.mtp import read_mtp

    from jaxpot.testing import cli_fit
    _, _, _, frames = labelled
    assert cli_fit(tmp_path, frames[3:], frames[:3],
                   'model = "mtp"\n[mtp]\nlevel = 8\nr_cut = 4.5\n'
                   '[fit]\nridges = [1e-10]\nforce_factors = [1.0]\nstress_factors = [1.0]\n'
                   '[lbfgs]\niterations = 2\n') == 0
    for name in ("si.jaxpot", "si.mtp", "si_report/errors.json", "si_report/lbfgs_history.json",
                 "si_report/learning_curves.png"):
        assert (tmp_path / name).exists(), name
    assert not any(p.name.startswith("si.jaxpot.checkpoint") for p in tmp_path.iterdir())
    model = jaxpot.load(str(tmp_path / "si.jaxpot"))
    data = read_mtp(tmp_path / "si.mtp")
    data.species = [14]
    atoms, ref = frames[0].copy(), frames[0].copy()
    atoms.calc = JaxpotCalculator(model)
    ref.calc = make_calculator(data, engine="numpy")
    assert atoms.get_potential_energy() == pytest.approx(ref.get_potential_energy(), rel=1e-12)


def test_bad_mtp_input_is_named(tmp_path):
    with pytest.raises(ValueError, match="r_min < r_cut"):
        mtp(["Si"], 10, r_cut=3.0, r_min=3.5)
    with pytest.raises(ValueError, match="level must be an integer >= 2"):
        mtp(["Si"], 0)
    model = mtp(["Si"], 8)
    with pytest.raises(ValueError,
                       match=r"params\['net'\]\['radial'\] has shape \(1, 1, 2, 8\)"):
        mtp(["Si"], 10, params=model.params)
    with pytest.raises(ValueError, match="write_mtp writes MTP models"):
        write_mtp(jaxpot.potentials.lennard_jones(0.01, 2.0, 5.0), tmp_path / "x.mtp")
    from jaxpot.linear.pipeline import ConfigError, mtp_descriptor_from_config
    with pytest.raises(ConfigError, match=r"\[mtp\]: unknown keys \['lvl'\]"):
        mtp_descriptor_from_config({"mtp": {"lvl": 10}}, ["Si"], [])
    with pytest.raises(ConfigError, match=r"\[mtp\]: MTP level"):
        mtp_descriptor_from_config({"mtp": {"level": 1, "r_min": 1.0}}, ["Si"], [])


def test_default_mtp_config_is_level_24_linear_stage_only(labelled, tmp_path, monkeypatch):
    """A config with only model/train/output fits level 24 without the non-linear stage (the
    defaults chosen on mlearn's validation splits, benchmarks/RESULTS.md); an [lbfgs] table
    with iterations turns the non-linear stage on; with two species the defaults are level 16
    with 200 BFGS iterations (only the non-linear stage learns species-pair radial functions)."""
    from ase.io import write

    from jaxpot.linear import mtp_fit, pipeline
    _, _, _, frames = labelled
    calls = []

    def record(frames, desc, settings, lbfgs, *, nonlinear, **kwargs):
        calls.append((desc.level, nonlinear, lbfgs.iterations))
        raise KeyboardInterrupt  # stop before any fitting

    monkeypatch.setattr(mtp_fit, "fit_mtp", record)
    write(tmp_path / "si.extxyz", frames[:2])
    write(tmp_path / "sige.extxyz", [_sige()])
    for name, extra in (("si", {}), ("si", {"lbfgs": {"iterations": 30}}), ("sige", {})):
        config = {"model": "mtp", "train": [str(tmp_path / f"{name}.extxyz")],
                  "output": str(tmp_path / f"{name}.jaxpot"), **extra}
        with pytest.raises(KeyboardInterrupt):
            pipeline.run(config, progress=False, echo=lambda *a: None)
    assert calls == [(24, False, 0), (24, True, 30), (16, True, 200)]


@pytest.mark.parametrize("legacy", [True, False])
def test_read_mtp_of_a_motep_written_file_equals_motep(tmp_path, legacy):
    """A potential motep writes (its legacy mlip-2 layout and its newer one, with scaling 0.7
    and species order Ge, Si): jaxpot's read_mtp gives motep's energy, forces and stress (motep
    0.2.0 cannot read its own newer layout back, so the reference is the potential in memory)."""
    from motep.calculator import make_calculator
    from motep.io.mlip.mtp import read_mtp as motep_read
    from motep.io.mlip.mtp import write_mtp as motep_write

    from jaxpot.potentials.mlip_mtp import read_mtp
    write_mtp(_random_mtp(level=10, seed=5), tmp_path / "ours.mtp")
    data = motep_read(tmp_path / "ours.mtp")
    data.scaling = 0.7
    data.species_coeffs = np.array([-3.0, -0.5])
    motep_write(tmp_path / "theirs.mtp", data, legacy=legacy)
    model = read_mtp(tmp_path / "theirs.mtp", species=["Ge", "Si"])
    data.species = [32, 14]
    atoms, ref = _sige(seed=4), _sige(seed=4)
    atoms.calc = JaxpotCalculator(model)
    ref.calc = make_calculator(data, engine="numpy")
    f = atoms.get_forces()
    assert atoms.get_potential_energy() == pytest.approx(ref.get_potential_energy(), rel=1e-12)
    np.testing.assert_allclose(f, ref.get_forces(), atol=1e-11 * np.abs(f).max())
    np.testing.assert_allclose(atoms.get_stress(), ref.get_stress(),
                               atol=1e-11 * np.abs(atoms.get_stress()).max())
    jaxpot.save(model, tmp_path / "m.jaxpot")
    again = jaxpot.load(tmp_path / "m.jaxpot")
    assert jaxpot.predict(again, [atoms]).energy[0] == jaxpot.predict(model, [atoms]).energy[0]
    write_mtp(model, tmp_path / "again.mtp")  # a file read is written back unchanged
    rewritten = motep_read(tmp_path / "again.mtp")
    rewritten.species = [32, 14]
    ref.calc = make_calculator(rewritten, engine="numpy")
    assert ref.get_potential_energy() == pytest.approx(atoms.get_potential_energy(), rel=1e-12)


def test_bad_mtp_files_are_named(tmp_path):
    from jaxpot.potentials.mlip_mtp import MtpFileError, read_mtp
    write_mtp(_random_mtp(level=8), tmp_path / "good.mtp")
    with pytest.raises(MtpFileError, match="species_count = 2, species names 1"):
        read_mtp(tmp_path / "good.mtp", ["Si"])
    text = (tmp_path / "good.mtp").read_text()
    (tmp_path / "template.mtp").write_text(
        "\n".join(line for line in text.splitlines() if not line.startswith("moment_coeffs")))
    with pytest.raises(MtpFileError, match=r"missing keys \['moment_coeffs'\].*untrained"):
        read_mtp(tmp_path / "template.mtp", ["Si", "Ge"])
    (tmp_path / "x.mtp").write_text("not an mtp\n")
    with pytest.raises(MtpFileError, match="first line must be 'MTP'"):
        read_mtp(tmp_path / "x.mtp", ["Si"])
    with pytest.raises(MtpFileError, match="cannot read"):
        read_mtp(tmp_path / "missing.mtp", ["Si"])
    times = text.split("alpha_index_times = ")[1].splitlines()[0]
    first, rest = times[1:].split("}, ", 1)
    swapped = text.replace(times, "{" + rest[:-1] + ", " + first + "}}")
    (tmp_path / "order.mtp").write_text(swapped)
    with pytest.raises(MtpFileError, match="alpha_index_times entry"):
        read_mtp(tmp_path / "order.mtp", ["Si", "Ge"])


def test_gauss_newton_preconditioner_equals_the_explicit_jacobian(labelled):
    """The L-BFGS preconditioner's radial block = 1 / (2 sum_k J_k^2 / (n_k sigma_k^2)) with J
    the Jacobian of (E/N, F, stress) w.r.t. the radial coefficients by jax.jacfwd, frame by
    frame; its xi block is the inverse of the given exact block."""
    from jaxpot.training.dataset import build_dataset, epoch_plan
    from jaxpot.training.labels import read_labels_checked
    from jaxpot.training.lbfgs import _counts, preconditioner
    from jaxpot.training.weights import LossWeights
    from jaxpot.units import GPa
    _, _, truth, frames = labelled
    frames = frames[:4]
    weights = LossWeights(0.002, 0.05, 0.5)
    labels = read_labels_checked(frames, None, "frames")
    data = build_dataset(truth, frames, labels, "frames")
    plan = epoch_plan(data, 2, None)
    block = np.diag(np.arange(1.0, truth.params["net"]["xi"].size + 1))
    m = preconditioner(truth, weights, data, plan, _counts(data), {"xi": block}, len(plan))
    n_radial = truth.params["net"]["radial"].size
    np.testing.assert_allclose(np.diag(m)[n_radial:], 1.0 / np.diag(block), rtol=1e-6)
    counts = [len(frames), 3.0 * sum(len(a) for a in frames), 9.0 * len(frames)]
    sigmas = [weights.energy, weights.forces, weights.stress * GPa]
    total = np.zeros(n_radial)
    from jaxpot.mechanics import energy_forces_stress
    from jaxpot.neighbors import allocate_for_model
    for atoms in frames:
        nbrs = allocate_for_model(truth, atoms.positions, atoms.cell.array, atoms.pbc)

        def predictions(radial, atoms=atoms, nbrs=nbrs):
            net = dict(truth.params["net"], radial=radial)
            model = truth.replace(params={**truth.params, "net": net})
            res = energy_forces_stress(model, jnp.asarray(atoms.positions),
                                       jnp.asarray(atoms.cell.array),
                                       jnp.asarray(atoms.numbers), nbrs)
            return res.energy / len(atoms), res.forces, res.stress
        jac = jax.jacfwd(predictions)(truth.params["net"]["radial"])
        for j, n, s in zip(jac, counts, sigmas):
            total += np.sum(np.asarray(j).reshape(-1, n_radial) ** 2, axis=0) / (n * s * s)
    np.testing.assert_allclose(np.diag(m)[:n_radial], 1.0 / (2.0 * total), rtol=1e-6)


def test_default_r_min_counts_periodic_images_of_one_atom_cells():
    """Shortest distance of a one-atom bcc cell = a sqrt(3)/2 (analytic), so the default r_min
    of an [mtp] table is that - 0.2 Å."""
    from jaxpot.linear.pipeline import mtp_descriptor_from_config, shortest_distance
    li = bulk("Li", "bcc", a=3.44)
    assert len(li) == 1
    assert shortest_distance([li]) == pytest.approx(3.44 * np.sqrt(3) / 2, rel=1e-12)
    desc = mtp_descriptor_from_config({"mtp": {"level": 8}}, ["Li"], [li])
    assert desc.r_min == pytest.approx(round(3.44 * np.sqrt(3) / 2 - 0.2, 2))
