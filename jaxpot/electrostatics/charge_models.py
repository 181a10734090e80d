"""Charge models: per-atom charges (e) as a pure function of the structure, for Ewald/PME/Coulomb.

A :class:`ChargeModel` pairs static configuration (a JSON-able dict that rebuilds it) with
trainable ``params`` and a function ``apply(params, positions, cell, species, neighbors) ->
(N,) e``.  Two kinds:

* :func:`species_charges` -- a fixed charge per element, ``params = {"q": (S,)}`` (trainable);
  a cell is neutral only for compositions that make it so (checked by the Ewald model).
* :func:`environment_charges` -- a small per-element MLP on ACSF features (Behler's 4G-HDNNP
  and the charge networks of n2p2/PhysNet): ``q~_i = q0_{Z_i} + MLP_{Z_i}(G_i)``, then the
  excess over the requested total charge ``Q`` is spread evenly,
  ``q_i = q~_i - (sum_j q~_j - Q) / N``, so every structure has exactly the charge ``Q`` and
  the charges stay differentiable in positions (forces) and parameters (training).

Padding atoms of a batch (species 0) carry no charge.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.descriptors.acsf import ACSF, acsf, acsf_features, behler_radial_params
from jaxpot.model import species_lookup
from jaxpot.types import Array, PyTree


@dataclasses.dataclass(frozen=True)
class ChargeModel:
    """Static ``config`` (JSON-able, rebuilds the model), trainable ``params``, the charge
    function, the neighbor range it needs (``cutoff``, Å; 0 when it needs none) and the total
    charge it guarantees (None: the composition decides)."""

    config: dict
    params: PyTree
    apply: Callable[..., Array]
    cutoff: float = 0.0
    total_charge: float | None = None

    @property
    def species(self) -> tuple[int, ...]:
        return tuple(self.config["species"])

    def charges(self, positions, cell, species, neighbors=None) -> Array:
        """(N,) charges in e: ``apply`` jitted (one program per shape; run op by op, an
        environment model compiled each of its ~130 operations apart)."""
        return jax.jit(self.apply)(self.params, positions, cell, species, neighbors)


def _real_atoms(species: Array) -> Array:
    return species > 0


def species_charges(charges: dict) -> ChargeModel:
    """Fixed charge per element, ``{"Na": 1.0, "Cl": -1.0}`` (symbols or Z; charges in e)."""
    zs, values = _checked_charges(charges)
    order = np.argsort(zs)
    zs = tuple(int(zs[i]) for i in order)
    lookup = jnp.asarray(species_lookup(zs))

    def apply(params, positions, cell, species, neighbors):
        q = params["q"][lookup[species]]
        return jnp.where(_real_atoms(species), q, 0.0).astype(positions.dtype)

    config = {"kind": "species", "species": list(zs), "charges": values[order].tolist()}
    return ChargeModel(config, {"q": jnp.asarray(values[order])}, apply)


def _checked_charges(charges) -> tuple[tuple[int, ...], np.ndarray]:
    """(Z, charge in e) of a ``{element: charge}`` dict; ValueError naming the entry for an
    unknown element, an element given twice (``"Na"`` and ``11``), a charge that is not a
    finite number."""
    from jaxpot.elements import element_number  # here: potentials imports us
    if not isinstance(charges, dict) or not charges:
        raise ValueError(f"charges must be a dict {{element: charge in e}}, got {charges!r}")
    zs = tuple(element_number(key, "charges") for key in charges)
    for key, z in zip(charges, zs):
        if zs.count(z) > 1:
            raise ValueError(f"charges: the element of {key!r} is given twice "
                             f"({[k for k, y in zip(charges, zs) if y == z]})")
    values = []
    for key, value in charges.items():
        number = None
        if not isinstance(value, (bool, str)):
            try:
                number = float(value)
            except (TypeError, ValueError):
                pass
        if number is None or not np.isfinite(number):
            raise ValueError(f"charges: the charge of {key!r} must be finite (a number in e), "
                             f"got {value!r}")
        values.append(number)
    return zs, np.array(values)


def default_charge_acsf(species, r_cut: float = 4.5) -> ACSF:
    """ACSF for charge networks: 8 radial G2 (eta 0.003..0.9 Å^-2) and 4 angular G4 per
    species pair (a compact Behler set; enough for the local part of a charge)."""
    etas = np.geomspace(0.003, 0.9, 8)
    return acsf(species, r_cut, g2_params=behler_radial_params(etas),
                g4_params=[[0.005, 1.0, 1.0], [0.005, 1.0, -1.0], [0.005, 4.0, 1.0],
                           [0.005, 4.0, -1.0]])


def _init_mlp(key, sizes: tuple[int, ...], n_species: int) -> list[dict]:
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        key, sub = jax.random.split(key)
        w = jax.random.normal(sub, (n_species, a, b)) / np.sqrt(a)
        layers.append({"w": w, "b": jnp.zeros((n_species, b))})
    return layers


def _mlp(layers: list[dict], x: Array, index: Array) -> Array:
    """Per-species MLP: x (N, F), index (N,) -> (N,); tanh hidden layers, linear output."""
    h = x
    for k, layer in enumerate(layers):
        w, b = layer["w"][index], layer["b"][index]  # (N, a, b), (N, b)
        h = jnp.einsum("na,nab->nb", h, w) + b
        if k < len(layers) - 1:
            h = jnp.tanh(h)
    return h[:, 0]


def environment_charges(species, r_cut: float = 4.5, hidden: tuple[int, ...] = (16, 16),
                        total_charge: float = 0.0, seed: int = 0,
                        descriptor: ACSF | None = None, _params=None) -> ChargeModel:
    """Environment-dependent charges: per-element MLP on ACSF features with the total charge
    fixed to ``total_charge`` (e) by an even correction (see the module docstring).

    ``params = {"net": [layers...], "q0": (S,), "mean": (F,), "std": (F,)}``; ``mean``/``std``
    standardise the features (set them from data with :func:`jaxpot.charges.fit_charges`).
    """
    from jaxpot.elements import element_numbers
    zs = tuple(sorted(element_numbers(species, "species")))
    desc = descriptor or default_charge_acsf(zs, r_cut)
    if tuple(desc.species) != zs:
        raise ValueError(f"descriptor species {desc.species} differ from the model's {zs}")
    hidden = tuple(int(h) for h in hidden)
    if any(h <= 0 for h in hidden):
        raise ValueError(f"hidden layer sizes must be positive, got {hidden}")
    if not np.isfinite(total_charge):
        raise ValueError(f"total_charge must be finite, got {total_charge!r}")
    lookup = jnp.asarray(species_lookup(zs))
    n_features = desc.n_features
    if _params is None:
        net = _init_mlp(jax.random.PRNGKey(seed), (n_features, *hidden, 1), len(zs))
        _params = {"net": net, "q0": jnp.zeros(len(zs)), "mean": jnp.zeros(n_features),
                   "std": jnp.ones(n_features)}
    q_total = float(total_charge)

    def apply(params, positions, cell, species, neighbors):
        real = _real_atoms(species)
        index = lookup[species]
        x = (acsf_features(desc, positions, cell, species, neighbors.within(desc.r_cut))
             - params["mean"]) / params["std"]
        raw = jnp.where(real, params["q0"][index] + _mlp(params["net"], x, index), 0.0)
        count = jnp.maximum(jnp.sum(real), 1)
        return jnp.where(real, raw - (jnp.sum(raw) - q_total) / count, 0.0)

    config = {"kind": "environment", "species": list(zs), "hidden": list(hidden),
              "total_charge": q_total, "seed": int(seed), "descriptor": desc._asdict()}
    return ChargeModel(config, _params, apply, cutoff=desc.r_cut, total_charge=q_total)


def charge_model_from_config(config: dict, params=None) -> ChargeModel:
    """Rebuild a :class:`ChargeModel` from its ``config`` (placeholder or given params)."""
    if config["kind"] == "species":
        return species_charges(dict(zip(config["species"], config["charges"])))
    if config["kind"] == "environment":
        d = config["descriptor"]
        desc = ACSF(tuple(d["species"]), float(d["r_cut"]),
                    *(tuple(tuple(float(x) for x in row) for row in d[k])
                      for k in ("g2", "g3", "g4", "g5")))
        model = environment_charges(config["species"], hidden=tuple(config["hidden"]),
                                    total_charge=config["total_charge"], seed=config["seed"],
                                    descriptor=desc)
        return model if params is None else dataclasses.replace(model, params=params)
    raise ValueError(f"unknown charge model kind {config['kind']!r}")


def as_charge_model(charges) -> ChargeModel:
    """A ChargeModel from a ChargeModel or a ``{element: charge}`` dict."""
    if isinstance(charges, ChargeModel):
        return charges
    return species_charges(charges)


def config_json(model: ChargeModel) -> str:
    return json.dumps(model.config, sort_keys=True)
