"""Does a second SOAP term help the default GAP?  Validation-split experiment (issue 15).

The default ``GapSettings()`` (SOAP 5 Å + distance_2b) is fitted on the 80 % fitting part of an
mlearn training split (the split of ``select_gap_defaults.py``; the test split is not read)
together with a second SOAP term of other cutoff / atom_sigma (its own CUR sparse points, its own
alpha, block-diagonal K_MM), the sum being a multi-scale SOAP GAP.  Scored on the 20 %
validation part as ``select_gap_defaults.py`` scores.  With ``--second none`` the default alone
is fitted the same way (the reference row).

Run: python benchmarks/gap_second_soap.py --element Si --second cutoff=3.0 atom_sigma=0.3
Appends to benchmarks/results/gap_second_soap.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np
from _common import write_json
from select_gap_defaults import PUBLISHED, split

from jaxpot import gap
from jaxpot.batch import frame_pairs
from jaxpot.evaluation import evaluate
from jaxpot.gap.design import set_alpha, sparse_covariance, structure_rows
from jaxpot.gap.terms import soap_gp
from jaxpot.training.qr import cholesky_upper, qr_init, qr_solve, qr_update

gap_fit = importlib.import_module("jaxpot.gap.fit")  # the module (gap.fit is the function)
SECOND = {"cutoff": 3.0, "n_max": 8, "l_max": 6, "atom_sigma": 0.3, "zeta": 2, "n_sparse": 1000,
          "delta": 1.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--element", default="Si")
    parser.add_argument("--second", nargs="*", default=[],
                        help=f"KEY=VALUE settings of the second SOAP (defaults {SECOND}), "
                        "or 'none'")
    args = parser.parse_args()
    start = time.perf_counter()
    fitting, validation = split(args.element)
    settings = gap.GapSettings()
    if args.second == ["none"]:
        changes = None
        model = gap.fit(fitting, settings, progress=False).model
    else:
        changes = dict(SECOND, **{k: float(v) for k, v in (a.split("=") for a in args.second)})
        problem = gap_fit.prepare(fitting, settings, progress=False)
        second = _second_soap(problem, settings, fitting, changes)
        model = _fit_with(problem, second, settings)
    ev = evaluate(model, validation, progress=False).overall
    e_pub, f_pub = PUBLISHED[args.element]
    row = {"element": args.element, "second_soap": changes, "energy_mae": ev.energy_mae,
           "force_mae": ev.force_mae, "stress_rmse": ev.stress_rmse,
           "score": 0.5 * (ev.energy_mae / e_pub + ev.force_mae / f_pub),
           "seconds": time.perf_counter() - start}
    print(f"{args.element} second SOAP {changes}: E {row['energy_mae']:.3f} meV/atom  F "
          f"{row['force_mae']:.4f} eV/Å  S {row['stress_rmse']:.3f} GPa  score "
          f"{row['score']:.3f}  ({row['seconds']:.0f} s)")
    out = Path(__file__).parent / "results" / "gap_second_soap.json"
    rows = json.loads(out.read_text())["rows"] if out.exists() else []
    write_json("gap_second_soap", {"rows": rows + [row]}, indent=1)


def _second_soap(problem, settings, frames, c):
    """The second SOAP term with its CUR sparse points (alpha = 0), and its neighbor data."""
    s2 = gap.SoapSettings(cutoff=c["cutoff"], n_max=int(c["n_max"]), l_max=int(c["l_max"]),
                          atom_sigma=c["atom_sigma"], zeta=int(c["zeta"]),
                          n_sparse=int(c["n_sparse"]), delta=c["delta"],
                          cutoff_transition_width=min(0.5, c["cutoff"] / 4))
    species = problem.terms.species

    def term(sparse=None, counts=None):
        return soap_gp(species=species, cutoff=s2.cutoff, n_max=s2.n_max, l_max=s2.l_max,
                       atom_sigma=s2.atom_sigma, zeta=s2.zeta, delta=s2.delta,
                       cutoff_transition_width=s2.cutoff_transition_width, sparse=sparse,
                       n_sparse=counts)
    template = term()
    pairs = [frame_pairs(template, a) for a in frames]
    sparse, counts = gap_fit._soap_sparse_points(settings.replace(soap=s2), template, frames,
                                                 pairs, species, False)
    return term(sparse, counts), pairs


def _fit_with(problem, second, settings):
    """Default terms + second SOAP, solved as gap.fit solves (streamed rows, QR)."""
    model2, pairs2 = second
    k1, k2 = sparse_covariance(problem.unfitted), sparse_covariance(model2)
    m1 = len(k1)
    kmm = np.zeros((m1 + len(k2),) * 2)
    kmm[:m1, :m1], kmm[m1:, m1:] = k1, k2
    u = cholesky_upper(kmm, settings.sparse_jitter)
    state = qr_init(u)
    rows2 = dict(structure_rows(model2, problem.frames, pairs2))
    buffer: list = []
    for b in gap_fit.observation_blocks(problem):
        r2 = rows2[b.frame]
        extra = {0: r2.energy[None], 1: r2.forces, 2: r2.virial}[b.kind]
        buffer.append(b._replace(rows=np.concatenate([b.rows, extra], 1)))
        if sum(len(x.rows) for x in buffer) > 4 * len(u):
            state = qr_update(state, *gap_fit._stack(buffer))
            buffer = []
    if buffer:
        state = qr_update(state, *gap_fit._stack(buffer))
    alpha = qr_solve(state)
    a2 = jax.numpy.asarray(alpha[m1:])
    return set_alpha(problem.unfitted, alpha[:m1]) + model2.replace(
        params=dict(model2.params, alpha=a2))


if __name__ == "__main__":
    main()
