"""`jaxpot.predict`: energies, forces, stresses of many structures in few jitted calls.

    result = jaxpot.predict(model, frames)          # frames: list of ase.Atoms
    result.energy      (n,) eV
    result.forces      list of (N_i, 3) eV/Å
    result.stress      (n, 6) eV/Å^3, Voigt xx yy zz yz xz xy, ASE sign; NaN rows for frames
                       that are not periodic in 3D
    result.energies    list of (N_i,) eV per-atom energies (None if the model has none)

Frames are padded into a few bucket shapes (:mod:`jaxpot.batch`), so a training set of
hundreds of structures of different sizes compiles a handful of times, not once per size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import numpy as np

from jaxpot.batch import (
    PREDICT_BATCH,
    check_frames,
    evaluate_batch,
    frame_pairs,
    packed_batches,
    plan_buckets,
)
from jaxpot.model import EnergyModel
from jaxpot.precision import ENABLE_X64, FLOAT32, PrecisionError, check_precision, x64_enabled
from jaxpot.space import VOIGT_PAIRS
from jaxpot.structure import check_frames as atoms_list

_VOIGT_ROWS, _VOIGT_COLS = (np.array(x) for x in zip(*VOIGT_PAIRS))


class Prediction(NamedTuple):
    """energy (n,) eV, forces [(N_i,3)] eV/Å, stress (n,6) eV/Å^3 Voigt, energies [(N_i,)] eV."""

    energy: np.ndarray
    forces: list
    stress: np.ndarray
    energies: list | None

    @property
    def n_structures(self) -> int:
        return len(self.energy)

    def annotate(self, frames: Sequence, prefix: str = "jaxpot_") -> list:
        """Copies of ``frames`` carrying these predictions, for an extxyz file (the reference
        labels kept beside them): ``info[prefix + "energy"]`` eV, ``arrays[prefix +
        "forces"]`` eV/Å, ``info[prefix + "stress"]`` (6,) eV/Å^3 Voigt, ASE's sign (3D cells
        only), ``arrays[prefix + "energies"]`` eV where the model has per-atom energies."""
        from ase.calculators.singlepoint import SinglePointCalculator
        out = []
        for i, atoms in enumerate(frames):
            a = atoms.copy()  # Atoms.copy drops the calculator: keep reference labels read there
            results = getattr(atoms.calc, "results", None)
            if results:
                a.calc = SinglePointCalculator(a, **results)
            a.info[prefix + "energy"] = float(self.energy[i])
            a.arrays[prefix + "forces"] = np.asarray(self.forces[i], float)
            if np.all(np.isfinite(self.stress[i])):
                a.info[prefix + "stress"] = np.asarray(self.stress[i], float)
            if self.energies is not None:
                a.arrays[prefix + "energies"] = np.asarray(self.energies[i], float)
            out.append(a)
        return out


def predict(model: EnergyModel, frames: Sequence, batch_size: int | None = None, *,
            progress: bool | None = None) -> Prediction:
    """Evaluate ``model`` on every ``ase.Atoms`` in ``frames``.

    Args:
        model: any jaxpot model. frames: a list of ``ase.Atoms`` (one ``Atoms`` also works).
        batch_size: structures per jitted call (default: ``PREDICT_BATCH``, fewer where a
            memory budget asks; a bucket's last call is padded).
        progress: show a progress bar (default: for 50 frames or more).

    Returns:
        :class:`Prediction`; NumPy float64 arrays in eV, eV/Å, eV/Å^3.
    """
    if not isinstance(model, EnergyModel):
        raise TypeError(f"predict needs a jaxpot EnergyModel, got {type(model)!r}")
    if hasattr(frames, "positions"):  # one ase.Atoms
        frames = [frames]
    frames = atoms_list(frames, "predict: frames")
    if not frames:
        raise ValueError("predict got no frames")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    check_precision(model, "jaxpot.predict")
    check_frames(model, frames)
    pairs = [frame_pairs(model, atoms) for atoms in frames]
    buckets = plan_buckets(frames, pairs, pad_atoms=model.atomic_energies_fn is not None,
                           batch_size=batch_size, max_batch=PREDICT_BATCH)
    n = len(frames)
    energy = np.zeros(n)
    stress = np.full((n, 6), np.nan)
    forces: list = [None] * n
    energies: list | None = [None] * n if model.atomic_energies_fn is not None else None
    show = n >= 50 if progress is None else progress
    bar = _progress(sum(len(b.indices) for b in buckets), show)
    for members, batch in packed_batches(model, frames, pairs, buckets):
        res = evaluate_batch(model, batch)
        e, f, s = (np.asarray(x, dtype=float) for x in res[:3])
        per_atom = None if res.energies is None else np.asarray(res.energies, dtype=float)
        for slot, i in enumerate(members):
            atoms = frames[i]
            m = len(atoms)
            energy[i] = e[slot]
            forces[i] = f[slot, :m].copy()
            if all(atoms.pbc) and atoms.cell.rank == 3:
                stress[i] = s[slot][_VOIGT_ROWS, _VOIGT_COLS]
            if energies is not None:
                energies[i] = per_atom[slot, :m].copy()
        bar.update(len(members))
    bar.close()
    return Prediction(energy=energy, forces=forces, stress=stress, energies=energies)


def _progress(total: int, show: bool):
    from jaxpot.progress import progress_bar
    return progress_bar(total=total, disable=not show, unit="frame", desc="jaxpot.predict")


def float32_deviation(model, frames) -> dict:
    """How far ``model``'s float32 predictions are from its float64 ones on ``frames``
    (ase.Atoms; float64 must be on): ``{"energy_per_atom": eV, "forces": eV/Å}``, the largest
    absolute differences.  The evidence behind a family's declared precision."""
    if not x64_enabled():
        raise PrecisionError(f"float32_deviation compares with float64: call {ENABLE_X64}")
    reference = predict(model.replace(precision=FLOAT32), frames, progress=False)
    with jax.enable_x64(False):
        single = model.replace(
            precision=FLOAT32,
            params=jax.tree_util.tree_map(
                lambda x: np.asarray(x, np.float32)
                if np.issubdtype(np.asarray(x).dtype, np.floating) else x, model.params))
        low = predict(single, frames, progress=False)
    sizes = np.array([len(a) for a in frames])
    forces = max(float(np.max(np.abs(a - b))) for a, b in zip(low.forces, reference.forces))
    return {"energy_per_atom": float(np.max(np.abs(low.energy - reference.energy) / sizes)),
            "forces": forces}
