"""jaxpot: differentiable molecular simulation with machine-learned interatomic potentials.

A potential is a pure energy function ``E(params, positions, cell, species, neighbors)``;
forces, stress, elastic constants, phonons and MD come from JAX transforms of it.
"""

from jaxpot.calculator import JaxpotCalculator
from jaxpot.io.model_file import ModelFileError, load, save
from jaxpot.mechanics import energy_forces_stress, forces, stress, virial
from jaxpot.model import EnergyModel
from jaxpot.neighbors import (NeighborList, allocate_neighbor_list, neighbor_list,
                              neighbor_vectors, reallocate_if_needed, update_neighbor_list)
from jaxpot.structure import Structure, StructureError

__all__ = [
    "EnergyModel", "JaxpotCalculator", "ModelFileError", "load", "save", "NeighborList", "Structure", "StructureError", "allocate_neighbor_list",
    "energy_forces_stress", "forces", "neighbor_list", "neighbor_vectors", "reallocate_if_needed",
    "stress", "update_neighbor_list", "virial",
]
__version__ = "0.1.0"
