"""Real spherical harmonics against SciPy's complex ones and the addition theorem."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import eval_legendre, sph_harm_y

from jaxpot.descriptors.spherical_harmonics import real_spherical_harmonics

jax.config.update("jax_enable_x64", True)
L_MAX = 8


@pytest.fixture(scope="module")
def unit_vectors():
    v = np.random.default_rng(0).normal(size=(40, 3))
    v[0], v[1], v[2] = [0, 0, 1], [0, 0, -1], [1, 0, 0]  # the poles and the equator
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_equal_to_scipy_real_combinations(unit_vectors):
    """Reference: scipy.special.sph_harm_y; Y_lm = sqrt2 (-1)^m Re/Im Y_l^|m| (Wikipedia)."""
    theta, phi = np.arccos(unit_vectors[:, 2]), np.arctan2(unit_vectors[:, 1], unit_vectors[:, 0])
    ours = real_spherical_harmonics(jnp.asarray(unit_vectors), L_MAX)
    for l in range(L_MAX + 1):
        assert ours[l].shape == (len(unit_vectors), 2 * l + 1)
        for m in range(-l, l + 1):
            c = sph_harm_y(l, abs(m), theta, phi)
            ref = c.real if m == 0 else np.sqrt(2) * (-1) ** m * (c.real if m > 0 else c.imag)
            np.testing.assert_allclose(ours[l][:, m + l], ref, atol=1e-13)


def test_addition_theorem(unit_vectors):
    """sum_m Y_lm(a) Y_lm(b) = (2l+1)/(4 pi) P_l(a.b), analytic."""
    ours = real_spherical_harmonics(jnp.asarray(unit_vectors), L_MAX)
    cos = unit_vectors @ unit_vectors.T
    for l, y in enumerate(ours):
        np.testing.assert_allclose(np.asarray(y) @ np.asarray(y).T,
                                   (2 * l + 1) / (4 * np.pi) * eval_legendre(l, cos), atol=1e-13)


def test_gradients_finite_at_the_poles_and_match_finite_differences(unit_vectors):
    @jax.jit
    def total(v):  # a generic smooth function of the (unnormalised) vector
        u = v / jnp.linalg.norm(v)
        return sum(jnp.sum(jnp.sin(np.arange(1, 2 * l + 2)) * y)
                   for l, y in enumerate(real_spherical_harmonics(u, L_MAX)))

    grad = jax.jit(jax.grad(total))
    h = 1e-6
    for v in unit_vectors[:5]:
        g = np.asarray(grad(jnp.asarray(v)))
        assert np.all(np.isfinite(g))
        fd = [(total(v + h * e) - total(v - h * e)) / (2 * h) for e in np.eye(3)]
        np.testing.assert_allclose(g, fd, atol=1e-7)
