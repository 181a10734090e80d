"""Elastic constants and EOS: analytic LJ lattice sums (Born/Huang, Cauchy relation), finite-
difference stress-strain with ASE (ionic relaxation by ASE's BFGS), published SW-Si and
Mishin-Cu constants, pymatgen's Voigt/Reuss/Hill moduli, ASE's Birch-Murnaghan fit."""

import os

import jax
import numpy as np
import pytest
from ase.build import bulk
from ase.eos import EquationOfState
from ase.optimize import BFGS
from lammps_reference import potentials_dir
from scipy.optimize import brentq

from jaxpot.calculator import JaxpotCalculator
from jaxpot.potentials import eam, lennard_jones, stillinger_weber
from jaxpot.properties.elastic import elastic_tensors, moduli
from jaxpot.properties.eos import bulk_modulus, equation_of_state
from jaxpot.units import GPa

jax.config.update("jax_enable_x64", True)


def fcc_neighbor_vectors(a, rmax):
    n = int(np.ceil(rmax / a)) + 1
    g = np.arange(-n, n + 1)
    cells = np.array(np.meshgrid(g, g, g, indexing="ij")).reshape(3, -1).T
    basis = np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])
    vec = (cells[:, None, :] + basis[None]).reshape(-1, 3) * a
    d = np.linalg.norm(vec, axis=1)
    return vec[(d > 0) & (d < rmax)]


def test_lennard_jones_fcc_matches_analytic_lattice_sums():
    """Born/Huang: at zero pressure
    C_abcd = 1/(2 Omega) sum_j (phi'' - phi'/r) x_a x_b x_c x_d / r^2,
    with Cauchy's relation C12 = C44; lattice sums done here in NumPy."""
    sigma, eps, rc = 1.0, 1.0, 2.6
    d1 = lambda r: 4 * eps * (-12 * sigma ** 12 / r ** 13 + 6 * sigma ** 6 / r ** 7)  # noqa: E731
    d2 = lambda r: 4 * eps * (156 * sigma ** 12 / r ** 14 - 42 * sigma ** 6 / r ** 8)  # noqa: E731

    def pressure_sum(a):
        v = fcc_neighbor_vectors(a, rc)
        r = np.linalg.norm(v, axis=1)
        return np.sum(d1(r) * r)

    a0 = brentq(pressure_sum, 1.45, 1.65)
    v = fcc_neighbor_vectors(a0, rc)
    r = np.linalg.norm(v, axis=1)
    b = (d2(r) - d1(r) / r) / r ** 2
    omega = a0 ** 3 / 4
    c11 = np.sum(b * v[:, 0] ** 4) / (2 * omega)
    c12 = np.sum(b * v[:, 0] ** 2 * v[:, 1] ** 2) / (2 * omega)
    result = elastic_tensors(lennard_jones(sigma=sigma, epsilon=eps, cutoff=rc),
                             bulk("Ar", "fcc", a=a0, cubic=True))
    c = result.relaxed * GPa  # back to eV/Å^3 (reduced units here)
    assert c[0, 0] == pytest.approx(c11, rel=1e-10)
    assert c[0, 1] == pytest.approx(c12, rel=1e-10)
    assert c[3, 3] == pytest.approx(c12, rel=1e-10)  # Cauchy relation
    np.testing.assert_allclose(result.relaxed, result.clamped, atol=1e-8)  # Bravais lattice


def finite_difference_relaxed(model, atoms, h=2e-3, relax_ions=True, columns=(0, 3)):
    """Columns j of C_ij = d sigma_i / d e_j by central differences of ASE stresses, ions relaxed
    by ASE's BFGS (for cubic crystals columns 0 and 3 hold C11, C12 and C44)."""
    c = np.zeros((6, len(columns)))
    for col, j in enumerate(columns):
        stresses = []
        for sign in (-1, 1):
            e = np.zeros(6)
            e[j] = sign * h
            eps = np.array([[e[0], e[5] / 2, e[4] / 2], [e[5] / 2, e[1], e[3] / 2],
                            [e[4] / 2, e[3] / 2, e[2]]])
            strained = atoms.copy()
            strained.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
            strained.calc = JaxpotCalculator(model)
            if relax_ions:
                BFGS(strained, logfile=None).run(fmax=1e-7, steps=200)
            stresses.append(strained.get_stress())
        c[:, col] = (stresses[1] - stresses[0]) / (2 * h) / GPa
    return c


@pytest.fixture(scope="module")
def silicon():
    atoms = bulk("Si", "diamond", a=5.430949)
    return atoms, elastic_tensors(stillinger_weber(), atoms)


def test_silicon_relaxed_and_clamped_against_finite_differences(silicon):
    atoms, result = silicon
    np.testing.assert_allclose(result.relaxed[:, [0, 3]],
                               finite_difference_relaxed(stillinger_weber(), atoms), atol=0.05)
    np.testing.assert_allclose(result.clamped[:, [0, 3]],
                               finite_difference_relaxed(stillinger_weber(), atoms,
                                                         relax_ions=False),
                               atol=0.05)
    # published SW-Si (Cowley, PRB 1988 / LAMMPS): C11 151.4, C12 76.4, C44 56.4 GPa (relaxed)
    c = result.relaxed
    assert (c[0, 0], c[0, 1], c[3, 3]) == pytest.approx((151.4, 76.4, 56.4), abs=0.2)
    assert result.clamped[3, 3] > c[3, 3] + 40  # internal relaxation softens C44 strongly
    assert result.stable


def test_moduli_equal_pymatgen(silicon):
    from pymatgen.analysis.elasticity import ElasticTensor
    _, result = silicon
    ref = ElasticTensor.from_voigt(result.relaxed)
    m = moduli(result.relaxed)
    assert m.bulk_voigt == pytest.approx(ref.k_voigt, rel=1e-10)
    assert m.bulk_reuss == pytest.approx(ref.k_reuss, rel=1e-10)
    assert m.shear_voigt == pytest.approx(ref.g_voigt, rel=1e-10)
    assert m.shear_reuss == pytest.approx(ref.g_reuss, rel=1e-10)
    assert m.shear_hill == pytest.approx(ref.g_vrh, rel=1e-10)


def test_mishin_copper_published_constants_and_finite_differences():
    """Mishin et al. PRB 63, 224106 (2001): C11 169.9, C12 122.6, C44 76.2 GPa.

    The tabulated Mishin functions have a kink at the equilibrium density (finite differences
    there converge to the autodiff value only linearly in the step), so the finite-difference
    check uses Foiles' smooth Cu_u3 funcfl potential at its own relaxed lattice constant."""
    atoms = bulk("Cu", "fcc", a=3.615)
    c = elastic_tensors(eam(os.path.join(potentials_dir(), "Cu_mishin1.eam.alloy")), atoms).relaxed
    assert (c[0, 0], c[0, 1], c[3, 3]) == pytest.approx((169.9, 122.6, 76.2), abs=0.2)
    smooth = eam(os.path.join(potentials_dir(), "Cu_u3.eam"), interpolation="ase")
    def pressure(a):
        trial = bulk("Cu", "fcc", a=a)
        trial.calc = JaxpotCalculator(smooth)
        return trial.get_stress()[0]

    relaxed = bulk("Cu", "fcc", a=brentq(pressure, 3.55, 3.68, xtol=1e-12))
    np.testing.assert_allclose(elastic_tensors(smooth, relaxed).relaxed[:, [0, 3]],
                               finite_difference_relaxed(smooth, relaxed, h=5e-4,
                                                         relax_ions=False), atol=0.02)


def test_unstable_crystal_fails_born_criterion():
    """bcc LJ is mechanically unstable (C11 < C12): Born's criterion must say so."""
    result = elastic_tensors(lennard_jones(sigma=1.0, epsilon=1.0, cutoff=2.6),
                             bulk("Ar", "bcc", a=1.23, cubic=True))
    assert not result.stable


def test_reported_stress_equals_finite_differences_of_the_energy():
    """The input state's stress (GPa, ASE sign) of a sheared, rattled, compressed cell."""
    from jaxpot.testing import finite_difference_stress
    model = stillinger_weber()
    atoms = bulk("Si", "diamond", a=5.3)
    atoms.set_cell(atoms.cell.array + [[0.0, 0.1, 0.0], [0.05, 0.0, 0.0], [0.0, 0.0, 0.1]],
                   scale_atoms=True)
    atoms.rattle(0.05, seed=1)
    ref = atoms.copy()
    ref.calc = JaxpotCalculator(model)

    def energy(p, c):
        ref.set_cell(c)
        ref.positions = p
        return ref.get_potential_energy()
    fd = finite_difference_stress(energy, atoms.positions, atoms.cell.array) / GPa
    stress = elastic_tensors(model, atoms).stress_GPa
    assert np.abs(stress).max() > 1.0
    np.testing.assert_allclose(stress, fd, atol=1e-5)


def test_eos_fit_matches_ase_and_autodiff_bulk_modulus(silicon):
    atoms, result = silicon
    fit = equation_of_state(stillinger_weber(), atoms, strains=np.linspace(-0.01, 0.01, 7),
                            relax_ions=False)
    ref = EquationOfState(fit.volumes, fit.energies, eos="birchmurnaghan")
    v0, e0, b0 = ref.fit()
    assert fit.v0 == pytest.approx(v0, rel=1e-6)
    assert fit.e0 == pytest.approx(e0, rel=1e-8)
    assert fit.b0 == pytest.approx(b0 / GPa, rel=1e-4)
    b_autodiff = bulk_modulus(stillinger_weber(), atoms)
    # equal up to terms proportional to the residual stress (~1e-6 GPa here)
    assert b_autodiff == pytest.approx((result.relaxed[0, 0] + 2 * result.relaxed[0, 1]) / 3,
                                       rel=1e-5)
    assert fit.b0 == pytest.approx(b_autodiff, rel=3e-3)
