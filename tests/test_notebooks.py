"""The properties, descriptors and MD notebooks run top to bottom (small sizes) and their
numbers are checked; the fitting notebooks (GAP, NN) are in test_notebooks_fits.py (two
files, so both CI workers share them).  Every notebook is stored executed, with its figures.

References: the properties notebook's own independent routes to one number (Birch–Murnaghan
fit = autodiff bulk modulus = Voigt–Reuss–Hill of C_ij; the acoustic sum rule); diamond Si's
four-fold coordination and 2.35 Å bond; the SOAP kernel of a crystal with itself (1) and the
order dscribe, quippy and featomic give to crystal-liquid and crystal-surface similarity.
"""

import glob
import os
import re

import nbformat
import pytest
from notebook_runner import ROOT, run_notebook


def _number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, f"no match for {pattern!r} in the notebook's output"
    return float(found.group(1))


@pytest.mark.parametrize("name", ["properties.ipynb", "descriptors.ipynb", "md.ipynb"])
def test_notebook_executes(name, tmp_path, monkeypatch):
    outputs = run_notebook(name, tmp_path, monkeypatch)
    if name == "properties.ipynb":
        assert "converged True" in outputs and "Born-stable: True" in outputs
        b_hill = _number(r"bulk modulus \(Hill\) ([0-9.]+) GPa", outputs)
        b_eos = _number(r"B0 = ([0-9.]+) GPa", outputs)
        b_autodiff = _number(r"autodiff B = ([0-9.]+) GPa", outputs)
        assert abs(b_eos - b_autodiff) < 0.5 and abs(b_hill - b_autodiff) < 0.5
        assert _number(r"acoustic sum rule violation ([0-9.e+-]+)", outputs) < 1e-8
        assert (tmp_path / "si_bands.png").exists()
    elif name == "md.ipynb":
        assert abs(_number(r"NPT mean temperature [0-9]+ K, pressure (-?[0-9.]+)", outputs)) \
            < 0.2
        assert 900 < _number(r"NVT mean temperature ([0-9]+) K", outputs) < 1150
        assert _number(r"conserved-energy drift ([0-9.]+) meV/atom", outputs) < 1.0
        assert 2.3 < _number(r"RDF first peak at ([0-9.]+) Å", outputs) < 2.45
        assert 3.8 < _number(r"coordination within 3 Å: ([0-9.]+)", outputs) < 4.2
        assert (tmp_path / "md_thermo.png").exists()
        assert (tmp_path / "md_rdf.png").exists()
    else:
        assert "mean crystal-crystal k: 1.0" in outputs
        for code in ("dscribe", "quip", "featomic"):
            liquid = _number(code + r"\s+crystal-liquid ([0-9.]+)", outputs)
            surface = _number(code + r".*crystal-surface ([0-9.]+)", outputs)
            assert liquid < surface < 1.0, code
        assert _number(r"mean crystal-liquid  k: ([0-9.]+)", outputs) < _number(
            r"mean crystal-surface k: ([0-9.]+)", outputs)
        assert (tmp_path / "soap_kernel.png").exists()


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb"))),
                         ids=os.path.basename)
def test_notebooks_are_stored_executed_with_their_figures(path):
    """A reader browsing the repository sees outputs and plots: every code cell ran, in
    order, without error, and the notebook holds at least one figure; no progress bars."""
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    counts = [c.execution_count for c in cells]
    assert None not in counts, f"{os.path.basename(path)} is stored without outputs"
    assert counts == sorted(counts), "cells were not run top to bottom"
    outputs = [o for c in cells for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure is shown"
    assert not any("%|" in o.get("text", "") for o in outputs), "a progress bar is stored"
