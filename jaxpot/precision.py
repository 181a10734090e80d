"""Floating-point precision policy: jaxpot computes in JAX's default dtype and says so.

JAX defaults to float32.  Physics-grade results (forces of a perfect crystal at 1e-15 eV/Å
instead of 1e-5, phonons, elastic constants, fits) need float64:

    import jax; jax.config.update("jax_enable_x64", True)    # before creating arrays

jaxpot does not switch precision behind the user's back (float32 is a legitimate choice for
MD speed); its entry points (calculator, predict, properties) warn once when x64 is off.
"""

from __future__ import annotations

import warnings

import jax


class PrecisionWarning(UserWarning):
    """jaxpot is computing in float32 (JAX's default)."""


def x64_enabled() -> bool:
    return bool(jax.config.jax_enable_x64)


def warn_if_single_precision(where: str) -> None:
    """Warn (once per process, Python's default filter) that results are float32."""
    if not x64_enabled():
        warnings.warn(
            f"{where}: JAX float64 is off, so jaxpot computes in float32 (forces carry ~1e-5 "
            "eV/Å round-off, phonons and elastic constants lose digits). For physics-grade "
            'numbers call jax.config.update("jax_enable_x64", True) before creating arrays.',
            PrecisionWarning, stacklevel=3)
