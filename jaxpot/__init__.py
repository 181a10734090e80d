"""jaxpot: differentiable molecular simulation with machine-learned interatomic potentials.

A potential is a pure energy function ``E(params, positions, cell, species, neighbors)``;
forces, stress, elastic constants, phonons and MD come from JAX transforms of it.

Subpackages (``jaxpot.potentials``, ``jaxpot.properties``, ``jaxpot.descriptors``,
``jaxpot.io``, ``jaxpot.interop``) are importable as attributes after ``import jaxpot``; they
load on first use, so ``import jaxpot`` stays quick.
"""

import importlib as _importlib

from jaxpot._version import __version__
from jaxpot.calculator import JaxpotCalculator
from jaxpot.io.model_file import ModelFileError, load, save
from jaxpot.mechanics import energy_forces_stress, forces, stress, virial
from jaxpot.model import EnergyModel, register_model_kind
from jaxpot.neighbors import (
    NeighborList,
    allocate_for_model,
    allocate_neighbor_list,
    neighbor_list,
    neighbor_vectors,
    reallocate_if_needed,
    update_neighbor_list,
)
from jaxpot.precision import PrecisionError, PrecisionWarning
from jaxpot.prediction import Prediction, predict
from jaxpot.structure import Structure, StructureError

_SUBPACKAGES = ("potentials", "properties", "descriptors", "io", "interop", "batch", "driver",
                "gap", "testing", "md", "nn", "linear", "training", "evaluation",
                "uncertainty", "charges", "electrostatics", "active")


def __getattr__(name: str):
    """Import a subpackage on first attribute access (``jaxpot.potentials.lennard_jones``)."""
    if name in _SUBPACKAGES:
        try:
            return _importlib.import_module(f"jaxpot.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"jaxpot.{name}":
                raise AttributeError(f"module 'jaxpot' has no attribute {name!r}") from None
            raise
    raise AttributeError(f"module 'jaxpot' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBPACKAGES))


__all__ = [
    "EnergyModel", "JaxpotCalculator", "ModelFileError", "NeighborList", "Prediction",
    "__version__", "PrecisionError", "PrecisionWarning", "Structure", "StructureError",
    "allocate_for_model",
    "allocate_neighbor_list", "energy_forces_stress", "forces", "load", "neighbor_list",
    "neighbor_vectors", "predict", "reallocate_if_needed", "register_model_kind", "save",
    "stress", "update_neighbor_list", "virial",
]
