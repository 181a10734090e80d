"""XLA compiler options that jaxpot passes at its own jit sites, per model.

XLA:CPU fuses some elementwise and reduction chains into YNNPACK kernels.  For most models this
is neutral or helps, but the many small (N, K) and (N, S, S) arrays of three-body models run
slower in them: the Stillinger–Weber MD step of 4,096 Si atoms takes 13.3 ms with the
fusions and 10.3 ms without, while LJ and EAM steps do not move (benchmarks/RESULTS.md).
A model says so with ``EnergyModel.cpu_fusions = False``; the MD chunk is then compiled with
the fusions off.  The option is experimental in XLA: where the installed jaxlib does not
know it, or the backend is not a CPU, nothing is passed.
"""

from __future__ import annotations

import functools

import jax

#: XLA:CPU's option that turns the YNNPACK fusions off
YNN_FUSIONS_OFF = (("xla_cpu_experimental_ynn_fusion_type", ""),)


@functools.cache
def _supported(options: tuple) -> bool:
    """Whether this jaxlib compiles a trivial function with ``options`` on the CPU backend."""
    if jax.default_backend() != "cpu":
        return False
    try:
        jax.jit(lambda x: x + 1, compiler_options=dict(options)).lower(1.0).compile()
    except Exception:  # an unknown option: jaxlib raises at compile time
        return False
    return True


def compiler_options(model) -> tuple:
    """The compiler options (a hashable tuple of pairs) for jitted loops over ``model``."""
    if getattr(model, "cpu_fusions", True) or not _supported(YNN_FUSIONS_OFF):
        return ()
    return YNN_FUSIONS_OFF
