"""Property functions refuse input they cannot answer for, with an error that names the problem
(never a silent wrong number): under-determined or one-sided EOS fits, non-periodic structures,
dynamically unstable crystals in thermodynamics and QHA; and plotting leaves matplotlib's
global backend alone.

Unstable system: bcc Lennard-Jones (unstable in shear, imaginary modes); stable: fcc LJ.
"""

import re

import matplotlib
import numpy as np
import pytest
from ase.build import bulk

from jaxpot.potentials import lennard_jones
from jaxpot.properties.elastic import elastic_constants, elastic_tensors
from jaxpot.properties.eos import (
    birch_murnaghan,
    bulk_modulus,
    equation_of_state,
    fit_birch_murnaghan,
)
from jaxpot.properties.gruneisen import average_gruneisen, gruneisen_modes
from jaxpot.properties.phonon_thermo import thermal_properties
from jaxpot.properties.phonons import gamma_centred_mesh, phonons
from jaxpot.properties.qha import quasi_harmonic
from jaxpot.structure import StructureError
from jaxpot.units import GPa

MODEL = lennard_jones(sigma=1.0, epsilon=1.0, cutoff=2.6)
FCC = bulk("Ar", "fcc", a=1.55)  # stable
BCC = bulk("Ar", "bcc", a=1.23)  # C11 < C12: imaginary shear modes


def bm_energies(volumes, v0=10.0):
    return birch_murnaghan(np.asarray(volumes, float), -1.0, v0, 100.0 * GPa, 4.5)


V_GOOD = np.linspace(9.0, 11.0, 7)


@pytest.mark.parametrize("volumes, energies, message", [
    ([9.5, 10.0, 10.5], None, "too few volumes: 3 for the 4 parameters"),
    ([9.0, 9.5, 10.0, 10.0, 10.5, 11.0], None, r"degenerate volumes: \[10.0\]"),
    (10.0 * (1 + np.linspace(-2e-4, 2e-4, 7)), None, "volume range too narrow"),
    (np.linspace(11.0, 13.0, 7), None, "one-sided volume scan: the fitted V0 = 10"),
    (np.linspace(7.0, 9.0, 7), None, "one-sided .* beyond the upper end"),
    (V_GOOD, np.where(V_GOOD == 10.0, np.nan, bm_energies(V_GOOD)), "non-finite energies"),
    (V_GOOD, -bm_energies(V_GOOD), "E\\(V\\) has no minimum"),
    ([-1.0, 9.0, 10.0, 11.0], np.zeros(4), "volumes must be finite and positive"),
], ids=["too-few", "duplicate", "narrow", "one-sided-low", "one-sided-high", "nan", "concave",
        "negative"])
def test_birch_murnaghan_fit_refuses_undetermined_data(volumes, energies, message):
    energies = bm_energies(volumes) if energies is None else energies
    with pytest.raises(ValueError, match=message):
        fit_birch_murnaghan(volumes, energies)
    fit = fit_birch_murnaghan(V_GOOD, bm_energies(V_GOOD))  # the same checks pass good data
    assert fit.v0 == pytest.approx(10.0, rel=1e-9) and fit.b0 == pytest.approx(100.0, rel=1e-7)


@pytest.mark.parametrize("kwargs, message", [
    (dict(strains=[-0.01, 0.0, 0.01]), "too few volumes"),
    (dict(strains=[-0.01, 0.0, 0.0, 0.01, 0.02]), "degenerate volumes"),
    (dict(strains=[0.0, 1e-5, 2e-5, 3e-5]), "volume range too narrow"),
    (dict(strains=[-0.01, np.nan, 0.01, 0.02]), "finite numbers > -1"),
    (dict(volumes=[10.0, 10.0, 11.0, 12.0]), "degenerate volumes"),
])
def test_equation_of_state_checks_the_scan_before_running_it(kwargs, message):
    with pytest.raises(ValueError, match=message):
        equation_of_state(MODEL, FCC, relax_ions=False, **kwargs)


@pytest.mark.parametrize("pbc", [False, (True, True, False)])
@pytest.mark.parametrize("func", [elastic_constants, elastic_tensors, bulk_modulus,
                                  equation_of_state, phonons, gruneisen_modes, quasi_harmonic])
def test_properties_needing_periodicity_refuse_open_structures(func, pbc):
    atoms = FCC.copy()
    atoms.pbc = pbc
    expected = re.escape(str([bool(p) for p in atoms.pbc]))
    with pytest.raises(StructureError, match=f"needs a periodic structure.*pbc={expected}"):
        func(MODEL, atoms)


@pytest.fixture(scope="module")
def bcc_phonons():
    return phonons(MODEL, BCC, (2, 2, 2))


def test_thermal_properties_refuse_imaginary_modes(bcc_phonons):
    mesh = (4, 4, 4)
    f = bcc_phonons.mesh_frequencies(mesh)
    unstable = f < -1e-3
    unstable[0] = False  # acoustic modes at Gamma are exempt
    n, fmin = int(unstable.sum()), f[unstable].min()
    assert n > 0 and fmin < -1.0
    with pytest.raises(ValueError, match=rf"unstable: {n} imaginary modes .* most negative "
                                         rf"{re.escape(f'{fmin:.4g}')} THz"):
        bcc_phonons.thermal_properties([0.0, 300.0], mesh)
    with pytest.raises(ValueError, match="imaginary modes"):  # frequencies handed in directly
        thermal_properties(f, [300.0])
    # stable fcc (its Gamma acoustic modes are round-off, |f| ~ 1e-6 THz) and a tiny negative
    # mode pass
    stable = phonons(MODEL, FCC, (2, 2, 2))
    assert abs(stable.mesh_frequencies(mesh).min()) < 1e-4
    assert np.all(np.isfinite(stable.thermal_properties([0.0, 300.0], mesh).free_energy))
    g = stable.mesh_frequencies(mesh)
    g[0, :3] = -0.5  # acoustic at the row marked as Gamma: exempt
    thermal_properties(g, [300.0], gamma_index=0)
    g[1, 0] = -5e-4  # within the 1e-3 THz tolerance
    thermal_properties(g, [300.0], gamma_index=0)
    with pytest.raises(ValueError, match="3 imaginary modes .* most negative -0.5 THz"):
        thermal_properties(g, [300.0])
    with pytest.raises(ValueError, match="temperatures must be finite and >= 0 K"):
        thermal_properties(g, [-10.0], gamma_index=0)


def test_average_gruneisen_refuses_imaginary_modes():
    result = gruneisen_modes(MODEL, BCC, (2, 2, 2), gamma_centred_mesh((2, 2, 2)))
    with pytest.raises(ValueError, match="imaginary modes"):
        average_gruneisen(result, 300.0)


def test_qha_refuses_unstable_volume_and_names_it():
    with pytest.raises(ValueError, match=r"QHA volume index 0 .*: dynamically unstable: \d+ "
                                         r"imaginary modes .* most negative -\d"):
        quasi_harmonic(MODEL, BCC, (2, 2, 2), [0.0, 100.0], strains=np.linspace(-0.01, 0.01, 5),
                       mesh=(4, 4, 4))
    with pytest.raises(ValueError, match="strictly increasing"):
        quasi_harmonic(MODEL, FCC, (2, 2, 2), [100.0, 0.0], mesh=(4, 4, 4))


def test_plots_leave_the_global_backend_alone(tmp_path):
    original = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        ph = phonons(MODEL, FCC, (2, 2, 2))
        ph.plot_band_structure(str(tmp_path / "bands.png"), npoints=50)
        ph.plot_dos(str(tmp_path / "dos.png"), mesh=(4, 4, 4))
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(original)
    for name in ("bands.png", "dos.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
