"""The README and docs/ stay true: short README, links that resolve, the test command CI runs,
a tour that runs, a CLI page that names every flag, and the extending guide's example.

References: the files themselves (`.ci/run`, the repository tree) and the installed `jaxpot`
command's own ``--help``; the tour and the extending example are run as a user would run them,
with ``python`` in an empty folder.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MAX_README_LINES = 250

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code spans (links live in prose)."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def _blocks(text: str, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(text) if lang == language]


def _section(text: str, heading: str) -> str:
    """The text of the ``## heading`` section (up to the next ``## ``)."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"README.md has no '## {heading}' section"
    return match.group(1)


def _run_python(code: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    script = cwd / "snippet.py"
    script.write_text(code)
    return subprocess.run([sys.executable, str(script)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_readme_is_short():
    n = len(README.read_text().splitlines())
    assert n <= MAX_README_LINES, (f"README.md has {n} lines (at most {MAX_README_LINES}): move "
                                   "the detail to a page in docs/")


def test_every_relative_link_points_to_an_existing_file():
    broken = []
    for page in [README, *DOCS]:
        for target in LINK.findall(_prose(page.read_text())):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # a URL (http:, mailto:) or an anchor in the same page
            path = (page.parent / target.split("#")[0]).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "links to missing files:\n" + "\n".join(broken)


def test_every_docs_page_is_listed_in_the_index():
    index = (ROOT / "docs" / "index.md").read_text()
    linked = {Path(t.split("#")[0]).name for t in LINK.findall(_prose(index))}
    missing = [p.name for p in DOCS if p.name != "index.md" and p.name not in linked]
    assert not missing, f"docs/index.md does not list {missing}"


def _commands(lines, marker="pytest"):
    return [line.strip() for line in lines
            if marker in line and not line.lstrip().startswith("#")]


def test_readme_test_command_is_the_one_ci_runs():
    ci = _commands((ROOT / ".ci" / "run").read_text().splitlines())
    assert len(ci) == 1, f".ci/run should run pytest on one line, found {ci}"
    readme = _commands(line for block in _blocks(README.read_text(), "bash")
                       for line in block.splitlines())
    assert readme, "README.md shows no test command (a ```bash block running pytest)"
    assert set(readme) == set(ci), f"README.md says {readme}, .ci/run runs {ci}"


def test_the_readme_tour_runs(tmp_path):
    """The tour's Python, as a reader runs it: in an empty folder, in a fresh process."""
    blocks = _blocks(_section(README.read_text(), "A tour"), "python")
    assert blocks, "the README's tour has no ```python block"
    result = _run_python("\n".join(blocks), tmp_path, timeout=600)
    assert result.returncode == 0, (
        f"the README tour failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    assert (tmp_path / "si_gap.jaxpot").exists()  # the model file the CLI lines use


def test_the_extending_example_runs(tmp_path):
    """docs/extending.md's new potential: finite differences, a sum, a file read back."""
    blocks = _blocks((ROOT / "docs" / "extending.md").read_text(), "python")
    runnable = [b for b in blocks if not b.lstrip().startswith("MODELS = {")]
    result = _run_python("\n".join(runnable), tmp_path, timeout=300)
    assert result.returncode == 0, (
        f"docs/extending.md's example failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")


def _help(*command: str) -> str:
    out = subprocess.run([sys.executable, "-m", "jaxpot.cli", *command, "--help"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT,
                         env=dict(os.environ, COLUMNS="100"))
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_cli_page_names_every_command_and_flag():
    """Every command and flag ``jaxpot --help`` / ``jaxpot CMD --help`` prints is in
    docs/cli.md (a new flag is documented with the change that adds it)."""
    page = (ROOT / "docs" / "cli.md").read_text()
    top = _help()
    commands = re.search(r"\{([\w,]+)\}", top).group(1).split(",")
    missing = [f"jaxpot {c}" for c in commands if f"## `jaxpot {c}`" not in page]
    for command in ["", *commands]:
        text = _help(command) if command else top
        for flag in sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text))):
            documented = re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", page)
            if flag != "--help" and not documented:
                missing.append(f"jaxpot {command} {flag}".replace("  ", " "))
    assert not missing, f"docs/cli.md does not document: {missing}"
