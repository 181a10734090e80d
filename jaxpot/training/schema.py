"""Config schemas: every key of a fit config with its type, default, unit and one-line doc,
defined once per family; from a schema, :func:`check` (the user's config refused in the user's
names: unknown keys and tables with a "did you mean", wrong types, values out of range, missing
files) and :func:`template` (a commented TOML with every key and its default).

    schema = Table("", "a SNAP fit", (MODEL, TRAIN, TEST, OUTPUT, REPORT, Table("snap", ...)))
    config = check(toml_dict, schema, base="runs")      # ConfigError naming every problem
    print(template(schema))                            # what `jaxpot template snap` writes

A :class:`Key` names the TOML types it accepts (``"int"``, ``"float"``, ``"bool"``,
``"string"``, ``"path"``, ``"paths"``, ``"list"``, ``"table"``, ``"false"``), its default
(:data:`REQUIRED`: it must be given; None: none, the fit chooses, and the doc says how), a
``rule`` for its meaning and range (:mod:`jaxpot.training.values`), an ``example`` the template
writes where there is no default, other names it is accepted under (gap_fit's ``at_file`` for
``train``) and whether its files must exist.  A :class:`Table` holds keys and tables; keys it
accepts without effect (``ignored``) and keys that do not apply to the family with the reason
(``refused``).  Plain dataclasses and difflib: no library to import (``import jaxpot`` does not
import this module at all).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import re
from collections.abc import Mapping

from jaxpot.training.config import ConfigError
from jaxpot.training.values import Rule, is_number


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: the default of a key that must be given
REQUIRED = _Required()


@dataclasses.dataclass(frozen=True)
class Key:
    """One key of a config: accepted TOML types, default, one-line doc, unit, check."""

    name: str
    types: tuple[str, ...]
    default: object = None
    doc: str = ""
    unit: str = ""
    rule: Rule | None = None
    example: object = None
    aliases: tuple[str, ...] = ()
    exists: bool = False


@dataclasses.dataclass(frozen=True)
class Table:
    """A table of a config (the root has the name ""): its keys and tables, keys accepted
    without effect, keys refused with the reason they do not apply."""

    name: str
    doc: str
    entries: tuple = ()
    ignored: frozenset = frozenset()
    refused: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def keys(self) -> dict[str, Key]:
        return {e.name: e for e in self.entries if isinstance(e, Key)}

    def tables(self) -> dict[str, Table]:
        return {e.name: e for e in self.entries if isinstance(e, Table)}

    def defaults(self) -> dict:
        """{key: default} of every key with a default, tables as nested dicts."""
        out: dict = {}
        for entry in self.entries:
            if isinstance(entry, Table):
                out[entry.name] = entry.defaults()
            elif entry.default is not None and entry.default is not REQUIRED:
                out[entry.name] = entry.default
        return out


_CHECKS = {
    "int": lambda v: is_number(v) and math.isfinite(v) and float(v).is_integer(),
    "float": is_number,
    "bool": lambda v: isinstance(v, bool),
    "false": lambda v: v is False,
    "string": lambda v: isinstance(v, str),
    "path": lambda v: isinstance(v, str) and v != "",
    "paths": lambda v: (isinstance(v, str) and v != "") or (
        isinstance(v, list) and bool(v) and all(isinstance(p, str) and p for p in v)),
    "list": lambda v: isinstance(v, list),
    "table": lambda v: isinstance(v, dict),
}
_NAMES = {"int": "int", "float": "float", "bool": "bool (true or false)", "false": "false",
          "string": "string", "path": "a path", "paths": "a path or a list of paths",
          "list": "list", "table": "table"}


def _type_problem(key: Key, value, where: str) -> str | None:
    if any(_CHECKS[t](value) for t in key.types):
        return None
    hint = ""
    if isinstance(value, str) and {"int", "float"} & set(key.types):
        hint = " (write numbers without quotes)"
    elif isinstance(value, str) and "bool" in key.types:
        hint = " (TOML's true or false, without quotes)"
    expected = " or ".join(_NAMES[t] for t in key.types)
    return f"{where}{key.name} = {value!r:.80}: expected {expected}{hint}"


def _suggest(name: str, candidates) -> str:
    match = difflib.get_close_matches(str(name), sorted(map(str, candidates)), n=1)
    return match[0] if match else ""


def _home(name: str, table: Table, path: str = "") -> str | None:
    """The table (``[training]``) other than the root where a key of this name lives."""
    for sub in table.tables().values():
        here = f"{path}.{sub.name}" if path else sub.name
        if name in sub.keys():
            return here
        found = _home(name, sub, here)
        if found:
            return found
    return None


def _unknown(name, value, table: Table, path: str, root: Table) -> str:
    tables, keys = table.tables(), table.keys()
    known_keys = sorted({*keys, *(a for k in keys.values() for a in k.aliases)})
    if isinstance(value, dict):
        guess = _suggest(name, tables) or _suggest(name, known_keys)
        where = f"[{path}.{name}]" if path else f"[{name}]"
        hint = f" (did you mean [{path + '.' if path else ''}{guess}]?)" if guess in tables \
            else f" (did you mean {guess!r}?)" if guess else ""
        listed = ", ".join(f"[{t}]" for t in tables) or "none"
        return f"unknown table {where}{hint}; known tables here: {listed}"
    guess = _suggest(name, known_keys) or _suggest(name, tables)
    home = None if guess else _home(str(name), root)
    hint = (f" (did you mean {guess!r}?)" if guess in known_keys else
            f" (did you mean [{guess}]?)" if guess else
            f" (it belongs in [{home}])" if home else "")
    where = f" in [{path}]" if path else ""
    return f"unknown key {name!r}{where}{hint}; known keys: {', '.join(known_keys)}"


def _resolve(value, base: str | None):
    """A path (or list of paths) relative to ``base`` (the config's folder)."""
    if base is None or isinstance(value, bool):
        return value
    if isinstance(value, list):
        return [_resolve(v, base) for v in value]
    return value if os.path.isabs(value) else os.path.normpath(os.path.join(base, value))


def _check_table(given: Mapping, table: Table, path: str, base: str | None, root: Table,
                 problems: list) -> dict:
    where = f"[{path}] " if path else ""
    keys, tables = table.keys(), table.tables()
    alias_of = {a: k.name for k in keys.values() for a in k.aliases}
    out: dict = {}
    for name, value in given.items():
        canonical = alias_of.get(name, name)
        if name in table.ignored:
            continue
        if name in table.refused:
            problems.append(f"{where}{name}: {table.refused[name]}")
        elif canonical in out:
            problems.append(f"{where}{name} and {canonical} are the same setting: give one")
        elif canonical in tables:
            sub = tables[canonical]
            here = f"{path}.{canonical}" if path else canonical
            if not isinstance(value, dict):
                problems.append(f"[{here}] must be a table, got {value!r:.80}")
            else:
                out[canonical] = _check_table(value, sub, here, base, root, problems)
        elif canonical in keys:
            key = keys[canonical]
            problem = _type_problem(key, value, where)
            if problem is None and key.rule is not None:
                try:
                    key.rule(value, f"{where}{name}")
                except (TypeError, ValueError) as err:
                    problem = str(err)
            if problem is None and {"path", "paths"} & set(key.types) and \
                    isinstance(value, (str, list)):
                value = _resolve(value, base)
                if key.exists:
                    problem = _missing_files(name, value, where, base)
            if problem:
                problems.append(problem)
            out[canonical] = value
        else:
            problems.append(_unknown(name, value, table, path, root))
    for key in keys.values():
        if key.default is REQUIRED and key.name not in out and not any(
                a in given for a in key.aliases):
            example = f", e.g. {key.name} = {toml_value(key.example)}" \
                if key.example is not None else ""
            unit = f" ({key.unit})" if key.unit else ""
            problems.append(f"{where}{key.name} is missing: {key.doc}{unit}{example}")
    return out


def _missing_files(name: str, value, where: str, base: str | None) -> str | None:
    paths = [value] if isinstance(value, str) else value
    missing = [p for p in paths if not os.path.exists(p)]
    if not missing:
        return None
    folder = os.path.dirname(missing[0]) or "."
    near = _suggest(os.path.basename(missing[0]), os.listdir(folder)) \
        if os.path.isdir(folder) else ""
    hint = f" (did you mean {os.path.join(os.path.dirname(missing[0]), near)!r}?)" \
        if near else ""
    where_from = f"; relative paths are read from the config's folder " \
        f"{os.path.abspath(base or '.')}" if base is not None else ""
    return f"{where}{name}: no such file {', '.join(map(repr, missing))}{hint}{where_from}"


def check(config: Mapping, schema: Table, base: str | None = None,
          source: str = "the config") -> dict:
    """``config`` in the schema's names (aliases replaced), its paths relative to ``base``
    (the config's folder; None: as given); every problem (unknown key or table, wrong type,
    value out of range, missing key, missing input file) named in one :class:`ConfigError`.
    Defaults are not filled in: each family's fit applies its own."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"{source}: expected a table of settings, got {config!r:.80}")
    problems: list[str] = []
    out = _check_table(config, schema, "", base, schema, problems)
    if problems:
        count = f"{len(problems)} problems: " if len(problems) > 1 else ""
        raise ConfigError(f"{source}: {count}" + "; ".join(problems))
    return out


# ---------------------------------------------------------------------------- the template
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_value(value) -> str:
    """``value`` written as TOML (strings, numbers, booleans, lists, inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = (f"{k if _BARE.match(str(k)) else json.dumps(str(k))} = {toml_value(v)}"
                 for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"{value!r} has no TOML form")


_PLACEHOLDER = {"int": 1, "float": 1.0, "bool": False, "string": "", "path": "file",
                "paths": ["file.extxyz"], "list": [], "table": {}}


def _key_lines(key: Key) -> list[str]:
    unit = f" [{key.unit}]" if key.unit else ""
    lines = [f"# {key.doc}{unit}" if key.doc else f"# {key.name}{unit}"]
    if key.default is REQUIRED:
        lines[0] += " (required)"
        value = key.example if key.example is not None else _PLACEHOLDER[key.types[0]]
        lines.append(f"{key.name} = {toml_value(value)}")
    elif key.default is None:
        value = key.example if key.example is not None else _PLACEHOLDER[key.types[0]]
        lines.append(f"# {key.name} = {toml_value(value)}")
    else:
        lines.append(f"{key.name} = {toml_value(key.default)}")
    return lines


def _table_lines(table: Table, path: str) -> list[str]:
    lines = []
    for entry in table.entries:
        if isinstance(entry, Key):
            lines += _key_lines(entry)
    for entry in table.entries:
        if isinstance(entry, Table):
            here = f"{path}.{entry.name}" if path else entry.name
            lines += ["", f"[{here}]", *(f"# {line}" for line in entry.doc.splitlines())]
            lines += _table_lines(entry, here)
    return lines


def template(schema: Table, header: str = "") -> str:
    """A commented TOML config with every key of ``schema`` and its default; keys without a
    default (the fit chooses, or optional files) are commented out with an example, required
    keys are written with their example."""
    top = [f"# {line}" if line else "#" for line in (header or schema.doc).splitlines()]
    top += ["# Every key with its default; a commented-out key has none (the fit chooses, as its",
            "# comment says). Relative paths are read from this file's folder.",
            "# Check it with `jaxpot validate FILE`, fit with `jaxpot fit FILE`.", ""]
    return "\n".join(top + _table_lines(schema, "")) + "\n"
