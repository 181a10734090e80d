"""`JaxpotCalculator`: any jaxpot model (classic, learned or composed) as an ASE calculator.

Usable wherever ASE takes a calculator (optimizers, MD, EOS, NEB, filters).  Results are NumPy
float64 in eV, eV/Å and eV/Å^3 (Voigt xx, yy, zz, yz, xz, xy; ASE's sign: tensile positive).

The neighbor list is kept between calls with a Verlet skin and maintained on the host
(:func:`jaxpot.driver.refresh_neighbors`): rebuilt when atoms moved more than half the skin,
never truncated.  The jitted kernel is shared by all calculators and all equal models; it
recompiles only when the number of atoms, the neighbor capacity or the periodicity changes.
Enable float64 (``jax.config.update("jax_enable_x64", True)``) for physics-grade precision; the
calculator warns once when it is off.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from jaxpot.driver import refresh_neighbors
from jaxpot.mechanics import energy_forces_stress
from jaxpot.model import EnergyModel
from jaxpot.neighbors import NeighborList, check_min_distance
from jaxpot.precision import check_precision
from jaxpot.space import VOIGT_PAIRS
from jaxpot.structure import StructureError, check_species_known, validate_atoms_input


class JaxpotCalculator(Calculator):
    """ASE calculator for a :class:`jaxpot.model.EnergyModel`.

    Args:
        model: any jaxpot energy model (``lennard_jones(...)``, ``eam(path)``, ``a + b``, ...).
        skin: Verlet skin in Å added to the model cutoff for the neighbor list.
        capacity_multiplier: head-room factor when (re)allocating neighbor capacity.
        min_distance: raise :class:`jaxpot.StructureError` if two atoms are closer than this
            (Å); None disables the check.
    """

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
        self._nbrs: NeighborList | None = None
        self.n_reallocations = 0  # times a neighbor capacity (rows or half list) had to grow
        self.implemented_properties = ["energy", "free_energy", "forces", "stress"]
        if model.atomic_energies_fn is not None:
            self.implemented_properties.append("energies")

    @property
    def neighbors(self) -> NeighborList | None:
        """The current neighbor list (None before the first calculation)."""
        return self._nbrs

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        validate_atoms_input(atoms.positions, atoms.cell.array, atoms.numbers, atoms.pbc)
        check_species_known(atoms.numbers, self.model.species, self.model.name)
        check_precision(self.model, "JaxpotCalculator")
        has_volume = atoms.cell.rank == 3
        if "stress" in properties and not has_volume:
            raise PropertyNotImplementedError("stress needs a 3D cell (cell rank 3)")
        want_energies = "energies" in properties
        # stress only when asked: it costs a contraction over all pairs (ASE asks again for it)
        want_stress = has_volume and "stress" in properties
        if want_energies and self.model.atomic_energies_fn is None:
            raise PropertyNotImplementedError(f"{self.model.name} has no per-atom energies")
        old = self._nbrs
        self._nbrs = nbrs = refresh_neighbors(
            self.model, atoms.positions, atoms.cell.array, atoms.pbc, old, skin=self.skin,
            capacity_multiplier=self.capacity_multiplier)
        if old is not None and old.n_atoms == nbrs.n_atoms and (
                nbrs.capacity > old.capacity or nbrs.half_capacity > old.half_capacity):
            self.n_reallocations += 1
        if self.min_distance is not None:
            check_min_distance(atoms.positions, atoms.cell.array, nbrs, self.min_distance)
        dtype = np.dtype(jnp.result_type(float))
        res = energy_forces_stress(self.model, jax.device_put(atoms.positions.astype(dtype)),
                                   jax.device_put(atoms.cell.array.astype(dtype)),
                                   jax.device_put(atoms.numbers.astype(np.int32)), nbrs,
                                   compute_stress=want_stress, compute_energies=want_energies)
        energy = float(res.energy)
        if not np.isfinite(energy):
            raise StructureError(f"energy is not finite ({energy}); check the structure")
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["forces"] = np.asarray(res.forces, dtype=float)
        if want_stress:
            sigma = np.asarray(res.stress, dtype=float)
            self.results["stress"] = np.array([sigma[i, j] for i, j in VOIGT_PAIRS])
        if res.energies is not None:
            self.results["energies"] = np.asarray(res.energies, dtype=float)

