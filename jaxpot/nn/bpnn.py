"""Behler–Parrinello high-dimensional neural-network potential (HDNNP) on ANI AEVs or ACSFs.

    E = sum_i [ s * NN^{Z_i}((G_i - mu_{Z_i}) / sigma_{Z_i}) + e0_{Z_i} ]

with G_i the symmetry-function vector of atom i (:mod:`jaxpot.descriptors.ani` or
:mod:`~jaxpot.descriptors.acsf`), one MLP per element, feature standardisation (mu, sigma) per
element fitted on the training set, per-element reference energies e0 (eV, least squares on the
training energies) and an energy scale s (eV).  The standardisation, e0 and s are stored in the
params under ``"norm"`` (not trained); the networks under ``"net"``.  Behler & Parrinello, PRL
98, 146401 (2007); ANI features: Smith et al., Chem. Sci. 8, 3192 (2017).
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from jaxpot.descriptors._common import check_features_input, species_numbers
from jaxpot.descriptors.acsf import ACSF, acsf, acsf_features
from jaxpot.descriptors.ani import (
    ANI,
    angular_slots,
    angular_within,
    ani_aev,
    ani_features,
    ani_features_from_vectors,
    picked_features,
)
from jaxpot.model import (
    EnergyModel,
    make_spec,
    register_model_kind,
    species_indices,
    species_lookup,
)
from jaxpot.neighbors import neighbor_vectors
from jaxpot.nn.layers import ACTIVATIONS, MLP, init_variables, loadable
from jaxpot.row_slots import branch_of_counts, switched_energy
from jaxpot.training.values import choice, is_number, number, widths

_MODULE = "jaxpot.nn.bpnn"


#: the default angular cutoff over the radial one (4 Å at 5 Å).  The angular terms weigh each
#: neighbour by fc(r) = (1 + cos(pi r / r_ca)) / 2, 0.004 at 0.96 r_ca, so at 4 Å the second
#: shells of diamond Si (3.84 Å) and bcc Li (3.44 Å, fc 0.05) barely enter them.  A longer
#: angular cutoff (``bpnn(angular_cutoff=)``) lowered the validation loss on mlearn Li (0.9 x:
#: -22 %, 0.99 x: -41 %) and Si (-13 %) and left Ge's unchanged; on 108-atom fcc cells its
#: network extrapolated far worse to a validation atom closer than any training pair (force
#: off by 10.5 eV/Å against the default's 0.87) and early stopping kept models with 5x and
#: 17x the default's validation loss, so the default stays (benchmarks/RESULTS.md and HISTORY.md).
ANGULAR_CUTOFF_FRACTION = 0.8


def scaled_ani_settings(species, cutoff: float, angular_cutoff: float | None = None) -> dict:
    """ANI-1x-like AEV settings stretched to a radial cutoff ``cutoff`` (Å).

    16 radial shifts on [0.9, cutoff) and 4 angular shifts x 8 sections up to ``angular_cutoff``
    (Å, below ``cutoff``; default :data:`ANGULAR_CUTOFF_FRACTION` x cutoff);
    the Gaussian widths keep ANI-1x's width-to-spacing ratios (eta_R = 16 Å^-2 at 4.3/16 Å
    spacing, eta_A = 8 Å^-2 at 2.6/4 Å)."""
    if angular_cutoff is not None and not is_number(angular_cutoff):
        raise ValueError(f"angular_cutoff must be a number (Å), got {angular_cutoff!r}")
    r_a = ANGULAR_CUTOFF_FRACTION * cutoff if angular_cutoff is None else float(angular_cutoff)
    if not 0.9 < r_a < cutoff:  # (NaN fails too)
        raise ValueError(f"angular_cutoff must lie between the first shift, 0.9 Å, and the "
                         f"radial cutoff {cutoff} Å; got {r_a} Å")
    step_r, step_a = (cutoff - 0.9) / 16, (r_a - 0.9) / 4
    return {"type": "ani", "species": [int(z) for z in species], "r_cut_radial": cutoff,
            "r_cut_angular": r_a, "eta_radial": 16.0 * (4.3 / 16 / step_r) ** 2,
            "shifts_radial": [0.9 + step_r * j for j in range(16)],
            "eta_angular": 8.0 * (2.6 / 4 / step_a) ** 2, "zeta": 32.0,
            "shifts_angular": [0.9 + step_a * j for j in range(4)],
            "sections": [float(np.pi / 16 + np.pi / 8 * j) for j in range(8)]}


def make_descriptor(settings: dict) -> ANI | ACSF:
    """ANI or ACSF descriptor from its JSON settings (``type`` = "ani" or "acsf")."""
    kw = {k: v for k, v in settings.items() if k != "type"}
    if settings.get("type") == "ani":
        return ani_aev(**kw)
    if settings.get("type") == "acsf":
        return acsf(**kw)
    raise ValueError(f"unknown descriptor type {settings.get('type')!r}; use 'ani' or 'acsf'")


def descriptor_settings(desc: ANI | ACSF) -> dict:
    """JSON settings of a descriptor (inverse of :func:`make_descriptor`)."""
    if isinstance(desc, ANI):
        return {"type": "ani", **{k: list(v) if isinstance(v, tuple) else v
                                  for k, v in desc._asdict().items()}}
    return {"type": "acsf", "species": list(desc.species), "r_cut": desc.r_cut,
            "g2_params": [list(r) for r in desc.g2], "g3_params": [list(r) for r in desc.g3],
            "g4_params": [list(r) for r in desc.g4], "g5_params": [list(r) for r in desc.g5]}


def descriptor_cutoff(desc: ANI | ACSF) -> float:
    return desc.neighbor_cutoff if isinstance(desc, ANI) else desc.r_cut


def features(desc: ANI | ACSF, positions, cell, species, neighbors):
    """(N, F) features of the descriptor."""
    fn = ani_features if isinstance(desc, ANI) else acsf_features
    return fn(desc, positions, cell, species, neighbors)


class ElementNetworks(nn.Module):
    """One MLP per element; returns every network's output for every atom, (N, S)."""

    n_species: int
    hidden: tuple[int, ...]
    act: str
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        outs = [MLP(self.hidden, 1, self.act, param_dtype=self.param_dtype,
                    name=f"element_{s}")(x)[..., 0] for s in range(self.n_species)]
        return jnp.stack(outs, axis=-1)


def bpnn(species, cutoff: float = 5.0, *, angular_cutoff: float | None = None,
         descriptor: dict | None = None, hidden=(64, 64), activation: str = "silu",
         seed: int = 0, dtype=None, params=None) -> EnergyModel:
    """A Behler–Parrinello network potential with freshly initialised weights.

    Args:
        species: element symbols or Z the model knows.
        cutoff: radial cutoff (Å); the default descriptor is :func:`scaled_ani_settings`.
        angular_cutoff: the default descriptor's angular cutoff (Å, below ``cutoff``; default
            :data:`ANGULAR_CUTOFF_FRACTION` x cutoff).  A longer one fitted mlearn Li and Si
            better (see that constant) at up to 3x the MD cost (the angular sum grows as the
            square of its neighbours); check it on your own validation split.
        descriptor: JSON settings of an ANI (``{"type": "ani", ...}``, :func:`ani_aev`'s
            arguments) or ACSF (``{"type": "acsf", ...}``, :func:`acsf`'s) descriptor.
        hidden: hidden layer widths (>= 1) of each element's network. activation: see
            :data:`jaxpot.nn.layers.ACTIVATIONS` (``"celu"`` is torchani's CELU(0.1)).
        seed: initialisation seed. dtype: parameter dtype (default: JAX's float).
        params: a full params pytree to use instead of the initialisation.
    """
    zs = tuple(sorted(set(species_numbers(species, "bpnn species"))))
    cutoff = number(cutoff, "bpnn cutoff (Å)", low=0.0, low_open=True)
    hidden = widths(hidden, "bpnn hidden")
    choice(activation, "bpnn activation", sorted(ACTIVATIONS))
    if descriptor is not None and angular_cutoff is not None:
        raise ValueError("give either descriptor or angular_cutoff (the default descriptor's)")
    settings = (dict(descriptor) if descriptor is not None
                else scaled_ani_settings(zs, cutoff, angular_cutoff))
    settings.setdefault("species", list(zs))
    desc = make_descriptor(settings)
    if tuple(sorted(desc.species)) != zs:
        raise ValueError(f"descriptor species {desc.species} differ from the model's {zs}")
    dtype = jnp.dtype(dtype or jnp.result_type(float))
    config = {"species": list(zs), "descriptor": descriptor_settings(desc),
              "hidden": [int(h) for h in hidden], "activation": activation,
              "dtype": dtype.name}
    return bpnn_from_config(config, seed=seed, params=params)


def bpnn_from_config(config: dict, seed: int = 0, params=None) -> EnergyModel:
    """Rebuild a BPNN from its spec config (fresh weights from ``seed`` unless ``params``)."""
    widths(config["hidden"], "bpnn hidden")
    choice(config["activation"], "bpnn activation", sorted(ACTIVATIONS))
    desc = make_descriptor(config["descriptor"])
    zs = tuple(config["species"])
    dtype = jnp.dtype(config.get("dtype", "float32"))
    net = ElementNetworks(len(zs), tuple(config["hidden"]), config["activation"], dtype)
    if params is None:
        n_f = desc.n_features
        params = {"net": init_variables(net, seed, jnp.zeros((1, n_f), dtype)),
                  "norm": {"shift": jnp.zeros((len(zs), n_f), dtype),
                           "scale": jnp.ones((len(zs), n_f), dtype),
                           "e0": jnp.zeros((len(zs),), dtype),
                           "energy_scale": jnp.ones((), dtype)}}
    local = local_energy_of_features(config)

    def atomic(params, positions, cell, species, neighbors):
        return local(params, features(desc, positions, cell, species, neighbors), species)

    def energy(params, positions, cell, species, neighbors):
        return jnp.sum(atomic(params, positions, cell, species, neighbors))

    if isinstance(desc, ANI):
        energy = picked_ani_energy(desc, local)
    cutoff = descriptor_cutoff(desc)
    # ANI's angular sum reads the list's view at its shorter cutoff (see jaxpot.descriptors.ani)
    views = ((desc.r_cut_angular, cutoff)
             if isinstance(desc, ANI) and desc.r_cut_angular < cutoff else ())
    return EnergyModel(energy_fn=energy, params=params, cutoff=cutoff, species=zs,
                       atomic_energies_fn=atomic, spec=make_spec("bpnn", _MODULE, **config),
                       name="BPNN", part_cutoffs=views)


def picked_ani_energy(desc: ANI, local):
    """``energy(params, positions, cell, species, neighbors)`` eV of networks ``local`` on ANI
    features whose angular sum runs over the first ``count`` neighbours within
    ``r_cut_angular`` of each row, the smaller of K_a / 2 and 3 K_a / 4 (K_a: the list's
    angular slots) that holds every row, else over all K_a slots (exact always;
    :func:`jaxpot.row_slots.switched_energy`).  MD's 1 Å skin leaves about twice the
    neighbours inside in the slots, and the angular sum costs count^2: 2-3x faster forces.
    A list without skin sums over its slots directly (one branch to compile)."""
    lookup = species_lookup(desc.species)

    def energy(params, positions, cell, species, neighbors):
        check_features_input(desc, species, neighbors, desc.neighbor_cutoff, "ani")
        vectors, mask = neighbor_vectors(positions, cell, neighbors)
        _, nb = species_indices(lookup, species, neighbors)
        k = angular_slots(neighbors, desc.r_cut_angular)
        k_a = k if k is not None else vectors.shape[1]
        counts = picked_counts(k_a) if getattr(neighbors, "skin", 0.0) > 0 else ()
        if not counts:  # without skin the slots hold about the neighbours inside
            return jnp.sum(local(params, ani_features_from_vectors(desc, vectors, mask, nb, k),
                                 species))

        def of_features(fn):
            def e(p, v, mask, nb, species, within):
                return jnp.sum(local(p, fn(v, mask, nb, within), species))
            return e

        energies = [of_features(lambda v, m, n, w, c=c: picked_features(desc, v, m, n, k, w, c))
                    for c in counts]
        energies.append(of_features(
            lambda v, m, n, w: ani_features_from_vectors(desc, v, m, n, k)))
        total = switched_energy(energies, lambda mask, nb, species, within:
                                branch_of_counts(jnp.sum(within, axis=1), counts))
        within = angular_within(desc, vectors, mask, k)  # a mask: no derivative
        return total(params, vectors, mask, nb, species, within)

    return energy


def picked_counts(k_a: int) -> tuple[int, ...]:
    """The angular neighbour counts :func:`picked_ani_energy` tries, given K_a slots."""
    return tuple(sorted({c for c in (k_a // 2, (3 * k_a) // 4) if 0 < c < k_a}))


def local_energy_of_features(config: dict):
    """``eps(params, g (N, F), species (N,)) -> (N,)`` eV: the networks on given features (atoms
    of unknown species, e.g. padding with Z = 0, get 0)."""
    zs = tuple(config["species"])
    dtype = jnp.dtype(config.get("dtype", "float32"))
    net = ElementNetworks(len(zs), tuple(config["hidden"]), config["activation"], dtype)
    order = species_lookup(zs, fill=-1)  # Z -> network index (species sorted by Z)

    def local(params, g, species):
        index = jnp.asarray(order)[species]
        k = jnp.maximum(index, 0)
        norm = params["norm"]
        x = (g - norm["shift"][k]) / norm["scale"][k]
        out = jnp.take_along_axis(net.apply(params["net"], x), k[:, None], axis=1)[:, 0]
        return jnp.where(index >= 0, norm["energy_scale"] * out + norm["e0"][k], 0.0)

    return local


def example() -> EnergyModel:
    """Small model for the contract test: a silicon BPNN (cutoff 3.5 Å, one hidden layer of
    8), freshly initialised from a seed."""
    return bpnn(["Si"], 3.5, hidden=(8,), seed=1)


register_model_kind("bpnn", loadable(bpnn_from_config), example=example)
