"""Equation of state and relaxation under pressure, on a one-atom fcc Lennard-Jones cell.

References: ASE's ``EquationOfState(eos="birchmurnaghan")`` fit (its pressure -dE/dV by a
central difference of ASE's fitted curve) for the volume of the relaxer under pressure; the
autodiff bulk modulus against ASE's fitted B0 and against the analytic relation
B = (C11 + 2 C12) / 3 of a cubic crystal.
"""

import jax
import numpy as np
import pytest
from ase.build import bulk
from ase.eos import EquationOfState

from jaxpot.potentials import lennard_jones
from jaxpot.properties.elastic import elastic_constants
from jaxpot.properties.eos import bulk_modulus, equation_of_state
from jaxpot.properties.relax import relax
from jaxpot.structure import Structure, StructureError
from jaxpot.testing import CompilationCounter
from jaxpot.units import GPa

jax.config.update("jax_enable_x64", True)

MODEL = lennard_jones(sigma=2.3, epsilon=0.4, cutoff=5.5, smooth=True)


@pytest.fixture(scope="module")
def relaxed_fcc():
    return relax(MODEL, bulk("Cu", "fcc", a=3.6), fmax=1e-6, smax=1e-7).atoms


@pytest.fixture(scope="module")
def scan(relaxed_fcc):
    """E(V) of a Structure input over -10 %..+4 % in volume (exercises the ``volumes`` option)."""
    v = relaxed_fcc.get_volume() * np.linspace(0.90, 1.04, 15)
    return equation_of_state(MODEL, Structure.from_ase(relaxed_fcc), volumes=v, relax_ions=False)


def test_fit_equals_ase_and_autodiff_bulk_modulus(relaxed_fcc, scan):
    np.testing.assert_allclose(scan.volumes, relaxed_fcc.get_volume() * np.linspace(0.90, 1.04, 15),
                               rtol=1e-12)
    v0, e0, b0 = EquationOfState(scan.volumes, scan.energies, eos="birchmurnaghan").fit()
    assert scan.v0 == pytest.approx(v0, rel=1e-6)
    assert scan.e0 == pytest.approx(e0, rel=1e-8)
    assert scan.b0 == pytest.approx(b0 / GPa, rel=1e-4)
    assert scan.v0 == pytest.approx(relaxed_fcc.get_volume(), rel=1e-4)
    b_autodiff = bulk_modulus(MODEL, relaxed_fcc)
    with CompilationCounter() as compiled:  # the elastic constants' program is bulk_modulus's
        c = elastic_constants(MODEL, Structure.from_ase(relaxed_fcc))
        assert bulk_modulus(MODEL, relaxed_fcc) == b_autodiff
    assert compiled.count == 0
    assert b_autodiff == pytest.approx((c[0, 0] + 2 * c[0, 1]) / 3, rel=1e-8)
    assert scan.b0 == pytest.approx(b_autodiff, rel=2e-3)


def test_relaxer_under_pressure_lands_on_the_eos(relaxed_fcc, scan):
    """p = -dE/dV of ASE's Birch-Murnaghan fit at the relaxed volume equals the target."""
    target = 20.0  # about -4.5 % in volume, inside the scanned range
    result = relax(MODEL, relaxed_fcc, pressure=target, fmax=1e-6, smax=1e-6)
    assert result.converged
    np.testing.assert_allclose(result.stress_GPa, -target * np.eye(3), atol=1e-6)
    eos = EquationOfState(scan.volumes, scan.energies, eos="birchmurnaghan")
    eos.fit()
    v, h = result.atoms.get_volume(), 1e-4
    p_fit = -(eos.func(v + h, *eos.eos_parameters) - eos.func(v - h, *eos.eos_parameters)) / (2 * h)
    assert v < relaxed_fcc.get_volume()
    assert p_fit / GPa == pytest.approx(target, rel=3e-3)  # measured 8e-4 (fit error)


def test_unconverged_relaxation_warns_and_bad_input_raises(relaxed_fcc):
    strained = relaxed_fcc.copy()
    strained.set_cell(strained.cell.array * 1.05, scale_atoms=True)
    with pytest.warns(RuntimeWarning, match="did not converge"):
        result = relax(MODEL, strained, max_steps=3, chunk=3)
    assert not result.converged and result.n_steps == 3
    molecule = relaxed_fcc.copy()
    molecule.pbc = False
    with pytest.raises(StructureError, match="periodic"):
        relax(MODEL, molecule)
    with pytest.raises(StructureError, match="periodic"):
        equation_of_state(MODEL, molecule)
