"""Floating-point precision policy: no float32 number a model cannot stand behind.

JAX defaults to float32.  Physics-grade results (forces of a perfect crystal at 1e-15 eV/Å
instead of 1e-5, phonons, elastic constants, fits) need float64:

    import jax; jax.config.update("jax_enable_x64", True)    # before creating arrays

Every model declares the precision it needs (:attr:`jaxpot.EnergyModel.precision`):

- ``"float64"``: models fitted by linear algebra in float64 (GAP, SNAP/qSNAP, MTP).  Their
  predictions are large sums of large terms that cancel: a GAP of mlearn Si computed in
  float32 is 35-73 meV/atom and up to 0.19 eV/Å away from its float64 values, ten times its
  own test error (:func:`jaxpot.prediction.float32_deviation` measures it;
  ``tests/test_precision.py``).
  Every entry point (calculator, ``predict``, properties, MD, uncertainty, and the model's
  own ``energy``) refuses to compute such a model in float32 with :class:`PrecisionError`,
  which says how to enable float64.  A model loaded while float64 was off holds float32
  parameters and is refused even after float64 is switched on: load it again.
- ``"float32"``: classic potentials and networks, whose float32 round-off (~1e-5 eV/Å,
  ~1e-6 eV/atom) stays far below a tenth of any fitted model's error.  jaxpot computes them
  in whatever JAX's default is and warns once per process when that is float32.

The ``jaxpot`` command computes every command in float64 (one policy); ``--float32``, where a
command offers it, is refused for a model that needs float64.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence

import jax
import numpy as np

FLOAT64 = "float64"
FLOAT32 = "float32"
PRECISIONS = (FLOAT32, FLOAT64)
ENABLE_X64 = 'jax.config.update("jax_enable_x64", True)'


class PrecisionWarning(UserWarning):
    """jaxpot is computing in float32 (JAX's default)."""


class PrecisionError(RuntimeError):
    """A model that needs float64 was asked to compute in float32."""


def x64_enabled() -> bool:
    return bool(jax.config.jax_enable_x64)


def combined(precisions: Sequence[str]) -> str:
    """The precision a sum of models needs: float64 when any part needs it."""
    return FLOAT64 if FLOAT64 in precisions else FLOAT32


def _has_single_leaves(params) -> bool:
    return any(np.dtype(getattr(leaf, "dtype", np.float64)) == np.float32
               for leaf in jax.tree_util.tree_leaves(params))


def check_precision(model, where: str) -> None:
    """Refuse (:class:`PrecisionError`) a model that needs float64 when float64 is off or its
    parameters are float32; warn once per process that a float32-capable model runs in
    float32.  ``where`` names the entry point for the message (``"jaxpot.predict"``)."""
    if getattr(model, "precision", FLOAT32) == FLOAT64:
        if not x64_enabled():
            raise PrecisionError(
                f"{where}: {model.name} needs float64 (it was fitted in float64, and its "
                "float32 predictions differ by more than a tenth of its own test error), but "
                f"JAX float64 is off. Call {ENABLE_X64} at the start of the script or "
                "notebook, before building or loading the model")
        if _has_single_leaves(model.params):
            raise PrecisionError(
                f"{where}: {model.name} needs float64 but its parameters are float32 (it was "
                "built or loaded while JAX float64 was off); with float64 on, load or build "
                "the model again")
        return
    warn_if_single_precision(where)


def warn_if_single_precision(where: str) -> None:
    """Warn, once per process, that results are float32 (when JAX float64 is off); ``where``
    is kept for callers' readability (the one warning names no entry point)."""
    if not x64_enabled():
        _warn_once()


@functools.cache
def _warn_once() -> None:  # the cache is the "once": later calls, from anywhere, say nothing
    warnings.warn(
        "jaxpot: JAX float64 is off, so jaxpot computes in float32 (forces carry ~1e-5 eV/Å "
        f"round-off; phonons and elastic constants lose digits). Call {ENABLE_X64} before "
        "creating arrays for physics-grade numbers. (Said once per process.)",
        PrecisionWarning, stacklevel=4)
