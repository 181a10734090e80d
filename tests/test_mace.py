"""The MACE-like model's parts against their references: the per-edge coupling and the
product basis against e3nn-jax's ``tensor_product`` (which they replace for speed), the
tabulated radial functions against cubic polynomials and the MLP they tabulate, and the
fitted mean neighbour count against the shells of the diamond lattice.  Forces, stress,
invariances, batches and save/load are in test_contract.py; training and equivariance of a
trained model in test_nn.py."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk

from jaxpot.nn.layers import cubic_hermite
from jaxpot.nn.mace import ProductBasis, _coupling, mace, mace_from_config
from jaxpot.nn.normalization import mean_neighbor_count

jax.config.update("jax_enable_x64", True)


@pytest.mark.parametrize("irreps_h", ["0e", "0e + 1o", "0e + 1o + 2e"])
def test_edge_coupling_equals_e3nn_tensor_product(irreps_h):
    """h_j (x) Y as M = CG . Y per edge and msg = h_j M equals e3nn's channel-wise tensor
    product of the same arrays, path by path (same output irreps, same order)."""
    import e3nn_jax as e3nn
    irreps_h, irreps_y = e3nn.Irreps(irreps_h), e3nn.Irreps("0e + 1o + 2e")
    rng = np.random.default_rng(0)
    h = e3nn.IrrepsArray(irreps_h, rng.normal(size=(5, 3, 4, irreps_h.dim)))
    y = e3nn.spherical_harmonics(irreps_y, jnp.asarray(rng.normal(size=(5, 3, 1, 3))),
                                 normalize=True, normalization="component")
    expected = e3nn.tensor_product(h, y, filter_ir_out=irreps_y, regroup_output=False)
    coupling, irreps = _coupling(irreps_h, irreps_y, irreps_y)
    per_edge = jnp.einsum("nkj,ijq->nkiq", y.array[:, :, 0], coupling)
    got = jnp.einsum("nkci,nkiq->nkcq", h.array, per_edge)
    assert irreps == expected.irreps
    np.testing.assert_allclose(got, expected.array, rtol=0, atol=1e-12)


def test_mean_neighbor_count_is_the_diamond_shells():
    """Diamond Si (a = 5.43 Å): 4 neighbours at 2.35 Å, 12 more at 3.84 Å, 12 at 4.50 Å."""
    si = [bulk("Si", "diamond", a=5.43), bulk("Si", "diamond", a=5.43, cubic=True)]
    assert mean_neighbor_count(si, 3.0) == pytest.approx(4.0)
    assert mean_neighbor_count(si, 4.0) == pytest.approx(16.0)
    assert mean_neighbor_count(si, 4.6) == pytest.approx(28.0)


def _product_basis_by_paths(a, onehot, weights, irreps_out, correlation):
    """The product basis as first written: e3nn ``tensor_product`` path by path, filtered,
    regrouped, one weight per path copy, summed within each irrep (before the mixing map)."""
    import e3nn_jax as e3nn
    keep_out = e3nn.Irreps(irreps_out)
    terms, power = [a.filter(keep_out)], a
    for nu in range(2, correlation + 1):
        keep = a.irreps if nu < correlation else keep_out
        power = e3nn.tensor_product(power, a, filter_ir_out=keep)
        terms.append(power.filter(keep_out))
    b = e3nn.concatenate(terms, axis=-1).regroup()
    wb = jnp.einsum("ns,scp->ncp", onehot, weights) / np.sqrt(b.irreps.num_irreps)
    starts = np.cumsum([0] + [mul for mul, _ in b.irreps])
    return jnp.concatenate([jnp.sum(x * wb[:, :, i:i + mul, None], axis=2).reshape(
        x.shape[0], x.shape[1], -1) for x, (mul, _), i in zip(b.chunks, b.irreps, starts)], -1)


@pytest.mark.parametrize("irreps_a, irreps_out, correlation, n_species", [
    ("0e + 1o + 2e", "0e + 1o", 3, 1), ("0e + 1o + 2e", "0e", 3, 2),
    ("0e + 1o", "0e + 1o", 2, 3), ("0e + 1o + 2e", "0e + 1o + 2e", 2, 1)])
def test_product_basis_equals_e3nn_paths(irreps_a, irreps_out, correlation, n_species):
    """The dense product basis (symmetric monomials of A times the weighted path tensors)
    equals e3nn's path-wise tensor products with the same weights, before and after the
    channel-mixing map."""
    import e3nn_jax as e3nn
    rng = np.random.default_rng(1)
    a = e3nn.IrrepsArray(irreps_a, jnp.asarray(rng.normal(size=(7, 5,
                                                                e3nn.Irreps(irreps_a).dim))))
    onehot = jax.nn.one_hot(np.arange(7) % n_species, n_species)
    module = ProductBasis(n_species, irreps_out, correlation)
    params = module.init(jax.random.PRNGKey(0), a, onehot)
    expected = _product_basis_by_paths(a, onehot, params["params"]["weights"], irreps_out,
                                       correlation)
    mix = e3nn.flax.Linear(e3nn.Irreps([(5, ir) for ir in e3nn.Irreps(irreps_out)]))
    irreps_b = e3nn.Irreps([(1, ir) for _, ir in e3nn.Irreps(irreps_out).regroup()])
    expected = mix.apply({"params": params["params"]["mix"]},
                         e3nn.IrrepsArray(irreps_b, expected).axis_to_mul())
    got = module.apply(params, a, onehot)
    assert got.irreps == expected.irreps
    np.testing.assert_allclose(got.array, expected.array, rtol=0, atol=1e-12)


def test_cubic_hermite_reproduces_cubics_and_is_c1():
    """Cubic Hermite interpolation is exact for a cubic polynomial (values and slopes at the
    knots), and its derivative is continuous across a knot."""
    c = np.array([0.3, -1.2, 0.7, 0.25])
    f = lambda x: c[0] + c[1] * x + c[2] * x ** 2 + c[3] * x ** 3  # noqa: E731
    grid = np.linspace(0.0, 4.0, 9)
    values = jnp.asarray(f(grid))[:, None]
    slopes = jnp.asarray(jax.vmap(jax.grad(f))(jnp.asarray(grid)))[:, None]
    x = jnp.asarray(np.random.default_rng(2).uniform(0.0, 4.0, 50))
    np.testing.assert_allclose(cubic_hermite(x, values, slopes, 0.5)[:, 0], f(x), atol=1e-12)
    rough = values + jnp.asarray(np.random.default_rng(3).normal(size=values.shape))
    slope = jax.grad(lambda x: cubic_hermite(x, rough, slopes, 0.5)[0])
    assert float(slope(1.5 - 1e-9)) == pytest.approx(float(slope(1.5 + 1e-9)), abs=1e-6)


def _rattled_si(seed=0):
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.1, seed=seed)
    return atoms


def _energy_and_forces(model, atoms):
    from jaxpot.calculator import JaxpotCalculator
    atoms = atoms.copy()
    atoms.calc = JaxpotCalculator(model)
    return atoms.get_potential_energy(), atoms.get_forces()


def test_tabulated_radial_functions_converge_to_the_mlp():
    """The radial MLP tabulated on G intervals and interpolated converges to the MLP evaluated
    on every pair as G grows (cubic Hermite: energy error O(h^4), forces O(h^3)); a file saved
    before ``radial_grid`` existed rebuilds the MLP-per-pair model."""
    model = mace(["Si"], 4.0, channels=4, radial_hidden=(16,), n_rbf=6, radial_grid=0,
                 seed=1, dtype=jnp.float64)
    rng = np.random.default_rng(4)
    net = jax.tree_util.tree_map(lambda x: jnp.asarray(rng.normal(size=x.shape)),
                                 model.params["net"])
    params = {**model.params, "net": net}
    config = json.loads(model.spec)["config"]
    atoms = _rattled_si()
    e_ref, f_ref = _energy_and_forces(model.replace(params=params), atoms)
    errors = []
    for grid in (32, 128):
        tabulated = mace_from_config(dict(config, radial_grid=grid), params=params)
        e, f = _energy_and_forces(tabulated, atoms)
        errors.append((abs(e - e_ref), np.abs(f - f_ref).max()))
    (e32, f32), (e128, f128) = errors
    assert e128 < 1e-6 * len(atoms) and f128 < 3e-4 * np.abs(f_ref).max()
    assert e32 / e128 > 30 and f32 / f128 > 15  # orders 4 and 3: 256x and 64x ideally
    old = {k: v for k, v in config.items() if k != "radial_grid"}
    e_old, f_old = _energy_and_forces(mace_from_config(old, params=params), atoms)
    assert e_old == e_ref and np.array_equal(f_old, f_ref)
