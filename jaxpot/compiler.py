"""XLA compiler options that jaxpot passes at its own jit sites, per model.

XLA:CPU fuses some elementwise and reduction chains into YNNPACK kernels.  For most models this
is neutral or helps, but the many small (N, K) arrays of the Stillinger–Weber three-body term
run slower in them inside the MD loop: its MD step of 4,096 Si atoms takes 7.0 ms with the
fusions and 4.6 ms without (32,768 atoms: 78 and 43 ms), while LJ and EAM steps do not move
(benchmarks/RESULTS.md and HISTORY.md).  A model says so with
``EnergyModel.cpu_fusions = False``; the MD chunk is then compiled with the fusions off.
Standalone energy + forces keep the default: there the fusions help or hurt by the list's shape
(SW, 4,096 atoms: 3.5 vs 5.6 ms without a skin, 7.6 vs 5.1 ms with a 1 Å skin).  The option is
experimental in XLA: where the installed jaxlib does not know it, or the backend is not a CPU,
nothing is passed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import MappingProxyType
from typing import NamedTuple

import jax

#: XLA:CPU's option that turns the YNNPACK fusions off
YNN_FUSIONS_OFF = (("xla_cpu_experimental_ynn_fusion_type", ""),)

#: options for a program run once, whose run time is nothing next to its compilation (a
#: network's initialisation, MACE's coupling constants): XLA's backend and LLVM's expensive
#: passes off, as ``jax_disable_most_optimizations`` does (PaiNN's initialisation compiled in
#: 5.7-6.7 s, without them 2.6-3.1 s; its weights move by at most 3 ulp)
RUN_ONCE = MappingProxyType({"xla_backend_optimization_level": 0,
                             "xla_llvm_disable_expensive_passes": True})


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


class RunOncePrograms(NamedTuple):
    """One function jitted with XLA's optimisation and without it (:data:`RUN_ONCE`), for a
    program that runs once per call (an MD run's first state, a Hessian): small systems take
    the unoptimised one, which compiles faster, large ones the optimised one, which runs
    faster (the caller's ``max_atoms`` says where its run time starts to matter)."""

    optimised: Callable
    run_once: Callable

    def for_atoms(self, n_atoms: int, max_atoms: int) -> Callable:
        """``run_once`` for up to ``max_atoms`` atoms, else ``optimised``."""
        return self.run_once if n_atoms <= max_atoms else self.optimised


def run_once_programs(fn, **jit_kwargs) -> RunOncePrograms:
    """``fn`` jitted both ways (:class:`RunOncePrograms`); ``jit_kwargs`` go to both."""
    return RunOncePrograms(jax.jit(fn, **jit_kwargs),
                           jax.jit(fn, compiler_options=dict(RUN_ONCE), **jit_kwargs))
