"""Mode Grüneisen parameters by differentiating the dynamical matrix w.r.t. volume.

The supercell force constants and their derivative w.r.t. an isotropic linear strain e come from
one ``jax.jvp`` of the Hessian (cell and positions scaled by 1 + e; phases are unchanged because
fractional coordinates are).  With V ∝ (1 + e)^3,

    gamma_qv = -(V / w) dw/dV = -(1 / (6 w^2)) <e_qv| dD/de |e_qv>

and within a degenerate subspace dD/de is diagonalised, so degenerate modes get the right
(basis-independent) values.  Same band order as ``Phonons.frequencies``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxpot.model import EnergyModel
from jaxpot.properties._common import require_periodic
from jaxpot.properties.phonon_thermo import IMAGINARY_TOLERANCE_THZ, check_no_imaginary_modes
from jaxpot.properties.phonons import Phonons, _shortest_vectors, check_supercell, supercell_hessian
from jaxpot.units import sqrt_eV_per_A2_amu_to_THz as THZ


class GruneisenResult(NamedTuple):
    frequencies: np.ndarray  # (nq, 3Np) THz, ascending
    gammas: np.ndarray  # (nq, 3Np), same order
    phonons: Phonons


def gruneisen(model: EnergyModel, atoms, supercell=(3, 3, 3), qpoints=((0.5, 0.5, 0.5),),
              degeneracy_tol: float = 1e-6) -> np.ndarray:
    """Mode Grüneisen parameters (nq, 3Np) at fractional ``qpoints`` of the primitive cell,
    in the band order of ``Phonons.frequencies`` (ascending frequency)."""
    return gruneisen_modes(model, atoms, supercell, qpoints, degeneracy_tol).gammas


def gruneisen_modes(model: EnergyModel, atoms, supercell=(3, 3, 3), qpoints=((0.5, 0.5, 0.5),),
                    degeneracy_tol: float = 1e-6) -> GruneisenResult:
    """Frequencies (THz), Grüneisen parameters and the phonons, at fractional ``qpoints``.

    Raises:
        StructureError: ``atoms`` is not periodic along all three lattice vectors.
        ValueError: ``supercell`` is not three positive integers.
    """
    require_periodic(atoms, "Grüneisen parameters")
    supercell = check_supercell(supercell)
    primitive = atoms.copy()
    sc = primitive.repeat(supercell)
    npr = len(primitive)
    hess, dhess = supercell_hessian(model, sc, strain_derivative=True)
    fc = hess[:npr].transpose(0, 2, 1, 3)
    dfc = dhess[:npr].transpose(0, 2, 1, 3)
    vectors, weights = _shortest_vectors(primitive, sc, npr)
    ph = Phonons(primitive, tuple(supercell), fc, vectors, weights,
                 primitive.get_masses().astype(float))
    q = np.atleast_2d(np.asarray(qpoints, float))
    d = ph.dynamical_matrices(q)
    dd = ph.dynamical_matrices(q, force_constants=dfc)
    freqs, gammas = [], []
    for dq, ddq in zip(d, dd):
        w2, vecs = np.linalg.eigh(dq)
        dw2 = np.empty_like(w2)
        start = 0
        scale = max(np.abs(w2).max(), 1e-30)
        while start < len(w2):
            stop = start + 1
            while stop < len(w2) and abs(w2[stop] - w2[start]) < degeneracy_tol * scale:
                stop += 1
            block = vecs[:, start:stop]
            dw2[start:stop] = np.linalg.eigvalsh(block.conj().T @ ddq @ block)
            start = stop
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(np.abs(w2) > 1e-12 * scale, -dw2 / (6.0 * w2), 0.0)
        freqs.append(np.sign(w2) * np.sqrt(np.abs(w2)) * THZ)
        gammas.append(g)
    return GruneisenResult(np.array(freqs), np.array(gammas), ph)


def average_gruneisen(result_on_mesh: GruneisenResult, temperature: float,
                      imaginary_tolerance: float = IMAGINARY_TOLERANCE_THZ) -> float:
    """Thermodynamic average Grüneisen parameter at ``temperature`` K: the mode heat-capacity
    weighted mean over a (uniform) q-mesh, gamma = sum c_v gamma / sum c_v.

    Raises:
        ValueError: ``temperature`` not finite and > 0 K, or imaginary modes below
            ``-imaginary_tolerance`` THz (the autodiff acoustic modes at q = 0 are zero to
            far better than the default 1e-3 THz).
    """
    from ase import units
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and > 0 K, got {temperature}")
    check_no_imaginary_modes(result_on_mesh.frequencies, imaginary_tolerance)
    f = result_on_mesh.frequencies.reshape(-1)
    g = result_on_mesh.gammas.reshape(-1)
    ok = f > 1e-5
    x = f[ok] * 1e12 * 2 * np.pi * units._hbar / units._e / (units.kB * temperature)
    cv = x ** 2 * np.exp(x) / np.expm1(x) ** 2
    return float(np.sum(g[ok] * cv) / np.sum(cv))
