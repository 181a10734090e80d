"""The MACE-like model's parts against their references: the per-edge coupling against
e3nn-jax's ``tensor_product`` (which it replaces for speed), and the fitted mean neighbour count
against the shells of the diamond lattice.  Forces, stress, invariances, batches and save/load
are in test_contract.py; training and equivariance of a trained model in test_nn.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase.build import bulk

from jaxpot.nn.mace import _coupling
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
