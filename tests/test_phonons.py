"""Phonons, Grüneisen parameters and QHA by autodiff against phonopy 4.x finite displacements
(same potential, same supercell), its Grüneisen module (three volumes) and its QHA."""

import os

import jax
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from lammps_reference import potentials_dir
from phonopy import Phonopy, PhonopyGruneisen, PhonopyQHA
from phonopy.structure.atoms import PhonopyAtoms

from jaxpot.mechanics import energy_forces_stress
from jaxpot.potentials import eam, stillinger_weber
from jaxpot.properties._common import prepare
from jaxpot.properties.gruneisen import average_gruneisen, gruneisen, gruneisen_modes
from jaxpot.properties.phonons import gamma_centred_mesh, phonons
from jaxpot.properties.qha import quasi_harmonic

jax.config.update("jax_enable_x64", True)
SI_A0 = 5.430949  # SW-Si equilibrium lattice constant (tests/test_relax.py)
SPECIAL = {"G": [0, 0, 0], "X": [0.5, 0, 0.5], "L": [0.5, 0.5, 0.5], "W": [0.5, 0.25, 0.75]}
_forces = jax.jit(lambda m, p, c, s, n: energy_forces_stress(m, p, c, s, n,
                                                             compute_stress=False).forces)


def phonopy_reference(model, atoms, supercell, distance=0.01):
    """phonopy finite displacements with forces from the same jaxpot model."""
    unit = PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=atoms.cell.array,
                        scaled_positions=atoms.get_scaled_positions(),
                        masses=atoms.get_masses())
    ph = Phonopy(unit, supercell_matrix=np.diag(supercell), primitive_matrix="P")
    ph.generate_displacements(distance=distance, is_plusminus=True)
    forces = []
    for sc in ph.supercells_with_displacements:
        a = Atoms(sc.symbols, cell=sc.cell, scaled_positions=sc.scaled_positions, pbc=True)
        prep = prepare(model, a)
        forces.append(np.asarray(_forces(model, prep.positions, prep.cell, prep.species,
                                         prep.neighbors)))
    ph.forces = forces
    ph.produce_force_constants()
    return ph


def phonopy_frequencies(ph, q):
    ph.run_qpoints(q)
    return ph.qpoints.frequencies


@pytest.fixture(scope="module")
def silicon():
    model = stillinger_weber()
    atoms = bulk("Si", "diamond", a=SI_A0)
    return (model, atoms, phonons(model, atoms, (3, 3, 3)),
            phonopy_reference(model, atoms, (3, 3, 3)))


@pytest.fixture(scope="module")
def copper():
    model = eam(os.path.join(potentials_dir(), "Cu_mishin1.eam.alloy"))
    atoms = bulk("Cu", "fcc", a=3.615)
    return (model, atoms, phonons(model, atoms, (4, 4, 4)),
            phonopy_reference(model, atoms, (4, 4, 4)))


@pytest.mark.parametrize("system", ["silicon", "copper"])
def test_frequencies_match_phonopy_at_special_points_and_along_the_path(system, request):
    model, atoms, ours, ref = request.getfixturevalue(system)
    q = np.array(list(SPECIAL.values()))
    np.testing.assert_allclose(ours.frequencies(q), phonopy_frequencies(ref, q), atol=0.01)
    bandpath, freqs = ours.band_structure(npoints=60)
    np.testing.assert_allclose(freqs, phonopy_frequencies(ref, bandpath.kpts), atol=0.01)
    assert ours.acoustic_sum_rule_violation() < 1e-10
    assert np.all(ours.frequencies(q)[0, :3] == pytest.approx(0.0, abs=1e-5))


def test_silicon_optical_gamma_against_published_sw_value(silicon):
    """SW silicon's Gamma optical mode is 17.8 THz (e.g. Karimi et al., PRB 58, 6019; the
    SW model overestimates DFT's 15.1 THz): a sanity check on units, not an exact reference."""
    _, _, ours, _ = silicon
    assert ours.frequencies([[0, 0, 0]])[0, 3:] == pytest.approx(17.83, abs=0.05)


def test_dos_and_thermal_properties_match_phonopy(silicon):
    _, _, ours, ref = silicon
    mesh = (8, 8, 8)
    ref.run_mesh(mesh, is_gamma_center=True, is_mesh_symmetry=False)
    ref.run_total_dos(sigma=0.3, freq_min=0.0, freq_max=18.0, freq_pitch=0.2)
    ref_dos = ref.total_dos.dos
    f, dos = ours.dos(mesh, sigma=0.3, frequencies=ref.total_dos.frequency_points)
    np.testing.assert_allclose(dos, ref_dos, atol=2e-3 * ref_dos.max())
    temps = np.array([0.0, 100.0, 300.0, 800.0])
    ref.run_thermal_properties(temperatures=temps, cutoff_frequency=1e-5)
    tp_ref = ref.thermal_properties  # phonopy's ThermalProperties (kJ/mol, J/K/mol)
    tp = ours.thermal_properties(temps, mesh)
    np.testing.assert_allclose(tp_ref.temperatures, temps)
    np.testing.assert_allclose(tp.free_energy, tp_ref.free_energy, atol=2e-3)
    np.testing.assert_allclose(tp.entropy, tp_ref.entropy, atol=1e-2)
    np.testing.assert_allclose(tp.heat_capacity, tp_ref.heat_capacity, atol=1e-2)


def test_gruneisen_matches_phonopy_three_volumes(silicon):
    """phonopy's Grüneisen module from phonons at V0 and V0 (1 +- 0.6 %) (its FD error ~1e-3)."""
    model, atoms, _, ref = silicon
    strain = 0.002
    others = []
    for s in (strain, -strain):
        a = atoms.copy()
        a.set_cell(atoms.cell.array * (1 + s), scale_atoms=True)
        others.append(phonopy_reference(model, a, (3, 3, 3)))
    pg = PhonopyGruneisen(ref, others[0], others[1])
    pg.set_mesh((4, 4, 4), is_gamma_center=True, is_mesh_symmetry=False)
    qpoints, _, freqs_ref, _, gammas_ref = pg.get_mesh()
    ours = gruneisen_modes(model, atoms, (3, 3, 3), qpoints)
    nonzero = freqs_ref > 0.5
    np.testing.assert_allclose(ours.frequencies, freqs_ref, atol=0.01)
    np.testing.assert_allclose(ours.gammas[nonzero], gammas_ref[nonzero], atol=5e-3)
    np.testing.assert_array_equal(gruneisen(model, atoms, (3, 3, 3), qpoints[:2]), ours.gammas[:2])
    # thermodynamic average: C_v-weighted mean of phonopy's mode gammas on the same mesh
    from ase import units
    f, g = freqs_ref[nonzero], gammas_ref[nonzero]
    x = f * 1e12 * 2 * np.pi * units._hbar / units._e / (units.kB * 300.0)
    cv = x ** 2 * np.exp(x) / np.expm1(x) ** 2
    assert average_gruneisen(ours, 300.0) == pytest.approx(np.sum(cv * g) / np.sum(cv), abs=2e-3)


def test_qha_thermal_expansion_matches_phonopy_qha(silicon):
    """Same E(V) and phonon free energies handed to phonopy's PhonopyQHA (Birch-Murnaghan)."""
    model, atoms, _, _ = silicon
    temps = np.arange(0.0, 601.0, 20.0)
    ours = quasi_harmonic(model, atoms, (2, 2, 2), temps, strains=np.linspace(-0.01, 0.01, 5),
                          mesh=(6, 6, 6), relax_ions=False)  # diamond: no free internal DOF
    ref = PhonopyQHA(volumes=ours.scan_volumes, electronic_energies=ours.electronic_energies,
                     temperatures=temps, free_energy=ours.free_energies,
                     cv=ours.heat_capacities, entropy=ours.entropies, eos="birch_murnaghan")
    n = len(ref.volume_temperature)
    np.testing.assert_allclose(ours.volumes[:n], ref.volume_temperature, rtol=1e-6)
    np.testing.assert_allclose(ours.bulk_modulus[:n], ref.bulk_modulus_temperature, rtol=1e-4)
    inner = slice(2, n - 2)  # phonopy differentiates V(T) by its own finite differences
    # phonopy reports the volumetric coefficient beta = 3 alpha (alpha: linear, what we return)
    np.testing.assert_allclose(3 * ours.thermal_expansion[inner],
                               np.asarray(ref.thermal_expansion)[inner], atol=2e-8)


def test_plots_are_written(silicon, tmp_path):
    _, _, ours, _ = silicon
    ours.plot_band_structure(str(tmp_path / "bands.png"))
    ours.plot_dos(str(tmp_path / "dos.png"), mesh=(6, 6, 6))
    for name in ("bands.png", "dos.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_gamma_centred_mesh():
    q = gamma_centred_mesh((2, 3, 1))
    assert q.shape == (6, 3) and np.allclose(q[0], 0) and np.allclose(q[-1], [0.5, 2 / 3, 0])


def test_two_species_phonons_match_phonopy():
    """Multi-species check: L1_2 Cu3Al with the AlCu setfl EAM (2x2x2 supercell of 4 atoms)."""
    from ase.build import bulk as _bulk
    model = eam(os.path.join(potentials_dir(), "AlCu.eam.alloy"))
    atoms = _bulk("Cu", "fcc", a=3.68, cubic=True)
    atoms.symbols[0] = "Al"
    ours = phonons(model, atoms, (2, 2, 2))
    ref = phonopy_reference(model, atoms, (2, 2, 2))
    q = np.array([[0, 0, 0], [0.5, 0, 0], [0.5, 0.5, 0], [0.5, 0.5, 0.5], [0.2, 0.1, 0.3]])
    np.testing.assert_allclose(ours.frequencies(q), phonopy_frequencies(ref, q), atol=0.01)
