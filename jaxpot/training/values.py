"""Settings values checked for meaning: a real boolean, an integer, a number in its range.

Python turns the TOML string ``"false"`` into True, ``float("0.1")`` accepts a string where a
number belongs and a negative learning rate climbs the loss; each of these is refused here
with a ValueError naming the setting, before any work is done:

    RULES = {"epochs": optional(integer_rule(1)), "learning_rate": number_rule(low=0.0)}
    check_values({"epochs": 0}, RULES, "[training] ")   # ValueError: [training] epochs must be ...

:class:`CheckedSettings` makes a NamedTuple of settings check its values on construction and on
``_replace`` (the Python API), with the same rules the TOML readers use.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar

Rule = Callable[[object, str], object]  # (value, name) -> value, or ValueError naming it


def is_number(value) -> bool:
    """A real number (int, float, NumPy scalar), not a bool or a string."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and \
        type(value).__name__ != "bool_"


def boolean(value, name: str) -> bool:
    """``value`` if it is a real boolean (TOML true/false), else ValueError naming ``name``."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise ValueError(f"{name} must be true or false (a boolean: TOML's true/false without "
                     f"quotes, Python's True/False), got {value!r}")


def integer(value, name: str, low: int | None = None) -> int:
    """``int(value)`` of an integral number >= ``low``, else ValueError naming ``name``."""
    whole = is_number(value) and math.isfinite(value) and float(value).is_integer()
    if not whole or (low is not None and value < low):
        rule = f" >= {low}" if low is not None else ""
        raise ValueError(f"{name} must be an integer{rule}, got {_shown(value)}")
    return int(value)


def number(value, name: str, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False, allow_inf: bool = False,
           hint: str = "") -> float:
    """``float(value)`` of a real number in the interval given (``low_open``: low excluded;
    infinity only with ``allow_inf``), else ValueError naming ``name`` (``hint``: why)."""
    ok = is_number(value) and not math.isnan(value) and (allow_inf or math.isfinite(value))
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if ok:
        return float(value)
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        bounds.append(f"{'<' if high_open else '<='} {high:g}")
    what = "a number" if allow_inf else "a finite number"
    rule = f" {' and '.join(bounds)}" if bounds else ""
    raise ValueError(f"{name} must be {what}{rule}, got {_shown(value)}"
                     + (f" ({hint})" if hint and is_number(value) else ""))


def _shown(value) -> str:
    """``value`` as an error shows it (a string: say so, and how TOML writes a number)."""
    if isinstance(value, str):
        return f"the string {value!r} (write numbers without quotes)"
    return repr(value)


def numbers_list(value, name: str, **bounds) -> tuple[float, ...]:
    """A non-empty list or tuple of numbers, each as :func:`number` with ``bounds``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise ValueError(f"{name} must be a non-empty list of numbers, got {value!r}")
    return tuple(number(v, f"{name}[{i}]", **bounds) for i, v in enumerate(value))


def sigmas(value, name: str) -> object:
    """Loss sigmas (energy eV/atom, forces eV/Å, stress GPa): three numbers > 0 (inf drops
    a quantity), as a :class:`~jaxpot.training.weights.LossWeights` or a 3-sequence."""
    fields = ("energy", "forces", "stress")
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 3:
        raise ValueError(f"{name} must be LossWeights(energy, forces, stress), got {value!r}")
    for field, v in zip(fields, value):
        number(v, f"{name}.{field}", low=0.0, low_open=True, allow_inf=True,
               hint="an expected error: inf leaves the quantity out; 0 or less has no meaning")
    return value


def factor_table(value, name: str) -> Mapping:
    """A mapping {config_type: factor} of finite factors >= 0."""
    if isinstance(value, Mapping):
        for key, v in value.items():
            number(v, f"{name}[{key!r}]", low=0.0)
        return value
    raise ValueError(f"{name} must be a table {{config_type = factor}}, got {value!r}")


def integer_rule(low: int | None = None) -> Rule:
    return lambda v, name: integer(v, name, low)


def number_rule(**bounds) -> Rule:
    return lambda v, name: number(v, name, **bounds)


def optional(rule: Rule) -> Rule:
    """``rule``, with None allowed (a default filled in later)."""
    return lambda v, name: None if v is None else rule(v, name)


def check_values(values: Mapping, rules: Mapping[str, Rule], prefix: str = "") -> None:
    """Check each value that has a rule; errors name the key as ``prefix + key``."""
    for key, value in values.items():
        if key in rules:
            rules[key](value, f"{prefix}{key}")


class CheckedSettings:
    """Mixin for a NamedTuple of settings (``class S(CheckedSettings, _SFields)``): each
    construction, ``_make`` and ``_replace`` checks the values against ``RULES``, naming the
    field as ``S.field``."""

    __slots__ = ()
    RULES: ClassVar[Mapping[str, Rule]] = {}

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls, *args, **kwargs)
        check_values(self._asdict(), cls.RULES, f"{cls.__name__}.")
        return self

    def _replace(self, **changes):
        unknown = sorted(set(changes) - set(self._fields))
        if unknown:
            raise ValueError(f"{type(self).__name__} has no fields {unknown}")
        return type(self)(**{**self._asdict(), **changes})

    @classmethod
    def _make(cls, iterable):
        return cls(*iterable)


def unknown_keys(given, known, table: str) -> str | None:
    """The error naming the keys of ``given`` not in ``known`` (in ``table``, e.g.
    ``"[architecture]"``), with the closest known key of each as a suggestion
    (``difflib``); None when all are known."""
    import difflib
    unknown = sorted((k for k in given if k not in set(known)), key=str)
    if not unknown:
        return None
    names = sorted(map(str, known))
    close = {k: difflib.get_close_matches(str(k), names, n=1) for k in unknown}
    hints = [f"{m[0]!r}" + (f" for {k!r}" if len(unknown) > 1 else "")
             for k, m in close.items() if m]
    hint = f"; did you mean {', '.join(hints)}?" if hints else ""
    return f"{table}: unknown keys {unknown}{hint} (known: {', '.join(names)})"


def widths(value, name: str) -> tuple[int, ...]:
    """Layer widths: a list of integers >= 1 (a width of 0 builds a network that cannot fit);
    an empty list is no hidden layer."""
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
        raise ValueError(f"{name} must be a list of layer widths (integers >= 1), e.g. "
                         f"[64, 64], got {value!r}")
    return tuple(integer(v, f"{name}[{i}]", 1) for i, v in enumerate(value))


def choice(value, name: str, allowed: Sequence[str]) -> str:
    """``value`` if it is one of the ``allowed`` strings, else ValueError listing them."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
    return value


def check_arguments(values: Mapping, rules: Mapping[str, Rule], prefix: str) -> dict:
    """``values`` with each ruled entry replaced by its checked value (``int`` for integers,
    tuples for widths); errors name the key as ``prefix + key``."""
    return {k: rules[k](v, f"{prefix}{k}") if k in rules else v for k, v in values.items()}
