"""The GAP and neural-network notebooks run top to bottom (small sizes)."""

import re

import pytest
from notebook_runner import run_notebook


@pytest.mark.parametrize("name", ["gap.ipynb", "nn.ipynb"])
def test_fitting_notebook_executes(name, tmp_path, monkeypatch):
    outputs = run_notebook(name, tmp_path, monkeypatch)
    if name == "gap.ipynb":
        mae = re.search(r"GAP test force MAE: ([0-9.]+) eV/Å", outputs)
        assert mae and float(mae.group(1)) < 0.5
        a0 = re.search(r"lattice constant: ([0-9.]+) Å", outputs)
        assert a0 and 5.3 < float(a0.group(1)) < 5.6
        assert (tmp_path / "gap_parity_forces.png").exists()
        assert (tmp_path / "gap_uncertainty.png").exists()
    else:
        mae = re.search(r"BPNN test force MAE: ([0-9.]+) eV/Å", outputs)
        assert mae and float(mae.group(1)) < 0.5
        assert "mean force sigma along the run" in outputs
        assert (tmp_path / "nn_uncertainty.png").exists()
