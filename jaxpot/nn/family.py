"""The networks as trainable families: ``model = "bpnn" | "painn" | "mace"`` in ``jaxpot fit
CONFIG.toml`` (``jaxpot train`` is the same command); :mod:`jaxpot.nn.pipeline` trains them.

One family per row of :data:`jaxpot.nn.kinds.NETWORK_KINDS`, so a kind added there is a family
too.  A config takes the shared keys (``species`` and ``cutoff`` required), ``checkpoint`` (a
path or false), ``[architecture]`` (the builder's keyword arguments: their defaults are read
from its signature) and ``[training]`` (:class:`~jaxpot.nn.settings.TrainSettings` fields;
``[training.weights]`` and ``[training.stage_two_weights]`` the loss sigmas).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

from jaxpot.training.families import Family, register_family
from jaxpot.training.keys import REPORT, root
from jaxpot.training.schema import Key, Table

#: (types, doc, unit, example) of each builder argument a config may set
_ARCHITECTURE = {
    "angular_cutoff": (("float",), "the default descriptor's angular cutoff (default: a "
                       "fixed fraction of cutoff)", "Å", 3.5),
    "descriptor": (("table",), "an ANI or ACSF descriptor's settings instead of the default "
                   "({type = \"ani\", ...})", "", {"type": "ani"}),
    "hidden": (("list",), "hidden layer widths of each element's network", "", None),
    "activation": (("string",), "activation function (silu, celu, tanh, ...)", "", None),
    "features": (("int",), "feature width F", "", None),
    "layers": (("int",), "interaction blocks", "", None),
    "n_rbf": (("int",), "radial (Bessel) basis functions", "", None),
    "cutoff_kind": (("string",), "cutoff function: cosine or polynomial", "", None),
    "channels": (("int",), "channels C", "", None),
    "max_ell": (("int",), "degree of the spherical harmonics and of A", "", None),
    "hidden_ell": (("int",), "degree of the node features passed on", "", None),
    "correlation": (("int",), "body order of the product basis minus one", "", None),
    "radial_hidden": (("list",), "widths of the radial MLP", "", None),
    "radial_grid": (("int",), "intervals on which the radial MLP is tabulated (0: the MLP "
                    "on every pair)", "", None),
    "seed": (("int",), "initialisation seed (default: the top-level seed)", "", 0),
    "dtype": (("string",), "parameter dtype (default: the run's float, float64 or float32 "
              "with --float32)", "", "float64"),
}

#: (types, doc, unit, example for a field without a default) of each [training] key
_TRAINING = {
    "epochs": (("int",), "passes over the training set (default: the kind's, scaled by the "
               "training set's size)", "", 100),
    "batch_size": (("int",), "structures per step (default: the kind's)", "", 4),
    "learning_rate": (("float",), "peak learning rate (Adam)", "", None),
    "final_learning_rate": (("float",), "learning rate at the end of the cosine decay", "",
                            None),
    "warmup_epochs": (("int",), "epochs of linear warm-up (at most a sixth of the run)", "",
                      None),
    "stage_two_start": (("float",), "fraction of the epochs before stage two's weights (1: "
                        "no stage two)", "", None),
    "validation_fraction": (("float",), "fraction of train carved for validation (without "
                            "validation files)", "", None),
    "stratify_validation": (("bool",), "carve per config_type (false: plainly at random)",
                            "", None),
    "config_type_weights": (("table", "string"), "{config_type = factor} on its residuals, or "
                            "\"balanced\"", "", {"bulk": 1.0}),
    "patience": (("int",), "epochs without a better validation loss before stopping "
                 "(default: max(50, epochs / 3))", "", 50),
    "ema_decay": (("float",), "decay of the weights' exponential moving average", "", None),
    "ensemble_size": (("int",), "members trained together (an ensemble, calibrated)", "",
                      None),
    "seed": (("int",), "seed of the carve and the batches (default: the top-level seed)", "",
             0),
    "grad_clip": (("float",), "largest global gradient norm of a step (inf: none)", "", None),
    "weight_decay": (("float",), "decoupled (AdamW) decay of the weight matrices", "", None),
    "checkpoint_every": (("int",), "epochs between checkpoints", "", None),
    "time_budget_s": (("float",), "wall time of training; the epochs are fitted to it", "s",
                      600.0),
}
_SIGMAS = (("energy", "eV/atom"), ("forces", "eV/Å"), ("stress", "GPa"))


def _architecture(kind: str) -> Table:
    from jaxpot.nn.kinds import NETWORK_KINDS
    params = inspect.signature(NETWORK_KINDS[kind].build).parameters
    keys = []
    for name, param in params.items():
        if name in ("species", "cutoff", "params"):
            continue
        types, doc, unit, example = _ARCHITECTURE[name]
        default = param.default
        default = list(default) if isinstance(default, tuple) else default
        if name == "seed":
            default = None
        keys.append(Key(name, types, default, doc, unit, example=example))
    return Table("architecture", f"the {kind} builder's settings (jaxpot.nn.{kind})",
                 tuple(keys))


def _sigma_table(name: str, doc: str, base) -> Table:
    from jaxpot.training.values import number_rule
    rule = number_rule(low=0.0, low_open=True, allow_inf=True,
                       hint="an expected error; inf leaves the quantity out")
    return Table(name, doc, tuple(
        Key(q, ("float",), None, f"expected {q} error (inf: left out)", unit, rule,
            getattr(base, q)) for q, unit in _SIGMAS))


def _training(kind: str) -> Table:
    from jaxpot.nn.kinds import NETWORK_KINDS
    from jaxpot.nn.settings import TRAIN_RULES, TrainSettings
    defaults = TrainSettings._field_defaults
    keys = []
    for name, (types, doc, unit, example) in _TRAINING.items():
        default = None if name == "seed" else defaults[name]
        keys.append(Key(name, types, default, doc, unit, TRAIN_RULES[name], example))
    row = NETWORK_KINDS[kind]
    weights = _sigma_table("weights", "loss sigmas (default: the kind's)", row.default_weights)
    two = _sigma_table("stage_two_weights", "loss sigmas of stage two (default: the kind's; "
                       "those left out: as weights)", row.default_stage_two or row.default_weights)
    return Table("training", "Adam with a cosine schedule, EMA, early stopping "
                 "(jaxpot.nn.TrainSettings)", (*keys, weights, two))


def schema(kind: str) -> Table:
    top = (Key("checkpoint", ("path", "false"), None, "resumable checkpoint (default: the "
               "output + .ckpt.npz; false: none)", example="model.jaxpot.ckpt.npz"),)
    report = Key("report", ("path", "false"), None, REPORT.doc + "; false: none",
                 example=REPORT.example)
    docs = {"bpnn": "a Behler-Parrinello network", "painn": "a PaiNN message-passing network",
            "mace": "a MACE-like equivariant network"}
    return root(kind, docs.get(kind, f"a {kind} network") + ", trained with Adam (float64; "
                "--float32 accepted)", _architecture(kind), _training(kind), species=True,
                cutoff=True, top=top, report=report)


def pipeline_config(config: Mapping) -> dict:
    """A checked config in :func:`jaxpot.nn.pipeline.train`'s names."""
    out = {k: v for k, v in config.items() if k not in ("architecture", "training")}
    if "architecture" in config:
        out["model_settings"] = config["architecture"]
    if "training" in config:
        out["train_settings"] = config["training"]
    return out


def build(config: Mapping):
    from jaxpot.nn.pipeline import build_model
    return build_model(pipeline_config(config))


def fit(config: Mapping, *, progress: bool = True, echo=None):
    from jaxpot.nn.pipeline import train
    return train(pipeline_config(config), progress=progress, echo=echo)


def check(config: Mapping) -> None:
    """What :func:`jaxpot.nn.pipeline.train` checks before training: paths and outputs, the
    model built, the settings, every file's labels and species."""
    from jaxpot.nn import pipeline as pl
    from jaxpot.training.fitting import check_labelled, input_files
    cfg = pipeline_config(config)
    pl._paths(cfg)
    model = pl.build_model(cfg)
    pl._settings(cfg.get("train_settings"))
    sets = check_labelled(config)
    pl._check_species(model, {p: sets[p] for group in input_files(config).values()
                              for p in group})


def _register() -> None:
    from jaxpot.nn.kinds import NETWORK_KINDS
    for kind in NETWORK_KINDS:
        register_family(Family(kind, f"a {kind} network potential (jaxpot.nn.{kind}), trained "
                               "with Adam", lambda k=kind: schema(k), fit, build=build,
                               check=check, float32=True))


_register()
