"""The active-learning notebook runs top to bottom (small sizes) and its numbers are checked.

Oracle: GFN2-xTB (tblite) on one water molecule in a non-periodic box; held-out frames from
the oracle's own Langevin MD at 400 K.  Checked: the final model's held-out force error is
below the initial one's, the budget of oracle calls is respected, the learned model's MD
gives a mean O-H bond length close to the oracle's, and the figures are written.  tblite is
a test extra: without it the test fails (it does not skip).  Stored executed with its
figures: tests/test_notebooks.py.
"""

import re

from notebook_runner import run_notebook


def _number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, f"no match for {pattern!r} in the notebook's output"
    return float(found.group(1))


def test_active_learning_notebook_executes(tmp_path, monkeypatch):
    import tblite.ase  # noqa: F401  (the oracle; a missing test extra fails here)

    out = run_notebook("active_learning.ipynb", tmp_path, monkeypatch)
    calls = _number(r"([0-9]+) oracle calls of a budget of [0-9]+", out)
    budget = _number(r"[0-9]+ oracle calls of a budget of ([0-9]+)", out)
    assert 0 < calls <= budget
    initial = _number(r"held-out force RMSE: initial ([0-9.]+) eV/Å", out)
    final = _number(r"held-out force RMSE: initial [0-9.]+ eV/Å, final ([0-9.]+) eV/Å", out)
    assert final < 0.7 * initial
    assert re.search(r"status: (budget spent|converged|target met)", out)
    area = _number(r"miscalibration area ([0-9.]+)", out)
    assert 0 <= area <= 0.5
    oh = _number(r"mean O-H distance: learned GAP [0-9.]+ Å, GFN2-xTB [0-9.]+ Å "
                 r"\(difference ([-+0-9.]+) Å\)", out)
    assert abs(oh) < 0.02
    for name in ("al_learning_curve.png", "al_calibration.png", "al_sigma_vs_error.png",
                 "al_md_compare.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "%|" not in out  # no progress bar in the outputs
