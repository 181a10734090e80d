"""The top-level keys every fit config shares, written once: ``model``, ``train``,
``validation``, ``test``, ``output``, ``report``, ``species``, ``cutoff``, ``seed`` and the
``[names]`` table of label keys.

    schema = root("snap", "a SNAP fit", Table("snap", ...), species=False,
                  refused={"species": "SNAP takes its species from the training data"})

:func:`root` builds a family's root table from them: ``species`` and ``cutoff`` only where
they apply (a family without them names the reason in ``refused``), ``validation`` with the
family's meaning of it.
"""

from __future__ import annotations

from jaxpot.training.schema import REQUIRED, Key, Table
from jaxpot.training.values import integer_rule, number_rule

TRAIN = Key("train", ("paths",), REQUIRED, "labelled training structures: a file or a list of "
            "files (extxyz or any format ASE reads)", example=["train.extxyz"], exists=True)
VALIDATION_DOC = ("labelled structures to validate on (default: a seeded carve of train, "
                  "validation_fraction)")
TEST = Key("test", ("paths",), None, "labelled structures to report errors on after the fit",
           example=["test.extxyz"], exists=True)
OUTPUT = Key("output", ("path",), None, "the model file to write (default: this config's "
             "name with .jaxpot)", example="model.jaxpot")
REPORT = Key("report", ("path",), None, "the report folder: errors per config_type, parity "
             "plots, settings, timings (default: the output's name + _report)",
             example="model_report")
SPECIES = Key("species", ("list",), REQUIRED, "the elements the model knows (symbols)",
              example=["Si"])
CUTOFF = Key("cutoff", ("float",), REQUIRED, "the model's cutoff radius", "Å",
             number_rule(low=0.0, low_open=True), example=5.0)
SEED = Key("seed", ("int",), 0, "seed of the validation carve and every other random choice",
           rule=integer_rule(0))
NAMES = Table("names", "label keys in the files' info/arrays (default: ASE's calculator "
              "results)", (
                  Key("energy", ("string",), None, "info key of the total energy", "eV",
                      example="dft_energy"),
                  Key("forces", ("string",), None, "arrays key of the forces", "eV/Å",
                      example="dft_forces"),
                  Key("virial", ("string",), None, "info key of the virial (or stress)", "eV",
                      example="dft_virial"),
                  Key("config_type", ("string",), None, "info key of the configuration type",
                      example="config_type")))


def model_key(name: str) -> Key:
    return Key("model", ("string",), REQUIRED, "the family fitted (`jaxpot template` lists "
               "them)", example=name)


def root(model: str, doc: str, *entries, species: bool | Key = False,
         cutoff: bool | Key = False, validation: str | None = VALIDATION_DOC,
         names: Table | None = NAMES, refused: dict | None = None,
         ignored=frozenset(), top: tuple = (), report: Key = REPORT) -> Table:
    """The root table of a ``model`` config: the shared keys (``species``/``cutoff`` when
    True or given as a Key; ``validation`` documented as the family reads it, None: refused
    unless ``refused`` says why), the family's own top-level keys ``top`` and its
    ``entries`` (tables); ``report`` replaces the shared report key (a family whose report
    may be switched off)."""
    keys: list = [model_key(model), TRAIN]
    if validation is not None:
        keys.append(Key("validation", ("paths",), None, validation,
                        example=["validation.extxyz"], exists=True))
    keys += [TEST, OUTPUT, report]
    for flag, key in ((species, SPECIES), (cutoff, CUTOFF)):
        if flag:
            keys.append(flag if isinstance(flag, Key) else key)
    keys += [SEED, *top]
    if names is not None:
        keys.append(names)
    reasons = dict(refused or {})
    if validation is None:
        reasons.setdefault("validation", f"model = {model!r} carves its validation split from "
                                         "train (validation_fraction); give no validation "
                                         "files")
    return Table("", doc, (*keys, *entries), frozenset(ignored), reasons)
