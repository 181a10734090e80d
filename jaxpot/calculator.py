"""`JaxpotCalculator`: any jaxpot model (classic, learned or composed) as an ASE calculator.

Usable wherever ASE takes a calculator (optimizers, MD, EOS, NEB, filters).  Results are NumPy
float64 in eV, eV/Å and eV/Å^3 (Voigt xx, yy, zz, yz, xz, xy; ASE's sign: tensile positive).

The neighbor list is kept between calls and updated inside jit with a Verlet skin; when it
overflows it is reallocated on the host with more room, never truncated.  The jitted kernel is
shared by all calculators and recompiles only when the number of atoms, the neighbor capacity
or the periodicity changes (not when positions, cell or species values change).
Enable float64 (``jax.config.update("jax_enable_x64", True)``) for physics-grade precision.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from jaxpot.mechanics import energy_forces_stress
from jaxpot.model import EnergyModel
from jaxpot.neighbors import (allocate_neighbor_list, check_min_distance, reallocate_if_needed,
                              update_neighbor_list)
from jaxpot.space import full_to_voigt
from jaxpot.structure import StructureError, check_species_known, validate_atoms_input


@functools.partial(jax.jit, static_argnames=("compute_stress", "compute_energies"))
def _evaluate(model, positions, cell, species, nbrs, compute_stress, compute_energies):
    nbrs = update_neighbor_list(positions, cell, nbrs)
    res = energy_forces_stress(model, positions, cell, species, nbrs,
                               compute_stress=compute_stress, compute_energies=compute_energies)
    return res, nbrs


class JaxpotCalculator(Calculator):
    """ASE calculator for a :class:`jaxpot.model.EnergyModel`.

    Args:
        model: any jaxpot energy model (``lennard_jones(...)``, ``eam(path)``, ``a + b``, ...).
        skin: Verlet skin in Å added to the model cutoff for the neighbor list.
        capacity_multiplier: head-room factor when (re)allocating neighbor capacity.
        min_distance: raise :class:`jaxpot.StructureError` if two atoms are closer than this
            (Å); None disables the check.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]
    nolabel = True

    def __init__(self, model: EnergyModel, skin: float = 0.5, capacity_multiplier: float = 1.3,
                 min_distance: float | None = 0.1, **kwargs):
        if not isinstance(model, EnergyModel):
            raise TypeError(f"JaxpotCalculator needs a jaxpot EnergyModel, got {type(model)!r}")
        super().__init__(**kwargs)
        self.model = model
        self.skin = float(skin)
        self.capacity_multiplier = float(capacity_multiplier)
        self.min_distance = min_distance
        self._nbrs = None
        self._nbr_key = None
        self.n_reallocations = 0

    def _neighbors(self, positions, cell, pbc):
        key = (positions.shape[0], tuple(bool(p) for p in pbc))
        if self._nbrs is None or key != self._nbr_key:
            self._nbrs = allocate_neighbor_list(
                positions, cell, pbc, cutoff=self.model.cutoff, skin=self.skin,
                capacity_multiplier=self.capacity_multiplier)
            self._nbr_key = key
        return self._nbrs

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        validate_atoms_input(atoms.positions, atoms.cell.array, atoms.numbers, atoms.pbc)
        check_species_known(atoms.numbers, self.model.species, self.model.name)
        want_stress = "stress" in properties
        has_volume = atoms.cell.rank == 3
        if want_stress and not has_volume:
            raise PropertyNotImplementedError("stress needs a 3D cell (cell rank 3)")
        dtype = jnp.result_type(float)
        positions = jnp.asarray(atoms.positions, dtype)
        cell = jnp.asarray(atoms.cell.array, dtype)
        species = jnp.asarray(atoms.numbers, jnp.int32)
        nbrs = self._neighbors(atoms.positions, atoms.cell.array, atoms.pbc)
        for _ in range(5):
            res, nbrs = _evaluate(self.model, positions, cell, species, nbrs,
                                  compute_stress=has_volume,
                                  compute_energies=self.model.atomic_energies_fn is not None)
            nbrs, reallocated = reallocate_if_needed(atoms.positions, atoms.cell.array, nbrs)
            if not reallocated:
                break
            self.n_reallocations += 1
        else:
            raise RuntimeError("neighbor list kept overflowing after 5 reallocations")
        self._nbrs = nbrs
        if self.min_distance is not None:
            check_min_distance(positions, cell, nbrs, self.min_distance)
        energy = float(res.energy)
        if not np.isfinite(energy):
            raise StructureError(f"energy is not finite ({energy}); check the structure")
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["forces"] = np.asarray(res.forces, dtype=float)
        if has_volume:
            self.results["stress"] = np.asarray(full_to_voigt(res.stress), dtype=float)
        if res.energies is not None:
            self.results["energies"] = np.asarray(res.energies, dtype=float)
        elif "energies" in properties:
            raise PropertyNotImplementedError(f"{self.model.name} has no per-atom energies")
