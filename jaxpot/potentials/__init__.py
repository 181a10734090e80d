"""Classic interatomic potentials; each factory returns a :class:`jaxpot.model.EnergyModel`."""

from jaxpot.potentials.lennard_jones import lennard_jones
from jaxpot.potentials.morse import morse

__all__ = ["lennard_jones", "morse"]
