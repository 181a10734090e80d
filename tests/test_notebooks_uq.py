"""The uncertainty notebook runs top to bottom (small sizes) and its numbers are checked.

References: the ideal calibration (miscalibration area 0, coverage 0.683 of +-1 sigma); the
exact free energy of the 1-D double well (F = U); PBE AIMD snapshots of crystalline (300-1518 K)
and liquid (2530, 3374 K) silicon for the domain of a Stillinger-Weber model referenced to the
crystal.  Stored executed with its figures: tests/test_notebooks.py.
"""

import re

from notebook_runner import run_notebook


def _number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, f"no match for {pattern!r} in the notebook's output"
    return float(found.group(1))


def test_uncertainty_notebook_executes(tmp_path, monkeypatch):
    out = run_notebook("uncertainty.ipynb", tmp_path, monkeypatch)
    # 1. calibration of the GAP's force sigma, judged on held-out test frames
    area = re.search(r"force miscalibration area: before ([0-9.]+), after ([0-9.]+)", out)
    assert area, "no miscalibration areas printed"
    before, after = float(area.group(1)), float(area.group(2))
    assert after < before and after < 0.1
    coverage = re.search(r"coverage_1sigma\s+([0-9.e-]+)\s+([0-9.e-]+)", out)
    assert coverage and abs(float(coverage.group(2)) - 0.683) < 0.15
    # 2. the domain: crystalline test snapshots inside, liquid ones outside
    for t, inside in ((300, "True"), (2530, "False"), (3374, "False")):
        assert re.search(rf"at\s+{t} K: domain scores \[[^]]*\] eV, inside \[{inside}, {inside}\]",
                         out), t
    # the hot run stopped before its end, at a structure outside the domain
    step = _number(r"hot run stopped at step ([0-9]+) of", out)
    total = _number(r"hot run stopped at step [0-9]+ of ([0-9]+)", out)
    assert 0 < step < total
    assert "max |Δσ_E| = 0 eV" in out
    assert re.search(r"kept structure: 64 atoms, domain score [0-9.]+ eV > t = [0-9.]+ eV: "
                     r"inside False", out)
    # 3. metadynamics reproduces the exact double well
    assert _number(r"FES RMS error vs exact over the basins \(U < 5 kT\): ([0-9.]+) kT", out) < 0.5
    # 4. UDD visits structures less familiar than unbiased MD at the same temperature
    plain = _number(r"unbiased\s+at 900 K: σ_E mean ([0-9.]+) eV", out)
    biased = _number(r"UDD\s+at 900 K: σ_E mean ([0-9.]+) eV", out)
    assert biased > 1.5 * plain
    for name in ("uq_calibration_before.png", "uq_calibration_after.png", "uq_md_domain.png",
                 "uq_fes.png", "uq_udd.png", "uq_outside.extxyz"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "%|" not in out  # no progress bar in the outputs
