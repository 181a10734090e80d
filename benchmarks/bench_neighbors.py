"""Neighbor-list build time vs N (1k, 8k, 64k atoms): jaxpot cell list vs ASE vs jax-md.

Random dense-liquid-like argon (fcc lattice with 0.3 Å rattle, a = 5.26 Å), cutoff 6 Å,
float64.  jaxpot: host allocation (first build, includes compilation) and the jitted rebuild
that MD calls; ASE: ``ase.neighborlist.neighbor_list('ijS')``; jax-md: ``partition.neighbor_list``
(dense) allocate and jitted update.  Linear scaling shows as a constant time per atom.

Run: python benchmarks/bench_neighbors.py [--sizes 1000 8000 64000]
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _common import best_time, machine, print_table, write_json  # noqa: E402
from ase.build import bulk  # noqa: E402
from ase.neighborlist import neighbor_list as ase_neighbor_list  # noqa: E402

CUTOFF, A = 6.0, 5.26


def system(n):
    reps = round((n / 4) ** (1 / 3))
    atoms = bulk("Ar", "fcc", a=A, cubic=True).repeat(reps)
    atoms.rattle(0.3, seed=1)
    return atoms


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 8000, 64000])
    parser.add_argument("--skip-jax-md-above", type=int, default=10000)
    args = parser.parse_args()
    from jax_md import partition, space

    from jaxpot.neighbors import allocate_neighbor_list, rebuild_neighbor_list
    rebuild = jax.jit(rebuild_neighbor_list)
    rows = []
    for n in args.sizes:
        atoms = system(n)
        n = len(atoms)
        pos, cell = jnp.asarray(atoms.positions), jnp.asarray(atoms.cell.array)
        t0 = time.perf_counter()
        nbrs = allocate_neighbor_list(atoms.positions, atoms.cell.array, True, cutoff=CUTOFF)
        t_alloc = time.perf_counter() - t0
        jax.block_until_ready(rebuild(pos, cell, nbrs))
        t_rebuild = best_time(lambda: jax.block_until_ready(rebuild(pos, cell, nbrs)), repeat=3)
        n_pairs = int(np.sum(np.asarray(nbrs.idx) < n))
        rows.append({"atoms": n, "code": "jaxpot (cell list, jit rebuild)",
                     "build_ms": round(1e3 * t_rebuild, 1),
                     "us_per_atom": round(1e6 * t_rebuild / n, 2),
                     "first_alloc_s": round(t_alloc, 2), "pairs": n_pairs})
        t_ase = best_time(lambda: ase_neighbor_list("ijS", atoms, CUTOFF), repeat=2, min_time=0)
        n_ase = len(ase_neighbor_list("i", atoms, CUTOFF))
        rows.append({"atoms": n, "code": "ASE neighbor_list", "build_ms": round(1e3 * t_ase, 1),
                     "us_per_atom": round(1e6 * t_ase / n, 2), "pairs": n_ase})
        if n <= args.skip_jax_md_above:
            box = jnp.asarray(atoms.cell.array.diagonal())
            displacement, _ = space.periodic(box)
            nfn = partition.neighbor_list(displacement, box, CUTOFF, format=partition.Dense)
            t0 = time.perf_counter()
            jnb = nfn.allocate(pos)
            t_alloc_md = time.perf_counter() - t0
            upd = jax.jit(lambda p, nb: nb.update(p))
            jax.block_until_ready(upd(pos, jnb))
            t_md = best_time(lambda: jax.block_until_ready(upd(pos, jnb)), repeat=3)
            rows.append({"atoms": n, "code": "jax-md dense (jit update)",
                         "build_ms": round(1e3 * t_md, 1),
                         "us_per_atom": round(1e6 * t_md / n, 2),
                         "first_alloc_s": round(t_alloc_md, 2),
                         "pairs": int(np.sum(np.asarray(jnb.idx) < n))})
    print_table(rows, ["atoms", "code", "build_ms", "us_per_atom", "first_alloc_s", "pairs"])
    print("json:", write_json("neighbors", {"machine": machine(), "cutoff": CUTOFF, "rows": rows}))


if __name__ == "__main__":
    main()
