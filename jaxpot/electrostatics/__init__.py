"""Long-range electrostatics: Ewald and smooth-PME sums, open-boundary Coulomb, charge models.

The energy models live in :mod:`jaxpot.potentials` (``ewald``, ``pme``, ``coulomb``); this
package holds their pure parts: the splitting chosen from an accuracy (:mod:`.splitting`), the
Ewald terms (:mod:`.ewald_sums`), the PME mesh (:mod:`.pme_mesh`), the neutrality check
(:mod:`.neutrality`, on the host before a jitted call and inside jit) and the charge models with their fit (:mod:`.charge_models`,
:mod:`.charge_fit`).
"""

from jaxpot.electrostatics.charge_fit import ChargeFitResult, fit_charges
from jaxpot.electrostatics.charge_models import (ChargeModel, default_charge_acsf,
                                                 environment_charges, species_charges)
from jaxpot.electrostatics.neutrality import NonNeutralCellError, check_model_neutral
from jaxpot.electrostatics.splitting import Splitting, ewald_splitting, pme_mesh_spacing

__all__ = ["ChargeFitResult", "ChargeModel", "NonNeutralCellError", "Splitting",
           "check_model_neutral", "default_charge_acsf", "environment_charges",
           "ewald_splitting", "fit_charges", "pme_mesh_spacing", "species_charges"]
