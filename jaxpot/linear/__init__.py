"""Potentials linear in their coefficients (SNAP, qSNAP, MTP), fitted by weighted ridge least
squares (an MTP then by L-BFGS over all its coefficients)."""

from jaxpot.linear.fit import LinearFit, LinearFitSettings, SnapBasis, fit_linear, fit_snap
from jaxpot.linear.mtp_fit import MtpBasis, MtpFit, fit_mtp

__all__ = ["LinearFit", "LinearFitSettings", "MtpBasis", "MtpFit", "SnapBasis", "fit_linear",
           "fit_mtp", "fit_snap"]
