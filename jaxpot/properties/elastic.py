"""Elastic constants by autodiff: clamped-ion and relaxed-ion 6x6 tensors (GPa, Voigt order).

With engineering Voigt strain e (e4 = 2 eps_yz, ...) applied as ``x -> x (I + eps(e))`` to
positions and cell,

    C_clamped = (1/V) d2E/de de                            (6, 6)
    C_relaxed = C_clamped - (1/V) Lambda^T H^+ Lambda       Lambda = d2E/dr de  (3N, 6)

with H = d2E/dr dr the force-constant matrix and ``H^+`` its pseudo-inverse on the complement of
the three translations (exact internal relaxation, no re-relaxing).  At a stress-free state
these are the usual elastic constants; at a stressed state this is the second derivative of the
energy w.r.t. this strain measure (not the stress-strain coefficients) — relax first.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxpot.model import EnergyModel
from jaxpot.properties._common import prepare, require_periodic, voigt_strain_derivatives
from jaxpot.space import volume
from jaxpot.units import GPa


class Moduli(NamedTuple):
    """Bulk and shear moduli (GPa), Voigt, Reuss and Hill averages."""

    bulk_voigt: float
    bulk_reuss: float
    bulk_hill: float
    shear_voigt: float
    shear_reuss: float
    shear_hill: float


class ElasticResult(NamedTuple):
    clamped: np.ndarray  # (6, 6) GPa
    relaxed: np.ndarray  # (6, 6) GPa
    moduli: Moduli  # of the relaxed tensor
    stable: bool  # Born criterion: relaxed tensor positive definite
    stress_GPa: np.ndarray  # (3, 3) stress of the input state


def elastic_tensors(model: EnergyModel, atoms, translation_tol: float = 1e-8) -> ElasticResult:
    """Clamped- and relaxed-ion elastic tensors, moduli and Born stability of ``atoms``.

    Raises:
        StructureError: ``atoms`` is not periodic along all three lattice vectors.
    """
    prep = prepare(model, require_periodic(atoms, "elastic constants"))
    pos0, cell0 = prep.positions, prep.cell
    vol = float(volume(cell0))
    de_de, d2e_dee, hessian, mixed = (np.asarray(x) for x in voigt_strain_derivatives(
        model, pos0, cell0, prep.species, prep.neighbors))
    clamped = d2e_dee / vol
    n = pos0.shape[0]
    hessian = hessian.reshape(3 * n, 3 * n)
    mixed = mixed.reshape(3 * n, 6)
    w, v = np.linalg.eigh(0.5 * (hessian + hessian.T))
    scale = max(np.abs(w).max(), 1e-300)
    keep = np.abs(w) > translation_tol * scale
    proj = v[:, keep].T @ mixed
    relaxed = clamped - (proj.T @ (proj / w[keep, None])) / vol
    clamped, relaxed = clamped / GPa, relaxed / GPa
    relaxed = 0.5 * (relaxed + relaxed.T)
    # dE/de_k = V sigma_k for engineering Voigt strain (ASE sign: tensile positive)
    s = de_de / vol / GPa
    stress = np.array([[s[0], s[5], s[4]], [s[5], s[1], s[3]], [s[4], s[3], s[2]]])
    return ElasticResult(clamped=0.5 * (clamped + clamped.T), relaxed=relaxed,
                         moduli=moduli(relaxed), stable=born_stable(relaxed),
                         stress_GPa=stress)


def elastic_constants(model: EnergyModel, atoms, clamped: bool = False) -> np.ndarray:
    """6x6 elastic tensor in GPa (Voigt order xx yy zz yz xz xy); relaxed-ion by default."""
    result = elastic_tensors(model, atoms)
    return result.clamped if clamped else result.relaxed


def moduli(c: np.ndarray) -> Moduli:
    """Voigt, Reuss and Hill bulk and shear moduli of a 6x6 stiffness tensor (GPa)."""
    s = np.linalg.inv(c)
    kv = (c[0, 0] + c[1, 1] + c[2, 2] + 2 * (c[0, 1] + c[0, 2] + c[1, 2])) / 9
    gv = (c[0, 0] + c[1, 1] + c[2, 2] - (c[0, 1] + c[0, 2] + c[1, 2])
          + 3 * (c[3, 3] + c[4, 4] + c[5, 5])) / 15
    kr = 1 / (s[0, 0] + s[1, 1] + s[2, 2] + 2 * (s[0, 1] + s[0, 2] + s[1, 2]))
    gr = 15 / (4 * (s[0, 0] + s[1, 1] + s[2, 2]) - 4 * (s[0, 1] + s[0, 2] + s[1, 2])
               + 3 * (s[3, 3] + s[4, 4] + s[5, 5]))
    return Moduli(kv, kr, 0.5 * (kv + kr), gv, gr, 0.5 * (gv + gr))


def born_stable(c: np.ndarray) -> bool:
    """Born mechanical stability: the stiffness tensor is positive definite."""
    return bool(np.all(np.linalg.eigvalsh(0.5 * (c + c.T)) > 0))
