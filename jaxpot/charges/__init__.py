"""Environment-dependent charge models fitted to reference charges: the fit
(:mod:`.fit`: ``fit_charges``) and its trainable family (:mod:`.family`: ``model = "charges"``
in ``jaxpot fit``), a sibling of GAP, the linear models and the networks on the fitting layer
(:mod:`jaxpot.training`).  The charge models themselves are :mod:`jaxpot.electrostatics`'.
"""

from jaxpot.charges.fit import ChargeFitResult, fit_charges

__all__ = ["ChargeFitResult", "fit_charges"]
