"""Run a notebook top to bottom (small sizes, ``JAXPOT_NOTEBOOK_QUICK=1``) with nbclient."""

import os

import nbformat
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_notebook(name, tmp_path, monkeypatch) -> str:
    """Execute ``notebooks/<name>`` in ``tmp_path``; return the text of all code outputs."""
    monkeypatch.setenv("JAXPOT_NOTEBOOK_QUICK", "1")
    nb = nbformat.read(os.path.join(ROOT, "notebooks", name), as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
