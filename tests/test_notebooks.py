"""The notebooks run top to bottom (small sizes) with nbclient."""

import os

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("name", ["properties.ipynb", "descriptors.ipynb", "md.ipynb"])
def test_notebook_executes(name, tmp_path, monkeypatch):
    monkeypatch.setenv("JAXPOT_NOTEBOOK_QUICK", "1")
    nb = nbformat.read(os.path.join(ROOT, "notebooks", name), as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.get("outputs", []))
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
