"""Element arguments (``species=["Si", 14]``) checked once for every constructor.

Symbols or atomic numbers become atomic numbers; a mistake raises a ValueError naming the
argument and the entry: an unknown symbol such as ``"Xx"``, a wrong case such as ``"si"``, a
number outside 1..118, a string of several symbols (``"SiC"``) instead of a list.  One symbol
alone (``"Si"``) is a list of one.
"""

from __future__ import annotations

import numbers

from ase.data import atomic_numbers, chemical_symbols

#: largest atomic number ASE knows
MAX_Z = len(chemical_symbols) - 1


def _suggestion(symbol: str) -> str:
    """`` (did you mean 'Si'?)`` for a symbol in the wrong case, else ``""``."""
    fixed = symbol[:1].upper() + symbol[1:].lower()
    return f" (did you mean {fixed!r}?)" if fixed in atomic_numbers and fixed != "X" else ""


def element_number(value, what: str = "species") -> int:
    """The atomic number of a symbol (``"Si"``) or number (``14``); ValueError naming ``what``
    and the entry otherwise."""
    if isinstance(value, str):
        z = atomic_numbers.get(value.strip())
        if z is None or z == 0:
            raise ValueError(f"{what}: unknown element symbol {value!r}{_suggestion(value)}; "
                             "use chemical symbols such as 'Si' or atomic numbers 1.."
                             f"{MAX_Z}")
        return int(z)
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral) and float(
            value).is_integer():  # 14.0 read from a float array
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{what}: an element must be a chemical symbol or an atomic number, "
                         f"got {value!r}")
    if not 1 <= int(value) <= MAX_Z:
        raise ValueError(f"{what}: atomic number {int(value)} is outside 1..{MAX_Z}")
    return int(value)


def element_numbers(species, what: str = "species", *, repeats: bool = False
                    ) -> tuple[int, ...]:
    """Atomic numbers of a list of symbols or numbers (or one symbol or number), checked (see
    the module docstring); repeated elements are refused unless ``repeats``."""
    if isinstance(species, str) and atomic_numbers.get(species.strip(), 0) > 0 or isinstance(
            species, numbers.Integral) and not isinstance(species, bool):
        species = [species]
    if isinstance(species, str):
        raise ValueError(f"{what} must be a list of elements such as ['Si', 'C'], got the "
                         f"string {species!r}")
    try:
        items = list(species)
    except TypeError:
        raise ValueError(f"{what} must be a list of element symbols or atomic numbers, got "
                         f"{species!r}") from None
    if not items:
        raise ValueError(f"{what} must name at least one element, got {species!r}")
    zs = tuple(element_number(v, what) for v in items)
    repeated = sorted({z for z in zs if zs.count(z) > 1})
    if repeated and not repeats:
        raise ValueError(f"{what} {items!r} repeat the element(s) "
                         f"{[chemical_symbols[z] for z in repeated]}")
    return zs


def element_symbols(species, what: str = "species") -> list[str]:
    """Chemical symbols of a list of symbols or numbers, checked as :func:`element_numbers`."""
    return [chemical_symbols[z] for z in element_numbers(species, what)]
