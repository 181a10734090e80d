"""Labelling with the oracle (any ASE calculator): energy, forces, and stress when the
calculator implements it and the cell is periodic; faults caught per call.

Each call starts from a reset calculator (``oracle.reset()``), so its answer does not depend
on earlier calls (EMT's neighbor list would change the last digits): a resumed run's labels
equal an uninterrupted run's.  An oracle call that raises (any ``Exception``;
``KeyboardInterrupt`` still stops the run) or returns a non-finite value is a failed call:
reported to ``on_result`` with its error, never retried.  With ``workers > 1`` and a
picklable oracle the batch runs in a process pool (``concurrent.futures``, spawned
processes: no forked JAX); results are reported as they arrive, each under its own index, so
the labelled frames keep the batch order.  Spawned workers import the main module: a script
keeps its code under ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import pickle
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool

import ase
import numpy as np
from ase.calculators.singlepoint import SinglePointCalculator

_log = logging.getLogger(__name__)

#: ``on_result(batch index, labelled atoms or None, error text or None)``
OnResult = Callable[[int, ase.Atoms | None, str | None], None]


class OracleError(RuntimeError):
    """An oracle result that cannot be used (non-finite energy, forces or stress)."""


def wants_stress(oracle, atoms: ase.Atoms) -> bool:
    """Whether to ask ``oracle`` for stress: it implements it and ``atoms`` is periodic."""
    return "stress" in getattr(oracle, "implemented_properties", ()) and bool(all(atoms.pbc))


def label(atoms: ase.Atoms, oracle) -> ase.Atoms:
    """A bare copy of ``atoms`` carrying the oracle's energy (eV), forces (eV/Å) and stress
    (eV/Å^3, Voigt) in a SinglePointCalculator; OracleError on non-finite values."""
    work = ase.Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell.array,
                     pbc=atoms.pbc)
    if callable(getattr(oracle, "reset", None)):
        oracle.reset()  # no state from earlier calls (EMT's neighbor list): reproducible
    work.calc = oracle
    energy = float(work.get_potential_energy())
    forces = np.array(work.get_forces(), float)
    stress = np.array(work.get_stress(), float) if wants_stress(oracle, work) else None
    for name, value in (("energy", energy), ("forces", forces), ("stress", stress)):
        if value is not None and not np.all(np.isfinite(value)):
            raise OracleError(f"the oracle returned non-finite {name}")
    if forces.shape != (len(atoms), 3):
        raise OracleError(f"the oracle returned forces of shape {forces.shape} for "
                          f"{len(atoms)} atoms")
    out = ase.Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell.array,
                    pbc=atoms.pbc)
    results = {"energy": energy, "forces": forces}
    if stress is not None:
        results["stress"] = stress
    out.calc = SinglePointCalculator(out, **results)
    return out


def _error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"[:500]


def _label_or_error(atoms: ase.Atoms, oracle) -> tuple[ase.Atoms | None, str | None]:
    try:
        return label(atoms, oracle), None
    except Exception as err:  # noqa: BLE001 - any oracle fault is recorded, not raised
        return None, _error_text(err)


def picklable(oracle) -> bool:
    """Whether ``oracle`` can be sent to another process."""
    try:
        pickle.dumps(oracle)
    except Exception:  # noqa: BLE001
        return False
    return True


def label_batch(batch: Sequence[ase.Atoms], oracle, on_result: OnResult,
                workers: int = 1) -> None:
    """Label every structure of ``batch``, calling ``on_result`` as each result arrives."""
    if workers > 1 and len(batch) > 1 and picklable(oracle):
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(min(workers, len(batch)),
                                                    mp_context=context) as pool:
            futures = {pool.submit(_label_or_error, atoms, oracle): i
                       for i, atoms in enumerate(batch)}
            for future in concurrent.futures.as_completed(futures):
                try:
                    result, error = future.result()
                except BrokenProcessPool as err:
                    raise RuntimeError(
                        "active.learn: the oracle's process pool broke (a worker died; spawned "
                        "workers import the main module, so a script must keep its code under "
                        "`if __name__ == '__main__':`); answered calls are saved, rerun to "
                        "resume, or pass workers=1") from err
                on_result(futures[future], result, error)
        return
    if workers > 1 and len(batch) > 1:
        _log.info("active: the oracle cannot be pickled; labelling serially")
    for i, atoms in enumerate(batch):
        result, error = _label_or_error(atoms, oracle)
        on_result(i, result, error)
