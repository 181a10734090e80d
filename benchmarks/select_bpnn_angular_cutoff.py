"""The default BPNN's angular cutoff, chosen on validation splits only.

    python benchmarks/select_bpnn_angular_cutoff.py --element Li --fraction 0.8 [--hidden 64 64]
    python benchmarks/select_bpnn_angular_cutoff.py --element Cu --files /tmp/cu_eam_train.extxyz

Trains the default BPNN (``jaxpot.nn.pipeline.train``: ``model = "bpnn"``, 5 Å, every other
setting the default) on mlearn's training split of ``--element`` (or on ``--files``, e.g. the
EAM-labelled fcc set of ``fcc_eam_set.py``), with the ANI AEVs of
``jaxpot.nn.bpnn.scaled_ani_settings(species, 5.0, angular_cutoff=F x 5.0)`` (``bpnn``'s
``angular_cutoff``).  The trainer carves
its validation split from the training split (10 %, seed 0); the test split is never read.
Prints and appends one JSON line to benchmarks/results/<--out, default bpnn_angular_cutoff>
.jsonl: wall seconds, epochs, best epoch, the best epoch's validation loss and its training
errors, and the validation errors of the kept model.  Run side by side pinned to one core each
(``taskset -c 0|1``) so that a pair shares the machine alike.
"""

from __future__ import annotations

import argparse

from _common import append_row, mlearn_frames, validation_run


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--element", default="Li")
    p.add_argument("--fraction", type=float, default=0.99, help="r_cut_angular / r_cut_radial")
    p.add_argument("--hidden", type=int, nargs="+", help="network widths (default: bpnn's)")
    p.add_argument("--files", nargs="+", help="training files instead of mlearn's split")
    p.add_argument("--data", help="folder of the datasets (default ../shared/data)")
    p.add_argument("--out", default="bpnn_angular_cutoff")
    p.add_argument("--keep", help="write the model (and its checkpoint, report) to this path "
                   "instead of a temporary folder (for nn_checkpoint_errors.py)")
    args = p.parse_args()
    from ase.io import read
    if args.files:
        frames = [a for path in args.files for a in read(path, ":")]
    else:
        frames = mlearn_frames(args.element, "training", args.data)
    species = sorted({s for a in frames for s in a.get_chemical_symbols()})
    cutoff = 5.0
    model = {"angular_cutoff": args.fraction * cutoff}
    if args.hidden:
        model["hidden"] = args.hidden
    config = {"model": "bpnn", "species": species, "cutoff": cutoff, "train_frames": frames,
              "model_settings": model, "train_settings": {}}
    append_row(args.out, {"element": args.element, "fraction": args.fraction,
                          "hidden": args.hidden, **validation_run(config, args.keep)})


if __name__ == "__main__":
    main()
