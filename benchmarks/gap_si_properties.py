"""Properties of the default Si GAP (``GapSettings()``) fitted on the whole mlearn Si training
split: relaxed lattice constant, relaxed-ion C11/C12/C44 (GPa) and phonons at Γ, X, L (THz,
4x4x4 supercell).  Compare with PBE from the data (a0 5.4687 Å = the mlearn Elastic series'
reference cell; C11 152.8, C12 56.6 GPa from its ±2 % strains, ../shared/data/README.md) and,
for context only (another functional), CASTEP PW91 phonons of the GAP-18 testing framework.

Run: python benchmarks/gap_si_properties.py [--save MODEL] [--soap KEY=VALUE ...]
(prints one JSON line; --save writes the fitted model, e.g. for ``bench_gap.py --models``;
--soap changes SOAP settings of ``GapSettings()``, e.g. zeta=4 n_sparse=1000)
"""
import argparse
import dataclasses
import json

import jax

jax.config.update("jax_enable_x64", True)
import numpy as np
from _common import mlearn_frames
from ase.build import bulk

from jaxpot import gap
from jaxpot.properties import elastic_constants, phonons, relax

train = mlearn_frames('Si', 'training')
parser = argparse.ArgumentParser()
parser.add_argument("--save", help="write the fitted model here")
parser.add_argument("--soap", nargs="*", default=[],
                    help="SOAP settings other than the defaults, e.g. zeta=4 n_sparse=1000")
args = parser.parse_args()
settings = gap.GapSettings()
changes = {k: type(getattr(settings.soap, k))(v) for k, v in (x.split("=") for x in args.soap)}
settings = settings.replace(soap=dataclasses.replace(settings.soap, **changes))
res = gap.fit(train, settings, progress=False)
if args.save:
    import jaxpot
    jaxpot.save(res.model, args.save)
r = relax(res.model, bulk("Si", "diamond", a=5.43)).atoms
a0 = r.cell.cellpar()[0] * np.sqrt(2)
c = elastic_constants(res.model, r)
f = np.asarray(phonons(res.model, r, supercell=(4, 4, 4)).frequencies(
    [[0,0,0],[0.5,0,0.5],[0.5,0.5,0.5]]))
out = {"a0": a0, "C11": c[0,0], "C12": c[0,1], "C44": c[3,3], "phonons_THz": f.round(3).tolist()}
print(json.dumps(out, default=float))
