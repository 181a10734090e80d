"""Classic interatomic potentials; each factory returns a :class:`jaxpot.model.EnergyModel`."""

from jaxpot.potentials.coulomb import coulomb
from jaxpot.potentials.eam import eam
from jaxpot.potentials.ewald import ewald, pme
from jaxpot.potentials.lennard_jones import lennard_jones
from jaxpot.potentials.mlip_mtp import read_mtp
from jaxpot.potentials.morse import morse
from jaxpot.potentials.mtp import mtp
from jaxpot.potentials.mtp_files import write_mtp
from jaxpot.potentials.snap import snap
from jaxpot.potentials.stillinger_weber import stillinger_weber
from jaxpot.potentials.tersoff import tersoff

__all__ = ["coulomb", "eam", "ewald", "lennard_jones", "morse", "mtp", "pme", "read_mtp", "snap",
           "stillinger_weber", "tersoff", "write_mtp"]
