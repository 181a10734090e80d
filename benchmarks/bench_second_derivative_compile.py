"""Compile and run time of the second-derivative programs with and without XLA's optimisation
(``jaxpot.compiler.RUN_ONCE``) for a saved model: elastic constants of 2-atom diamond Si
(``voigt_strain_derivatives``) and force constants of its 3x3x3 supercell (54 atoms), each
the library's own program of that kind (``RunOncePrograms.run_once`` / ``.optimised``).

    jaxpot fit     # writes si_gap.jaxpot (the README's main job)
    python benchmarks/bench_second_derivative_compile.py --model si_gap.jaxpot --mode once
    python benchmarks/bench_second_derivative_compile.py --model si_gap.jaxpot --mode default
"""

import argparse
import importlib
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
from ase.build import bulk  # noqa: E402

import jaxpot  # noqa: E402
from jaxpot.properties._common import _voigt_programs, prepare  # noqa: E402

phonons = importlib.import_module("jaxpot.properties.phonons")


def timed(program, *args, **kwargs):
    """(compile s, first run s, result) of ``program`` jitted and lowered for ``args``."""
    t0 = time.perf_counter()
    compiled = program.lower(*args, **kwargs).compile()
    t1 = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    return t1 - t0, time.perf_counter() - t1, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--mode", choices=("once", "default"), required=True)
    args = p.parse_args()
    model = jaxpot.load(args.model)
    kind = "run_once" if args.mode == "once" else "optimised"
    si = bulk("Si", "diamond", a=5.4684)
    cell = prepare(model, si)
    c, r, out = timed(getattr(_voigt_programs, kind), model, cell.positions, cell.cell,
                      cell.species, cell.neighbors)
    print(f"{args.mode}: elastic (2 atoms) compile {c:.1f} s, run {r:.3f} s, "
          f"d2E/de1de1 {float(out.d2e_dee[0, 0]):.6f} eV")
    sc = prepare(model, si.repeat((3, 3, 3)))
    c, r, out = timed(getattr(phonons._hessian_programs, kind), model, sc.positions, sc.cell,
                      sc.species, sc.neighbors, strain_derivative=False)
    print(f"{args.mode}: force constants (54 atoms) compile {c:.1f} s, run {r:.3f} s, "
          f"Phi_00xx {float(np.asarray(out)[0, 0, 0, 0]):.6f} eV/Å^2")


if __name__ == "__main__":
    main()
