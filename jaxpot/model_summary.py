"""What ``print(model)`` shows: a few lines about an :class:`~jaxpot.model.EnergyModel`, not its
arrays.

    >>> print(stillinger_weber())
    EnergyModel stillinger_weber: stillinger_weber
      species Si; cutoff 3.7718 Å; 11 parameters (float32); precision float32

A sum lists its parts, one line each (kind, cutoff, parameter count), at most
:data:`MAX_PARTS` of them.
"""

from __future__ import annotations

import json

import numpy as np

#: parts of a sum listed by ``print(model)`` before "... and N more"
MAX_PARTS = 8


def _leaves(tree) -> list:
    import jax
    return jax.tree_util.tree_leaves(tree)


def parameter_count(params) -> int:
    """The number of scalar parameters in a pytree."""
    return int(sum(np.size(x) for x in _leaves(params)))


def _dtypes(params) -> str:
    names = sorted({str(np.asarray(x).dtype) if not hasattr(x, "dtype") else str(x.dtype)
                    for x in _leaves(params)})
    return "/".join(names) if names else "none"


def _species(species) -> str:
    if species is None:
        return "any"
    from ase.data import chemical_symbols
    return " ".join(chemical_symbols[z] if 0 < z < len(chemical_symbols) else str(z)
                    for z in species)


def _parts(spec: str, params) -> list[tuple[str, int]]:
    """(kind, parameter count) of each part of a sum model (empty for one model)."""
    try:
        node = json.loads(spec)
    except ValueError:
        return []
    if not isinstance(node, dict) or node.get("kind") != "sum":
        return []
    children = node.get("children", [])
    if not isinstance(params, (list, tuple)) or len(params) != len(children):
        return [(_kind(c), -1) for c in children]
    return [(_kind(c), parameter_count(p)) for c, p in zip(children, params)]


def _kind(node: dict) -> str:
    """A part's kind; a scaled part's as ``factor x kind``."""
    kind = str(node.get("kind", "?"))
    if kind == "scaled" and isinstance(node.get("child"), dict):
        factor = node.get("config", {}).get("factor", node.get("factor"))
        return f"{factor:g} x {_kind(node['child'])}" if isinstance(factor, (int, float)) \
            else f"scaled {_kind(node['child'])}"
    return kind


def describe(model) -> str:
    """The lines ``print(model)`` shows: name and kind, species, cutoff (Å), parameter count
    and dtypes, precision; a sum's parts with their cutoffs and parameter counts."""
    lines = [f"EnergyModel {model.name}: {model.kind}",
             f"  species {_species(model.species)}; cutoff {model.cutoff:.6g} Å; "
             f"{parameter_count(model.params):,} parameters ({_dtypes(model.params)}); "
             f"precision {model.precision}"]
    if model.reciprocal_spacing:
        lines[-1] += f"; reciprocal spacing {model.reciprocal_spacing:.6g} Å"
    parts = _parts(model.spec, model.params)
    cutoffs = model.part_cutoffs if len(model.part_cutoffs) == len(parts) else [None] * len(parts)
    for (kind, count), cutoff in list(zip(parts, cutoffs))[:MAX_PARTS]:
        size = f"{count:,} parameters" if count >= 0 else "parameters not split"
        reach = f"cutoff {cutoff:.6g} Å, " if cutoff is not None else ""
        lines.append(f"  + {kind} ({reach}{size})")
    if len(parts) > MAX_PARTS:
        lines.append(f"  ... and {len(parts) - MAX_PARTS} more parts")
    return "\n".join(lines)
