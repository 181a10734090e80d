"""Neural-network potentials (BPNN, PaiNN, MACE-like, deep ensembles) and their training.

References: torchani 2.9's ANI networks (``ANINetworks`` of ``AtomicNetwork`` with CELU(0.1))
for the BPNN energy on torchani's own AEVs; autodiff (itself = finite differences in
test_contract.py) for BPNN training on fixed features; jaxpot's Stillinger–Weber (= LAMMPS,
test_stillinger_weber.py) as the labelling potential of the end-to-end fit.
"""

import json
import math
import os

os.environ.setdefault("TORCHANI_NO_WARN_EXTENSIONS", "1")

import jax
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

import jaxpot
from jaxpot.batch import evaluate_batch
from jaxpot.calculator import JaxpotCalculator
from jaxpot.gap.labels import TrainingDataError
from jaxpot.nn import bpnn, fixed_features, mace, painn
from jaxpot.nn.ensemble import calibration_factors, ensemble_predict, members, pooled
from jaxpot.nn.train import TrainingDivergedError, TrainSettings, train_model
from jaxpot.nn.uncertainty_metrics import calibration, fit_sigma_scale
from jaxpot.potentials import stillinger_weber
from jaxpot.testing import CompilationCounter
from jaxpot.training.dataset import build_dataset
from jaxpot.training.labels import read_labels_checked

jax.config.update("jax_enable_x64", True)

FAST = TrainSettings(epochs=4, batch_size=4, validation_fraction=0.2, warmup_epochs=1)


def sw_frames(n, seed=0, repeat=(1, 1, 1)):
    """Rattled, strained diamond Si labelled by Stillinger–Weber (energy, forces, stress)."""
    rng = np.random.default_rng(seed)
    sw = stillinger_weber()
    frames = []
    for i in range(n):
        atoms = bulk("Si", "diamond", a=5.43 * (1 + rng.uniform(-0.03, 0.03)),
                     cubic=True).repeat(repeat)
        atoms.rattle(0.12, seed=int(rng.integers(1 << 30)))
        atoms.calc = JaxpotCalculator(sw)
        e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        atoms.calc = SinglePointCalculator(atoms, energy=e, forces=f, stress=s)
        frames.append(atoms)
    return frames


@pytest.fixture(scope="module")
def frames():
    return sw_frames(40)


@pytest.fixture(scope="module")
def test_frames():
    return sw_frames(10, seed=1)


def test_bpnn_training_on_fixed_features_equals_autodiff(frames):
    """Energies, forces and stress from precomputed features and Jacobians (ANI and ACSF
    descriptors, orthorhombic and triclinic cells) equal autodiff through the model."""
    sheared = [a.copy() for a in frames[:3]]
    for a in sheared:
        a.set_cell(a.cell.array + [[0, 0.3, 0], [0, 0, 0.2], [0.1, 0, 0]], scale_atoms=True)
        a.calc = SinglePointCalculator(a, energy=0.0)  # labels are not used here
    acsf = {"type": "acsf", "r_cut": 4.0, "g2_params": [[1.0, 2.0], [0.5, 3.0]],
            "g4_params": [[0.01, 1.0, 1.0], [0.02, 4.0, -1.0]]}
    for model in (bpnn(["Si"], 4.0, hidden=(8,)), bpnn(["Si"], 4.0, descriptor=acsf,
                                                        hidden=(8,))):
        picked = frames[:3] + sheared
        ds = build_dataset(model, picked, read_labels_checked(picked), min_bucket=1)
        for bucket in ds.buckets:
            extra = fixed_features.prepare(model, bucket.batch)
            e, f, s = jax.jit(lambda b, x, m=model: fixed_features.results(m, b, x))(
                bucket.batch, extra)  # as in the training step (op by op: 330 compilations)
            ref = evaluate_batch(model, bucket.batch)
            np.testing.assert_allclose(e, ref.energy, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(f, ref.forces, rtol=0, atol=1e-12)
            np.testing.assert_allclose(s, ref.stress, rtol=0, atol=1e-12)


_TORCHANI_REFERENCE = """
import sys, numpy as np, torch, torchani
from torchani.nn import AtomicNetwork, ANINetworks
data = np.load(sys.argv[1])
comp = torchani.AEVComputer.like_1x(num_species=4).double()
nets = {}
for s, el in enumerate(["H", "C", "N", "O"]):
    net = AtomicNetwork([384, 16, 8, 1], "celu", bias=True).double()
    layers = list(net.layers) + [net.final_layer]
    with torch.no_grad():
        for d, layer in enumerate(layers):
            layer.weight.copy_(torch.tensor(data[f"w_{s}_{d}"]))
            layer.bias.copy_(torch.tensor(data[f"b_{s}_{d}"]))
    nets[el] = net
species = torch.tensor(data["species"])[None]
aev = comp(species, torch.tensor(data["positions"])[None])
np.save(sys.argv[2], ANINetworks(nets)(species, aev, atomic=True)[0].detach().numpy())
"""


def test_bpnn_equals_torchani_ani_networks(tmp_path):
    """Reference: torchani's ``ANINetworks`` of ``AtomicNetwork([384, 16, 8, 1], "celu",
    bias=True)`` on torchani's ANI-1x AEVs (float64), with the jaxpot BPNN's weights.  torch
    runs in a subprocess: its OpenMP runtime in the pytest process crashed later XLA
    compilations (segfault in an unrelated test)."""
    import subprocess
    import sys
    desc = {"type": "ani", "species": [1, 6, 7, 8], **{
        k: v for k, v in __import__("jaxpot.descriptors", fromlist=["x"]).ani1x_parameters()
        .items()}}
    # torchani stores its ANI-1x buffers in float32: use the same rounded values
    for key in ("eta_radial", "eta_angular", "zeta"):  # (cutoffs are Python floats there)
        desc[key] = float(np.float32(desc[key]))
    for key in ("shifts_radial", "shifts_angular", "sections"):
        desc[key] = [float(np.float32(x)) for x in desc[key]]
    model = bpnn(["H", "C", "N", "O"], 5.2, descriptor=desc, hidden=(16, 8), activation="celu",
                 seed=3)
    atoms = molecule("CH3CH2OH")
    atoms.append("N")
    atoms.positions[-1] = [1.5, 1.2, 0.4]
    arrays = {"positions": atoms.positions,
              "species": np.array([[1, 6, 7, 8].index(z) for z in atoms.numbers])}
    for s in range(4):  # jaxpot's networks are ordered by Z: H C N O, as torchani's here
        block = model.params["net"]["params"][f"element_{s}"]
        for d in range(3):
            arrays[f"w_{s}_{d}"] = np.asarray(block[f"Dense_{d}"]["kernel"]).T
            arrays[f"b_{s}_{d}"] = np.asarray(block[f"Dense_{d}"]["bias"])
    np.savez(tmp_path / "weights.npz", **arrays)
    subprocess.run([sys.executable, "-c", _TORCHANI_REFERENCE, str(tmp_path / "weights.npz"),
                    str(tmp_path / "ref.npy")], check=True,
                   env={**os.environ, "TORCHANI_NO_WARN_EXTENSIONS": "1"})
    ref = np.load(tmp_path / "ref.npy")
    atoms.calc = JaxpotCalculator(model)
    np.testing.assert_allclose(atoms.get_potential_energies(), ref, rtol=1e-9, atol=1e-10)


def test_bpnn_angular_cutoff_is_the_default_descriptors_and_a_config_key(tmp_path):
    """``bpnn(angular_cutoff=)`` (Å) moves the default ANI descriptor's angular cutoff (its
    shifts and width follow, as scaled_ani_settings stretches them); ``[model]
    angular_cutoff`` in a config builds the same model, the file keeps it, and giving a
    descriptor too is an error.  A neighbour at diamond Si's second-shell distance (3.84 Å)
    turned about the atom moves its angular features far more at 4.5 Å than at the default
    4 Å, where its cutoff weight is 0.004 (fc(3.84 / 4.5) = 0.05)."""
    from jaxpot.descriptors.ani import ani_features
    from jaxpot.neighbors import allocate_for_model
    from jaxpot.nn.bpnn import make_descriptor, scaled_ani_settings
    from jaxpot.nn.pipeline import build_model
    model = bpnn(["Si"], 5.0, angular_cutoff=4.5)
    config = json.loads(model.spec)["config"]["descriptor"]
    assert config["r_cut_angular"] == 4.5
    assert config == {**scaled_ani_settings([14], 5.0, 4.5), "species": [14]}
    assert json.loads(bpnn(["Si"], 5.0).spec)["config"]["descriptor"]["r_cut_angular"] == 4.0
    built = build_model({"model": "bpnn", "species": ["Si"], "cutoff": 5.0,
                         "model_settings": {"angular_cutoff": 4.5}})
    assert built.spec == model.spec
    jaxpot.save(model, tmp_path / "m.jaxpot")
    assert jaxpot.load(tmp_path / "m.jaxpot").spec == model.spec
    with pytest.raises(ValueError, match="either descriptor or angular_cutoff"):
        bpnn(["Si"], 5.0, angular_cutoff=4.5, descriptor=scaled_ani_settings([14], 5.0))
    for bad in (5.0, 0.5, float("nan")):
        with pytest.raises(ValueError, match="angular_cutoff must lie between"):
            bpnn(["Si"], 5.0, angular_cutoff=bad)

    def angular(cut, theta):  # atom 0's angular features, neighbours at 2.35 Å and 3.84 Å
        t = np.radians(theta)
        atoms = Atoms("Si3", positions=[[0, 0, 0], [2.35, 0, 0],
                                        [3.84 * np.cos(t), 3.84 * np.sin(t), 0]])
        m = bpnn(["Si"], 5.0, angular_cutoff=cut)
        nbrs = allocate_for_model(m, atoms.positions, atoms.cell.array, atoms.pbc, skin=0.0)
        desc = make_descriptor(scaled_ani_settings([14], 5.0, cut))
        return np.asarray(ani_features(desc, atoms.positions, atoms.cell.array, atoms.numbers,
                                       nbrs))[0, 16:]
    turned = {cut: np.abs(angular(cut, 100.0) - angular(cut, 70.0)).max() for cut in (4.0, 4.5)}
    assert turned[4.5] > 5 * turned[4.0] > 0, turned


@pytest.mark.parametrize("rattle, skin, branch, loss_gradient", [
    (0.05, 1.0, 0, True), (0.3, 0.5, 1, False), (0.05, 0.2, 2, False), (0.05, 0.0, 0, False)])
def test_bpnn_picked_angular_sum_equals_all_slots(rattle, skin, branch, loss_gradient):
    """Reference: the BPNN on the AEVs of all angular slots (its atomic energies, = torchani's
    ANI networks on torchani's AEVs above) and their autodiff derivatives.  The energy's
    angular sum over the first K_a/2 (branch 0) or 3K_a/4 (1) neighbours inside, or over all
    K_a slots (2: a row has more), gives the same energy, forces and stress, and (``loss_gradient``)
    parameter gradient of a force loss; each case takes the branch named (a list without skin
    has no ladder: it sums over its slots directly)."""
    import jax.numpy as jnp

    from jaxpot.descriptors.ani import angular_slots, angular_within
    from jaxpot.neighbors import neighbor_vectors
    from jaxpot.nn.bpnn import make_descriptor, picked_counts
    model = bpnn(["Si"], 5.0, seed=1)
    desc = make_descriptor(json.loads(model.spec)["config"]["descriptor"])
    atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat(2)
    atoms.rattle(rattle, seed=1)
    nbrs = jaxpot.allocate_for_model(model, atoms.positions, atoms.cell.array, atoms.pbc,
                                     skin=skin)
    pos, cell = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)
    num = jnp.asarray(atoms.numbers)
    k = angular_slots(nbrs, desc.r_cut_angular)
    most = int(jnp.max(jnp.sum(angular_within(desc, *neighbor_vectors(pos, cell, nbrs), k), 1)))
    counts = picked_counts(k) if skin > 0 else ()
    assert int(np.sum(most > np.asarray(counts, int))) == branch

    def reference(params, p, c):
        return jnp.sum(model.atomic_energies_fn(params, p, c, num, nbrs))

    def picked(params, p, c):
        return model.energy_fn(params, p, c, num, nbrs)

    for fn in (reference, picked):
        e, (g_pos, g_cell) = jax.jit(jax.value_and_grad(fn, (1, 2)))(model.params, pos, cell)
        if fn is reference:
            e_ref, g_ref = e, (g_pos, g_cell)
    np.testing.assert_allclose(e, e_ref, rtol=1e-13)
    np.testing.assert_allclose(g_pos, g_ref[0], atol=1e-12)
    np.testing.assert_allclose(g_cell, g_ref[1], atol=1e-11)
    if not loss_gradient:
        return  # second derivatives in one case: the branches differ only in a static count
    loss = [jax.jit(jax.grad(lambda prm, fn=fn: jnp.sum(jax.grad(fn, 1)(prm, pos, cell) ** 2)))(
        model.params) for fn in (reference, picked)]
    for a, b in zip(jax.tree_util.tree_leaves(loss[0]), jax.tree_util.tree_leaves(loss[1])):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


def test_bpnn_picked_sum_under_vmap_runs_one_branch_for_the_batch():
    """Reference: each structure's all-slot energy and forces (above).  Under ``vmap`` two
    structures that need different branches (16 and 17 neighbours inside, counts (16, 24))
    share the larger one, so the batch runs one branch (a ``cond`` stays in the program; a
    batched index would turn it into a select over every branch)."""
    import jax.numpy as jnp
    model = bpnn(["Si"], 5.0, seed=1)
    crystal = bulk("Si", "diamond", a=5.43, cubic=True).repeat(2)
    calm, hot = crystal.copy(), crystal.copy()
    calm.rattle(0.05, seed=1)
    hot.rattle(0.3, seed=1)
    nbrs = jaxpot.allocate_for_model(model, hot.positions, hot.cell.array, hot.pbc, skin=0.5)
    pos = jnp.stack([jnp.asarray(calm.positions), jnp.asarray(hot.positions)])
    cell, num = jnp.asarray(crystal.cell.array), jnp.asarray(crystal.numbers)

    def picked(p):
        return jax.value_and_grad(lambda q: model.energy_fn(model.params, q, cell, num,
                                                            nbrs))(p)

    def reference(p):
        return jax.value_and_grad(lambda q: jnp.sum(model.atomic_energies_fn(
            model.params, q, cell, num, nbrs)))(p)

    e, f = jax.jit(jax.vmap(picked))(pos)
    e_ref, f_ref = jax.jit(jax.vmap(reference))(pos)
    np.testing.assert_allclose(e, e_ref, rtol=1e-13)
    np.testing.assert_allclose(f, f_ref, atol=1e-12)
    assert "cond[" in str(jax.make_jaxpr(jax.vmap(picked))(pos))


def test_sw_fit_end_to_end_reaches_force_error(frames, test_frames):
    """A BPNN trained on 40 Stillinger–Weber-labelled crystals predicts held-out forces to
    RMSE < 0.15 eV/Å (the labels' force RMS is about 1.3 eV/Å), energies to < 10 meV/atom."""
    settings = TrainSettings(epochs=400, batch_size=4, learning_rate=5e-3, patience=400)
    result = train_model(bpnn(["Si"], 4.0, hidden=(32, 32)), frames, settings=settings,
                         progress=False)
    ev = jaxpot.evaluation.evaluate(result.model, test_frames, progress=False)
    rms = np.sqrt(np.mean(np.concatenate([a.get_forces() for a in test_frames]) ** 2))
    assert rms > 1.0
    assert ev.overall.force_rmse < 0.15
    assert ev.overall.energy_mae < 10.0
    assert result.history[-1]["val_forces_rmse"] < result.history[0]["val_forces_rmse"] / 3


@pytest.mark.parametrize("make", [
    lambda: painn(["Si"], 4.0, features=16, layers=2, n_rbf=8),
    lambda: mace(["Si"], 4.0, channels=8, radial_hidden=(16,), n_rbf=6)], ids=["painn", "mace"])
def test_message_passing_trains_and_is_equivariant(frames, make):
    """A short PaiNN or MACE training lowers the validation force error; the trained model's
    forces rotate with the structure."""
    result = train_model(make(), frames[:12],
                         settings=FAST._replace(epochs=12, batch_size=2, learning_rate=1e-2),
                         progress=False)
    first, last = result.history[0], result.history[-1]
    assert last["val_forces_rmse"] < 0.8 * first["val_forces_rmse"]
    atoms = frames[0].copy()
    atoms.calc = JaxpotCalculator(result.model)
    f0, e0 = atoms.get_forces(), atoms.get_potential_energy()
    rot = atoms.copy()
    rot.rotate(40, "y", rotate_cell=True)
    rot.rotate(25, "x", rotate_cell=True)
    rot.calc = JaxpotCalculator(result.model)
    assert rot.get_potential_energy() == pytest.approx(e0, abs=1e-10)
    r = rot.cell.array.T @ np.linalg.inv(atoms.cell.array.T)
    np.testing.assert_allclose(rot.get_forces(), f0 @ r.T, atol=1e-10)


def test_same_seed_same_model_and_resume_after_kill_is_bit_identical(frames, tmp_path):
    """An uninterrupted run, and a run killed after epoch 1 then resumed from its checkpoint,
    give the same weights bit for bit (so the same seed and data give the same model)."""
    reference = train_model(bpnn(["Si"], 4.0, hidden=(8,)), frames[:12], settings=FAST,
                            progress=False)

    class Killed(Exception):
        pass

    def kill_after_two(record):
        if record["epoch"] == 1:
            raise Killed

    path = str(tmp_path / "run.ckpt.npz")
    with pytest.raises(Killed):
        train_model(bpnn(["Si"], 4.0, hidden=(8,)), frames[:12], settings=FAST,
                    checkpoint=path, progress=False, log=kill_after_two)
    assert os.path.exists(path)
    resumed = train_model(bpnn(["Si"], 4.0, hidden=(8,)), frames[:12], settings=FAST,
                          checkpoint=path, progress=False)
    assert len(resumed.history) == FAST.epochs
    assert resumed.model == reference.model
    with pytest.raises(ValueError, match="other settings or data"):
        train_model(bpnn(["Si"], 4.0, hidden=(8,)), frames[:11], settings=FAST,
                    checkpoint=path, progress=False)


def test_training_compiles_once_per_bucket_not_per_epoch(frames):
    """After a first run (which compiles the dataset code), a run of 2 and one of 5 epochs
    compile the same number of times: the train and evaluation steps once per bucket shape."""
    counts = []
    for epochs in (1, 2, 5):
        with CompilationCounter() as compiled:
            train_model(bpnn(["Si"], 4.0, hidden=(8,)), frames[:8] + sw_frames(
                3, seed=5, repeat=(2, 1, 1)), settings=FAST._replace(epochs=epochs),
                progress=False)
        counts.append(compiled.count)
    assert counts[1] == counts[2] <= 8


def test_validation_carve_is_stratified_by_config_type(frames):
    """train_model's validation frames are validation_carve's: 16 "bulk" + 4 "strained"
    frames at 20 % give 3 + 1 (scikit-learn's stratified counts, tests/test_training_data.py);
    stratify_validation=False gives the plain random carve."""
    from jaxpot.training.splits import validation_carve
    labelled = []
    for k, atoms in enumerate(frames[:20]):
        copy = atoms.copy()
        copy.calc = SinglePointCalculator(copy, **atoms.calc.results)
        copy.info["config_type"] = "strained" if k % 5 == 0 else "bulk"
        labelled.append(copy)
    for stratify in (True, False):
        result = train_model(bpnn(["Si"], 4.0, hidden=(8,)), labelled, settings=FAST._replace(
            epochs=1, stratify_validation=stratify), progress=False)
        _, want = validation_carve(labelled, 0.2, FAST.seed, stratify)
        assert [id(a) for a in result.validation_frames] == [id(labelled[i]) for i in want]
        if stratify:
            types = [a.info["config_type"] for a in result.validation_frames]
            assert sorted(types) == ["bulk"] * 3 + ["strained"]


def test_config_type_weights_weigh_the_loss_not_the_metrics(frames):
    """A structure's loss weight multiplies its squared errors over unweighted counts:
    the loss equals numpy's on jaxpot.predict's predictions (the per-structure path), the
    error sums (metrics) equal the unweighted ones, and a weight-0 structure's labels do not
    enter the loss."""
    from ase.stress import voigt_6_to_full_3x3_stress as full

    from jaxpot.potentials import lennard_jones
    from jaxpot.training.loss import batch_loss
    from jaxpot.training.weights import LossWeights
    from jaxpot.units import GPa
    model = lennard_jones(sigma=2.1, epsilon=0.01, cutoff=5.0)
    sub, w = frames[:6], np.array([0.0, 0.5, 1.0, 2.0, 3.0, 4.0])
    labels = read_labels_checked(sub)
    pred = jaxpot.predict(model, sub)
    de = np.array([(float(pred.energy[i]) - lab.energy) / len(sub[i])
                   for i, lab in enumerate(labels)])
    df = np.stack([np.asarray(pred.forces[i]) - lab.forces for i, lab in enumerate(labels)])
    ds = np.stack([full(np.asarray(pred.stress[i])) - full(lab.stress)
                   for i, lab in enumerate(labels)])
    sig = LossWeights()
    want = (np.sum(w * de ** 2) / 6 / sig.energy ** 2
            + np.sum(w[:, None, None] * df ** 2) / df.size / sig.forces ** 2
            + np.sum(w[:, None, None] * ds ** 2) / ds.size / (sig.stress * GPa) ** 2)

    def loss_and_sums(labels, weights):
        (bucket,) = build_dataset(model, sub, labels, loss_weights=weights).buckets
        loss, sums = batch_loss(model, bucket.batch, bucket.targets, np.ones(6), sig)
        assert list(bucket.frames) == list(range(6))
        return float(loss), sums

    loss, sums = loss_and_sums(labels, w)
    np.testing.assert_allclose(loss, want, rtol=1e-10)
    _, plain = loss_and_sums(labels, None)
    for a, b in zip(sums, plain):
        assert float(a) == float(b)
    bad = [labels[0]._replace(energy=labels[0].energy + 9.0,
                              stress=labels[0].stress + 0.1)] + labels[1:]
    assert loss_and_sums(bad, w)[0] == loss
    assert loss_and_sums(bad, None)[0] != loss_and_sums(labels, None)[0]


def test_config_type_weights_zero_silences_a_type_in_training(frames, tmp_path):
    """Training with {"bad": 0} on frames whose "bad" stresses are corrupted gives the model
    trained on the clean labels bit for bit (without the weights it does not); a misspelt
    type is refused by name, in Python and from a [training] table."""
    from jaxpot.nn.pipeline import ConfigError, _settings
    train, val = [], frames[30:36]
    for k, atoms in enumerate(frames[:16]):
        copy = atoms.copy()
        results = dict(atoms.calc.results)
        copy.info["config_type"] = "bad" if k % 4 == 0 else "bulk"
        if k % 4 == 0:
            results["stress"] = results["stress"] + 0.05  # eV/Å^3, 8 GPa
        copy.calc = SinglePointCalculator(copy, **results)
        train.append(copy)
    clean = [a.copy() for a in train]
    for a, b in zip(clean, frames[:16]):
        a.calc = SinglePointCalculator(a, **b.calc.results)

    def fit(data, weights):
        settings = FAST._replace(epochs=2, config_type_weights=weights)
        result = train_model(bpnn(["Si"], 4.0, hidden=(8,)), data, settings=settings,
                             validation_frames=val, progress=False)
        return jax.tree_util.tree_leaves(result.model.params)

    silenced = fit(train, {"bad": 0.0})
    assert all(np.array_equal(a, b) for a, b in zip(silenced, fit(clean, {"bad": 0.0})))
    assert not all(np.array_equal(a, b) for a, b in zip(fit(train, None), fit(clean, None)))
    with pytest.raises(ValueError, match="Bulk"):
        fit(train, {"Bulk": 2.0})
    assert _settings({"config_type_weights": {"bad": 0.5}}).config_type_weights == {"bad": 0.5}
    assert _settings({"config_type_weights": "balanced"}).config_type_weights == "balanced"
    with pytest.raises(ConfigError, match="config_type_weights"):
        _settings({"config_type_weights": 2.0})


def test_stage_two_changes_the_loss_sigmas_without_compiling(frames):
    """MACE's stage two: from epoch ceil(0.5 x 4) = 2 the loss has other sigmas.  The epochs
    before the switch are bit-identical to a run without it, the validation loss of every
    epoch is that of its stage's sigmas (recomputed from the logged RMSEs), the best epoch
    is of stage two, and the switch compiles nothing (the sigmas are a step argument)."""
    from jaxpot.training.weights import LossWeights
    data = frames[:10]
    two = LossWeights(energy=0.0005, forces=0.2, stress=math.inf)
    runs, counts = [], []
    for extra in ({}, {"stage_two_weights": two, "stage_two_start": 0.5}):
        with CompilationCounter() as compiled:
            runs.append(train_model(bpnn(["Si"], 4.0, hidden=(8,)), data,
                                    settings=FAST._replace(**extra), progress=False))
        counts.append(compiled.count)
    plain, staged = runs
    assert counts[1] <= counts[0], counts
    for a, b in zip(plain.history[:2], staged.history[:2]):
        assert a["train_loss"] == b["train_loss"] and a["val_loss"] == b["val_loss"]
    assert staged.history[2]["train_loss"] != plain.history[2]["train_loss"]

    def loss(record, w):
        return ((record["val_energy_rmse"] / 1000 / w.energy) ** 2
                + (record["val_forces_rmse"] / w.forces) ** 2
                + (record["val_stress_rmse"] / w.stress) ** 2)
    for epoch, record in enumerate(staged.history):
        w = LossWeights() if epoch < 2 else two
        assert record["val_loss"] == pytest.approx(loss(record, w), rel=1e-9)
    assert staged.best_epoch >= 2
    # patience waits for stage two: at rate 0 (and EMA = the weights, exactly) no epoch
    # improves on the first of its stage, so patience 1 would end the run at epoch 2
    still = FAST._replace(epochs=6, learning_rate=0.0, final_learning_rate=0.0, ema_decay=0.0,
                          patience=1, stage_two_weights=two, stage_two_start=0.5)
    waited = train_model(bpnn(["Si"], 4.0, hidden=(8,)), data, settings=still,
                         progress=False)
    assert [r["stage"] for r in waited.history] == [1, 1, 1, 2, 2]
    assert waited.stop_reason == "early stopping" and waited.best_epoch == 3
    with pytest.raises(ValueError, match="stage_two_start"):
        train_model(bpnn(["Si"], 4.0, hidden=(8,)), data, progress=False, settings=FAST._replace(
            stage_two_weights=two, stage_two_start=1.5))


def test_loss_sigmas_default_per_kind_and_config_overrides(tmp_path):
    """MACE and PaiNN default to forces first then LossWeights() in a stage two; the BPNN to
    LossWeights() throughout; a config's tables override, stage two's missing sigmas being
    stage one's; ``stage_two_start = 1`` leaves no stage-two epoch."""
    from jaxpot.nn.epochs import stage_two_epoch
    from jaxpot.nn.kinds import FORCES_FIRST
    from jaxpot.nn.pipeline import ConfigError, _settings
    from jaxpot.nn.train import resolved
    from jaxpot.training.weights import LossWeights
    net = resolved(TrainSettings(epochs=32), mace(["Si"], 4.0, channels=4))
    assert net.weights == FORCES_FIRST and net.stage_two_weights == LossWeights()
    assert FORCES_FIRST.energy == FORCES_FIRST.forces and stage_two_epoch(net) == 24
    assert stage_two_epoch(net._replace(stage_two_start=1.0)) is None  # after the last epoch
    assert resolved(TrainSettings(epochs=8), painn(["Si"], 4.0)).weights == FORCES_FIRST
    plain = resolved(TrainSettings(epochs=8), bpnn(["Si"], 4.0, hidden=(8,)))
    assert plain.weights == LossWeights() and stage_two_epoch(plain) is None
    table = _settings({"weights": {"energy": 0.01}, "stage_two_weights": {"forces": 0.1}})
    assert table.weights == LossWeights(energy=0.01)
    assert table.stage_two_weights == LossWeights(energy=0.01, forces=0.1)
    with pytest.raises(ConfigError, match="stage_two_weights.*'force'"):
        _settings({"stage_two_weights": {"force": 0.1}})


def test_default_epochs_follow_the_training_sets_pairs_and_structures():
    """A network kind's default epochs are for mlearn Si's 358,380 pairs within 5 Å
    (jaxpot.nn.kinds): a set with more pairs gets proportionally fewer (never below
    min_epochs); a smaller set of fewer structures gets more, up to the reference run's
    optimizer steps (193 structures) within the pair budget and 8x for MACE and PaiNN, none
    for the BPNN; explicit epochs are kept.  Pair counts: the diamond shells (4 + 12 + 12
    neighbours within 5 Å, analytic), as ASE's neighbor_list counts them."""
    from jaxpot.nn.kinds import NETWORK_KINDS, default_epochs
    from jaxpot.nn.normalization import pair_count
    from jaxpot.nn.train import resolved
    kind = NETWORK_KINDS["mace"]
    assert [default_epochs(kind, n) for n in (None, 200_000, 360_000, 720_000, 1_080_000,
                                              10 ** 9)] == [32, 32, 32, 16, 11, 8]
    big = bulk("Si", "diamond", a=5.43, cubic=True).repeat((4, 4, 4))  # 512 atoms
    assert pair_count([big], 5.0) == 512 * 28
    pairs = pair_count([big] * 51, 5.0)  # 731,136 pairs: 32 * 360,000 / 731,136 = 15.8
    model = mace(["Si"], 5.0, channels=4)
    assert resolved(TrainSettings(), model, pairs).epochs == 16
    assert resolved(TrainSettings(), model, pair_count([big] * 20, 5.0)).epochs == 32
    assert resolved(TrainSettings(epochs=40), model, pairs).epochs == 40
    # smaller sets: the least of the pair budget, 193 / structures and 8 (MACE 32 epochs)
    assert [default_epochs(kind, n, s) for n, s in ((81_932, 48), (1_000, 2), (200_000, 400),
                                                    (81_932, None), (300_000, 193))] == [
        129, 256, 32, 32, 32]  # 32 x min(4.39, 4.02, 8) = 128.7; x 8; 193 / 400 < 1; -; x 1
    assert resolved(TrainSettings(), model, pair_count([big] * 3, 5.0), 3).epochs == 256
    assert resolved(TrainSettings(epochs=40), model, 43_008, 3).epochs == 40
    assert default_epochs(NETWORK_KINDS["bpnn"], 81_932, 48) == 1000
    assert resolved(TrainSettings(), bpnn(["Si"], 5.0), pairs).epochs == 492
    # PaiNN's epochs cost about pairs^1.5 (4.4x for the 108-atom fcc set's 2.64x): they
    # shrink as pairs^-1.7, 135 * (360,000 / 947,086)^1.7 = 26.0 for that set
    painn_kind = NETWORK_KINDS["painn"]
    assert [default_epochs(painn_kind, n) for n in (360_000, 720_000, 947_086)] == [135, 42, 26]
    assert default_epochs(painn_kind, 81_932, 48) == 543  # 135 x min(4.39^1.7, 193 / 48, 8)
    # the warmup is at most a sixth of the run: 5 epochs of 32, 2 of 16 (10 steps per epoch)
    from jaxpot.nn.train import _schedule
    for settings, warmup_steps in ((resolved(TrainSettings(), model), 50),
                                   (resolved(TrainSettings(), model, pairs), 20)):
        assert int(_schedule(settings, 10)[2]) == warmup_steps


def test_learning_rate_equals_optax_warmup_cosine():
    """The traced schedule equals optax.warmup_cosine_decay_schedule (the reference) at
    every step, warmup and tail included, also under jit with the schedule as an argument."""
    import jax.numpy as jnp
    import optax

    from jaxpot.nn.train import learning_rate
    for peak, final, warmup, total in ((3e-3, 3e-5, 25, 300), (1e-3, 0.0, 1, 7)):
        ref = optax.warmup_cosine_decay_schedule(0.0, peak, warmup, total, final)
        sched = jnp.array([peak, final, warmup, total], dtype=float)
        steps = np.arange(total + 5)
        ours = jax.jit(jax.vmap(learning_rate, in_axes=(0, None)))(steps, sched)
        np.testing.assert_allclose(ours, [float(ref(int(t))) for t in steps],
                                   rtol=1e-12, atol=1e-15)


def test_weight_decay_is_optax_adamw_on_matrices():
    """TrainSettings.weight_decay makes the step AdamW: the update of ``_optimizer`` scaled by
    the schedule's -lr, as the training step applies it, equals optax.adamw (the reference,
    with gradient clipping chained before it) over several steps, decaying the weight matrices
    and not the biases; zero decay is plain Adam; a negative one is refused."""
    import jax.numpy as jnp
    import optax

    from jaxpot.nn.train import _optimizer, learning_rate
    rng = np.random.default_rng(0)
    params = {"dense": {"kernel": jnp.asarray(rng.normal(size=(3, 4))),
                        "bias": jnp.asarray(rng.normal(size=4))}, "e0": jnp.asarray(0.5)}
    peak, final, warmup, total, wd = 3e-3, 3e-5, 2, 6, 0.1
    sched = jnp.array([peak, final, warmup, total], dtype=float)
    cosine = optax.warmup_cosine_decay_schedule(0.0, peak, warmup, total, final)

    def rate(count):  # optax's own int32 count would evaluate the schedule in float32
        return cosine(jnp.asarray(count, float))

    ref = optax.chain(optax.clip_by_global_norm(100.0), optax.adamw(
        rate, weight_decay=wd, mask=lambda p: jax.tree_util.tree_map(lambda x: x.ndim >= 2, p)))
    for decay in (wd, 0.0):
        ours_opt = _optimizer(FAST._replace(weight_decay=decay))
        reference = ref if decay else optax.chain(optax.clip_by_global_norm(100.0),
                                                  optax.adam(rate))
        ours, theirs = params, params
        s_ours, s_ref = ours_opt.init(params), reference.init(params)
        for t in range(total):
            g = jax.tree_util.tree_map(lambda x: jnp.sin(x + t), ours)
            u, s_ours = ours_opt.update(g, s_ours, ours)
            ours = optax.apply_updates(ours, jax.tree_util.tree_map(
                lambda x: -learning_rate(t, sched) * x, u))
            u, s_ref = reference.update(g, s_ref, theirs)
            theirs = optax.apply_updates(theirs, u)
        jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12,
                                                                       atol=1e-15), ours, theirs)
    with pytest.raises(ValueError, match="weight_decay"):
        _optimizer(FAST._replace(weight_decay=-1.0))


def test_run_length_is_not_compiled_into_the_step(frames, tmp_path):
    """The schedule (and so the epoch count) is an argument of the compiled step, not a
    constant: with JAX's persistent compilation cache on, a 3-epoch run after a 2-epoch run
    (another cosine length, as when a time budget refits the run) finds every program it
    compiles in the cache (a hit is still counted as a backend compile event)."""
    from jax.experimental.compilation_cache import compilation_cache as cc
    events = []

    def listen(event, **kwargs):
        events.append(event)

    jax.monitoring.register_event_listener(listen)
    data = frames[:6] + sw_frames(2, seed=5, repeat=(2, 1, 1))
    saved = (jax.config.jax_compilation_cache_dir,
             jax.config.jax_persistent_cache_min_compile_time_secs)
    try:
        jax.config.update("jax_compilation_cache_dir", str(tmp_path / "xla"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        cc.reset_cache()
        counts = []
        for epochs in (2, 3):
            events.clear()
            with CompilationCounter() as compiled:
                result = train_model(bpnn(["Si"], 4.0, hidden=(8,)), data,
                                     settings=FAST._replace(epochs=epochs), progress=False)
            counts.append((compiled.count, events.count("/jax/compilation_cache/cache_hits"),
                           events.count("/jax/compilation_cache/cache_misses")))
        assert len(result.history) == 3
    finally:
        jax.monitoring.unregister_event_listener(listen)
        jax.config.update("jax_compilation_cache_dir", saved[0])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", saved[1])
        cc.reset_cache()
    (_, _, first_misses), (second, hits, misses) = counts
    assert first_misses >= 2 and misses == 0 and hits == second >= 2, counts


def test_time_budget_fits_the_run_length_and_stops_at_the_budget(frames, tmp_path):
    """TrainSettings.time_budget_s: a zero budget runs one epoch and names the stop; the
    epoch count is fitted after PROBE_EPOCHS timed epochs (and refitted after each), capped
    by an explicit epochs; a resumed run's schedule is the fitted one from its checkpoint."""
    import jax.numpy as jnp

    from jaxpot.nn.epochs import budget_epochs
    from jaxpot.nn.train import PROBE_EPOCHS, learning_rate
    model = bpnn(["Si"], 4.0, hidden=(8,))
    result = train_model(model, frames[:8], settings=FAST._replace(
        epochs=50, time_budget_s=0.0), progress=False)
    assert result.stop_reason == "time budget"
    assert len(result.history) == 1 and result.best_epoch == 0
    history = [{"seconds": s} for s in (9.0, 1.0, 3.0)]
    assert budget_epochs(history, 10.0, 30.0) == 3 + int(0.95 * 20 / 2.0)
    assert budget_epochs(history, 10.0, 30.0, cap=5) == 5
    assert budget_epochs(history, 40.0, 30.0) == 3
    records = []

    def kill_at_epoch_3(record):
        records.append(record)
        if record["epoch"] == PROBE_EPOCHS:
            raise KeyboardInterrupt

    path = str(tmp_path / "budget.npz")
    settings = FAST._replace(epochs=None, time_budget_s=1e4, patience=1000)
    for _ in range(2):  # killed in epoch 3; then resumed from epoch 3 and killed again
        with pytest.raises(KeyboardInterrupt):
            train_model(model, frames[:8], validation_frames=frames[8:10], settings=settings,
                        checkpoint=path, progress=False, log=kill_at_epoch_3)
    from jaxpot.io.array_tree import read_arrays
    planned = read_arrays(path)[0]["run"]["epochs"]  # the checkpoint's run header
    assert planned > 1000  # the BPNN default epochs, used before the fit
    steps = 2  # 8 structures of one size, 4 per step
    fitted = jnp.array([FAST.learning_rate, FAST.final_learning_rate, steps, planned * steps])
    assert [r["epoch"] for r in records] == [0, 1, 2, 3, 3]
    assert records[-1]["learning_rate"] == pytest.approx(
        float(learning_rate(4 * steps - 1, fitted)), rel=1e-12)
    assert records[-1]["learning_rate"] == records[-2]["learning_rate"]


def test_ensemble_mean_spread_calibration_and_file(frames, test_frames, tmp_path):
    settings = FAST._replace(ensemble_size=3, epochs=3, validation_fraction=0.5)
    result = train_model(bpnn(["Si"], 4.0, hidden=(8,)), frames[:10], settings=settings,
                         progress=False)
    model = result.model
    assert model.kind == "ensemble"
    pred = ensemble_predict(model, test_frames)
    plain = jaxpot.predict(model, test_frames)
    np.testing.assert_allclose(pred.energy, plain.energy, rtol=1e-12)
    np.testing.assert_allclose(pred.forces[0], plain.forces[0], atol=1e-12)
    assert np.all(pred.energy_std > 0) and np.all(pred.forces_std[0] > 0)
    # the stored calibration gives the raw spread its smallest miscalibration area on validation
    val = result.validation_frames
    raw = ensemble_predict(model, val, calibrated=False)
    f_err = np.concatenate([(raw.forces[i] - a.get_forces()).ravel() for i, a in enumerate(val)])
    f_std = np.concatenate([s.ravel() for s in raw.forces_std])
    cal = np.asarray(model.params["calibration"])
    area = calibration(f_err, cal[1] * f_std).miscalibration_area
    assert all(area <= calibration(f_err, c * f_std).miscalibration_area
               for c in cal[1] * np.array([0.8, 0.9, 1.1, 1.25]))
    assert cal[1] == pytest.approx(calibration_factors(raw, read_labels_checked(val))[1])
    np.testing.assert_allclose(pred.forces_std[0], cal[1] * ensemble_predict(
        model, test_frames, calibrated=False).forces_std[0], rtol=1e-12)
    path = tmp_path / "ens.jaxpot"
    jaxpot.save(model, path)
    loaded = jaxpot.load(path)
    again = ensemble_predict(loaded, test_frames)
    assert np.array_equal(again.energy, pred.energy)
    assert np.array_equal(again.forces_std[0], pred.forces_std[0])
    # pooling with a fourth model (trained apart): the mean of the four members' energies
    fourth = members(model)[0].replace(params=jax.tree_util.tree_map(
        lambda x: 1.01 * x, members(model)[0].params))
    pool = pooled([model, fourth])
    assert len(members(pool)) == 4 and pool.params["calibration"].tolist() == [1.0, 1.0, 1.0]
    apart = [jaxpot.predict(m, test_frames).energy for m in members(model) + [fourth]]
    np.testing.assert_allclose(jaxpot.predict(pool, test_frames).energy,
                               np.mean(apart, axis=0), rtol=1e-10)
    with pytest.raises(ValueError, match="member 3 differs"):
        pooled([model, bpnn(["Si"], 4.0, hidden=(16,))])


def test_bad_training_data_names_the_configuration(frames):
    bad = [a.copy() for a in frames[:5]]
    for a, src in zip(bad, frames[:5]):
        a.calc = SinglePointCalculator(a, **src.calc.results)
    bad[3].calc.results["energy"] = float("nan")
    with pytest.raises(TrainingDataError, match=r"frames\[3\].*energy"):
        train_model(bpnn(["Si"], 4.0, hidden=(8,)), bad, settings=FAST, progress=False)
    unlabelled = bad[:2] + [Atoms("Si2", positions=[[0, 0, 0], [2.3, 0, 0]],
                                  cell=[6, 6, 6], pbc=True)]
    with pytest.raises(TrainingDataError, match=r"frames\[2\]: no energy, forces or stress"):
        train_model(bpnn(["Si"], 4.0, hidden=(8,)), unlabelled, settings=FAST, progress=False)
    ge = bulk("Ge", "diamond", 5.65)
    with pytest.raises(ValueError, match="Ge|32"):
        jaxpot.predict(bpnn(["Si"], 4.0, hidden=(8,)), [ge])
    with pytest.raises(ValueError, match="network potentials.*'stillinger_weber'"):
        train_model(stillinger_weber(), frames[:5], settings=FAST, progress=False)


def test_diverging_loss_names_epoch_and_step_and_keeps_best(frames):
    settings = FAST._replace(epochs=6, learning_rate=1e200, warmup_epochs=1, grad_clip=1e300)
    with pytest.raises(TrainingDivergedError, match=r"epoch \d+, step \d+") as info:
        train_model(bpnn(["Si"], 4.0, hidden=(8,)), frames[:12], settings=settings,
                    progress=False)
    best = info.value.result.model
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree_util.tree_leaves(best))


def test_jaxpot_train_cli_minimal_config(frames, test_frames, tmp_path, capsys):
    """`jaxpot train CONFIG.toml` with the minimal keys (plus a short [train]) writes the model,
    the metrics log, errors and parity plots; `jaxpot evaluate` reads the model back."""
    from jaxpot.cli import main
    write(tmp_path / "train.extxyz", frames[:16])
    write(tmp_path / "test.extxyz", test_frames)
    (tmp_path / "config.toml").write_text(
        'model = "bpnn"\ntrain = ["train.extxyz"]\noutput = "si.jaxpot"\ncutoff = 4.0\n'
        'species = ["Si"]\ntest = ["test.extxyz"]\n[architecture]\nhidden = [8]\n'
        '[training]\nepochs = 3\n')
    assert main(["train", str(tmp_path / "config.toml"), "--quiet"]) == 0
    assert (tmp_path / "si.jaxpot").exists()
    report = tmp_path / "si_report"
    lines = (report / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [0, 1, 2]
    assert (report / "learning_curves.png").stat().st_size > 0
    assert any(k.endswith("test.extxyz") for k in json.loads((report / "errors.json").read_text()))
    assert list(report.glob("*.png"))
    assert main(["evaluate", str(tmp_path / "si.jaxpot"), str(tmp_path / "test.extxyz")]) == 0
    (tmp_path / "bad.toml").write_text('model = "schnet"\ntrain = ["x"]\noutput = "o"\n'
                                       'cutoff = 4.0\nspecies = ["Si"]\n')
    assert main(["train", str(tmp_path / "bad.toml")]) == 2  # one line, no traceback
    assert "model must be one of" in capsys.readouterr().err
    (tmp_path / "bad.toml").write_text('model = "bpnn"\ntrain = ["x"]\noutput = "o"\n'
                                       'cutoff = 4.0\nspecies = ["Si"]\n'
                                       '[training]\nbatch_size = "four"\n')
    assert main(["train", str(tmp_path / "bad.toml")]) == 2
    assert "batch_size = 'four': expected int" in capsys.readouterr().err


def test_calibration_metrics_on_known_distributions():
    """Errors drawn from N(0, sigma^2) are calibrated (area ~ 0, the observed fraction inside
    the 1-sigma interval is erf(1/sqrt 2) = 0.6827); sigmas half the truth are overconfident
    (area = mean |P(|Z| < z/2) - P(|Z| < z)| > 0.1); an uninformative sigma has rank
    correlation ~ 0, an informative one > 0.5."""
    rng = np.random.default_rng(0)
    sigma = rng.uniform(0.05, 1.0, 20000)
    err = rng.normal(size=sigma.size) * sigma
    good = calibration(err, sigma)
    assert good.miscalibration_area < 0.01
    k = np.searchsorted(good.expected, 0.6827)
    assert good.observed[k] == pytest.approx(good.expected[k], abs=0.02)
    assert good.spearman > 0.5
    assert calibration(err, 0.5 * sigma).miscalibration_area > 0.1
    assert abs(calibration(err, rng.permutation(sigma)).spearman) < 0.05


def test_sigma_scale_recovers_the_true_factor_despite_tiny_sigmas():
    """Errors from N(0, (3 sigma)^2): the fitted scale is 3 (Gaussian truth), also when 2 % of
    the values are rounding noise over near-zero sigmas (forces zero by symmetry), where the
    likelihood's sqrt(mean(err^2 / sigma^2)) is off by orders of magnitude."""
    rng = np.random.default_rng(1)
    sigma = rng.uniform(0.05, 1.0, 20000)
    err = 3.0 * rng.normal(size=sigma.size) * sigma
    assert fit_sigma_scale(err, sigma) == pytest.approx(3.0, rel=0.03)
    noisy_sigma, noisy_err = sigma.copy(), err.copy()
    noisy_sigma[:400], noisy_err[:400] = 1e-8, rng.normal(size=400) * 1e-6
    assert np.sqrt(np.mean(noisy_err ** 2 / noisy_sigma ** 2)) > 10.0
    c = fit_sigma_scale(noisy_err, noisy_sigma)
    assert c == pytest.approx(3.0, rel=0.06)
    assert calibration(noisy_err, c * noisy_sigma).miscalibration_area < 0.03
