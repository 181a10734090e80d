"""Checks shared by the potential-file readers: the file is text, and of the style asked for.

:func:`read_text` reads a file as text, refusing a missing file, a folder and binary data
(NUL or control bytes: an archive, a pickle, random bytes) with an error naming the file;
8-bit text that is not UTF-8 (a Latin-1 name in a comment) is read as Latin-1.

:func:`check_style` refuses a file whose name marks another LAMMPS ``pair_style``: several
styles share a layout (``.gw`` and ``.vashishta`` files have the 17 fields of a ``.tersoff``
entry, ``.sw.mod`` files the 14 of a ``.sw`` entry) but not the energy, so a reader that
accepted them would return a model with the wrong physics.  Names without a known ending
are accepted (users name files freely).
"""

from __future__ import annotations

import os
import re

#: name endings (lower case) of LAMMPS potential files -> the pair_style that reads them
STYLE_ENDINGS = {
    ".tersoff": "tersoff", ".tersoff.mod": "tersoff/mod", ".tersoff.modc": "tersoff/mod/c",
    ".tersoff.mod.c": "tersoff/mod/c", ".tersoff.zbl": "tersoff/zbl",
    ".tersoff.shift": "tersoff/shift", ".gw": "gw", ".gw.zbl": "gw/zbl",
    ".sw": "sw", ".sw.mod": "sw/mod", ".sw.quip": "quip", ".xml": "quip (QUIP/GAP XML)",
    ".vashishta": "vashishta", ".edip": "edip", ".extep": "extep", ".lcbop": "lcbop",
    ".nb3b.harmonic": "nb3b/harmonic", ".nb3b.screened": "nb3b/screened",
    ".poly": "polymorphic", ".bop": "bop", ".bop.table": "bop", ".airebo": "airebo",
    ".airebo-m": "airebo/morse", ".rebo": "rebo", ".rebomos": "rebomos",
    ".meam": "meam", ".msmeam": "meam/ms", ".meam.spline": "meam/spline",
    ".meam.sw.spline": "meam/sw/spline", ".adp": "adp", ".cdeam": "eam/cd",
    ".eam.he": "eam/he", ".eam": "eam", ".eam.alloy": "eam/alloy", ".setfl": "eam/alloy",
    ".eam.fs": "eam/fs", ".snapcoeff": "snap", ".snapparam": "snap",
    ".mliap.model": "mliap", ".mliap.descriptor": "mliap", ".mtp": "mlip", ".ace": "pace",
    ".yace": "pace", ".pod": "pod", ".table": "table", ".comb": "comb", ".comb3": "comb3",
    ".snap": "none (a LAMMPS input snippet: give the .snapcoeff and .snapparam it names)",
    ".json": "none (a JSON file)", ".jaxpot": "none (a saved jaxpot model: use jaxpot.load)",
    ".npz": "none (a NumPy archive)", ".pkl": "none (a pickle)", ".xyz": "none (a structure)",
    ".extxyz": "none (a structure)", ".cif": "none (a structure)",
    # other styles' files shipped with LAMMPS under names of their own
    ".agni": "agni", ".ilp": "ilp/graphene/hbn, ilp/tmd or saip/metal",
    ".kc": "kolmogorov/crespi/z or kolmogorov/crespi/full",
    ".kc-full": "kolmogorov/crespi/full", ".lebedeva": "lebedeva/z", ".drip": "drip",
    ".aip.water.2dm": "aip/water/2dm", ".mesocnt": "mesocnt", ".streitz": "coul/streitz",
    ".ctip": "coul/ctip", ".uf3": "uf3", ".rann": "rann", ".mgpt.parmin": "mgpt",
    ".mgpt.potin": "mgpt", ".cgdna": "oxdna/oxrna2 (coarse-grained DNA/RNA)",
    ".mliap": "none (a LAMMPS input snippet for pair_style mliap)",
    ".cmap": "none (CHARMM CMAP data for fix cmap)",
}
#: the jaxpot function that reads each style's files
READERS = {"tersoff": "jaxpot.potentials.tersoff", "sw": "jaxpot.potentials.stillinger_weber",
           "eam": "jaxpot.potentials.eam", "eam/alloy": "jaxpot.potentials.eam",
           "eam/fs": "jaxpot.potentials.eam", "snap": "jaxpot.potentials.snap",
           "mlip": "jaxpot.potentials.read_mtp"}
#: styles whose files have the layout of another style's (a reader would take them silently)
_LOOKALIKES = {"gw": "Gao-Weber", "tersoff/mod": "Kumagai's modified Tersoff",
               "tersoff/mod/c": "modified Tersoff with a constant", "vashishta": "Vashishta",
               "sw/mod": "Stillinger-Weber with a modified three-body cutoff",
               "tersoff/zbl": "Tersoff with a ZBL core", "gw/zbl": "Gao-Weber with a ZBL core"}
_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")  # not tab, newline, cr, ff, vt


def file_style(path) -> tuple[str, str] | None:
    """``(ending, pair_style)`` of the longest known ending of the file's name, or None."""
    name = os.path.basename(os.fspath(path)).lower()
    if name.startswith("ffield."):
        return "ffield.*", "reaxff, comb or eim"
    found = [e for e in STYLE_ENDINGS if name.endswith(e)]
    if not found:
        return None
    ending = max(found, key=len)
    return ending, STYLE_ENDINGS[ending]


def check_style(path, styles: tuple[str, ...], reader: str, error=ValueError) -> None:
    """Raise ``error`` naming the file, its style and the style ``reader`` reads when the
    file's name marks a style not in ``styles`` (the first one is named in the message)."""
    found = file_style(path)
    if found is None or found[1] in styles:
        return
    ending, style = found
    what = f"a LAMMPS pair_style {style} file" if not style.startswith("none") else \
        style[len("none ("):-1]
    kind = _LOOKALIKES.get(style)
    same = (f" ({kind}: its entries have the layout of another style's but not its energy)"
            if kind else "")
    other = READERS.get(style)
    hint = f"; read it with {other}" if other and other != reader else ""
    raise error(f"{os.fspath(path)}: a '{ending}' file is {what}{same}; {reader} reads "
                f"pair_style {styles[0]} files only{hint}")


def read_text(path, what: str, error=ValueError) -> str:
    """The file's text; FileNotFoundError if missing, ``error`` naming the file for a folder
    or binary data (see the module docstring)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} file {path} does not exist")
    if os.path.isdir(path):
        raise error(f"{path} is a folder, not a {what} file")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as err:
        raise error(f"{path}: cannot read the {what} file ({err.strerror})") from None
    control = _CONTROL.search(data)
    if control is not None:
        line = data.count(b"\n", 0, control.start()) + 1
        raise error(f"{path}: binary data (byte {data[control.start()]:#04x} on line {line}), "
                    f"not a text {what} file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # 8-bit text (Latin-1 comments): the readers check every field
        return data.decode("latin-1")


def require_content(text: str, path, what: str, error=ValueError) -> None:
    """Raise ``error`` naming the file when it holds nothing but blanks (an empty file)."""
    if not text.strip():
        raise error(f"{os.fspath(path)}: the {what} file is empty")


def words_with_lines(text: str) -> list[tuple[str, int]]:
    """The whitespace-separated words of a file without its ``#`` comments, each with its
    line number (from 1)."""
    return [(word, k) for k, line in enumerate(text.splitlines(), 1)
            for word in line.split("#", 1)[0].split()]
