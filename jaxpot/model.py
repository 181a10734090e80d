"""`EnergyModel`: an energy function bound to its parameters, composable by ``+`` and ``*``.

A model is a value: its *kind and static configuration* (the JSON ``spec``, cutoff, known
species) plus its ``params``, the only pytree leaves.  Two models with equal configurations
are equal as pytree structures, so they share compiled code (a second ``stillinger_weber()``,
or a model read back by :func:`jaxpot.load`, compiles nothing new).  A model without a spec
(a hand-written ``energy_fn``) is compared by the identity of its functions instead.

    model = lennard_jones(sigma=3.4, epsilon=0.0104, cutoff=8.5)
    e = model.energy(positions, cell, species, neighbors)
    combined = model + 0.5 * other          # again an EnergyModel, usable everywhere

Each part of a sum sees only the neighbors within its own cutoff (see
:meth:`jaxpot.neighbors.NeighborList.within`), so a sum costs about the sum of its parts.
Model kinds join the registry (:func:`register_model_kind`) so that :func:`jaxpot.load`
rebuilds them without knowing any kind itself.  Each kind also registers a small example of
itself (:func:`registered_examples`): the contract test (tests/test_contract.py) checks every
registered kind through its example, so a new kind gets its checks without a hand-written row.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.elements import element_numbers
from jaxpot.model_registry import check_host_inputs as check_host_inputs
from jaxpot.model_registry import kind_builders, registered_kinds
from jaxpot.model_registry import register_host_check as register_host_check
from jaxpot.model_registry import register_model_kind as register_model_kind
from jaxpot.model_registry import registered_examples as registered_examples
from jaxpot.precision import FLOAT64, PRECISIONS, check_precision, combined
from jaxpot.types import Array, PyTree


def model_from_spec(spec: dict) -> EnergyModel:
    """Rebuild a model (placeholder params) from its spec dict through the registry.

    The spec names the module that defines its kind (``"module"``); it is imported on demand
    when it lies inside jaxpot, so loading needs no table of kinds.
    """
    kind = spec.get("kind")
    if kind == "sum":
        return sum_models(*(model_from_spec(c) for c in spec["children"]))
    if kind == "scaled":
        return scale_model(model_from_spec(spec["child"]), float(spec["factor"]))
    if kind not in kind_builders():
        module = spec.get("module") or "jaxpot.potentials"
        if module.split(".")[0] == "jaxpot":
            importlib.import_module(module)
    if kind not in kind_builders():
        raise KeyError(f"unknown model kind {kind!r}; registered kinds: {list(registered_kinds())}"
                       " (import the module that defines it before loading)")
    return kind_builders()[kind](spec.get("config", {}))


class _Static:
    """Static (non-leaf) part of a model; equality and hash by value where the spec allows."""

    __slots__ = ("fields", "key")

    def __init__(self, fields: dict):
        self.fields = fields
        spec = fields["spec"]
        by_value = _spec_by_value(spec)
        functions = () if by_value else (fields["energy_fn"], fields["atomic_energies_fn"])
        self.key = (spec, fields["cutoff"], fields["species"], fields["name"],
                    fields["part_cutoffs"], fields["reciprocal_spacing"], functions,
                    fields["uses_rows"], fields["cpu_fusions"])

    def __eq__(self, other):
        return isinstance(other, _Static) and self.key == other.key

    def __hash__(self):
        return hash(self.key)

    def __repr__(self):
        """By value (stable across processes) where the spec allows, else by function name."""
        spec, cutoff, species, name, parts, spacing, functions = self.key[:7]
        names = tuple(getattr(f, "__qualname__", repr(f)) for f in functions if f is not None)
        return (f"_Static(spec={spec!r}, cutoff={cutoff!r}, species={species!r}, name={name!r},"
                f" part_cutoffs={parts!r}, reciprocal_spacing={spacing!r}, "
                f"functions={names!r})")


@functools.lru_cache(maxsize=1024)
def _spec_by_value(spec: str) -> bool:
    """True when every kind in the spec tree is known (so the spec determines the functions)."""
    def known(node) -> bool:
        kind = node.get("kind") if isinstance(node, dict) else None
        if kind == "sum":
            return all(known(c) for c in node.get("children", ()))
        if kind == "scaled":
            return known(node.get("child"))
        return kind not in (None, "unknown")
    try:
        return known(json.loads(spec))
    except ValueError:
        return False


def _spec_kind(spec: str):
    try:
        return json.loads(spec).get("kind")
    except (ValueError, AttributeError):
        return None


@dataclasses.dataclass(frozen=True, eq=False)
class EnergyModel:
    """A pure energy function with bound parameters.

    Attributes:
        energy_fn: ``(params, positions (N,3) Å, cell (3,3) Å, species (N,) Z, neighbors) -> eV``.
        params: pytree of parameters (the only pytree leaves of the model).
        cutoff: interaction range in Å; neighbor lists must hold every pair within it.
        species: atomic numbers the model knows, or None for any.
        atomic_energies_fn: same signature, returns per-atom energies (N,) eV; None if the model
            has no per-atom decomposition.
        spec: JSON string ``{"kind": ..., "config": ...}``: the static configuration, used to
            compare models by value and to rebuild the model on load.
        name: human-readable name for messages.
        part_cutoffs: cutoff of each additive part (Å), in order; ``(cutoff,)`` for one model.
        reciprocal_spacing: for models with a reciprocal-space part (Ewald, PME), the
            resolution (Å) their neighbor lists must carry a reciprocal grid for (see
            :func:`jaxpot.neighbors.allocate_for_model`); 0 for short-ranged models.
        uses_rows: the energy reads the neighbor list's dense (N, K) rows; pair models (the
            flat half list only) say False, and host-built lists skip the rows for them.
        cpu_fusions: XLA:CPU's YNNPACK fusions suit this model (the default); False for
            three-body models whose jitted MD runs faster without (:mod:`jaxpot.compiler`).
        precision: ``"float64"`` for a model that must not be computed in float32 (families
            fitted by float64 linear algebra declare it), else ``"float32"``; entry points
            enforce it (:mod:`jaxpot.precision`).  Not part of the model's identity for
            compiled code.
    """

    energy_fn: Callable
    params: PyTree
    cutoff: float
    species: tuple[int, ...] | None = None
    atomic_energies_fn: Callable | None = None
    spec: str = "{}"
    name: str = "model"
    part_cutoffs: tuple[float, ...] = ()
    reciprocal_spacing: float = 0.0
    uses_rows: bool = True
    cpu_fusions: bool = True
    precision: str = "float32"

    def __post_init__(self):
        cutoff = float(self.cutoff)
        if not np.isfinite(cutoff) or cutoff <= 0:
            raise ValueError(f"{self.name}: cutoff must be a positive finite length in Å, "
                             f"got {self.cutoff}")
        object.__setattr__(self, "cutoff", cutoff)
        if self.species is not None:
            object.__setattr__(self, "species", tuple(int(z) for z in self.species))
        parts = tuple(float(c) for c in self.part_cutoffs) or (cutoff,)
        object.__setattr__(self, "part_cutoffs", parts)
        spacing = float(self.reciprocal_spacing or 0.0)
        if not np.isfinite(spacing) or spacing < 0:
            raise ValueError(f"{self.name}: reciprocal_spacing must be a finite length >= 0 Å, "
                             f"got {self.reciprocal_spacing}")
        object.__setattr__(self, "reciprocal_spacing", spacing)
        object.__setattr__(self, "uses_rows", bool(self.uses_rows))
        object.__setattr__(self, "cpu_fusions", bool(self.cpu_fusions))
        if self.precision not in PRECISIONS:
            raise ValueError(f"{self.name}: precision must be one of {PRECISIONS}, got "
                             f"{self.precision!r}")

    def replace(self, **changes) -> EnergyModel:
        """A copy with some fields changed (as ``dataclasses.replace``)."""
        if "cutoff" in changes and "part_cutoffs" not in changes and len(self.part_cutoffs) == 1:
            changes["part_cutoffs"] = ()
        return dataclasses.replace(self, **changes)

    def __eq__(self, other):
        if not isinstance(other, EnergyModel):
            return NotImplemented
        a, ta = jax.tree_util.tree_flatten(self)
        b, tb = jax.tree_util.tree_flatten(other)
        return ta == tb and all(np.array_equal(np.asarray(x), np.asarray(y))
                                for x, y in zip(a, b))

    __hash__ = None  # holds arrays

    def __repr__(self) -> str:  # kind, species, cutoff, parameter count: not the arrays
        from jaxpot.model_summary import describe
        return describe(self)

    # ------------------------------------------------------------------ evaluation
    def energy(self, positions: Array, cell: Array, species: Array, neighbors: Any) -> Array:
        """Total energy in eV (a model that needs float64 refuses float32: see
        :mod:`jaxpot.precision`)."""
        check_neighbor_range(self, neighbors)
        require_precision(self)
        return self.energy_fn(self.params, positions, cell, species, neighbors)

    def atomic_energies(self, positions: Array, cell: Array, species: Array,
                        neighbors: Any) -> Array:
        """Per-atom energies (N,) in eV; raises if the model has no decomposition."""
        if self.atomic_energies_fn is None:
            raise NotImplementedError(f"{self.name} does not define per-atom energies")
        check_neighbor_range(self, neighbors)
        require_precision(self)
        return self.atomic_energies_fn(self.params, positions, cell, species, neighbors)

    @property
    def kind(self) -> str:
        return _spec_kind(self.spec) or "unknown"

    # ------------------------------------------------------------------ composition
    def __add__(self, other: EnergyModel) -> EnergyModel:
        if not isinstance(other, EnergyModel):
            return NotImplemented
        return sum_models(self, other)

    def __radd__(self, other):
        if isinstance(other, (int, float)) and other == 0:  # lets sum([m1, m2]) work
            return self
        return NotImplemented

    def __mul__(self, factor: float) -> EnergyModel:
        if not isinstance(factor, (int, float)):
            return NotImplemented
        return scale_model(self, float(factor))

    __rmul__ = __mul__

    def __neg__(self) -> EnergyModel:
        return scale_model(self, -1.0)

    def __sub__(self, other: EnergyModel) -> EnergyModel:
        return sum_models(self, scale_model(other, -1.0))


def check_neighbor_range(model: EnergyModel, neighbors: Any) -> None:
    """Raise ValueError if the neighbor list does not reach the model's cutoff (a static
    check, so it works inside jit too)."""
    reach = getattr(neighbors, "cutoff", None)
    if reach is not None and reach < model.cutoff * (1.0 - 1e-12):
        raise ValueError(f"neighbor list cutoff {reach:g} Å is shorter than the cutoff "
                         f"{model.cutoff:g} Å of {model.name}: pairs would be missed; allocate "
                         "the list with cutoff=model.cutoff")


def require_precision(model: EnergyModel) -> None:
    """Refuse a float64 model in float32 (:func:`jaxpot.precision.check_precision` without
    its warning: called at trace time by ``energy``, so the hot path pays nothing)."""
    if model.precision == FLOAT64:
        check_precision(model, model.name)


_STATIC_FIELDS = ("energy_fn", "cutoff", "species", "atomic_energies_fn", "spec", "name",
                  "part_cutoffs", "reciprocal_spacing", "uses_rows", "cpu_fusions", "precision")


def _flatten(model: EnergyModel):
    return (model.params,), _Static({f: getattr(model, f) for f in _STATIC_FIELDS})


def _flatten_with_keys(model: EnergyModel):
    return ((jax.tree_util.GetAttrKey("params"), model.params),), \
        _Static({f: getattr(model, f) for f in _STATIC_FIELDS})


def _unflatten(static: _Static, children) -> EnergyModel:
    model = object.__new__(EnergyModel)
    object.__setattr__(model, "params", children[0])
    for f, v in static.fields.items():
        object.__setattr__(model, f, v)
    return model


jax.tree_util.register_pytree_with_keys(EnergyModel, _flatten_with_keys, _unflatten, _flatten)


def make_spec(kind: str, module: str | None = None, **config) -> str:
    """JSON spec string for :class:`EnergyModel` (config must be JSON-serialisable).

    ``module`` names the module that registers ``kind`` (so :func:`jaxpot.load` can import it).
    """
    spec = {"kind": kind, "config": config}
    if module:
        spec["module"] = module
    return json.dumps(spec, sort_keys=True)


def _intersect_species(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return tuple(sorted(set(a) & set(b)))


def sum_models(*models: EnergyModel) -> EnergyModel:
    """Energy ``E = sum_k E_k``: params is the tuple of the parts' params; cutoff is the largest.

    Each part gets the neighbor list restricted to its own cutoff
    (``neighbors.within(cutoff_k)``), so a short-ranged many-body part does not loop over a
    long-ranged part's pairs.  Known species are the intersection (every part must handle
    every atom).
    """
    fns = tuple(m.energy_fn for m in models)
    afns = tuple(m.atomic_energies_fn for m in models)
    cuts = tuple(m.part_cutoffs for m in models)

    def energy_fn(params, positions, cell, species, neighbors):
        return sum(f(p, positions, cell, species, _restricted(neighbors, c))
                   for f, p, c in zip(fns, params, cuts))

    atomic = None
    if all(a is not None for a in afns):
        def atomic(params, positions, cell, species, neighbors):
            return sum(f(p, positions, cell, species, _restricted(neighbors, c))
                       for f, p, c in zip(afns, params, cuts))

    species = None
    for i, m in enumerate(models):
        species = m.species if i == 0 else _intersect_species(species, m.species)
    spec = json.dumps({"kind": "sum", "children": [json.loads(m.spec) for m in models]},
                      sort_keys=True)
    return EnergyModel(energy_fn=energy_fn, params=tuple(m.params for m in models),
                       cutoff=max(m.cutoff for m in models), species=species,
                       atomic_energies_fn=atomic, spec=spec,
                       name=" + ".join(m.name for m in models),
                       part_cutoffs=tuple(c for m in models for c in m.part_cutoffs),
                       reciprocal_spacing=min((m.reciprocal_spacing for m in models
                                               if m.reciprocal_spacing > 0), default=0.0),
                       # parts at shorter cutoffs read prefix views of the rows
                       uses_rows=any(m.uses_rows for m in models)
                       or len({c for m in models for c in m.part_cutoffs}) > 1,
                       cpu_fusions=all(m.cpu_fusions for m in models),
                       precision=combined([m.precision for m in models]))


def _restricted(neighbors, part_cutoffs: tuple[float, ...]):
    """The neighbor list as the part whose cutoffs are ``part_cutoffs`` should see it."""
    within = getattr(neighbors, "within", None)
    return neighbors if within is None else within(max(part_cutoffs))


def scale_model(model: EnergyModel, factor: float) -> EnergyModel:
    """Energy ``factor * E``."""
    if not np.isfinite(factor):
        raise ValueError(f"scale factor must be finite, got {factor}")
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
                       name=f"{factor:g} * ({model.name})", part_cutoffs=model.part_cutoffs,
                       reciprocal_spacing=model.reciprocal_spacing, uses_rows=model.uses_rows,
                       cpu_fusions=model.cpu_fusions, precision=model.precision)


def species_numbers(species) -> tuple[int, ...] | None:
    """Symbols or atomic numbers -> tuple of atomic numbers (None stays None); checked by
    :func:`jaxpot.elements.element_numbers` (one symbol alone is one species)."""
    if species is None:
        return None
    return element_numbers(species, "species", repeats=True)


def species_lookup(known: tuple[int, ...], fill: int = 0) -> np.ndarray:
    """Table mapping atomic number Z -> index in ``known`` (``fill`` for unknown Z), shape (119,).

    Inside an energy function: ``index = jnp.asarray(table)[species]``.  Unknown species are
    rejected on the host (see :func:`jaxpot.structure.check_species_known`), never silently.
    """
    table = np.full(119, fill, dtype=np.int32)
    for k, z in enumerate(known):
        table[int(z)] = k
    return table


def species_indices(table, species, neighbors):
    """Index (in the known species) of each atom (N,) and of each neighbour slot (N, K), from
    a :func:`species_lookup` table; padding slots get index 0 (callers mask them)."""
    index = jnp.asarray(table)[species]
    padded = jnp.concatenate([index, jnp.zeros((1,), index.dtype)])
    return index, padded[neighbors.idx]
