"""SOAP power spectrum against the reference codes, element by element:

* dscribe 2.1 ``SOAP`` (GTO and polynomial bases, weighting functions, centre weight,
  compression modes, species weighting, averaging) on a 2-atom periodic Si cell (many
  images), a triclinic Si/Ge cell and an open molecule; dscribe's analytic derivatives
  (non-periodic) and numerical derivatives (periodic).
* featomic 0.6 ``SoapPowerSpectrum`` (GTO basis, Gaussian density, ShiftedCosine or Step
  cutoff, centre-atom weight, Willatt2018 scaling): features, position gradients and strain
  gradients, with featomic's default spline and with its exact (unsplined) radial integrals.
* quippy 0.10 (QUIP/GAP) ``soap`` descriptor (its default EQUISPACED_GAUSS basis, cosine
  transition, central weight, radial decay, averaging, normalisation): features and position
  gradients.
* finite differences of positions and cell; rotation, translation and permutation
  invariance; continuity across r_cut; memory linear in N.
"""

import featomic
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk, molecule
from dscribe.descriptors import SOAP as DscribeSOAP
from quippy.descriptors import Descriptor as QuipDescriptor

from jaxpot.descriptors.soap import soap
from jaxpot.descriptors.soap_gradients import soap_pair_gradients_jit
from jaxpot.neighbors import allocate_neighbor_list
from jaxpot.testing import random_rotation

jax.config.update("jax_enable_x64", True)


def alloy_cell():
    atoms = bulk("Si", "diamond", a=5.5, cubic=True)
    atoms.symbols[::3] = "Ge"
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + [[0.02, 0.06, 0], [0, -0.03, 0.05],
                                                    [0.04, 0, 0]]), scale_atoms=True)
    atoms.rattle(0.05, seed=2)
    return atoms


def si_primitive():
    return bulk("Si", "diamond", a=5.43)


def ethanol():
    return molecule("CH3CH2OH")


CHO, SIGE = ["H", "C", "O"], ["Si", "Ge"]
POW = {"function": "pow", "r0": 2.0, "c": 1.0, "d": 1.0, "m": 3}
DSCRIBE_CASES = {
    "si_primitive_gto": (si_primitive, ["Si"], dict(r_cut=5.0, n_max=5, l_max=5, sigma=0.5)),
    "si_primitive_polynomial": (si_primitive, ["Si"],
                                dict(r_cut=5.0, n_max=5, l_max=4, sigma=0.5, rbf="polynomial")),
    "sige_triclinic_gto_pow_weighting": (alloy_cell, SIGE, dict(r_cut=4.5, n_max=4, l_max=4,
                                                                sigma=0.5, weighting=POW)),
    "sige_polynomial_centre_weight": (alloy_cell, SIGE, dict(
        r_cut=4.5, n_max=4, l_max=3, sigma=0.4, rbf="polynomial", weighting={"w0": 0.3})),
    "molecule_poly_weighting_and_w0": (ethanol, CHO, dict(
        r_cut=4.0, n_max=3, l_max=3, sigma=0.6,
        weighting={"function": "poly", "r0": 3.5, "c": 2.0, "m": 2, "w0": 0.5})),
    "molecule_polynomial_sigma1_exp_weighting": (ethanol, CHO, dict(
        r_cut=4.0, n_max=4, l_max=3, sigma=1.0, rbf="polynomial",
        weighting={"function": "exp", "r0": 1.0, "c": 1.0, "d": 0.5})),
    "molecule_r_cut_from_weighting": (ethanol, CHO, dict(n_max=3, l_max=3, sigma=0.6,
                                                         weighting={**POW, "m": 4})),
    "compression_crossover": (alloy_cell, SIGE, dict(r_cut=4.0, n_max=3, l_max=3, sigma=0.5,
                                                     compression={"mode": "crossover"})),
    "compression_mu1nu1": (alloy_cell, SIGE, dict(r_cut=4.0, n_max=3, l_max=3, sigma=0.5,
                                                  compression={"mode": "mu1nu1"})),
    "compression_mu2_species_weighting": (ethanol, CHO, dict(
        r_cut=4.0, n_max=3, l_max=3, sigma=0.6,
        compression={"mode": "mu2", "species_weighting": {"H": 0.5, "C": 1.0, "O": 2.0}})),
    "average_inner": (alloy_cell, SIGE, dict(r_cut=4.0, n_max=3, l_max=3, sigma=0.5,
                                             average="inner")),
    "average_outer_polynomial": (alloy_cell, SIGE, dict(r_cut=4.0, n_max=3, l_max=3, sigma=0.5,
                                                        average="outer", rbf="polynomial")),
}


def _copy(kw):  # dscribe edits the dicts it is given
    return {k: dict(v) if isinstance(v, dict) else v for k, v in kw.items()}


@pytest.mark.parametrize("name", sorted(DSCRIBE_CASES))
def test_equals_dscribe_element_by_element(name):
    """Reference: dscribe ``SOAP(...).create`` with the same keyword arguments."""
    make, species, kw = DSCRIBE_CASES[name]
    atoms = make()
    desc = soap(species=species, **_copy(kw))
    ours = desc(atoms)
    ref = DscribeSOAP(species=species, periodic=bool(atoms.pbc.any()), **_copy(kw)).create(atoms)
    assert ours.shape == ref.shape and ours.shape[-1] == desc.n_features
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10 * np.abs(ref).max())


def _jitted(desc, atoms, skin=0.3):
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc,
                                  cutoff=desc.neighbor_cutoff, skin=skin)
    cell, z = jnp.asarray(atoms.cell.array), jnp.asarray(atoms.numbers)
    return jax.jit(lambda p: desc.features(p, cell, z, nbrs))


def _central_difference(f, positions, i, a, h=1e-5):
    p = np.array(positions)
    p[i, a] += h
    plus = np.asarray(f(jnp.asarray(p)))
    p[i, a] -= 2 * h
    return (plus - np.asarray(f(jnp.asarray(p)))) / (2 * h)


def test_gradients_match_dscribe_analytic_and_finite_differences():
    """Reference: dscribe ``derivatives(method="analytical")`` (GTO, open boundaries)."""
    atoms = molecule("H2O")
    kw = dict(species=["H", "O"], r_cut=4.0, n_max=3, l_max=3, sigma=0.5)
    f = _jitted(soap(**kw), atoms)
    jac = np.asarray(jax.jacfwd(f)(jnp.asarray(atoms.positions)))  # (centre, F, atom, 3)
    ref, values = DscribeSOAP(**kw).derivatives(atoms, method="analytical", attach=True)
    np.testing.assert_allclose(values, np.asarray(f(jnp.asarray(atoms.positions))), atol=1e-10)
    np.testing.assert_allclose(jac.transpose(0, 2, 3, 1), ref, atol=1e-8 * np.abs(ref).max())
    for i, a in [(0, 2), (2, 0)]:
        np.testing.assert_allclose(jac[:, :, i, a], _central_difference(f, atoms.positions, i, a),
                                   atol=1e-6)


def test_periodic_polynomial_gradients_match_dscribe_numerical():
    """Reference: dscribe ``derivatives(method="numerical")``, periodic 2-atom Si,
    polynomial basis (dscribe has no analytic derivatives here)."""
    atoms = si_primitive()
    atoms.positions[1] += [0.05, -0.03, 0.02]
    kw = dict(species=["Si"], r_cut=4.0, n_max=3, l_max=3, sigma=0.5, rbf="polynomial")
    f = _jitted(soap(**kw), atoms)
    jac = np.asarray(jax.jacfwd(f)(jnp.asarray(atoms.positions)))
    ref = DscribeSOAP(periodic=True, **kw).derivatives(atoms, method="numerical", attach=True,
                                                       return_descriptor=False)
    np.testing.assert_allclose(jac.transpose(0, 2, 3, 1), ref, atol=1e-6 * np.abs(ref).max())


def featomic_dense(atoms, zs, r_cut, n_max, l_max, sigma, width=None, w0=1.0, scaling=None,
                   spline_accuracy=1e-8, gradients=False):
    """featomic SoapPowerSpectrum as dense arrays in jaxpot's featomic-convention order:
    features (N, F) and, with ``gradients``, d features / d positions (N, F, N, 3) and
    d features / d strain (N, F, 3, 3)."""
    density = {"type": "Gaussian", "width": sigma, "center_atom_weight": w0}
    if scaling:
        density["scaling"] = scaling
    calc = featomic.SoapPowerSpectrum(
        cutoff={"radius": r_cut, "smoothing": {"type": "Step"} if width is None else
                {"type": "ShiftedCosine", "width": width}},
        density=density,
        basis={"type": "TensorProduct", "max_angular": l_max, "spline_accuracy": spline_accuracy,
               "radial": {"type": "Gto", "max_radial": n_max - 1}})
    tm = calc.compute(atoms, gradients=["positions", "strain"] if gradients else [])
    pairs = [(a, b) for a in range(len(zs)) for b in range(a, len(zs))]
    per, n = (l_max + 1) * n_max * n_max, len(atoms)
    out = np.zeros((n, len(pairs) * per))
    jac, strain = np.zeros((n, out.shape[1], n, 3)), np.zeros((n, out.shape[1], 3, 3))
    for key, block in tm.items():
        _, t1, t2 = (int(v) for v in key.values)
        props = block.properties.values
        cols = (pairs.index((zs.index(t1), zs.index(t2))) * per + props[:, 0] * n_max * n_max
                + props[:, 1] * n_max + props[:, 2])
        centres = np.asarray(block.samples.column("atom"))
        out[np.ix_(centres, cols)] = block.values
        if gradients:
            g = block.gradient("positions")
            s, at = np.asarray(g.samples.column("sample")), np.asarray(g.samples.column("atom"))
            jac[centres[s][:, None], cols[None, :], at[:, None], :] = g.values.transpose(0, 2, 1)
            g = block.gradient("strain")
            s = np.asarray(g.samples.column("sample"))
            strain[centres[s][:, None], cols[None, :]] = g.values.transpose(0, 3, 1, 2)
    return out, jac, strain


FEATOMIC_CASES = {
    "si_primitive_shifted_cosine": (si_primitive, [14], dict(r_cut=5.0, n_max=5, l_max=5,
                                                              sigma=0.5, width=1.0)),
    "sige_step_centre_weight": (alloy_cell, [14, 32], dict(r_cut=4.5, n_max=5, l_max=4,
                                                            sigma=0.4, w0=0.3)),
    "molecule_willatt2018_scaling": (ethanol, [1, 6, 8], dict(
        r_cut=4.0, n_max=4, l_max=3, sigma=0.6, width=0.7,
        scaling={"type": "Willatt2018", "scale": 1.5, "rate": 2.0, "exponent": 4})),
}


def _featomic_descriptor(zs, r_cut, n_max, l_max, sigma, width=None, w0=1.0, scaling=None,
                         spline_accuracy=1e-8):
    weighting = {"w0": w0} if w0 != 1.0 else {}
    if scaling:
        weighting.update(function="pow", r0=scaling["scale"], c=scaling["rate"],
                         d=scaling["rate"], m=scaling["exponent"])
    return soap(species=zs, r_cut=r_cut, n_max=n_max, l_max=l_max, sigma=sigma,
                weighting=weighting, convention="featomic",
                cutoff="step" if width is None else "smooth", cutoff_width=width or 1.0,
                spline_accuracy=spline_accuracy)


@pytest.mark.parametrize("name", sorted(FEATOMIC_CASES))
def test_equals_featomic_element_by_element(name):
    """Reference: featomic ``SoapPowerSpectrum`` (default spline accuracy 1e-8)."""
    make, zs, kw = FEATOMIC_CASES[name]
    atoms = make()
    ours = _featomic_descriptor(zs, **kw)(atoms)
    ref, _, _ = featomic_dense(atoms, zs, **kw)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-11 * np.abs(ref).max())


def test_tight_spline_equals_featomic_exact_radial_integrals():
    """Reference: featomic with ``spline_accuracy=None`` (analytic 1F1 radial integrals);
    jaxpot's spline at accuracy 1e-12 reaches 1e-8 relative (featomic's default spline only
    agrees with its own exact integrals to ~5e-9)."""
    make, zs, kw = FEATOMIC_CASES["sige_step_centre_weight"]
    atoms = make()
    ours = _featomic_descriptor(zs, **kw, spline_accuracy=1e-12)(atoms)
    ref, _, _ = featomic_dense(atoms, zs, **kw, spline_accuracy=None)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-8 * np.abs(ref).max())


@pytest.fixture(scope="module")
def featomic_alloy():
    """Smooth-cutoff featomic-convention descriptor on the triclinic Si/Ge cell."""
    kw = dict(r_cut=4.0, n_max=3, l_max=3, sigma=0.5, width=1.0)
    atoms = alloy_cell()
    desc = _featomic_descriptor([14, 32], **kw)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, True, cutoff=4.0, skin=0.3)
    args = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array), jnp.asarray(atoms.numbers)
    return atoms, kw, desc, nbrs, args


def test_position_and_strain_gradients_match_featomic(featomic_alloy):
    """Reference: featomic's analytic ``positions`` and ``strain`` gradients; autodiff also
    against central differences of the strained features."""
    atoms, kw, desc, nbrs, (pos, cell, z) = featomic_alloy
    _, ref_jac, ref_strain = featomic_dense(atoms, [14, 32], **kw, gradients=True)

    def strained(p, eps):
        return desc.features(p @ (jnp.eye(3) + eps), cell @ (jnp.eye(3) + eps), z, nbrs)

    jac, strain = (np.asarray(x) for x in
                   jax.jit(jax.jacfwd(strained, argnums=(0, 1)))(pos, jnp.zeros((3, 3))))
    np.testing.assert_allclose(jac, ref_jac, atol=1e-10 * np.abs(ref_jac).max())
    np.testing.assert_allclose(strain, ref_strain, atol=1e-10 * np.abs(ref_strain).max())
    f, h = jax.jit(strained), 1e-6
    for a, b in [(0, 0), (1, 2)]:
        e = np.zeros((3, 3))
        e[a, b] = h
        fd = (np.asarray(f(pos, jnp.asarray(e))) - np.asarray(f(pos, jnp.asarray(-e)))) / (2 * h)
        np.testing.assert_allclose(strain[..., a, b], fd, atol=1e-7 * np.abs(fd).max())


def _assemble_pair_gradients(pair, idx, shape):
    """Dense d p_i / d r_j (N, F, N, 3) from the per-slot Jacobian (N, K, F, 3)."""
    n = shape[0]
    dense = np.zeros(shape)
    centre, slot = np.nonzero(idx < n)
    np.add.at(dense, (centre, slice(None), idx[centre, slot]), pair[centre, slot])
    dense[np.arange(n), :, np.arange(n)] -= pair.sum(axis=1)
    return dense


@pytest.mark.parametrize("options", [{}, {"compression": {"mode": "crossover"}, "normalize": True},
                                     {"compression": {"mode": "mu1nu1"}}])
def test_sparse_jacobian_matches_featomic_and_autodiff(featomic_alloy, options):
    """Reference: featomic's analytic ``positions`` gradients (featomic convention); the
    dscribe layouts (crossover, mu1nu1, normalised) against the autodiff Jacobian."""
    atoms, kw, desc, nbrs, (pos, cell, z) = featomic_alloy
    if options:
        desc = soap(species=[14, 32], r_cut=kw["r_cut"], n_max=kw["n_max"], l_max=kw["l_max"],
                    sigma=kw["sigma"], **options)
        # the dscribe convention reaches r_cut plus its Gaussian tail: a list that long
        nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, True,
                                      cutoff=desc.neighbor_cutoff)
        ref = np.asarray(jax.jit(jax.jacfwd(lambda p: desc.features(p, cell, z, nbrs)))(pos))
    else:
        ref = featomic_dense(atoms, [14, 32], **kw, gradients=True)[1]
    feats, pair = (np.asarray(x) for x in soap_pair_gradients_jit(desc, pos, cell, z, nbrs))
    np.testing.assert_allclose(feats, jax.jit(desc.features)(pos, cell, z, nbrs), atol=1e-13)
    dense = _assemble_pair_gradients(pair, np.asarray(nbrs.idx), ref.shape)
    np.testing.assert_allclose(dense, ref, rtol=0, atol=1e-10 * np.abs(ref).max())


QUIP_CASES = {
    "si_primitive": (si_primitive, [14], dict(r_cut=5.0, n_max=4, l_max=3, sigma=0.5,
                                              cutoff_width=1.0)),
    "sige_triclinic": (alloy_cell, [14, 32], dict(r_cut=4.5, n_max=5, l_max=4, sigma=0.4,
                                                  cutoff_width=0.5)),
    "molecule_central_weight_radial_decay": (ethanol, [1, 6, 8], dict(
        r_cut=4.0, n_max=4, l_max=4, sigma=0.6, cutoff_width=0.7,
        weighting={"w0": 0.3, "function": "pow", "c": 2.0, "d": 2.0, "r0": 1.5, "m": 4})),
    "sige_average_unnormalised": (alloy_cell, [14, 32], dict(
        r_cut=4.0, n_max=3, l_max=3, sigma=0.5, cutoff_width=1.0, average="inner",
        normalize=False)),
}


def quip_descriptor(zs, r_cut, n_max, l_max, sigma, cutoff_width, weighting=None,
                    average="off", normalize=True):
    """quippy's ``soap`` descriptor with the same hyperparameters (species_Z sorted)."""
    w = weighting or {}
    decay = (f" cutoff_rate={w['c']} cutoff_scale={w['r0']} cutoff_dexp={w['m']}"
             if "function" in w else "")
    return QuipDescriptor(
        f"soap cutoff={r_cut} cutoff_transition_width={cutoff_width} n_max={n_max} "
        f"l_max={l_max} atom_sigma={sigma} central_weight={w.get('w0', 1.0)} "
        f"n_species={len(zs)} species_Z={{{' '.join(map(str, sorted(zs)))}}}{decay} "
        f"average={'T' if average != 'off' else 'F'} normalise={'T' if normalize else 'F'}")


@pytest.mark.parametrize("name", sorted(QUIP_CASES))
def test_equals_quippy_element_by_element(name):
    """Reference: quippy ``Descriptor("soap ...").calc(atoms)["data"]`` (QUIP/GAP)."""
    make, zs, kw = QUIP_CASES[name]
    atoms = make()
    ours = soap(species=zs, convention="quip", **kw)(atoms)
    ref = np.asarray(quip_descriptor(zs, **kw).calc(atoms)["data"])
    ref = ref[0] if kw.get("average", "off") != "off" else ref
    if not kw.get("normalize", True):  # QUIP sums where jaxpot averages over centres
        ref = ref / len(atoms) ** 2
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10 * np.abs(ref).max())


def test_position_gradients_match_quippy():
    """Reference: quippy's analytic ``grad_data`` (summed over periodic images of each
    neighbour), triclinic Si/Ge cell."""
    zs, kw = [14, 32], dict(r_cut=4.0, n_max=3, l_max=3, sigma=0.5, cutoff_width=1.0)
    atoms = alloy_cell()
    out = quip_descriptor(zs, **kw).calc(atoms, grad=True)
    desc = soap(species=zs, convention="quip", **kw)
    jac = np.asarray(jax.jacfwd(_jitted(desc, atoms))(jnp.asarray(atoms.positions)))
    ref = np.zeros_like(jac)
    for (centre, atom), g in zip(out["grad_index_0based"], out["grad_data"]):
        ref[centre, :, atom, :] += g.T
    np.testing.assert_allclose(jac, ref, rtol=0, atol=1e-10 * np.abs(ref).max())
    # the sparse per-slot Jacobian, assembled densely, is the same
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, True, cutoff=4.0, skin=0.3)
    feats, pair = (np.asarray(x) for x in soap_pair_gradients_jit(
        desc, jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
        jnp.asarray(atoms.numbers), nbrs))
    np.testing.assert_allclose(feats, out["data"], atol=1e-12)
    dense = _assemble_pair_gradients(pair, np.asarray(nbrs.idx), jac.shape)
    np.testing.assert_allclose(dense, ref, rtol=0, atol=1e-10 * np.abs(ref).max())


def test_invariances(featomic_alloy):
    """Rotation, translation and permutation of atoms leave the features unchanged."""
    atoms, _, desc, _, _ = featomic_alloy
    base = desc(atoms)
    rot = random_rotation(5)
    moved = atoms.copy()
    moved.set_cell(atoms.cell.array @ rot.T)
    moved.positions = atoms.positions @ rot.T + [2.0, -0.5, 1.0]
    np.testing.assert_allclose(desc(moved), base, atol=1e-10 * np.abs(base).max())
    perm = np.random.default_rng(1).permutation(len(atoms))
    np.testing.assert_allclose(desc(atoms[perm]), base[perm], atol=1e-10 * np.abs(base).max())


@pytest.mark.parametrize("convention", ["dscribe", "featomic", "quip"])
def test_smooth_across_the_cutoff(convention):
    """With the smooth cutoff, features and their derivatives go continuously to their
    isolated-atom values as a neighbour crosses r_cut (analytic limit: the cosine switch
    and its slope vanish at r_cut)."""
    desc = soap(species=["H"], r_cut=3.0, n_max=3, l_max=2, sigma=0.5, cutoff="smooth",
                cutoff_width=1.0, convention=convention)
    atoms = molecule("H2")
    nbrs = allocate_neighbor_list(np.array([[0, 0, 0], [0, 0, 2.5]]), np.eye(3) * 10, False,
                                  cutoff=3.0, skin=1.0)
    cell, z = jnp.eye(3) * 10, jnp.asarray(atoms.numbers)

    def feats(d):
        return desc.features(jnp.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) * d, cell, z, nbrs)

    f, df = jax.jit(feats), jax.jit(jax.jacfwd(feats))
    below, above, far = (np.asarray(f(d)) for d in (3.0 - 1e-6, 3.0 + 1e-6, 3.9))
    np.testing.assert_allclose(below, above, atol=1e-10 * np.abs(far).max())
    np.testing.assert_allclose(above, far, atol=1e-14)
    slope_scale = np.abs(np.asarray(df(2.5))).max()
    assert np.abs(np.asarray(df(3.0 - 1e-6))).max() < 1e-4 * slope_scale  # O(1e-6) slope
    assert np.abs(np.asarray(df(3.0 + 1e-6))).max() == 0.0


def test_memory_is_linear_in_atoms():
    """XLA's temporary buffers for features of 8x the atoms grow about 8x (dense (N, K)
    neighbour slots, no N^2 arrays)."""
    desc = soap(species=["Si"], r_cut=4.0, n_max=4, l_max=3, sigma=0.5, convention="featomic")
    sizes = []
    for rep in (1, 2):
        atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat(rep)
        nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, True, cutoff=4.0)
        args = (jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
                jnp.asarray(atoms.numbers), nbrs)
        compiled = jax.jit(desc.features).lower(*args).compile()
        sizes.append(compiled.memory_analysis().temp_size_in_bytes)
    assert 4 < sizes[1] / sizes[0] < 10


def test_bad_options_raise():
    with pytest.raises(ValueError, match="rbf"):
        soap(species=["Si"], r_cut=5.0, n_max=4, l_max=4, rbf="gaussian")
    with pytest.raises(ValueError, match="rbf"):
        soap(species=["Si"], r_cut=5.0, n_max=4, l_max=4, rbf="gto", convention="quip")
    with pytest.raises(NotImplementedError, match="cutoff_rate"):
        soap(species=["Si"], r_cut=5.0, n_max=4, l_max=4, convention="quip",
             weighting={"function": "pow", "c": 1.0, "d": 2.0, "r0": 1.0, "m": 2})
    with pytest.raises(ValueError, match="cutoff must be one of"):
        soap(species=["Si"], r_cut=5.0, n_max=4, l_max=4, convention="featomic",
             cutoff="dscribe")
    with pytest.raises(NotImplementedError, match="compression"):
        soap(species=["Si"], r_cut=5.0, n_max=4, l_max=4, convention="featomic",
             compression={"mode": "mu2"})
    with pytest.raises(ValueError, match="r0"):
        soap(species=["Si"], r_cut=5.0, n_max=4, l_max=4, weighting={"function": "pow"})
    with pytest.raises(ValueError, match="species_weighting"):
        soap(species=["Si", "C"], r_cut=5.0, n_max=2, l_max=2,
             compression={"mode": "mu2", "species_weighting": {"Si": 1.0}})
    with pytest.raises(ValueError, match="unknown species"):
        soap(species=["Si"], r_cut=5.0, n_max=2, l_max=2)(molecule("H2O"))
