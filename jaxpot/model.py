"""`EnergyModel`: an energy function bound to its parameters, composable by ``+`` and ``*``.

A model is a frozen pytree whose only leaves are its ``params``; everything else (the pure
energy function, cutoff, known species, a JSON spec used by :func:`jaxpot.save`) is static.
So ``jax.grad`` of a loss w.r.t. a model gives a model-shaped gradient, and ``jax.jit`` of a
function of a model recompiles only when the static parts change.

    model = lennard_jones(sigma=3.4, epsilon=0.0104, cutoff=8.5)
    e = model.energy(positions, cell, species, neighbors)
    combined = model + 0.5 * other          # again an EnergyModel, usable everywhere
"""

from __future__ import annotations

import json
from typing import Any, Callable

import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxpot.types import Array, PyTree


@struct.dataclass
class EnergyModel:
    """A pure energy function with bound parameters.

    Attributes:
        energy_fn: ``(params, positions (N,3) Å, cell (3,3) Å, species (N,) Z, neighbors) -> eV``.
        params: pytree of parameters (the only pytree leaves of the model).
        cutoff: interaction range in Å; neighbor lists must hold every pair within it.
        species: atomic numbers the model knows, or None for any.
        atomic_energies_fn: same signature, returns per-atom energies (N,) eV; None if the model
            has no per-atom decomposition.
        spec: JSON string ``{"kind": ..., "config": ...}`` used to rebuild the model on load.
        name: human-readable name for messages.
    """

    energy_fn: Callable = struct.field(pytree_node=False)
    params: PyTree
    cutoff: float = struct.field(pytree_node=False)
    species: tuple[int, ...] | None = struct.field(pytree_node=False, default=None)
    atomic_energies_fn: Callable | None = struct.field(pytree_node=False, default=None)
    spec: str = struct.field(pytree_node=False, default="{}")
    name: str = struct.field(pytree_node=False, default="model")

    # ------------------------------------------------------------------ evaluation
    def energy(self, positions: Array, cell: Array, species: Array, neighbors: Any) -> Array:
        """Total energy in eV."""
        return self.energy_fn(self.params, positions, cell, species, neighbors)

    def atomic_energies(self, positions: Array, cell: Array, species: Array,
                        neighbors: Any) -> Array:
        """Per-atom energies (N,) in eV; raises if the model has no decomposition."""
        if self.atomic_energies_fn is None:
            raise NotImplementedError(f"{self.name} does not define per-atom energies")
        return self.atomic_energies_fn(self.params, positions, cell, species, neighbors)

    @property
    def kind(self) -> str:
        return json.loads(self.spec).get("kind", "unknown")

    # ------------------------------------------------------------------ composition
    def __add__(self, other: "EnergyModel") -> "EnergyModel":
        if not isinstance(other, EnergyModel):
            return NotImplemented
        return sum_models(self, other)

    def __radd__(self, other):
        if isinstance(other, (int, float)) and other == 0:  # lets sum([m1, m2]) work
            return self
        return NotImplemented

    def __mul__(self, factor: float) -> "EnergyModel":
        if not isinstance(factor, (int, float)):
            return NotImplemented
        return scale_model(self, float(factor))

    __rmul__ = __mul__

    def __neg__(self) -> "EnergyModel":
        return scale_model(self, -1.0)

    def __sub__(self, other: "EnergyModel") -> "EnergyModel":
        return sum_models(self, scale_model(other, -1.0))


def make_spec(kind: str, **config) -> str:
    """JSON spec string for :class:`EnergyModel` (config must be JSON-serialisable)."""
    return json.dumps({"kind": kind, "config": config}, sort_keys=True)


def _intersect_species(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return tuple(sorted(set(a) & set(b)))


def sum_models(*models: EnergyModel) -> EnergyModel:
    """Energy ``E = sum_k E_k``: params is the tuple of the parts' params; cutoff is the largest.

    Each part masks pairs beyond its own cutoff, so one neighbor list at the largest cutoff
    serves all.  Known species are the intersection (every part must handle every atom).
    """
    fns = tuple(m.energy_fn for m in models)
    afns = tuple(m.atomic_energies_fn for m in models)

    def energy_fn(params, positions, cell, species, neighbors):
        return sum(f(p, positions, cell, species, neighbors) for f, p in zip(fns, params))

    atomic = None
    if all(a is not None for a in afns):
        def atomic(params, positions, cell, species, neighbors):
            return sum(f(p, positions, cell, species, neighbors) for f, p in zip(afns, params))

    species = None
    for i, m in enumerate(models):
        species = m.species if i == 0 else _intersect_species(species, m.species)
    spec = json.dumps({"kind": "sum", "children": [json.loads(m.spec) for m in models]},
                      sort_keys=True)
    return EnergyModel(energy_fn=energy_fn, params=tuple(m.params for m in models),
                       cutoff=max(m.cutoff for m in models), species=species,
                       atomic_energies_fn=atomic, spec=spec,
                       name=" + ".join(m.name for m in models))


def scale_model(model: EnergyModel, factor: float) -> EnergyModel:
    """Energy ``factor * E``."""
    f, a = model.energy_fn, model.atomic_energies_fn

    def energy_fn(params, positions, cell, species, neighbors):
        return factor * f(params, positions, cell, species, neighbors)

    atomic = None
    if a is not None:
        def atomic(params, positions, cell, species, neighbors):
            return factor * a(params, positions, cell, species, neighbors)

    spec = json.dumps({"kind": "scaled", "factor": factor, "child": json.loads(model.spec)},
                      sort_keys=True)
    return EnergyModel(energy_fn=energy_fn, params=model.params, cutoff=model.cutoff,
                       species=model.species, atomic_energies_fn=atomic, spec=spec,
                       name=f"{factor:g} * ({model.name})")


def energy_from_atomic(atomic_energies_fn: Callable) -> Callable:
    """Energy function summing a per-atom energy function."""
    def energy_fn(params, positions, cell, species, neighbors):
        return jnp.sum(atomic_energies_fn(params, positions, cell, species, neighbors))
    return energy_fn


def species_lookup(known: tuple[int, ...], fill: int = 0) -> np.ndarray:
    """Table mapping atomic number Z -> index in ``known`` (``fill`` for unknown Z), shape (119,).

    Inside an energy function: ``index = jnp.asarray(table)[species]``.  Unknown species are
    rejected on the host (see :func:`jaxpot.structure.check_species_known`), never silently.
    """
    table = np.full(119, fill, dtype=np.int32)
    for k, z in enumerate(known):
        table[int(z)] = k
    return table
