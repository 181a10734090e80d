"""Long-range electrostatics: Ewald and smooth-PME sums, open-boundary Coulomb, charge models.

The energy models live in :mod:`jaxpot.potentials` (``ewald``, ``pme``, ``coulomb``); this
package holds their pure parts: the splitting chosen from an accuracy (:mod:`.splitting`), the
Ewald terms (:mod:`.ewald_sums`), the PME mesh (:mod:`.pme_mesh`), the neutrality check
(:mod:`.neutrality`: on the host before a jitted call, and inside jit) and the charge models
(:mod:`.charge_models`).  Their fit is a trainable family beside GAP, the linear models and the
networks (:mod:`jaxpot.charges`); ``fit_charges`` and ``ChargeFitResult`` are re-exported here,
loaded on first use, so this package does not depend on the fitting layer.
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
    """``fit_charges`` and ``ChargeFitResult`` from :mod:`jaxpot.charges.fit`, on first use."""
    if name in ("fit_charges", "ChargeFitResult"):
        import importlib
        return getattr(importlib.import_module("jaxpot.charges.fit"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
