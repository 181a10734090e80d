"""LAMMPS three-body files (``.tersoff``, ``.sw``) read as ``pair_coeff`` reads them.

An entry is three labels then the style's numbers.  Labels are strings matched against the
names a ``pair_coeff`` line maps atom types to (``pair_coeff * * SiCGe.tersoff Si(D) C``): a
label need not be an element symbol (``Si(B)``, ``Si(D)``).  jaxpot's atoms carry elements, so
``species`` maps elements to labels:

* ``None``: every label of the file, each an element symbol (as ``Si.tersoff``);
* a list of elements (``["Si", "C"]``): the labels with those names, in that order;
* a mapping ``{element: label}`` (``{"Si": "Si(D)", "C": "C"}``), in that order.

As in LAMMPS, entries with a label outside the mapping are skipped unread, and every triplet of
the mapped labels must have exactly one entry (a missing or repeated one is refused, naming it);
triplets of labels not used need not be there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
from ase.data import atomic_numbers

from jaxpot.elements import element_symbols
from jaxpot.potentials.file_checks import check_style, read_text, words_with_lines

Entry = tuple[list[str], int]  # the entry's words and the line it starts on


def labelled_entries(path, style: str, width: int, fields: str,
                     reader: str) -> tuple[list[str], list[Entry]]:
    """(labels in file order, entries of ``width`` words) of a LAMMPS ``style`` file; errors
    name the file, the line and the layout (``fields``)."""
    path = os.fspath(path)
    check_style(path, (style,), reader)
    words = words_with_lines(read_text(path, f"LAMMPS {style}"))
    if not words:
        raise ValueError(f"{path}: no entries (the file is empty or holds only comments); a "
                         f"{style} entry is {width} fields: {fields}")
    if len(words) % width:
        raise ValueError(f"{path}: not a LAMMPS {style} file: entries of {width} fields "
                         f"({fields}) expected, found {len(words)} fields, "
                         f"{len(words) % width} left over")
    entries = [([w for w, _ in words[k:k + width]], words[k][1])
               for k in range(0, len(words), width)]
    labels: list[str] = []
    for entry, line in entries:
        for name in entry[:3]:
            if _is_number(name):
                raise ValueError(f"{path}, line {line}: a number {name!r} where an entry "
                                 f"starts with three labels ({fields})")
            if name not in labels:
                labels.append(name)
    return labels, entries


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _symbol(label: str) -> bool:
    return label in atomic_numbers and label != "X"


def map_species(species, labels: list[str], path: str) -> tuple[list[str], list[str]]:
    """(elements, the file label of each) for ``species`` (see the module docstring)."""
    if species is None:
        odd = [lab for lab in labels if not _symbol(lab)]
        if odd:
            raise ValueError(f"{path}: labels {odd} are not element symbols; map elements to "
                             f"the file's labels as pair_coeff does, e.g. species="
                             f"{{'{_guess(odd[0])}': '{odd[0]}'}} (the file's labels: {labels})")
        return list(labels), list(labels)
    if isinstance(species, Mapping):
        elements = element_symbols(list(species.keys()), "species")
        chosen = [str(v) for v in species.values()]
        missing = [lab for lab in chosen if lab not in labels]
        if missing:
            raise ValueError(f"{path}: labels {missing} are not in the file, which has labels "
                             f"{labels}; map each element to one of them")
        return elements, chosen
    elements = element_symbols(species, "species")
    missing = [e for e in elements if e not in labels]
    if missing:
        hint = ("" if all(_symbol(lab) for lab in labels) else
                "; map elements to labels with species={element: label}")
        raise ValueError(f"{path}: species {missing} are not in the file, which has "
                         f"{labels}; pick species among them{hint}")
    return elements, list(elements)


def _guess(label: str) -> str:
    """The element symbol a label starts with (``Si(B)`` -> ``Si``), for a hint."""
    for n in (2, 1):
        if _symbol(label[:n]):
            return label[:n]
    return "Si"


def mapped_table(path: str, style: str, names: tuple[str, ...], entries: list[Entry],
                 chosen: list[str], fields: str) -> dict[str, np.ndarray]:
    """{name: (S, S, S)} for the S mapped labels ``chosen`` (one label may serve several
    elements): entries with another label are skipped, each mapped triplet needs one entry."""
    index: dict[str, list[int]] = {}
    for i, lab in enumerate(chosen):
        index.setdefault(lab, []).append(i)
    s = len(chosen)
    table = {k: np.zeros((s, s, s)) for k in names}
    seen = np.zeros((s, s, s), dtype=bool)
    for entry, line in entries:
        if not all(lab in index for lab in entry[:3]):
            continue  # as LAMMPS: an entry of labels not used is not read
        values = []
        for name, text in zip(names, entry[3:]):
            try:
                values.append(float(text))
            except ValueError:
                raise ValueError(f"{path}: non-numeric {name} {text!r} in entry "
                                 f"{' '.join(entry[:3])} on line {line} ({fields})") from None
        cells = np.ix_(index[entry[0]], index[entry[1]], index[entry[2]])
        if seen[cells].any():
            raise ValueError(f"{path}, line {line}: a second entry for {' '.join(entry[:3])} "
                             "(LAMMPS refuses duplicates too); keep one")
        seen[cells] = True
        for name, value in zip(names, values):
            table[name][cells] = value
    if not seen.all():
        i, j, k = np.argwhere(~seen)[0]
        raise ValueError(f"{path}: no entry for triplet {chosen[i]} {chosen[j]} {chosen[k]} "
                         f"(a {style} file needs every triplet of the labels it is used with, "
                         f"{sorted(set(chosen))}, as LAMMPS does; species= picks fewer)")
    return table


def read_mapped_triplets(path, style: str, names: tuple[str, ...], reader: str,
                         species=None) -> tuple[list[str], list[str], dict[str, np.ndarray]]:
    """(elements, their labels, {name: (S, S, S)}) of a LAMMPS three-body file of ``style``
    whose entries are three labels and the numbers ``names``, mapped by ``species``."""
    path = os.fspath(path)
    fields = f"3 element labels, then {' '.join(names)}"
    labels, entries = labelled_entries(path, style, 3 + len(names), fields, reader)
    elements, chosen = map_species(species, labels, path)
    return elements, chosen, mapped_table(path, style, names, entries, chosen, fields)
