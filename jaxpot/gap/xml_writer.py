"""Write a jaxpot GAP as a QUIP/GAP XML potential (``quippy.potential.Potential``, LAMMPS
``pair_style quip``), the format :mod:`jaxpot.gap.xml_reader` reads.

    write_gap_xml(result.model, "si.xml")     # a gap.fit model: soap, distance_2b or both
    Potential(param_filename="si.xml")        # quippy predicts the same E, F, virial

What is written (the layout ``gap_fit`` of quippy-ase 0.10.3 writes, checked against GAP's
``gp_predict.F90`` reader):

* ``<GAP_label>`` with ``<Potential init_args="IP GAP label=...">`` and ``<GAP_params
  gap_version=...>``; :data:`GAP_VERSION` is the oldest version whose defaults the file
  relies on (SOAP ``central_reference_all_species=F`` from 1426512068): a QUIP older than
  the version written refuses a file, so an old one is the widest choice.
* ``<GAP_data do_core="F">`` with one ``<e0 Z value>`` (eV) per species of the model (QUIP's
  other elements default to 0); the e0 of both terms is summed.
* ``<gpSparse>``: a SOAP term gives one ``<gpCoordinates>`` per centre species that has
  sparse points (``covariance_type=2``, ``zeta``; ``species_Z`` sorted by Z, so QUIP's
  feature order is jaxpot's and the sparse vectors are written unchanged); a distance_2b
  term one per unordered species pair (``covariance_type=1``, ``<theta>``), every stored
  point, padding included.  ``signal_variance`` is delta (eV).
* Each ``<sparseX alpha sparseCutoff>``: QUIP predicts ``sum_m alpha_m k(x, x_m) fc_m``, so
  SOAP points have ``sparseCutoff=1`` and distance_2b points ``f(r_m)``, the cosine cutoff
  of the sparse distance, computed with jaxpot's own :func:`~jaxpot.cutoffs.cosine_switch`
  (the value jaxpot's kernel multiplies by).  Sparse vectors are inline (50 numbers per
  ``<sparseX_slice>`` when d > 50, as gap_fit's ``sparse_separate_file=F``): one file.
  Lines are kept short (five numbers): QUIP reads files in ~1 kB chunks and trims each
  chunk's trailing blanks, which glues two numbers where a chunk ends after a blank.
* Every number is Python's ``repr``, the shortest text that reads back to the same double,
  so :func:`~jaxpot.gap.xml_reader.read_gap_xml` returns bit-identical parameters (where the
  e0 of a soap + distance_2b model sits in one term; it reads them back into the SOAP term).

Descriptor options are written explicitly where a QUIP default depends on ``gap_version``
(``radial_basis=EQUISPACED_GAUSS``, ``central_reference_all_species=F``).  Lengths in Å,
energies in eV.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from typing import NamedTuple

import numpy as np

from jaxpot.gap.terms import species_pairs
from jaxpot.io.atomic_file import atomic_write
from jaxpot.model import EnergyModel
from jaxpot.precision import check_precision

#: gap_version written (see module docstring); quippy-ase 0.10.3's own is 1769700636
GAP_VERSION = 1426512068
#: the label of the written potential (``pair_coeff * * gap.xml "IP GAP label=GAP_jaxpot"``)
LABEL = "GAP_jaxpot"
SLICE = 50  # QUIP writes sparse vectors longer than this in slices
PER_LINE = 5  # numbers per line (see :func:`numbers`)
_KINDS = ("gap_soap", "gap_distance_2b")


class Term(NamedTuple):
    """One part of a model: its kind, spec config and parameters (a GAP term's as NumPy
    float64 arrays)."""

    kind: str
    config: dict
    params: dict


def model_terms(spec: dict, params) -> list[Term]:
    """The parts of a model (sums flattened) from its spec dict and params pytree."""
    kind = spec.get("kind")
    if kind == "sum":
        return [t for child, p in zip(spec["children"], params) for t in model_terms(child, p)]
    if kind in _KINDS:  # flat {name: array}
        params = {k: np.asarray(v, float) for k, v in params.items()}
    return [Term(str(kind), spec.get("config", {}), params)]


def gap_terms(model: EnergyModel, where: str) -> tuple[Term | None, Term | None]:
    """(SOAP term or None, distance_2b term or None) of a GAP model; ValueError naming the
    part (and ``where``) for any model GAP XML cannot hold."""
    terms = model_terms(json.loads(model.spec), model.params)
    found: dict[str, Term] = {}
    for term in terms:
        if term.kind not in _KINDS:
            raise ValueError(
                f"{where}: the model ({model.kind}: {model.name}) has a {term.kind!r} part; GAP "
                "XML holds only GAP soap and distance_2b terms (a jaxpot.gap.fit model without "
                "a baseline, or one read from GAP XML)")
        if term.kind in found:
            raise ValueError(f"{where}: the model has two {term.kind} terms; GAP XML as jaxpot "
                             "writes it holds one of each")
        found[term.kind] = term
    soap, pair = found.get("gap_soap"), found.get("gap_distance_2b")
    if soap and pair and list(soap.config["species"]) != list(pair.config["species"]):
        raise ValueError(f"{where}: the soap term's species {soap.config['species']} differ "
                         f"from the distance_2b term's {pair.config['species']}")
    return soap, pair


def number(x: float) -> str:
    """The shortest decimal text that reads back to the same double."""
    return repr(float(x))


def numbers(values) -> str:
    """Numbers, :data:`PER_LINE` to a line: QUIP reads a file in chunks of about 1 kB and
    strips each chunk's trailing blanks, so a long line cut just after a blank would glue two
    numbers together (line breaks read as blanks)."""
    words = list(map(number, np.asarray(values, float).ravel().tolist()))
    return "\n".join(" ".join(words[k:k + PER_LINE]) for k in range(0, len(words), PER_LINE))


def _coordinates(parent: ET.Element, index: int, label: str, dimensions: int, delta: float,
                 covariance: int, n_sparse: int, zeta: int | None = None) -> ET.Element:
    """An empty ``<gpCoordinates>`` with QUIP's mandatory attributes."""
    attrs = {"label": f"{label}{index}", "dimensions": str(dimensions),
             "signal_variance": number(delta), "signal_mean": "0.0", "sparsified": "T",
             "n_permutations": "1", "covariance_type": str(covariance)}
    if zeta is not None:
        attrs["zeta"] = number(zeta)
    attrs["n_sparseX"] = str(n_sparse)
    return ET.SubElement(parent, "gpCoordinates", attrs)


def _sparse_points(elem: ET.Element, x: np.ndarray, alpha: np.ndarray,
                   cutoff_m: np.ndarray) -> None:
    """``<sparseX>`` children: alpha, sparseCutoff and the vector (sliced when d > 50)."""
    d = x.shape[1]
    for i, (row, a, fc) in enumerate(zip(x, alpha, cutoff_m), start=1):
        attrs = {"i": str(i), "alpha": number(a), "sparseCutoff": number(fc)}
        if d <= SLICE:
            ET.SubElement(elem, "sparseX", attrs).text = numbers(row)
            continue
        point = ET.SubElement(elem, "sparseX", dict(attrs, sliced="T"))
        for start in range(0, d, SLICE):
            end = min(start + SLICE, d)
            ET.SubElement(point, "sparseX_slice", {"start": str(start + 1), "end": str(end)}
                          ).text = numbers(row[start:end])


def _finish(elem: ET.Element, descriptor: str, theta: float | None = None) -> ET.Element:
    """theta (ard_se), descriptor and the identity permutation, in QUIP's order."""
    if theta is not None:
        ET.SubElement(elem, "theta").text = number(theta)
    ET.SubElement(elem, "descriptor").text = descriptor
    ET.SubElement(elem, "permutation", {"i": "1"}).text = "1"
    return elem


def soap_descriptor(config: dict, centre: int) -> str:
    """QUIP ``soap`` descriptor string of a :func:`~jaxpot.gap.terms.soap_gp` config for
    centre species ``centre`` (Z)."""
    zs = list(config["species"])
    return (f"soap cutoff={number(config['cutoff'])} "
            f"cutoff_transition_width={number(config['cutoff_transition_width'])} "
            f"n_max={int(config['n_max'])} l_max={int(config['l_max'])} "
            f"atom_sigma={number(config['atom_sigma'])} "
            f"central_weight={number(config['central_weight'])} radial_basis=EQUISPACED_GAUSS "
            "central_reference_all_species=F normalise=T covariance_type=dot_product "
            f"zeta={int(config['zeta'])} n_species={len(zs)} Z={centre} "
            f"species_Z={{{' '.join(str(z) for z in zs)}}}")


def add_soap(parent: ET.Element, term: Term, label: str, start: int) -> int:
    """One ``<gpCoordinates>`` per centre species with sparse points; returns the next
    coordinate index."""
    c, p = term.config, term.params
    counts = [int(m) for m in c["n_sparse"]]
    x, alpha = p["sparse"].reshape(sum(counts), -1), p["alpha"].ravel()
    offset, index = 0, start
    for z, m in zip(c["species"], counts):
        if m:
            elem = _coordinates(parent, index, label, x.shape[1], float(p["delta"]), 2, m,
                                zeta=int(c["zeta"]))
            _finish(elem, soap_descriptor(c, int(z)))
            _sparse_points(elem, x[offset:offset + m], alpha[offset:offset + m], np.ones(m))
            index += 1
        offset += m
    return index


def sparse_cutoffs(r_m: np.ndarray, cutoff: float, width: float) -> np.ndarray:
    """f(r_m) for distance_2b sparse distances (Å), as jaxpot's kernel computes it (float64
    must be on: :func:`gap_xml_tree` checks)."""
    import jax.numpy as jnp

    from jaxpot.cutoffs import cosine_switch
    return np.asarray(cosine_switch(jnp.asarray(r_m), cutoff - width, cutoff), float)


def add_pairs(parent: ET.Element, term: Term, label: str, start: int) -> int:
    """One ``<gpCoordinates>`` per unordered species pair (every stored point)."""
    c, p = term.config, term.params
    cutoff, width = float(c["cutoff"]), float(c["cutoff_transition_width"])
    pairs = species_pairs(tuple(c["species"]))
    sparse = p["sparse"].reshape(len(pairs), -1)
    alpha = p["alpha"].reshape(sparse.shape)
    for t, (z1, z2) in enumerate(pairs):
        theta, delta = float(p["theta"][t]), float(p["delta"][t])
        desc = (f"distance_2b cutoff={number(cutoff)} cutoff_transition_width={number(width)} "
                f"Z1={z1} Z2={z2} covariance_type=ard_se theta_uniform={number(theta)} "
                f"delta={number(delta)}")
        elem = _coordinates(parent, start + t, label, 1, delta, 1, sparse.shape[1])
        _finish(elem, desc, theta)
        _sparse_points(elem, sparse[t, :, None], alpha[t],
                       sparse_cutoffs(sparse[t], cutoff, width))
    return start + len(pairs)


def gap_xml_tree(model: EnergyModel, label: str = LABEL, where: str = "GAP XML") -> ET.Element:
    """The XML element tree of a GAP model (see the module docstring); float64 must be on
    (:class:`~jaxpot.precision.PrecisionError` otherwise: float32 parameters would be
    written as if they were the model's)."""
    soap, pair = gap_terms(model, where)
    check_precision(model, f"write GAP XML {where}")
    if soap is None and pair is None:
        raise ValueError(f"{where}: the model has no GAP term")
    if soap is not None and not np.sum(soap.config["n_sparse"]) and pair is None:
        raise ValueError(f"{where}: the soap term has no sparse points: nothing to write")
    if pair is not None and not int(pair.config["n_sparse"]):
        raise ValueError(f"{where}: the distance_2b term has no sparse points; QUIP's GAP "
                         "needs at least one per species pair")
    species = list((soap or pair).config["species"])
    e0 = sum(t.params["e0"] for t in (soap, pair) if t is not None)
    root = ET.Element(label)
    ET.SubElement(root, "Potential", {"label": label, "init_args": f"IP GAP label={label}"})
    params = ET.SubElement(root, "GAP_params", {"label": label,
                                                "gap_version": str(GAP_VERSION)})
    data = ET.SubElement(params, "GAP_data", {"do_core": "F"})
    for z, value in zip(species, np.asarray(e0, float).ravel()):
        ET.SubElement(data, "e0", {"Z": str(int(z)), "value": number(value)})
    sparse = ET.SubElement(params, "gpSparse", {"label": label, "fitted": "T"})
    index = 1
    if soap is not None:
        index = add_soap(sparse, soap, label, index)
    if pair is not None:
        index = add_pairs(sparse, pair, label, index)
    sparse.set("n_coordinate", str(index - 1))
    return root


def gap_xml_text(model: EnergyModel, label: str = LABEL, where: str = "GAP XML") -> str:
    """The GAP XML file's text (indented; sparse vectors five numbers to a line)."""
    root = gap_xml_tree(model, label, where)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"


def write_gap_xml(model: EnergyModel, path: str | os.PathLike, label: str = LABEL) -> None:
    """Write a GAP model (soap and/or distance_2b terms, e0 included) as a QUIP/GAP XML
    potential at ``path``, atomically (a reader never sees half a file).  ValueError naming
    ``path`` for a model GAP XML cannot hold (another kind, a baseline, no sparse points)."""
    text = gap_xml_text(model, label, where=os.fspath(path))
    with atomic_write(path, "w") as fh:
        fh.write(text)
