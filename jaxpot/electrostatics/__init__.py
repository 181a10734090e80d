"""Long-range electrostatics: Ewald and smooth-PME sums, open-boundary Coulomb, charge models.

The energy models live in :mod:`jaxpot.potentials` (``ewald``, ``pme``, ``coulomb``); this
package holds their pure parts: the splitting chosen from an accuracy (:mod:`.splitting`), the
Ewald terms (:mod:`.ewald_sums`), the PME mesh (:mod:`.pme_mesh`), the neutrality check
(:mod:`.neutrality`: on the host before a jitted call, and inside jit) and the charge models
with their fit (:mod:`.charge_models`, :mod:`.charge_fit`).  The fit (which needs the
training-data stack) loads on first use, so the core (``jaxpot.mechanics``) may import the
neutrality check without an import cycle.
"""

from jaxpot.electrostatics.charge_models import (
    ChargeModel,
    default_charge_acsf,
    environment_charges,
    species_charges,
)
from jaxpot.electrostatics.neutrality import NonNeutralCellError, check_model_neutral
from jaxpot.electrostatics.splitting import Splitting, ewald_splitting, pme_mesh_spacing

__all__ = ["ChargeFitResult", "ChargeModel", "NonNeutralCellError", "Splitting",
           "check_model_neutral", "default_charge_acsf", "environment_charges",
           "ewald_splitting", "fit_charges", "pme_mesh_spacing", "species_charges"]


def __getattr__(name: str):
    """``fit_charges`` and ``ChargeFitResult`` from :mod:`.charge_fit`, imported on first use."""
    if name in ("fit_charges", "ChargeFitResult"):
        from jaxpot.electrostatics import charge_fit
        return getattr(charge_fit, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
