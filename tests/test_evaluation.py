"""jaxpot.evaluation against errors computed by hand from ASE's calculator interface."""

import jax

jax.config.update("jax_enable_x64", True)

import json
import pathlib

import numpy as np
import pytest
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read
from ase.stress import voigt_6_to_full_3x3_stress

import jaxpot
from jaxpot.batch import PREDICT_BATCH, frame_pairs, plan_buckets
from jaxpot.evaluation import LabelKeys, evaluate, label_keys, parity_plots
from jaxpot.potentials import stillinger_weber
from jaxpot.testing import CompilationCounter

DATA = pathlib.Path(__file__).parents[1].parent / "shared" / "data"
PICK = [0, 1, 2, 57, 59, 69, 71, 159, 160, 168]  # Vacancy, Surface, AIMD-NVT, Elastic
EV_A3_IN_GPA = 160.21766208
ENERGY_ONLY, CLUSTER = 10, 11  # indices of the two hand-made frames


def _label(atoms, getter):
    try:
        return getter(atoms)
    except (PropertyNotImplementedError, RuntimeError):
        return None


@pytest.fixture(scope="module")
def model():
    return stillinger_weber()


@pytest.fixture(scope="module")
def frames():
    allf = read(DATA / "mlearn_Si_PBE.extxyz", ":")
    out = [allf[i] for i in PICK]
    e_only = allf[80].copy()  # AIMD-NVT frame with only an energy label
    e_only.calc = SinglePointCalculator(e_only, energy=allf[80].get_potential_energy())
    cluster = allf[66].copy()  # a Surface frame made non-periodic, config_type removed
    cluster.pbc = False
    del cluster.info["config_type"]
    for a in (e_only, cluster):
        del a.info["virial"]
    cluster.calc = SinglePointCalculator(cluster, energy=allf[66].get_potential_energy(),
                                         forces=allf[66].get_forces(),
                                         stress=allf[66].get_stress())
    return out + [e_only, cluster]


@pytest.fixture(scope="module")
def reference(model, frames):
    """Per-frame (N, E_pred, E_ref, F_pred, F_ref, S_pred, S_ref, kind) via JaxpotCalculator."""
    rows = []
    for atoms in frames:
        calc_atoms = atoms.copy()
        calc_atoms.calc = jaxpot.JaxpotCalculator(model)
        periodic = all(atoms.pbc)
        s_pred = calc_atoms.get_stress() if periodic else None  # first: one calculation
        rows.append(dict(
            n=len(atoms), kind=atoms.info.get("config_type", "default"), s_pred=s_pred,
            e_pred=calc_atoms.get_potential_energy(), f_pred=calc_atoms.get_forces(),
            e_ref=_label(atoms, lambda a: a.get_potential_energy()),
            f_ref=_label(atoms, lambda a: a.get_forces()),
            s_ref=_label(atoms, lambda a: a.get_stress()) if periodic else None))
    return rows


@pytest.fixture(scope="module")
def ev(model, frames):
    return evaluate(model, frames)


def _by_hand(rows):
    """(energy meV/atom, force eV/Å, stress GPa) MAE and RMSE with plain numpy."""
    e = np.array([1000 * (r["e_pred"] - r["e_ref"]) / r["n"] for r in rows
                  if r["e_ref"] is not None])
    f = np.concatenate([(r["f_pred"] - r["f_ref"]).ravel() for r in rows
                        if r["f_ref"] is not None] or [np.zeros(0)])
    s = np.concatenate([(r["s_pred"] - r["s_ref"]) * EV_A3_IN_GPA for r in rows
                        if r["s_ref"] is not None] or [np.zeros(0)])
    out = []
    for err in (e, f, s):
        out += [np.mean(np.abs(err)), np.sqrt(np.mean(err ** 2))] if err.size else [np.nan] * 2
    return out, (len(e), f.size // 3, s.size // 6)


def _metrics(m):
    return [m.energy_mae, m.energy_rmse, m.force_mae, m.force_rmse, m.stress_mae, m.stress_rmse]


def test_overall_matches_ase_calculator(ev, reference):
    want, (n_e, n_f, n_s) = _by_hand(reference)
    np.testing.assert_allclose(_metrics(ev.overall), want, rtol=1e-9, atol=1e-12)
    m = ev.overall
    assert (m.n_configs, m.n_energy, m.n_force_atoms, m.n_stress) == (12, n_e, n_f, n_s)
    assert m.n_atoms == sum(r["n"] for r in reference)
    assert n_e == 12 and n_s == 10  # energy-only frame and non-periodic frame have no stress


def test_per_config_type(ev, reference):
    kinds = sorted({r["kind"] for r in reference})
    assert kinds == ["AIMD-NVT", "Elastic", "Surface", "Vacancy", "default"]
    assert sorted(ev.by_config_type) == kinds
    for kind in kinds:
        rows = [r for r in reference if r["kind"] == kind]
        want, _ = _by_hand(rows)
        np.testing.assert_allclose(_metrics(ev.by_config_type[kind]), want, rtol=1e-9,
                                   atol=1e-12, equal_nan=True)
        assert ev.by_config_type[kind].n_configs == len(rows)


def test_parity_arrays(ev, reference):
    e_frames = list(ev.energy.frame)
    assert e_frames == list(range(12))
    np.testing.assert_allclose(ev.energy.reference,
                               [r["e_ref"] / r["n"] for r in reference], rtol=1e-12)
    np.testing.assert_allclose(ev.energy.predicted,
                               [r["e_pred"] / r["n"] for r in reference], rtol=1e-9)
    assert ENERGY_ONLY not in set(ev.forces.frame) and ENERGY_ONLY not in set(ev.stress.frame)
    assert CLUSTER in set(ev.forces.frame) and CLUSTER not in set(ev.stress.frame)
    assert ev.forces.predicted.shape == (sum(r["n"] for r in reference) - reference[10]["n"], 3)
    assert ev.stress.reference.shape == (10, 6)
    np.testing.assert_allclose(ev.stress.reference[0], reference[0]["s_ref"] * EV_A3_IN_GPA)
    assert set(ev.forces.config_type) == {"AIMD-NVT", "Elastic", "Surface", "Vacancy", "default"}


def test_named_keys_with_virial(model, frames, ev):
    """gap_fit-style info/arrays keys, virial = -stress * volume (eV), give the same numbers."""
    renamed = []
    for atoms in frames:
        a = atoms.copy()  # no calculator attached
        a.info["dft_energy"] = atoms.get_potential_energy()
        if atoms is not frames[ENERGY_ONLY]:
            a.arrays["dft_forces"] = atoms.get_forces()
            stress = atoms.calc.results["stress"]  # also the non-periodic frame's
            a.info["dft_virial"] = (-voigt_6_to_full_3x3_stress(stress)
                                    * atoms.get_volume()).ravel()
        a.info["kind"] = "k_" + atoms.info.get("config_type", "default")
        renamed.append(a)
    got = evaluate(model, renamed, names={"energy": "dft_energy", "forces": "dft_forces",
                                          "virial": "dft_virial", "config_type": "kind"})
    np.testing.assert_allclose(_metrics(got.overall), _metrics(ev.overall), rtol=1e-9)
    assert sorted(got.by_config_type) == ["k_" + k for k in sorted(ev.by_config_type)]
    for kind, m in ev.by_config_type.items():
        np.testing.assert_allclose(_metrics(got.by_config_type["k_" + kind]), _metrics(m),
                                   rtol=1e-9, equal_nan=True)
    # the file's own virial key agrees with its stress too
    named = evaluate(model, frames, names=LabelKeys(virial="virial"))
    np.testing.assert_array_equal(named.stress.frame, ev.stress.frame)
    np.testing.assert_allclose(named.stress.reference, ev.stress.reference, rtol=1e-6,
                               atol=1e-6)


def test_label_keys_accepts_gap_names():
    from jaxpot.gap.labels import LabelNames
    assert label_keys(LabelNames(force="dft_force", virial=None)) == LabelKeys(
        "energy", "dft_force", None, "config_type")
    assert label_keys({"force": "f"}).forces == "f"
    assert label_keys(None) is None


def test_json_round_trip_and_table(ev):
    d = ev.to_dict()
    back = json.loads(json.dumps(d, allow_nan=False))
    assert back == d
    assert back["by_config_type"]["default"]["stress_mae"] is None
    assert back["overall"]["n_configs"] == 12
    assert back["overall"]["force_rmse"] == pytest.approx(ev.overall.force_rmse, rel=1e-15)
    assert all(type(v) in (int, float) for v in back["overall"].values())
    table = ev.table()
    lines = table.splitlines()
    assert len(lines) == 3 + 1 + 5 and lines[3].startswith("overall")
    assert len({len(line) for line in lines if not line.startswith(" ")}) == 1
    assert f"{ev.overall.energy_mae:.2f}" in lines[3]
    assert lines[-1].startswith("default") and lines[-1].rstrip().endswith("-")


def test_parity_plots(ev, tmp_path):
    from matplotlib.image import imread
    paths = parity_plots(ev, tmp_path / "plots" / "si")
    assert [p.name for p in paths] == ["si_energy.png", "si_forces.png", "si_stress.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        img = imread(p)
        assert (img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 300
                and img.shape[2] in (3, 4))


def test_bad_input(model, frames):
    with pytest.raises(ValueError, match="no frames"):
        evaluate(model, [])
    bare = frames[2].copy()  # no calculator, no labels
    with pytest.raises(ValueError, match=r"train\.xyz\[1\]: no energy, forces or stress"):
        evaluate(model, [frames[0], bare], source="train.xyz")
    with pytest.raises(ValueError, match=r"b\.xyz\[7\]: no energy"):
        evaluate(model, [frames[0], bare], source=["a.xyz[0]", "b.xyz[7]"])
    with pytest.raises(ValueError, match="source names 1 frames"):
        evaluate(model, [frames[0], bare], source=["a.xyz[0]"])
    with pytest.raises(ValueError, match="unknown label names"):
        evaluate(model, frames[:1], names={"energies": "e"})
    bad = frames[2].copy()
    bad.arrays["f2"] = np.zeros((len(bad), 2))
    bad.info["e_text"] = "abc"
    with pytest.raises(ValueError, match=r"frames\[0\]: reference forces must be finite"):
        evaluate(model, [bad], names={"forces": "f2"})
    with pytest.raises(ValueError, match=r"frames\[0\]: reference energy must be finite"):
        evaluate(model, [bad], names={"energy": "e_text"})
    ge = frames[2].copy()
    ge.set_atomic_numbers([32] * len(ge))
    ge.calc = SinglePointCalculator(ge, energy=0.0)
    with pytest.raises(Exception) as direct:
        jaxpot.predict(model, [frames[0], ge])
    with pytest.raises(type(direct.value), match=r"frames\[1\]: unknown species Ge"):
        evaluate(model, [frames[0], ge])


def test_sets_of_different_sizes_share_the_prediction_programs(model, frames, ev):
    """predict's calls take a bucket's frame count rounded up to a power of two, at most
    PREDICT_BATCH, so twice the periodic frames (11 -> 22 in one bucket, both 16 per call)
    compile nothing new and give the same numbers; a single frame is not padded."""
    periodic = [a for a in frames if all(a.pbc)]
    with CompilationCounter() as compiled:
        again = jaxpot.predict(model, periodic + periodic)
    assert compiled.count == 0
    first = jaxpot.predict(model, periodic)
    np.testing.assert_array_equal(again.energy, np.concatenate([first.energy, first.energy]))
    for f0, f1 in zip(first.forces + first.forces, again.forces):
        np.testing.assert_array_equal(f0, f1)
    pairs = [frame_pairs(model, frames[0])]
    assert [b.batch_size for b in plan_buckets(frames[:1], pairs, max_batch=PREDICT_BATCH)] == [1]
