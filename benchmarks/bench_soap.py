"""SOAP power spectrum (and with gradients) for 512- and 4096-atom diamond-Si supercells:
jaxpot vs featomic vs quippy (QUIP/GAP) vs dscribe, same run, 1 and 2 CPU cores (taskset),
r_cut 5 Å, n_max 8, l_max 6, Gaussian width 0.5 Å.

"+ gradients" means what each code offers for forces: featomic and quippy compute the sparse
Jacobian d p_i / d r_j per centre-neighbour pair, dscribe a dense one.  jaxpot has two rows:
"jaxpot_jacobian" is the same sparse per-neighbour-slot Jacobian (``soap_pair_gradients``);
"jaxpot" is features plus the reverse-mode product with a per-feature weight vector (what a
network energy needs for forces; it never materialises the Jacobian).  jaxpot uses the smooth
cosine cutoff (width 1 Å) like featomic's ShiftedCosine and quippy; dscribe uses its padded
hard cutoff.  Compilation is excluded (warm-up call).

Run: python benchmarks/bench_soap.py [--sizes 512 4096]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from _common import machine, print_table, write_json

CHILD = r"""
import json, os, time, numpy as np
n_rep, code, grads = {n_rep}, "{code}", {grads}
from ase.build import bulk
atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat(n_rep)
atoms.rattle(0.02, seed=0)
def best(fn, k=3):
    t = []
    for _ in range(k):
        t0 = time.perf_counter(); fn(); t.append(time.perf_counter() - t0)
    return min(t)
if code.startswith("jaxpot"):
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jaxpot.descriptors import soap
    from jaxpot.neighbors import allocate_neighbor_list
    d = soap(species=["Si"], r_cut=5.0, n_max=8, l_max=6, sigma=0.5, cutoff="smooth")
    nb = allocate_neighbor_list(atoms.positions, atoms.cell.array, True, cutoff=5.0)
    pos, cell, z = (jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array),
                    jnp.asarray(atoms.numbers))
    if code == "jaxpot_jacobian":
        from jaxpot.descriptors.soap_gradients import soap_pair_gradients
        f = jax.jit(lambda p: soap_pair_gradients(d, p, cell, z, nb))
    elif grads:
        w = jnp.asarray(np.random.default_rng(0).normal(size=d.n_features))
        f = jax.jit(jax.value_and_grad(lambda p: jnp.sum(d.features(p, cell, z, nb) @ w)))
    else:
        f = jax.jit(lambda p: d.features(p, cell, z, nb))
    jax.block_until_ready(f(pos))
    t = best(lambda: jax.block_until_ready(f(pos)))
elif code == "featomic":
    import featomic
    calc = featomic.SoapPowerSpectrum(
        cutoff={{"radius": 5.0, "smoothing": {{"type": "ShiftedCosine", "width": 1.0}}}},
        density={{"type": "Gaussian", "width": 0.5}},
        basis={{"type": "TensorProduct", "max_angular": 6,
                "radial": {{"type": "Gto", "max_radial": 7}}}})
    g = ["positions"] if grads else []
    calc.compute(atoms, gradients=g)
    t = best(lambda: calc.compute(atoms, gradients=g))
elif code == "quippy":
    from quippy.descriptors import Descriptor
    q = Descriptor("soap cutoff=5.0 cutoff_transition_width=1.0 n_max=8 l_max=6 atom_sigma=0.5")
    q.calc(atoms, grad=grads)
    t = best(lambda: q.calc(atoms, grad=grads))
else:
    from dscribe.descriptors import SOAP
    s = SOAP(species=["Si"], r_cut=5.0, n_max=8, l_max=6, sigma=0.5, periodic=True)
    if grads:
        # dscribe has analytical GTO derivatives only for non-periodic systems; "auto" picks
        # its numerical derivatives here, as a dscribe user would get
        t = best(lambda: s.derivatives(atoms, method="auto", attach=True), k=1)
    else:
        t = best(lambda: s.create(atoms, n_jobs=1))
peak = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0] / 1024
print(json.dumps(dict(seconds=t, peak_MiB=peak)))
"""


def run(code, n_rep, grads, cores):
    env_cores = "0" if cores == 1 else "0,1"
    cmd = ["taskset", "-c", env_cores, sys.executable, "-c",
           CHILD.format(n_rep=n_rep, code=code, grads=grads)]
    env = {"OMP_NUM_THREADS": str(cores), "RAYON_NUM_THREADS": str(cores),
           "PATH": "/usr/bin:/bin", "HOME": "/root"}
    import os
    env = {**os.environ, **env}
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env,
                             timeout=900).stdout
        return json.loads(out.strip().splitlines()[-1])
    except Exception as err:  # noqa: BLE001 - report, don't abort the table
        return {"seconds": float("nan"), "peak_MiB": float("nan"), "error": str(err)[-200:]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 4096])
    parser.add_argument("--dscribe-max-gradient-atoms", type=int, default=512)
    parser.add_argument("--codes", nargs="+",
                        default=["jaxpot", "jaxpot_jacobian", "featomic", "quippy", "dscribe"])
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        n_rep = round((n / 8) ** (1 / 3))
        for grads in (False, True):
            for code in args.codes:
                if code == "dscribe" and grads and n > args.dscribe_max_gradient_atoms:
                    continue
                if code == "jaxpot_jacobian" and not grads:
                    continue
                for cores in (1, 2):
                    res = run(code, n_rep, grads, cores)
                    rows.append({"atoms": 8 * n_rep ** 3,
                                 "what": "+gradients" if grads else "features",
                                 "code": code, "cores": cores, "seconds": round(res["seconds"], 3),
                                 "peak_MiB": "" if res["peak_MiB"] != res["peak_MiB"]
                                 else round(res["peak_MiB"]), "error": res.get("error", "")})
                    print(rows[-1], flush=True)
    print_table(rows, ["atoms", "what", "code", "cores", "seconds", "peak_MiB"])
    print("json:", write_json("soap", {"machine": machine(), "rows": rows}))


if __name__ == "__main__":
    main()
