"""The registry of trainable families: each family registers, in its own folder, the name a
config's ``model`` takes, its config schema (types, defaults, units, docs), its builder from a
config, its trainer, and whether it may train in float32.

    register_family(Family("morse", "a Morse pair potential fitted to forces",
                           schema=morse_schema, fit=fit_morse))
    family("snap").fit(config, progress=False, echo=log.info)
    sorted(families())          # ['bpnn', 'charges', 'gap', 'mace', 'mtp', 'painn', ...]

jaxpot's own families register in ``jaxpot/<folder>/family.py``, imported the first time a name
is looked up: every folder of the package holding a ``family.py`` (a new family is a new folder
and touches no other file), then every ``jaxpot.families`` entry point of installed packages.
A family defined anywhere else (a script, a test) calls :func:`register_family` itself.

A :class:`Family`'s ``fit(config, *, progress, echo)`` receives a config already checked
against its schema (:func:`jaxpot.training.schema.check`): the schema's names, paths resolved
against the config's folder, ``output`` and ``report`` filled in; it reads the data, fits,
writes the model and the report, and returns a result holding ``.model``.  ``check(config)``
runs the family's checks that need no fit (settings, the model built, the files' labels) for
``jaxpot validate``; ``build(config)`` returns the untrained model where a config alone
defines one (a network), None where the fit needs the data to make it (GAP, SNAP, MTP).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable, Mapping

from jaxpot.training.config import ConfigError
from jaxpot.training.schema import Table


@dataclasses.dataclass(frozen=True)
class Family:
    """One trainable family: ``model = name`` in a config fits it.

    Attributes:
        name: the ``model`` value. doc: one line saying what it fits.
        schema: () -> the root :class:`~jaxpot.training.schema.Table` of its configs (called
            once, on first use, so that registering imports nothing heavy).
        fit: (config, *, progress, echo) -> result with ``.model``; writes model and report.
        build: (config) -> the untrained model, or None (the fit makes it from the data).
        check: (config) -> None, raising on a problem a fit would meet before its work (for
            ``jaxpot validate``); None: the schema's checks only.
        float32: whether it may fit in float32 (``jaxpot fit --float32``).
        unnamed: (config) -> whether a config without ``model`` is this family's (GAP's
            TOML files in gap_fit's names have none).
        read: (config) -> config, applied to a config as read, before its checks (GAP:
            gap_fit's keys are case-insensitive).
    """

    name: str
    doc: str
    schema: Callable[[], Table]
    fit: Callable[..., object]
    build: Callable[[Mapping], object] | None = None
    check: Callable[[Mapping], None] | None = None
    float32: bool = False
    unnamed: Callable[[Mapping], bool] | None = None
    read: Callable[[dict], dict] | None = None

    def config_schema(self) -> Table:
        """The schema (built once)."""
        if self.name not in _SCHEMAS:
            _SCHEMAS[self.name] = self.schema()
        return _SCHEMAS[self.name]

    def defaults(self) -> dict:
        """Every key's default, tables as nested dicts (keys the fit chooses are absent)."""
        return self.config_schema().defaults()


_REGISTRY: dict[str, Family] = {}
_SCHEMAS: dict[str, Table] = {}
_DISCOVERED: list[bool] = []
ENTRY_POINT_GROUP = "jaxpot.families"


def register_family(fam: Family) -> Family:
    """Register ``fam`` under ``fam.name``; a different family under a taken name is refused."""
    if not isinstance(fam, Family):
        raise TypeError(f"register_family needs a Family, got {type(fam).__name__}")
    if not isinstance(fam.name, str) or not fam.name:
        raise ValueError(f"a family needs a name (model = \"...\"), got {fam.name!r}")
    old = _REGISTRY.get(fam.name)
    if old is not None and old != fam:
        raise ValueError(f"a family named {fam.name!r} is registered already ({old.doc})")
    _REGISTRY[fam.name] = fam
    _SCHEMAS.pop(fam.name, None)
    return fam


def unregister_family(name: str) -> None:
    """Remove a family (one registered for a test or a session)."""
    _REGISTRY.pop(name, None)
    _SCHEMAS.pop(name, None)


def _discover() -> None:
    """Import every ``jaxpot/<folder>/family.py`` and ``jaxpot.families`` entry point once."""
    if _DISCOVERED:
        return
    _DISCOVERED.append(True)
    import jaxpot
    root = os.path.dirname(os.path.abspath(jaxpot.__file__))
    for name in sorted(os.listdir(root)):
        if os.path.isfile(os.path.join(root, name, "family.py")):
            importlib.import_module(f"jaxpot.{name}.family")
    from importlib.metadata import entry_points
    for point in entry_points(group=ENTRY_POINT_GROUP):
        point.load()


def families() -> dict[str, Family]:
    """{name: Family} of every registered family, by name."""
    _discover()
    return dict(sorted(_REGISTRY.items()))


def family(name: str) -> Family:
    """The family ``model = name`` fits; ConfigError listing the registered ones."""
    if name not in _REGISTRY:
        _discover()
    if isinstance(name, str) and name in _REGISTRY:
        return _REGISTRY[name]
    import difflib
    known = sorted(_REGISTRY)
    guess = difflib.get_close_matches(str(name), known, n=1) if isinstance(name, str) else []
    hint = f" (did you mean {guess[0]!r}?)" if guess else ""
    raise ConfigError(f"model must be one of {known}, got {name!r}{hint}")


def family_of(config: Mapping, source: str = "the config") -> Family:
    """The family of a config: its ``model``, else the one family that reads configs without
    one (GAP's files in gap_fit's names)."""
    if "model" in config:
        try:
            return family(config["model"])
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None
    claims = [f for f in families().values() if f.unnamed is not None and f.unnamed(config)]
    if len(claims) == 1:
        return claims[0]
    raise ConfigError(f"{source} needs model = \"...\", one of {sorted(families())} "
                      "(`jaxpot template MODEL` writes a config to start from)")
