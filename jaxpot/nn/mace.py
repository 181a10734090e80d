"""MACE-like equivariant message passing with higher body order (Batatia et al., NeurIPS 2022).

Built on e3nn-jax irreps.  Node features h_i hold C channels of irreps (``0e`` in the first
layer, ``0e + 1o`` after).  With Y(r̂_ij) the spherical harmonics up to ``max_ell`` and
R(r_ij) a radial MLP of a Bessel basis times a smooth cutoff, each layer computes

    A_i,c   = W_A [ sum_j R_c,p(r_ij) (h_j,c ⊗ Y(r̂_ij))_p ] / n_avg     (one-particle basis)
    B_i,c   = sum_nu sum_paths w_{Z_i},c,path (A_i,c ⊗ ... ⊗ A_i,c)_path (nu <= correlation)
    h_i     <- W_B B_i + W_s h_i,            eps_i += readout(h_i)

so one layer already sees (correlation + 1)-body angular correlations (ACE's product basis,
contracted channel-wise with species-dependent weights, as MACE's symmetric contraction).
The readout is linear on the scalars after each layer except the last, a small MLP after the
last; the readouts' last weights start at zero.  eps_i = scale * sum_layers readout + e0_{Z_i}
(eV).  ``scale``, ``e0`` and the mean neighbour count ``n_avg`` are fitted on the training
set and stored in ``params["norm"]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.cutoffs import safe_norm
from jaxpot.model import EnergyModel, make_spec, register_model_kind
from jaxpot.nn.layers import (activation, bessel_basis, envelope, loadable,
                              vector_network_model)

_MODULE = "jaxpot.nn.mace"


def _copy_index(irreps) -> np.ndarray:
    """For each component of ``irreps``, the index of the irrep copy it belongs to."""
    return np.concatenate([np.repeat(np.arange(mul) + start, ir.dim)
                           for start, (mul, ir) in zip(np.cumsum([0] + [m for m, _ in irreps]),
                                                       irreps)])


def _coupling(irreps_h, irreps_y, irreps_out):
    """The bilinear map of ``e3nn.tensor_product(h, y, filter_ir_out=irreps_out)`` as a dense
    array (d_h, d_y, d_msg) and the irreps of its output (paths not regrouped)."""
    import e3nn_jax as e3nn
    with jax.ensure_compile_time_eval():
        eye_h = e3nn.IrrepsArray(irreps_h, np.eye(irreps_h.dim)[:, None, :])
        eye_y = e3nn.IrrepsArray(irreps_y, np.eye(irreps_y.dim)[None, :, :])
        out = e3nn.tensor_product(eye_h, eye_y, filter_ir_out=irreps_out,
                                  regroup_output=False)
        return np.asarray(out.array), out.irreps


def _irreps_to(ell: int) -> str:
    """"0e + 1o + 2e + ..." up to degree ``ell`` (the parities of spherical harmonics)."""
    return " + ".join(f"{l}{'eo'[l % 2]}" for l in range(ell + 1))


class OneParticleBasis(nn.Module):
    """A_i,c = W_A sum_j R_c,path(r_ij) (h_j,c (x) Y(r̂_ij))_path / n_avg: (N, C, dim_Y)."""

    channels: int
    sh_irreps: str
    radial_hidden: Sequence[int]
    act: str

    @nn.compact
    def __call__(self, h, y, rbf, nb, inv_avg_neighbors):
        """h (N, C x irreps) node features, y (N, K, 1, dim_Y) spherical harmonics, rbf (N, K,
        R) radial basis, nb (N, K) neighbour index (N for none)."""
        import e3nn_jax as e3nn
        c, sh_irreps = self.channels, e3nn.Irreps(self.sh_irreps)
        up = e3nn.flax.Linear(h.irreps, name="up")(h)
        padded = jnp.concatenate([up.array, jnp.zeros((1, up.irreps.dim), up.dtype)])
        hj = e3nn.IrrepsArray(up.irreps, padded[nb]).mul_to_axis(c)  # (N, K, C, d_h)
        # h_j (x) Y as one matrix per edge: M = CG . Y, msg = h_j M (Y shared by channels)
        coupling, msg_irreps = _coupling(hj.irreps, sh_irreps, sh_irreps)
        per_edge = jnp.einsum("nkj,ijq->nkiq", y.array[:, :, 0], coupling.astype(y.dtype))
        msg = jnp.einsum("nkci,nkiq->nkcq", hj.array, per_edge)
        # radial MLP without biases (zero at the cutoff), activations of unit variance
        copies = msg_irreps.num_irreps
        weights = e3nn.flax.MultiLayerPerceptron(
            (*self.radial_hidden, c * copies), activation(self.act), output_activation=False,
            name="radial")(rbf)
        weights = weights.reshape(weights.shape[:2] + (c, copies))
        expand = np.eye(copies)[:, _copy_index(msg_irreps)].astype(weights.dtype)
        a = jnp.sum(msg * (weights @ expand), axis=1) * inv_avg_neighbors  # (N, C, d_msg)
        a = e3nn.IrrepsArray(msg_irreps, a).axis_to_mul()
        a = e3nn.flax.Linear(e3nn.Irreps([(c, ir) for _, ir in sh_irreps]), name="mix")(a)
        return a.mul_to_axis(c)


class ProductBasis(nn.Module):
    """B_i,c = sum_nu sum_paths w_{Z_i},c,path (A_i,c (x) ... (x) A_i,c)_path, nu = 1 ..
    correlation, kept in ``irreps_out``; then a channel-mixing linear map: (N, C x irreps)."""

    n_species: int
    irreps_out: str
    correlation: int

    @nn.compact
    def __call__(self, a, onehot):
        """a (N, C, dim_Y) one-particle basis, onehot (N, S) species."""
        import e3nn_jax as e3nn
        n, c = a.shape[:2]
        keep_out = e3nn.Irreps(self.irreps_out)
        terms, power = [a.filter(keep_out)], a
        for nu in range(2, self.correlation + 1):
            keep = a.irreps if nu < self.correlation else keep_out
            power = e3nn.tensor_product(power, a, filter_ir_out=keep)
            terms.append(power.filter(keep_out))
        b = e3nn.concatenate(terms, axis=-1).regroup()  # (N, C, d_B)
        copies = b.irreps.num_irreps
        w = self.param("weights", nn.initializers.normal(1.0), (self.n_species, c, copies),
                       a.dtype)
        wb = jnp.einsum("ns,scp->ncp", onehot, w) / np.sqrt(copies)
        starts = np.cumsum([0] + [mul for mul, _ in b.irreps])
        chunks = [None if x is None else jnp.sum(x * wb[:, :, i:i + mul, None], axis=2,
                                                 keepdims=True)
                  for x, (mul, _), i in zip(b.chunks, b.irreps, starts)]
        product = e3nn.from_chunks(e3nn.Irreps([(1, ir) for _, ir in b.irreps]), chunks,
                                   (n, c), a.dtype).axis_to_mul()
        return e3nn.flax.Linear(e3nn.Irreps([(c, ir) for _, ir in keep_out]),
                                name="mix")(product)


class MACE(nn.Module):
    """Per-atom network outputs (N,) of one structure; see the module docstring."""

    n_species: int
    cutoff: float
    channels: int = 16
    max_ell: int = 2
    hidden_ell: int = 1
    correlation: int = 3
    layers: int = 2
    n_rbf: int = 8
    radial_hidden: Sequence[int] = (64, 64)
    act: str = "silu"
    cutoff_kind: str = "polynomial"

    @nn.compact
    def __call__(self, species_index, vectors, mask, idx, inv_avg_neighbors):
        """species_index (N,), pair vectors (N, K, 3) Å, mask (N, K), neighbour index (N, K),
        1 / mean neighbour count (scalar)."""
        import e3nn_jax as e3nn
        c, n = self.channels, species_index.shape[0]
        r = safe_norm(vectors, mask)
        within = mask & (r < self.cutoff)
        fc = jnp.where(within, envelope(r, self.cutoff, self.cutoff_kind), 0.0)
        # Bessel functions of r / r_c (values of order 1, as e3nn.bessel) times the cutoff
        rbf = bessel_basis(r, self.cutoff, self.n_rbf) * fc[..., None] * self.cutoff ** 1.5
        safe = jnp.where(within[..., None], vectors, jnp.array([0.0, 0.0, 1.0], vectors.dtype))
        sh_irreps = _irreps_to(self.max_ell)
        y = e3nn.spherical_harmonics(sh_irreps, safe[:, :, None, :], normalize=True,
                                     normalization="component")  # (N, K, 1, dim_Y)
        onehot = jax.nn.one_hot(species_index, self.n_species, dtype=vectors.dtype)
        h = e3nn.IrrepsArray(f"{c}x0e", nn.Dense(c, use_bias=False, name="embed")(onehot))
        nb = jnp.where(within, idx, n)
        total = jnp.zeros((n,), vectors.dtype)
        for layer in range(self.layers):
            last = layer == self.layers - 1
            hidden = "0e" if last else _irreps_to(self.hidden_ell)
            a = OneParticleBasis(c, sh_irreps, tuple(self.radial_hidden), self.act,
                                 name=f"A_{layer}")(h, y, rbf, nb, inv_avg_neighbors)
            message = ProductBasis(self.n_species, hidden, self.correlation,
                                   name=f"B_{layer}")(a, onehot)
            skip = e3nn.flax.Linear(message.irreps, force_irreps_out=True,
                                    name=f"skip_{layer}")(h)
            h = message + skip
            # readouts start at zero: the untrained model is e0, so the energy term does not
            # swamp the force term while the network is still flat
            scalars = h.filter("0e").array
            if last:
                scalars = activation(self.act)(nn.Dense(16, name="readout_hidden")(scalars))
            total = total + nn.Dense(1, use_bias=False, kernel_init=nn.initializers.zeros,
                                     name=f"readout_{layer}")(scalars)[:, 0]
        return total


def mace(species, cutoff: float = 5.0, *, channels: int = 16, max_ell: int = 2,
         hidden_ell: int = 1, correlation: int = 3, layers: int = 2, n_rbf: int = 8,
         radial_hidden: Sequence[int] = (64, 64), activation: str = "silu",
         cutoff_kind: str = "polynomial", seed: int = 0, dtype=None,
         params=None) -> EnergyModel:
    """A MACE-like potential with freshly initialised weights (see the module docstring).

    Args:
        species: element symbols or Z. cutoff: Å. channels: C. max_ell: degree of the
            spherical harmonics and of A. hidden_ell: degree of the node features passed on.
        correlation: body order of the product basis minus one. layers: interactions.
        n_rbf: Bessel functions. radial_hidden: widths of the radial MLP.
        activation: see :mod:`jaxpot.nn.layers`. cutoff_kind: "polynomial" or "cosine".
        seed: initialisation seed. dtype: parameter dtype (default JAX's float).
        params: full params to use instead.
    """
    from jaxpot.model import species_numbers
    zs = tuple(sorted({int(z) for z in species_numbers(species)}))
    dtype = jnp.dtype(dtype or jnp.result_type(float))
    config = {"species": list(zs), "cutoff": float(cutoff), "channels": int(channels),
              "max_ell": int(max_ell), "hidden_ell": int(hidden_ell),
              "correlation": int(correlation), "layers": int(layers), "n_rbf": int(n_rbf),
              "radial_hidden": [int(x) for x in radial_hidden], "activation": activation,
              "cutoff_kind": cutoff_kind, "dtype": dtype.name}
    return mace_from_config(config, seed=seed, params=params)


def mace_from_config(config: dict, seed: int = 0, params=None) -> EnergyModel:
    """Rebuild a MACE model from its spec config (fresh weights unless ``params``)."""
    zs = tuple(config["species"])
    dtype = jnp.dtype(config.get("dtype", "float32"))
    cutoff = float(config["cutoff"])
    if config["max_ell"] < config["hidden_ell"] or config["correlation"] < 1:
        raise ValueError("mace needs max_ell >= hidden_ell and correlation >= 1")
    module = MACE(len(zs), cutoff, config["channels"], config["max_ell"], config["hidden_ell"],
                  config["correlation"], config["layers"], config["n_rbf"],
                  tuple(config["radial_hidden"]), config["activation"], config["cutoff_kind"])
    if params is None:
        net = jax.jit(module.init)(jax.random.PRNGKey(seed), jnp.zeros(2, int),
                                   jnp.ones((2, 1, 3), dtype), jnp.ones((2, 1), bool),
                                   jnp.array([[1], [0]]), jnp.ones((), dtype))
        net = jax.tree_util.tree_map(lambda x: x.astype(dtype), net)
        params = {"net": net, "norm": {"e0": jnp.zeros((len(zs),), dtype),
                                       "energy_scale": jnp.ones((), dtype),
                                       "avg_neighbors": jnp.asarray(10.0, dtype)}}

    def apply(params, k, vectors, mask, idx):
        return module.apply(params["net"], k, vectors, mask, idx,
                            1.0 / params["norm"]["avg_neighbors"])

    return vector_network_model(apply, params, zs, cutoff, make_spec("mace", _MODULE, **config),
                                "MACE")


register_model_kind("mace", loadable(mace_from_config))
