"""Potentials linear in their coefficients (SNAP, qSNAP), fitted by weighted ridge least squares."""

from jaxpot.linear.fit import LinearFit, LinearFitSettings, SnapBasis, fit_linear, fit_snap

__all__ = ["LinearFit", "LinearFitSettings", "SnapBasis", "fit_linear", "fit_snap"]
