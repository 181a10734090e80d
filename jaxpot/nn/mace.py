"""MACE-like equivariant message passing with higher body order (Batatia et al., NeurIPS 2022).

Built on e3nn-jax irreps.  Node features h_i hold C channels of irreps (``0e`` in the first
layer, ``0e + 1o`` after).  With Y(r̂_ij) the spherical harmonics up to ``max_ell`` and
R(r_ij) a radial MLP of a Bessel basis times a smooth cutoff, each layer computes

    A_i,c   = W_A [ sum_j R_c,p(r_ij) (h_j,c ⊗ Y(r̂_ij))_p ] / n_avg     (one-particle basis)
    B_i,c   = sum_nu sum_paths w_{Z_i},c,path (A_i,c ⊗ ... ⊗ A_i,c)_path (nu <= correlation)
    h_i     <- W_B B_i + W_s h_i,            eps_i += readout(h_i)

so one layer already sees (correlation + 1)-body angular correlations (ACE's product basis,
contracted channel-wise with species-dependent weights, as MACE's symmetric contraction).
Readouts: linear on the scalars after each layer but the last, a small MLP after it (last
weights zero at start); eps_i = scale * sum_layers readout + e0_{Z_i} (eV), with ``scale``,
``e0`` and the mean neighbour count ``n_avg`` fitted on the training set (``params["norm"]``).

For CPU training, the radial MLP is tabulated on ``radial_grid`` intervals of r (values and
slopes) and interpolated per pair, and the product basis is one contraction of A's symmetric
monomials with the weighted path tensors (= e3nn's path-wise products, tests/test_mace.py).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.compiler import RUN_ONCE
from jaxpot.cutoffs import safe_norm
from jaxpot.descriptors._common import species_numbers
from jaxpot.model import EnergyModel, make_spec, register_model_kind
from jaxpot.nn.layers import (
    ACTIVATIONS,
    activation,
    bessel_basis,
    cubic_hermite,
    envelope,
    init_variables,
    loadable,
    vector_network_model,
)
from jaxpot.training.values import check_arguments, choice, integer_rule, number_rule, widths

_MODULE = "jaxpot.nn.mace"


def _copy_index(irreps) -> np.ndarray:
    """For each component of ``irreps``, the index of the irrep copy it belongs to."""
    return np.concatenate([np.repeat(np.arange(mul) + start, ir.dim)
                           for start, (mul, ir) in zip(np.cumsum([0] + [m for m, _ in irreps]),
                                                       irreps)])


@functools.cache
def _coupling(irreps_h, irreps_y, irreps_out):
    """The bilinear map of ``e3nn.tensor_product(h, y, filter_ir_out=irreps_out)`` as a dense
    array (d_h, d_y, d_msg) and the irreps of its output (paths not regrouped); memoised, as
    every trace of the model asks again (read-only array)."""
    import e3nn_jax as e3nn

    def product():
        eye_h = e3nn.IrrepsArray(irreps_h, np.eye(irreps_h.dim)[:, None, :])
        eye_y = e3nn.IrrepsArray(irreps_y, np.eye(irreps_y.dim)[None, :, :])
        return e3nn.tensor_product(eye_h, eye_y, filter_ir_out=irreps_out,
                                   regroup_output=False)
    out = _constant(product)
    coupling = np.array(out.array)
    coupling.setflags(write=False)
    return coupling, out.irreps


def _constant(fn):
    """``fn()`` (arrays made of constants only) evaluated now in float64, also inside a trace,
    as one compiled program (without optimisation: it runs once): op by op
    (``jax.ensure_compile_time_eval``), e3nn's products compiled a program per operation
    (MACE's construction took 19 s, 143 compilations)."""
    with jax.enable_x64(True):
        return jax.jit(fn, compiler_options=dict(RUN_ONCE)).lower().compile()()


def _irreps_to(ell: int) -> str:
    """"0e + 1o + 2e + ..." up to degree ``ell`` (the parities of spherical harmonics)."""
    return " + ".join(f"{l}{'eo'[l % 2]}" for l in range(ell + 1))


def _radial_basis(r, fc, cutoff: float, n_rbf: int):
    """The radial MLP's input: Bessel functions of r / r_c (values of order 1, as
    e3nn.bessel) times the cutoff function fc: (..., n_rbf)."""
    return bessel_basis(r, cutoff, n_rbf) * fc[..., None] * cutoff ** 1.5


class OneParticleBasis(nn.Module):
    """A_i,c = W_A sum_j R_c,path(r_ij) (h_j,c (x) Y(r̂_ij))_path / n_avg: (N, C, dim_Y).

    R is a radial MLP of a Bessel basis; with ``radial_grid`` > 0 the MLP runs on that many
    intervals of [0, r_c] (values and r-derivatives) and R(r_ij) is their cubic Hermite
    interpolant, so each training step evaluates the MLP on a grid, not on every edge."""

    channels: int
    sh_irreps: str
    radial_hidden: Sequence[int]
    act: str
    cutoff: float
    n_rbf: int
    cutoff_kind: str
    radial_grid: int = 0

    def radial(self, mlp, r, within):
        """R(r) (N, K, outputs) of the MLP ``mlp``, zero off ``within``."""
        if not self.radial_grid:
            fc = jnp.where(within, envelope(r, self.cutoff, self.cutoff_kind), 0.0)
            return mlp(_radial_basis(r, fc, self.cutoff, self.n_rbf))
        grid = jnp.linspace(0.0, self.cutoff, self.radial_grid + 1, dtype=r.dtype)
        basis, slope = jax.jvp(lambda x: _radial_basis(
            x, envelope(x, self.cutoff, self.cutoff_kind), self.cutoff, self.n_rbf),
            (grid,), (jnp.ones_like(grid),))
        values, slopes = nn.jvp(lambda m, x: m(x), mlp, (basis,), (slope,),
                                variable_tangents={})
        table = cubic_hermite(r, values, slopes, self.cutoff / self.radial_grid)
        return jnp.where(within[..., None], table, 0.0)

    @nn.compact
    def __call__(self, h, y, r, within, nb, inv_avg_neighbors):
        """h (N, C x irreps) node features, y (N, K, 1, dim_Y) spherical harmonics, r (N, K)
        pair distances Å, within (N, K) pairs inside the cutoff, nb (N, K) neighbour index
        (N for none)."""
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
        mlp = e3nn.flax.MultiLayerPerceptron(
            (*self.radial_hidden, c * copies), activation(self.act), output_activation=False,
            name="radial")
        weights = self.radial(mlp, r, within)
        weights = weights.reshape(weights.shape[:2] + (c, copies))
        expand = np.eye(copies)[:, _copy_index(msg_irreps)].astype(weights.dtype)
        a = jnp.sum(msg * (weights @ expand), axis=1) * inv_avg_neighbors  # (N, C, d_msg)
        a = e3nn.IrrepsArray(msg_irreps, a).axis_to_mul()
        a = e3nn.flax.Linear(e3nn.Irreps([(c, ir) for _, ir in sh_irreps]), name="mix")(a)
        return a.mul_to_axis(c)


def _symmetric_monomials(dim: int, degree: int) -> np.ndarray:
    """The multisets i1 <= ... <= i_nu of {0..dim-1}, nu = degree: (count, degree)."""
    return np.array(list(itertools.combinations_with_replacement(range(dim), degree)))


@functools.cache
def _product_tensors(irreps_a: str, irreps_out: str, correlation: int):
    """The product basis as dense tensors on symmetric monomials of A.

    e3nn's path-wise products (A (x) A)_paths, ((A (x) A) (x) A)_paths, ... filtered to
    ``irreps_out`` and regrouped, then one weight per path copy: B[o] = sum_p w_p sum_m
    U[m, o, p] A^m with A^m = A_i1 ... A_inu over the monomials m.  Returns the monomials of
    each degree, U (n_monomials, d_out, P) and the irreps of B (one copy of each irrep);
    memoised, as every trace of the model asks again (read-only arrays)."""
    import e3nn_jax as e3nn
    irreps_a, keep_out = e3nn.Irreps(irreps_a), e3nn.Irreps(irreps_out)
    dim = irreps_a.dim

    def basis(nu, axis):  # e_i on axis ``axis`` of nu broadcast axes
        shape = [1] * nu + [dim]
        shape[axis] = dim
        return e3nn.IrrepsArray(irreps_a, np.eye(dim).reshape(shape))

    def products():
        terms, power = [], basis(1, 0)
        for nu in range(1, correlation + 1):
            if nu > 1:
                keep = irreps_a if nu < correlation else keep_out
                lifted = e3nn.IrrepsArray(power.irreps, power.array[..., None, :])
                power = e3nn.tensor_product(lifted, basis(nu, nu - 1), filter_ir_out=keep)
            terms.append(power.filter(keep_out))
        return terms
    terms = _constant(products)
    joined = e3nn.Irreps(sum((t.irreps for t in terms), e3nn.Irreps("")))
    order = np.concatenate([np.arange(a, b) for a, b in
                            (joined.slices()[i].indices(joined.dim)[:2]
                             for i in joined.sort().inv)])
    grouped = joined.sort().irreps.simplify()
    out_irreps = e3nn.Irreps([(1, ir) for _, ir in grouped])
    fold = np.zeros((grouped.dim, out_irreps.dim, grouped.num_irreps))  # b -> (o, p)
    col = o = p = 0
    for mul, ir in grouped:
        for copy in range(mul):
            for m in range(ir.dim):
                fold[col + copy * ir.dim + m, o + m, p + copy] = 1.0
        col, o, p = col + mul * ir.dim, o + ir.dim, p + mul
    blocks, monomials, start = [], [], 0
    for nu, term in enumerate(terms, 1):
        full = np.zeros((dim,) * nu + (joined.dim,))
        full[..., start:start + term.irreps.dim] = np.asarray(term.array).reshape(
            (dim,) * nu + (-1,))
        start += term.irreps.dim
        u = np.tensordot(full[..., order], fold, axes=1)  # (dim^nu, d_out, P)
        multisets = _symmetric_monomials(dim, nu)
        blocks.append(np.stack([sum(u[perm] for perm in set(itertools.permutations(m)))
                                for m in multisets]))
        monomials.append(multisets)
    u = np.concatenate(blocks)
    for array in (*monomials, u):
        array.setflags(write=False)
    return tuple(monomials), u, out_irreps


def _monomials(a, monomials):
    """A^m over the symmetric monomials of each degree: a (..., dim) -> (..., n_monomials).
    Degree nu multiplies a degree nu - 1 monomial by one more factor; the factors are picked
    by one-hot matmuls (gathers and their scatter transposes are slow on XLA:CPU)."""
    def pick(x, index):
        return x @ np.eye(x.shape[-1], dtype=x.dtype)[:, index]
    out, prev = [a], a
    for lower, upper in zip(monomials, monomials[1:]):
        prefix = {tuple(m): i for i, m in enumerate(lower)}
        prev = pick(prev, [prefix[tuple(m[:-1])] for m in upper]) * pick(a, upper[:, -1])
        out.append(prev)
    return jnp.concatenate(out, axis=-1)


class ProductBasis(nn.Module):
    """B_i,c = sum_nu sum_paths w_{Z_i},c,path (A_i,c (x) ... (x) A_i,c)_path, nu = 1 ..
    correlation, kept in ``irreps_out``; then a channel-mixing linear map: (N, C x irreps).

    The paths are e3nn's ``tensor_product``s; they are evaluated as one contraction of the
    symmetric monomials of A with the weighted path tensors (:func:`_product_tensors`)."""

    n_species: int
    irreps_out: str
    correlation: int

    @nn.compact
    def __call__(self, a, onehot):
        """a (N, C, dim_Y) one-particle basis, onehot (N, S) species."""
        import e3nn_jax as e3nn
        c = a.shape[1]
        keep_out = e3nn.Irreps(self.irreps_out)
        monomials, u, out_irreps = _product_tensors(str(a.irreps), self.irreps_out,
                                                    self.correlation)
        copies = u.shape[-1]
        w = self.param("weights", nn.initializers.normal(1.0), (self.n_species, c, copies),
                       a.dtype)
        coef = jnp.einsum("mop,scp->scmo", u.astype(a.dtype), w) / np.sqrt(copies)
        features = _monomials(a.array, monomials)  # (N, C, n_monomials)
        per_species = [jnp.einsum("ncm,cmo->nco", features, coef[s])
                       for s in range(self.n_species)]
        out = (per_species[0] if self.n_species == 1 else
               jnp.einsum("ns,snco->nco", onehot, jnp.stack(per_species)))
        product = e3nn.IrrepsArray(out_irreps, out).axis_to_mul()
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
    radial_grid: int = 0

    @nn.compact
    def __call__(self, species_index, vectors, mask, idx, inv_avg_neighbors):
        """species_index (N,), pair vectors (N, K, 3) Å, mask (N, K), neighbour index (N, K),
        1 / mean neighbour count (scalar)."""
        import e3nn_jax as e3nn
        c, n = self.channels, species_index.shape[0]
        r = safe_norm(vectors, mask)
        within = mask & (r < self.cutoff)
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
                                 self.cutoff, self.n_rbf, self.cutoff_kind, self.radial_grid,
                                 name=f"A_{layer}")(h, y, r, within, nb, inv_avg_neighbors)
            message = ProductBasis(self.n_species, hidden, self.correlation,
                                   name=f"B_{layer}")(a, onehot)
            skip = e3nn.flax.Linear(message.irreps, force_irreps_out=True,
                                    name=f"skip_{layer}")(h)
            h = message + skip
            # readouts start at zero (the untrained model is e0): no energy swamp early
            scalars = h.filter("0e").array
            if last:
                scalars = activation(self.act)(nn.Dense(16, name="readout_hidden")(scalars))
            total = total + nn.Dense(1, use_bias=False, kernel_init=nn.initializers.zeros,
                                     name=f"readout_{layer}")(scalars)[:, 0]
        return total


def mace(species, cutoff: float = 5.0, *, channels: int = 16, max_ell: int = 2,
         hidden_ell: int = 1, correlation: int = 3, layers: int = 2, n_rbf: int = 8,
         radial_hidden: Sequence[int] = (64, 64), activation: str = "silu",
         cutoff_kind: str = "polynomial", radial_grid: int = 128, seed: int = 0, dtype=None,
         params=None) -> EnergyModel:
    """A MACE-like potential with freshly initialised weights (see the module docstring).

    Args:
        species: element symbols or Z. cutoff: Å. channels: C. max_ell: degree of the
            spherical harmonics and of A. hidden_ell: degree of the node features passed on.
        correlation: body order of the product basis minus one. layers: interactions.
        n_rbf: Bessel functions. radial_hidden: widths of the radial MLP.
        activation: see :mod:`jaxpot.nn.layers`. cutoff_kind: "polynomial" or "cosine".
        radial_grid: intervals of [0, cutoff] on which the radial MLP is tabulated and
            interpolated (0: the MLP on every pair).
        seed: initialisation seed. dtype: parameter dtype (default JAX's float).
        params: full params to use instead.
    """
    zs = tuple(sorted(set(species_numbers(species, "mace species"))))
    dtype = jnp.dtype(dtype or jnp.result_type(float))
    config = {"species": list(zs), "cutoff": cutoff, "channels": channels,
              "max_ell": max_ell, "hidden_ell": hidden_ell, "correlation": correlation,
              "layers": layers, "n_rbf": n_rbf, "radial_hidden": radial_hidden,
              "activation": activation, "cutoff_kind": cutoff_kind,
              "radial_grid": radial_grid, "dtype": dtype.name}
    return mace_from_config(config, seed=seed, params=params)


#: the check of each size and setting of a MACE (value, name) -> value; a size of 0 (no
#: channel, layer, radial function or hidden unit) builds a model that cannot fit
MACE_RULES = {
    "cutoff": number_rule(low=0.0, low_open=True),
    "channels": integer_rule(1), "max_ell": integer_rule(0), "hidden_ell": integer_rule(0),
    "correlation": integer_rule(1), "layers": integer_rule(1), "n_rbf": integer_rule(1),
    "radial_hidden": lambda v, name: list(widths(v, name)),
    "activation": lambda v, name: choice(v, name, sorted(ACTIVATIONS)),
    "cutoff_kind": lambda v, name: choice(v, name, ("cosine", "polynomial")),
    "radial_grid": integer_rule(0),
}


def mace_from_config(config: dict, seed: int = 0, params=None) -> EnergyModel:
    """Rebuild a MACE model from its spec config (fresh weights unless ``params``);
    ValueError naming the argument for a size or setting :data:`MACE_RULES` refuses."""
    config = check_arguments(config, MACE_RULES, "mace ")
    zs = tuple(config["species"])
    dtype = jnp.dtype(config.get("dtype", "float32"))
    cutoff = float(config["cutoff"])
    if config["max_ell"] < config["hidden_ell"]:
        raise ValueError(f"mace needs max_ell >= hidden_ell, got max_ell = "
                         f"{config['max_ell']}, hidden_ell = {config['hidden_ell']}")
    module = MACE(len(zs), cutoff, config["channels"], config["max_ell"], config["hidden_ell"],
                  config["correlation"], config["layers"], config["n_rbf"],
                  tuple(config["radial_hidden"]), config["activation"], config["cutoff_kind"],
                  config.get("radial_grid", 0))  # files before radial_grid: the MLP per pair
    if params is None:
        net = init_variables(module, seed, jnp.zeros(2, int), jnp.ones((2, 1, 3), dtype),
                             jnp.ones((2, 1), bool), jnp.array([[1], [0]]), jnp.ones((), dtype))
        net = jax.tree_util.tree_map(lambda x: x.astype(dtype), net)
        params = {"net": net, "norm": {"e0": jnp.zeros((len(zs),), dtype),
                                       "energy_scale": jnp.ones((), dtype),
                                       "avg_neighbors": jnp.asarray(10.0, dtype)}}

    def apply(params, k, vectors, mask, idx):
        return module.apply(params["net"], k, vectors, mask, idx,
                            1.0 / params["norm"]["avg_neighbors"])

    return vector_network_model(apply, params, zs, cutoff, make_spec("mace", _MODULE, **config),
                                "MACE")


def example() -> EnergyModel:
    """Small model for the contract test: a silicon MACE (cutoff 3.5 Å, 4 channels, two
    layers, correlation 2) with seeded random readouts (a fresh one's are zero: its energy
    would be e0)."""
    model = mace(["Si"], 3.5, channels=4, correlation=2, radial_hidden=(8,), n_rbf=6, seed=3)
    rng = np.random.default_rng(7)
    net = jax.tree_util.tree_map_with_path(
        lambda path, x: jnp.asarray(rng.normal(size=x.shape), x.dtype)
        if "readout" in jax.tree_util.keystr(path) else x, model.params["net"])
    return model.replace(params={**model.params, "net": net})


register_model_kind("mace", loadable(mace_from_config), example=example)
