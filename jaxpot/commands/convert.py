"""``jaxpot convert IN OUT [--elements Si,Ge] [--interpolation lammps|ase]``: one model file
format to another, chosen by the file names.

    jaxpot convert si.jaxpot si.xml              GAP -> QUIP/GAP XML (quippy, pair_style quip)
    jaxpot convert gp.xml si.jaxpot              GAP XML (gap_fit's) -> jaxpot model file
    jaxpot convert si.jaxpot si.snapcoeff        SNAP/qSNAP -> si.snapcoeff + si.snapparam
    jaxpot convert si.snapcoeff si.jaxpot        (si.snapparam beside it)
    jaxpot convert sige.jaxpot sige.mtp          MTP -> mlip-2 .mtp
    jaxpot convert sige.mtp sige.jaxpot --elements Si,Ge     (the element of each type)
    jaxpot convert Cu.eam.alloy cu.jaxpot        LAMMPS .eam / .eam.alloy / .eam.fs, .sw,
    jaxpot convert SiC.tersoff sic.jaxpot        .tersoff -> jaxpot (--elements: a subset)

Outputs are written atomically; an output that is an input is refused before anything is
read, and so is a model of a kind the target format cannot hold (a SNAP as GAP XML, ...).
"""

from __future__ import annotations

import logging
import os

_log = logging.getLogger("jaxpot.cli")

NAME = "convert"
HELP = ("convert a model file: .jaxpot <-> GAP .xml, SNAP .snapcoeff/.snapparam, mlip-2 .mtp; "
        "LAMMPS .eam/.eam.alloy/.eam.fs/.sw/.tersoff -> .jaxpot")
ORDER = 30

#: input formats: file-name ending -> what it is
READS = {".jaxpot": "jaxpot model file", ".xml": "GAP XML", ".snapcoeff": "SNAP",
         ".snapparam": "SNAP", ".mtp": "mlip-2 MTP", ".eam": "LAMMPS EAM (funcfl)",
         ".eam.alloy": "LAMMPS EAM (setfl)", ".eam.fs": "LAMMPS EAM (Finnis-Sinclair)",
         ".sw": "LAMMPS Stillinger-Weber", ".tersoff": "LAMMPS Tersoff"}
#: output formats: file-name ending -> (what it is, model kinds it holds, in words)
WRITES = {".jaxpot": ("jaxpot model file", None, "any model"),
          ".xml": ("GAP XML", ("sum", "gap_soap", "gap_distance_2b"),
                   "GAP soap and distance_2b terms (a jaxpot.gap.fit model without baseline)"),
          ".snapcoeff": ("SNAP", ("snap",), "SNAP and qSNAP models"),
          ".snapparam": ("SNAP", ("snap",), "SNAP and qSNAP models"),
          ".mtp": ("mlip-2 MTP", ("mtp", "mlip_mtp"), "MTP models")}
_ELEMENTS = (".mtp", ".sw", ".tersoff", ".snapcoeff", ".snapparam")


def arguments(p) -> None:
    p.add_argument("input", help="model file to read: " + ", ".join(READS))
    p.add_argument("output", help="file to write: " + ", ".join(WRITES)
                   + " (a SNAP writes both .snapcoeff and .snapparam)")
    p.add_argument("--elements", help="comma-separated elements: the element of each type of "
                   "an .mtp file (required), or the subset of a .sw/.tersoff/.snapcoeff file's "
                   "elements to keep")
    p.add_argument("--interpolation", choices=("lammps", "ase"), default="lammps",
                   help="EAM inputs: whose spline to follow (default lammps)")


def suffix(path: str, table: dict, role: str) -> str:
    """The format ending of ``path`` in ``table`` (longest match, case-insensitive)."""
    name = os.path.basename(path).lower()
    found = [s for s in table if name.endswith(s)]
    if not found:
        raise ValueError(f"{role} {path}: jaxpot convert does not know this file type by its "
                         f"name; it {'reads' if role == 'input' else 'writes'} "
                         f"{', '.join(table)}" + ("" if role == "input" else
                                                  " (LAMMPS EAM/SW/Tersoff files are inputs "
                                                  "only)"))
    return max(found, key=len)


def snap_pair(path: str) -> tuple[str, str]:
    """(.snapcoeff, .snapparam) paths sharing ``path``'s stem."""
    stem = os.path.splitext(path)[0]
    return stem + ".snapcoeff", stem + ".snapparam"


def input_files(path: str, kind: str) -> list[str]:
    """Every file a conversion reads (a SNAP: both files)."""
    return list(snap_pair(path)) if kind in (".snapcoeff", ".snapparam") else [path]


def output_files(path: str, kind: str) -> list[str]:
    """Every file a conversion writes (a SNAP: both files)."""
    return list(snap_pair(path)) if kind in (".snapcoeff", ".snapparam") else [path]


def parse_elements(text: str | None) -> list[str] | None:
    """``"Si,Ge"`` -> ["Si", "Ge"] (None stays None)."""
    if text is None:
        return None
    out = [e.strip() for e in text.replace(" ", ",").split(",") if e.strip()]
    if not out:
        raise ValueError("--elements names no element: give e.g. --elements Si,Ge")
    return out


def read_model(path: str, kind: str, elements: list[str] | None, interpolation: str):
    """The model in ``path`` (a file of format ``kind``)."""
    for f in input_files(path, kind):
        if not os.path.isfile(f):
            what = "the .snapparam beside it" if f != path else "the input file"
            raise FileNotFoundError(f"{f} ({what}) does not exist: check the path")
    if elements is not None and kind not in _ELEMENTS:
        raise ValueError(f"--elements: {path} ({READS[kind]}) names its own elements; "
                         "--elements is for .mtp (required), .sw, .tersoff and .snapcoeff "
                         "inputs")
    if kind == ".jaxpot":
        import jaxpot
        return jaxpot.load(path)
    if kind == ".xml":
        from jaxpot.gap.xml_reader import read_gap_xml
        return read_gap_xml(path)
    if kind in (".snapcoeff", ".snapparam"):
        from jaxpot.potentials import snap
        return snap(*snap_pair(path), species=elements)
    if kind == ".mtp":
        if elements is None:
            raise ValueError(f"{path}: an mlip-2 .mtp file numbers its species 0, 1, ...; give "
                             "the element of each type in order with --elements (e.g. "
                             "--elements Si,Ge)")
        from jaxpot.potentials import read_mtp
        return read_mtp(path, elements)
    if kind.startswith(".eam"):
        from jaxpot.potentials import eam
        return eam(path, interpolation=interpolation)
    from jaxpot.potentials import stillinger_weber, tersoff
    return (stillinger_weber if kind == ".sw" else tersoff)(path, species=elements)


def check_kind(model, path: str, kind: str, source: str) -> None:
    """Refuse a model the output format cannot hold, naming the model and the format."""
    what, kinds, holds = WRITES[kind]
    if kinds is not None and model.kind not in kinds:
        name = (f"{model.name} model" if model.kind == "sum" else
                f"{model.kind} model ({model.name})")
        raise ValueError(f"{path}: a {what} file cannot hold the {name} read from {source}; "
                         f"{what} holds {holds}. Choose an output format for this model "
                         "(.jaxpot holds any)")


def write_model(model, path: str, kind: str, source: str) -> list[str]:
    """Write ``model`` to ``path`` in format ``kind``; returns the files written."""
    check_kind(model, path, kind, source)
    if kind == ".jaxpot":
        import jaxpot
        jaxpot.save(model, path)
    elif kind == ".xml":
        from jaxpot.gap.xml_writer import write_gap_xml
        write_gap_xml(model, path)
    elif kind in (".snapcoeff", ".snapparam"):
        from jaxpot.potentials.snap import write_snap
        write_snap(model, *snap_pair(path))
    else:
        from jaxpot.potentials import write_mtp
        write_mtp(model, path)
    return output_files(path, kind)


def run(args) -> int:
    from jaxpot.io.paths import check_outputs
    src_kind = suffix(args.input, READS, "input")
    out_kind = suffix(args.output, WRITES, "output")
    outputs = output_files(args.output, out_kind)
    check_outputs({"output file": outputs},
                  {"input file": input_files(args.input, src_kind)})
    for f in outputs:
        folder = os.path.dirname(os.path.abspath(f))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"the output file {f} would go in {folder}, which does "
                                    "not exist: create it or choose another output path")
    model = read_model(args.input, src_kind, parse_elements(args.elements), args.interpolation)
    species = ", ".join(str(z) for z in (model.species or ()))
    _log.info(f"read {model.name} ({model.kind}; species Z {species}; cutoff "
              f"{model.cutoff:.4f} Å) from {args.input} ({READS[src_kind]})")
    written = write_model(model, args.output, out_kind, args.input)
    _log.info(f"wrote {' and '.join(written)} ({WRITES[out_kind][0]})")
    return 0
