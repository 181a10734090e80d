"""Building blocks shared by the neural-network potentials: activations, MLPs, radial bases.

Flax (linen) modules; every module maps one structure's per-atom arrays and is vmapped by the
caller for batches.  Lengths in Å.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.compiler import RUN_ONCE
from jaxpot.cutoffs import cosine_cutoff, polynomial_cutoff
from jaxpot.model import EnergyModel, species_lookup
from jaxpot.neighbors import neighbor_vectors


def celu_01(x):
    """CELU with alpha = 0.1, torchani's ANI activation."""
    return jax.nn.celu(x, alpha=0.1)


def shifted_softplus(x):
    """softplus(x) - log 2 (SchNet/PaiNN's ssp): zero at zero."""
    return jax.nn.softplus(x) - jnp.log(2.0).astype(x.dtype)


ACTIVATIONS: dict[str, Callable] = {
    "silu": jax.nn.silu, "tanh": jnp.tanh, "celu": celu_01, "softplus": jax.nn.softplus,
    "shifted_softplus": shifted_softplus, "gelu": jax.nn.gelu,
}


def activation(name: str) -> Callable:
    """The activation called ``name`` (ValueError lists the known ones)."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {sorted(ACTIVATIONS)}") from None


class MLP(nn.Module):
    """Dense layers ``hidden`` with ``act`` between them, then a linear ``out`` layer."""

    hidden: Sequence[int]
    out: int
    act: str = "silu"
    out_bias: bool = True
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        f = activation(self.act)
        for width in self.hidden:
            x = f(nn.Dense(width, param_dtype=self.param_dtype)(x))
        return nn.Dense(self.out, use_bias=self.out_bias, param_dtype=self.param_dtype)(x)


@functools.lru_cache(maxsize=64)
def _jitted_init(module: nn.Module) -> Callable:
    return jax.jit(module.lazy_init)


@functools.lru_cache(maxsize=64)
def _compiled_init(module: nn.Module, signature: tuple) -> Callable:
    """``module.lazy_init`` compiled as a run-once program for inputs of ``signature``
    ((shape, dtype) per input), from the trace that :func:`_jitted_init` keeps."""
    args = [jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in signature]
    return _jitted_init(module).lower(*args).compile(compiler_options=dict(RUN_ONCE))


def init_variables(module: nn.Module, seed: int, *example):
    """``module``'s fresh variables from ``seed`` for inputs shaped like ``example``: one
    compiled program (without optimisation: it runs once), kept for equal modules (an
    ensemble's members compile it once).  Op by op, flax's initialisers compiled a program
    per operation (MACE: 143 programs, 10 s).  Inside a trace (loading's ``eval_shape``)
    the same jitted function is traced, from its cache."""
    key = jax.random.PRNGKey(seed)
    if isinstance(key, jax.core.Tracer):
        return _jitted_init(module)(key, *example)
    args = (key, *map(jnp.asarray, example))
    return _compiled_init(module, tuple((x.shape, x.dtype) for x in args))(*args)


def bessel_basis(r, r_cut: float, n: int):
    """sqrt(2/r_c) sin(k pi r / r_c) / r, k = 1..n (DimeNet/PaiNN), shape r.shape + (n,).

    Finite at r = 0 (limit k pi sqrt(2/r_c) / r_c, used for masked entries with r = 0)."""
    k = jnp.arange(1, n + 1, dtype=r.dtype) * jnp.pi / r_cut
    safe = jnp.where(r > 0, r, 1.0)[..., None]
    value = jnp.sin(k * safe) / safe
    return jnp.sqrt(2.0 / r_cut) * jnp.where(r[..., None] > 0, value, k)


def cubic_hermite(x, values, slopes, spacing: float):
    """A function tabulated at x_g = g * spacing, g = 0..G (``values``, ``slopes``: (G+1, M)),
    interpolated at x (...) by cubic Hermite polynomials: (..., M).  C1 in x; x outside
    [0, G * spacing] extrapolates the end intervals' cubics."""
    last = values.shape[0] - 2
    t = x / spacing
    cell = jnp.clip(jnp.floor(t), 0, last)
    u = (t - cell)[..., None]
    cell = cell.astype(jnp.int32)
    v = (1 + 2 * u) * (1 - u) ** 2 * values[cell] + u ** 2 * (3 - 2 * u) * values[cell + 1]
    return v + spacing * u * (1 - u) * ((1 - u) * slopes[cell] - u * slopes[cell + 1])


def envelope(r, r_cut: float, kind: str = "cosine"):
    """Smooth cutoff: ``cosine`` (Behler) or ``polynomial`` (p = 6, NequIP)."""
    if kind == "cosine":
        return cosine_cutoff(r, r_cut)
    if kind == "polynomial":
        return polynomial_cutoff(r, r_cut, 6)
    raise ValueError(f"unknown cutoff envelope {kind!r}; use 'cosine' or 'polynomial'")


def loadable(from_config: Callable) -> Callable:
    """The registry's rebuild for a network kind: ``from_config(config, params=zeros)`` with
    placeholder params of the right shapes made without running (or compiling) the
    initialisers, so loading a model compiles nothing."""
    def rebuild(config: dict):
        shapes = jax.eval_shape(lambda: from_config(config).params)
        zeros = jax.tree_util.tree_map(lambda x: jax.device_put(np.zeros(x.shape, x.dtype)),
                                       shapes)
        return from_config(config, params=zeros)
    return rebuild


def vector_network_model(apply: Callable, params, species: tuple[int, ...], cutoff: float,
                         spec: str, name: str) -> EnergyModel:
    """The EnergyModel of a network on pair vectors (PaiNN, MACE).

    ``apply(params, k, vectors, mask, idx)`` gives the network's per-atom outputs (N,) from
    species indices k (N,), pair vectors (N, K, 3) Å, mask and neighbour index (N, K); the
    local energy is ``norm["energy_scale"] * out + norm["e0"][k]`` eV, 0 for an atom whose
    species the model does not know."""
    order = species_lookup(species, fill=-1)

    def atomic(params, positions, cell, atom_species, neighbors):
        index = jnp.asarray(order)[atom_species]
        known = index >= 0
        k = jnp.maximum(index, 0)
        vectors, mask = neighbor_vectors(positions, cell, neighbors)
        out = apply(params, k, vectors, mask, neighbors.idx)
        norm = params["norm"]
        return jnp.where(known, norm["energy_scale"] * out + norm["e0"][k], 0.0)

    def energy(params, positions, cell, atom_species, neighbors):
        return jnp.sum(atomic(params, positions, cell, atom_species, neighbors))

    return EnergyModel(energy_fn=energy, params=params, cutoff=cutoff, species=species,
                       atomic_energies_fn=atomic, spec=spec, name=name)
