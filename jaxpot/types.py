"""Array aliases and the one energy-function signature every jaxpot model follows.

An energy function is a pure function

    energy_fn(params, positions, cell, species, neighbors) -> energy

with
    params     any pytree of model parameters (may be ``None`` or ``()``),
    positions  (N, 3) float, Å,
    cell       (3, 3) float, Å, rows are lattice vectors (as in ASE),
    species    (N,) int32 atomic numbers Z,
    neighbors  a :class:`jaxpot.neighbors.NeighborList`,
and returns a scalar energy in eV.  Everything one may differentiate is an explicit argument:
forces are ``-grad`` w.r.t. positions, stress the derivative w.r.t. a strain applied to
positions and cell together, training the gradient w.r.t. params.
"""

from __future__ import annotations

from typing import Any, Protocol

import jax

Array = jax.Array
PyTree = Any


class EnergyFn(Protocol):
    """``(params, positions (N,3) Å, cell (3,3) Å, species (N,) Z, neighbors) -> eV``."""

    def __call__(self, params: PyTree, positions: Array, cell: Array, species: Array,
                 neighbors: Any) -> Array: ...


class AtomicEnergiesFn(Protocol):
    """Same arguments as :class:`EnergyFn`, returns per-atom energies (N,) in eV."""

    def __call__(self, params: PyTree, positions: Array, cell: Array, species: Array,
                 neighbors: Any) -> Array: ...
