"""The properties, descriptors and MD notebooks run top to bottom (small sizes); the fitting
notebooks (GAP, NN) are in test_notebooks_fits.py (two files, so both CI workers share them)."""

import pytest
from notebook_runner import run_notebook


@pytest.mark.parametrize("name", ["properties.ipynb", "descriptors.ipynb", "md.ipynb"])
def test_notebook_executes(name, tmp_path, monkeypatch):
    outputs = run_notebook(name, tmp_path, monkeypatch)
    if name == "properties.ipynb":
        assert "converged True" in outputs
        assert (tmp_path / "si_bands.png").exists()
    elif name == "md.ipynb":
        assert "NPT mean volume per atom" in outputs
        assert (tmp_path / "md_thermo.png").exists()
        assert (tmp_path / "md_rdf.png").exists()
    else:
        assert "mean crystal-crystal k: 1.0" in outputs
        assert (tmp_path / "soap_kernel.png").exists()
