"""Phonons of a 64- and 216-atom Si supercell (Stillinger-Weber): jaxpot's autodiff Hessian vs
phonopy finite displacements (forces from the same jaxpot model), same run.

Each measurement runs in a fresh subprocess so that peak memory (VmHWM) is its own; times
include JAX compilation (a one-off phonon calculation is what users run).

Run: python benchmarks/bench_phonons.py
"""

from __future__ import annotations

import json
import subprocess
import sys

from _common import machine, print_table, write_json

CHILD = r"""
import json, time, resource, numpy as np, jax
jax.config.update("jax_enable_x64", True)
from ase.build import bulk
from jaxpot.potentials import stillinger_weber
n, code = {n}, "{code}"
model = stillinger_weber()
unit = bulk("Si", "diamond", a=5.430949, cubic=True)
q = np.array([[0, 0, 0], [0.5, 0, 0], [0.5, 0.5, 0.5]])
t0 = time.perf_counter()
if code == "jaxpot":
    from jaxpot.properties.phonons import phonons
    ph = phonons(model, unit, (n, n, n))
    f = ph.frequencies(q)
else:
    from ase import Atoms
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms
    from jaxpot.mechanics import energy_forces_stress
    from jaxpot.properties._common import prepare
    u = PhonopyAtoms(symbols=unit.get_chemical_symbols(), cell=unit.cell.array,
                     scaled_positions=unit.get_scaled_positions())
    p = Phonopy(u, supercell_matrix=np.diag([n, n, n]), primitive_matrix="P")
    p.generate_displacements(distance=0.01, is_plusminus=True)
    ef = jax.jit(lambda m, a, c, s, nb: energy_forces_stress(m, a, c, s, nb,
                                                            compute_stress=False).forces)
    forces = []
    for sc in p.supercells_with_displacements:
        pr = prepare(model, Atoms(sc.symbols, cell=sc.cell, scaled_positions=sc.scaled_positions,
                                  pbc=True))
        forces.append(np.asarray(ef(model, pr.positions, pr.cell, pr.species, pr.neighbors)))
    p.forces = forces
    p.produce_force_constants()
    p.run_qpoints(q)
    f = p.qpoints.frequencies
elapsed = time.perf_counter() - t0
peak = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0] / 1024
print(json.dumps(dict(seconds=elapsed, peak_MiB=peak, freqs=np.asarray(f).tolist())))
"""


def main():
    rows, raw = [], {}
    for n in (2, 3):
        for code in ("jaxpot", "phonopy"):
            out = subprocess.run([sys.executable, "-c", CHILD.format(n=n, code=code)],
                                 capture_output=True, text=True, check=True).stdout
            res = json.loads(out.strip().splitlines()[-1])
            raw[f"{code}_{8 * n ** 3}"] = res
            rows.append({"atoms": 8 * n ** 3, "code": code, "seconds": round(res["seconds"], 2),
                         "peak_MiB": round(res["peak_MiB"])})
    for n in (2, 3):
        a = raw[f"jaxpot_{8 * n ** 3}"]["freqs"]
        b = raw[f"phonopy_{8 * n ** 3}"]["freqs"]
        import numpy as np
        rows.append({"atoms": 8 * n ** 3, "code": "max |dnu| (THz)",
                     "seconds": f"{np.abs(np.array(a) - np.array(b)).max():.1e}"})
    print_table(rows, ["atoms", "code", "seconds", "peak_MiB"])
    print("json:", write_json("phonons", {"machine": machine(), "rows": rows}))


if __name__ == "__main__":
    main()
