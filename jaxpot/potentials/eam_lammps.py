"""LAMMPS's EAM tables (``pair_style eam*``): the grids LAMMPS splines and its cubic splines.

setfl and fs tables are splined as the file gives them.  A funcfl file is first resampled as
LAMMPS's ``PairEAM::file2array`` does for one file: onto ``int((n-1) delta / delta + 0.5)``
points of the same spacing, one fewer than the file's, by LAMMPS's 4-point Lagrange formula
(equal to the file's values to round-off), so the file's last point is dropped and the
spline's end slopes move to the point before.  Beyond the resampled table (a file whose cutoff
is its last point, as ``Cu_smf7.eam``: r within one dr of the cutoff) LAMMPS holds the last
value; F(rho) above the table is extrapolated from the file's own ``(nrho-1) drho``
(``rho_max``), not from the resampled table's end.  The pair table of a funcfl file is
``r phi = 27.2*0.529 Z(r)^2``.
"""

from __future__ import annotations

import numpy as np

from jaxpot.potentials.eam_files import EAMTables

LAMMPS_FUNCFL_CONSTANT = 27.2 * 0.529  # eV Å per (effective charge)^2, LAMMPS pair_eam.cpp


def lammps_slopes(f: np.ndarray) -> np.ndarray:
    """LAMMPS ``PairEAM::interpolate``: cubic per interval in p in [0, 1], returned in the
    power basis of dx = p * delta after scaling by the caller: (n-1, 4) of [s3, s4, s5, s6]."""
    n = f.shape[-1]
    s5 = np.empty_like(f)
    s5[..., 0] = f[..., 1] - f[..., 0]
    s5[..., 1] = 0.5 * (f[..., 2] - f[..., 0])
    s5[..., n - 2] = 0.5 * (f[..., n - 1] - f[..., n - 3])
    s5[..., n - 1] = f[..., n - 1] - f[..., n - 2]
    s5[..., 2:n - 2] = ((f[..., 0:n - 4] - f[..., 4:n])
                        + 8.0 * (f[..., 3:n - 1] - f[..., 1:n - 3])) / 12.0
    d = f[..., 1:] - f[..., :-1]
    s4 = 3.0 * d - 2.0 * s5[..., :-1] - s5[..., 1:]
    s3 = s5[..., :-1] + s5[..., 1:] - 2.0 * d
    return np.stack([s3, s4, s5[..., :-1], f[..., :-1]], axis=-1)


def lammps_family(values: np.ndarray, delta: float) -> dict:
    """values (..., n) on a uniform grid -> breaks (n,), coeffs (..., n-1, 4) in powers of dx."""
    local = lammps_slopes(values)
    scale = np.array([delta ** -3, delta ** -2, delta ** -1, 1.0])
    n = values.shape[-1]
    return {"breaks": np.arange(n) * delta, "coeffs": local * scale}


def funcfl_resample(values: np.ndarray, delta: float) -> np.ndarray:
    """LAMMPS ``file2array`` for one funcfl file: the table (..., n) on the grid LAMMPS
    splines, ``int((n-1) delta / delta + 0.5)`` points of spacing ``delta``, each from the
    4-point Lagrange formula of the file's points around it (same operations, same order)."""
    n_file = values.shape[-1]
    n = int((n_file - 1) * delta / delta + 0.5)
    p = np.arange(n) * delta / delta + 1.0
    k = np.maximum(np.minimum(p.astype(np.int64), n_file - 2), 2)
    p = np.minimum(p - k, 2.0)
    sixth = 1.0 / 6.0
    cof1 = -sixth * p * (p - 1.0) * (p - 2.0)
    cof2 = 0.5 * (p * p - 1.0) * (p - 2.0)
    cof3 = -0.5 * p * (p + 1.0) * (p - 2.0)
    cof4 = sixth * p * (p * p - 1.0)
    f = values  # LAMMPS's 1-based f[k-1], f[k], f[k+1], f[k+2]
    return (cof1 * f[..., k - 2] + cof2 * f[..., k - 1] + cof3 * f[..., k]
            + cof4 * f[..., k + 1])


def lammps_params(t: EAMTables) -> dict:
    """Spline coefficients of F, rho and r*phi on the grids LAMMPS uses (see module doc)."""
    s = len(t.elements)
    embedding, density, rphi = t.embedding, t.density, t.rphi
    if t.form == "funcfl":
        embedding = funcfl_resample(embedding, t.drho)
        density = funcfl_resample(density, t.dr)
        z = funcfl_resample(rphi, t.dr)
        rphi = LAMMPS_FUNCFL_CONSTANT * z * z
    return {"embedding": lammps_family(embedding, t.drho),
            "density": lammps_family(density.reshape(s * s, -1), t.dr),
            "pair": lammps_family(rphi.reshape(s * s, -1), t.dr)}


def lammps_rho_max(t: EAMTables) -> float | None:
    """Where LAMMPS starts extrapolating F linearly when it is not the table's end: the funcfl
    file's ``(nrho-1) drho`` (None for setfl and fs, whose table ends there)."""
    return float((t.nrho - 1) * t.drho) if t.form == "funcfl" else None
