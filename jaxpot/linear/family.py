"""SNAP, qSNAP and MTP as trainable families: ``model = "snap" | "qsnap" | "mtp"`` in
``jaxpot fit CONFIG.toml`` (:mod:`jaxpot.linear.pipeline` fits them).

The shared keys are ``train``, ``test``, ``output``, ``report``, ``seed`` (the ``[fit]``
table's, which a ``[fit] seed`` overrides) and ``[names]``; the species come from the training
data and the validation split is carved from ``train`` (``[fit] validation_fraction``).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping

from jaxpot.training.families import Family, register_family
from jaxpot.training.keys import root
from jaxpot.training.schema import REQUIRED, Key, Table

_SNAP_DOCS = {
    "twojmax": (("int",), "band limit 2J of the bispectrum (0..16)", "", 6),
    "rcutfac": (("float",), "pair cutoff factor: the cutoff is rcutfac (R_a + R_b)", "Å", 4.9),
    "rfac0": (("float",), "fraction of pi reached by theta0 at the cutoff", "", None),
    "rmin0": (("float",), "inner distance of the theta0 map and the switching function", "Å",
              None),
    "radius": (("float", "table"), "R of each species: a number or {Si = 0.5}", "", None),
    "weight": (("float", "table"), "w of each species: a number or {Si = 1.0}", "", None),
    "switchflag": (("int", "bool"), "smooth switching function at the cutoff (0 or 1)", "",
                   None),
    "bzeroflag": (("int", "bool"), "subtract the isolated atom's components (0 or 1)", "",
                  None),
    "quadraticflag": (("int", "bool"), "quadratic terms (qSNAP) (0 or 1)", "", None),
}
_FIT_DOCS = {
    "energy_sigma": (("float",), "expected energy error (its weight is the inverse)",
                     "eV/atom"),
    "force_sigma": (("float",), "expected force error", "eV/Å"),
    "stress_sigma": (("float",), "expected stress error", "GPa"),
    "ridge": (("float",), "a fixed ridge (scale free; default: chosen from ridges on the "
              "validation split)", ""),
    "ridges": (("list",), "ridges searched on the validation split", ""),
    "force_factors": (("list",), "force-weight factors searched on the validation split",
                      ""),
    "stress_factors": (("list",), "stress-weight factors searched on the validation split",
                       ""),
    "config_type_weights": (("table",), "{config_type = factor} on those configurations' "
                            "rows", ""),
    "validation_fraction": (("float",), "fraction of train carved for validation (0: no "
                            "search; single ridge and factors)", ""),
    "seed": (("int",), "seed of the carve (default: the top-level seed)", ""),
    "stratify_validation": (("bool",), "carve per config_type (false: plainly at random)", ""),
}
_MTP_DOCS = {
    "level": (("int",), "mlip-2's level of the basis (default 24; 16 for several species)",
              "", 24),
    "r_cut": (("float",), "cutoff radius", "Å", None),
    "r_min": (("float",), "inner radius of the radial basis (default: the shortest training "
              "distance - 0.2 Å)", "Å", 1.6),
    "radial_basis_size": (("int",), "Chebyshev radial functions", "", None),
}
_LBFGS_DOCS = {
    "iterations": (("int",), "BFGS iterations over every coefficient after the linear fit "
                   "(default 0: the linear fit only; 200 for several species)", 200),
    "memory": (("int",), "(s, y) pairs kept (L-BFGS); 0: full BFGS as mlip-2", None),
    "chunk": (("int",), "structures per jitted evaluation (bounds memory)", None),
    "tolerance": (("float",), "stop when the relative loss change is below this", None),
    "patience": (("int",), "iterations without a better validation loss before stopping",
                 None),
    "first_step": (("float",), "first step length relative to |params|", None),
    "checkpoint_every": (("int",), "iterations between checkpoints", None),
    "diagonal_chunks": (("int",), "chunks of the preconditioner's Gauss-Newton diagonal", None),
}


def _snap_table(model: str) -> Table:
    from jaxpot.descriptors.bispectrum import bispectrum
    from jaxpot.linear.pipeline import _SNAP_RULES
    signature = inspect.signature(bispectrum).parameters
    keys = []
    for name, (types, doc, unit, example) in _SNAP_DOCS.items():
        default = signature[name].default
        default = REQUIRED if default is inspect.Parameter.empty else default
        if name == "quadraticflag" and model == "qsnap":
            default = 1
        keys.append(Key(name, types, default, doc, unit, _SNAP_RULES[name], example))
    return Table("snap", "the bispectrum descriptor (LAMMPS compute sna/atom's names)",
                 tuple(keys))


def _fit_table() -> Table:
    from jaxpot.linear.fit import LINEAR_RULES, LinearFitSettings
    keys = []
    for field in dataclasses.fields(LinearFitSettings):
        types, doc, unit = _FIT_DOCS[field.name]
        default = ({} if field.default is dataclasses.MISSING else
                   list(field.default) if isinstance(field.default, tuple) else field.default)
        if field.name == "seed":
            default = None
        keys.append(Key(field.name, types, default, doc, unit, LINEAR_RULES[field.name],
                        example=1e-8 if field.name == "ridge" else 0))
    return Table("fit", "weights, ridge and the validation split of the least squares",
                 tuple(keys))


def _mtp_tables() -> tuple[Table, Table]:
    from jaxpot.linear.pipeline import _MTP_RULES, MTP_DEFAULTS
    from jaxpot.training.lbfgs import LBFGS_RULES, LbfgsSettings
    mtp = Table("mtp", "the moment tensor basis (mlip-2's names)", tuple(
        Key(name, types, None if example is not None else MTP_DEFAULTS[name], doc, unit,
            _MTP_RULES[name], example)
        for name, (types, doc, unit, example) in _MTP_DOCS.items()))
    fields = LbfgsSettings._field_defaults
    lbfgs = Table("lbfgs", "the BFGS stage over every coefficient, after the linear fit", tuple(
        Key(name, types, None if example is not None else fields[name], doc,
            rule=LBFGS_RULES[name], example=example)
        for name, (types, doc, example) in _LBFGS_DOCS.items()))
    return mtp, lbfgs


_DOCS = {"snap": "a SNAP potential: bispectrum features, weighted ridge least squares (also "
                 "writes LAMMPS .snapcoeff/.snapparam)",
         "qsnap": "a quadratic SNAP potential (also writes LAMMPS .snapcoeff/.snapparam)",
         "mtp": "a moment tensor potential: least squares, then BFGS (also writes an mlip-2 "
                ".mtp file)"}


def schema(model: str) -> Table:
    tables = (*_mtp_tables(),) if model == "mtp" else (_snap_table(model),)
    return root(model, _DOCS[model], *tables, _fit_table(), validation=None, refused={
        "species": f"model = {model!r} takes its species from the training data",
        "cutoff": ("an MTP's cutoff is [mtp] r_cut" if model == "mtp" else
                   "SNAP's cutoff is [snap] rcutfac x (R_a + R_b)")})


def pipeline_config(config: Mapping) -> dict:
    """A checked config in :func:`jaxpot.linear.pipeline.run`'s names (``seed`` in
    ``[fit]``)."""
    out = {k: v for k, v in config.items() if k != "seed"}
    if "seed" in config:
        out["fit"] = {"seed": config["seed"], **dict(config.get("fit") or {})}
    return out


def fit(config: Mapping, *, progress: bool = True, echo=None):
    from jaxpot.linear.pipeline import run
    return run(pipeline_config(config), progress=progress, echo=echo)


def check(config: Mapping) -> None:
    """What :func:`jaxpot.linear.pipeline.run` checks before its fit, without fitting."""
    from ase.data import chemical_symbols

    from jaxpot.linear import pipeline as lp
    from jaxpot.linear.fit import snap_cutoff_setting, snap_pair_cutoff
    from jaxpot.training.fitting import check_labelled, check_outputs, input_files
    from jaxpot.training.inputs import names_table
    cfg = pipeline_config(config)
    check_outputs(config)
    names_table(cfg.get("names"), "names", lp.ConfigError)
    lp._settings(cfg.get("fit") or {})
    sets = check_labelled(config)
    files = input_files(config)
    frames = [a for path in files["train"] for a in sets[path]]
    species = [chemical_symbols[z] for z in sorted({int(z) for a in frames for z in a.numbers})]
    lp._check_species({p: sets[p] for p in files["test"]}, species)
    if config["model"] == "mtp":
        lp.mtp_descriptor_from_config(cfg, species, frames)
        lp._lbfgs_settings({**lp.mtp_defaults(len(species))[1], **dict(cfg.get("lbfgs") or {})})
    else:
        desc = lp.descriptor_from_config(cfg, species)
        lp._check_reach(frames, desc.cutoff, snap_cutoff_setting(desc, "[snap] "),
                        snap_pair_cutoff(desc))


for _model in ("snap", "qsnap", "mtp"):
    register_family(Family(_model, _DOCS[_model], lambda m=_model: schema(m), fit, check=check))
