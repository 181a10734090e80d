"""Read a GAP XML potential written by QUIP's ``gap_fit`` (quippy-ase 0.10.3) as a jaxpot model.

File format facts (checked on files from ``gap_fit`` 0.10.3 and GAP's ``gp_predict.F90``):

* Root ``<GAP_label>`` holds ``<Potential init_args="IP GAP label=...">`` (with a baseline /
  ``core_param_file``: ``"Sum init_args_pot1={IP ...} ..."`` and the core's XML; rejected here)
  and ``<GAP_params gap_version=...>``.
* ``<GAP_data do_core=...>`` lists ``<e0 Z= value=>`` for *every* Z = 1..118 (``e0=-0.79``
  gives every element -0.79; ``e0={C:-1.5:Si:-0.79}`` the others 0), ``local_property0``
  included.  Every atom gets e0 of its Z.
* ``<gpSparse>`` holds one ``<gpCoordinates>`` per descriptor *and* species: ``add_species``
  turns ``soap`` into one block per centre Z (``Z=14``, all with the same ``species_Z`` in
  order of first appearance in the training set, e.g. ``{14 6}``, not sorted) and
  ``distance_2b`` into one per unordered pair (``Z1=14 Z2=6``).  Attributes:
  ``signal_variance`` = delta (eV), ``signal_mean`` = f0, ``covariance_type`` 1 = ard_se,
  2 = dot_product, ``zeta`` (a float), ``<theta>`` length scales (ard_se only).
* Each ``<sparseX i alpha sparseCutoff>`` gives alpha_m and the descriptor's covariance cutoff
  at the sparse point; the prediction is ``sum_m alpha_m k(x, x_m) fc(x) fc_m``.  For SOAP
  fc = fc_m = 1; for distance_2b fc_m = f(r_m), QUIP's cosine ``coordination_function``,
  which jaxpot's kernel computes itself: alpha_m is kept as written (sparseCutoff checked to
  be f(r_m) to 1e-8), so a file of :mod:`jaxpot.gap.xml_writer` reads back bit-identical.
  Sparse vectors are inline (text, or ``<sparseX_slice>`` when d > 50) or, as gap_fit
  writes them, in ``sparseX_filename`` next to the XML (d numbers per point, point after point;
  md5 in ``sparseX_md5sum``).  Stored SOAP points are already unit-normalised (trailing
  covariance_sigma0 element 0) and are used verbatim, as QUIP does.
* distance_2b counts each pair twice (once from each atom), as ``distance_2b_gp`` does.

SOAP blocks become one :func:`~jaxpot.gap.terms.soap_gp` (features re-ordered to species sorted
by Z; each block's ``delta_c^2 / delta^2`` folded into alpha), distance_2b blocks one
:func:`~jaxpot.gap.terms.distance_2b_gp` (pairs with fewer points, or none, padded with
alpha = 0 at r_m = cutoff); both: ``soap_term + pair_term``, e0 in the SOAP term.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxpot.gap.terms import distance_2b_gp, soap_gp, species_pairs
from jaxpot.model import EnergyModel

_TOKEN = re.compile(r"""(\w+)(?:\s*=\s*(\{[^}]*\}|"[^"]*"|'[^']*'|\S+))?""")
_TRUE, _FALSE = {"T", "TRUE", ".TRUE.", "1"}, {"F", "FALSE", ".FALSE.", "0"}
# descriptor options jaxpot reproduces only at these values (QUIP defaults; keys lower case)
_SOAP_FIXED = {"radial_basis": "EQUISPACED_GAUSS", "cutoff_dexp": 0, "average": False,
               "diagonal_radial": False, "covariance_sigma0": 0.0, "normalise": True,
               "normalize": True, "nu_r": 2, "nu_s": 2, "z_mix": False, "r_mix": False,
               "sym_mix": False, "coupling": True, "k": 0, "z_map": "",
               "central_reference_all_species": False, "covariance_type": "dot_product"}
_2B_FIXED = {"n_exponents": 1, "exponents": 1.0, "tail_exponent": 0, "only_intra": False,
             "only_inter": False, "covariance_type": "ard_se"}
_SOAP_SHARED = {"cutoff": None, "n_max": None, "l_max": None, "atom_sigma": None,
                "cutoff_transition_width": 0.5, "central_weight": 1.0}


class Block(NamedTuple):
    """One ``<gpCoordinates>``: descriptor name and options, GP settings, sparse points."""

    name: str
    options: dict[str, str]
    delta: float
    zeta: float
    theta: np.ndarray  # (d,) Å, ard_se only
    x: np.ndarray  # (M, d) sparse descriptors
    alpha: np.ndarray  # (M,) alpha_m as written
    cutoff_m: np.ndarray  # (M,) sparseCutoff


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split()]


def parse_options(text: str) -> tuple[str, dict[str, str]]:
    """QUIP descriptor string -> (name, {lower-case key: value without braces/quotes})."""
    name, _, rest = text.strip().partition(" ")
    return name.lower(), {k.lower(): (v.strip("{}\"'").strip() if v else "T")
                          for k, v in _TOKEN.findall(rest)}


def _same(value: str, default) -> bool:
    if isinstance(default, bool):
        return value.upper() in (_TRUE if default else _FALSE)
    if isinstance(default, str):
        return value.upper() in (default.upper(), "")
    try:
        return float(value) == default
    except ValueError:
        return False


def check_fixed(options: dict[str, str], fixed: dict, where: str) -> None:
    """Raise ValueError for an option set to a value jaxpot does not reproduce."""
    for key, default in fixed.items():
        if key in options and not _same(options[key], default):
            raise ValueError(f"{where}: option {key}={options[key]} is not supported by "
                             f"jaxpot (only {key}={default})")


def read_sparse_x(elem: ET.Element, directory: Path, shape: tuple[int, int],
                  where: str) -> np.ndarray:
    """(M, d) sparse points, inline or from the ``sparseX_filename`` file (md5-checked)."""
    name = elem.get("sparseX_filename")
    if name:
        file = directory / name
        if not file.is_file():
            raise ValueError(f"{where}: sparse point file {file} not found")
        data = file.read_bytes()
        md5 = (elem.get("sparseX_md5sum") or "").strip()
        if len(md5) == 32 and hashlib.md5(data).hexdigest() != md5.lower():
            raise ValueError(f"{where}: md5 sum of {file} does not match sparseX_md5sum")
        values = np.array(data.decode().split(), float)
    else:
        texts = []
        for sx in sorted(elem.findall("sparseX"), key=lambda e: int(e.get("i"))):
            parts = sorted(sx.findall("sparseX_slice"), key=lambda e: int(e.get("start")))
            texts += [p.text or "" for p in parts] or [sx.text or ""]
        values = np.array(" ".join(texts).split(), float)
    if values.size != shape[0] * shape[1]:
        raise ValueError(f"{where}: {values.size} sparse values, expected {shape[0]}x{shape[1]}")
    return values.reshape(shape)


def read_block(elem: ET.Element, directory: Path, where: str) -> Block:
    """Parse one ``<gpCoordinates>`` element."""
    name, options = parse_options(elem.findtext("descriptor") or "")
    kind = {"1": "ard_se", "2": "dot_product"}.get(elem.get("covariance_type", "").strip())
    want = {"soap": "dot_product", "distance_2b": "ard_se"}.get(name)
    if want is None:
        raise ValueError(f"{where}: descriptor {name!r} is not supported (soap, distance_2b)")
    check_fixed(options, _SOAP_FIXED if name == "soap" else _2B_FIXED, f"{where}: {name}")
    if kind != want:
        raise ValueError(f"{where}: {name} option covariance_type="
                         f"{kind or elem.get('covariance_type')} is not supported ({want})")
    for attr, value in (("signal_mean", 0.0), ("n_permutations", 1.0), ("sparsified", "T")):
        if not _same(elem.get(attr, str(value)), value):
            raise ValueError(f"{where}: {name} {attr}={elem.get(attr)} is not supported "
                             f"(f0 = 0, one permutation, sparsified)")
    points = sorted(elem.findall("sparseX"), key=lambda e: int(e.get("i")))
    cutoff_m = np.array([float(p.get("sparseCutoff", 1.0)) for p in points])
    alpha = np.array([float(p.get("alpha")) for p in points])
    shape = (len(points), int(elem.get("dimensions")))
    theta = np.array((elem.findtext("theta") or "").split(), float)
    return Block(name, options, float(elem.get("signal_variance")),
                 float(elem.get("zeta", "nan")), theta,
                 read_sparse_x(elem, directory, shape, where), alpha, cutoff_m)


def read_e0(gap_data: ET.Element | None) -> dict[int, float]:
    """{Z: e0 (eV)} from ``<e0 Z value>`` children (or an old-style ``e0`` attribute)."""
    e0 = {} if gap_data is None else gap_data.findall("e0")
    if not e0 and gap_data is not None and gap_data.get("e0") is not None:
        return {z: float(gap_data.get("e0")) for z in range(1, 119)}
    return {int(e.get("Z")): float(e.get("value")) for e in e0}


def quip_feature_order(species_z: list[int], n_max: int, l_max: int) -> np.ndarray:
    """(F,) index into QUIP's SOAP vector (channels in ``species_z`` order) of each jaxpot
    feature (channels sorted by Z): pairs (p >= q) of p = s n_max + n, l fastest, then 1."""
    channel = [species_z.index(z) for z in sorted(species_z)]
    rows, cols = np.tril_indices(len(species_z) * n_max)
    index = {(int(r), int(c)): k for k, (r, c) in enumerate(zip(rows, cols))}
    order = []
    for r, c in zip(rows, cols):
        a, b = (channel[p // n_max] * n_max + p % n_max for p in (r, c))
        order += [index[max(a, b), min(a, b)] * (l_max + 1) + l for l in range(l_max + 1)]
    return np.array(order + [len(rows) * (l_max + 1)])


def soap_settings_of(block: Block, where: str) -> dict:
    """The SOAP hyper-parameters shared by all blocks, as ``soap_gp`` keywords."""
    opts = {"atom_sigma": block.options.get("atom_gaussian_width"), **block.options}
    missing = [k for k, d in _SOAP_SHARED.items() if opts.get(k) is None and d is None]
    if missing:
        raise ValueError(f"{where}: soap option(s) {missing} missing")
    out = {k: float(opts.get(k) or d) for k, d in _SOAP_SHARED.items()}
    return dict(out, n_max=int(out["n_max"]), l_max=int(out["l_max"]), zeta=block.zeta,
                species_z=tuple(_ints(opts.get("species_z", "0"))))


def soap_term(blocks: list[Block], e0: dict[int, float], where: str) -> EnergyModel:
    """One ``soap_gp`` from the SOAP blocks (one per centre species, or Z=0 for all)."""
    settings = [soap_settings_of(b, where) for b in blocks]
    for key, value in settings[0].items():
        for other in settings[1:]:
            if other[key] != value:
                raise ValueError(f"{where}: soap blocks differ in option {key} ({value} vs "
                                 f"{other[key]}); jaxpot's soap_gp shares it")
    s = settings[0]
    if 0 in s["species_z"] or len(set(s["species_z"])) != len(s["species_z"]):
        raise ValueError(f"{where}: soap option species_Z={s['species_z']} is not supported")
    species = sorted(s["species_z"])
    centres = {z for b in blocks for z in _ints(b.options.get("z", "0"))}
    if not centres <= set(species) | {0}:
        raise ValueError(f"{where}: soap centre Z={sorted(centres)} not in species_Z {species}")
    order = quip_feature_order(list(s["species_z"]), s["n_max"], s["l_max"])
    delta = blocks[0].delta
    if delta <= 0 or s["zeta"] != int(s["zeta"]) or s["zeta"] < 1:
        raise ValueError(f"{where}: soap needs delta > 0 and option zeta={s['zeta']} a positive "
                         "integer")
    sparse, alpha, counts = [], [], []
    for z in species:
        mine = [b for b in blocks if {0, z} & set(_ints(b.options.get("z", "0")))]
        sparse += [b.x[:, order] for b in mine]
        alpha += [b.alpha * b.cutoff_m * (b.delta / delta) ** 2 for b in mine]
        counts.append(sum(len(b.alpha) for b in mine))
    return soap_gp(species=species, cutoff=s["cutoff"], n_max=s["n_max"], l_max=s["l_max"],
                   atom_sigma=s["atom_sigma"], zeta=int(s["zeta"]), delta=delta,
                   cutoff_transition_width=s["cutoff_transition_width"],
                   central_weight=s["central_weight"], sparse=np.concatenate(sparse),
                   alpha=np.concatenate(alpha), n_sparse=counts,
                   e0=[e0.get(z, 0.0) for z in species])


def coordination(r: np.ndarray, cutoff: float, width: float) -> np.ndarray:
    """QUIP's cosine ``coordination_function`` f(r) (NumPy, float64)."""
    x = np.clip((r - cutoff + width) / max(width, 1e-300), 0.0, 1.0)
    return np.where(r < cutoff, 0.5 * (np.cos(np.pi * x) + 1.0), 0.0)


def pair_term(blocks: list[Block], species: list[int], e0, where: str) -> EnergyModel:
    """One ``distance_2b_gp``; pairs without a block or with fewer points: alpha = 0."""
    cut = {(float(b.options.get("cutoff", 0)),
            float(b.options.get("cutoff_transition_width", 0.5))) for b in blocks}
    if len(cut) != 1:
        raise ValueError(f"{where}: distance_2b blocks differ in cutoff / "
                         f"cutoff_transition_width {sorted(cut)}; jaxpot shares them")
    (cutoff, width), = cut
    pairs = species_pairs(tuple(species))
    found: dict[tuple[int, int], Block] = {}
    for b in blocks:
        key = tuple(sorted((int(b.options.get("z1", 0)), int(b.options.get("z2", 0)))))
        if key not in pairs or key in found or b.x.shape[1] != 1 or b.theta.shape != (1,):
            raise ValueError(f"{where}: distance_2b block Z1,Z2={key} is not supported "
                             f"(species {species}, one block per pair, no wildcard Z=0)")
        f_m = coordination(b.x[:, 0], cutoff, width)
        if np.max(np.abs(f_m - b.cutoff_m), initial=0.0) > 1e-8:
            raise ValueError(f"{where}: distance_2b sparseCutoff is not f(r_m) (tail options?)")
        found[key] = b  # jaxpot's kernel multiplies by f(r_m) itself: alpha_m as written
    m = max(len(b.alpha) for b in found.values())
    sparse, alpha = np.full((len(pairs), m), cutoff), np.zeros((len(pairs), m))
    theta, delta = np.ones(len(pairs)), np.ones(len(pairs))
    for t, key in enumerate(pairs):
        if key in found:
            b = found[key]
            sparse[t, :len(b.alpha)], alpha[t, :len(b.alpha)] = b.x[:, 0], b.alpha
            theta[t], delta[t] = b.theta[0], b.delta
    return distance_2b_gp(species=species, cutoff=cutoff, theta=theta, delta=delta,
                          cutoff_transition_width=width, sparse=sparse, alpha=alpha, e0=e0)


def gap_params(root: ET.Element, where: str) -> ET.Element:
    """The ``<GAP_params>`` element; reject files with a core/baseline potential."""
    for pot in root.iter("Potential"):
        args = pot.get("init_args", "")
        if not args.strip().upper().startswith("IP GAP"):
            raise ValueError(f"{where}: core/baseline potential init_args={args!r} cannot be "
                             "represented (only a pure GAP)")
    params = list(root.iter("GAP_params"))
    if len(params) != 1:
        raise ValueError(f"{where}: not a GAP XML potential ({len(params)} GAP_params)")
    data = params[0].find("GAP_data")
    if data is not None and _same(data.get("do_core", "F"), True):
        raise ValueError(f"{where}: do_core=T (core/baseline potential) is not supported")
    return params[0]


def read_gap_xml(path: str) -> EnergyModel:
    """A jaxpot model equal to the GAP XML potential at ``path`` (soap and/or distance_2b)."""
    where = str(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise ValueError(f"{where}: not an XML file ({err})") from None
    params = gap_params(root, where)
    gp = params.find("gpSparse")
    if gp is None or gp.find("gpCoordinates") is None:
        raise ValueError(f"{where}: no <gpSparse> with gpCoordinates (not a sparse GAP)")
    blocks = [read_block(e, Path(path).parent, f"{where} gpCoordinates {k + 1}")
              for k, e in enumerate(gp.findall("gpCoordinates"))]
    e0 = read_e0(params.find("GAP_data"))
    soaps = [b for b in blocks if b.name == "soap"]
    pairs = [b for b in blocks if b.name == "distance_2b"]
    old = float(params.get("gap_version") or 0) < 1426512068  # default was T then
    if old and any("central_reference_all_species" not in b.options
                   and len(_ints(b.options.get("species_z", "0"))) > 1 for b in soaps):
        raise ValueError(f"{where}: old gap_version implies soap option "
                         "central_reference_all_species=T, not supported")
    model = soap_term(soaps, e0, where) if soaps else None
    if not pairs:
        return model
    zs = sorted({int(b.options.get(k, 0)) for b in pairs for k in ("z1", "z2")} - {0})
    species = list(model.species) if model is not None else zs
    if not set(zs) <= set(species):
        raise ValueError(f"{where}: distance_2b species {zs} not in soap species_Z {species}")
    pair = pair_term(pairs, species, None if model else [e0.get(z, 0) for z in species], where)
    return pair if model is None else model + pair
