"""The registries model families fill at import: model kinds (how to rebuild one from its
spec, and a small example for the contract test) and host-side input checks.

Kept apart from :mod:`jaxpot.model` (which re-exports these names) so that the registries
are plain tables any module can read.  Every table is append-only: a family adds itself when
its module is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: jaxpot.model.EnergyModel, named only for the annotations (jaxpot.model imports this module)
EnergyModel = Any

#: kind -> ``from_spec(config) -> EnergyModel``; families add themselves on import (append-only)
_REGISTRY: dict[str, Callable[[dict], EnergyModel]] = {}
#: kind -> ``example() -> EnergyModel``, a small model of that kind (see register_model_kind)
_EXAMPLES: dict[str, Callable[[], EnergyModel]] = {}


def register_model_kind(kind: str, from_spec: Callable[[dict], EnergyModel],
                        example: Callable[[], EnergyModel] | None = None) -> None:
    """Make ``kind`` loadable: ``from_spec(config)`` rebuilds a model (placeholder params).

    Called once by each model family at import.  Registering the same kind twice with a
    different function is an error (two families must not claim one name).

    ``example()`` returns a small model of this kind with non-trivial parameters (random but
    seeded: two calls give equal models), small enough to compile in a second or two; it
    reads no file.  The contract test (tests/test_contract.py) checks every registered kind
    through its example: forces and stress against finite differences, invariances,
    ``predict`` over mixed sizes, files and compiled-code reuse.  It evaluates the example on
    structures built from ``model.species``: any element (``None``) or one element, rattled
    cells of that element's reference crystal (``ase.build.bulk(symbol, cubic=True)``, diamond
    for Si, fcc for Cu), a primitive cell and a 5-atom cluster; two elements A, B (by Z), a
    rattled rocksalt AB cell (lattice constant twice the sum of the covalent radii, so neutral
    for charges +q, -q), a primitive cell and a 6-atom AB cluster.  Models with a reciprocal
    part (``reciprocal_spacing > 0``) are not evaluated on the open clusters.  Choose
    parameters that give non-trivial forces there.
    """
    known = _REGISTRY.get(kind)
    if known is not None and known is not from_spec and (
            getattr(known, "__qualname__", None), getattr(known, "__module__", None)) != (
            getattr(from_spec, "__qualname__", None), getattr(from_spec, "__module__", None)):
        raise ValueError(f"model kind {kind!r} is already registered by {known.__module__}")
    _REGISTRY[kind] = from_spec
    if example is not None:
        _EXAMPLES[kind] = example


#: host-side checks of concrete inputs, ``check(model, species)``; families add theirs on import
_HOST_CHECKS: list[Callable[[EnergyModel, Any], None]] = []


def register_host_check(check: Callable[[EnergyModel, Any], None]) -> None:
    """Run ``check(model, species)`` on concrete inputs at every entry point (calculator,
    ``predict``, properties, MD) before anything is traced: a family's errors that cannot be
    raised from inside jit as themselves (a charged cell for Ewald) are raised here.  A check
    returns quickly for models it does not concern.  Registering the same function twice is a
    no-op."""
    if check not in _HOST_CHECKS:
        _HOST_CHECKS.append(check)


def check_host_inputs(model: EnergyModel, species) -> None:
    """Every registered host check of ``model`` on ``species`` (N,) or (B, N) Z."""
    for check in _HOST_CHECKS:
        check(model, species)


def registered_kinds(package: str | None = None) -> tuple[str, ...]:
    """Every registered kind, sorted; with ``package`` (e.g. ``"jaxpot"``) only the kinds
    whose rebuild is defined inside that package."""
    return tuple(sorted(k for k in _REGISTRY if package is None or _inside(
        getattr(_REGISTRY[k], "__module__", None) or "", package)))


def registered_examples(package: str | None = None) -> dict[str, Callable[[], EnergyModel]]:
    """``{kind: example}`` of every registered kind that has an example (sorted by kind;
    ``package`` as in :func:`registered_kinds`); ``example()`` builds a small model of that
    kind (see :func:`register_model_kind`)."""
    return {k: _EXAMPLES[k] for k in registered_kinds(package) if k in _EXAMPLES}


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def kind_builders() -> dict[str, Callable[[dict], EnergyModel]]:
    """``{kind: from_spec}`` of every registered kind (read-only view for the loader)."""
    return dict(_REGISTRY)


#: kind -> ``builder(model) -> sigma(params, positions, cell, species, neighbors)`` (eV), the
#: model's total-energy standard deviation as a JAX function (jaxpot.uncertainty fills it)
_UNCERTAINTY: dict[str, Callable[[EnergyModel], Callable]] = {}


def register_uncertainty(kind: str, builder: Callable[[EnergyModel], Callable]) -> None:
    """Make ``uncertainty_function`` know models of ``kind`` (append-only)."""
    _UNCERTAINTY[kind] = builder


def uncertainty_function(model: EnergyModel) -> Callable | None:
    """``sigma(params, positions, cell, species, neighbors)`` (eV) of ``model`` (an ensemble, a
    model carrying a calibrated uncertainty, a biased one), or None where it has none.  Each
    kind registers its builder where it is defined (a model of a kind exists only once its
    module is imported)."""
    builder = _UNCERTAINTY.get(model.kind)
    return None if builder is None else builder(model)
