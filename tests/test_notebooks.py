"""The notebooks run top to bottom (small sizes) with nbclient."""

import os
import re

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("name", ["properties.ipynb", "descriptors.ipynb", "md.ipynb",
                                  "gap.ipynb", "nn.ipynb"])
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
    elif name == "gap.ipynb":
        mae = re.search(r"GAP test force MAE: ([0-9.]+) eV/Å", outputs)
        assert mae and float(mae.group(1)) < 0.5
        a0 = re.search(r"lattice constant: ([0-9.]+) Å", outputs)
        assert a0 and 5.3 < float(a0.group(1)) < 5.6
        assert (tmp_path / "gap_parity_forces.png").exists()
        assert (tmp_path / "gap_uncertainty.png").exists()
    elif name == "nn.ipynb":
        mae = re.search(r"BPNN test force MAE: ([0-9.]+) eV/Å", outputs)
        assert mae and float(mae.group(1)) < 0.5
        assert "mean force sigma along the run" in outputs
        assert (tmp_path / "nn_uncertainty.png").exists()
    else:
        assert "mean crystal-crystal k: 1.0" in outputs
        assert (tmp_path / "soap_kernel.png").exists()
