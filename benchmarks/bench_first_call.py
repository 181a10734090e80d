"""Time to first result of three library calls that used to run parts of their work op by op
(each operation a program of its own): a fresh process per case and repeat, the call timed
twice, with the XLA compilations of each call counted (``jax.monitoring``).

- ``charges``: ``ChargeModel.charges`` of an environment-dependent charge model (ACSF
  features and one MLP, Na/Cl, 64 ions of rock salt, 4 Å).
- ``run_batch``: ``md.run_batch`` NPT (Nosé–Hoover chains, 3 GPa), LJ argon (σ 3.405 Å,
  ε 0.0104 eV, 8.5 Å), a 32-atom and a 40-atom cell padded to one shape, 140 steps (like the
  batch in ``tests/test_md.py``'s compressing run).
- ``train``: ``train_model`` of a two-member MACE ensemble (8 channels) for 2 epochs on 6
  Stillinger–Weber-labelled diamond cells.
- ``elastic`` / ``bulk_modulus`` / ``relax``: ``elastic_tensors`` / ``bulk_modulus``
  (relaxed-ion) / ``relax`` (FIRE, cell and positions, symmetrised) of diamond Si (2-atom
  cell, a = 5.45 Å, the relaxation from an atom displaced by 0.05 Å) with a SOAP GAP (the GAP
  notebook's small settings: n_max 6, l_max 3, 5 Å, 100 sparse points) fitted first, untimed,
  to 10 bundled mlearn Si frames.

Run it on two commits to compare (``PYTHONPATH=<worktree> python benchmarks/...``). float64.

    python benchmarks/bench_first_call.py [--cases charges run_batch train] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

from _common import machine, print_table, write_json

CASES = ("charges", "run_batch", "train", "elastic", "bulk_modulus", "relax")

_CHILD = """
import json, time
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
from ase.build import bulk
compiles = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, duration, **kw: compiles.append(duration)
    if event == "/jax/core/compile/backend_compile_duration" else None)
case = {case!r}
if case == "charges":
    from jaxpot.electrostatics import environment_charges
    from jaxpot.neighbors import allocate_neighbor_list
    charges = environment_charges(["Na", "Cl"], r_cut=4.0, hidden=(8,), seed=3)
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True).repeat(2)
    atoms.rattle(0.05, seed=1)
    nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, True, cutoff=4.0)
    def call():
        return np.asarray(charges.charges(atoms.positions, atoms.cell.array, atoms.numbers,
                                          nbrs))
elif case == "run_batch":
    from jaxpot import md
    from jaxpot.potentials import lennard_jones
    model = lennard_jones(sigma=3.405, epsilon=0.0104, cutoff=8.5)
    integrator = md.npt(model, 5.0, 30.0, 3.0, tau_p=300.0)
    def argon(seed):
        atoms = bulk("Ar", "fcc", a=5.26, cubic=True).repeat(2)
        atoms.rattle(0.02, seed=seed)
        atoms.set_cell(atoms.cell * 1.06, scale_atoms=True)
        return atoms
    bigger = argon(2).repeat((2, 1, 1))[:40]
    def call():
        return md.run_batch(integrator, [argon(0), bigger], 140, log_interval=20, skin=0.3,
                            temperatures=[30.0, 30.0], capacity_multiplier=1.0)
elif case in ("elastic", "bulk_modulus", "relax"):
    import os
    from ase.io import read
    import jaxpot
    from jaxpot import gap
    from jaxpot.properties.elastic import elastic_tensors
    from jaxpot.properties.eos import bulk_modulus
    from jaxpot.properties.relax import relax
    path = os.path.join(os.path.dirname(jaxpot.__file__), "data",
                        "si_mlearn_train_subset.extxyz")
    soap = gap.SoapSettings(cutoff=5.0, n_max=6, l_max=3, atom_sigma=0.5, zeta=4, delta=1.0,
                            n_sparse=100)
    model = gap.fit(read(path, ":10"), gap.GapSettings(soap=soap), progress=False).model
    si = bulk("Si", "diamond", a=5.45)
    if case == "relax":
        si.positions[1] += [0.05, 0.0, 0.0]
    property_of = dict(elastic=elastic_tensors, bulk_modulus=bulk_modulus, relax=relax)[case]
    def call():
        return property_of(model, si)
else:
    from ase.calculators.singlepoint import SinglePointCalculator
    from jaxpot import JaxpotCalculator
    from jaxpot.nn import mace
    from jaxpot.nn.train import TrainSettings, train_model
    from jaxpot.potentials import stillinger_weber
    sw = JaxpotCalculator(stillinger_weber())
    frames = []
    for k in range(6):
        atoms = bulk("Si", "diamond", a=5.43, cubic=True)
        atoms.rattle(0.1, seed=k)
        atoms.calc = sw
        e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        atoms.calc = SinglePointCalculator(atoms, energy=e, forces=f, stress=s)
        frames.append(atoms)
    model = mace(["Si"], 4.0, channels=8)
    settings = TrainSettings(epochs=2, batch_size=2, ensemble_size=2, validation_fraction=0.34)
    def call():
        return train_model(model, frames, settings=settings, progress=False)
out = {{}}
for label in ("first", "second"):
    compiles.clear()
    t0 = time.perf_counter()
    call()
    out[label + "_s"] = time.perf_counter() - t0
    out[label + "_compilations"] = len(compiles)
    out[label + "_compile_s"] = sum(compiles)
print(json.dumps(out))
"""


def run_case(case: str) -> dict:
    # outside the repository, so that PYTHONPATH (another commit's tree) decides the jaxpot
    proc = subprocess.run([sys.executable, "-c", _CHILD.format(case=case)], check=True,
                          capture_output=True, text=True, cwd=tempfile.gettempdir())
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    p.add_argument("--repeats", type=int, default=2, help="fresh processes per case")
    p.add_argument("--out", default="first_call")
    args = p.parse_args()
    rows = []
    for case in args.cases:
        runs = [run_case(case) for _ in range(args.repeats)]
        best = min(runs, key=lambda r: r["first_s"])
        rows.append({"case": case, **{k: round(v, 3) if isinstance(v, float) else v
                                      for k, v in best.items()},
                     "first_s_all": [round(r["first_s"], 2) for r in runs]})
    print_table(rows, ["case", "first_s", "first_compilations", "first_compile_s",
                       "second_s", "second_compilations", "first_s_all"])
    write_json(args.out, {"machine": machine(), "repeats": args.repeats, "rows": rows})


if __name__ == "__main__":
    main()
