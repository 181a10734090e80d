"""PaiNN: polarizable atom interaction neural network (Schütt, Unke & Gastegger, ICML 2021).

An equivariant message-passing potential on jaxpot's neighbor lists.  Each atom carries scalar
features s_i (F) and vector features v_i (3, F); with r_ij = r_j - r_i (periodic images
included) and W(r) a linear map of a sine (Bessel) radial basis times a smooth cutoff:

    message:  (a, b, c) = phi(s_j) * W(r_ij),   ds_i = sum_j a,
              dv_i = sum_j (b v_j + c r_ij / |r_ij|)
    update:   (a_vv, a_sv, a_ss) = MLP([s_i, |V v_i|]),
              dv_i = a_vv U v_i,   ds_i = a_sv <U v_i, V v_i> + a_ss

and the local energy eps_i = scale * MLP(s_i) + e0_{Z_i} (eV).  Scalars are rotation
invariant and vectors rotate with the structure, so energies are invariant and forces (by
autodiff) equivariant.  ``scale`` and ``e0`` are fitted on the training set and stored under
``params["norm"]``; the network under ``params["net"]``.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from jaxpot.cutoffs import safe_norm
from jaxpot.descriptors._common import species_numbers
from jaxpot.model import EnergyModel, make_spec, register_model_kind
from jaxpot.nn.layers import (
    ACTIVATIONS,
    MLP,
    bessel_basis,
    envelope,
    init_variables,
    loadable,
    vector_network_model,
)
from jaxpot.training.values import check_arguments, choice, integer_rule, number_rule

_MODULE = "jaxpot.nn.painn"


class PaiNN(nn.Module):
    """Per-atom network outputs (N,) of one structure; see the module docstring."""

    n_species: int
    cutoff: float
    features: int = 32
    layers: int = 3
    n_rbf: int = 16
    act: str = "silu"
    cutoff_kind: str = "cosine"
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, species_index, vectors, mask, idx):
        """species_index (N,), pair vectors (N, K, 3) Å, mask (N, K), neighbour index (N, K)."""
        f, dt = self.features, self.param_dtype
        n = species_index.shape[0]
        r = safe_norm(vectors, mask)
        within = mask & (r < self.cutoff)
        unit = vectors / jnp.where(within, r, 1.0)[..., None]  # (N, K, 3)
        fc = jnp.where(within, envelope(r, self.cutoff, self.cutoff_kind), 0.0)
        rbf = bessel_basis(r, self.cutoff, self.n_rbf) * fc[..., None]  # (N, K, R)
        s = nn.Embed(self.n_species, f, param_dtype=dt)(species_index).astype(vectors.dtype)
        v = jnp.zeros((n, 3, f), vectors.dtype)
        nb = jnp.where(within, idx, n)
        for layer in range(self.layers):
            # ---- message
            phi = MLP((f,), 3 * f, self.act, param_dtype=dt, name=f"phi_{layer}")(s)
            w = nn.Dense(3 * f, param_dtype=dt, name=f"filter_{layer}")(rbf)  # (N, K, 3F)
            s_pad = jnp.concatenate([phi, jnp.zeros((1, 3 * f), phi.dtype)])
            v_pad = jnp.concatenate([v, jnp.zeros((1, 3, f), v.dtype)])
            x = s_pad[nb] * w * fc[..., None]  # (N, K, 3F), zero outside the cutoff
            a, b, c = jnp.split(x, 3, axis=-1)
            s = s + jnp.sum(a, axis=1)
            v = v + jnp.einsum("nkf,nkaf->naf", b, v_pad[nb]) + jnp.einsum("nkf,nka->naf",
                                                                            c, unit)
            # ---- update
            uv = nn.Dense(f, use_bias=False, param_dtype=dt, name=f"U_{layer}")(v)
            vv = nn.Dense(f, use_bias=False, param_dtype=dt, name=f"V_{layer}")(v)
            norm_vv = jnp.sqrt(jnp.sum(vv * vv, axis=1) + 1e-8)
            gates = MLP((f,), 3 * f, self.act, param_dtype=dt, name=f"update_{layer}")(
                jnp.concatenate([s, norm_vv], axis=-1))
            a_vv, a_sv, a_ss = jnp.split(gates, 3, axis=-1)
            v = v + a_vv[:, None, :] * uv
            s = s + a_sv * jnp.sum(uv * vv, axis=1) + a_ss
        return MLP((f // 2,), 1, self.act, param_dtype=dt, name="readout")(s)[:, 0]


def painn(species, cutoff: float = 5.0, *, features: int = 32, layers: int = 3,
          n_rbf: int = 16, activation: str = "silu", cutoff_kind: str = "cosine",
          seed: int = 0, dtype=None, params=None) -> EnergyModel:
    """A PaiNN potential with freshly initialised weights (see the module docstring).

    Args:
        species: element symbols or Z. cutoff: Å. features: width F (>= 2). layers:
            interaction blocks (>= 1). n_rbf: Bessel functions (>= 1). activation: see
            :mod:`jaxpot.nn.layers`.
        cutoff_kind: "cosine" or "polynomial". seed: initialisation seed.
        dtype: parameter dtype (default JAX's float). params: full params to use instead.
    """
    zs = tuple(sorted(set(species_numbers(species, "painn species"))))
    dtype = jnp.dtype(dtype or jnp.result_type(float))
    config = {"species": list(zs), "cutoff": cutoff, "features": features, "layers": layers,
              "n_rbf": n_rbf, "activation": activation, "cutoff_kind": cutoff_kind,
              "dtype": dtype.name}
    return painn_from_config(config, seed=seed, params=params)


#: the check of each size and setting of a PaiNN (value, name) -> value; a size of 0 (no
#: interaction layer, no feature, no radial function) builds a model that cannot fit
PAINN_RULES = {
    "cutoff": number_rule(low=0.0, low_open=True),
    "features": integer_rule(2),  # the readout's hidden layer has features // 2 units
    "layers": integer_rule(1), "n_rbf": integer_rule(1),
    "activation": lambda v, name: choice(v, name, sorted(ACTIVATIONS)),
    "cutoff_kind": lambda v, name: choice(v, name, ("cosine", "polynomial")),
}


def painn_from_config(config: dict, seed: int = 0, params=None) -> EnergyModel:
    """Rebuild a PaiNN model from its spec config (fresh weights unless ``params``);
    ValueError naming the argument for a size or setting :data:`PAINN_RULES` refuses."""
    config = check_arguments(config, PAINN_RULES, "painn ")
    zs = tuple(config["species"])
    dtype = jnp.dtype(config.get("dtype", "float32"))
    cutoff = float(config["cutoff"])

    module = PaiNN(len(zs), cutoff, config["features"], config["layers"], config["n_rbf"],
                   config["activation"], config["cutoff_kind"], dtype)
    if params is None:
        net = init_variables(module, seed, jnp.zeros(2, int), jnp.ones((2, 1, 3), dtype),
                             jnp.ones((2, 1), bool), jnp.array([[1], [0]]))
        params = {"net": net, "norm": {"e0": jnp.zeros((len(zs),), dtype),
                                       "energy_scale": jnp.ones((), dtype)}}
    return vector_network_model(lambda p, *args: module.apply(p["net"], *args), params, zs,
                                cutoff, make_spec("painn", _MODULE, **config), "PaiNN")


def example() -> EnergyModel:
    """Small model for the contract test: a silicon PaiNN (cutoff 3.5 Å, 8 features, two
    layers), freshly initialised from a seed."""
    return painn(["Si"], 3.5, features=8, layers=2, n_rbf=6, seed=2)


register_model_kind("painn", loadable(painn_from_config), example=example)
