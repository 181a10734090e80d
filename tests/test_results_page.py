"""benchmarks/RESULTS.md is generated from the committed JSON, and benchmarks/ holds no build
outputs: summary.py run on benchmarks/results/ reproduces the committed page exactly, and no
tracked file under benchmarks/ passes 1 MB."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks")
LIMIT = 1_000_000  # bytes


def test_summary_reproduces_the_committed_results_page(tmp_path):
    """The tables between RESULTS.md's markers are exactly what summary.py writes from the
    JSON in benchmarks/results/ (run in a fresh process into a temporary file)."""
    out = tmp_path / "RESULTS.md"
    run = subprocess.run([sys.executable, os.path.join(BENCH, "summary.py"), "--output", str(out)],
                         capture_output=True, text=True, cwd=str(tmp_path), check=False)
    assert run.returncode == 0, run.stderr
    with open(os.path.join(BENCH, "RESULTS.md"), encoding="utf-8") as fh:
        committed = fh.read()
    generated = out.read_text(encoding="utf-8")
    if generated != committed:
        new, old = generated.splitlines(), committed.splitlines()
        first = next((i for i, (a, b) in enumerate(zip(new, old, strict=False)) if a != b),
                     min(len(new), len(old)))
        pytest.fail(f"benchmarks/RESULTS.md is stale from line {first + 1}: run python "
                    f"benchmarks/summary.py and commit the page\ncommitted: "
                    f"{old[first] if first < len(old) else '(end)'}\ngenerated: "
                    f"{new[first] if first < len(new) else '(end)'}")


def test_published_numbers_have_one_source():
    """The published errors the page compares with come from one file that names its source;
    the withdrawn MTP energies (3.00 / 2.00 / 0.62) are not the ones in use."""
    with open(os.path.join(BENCH, "published_zuo2020.json"), encoding="utf-8") as fh:
        published = json.load(fh)
    assert published["source"]["repository"] and published["source"]["commit"]
    assert "10.1021/acs.jpca.9b08723" in published["citation"]
    mtp = {el: published["models"]["MTP"][el]["test"]["energy"] for el in ("Si", "Ge", "Li")}
    assert mtp == {"Si": 2.21, "Ge": 1.79, "Li": 0.49}
    with open(os.path.join(BENCH, "RESULTS.md"), encoding="utf-8") as fh:
        page = fh.read()
    assert "[HISTORY.md](HISTORY.md)" in page


def _tracked(folder: str) -> list[str]:
    if shutil.which("git") is None or not os.path.isdir(os.path.join(ROOT, ".git")):
        pytest.skip("not a git checkout")
    run = subprocess.run(["git", "ls-files", "-s", "-z", "--", folder], capture_output=True,
                         cwd=ROOT, check=False)
    assert run.returncode == 0, run.stderr
    # "<mode> <object> <stage>\t<path>" per entry
    return [entry.split("\t", 1)[1] for entry in run.stdout.decode().split("\0") if entry]


def test_no_tracked_file_under_benchmarks_exceeds_1_mb():
    """Model files, plots and logs stay out of git; what the results page reads is small JSON
    (sizes of the tracked blobs, as committed or staged)."""
    paths = _tracked("benchmarks")
    assert paths, "git lists no file under benchmarks/"
    run = subprocess.run(["git", "cat-file", "--batch-check=%(objectname) %(objectsize)"],
                         input="\n".join(f":{p}" for p in paths).encode(), capture_output=True,
                         cwd=ROOT, check=False)
    assert run.returncode == 0, run.stderr
    sizes = [int(line.split()[-1]) for line in run.stdout.decode().splitlines()]
    big = {p: s for p, s in zip(paths, sizes, strict=True) if s > LIMIT}
    assert not big, f"tracked files under benchmarks/ over 1 MB: {big}"
    for path in paths:  # the working copies too (an edit not yet staged)
        full = os.path.join(ROOT, path)
        if os.path.isfile(full):
            assert os.path.getsize(full) <= LIMIT, f"{path}: {os.path.getsize(full)} bytes"


def test_build_outputs_are_not_tracked():
    """Trained models, plots, training logs and fit reports under benchmarks/results/ are
    ignored build outputs, not results."""
    tracked = _tracked("benchmarks/results")
    outputs = [p for p in tracked if p.endswith((".jaxpot", ".png", ".log", ".npz"))
               or "_report/" in p]
    assert not outputs, f"build outputs tracked under benchmarks/results/: {outputs[:10]}"
