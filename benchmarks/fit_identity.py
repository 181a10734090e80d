"""Does a code change alter what a fit produces?  Tiny fits of every family, hashed.

    python benchmarks/fit_identity.py                      (about 3 minutes on 2 cores)
    python benchmarks/fit_identity.py --compare OLD.json   (and say which files differ)

Runs ``jaxpot fit`` on small configs of every registered family of jaxpot's own (GAP, SNAP,
qSNAP, MTP, BPNN, PaiNN, MACE, charges: 8 bundled mlearn Si configurations, 5 n2p2 water
frames for the charges) and records the SHA-256 of each model file and, as a second check,
of each model's predictions (energies and forces of the training frames, float64 bytes).  Run
it on two revisions (``git worktree add /tmp/old REV`` and ``PYTHONPATH=/tmp/old python
benchmarks/fit_identity.py --out /tmp/old.json``) and compare: equal hashes mean the change
left every fit bit-identical.  Writes ``benchmarks/results/fit_identity.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

from _common import SHARED_DATA, machine, run_date, write_json  # noqa: E402

SI = 'train = ["train.extxyz"]\n'
CONFIGS = {
    "gap": SI + 'model = "gap"\n[soap]\nl_max = 3\nn_max = 4\ncutoff = 4.0\nn_sparse = 40\n',
    "snap": SI + 'model = "snap"\n[snap]\ntwojmax = 4\nrcutfac = 4.0\n',
    "qsnap": SI + 'model = "qsnap"\n[snap]\ntwojmax = 2\nrcutfac = 4.0\n',
    "mtp": SI + 'model = "mtp"\n[mtp]\nlevel = 6\nr_cut = 4.5\n[lbfgs]\niterations = 3\n',
    "bpnn": SI + 'species = ["Si"]\nmodel = "bpnn"\ncutoff = 4.0\n[architecture]\nhidden = [8]\n'
                 '[training]\nepochs = 2\n',
    "painn": SI + 'species = ["Si"]\nmodel = "painn"\ncutoff = 4.0\n[architecture]\nfeatures = 8\n'
                  'layers = 1\n[training]\nepochs = 2\n',
    "mace": SI + 'species = ["Si"]\nmodel = "mace"\ncutoff = 4.0\n[architecture]\nchannels = 4\n'
                 '[training]\nepochs = 2\n',
    "charges": 'model = "charges"\ntrain = ["water.extxyz"]\nspecies = ["H", "O"]\n'
               'cutoff = 4.0\nnames = {charges = "n2p2_charge"}\n[architecture]\nhidden = [8]\n'
               '[training]\nsteps = 50\nlearning_rate = 0.01\n[energy]\naccuracy = 1e-5\n',
}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _prediction_hash(model, frames) -> str:
    import numpy as np

    import jaxpot
    pred = jaxpot.predict(model, frames, progress=False)
    return _sha(b"".join(np.ascontiguousarray(np.asarray(x, np.float64)).tobytes()
                         for x in (*pred.energy, *pred.forces)))


def run(families) -> dict:
    from ase.io import read, write

    import jaxpot
    from jaxpot.cli import main
    from jaxpot.gap.demo import bundled
    si = read(bundled("si_mlearn_train_subset.extxyz"), ":8")
    water = read(SHARED_DATA / "water_rpbe_d3_n2p2_example.extxyz", ":5")
    out = {}
    with tempfile.TemporaryDirectory() as work:
        write(os.path.join(work, "train.extxyz"), si)
        write(os.path.join(work, "water.extxyz"), water)
        cwd = os.getcwd()
        os.chdir(work)
        try:
            for name in families:
                with open(f"{name}.toml", "w", encoding="utf-8") as fh:
                    fh.write(CONFIGS[name])
                start = time.perf_counter()
                rc = main(["fit", f"{name}.toml", "--quiet"])
                seconds = time.perf_counter() - start
                if rc != 0:
                    out[name] = {"error": f"jaxpot fit exited {rc}"}
                    continue
                with open(f"{name}.jaxpot", "rb") as fh:
                    file_hash = _sha(fh.read())
                frames = water if name == "charges" else si
                model = jaxpot.load(f"{name}.jaxpot")
                out[name] = {"model_file_sha256": file_hash,
                             "prediction_sha256": _prediction_hash(model, frames),
                             "seconds": seconds}
                print(f"{name:8s} {file_hash[:16]}  {out[name]['prediction_sha256'][:16]}  "
                      f"{seconds:6.1f} s", flush=True)
        finally:
            os.chdir(cwd)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="*", default=list(CONFIGS))
    parser.add_argument("--out", help="write the hashes here instead of benchmarks/results/")
    parser.add_argument("--compare", help="a JSON this script wrote on another revision")
    args = parser.parse_args()
    import jaxpot
    print(f"jaxpot {jaxpot.__version__} from {os.path.dirname(jaxpot.__file__)}")
    print(f"{'family':8s} {'model file':16s}  {'predictions':16s}  time")
    fits = run(args.families)
    payload = {"command": "python benchmarks/fit_identity.py", "machine": machine(),
               "date": run_date(), "jaxpot_path": os.path.dirname(jaxpot.__file__),
               "fits": fits}
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=1)
        print("wrote", args.out)
    else:
        print("wrote", write_json("fit_identity", payload))
    if args.compare:
        with open(args.compare, encoding="utf-8") as fh:
            old = json.load(fh)["fits"]
        differ = 0
        for name, new in fits.items():
            before = old.get(name, {})
            same = {k: before.get(k) == new.get(k) for k in ("model_file_sha256",
                                                              "prediction_sha256")}
            differ += not all(same.values())
            print(f"{name:8s} model file {'same' if same['model_file_sha256'] else 'DIFFERS'}, "
                  f"predictions {'same' if same['prediction_sha256'] else 'DIFFER'}")
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
