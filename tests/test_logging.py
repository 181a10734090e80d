"""Logging (issue 69, item 5): library code does not print (its messages go through
:mod:`logging`); ``jaxpot fit`` shows the stage lines on stdout, flushed as written, writes every
record with a timestamp to ``fit.log`` in its report folder, and ``--quiet`` prints nothing on
stdout.  Reference: the stage lines the pipelines log, in the order the stages run.
"""

from __future__ import annotations

import ast
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ase.io import write
from test_fit_configs import SNAP, SNAP_TABLE, _frames

from jaxpot.cli import main
from jaxpot.logs import log_file, to_stdout

PACKAGE = Path(__file__).resolve().parent.parent / "jaxpot"
STAGES = ("reading training configurations from train.extxyz",
          "reading test configurations from test.extxyz",
          "jaxpot fit: snap", "fitting snap", "model written to si.jaxpot",
          "evaluating on train (10 configurations)",
          "evaluating on test.extxyz (2 configurations)", "report: si_report")


def test_library_code_calls_no_print():
    """A source scan of jaxpot/ (every module but the command line: cli.py and the
    subcommands in jaxpot/commands/) for print calls."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if (path.name == "cli.py" and path.parent == PACKAGE) \
                or path.parent == PACKAGE / "commands":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "print"):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not found, found


@pytest.fixture
def snap(tmp_path, monkeypatch):
    write(tmp_path / "train.extxyz", _frames(10))
    write(tmp_path / "test.extxyz", _frames(2, seed=1))
    (tmp_path / "snap.toml").write_text(SNAP + 'test = "test.extxyz"\n' + SNAP_TABLE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _in_order(text: str, lines=STAGES) -> None:
    at = -1
    for line in lines:
        assert line in text[at + 1:], (line, text)
        at = text.index(line, at + 1)


def test_fit_writes_a_log_file_with_the_stages(snap, capsys):
    assert main(["fit", "snap.toml"]) == 0
    out = capsys.readouterr().out
    _in_order(out)
    assert not any(line.startswith(("INFO", "DEBUG")) for line in out.splitlines())
    log = (snap / "si_report" / "fit.log").read_text()
    _in_order(log)
    first = log.splitlines()[0]
    assert first[:4].isdigit() and " INFO jaxpot." in first, first  # timestamp, level, logger
    assert "fit settings:" not in out and " DEBUG jaxpot.linear.pipeline: fit settings:" in log


def test_a_gap_fit_logs_its_stages_and_settings(snap, capsys):
    (snap / "gap.toml").write_text('at_file = "train.extxyz"\ngp_file = "gap.jaxpot"\n'
                                   'test = "test.extxyz"\n[soap]\ncutoff = 4.0\nn_max = 2\n'
                                   'l_max = 2\nn_sparse = 20\n')
    assert main(["fit", "gap.toml", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    log = (snap / "gap_report" / "fit.log").read_text()
    _in_order(log, ("reading training configurations from train.extxyz",
                    "jaxpot fit: 10 configurations from train.extxyz",
                    "fitting GAP (SOAP) on 10 configurations", "DEBUG", "GAP settings:",
                    "model written to gap.jaxpot", "evaluating on train (10 configurations)",
                    "evaluating on test.extxyz (2 configurations)", "report: gap_report"))


def test_verbose_adds_debug_and_quiet_prints_nothing(snap, capsys):
    assert main(["fit", "snap.toml", "--verbose"]) == 0
    out = capsys.readouterr().out
    _in_order(out)
    assert "fit settings: " in out  # a DEBUG record
    assert main(["fit", "snap.toml", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    _in_order((snap / "si_report" / "fit.log").read_text())  # the log file has every record


def test_output_redirected_to_a_file_has_the_stages_in_order(snap):
    with open(snap / "out.txt", "w") as fh:
        done = subprocess.run([sys.executable, "-m", "jaxpot.cli", "fit", "snap.toml"],
                              stdout=fh, stderr=subprocess.PIPE, text=True, cwd=snap,
                              env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)},
                              timeout=600)
    assert done.returncode == 0, done.stderr
    _in_order((snap / "out.txt").read_text())


def test_each_record_is_flushed_as_written(tmp_path, monkeypatch):
    """stdout a (block-buffered) file, as in a batch job: each record is there at once."""
    path = tmp_path / "out.txt"
    with open(path, "w") as fh:
        monkeypatch.setattr(sys, "stdout", fh)
        with to_stdout(logging.INFO):
            logging.getLogger("jaxpot.test").info("first stage")
            assert path.read_text() == "first stage\n"
            logging.getLogger("jaxpot.test").debug("detail")
            assert path.read_text() == "first stage\n"


def test_log_file_waits_for_its_folder(tmp_path):
    """Records before the report folder exists are kept and written once it does."""
    path = tmp_path / "report" / "fit.log"
    with log_file(str(path)):
        logging.getLogger("jaxpot.test").debug("before the folder")
        assert not path.exists()
        (tmp_path / "report").mkdir()
        logging.getLogger("jaxpot.test").info("after it")
        text = path.read_text()
        assert "before the folder" in text and "after it" in text
    with pytest.raises(RuntimeError), log_file(str(tmp_path / "never" / "fit.log")):
        logging.getLogger("jaxpot.test").info("a failed command makes no folder")
        raise RuntimeError
    assert not (tmp_path / "never").exists()


def test_the_main_job_says_what_it_does_after_the_fit(tmp_path, monkeypatch, caplog, capsys):
    """The main job's stages after the fit (relax, elastic constants, phonons), in order, each
    announced before it runs, from Python (logging) and from ``jaxpot fit --out DIR`` (stdout
    and DIR/si_gap_report/fit.log); the fit itself replaced by Stillinger-Weber (the GAP's
    stages are checked above)."""
    import types

    import jaxpot.gap.pipeline as pipeline
    from jaxpot.gap.demo import run_demo
    from jaxpot.potentials import stillinger_weber

    def run_job(job, *, output, test_files, progress, frames, echo):
        report = Path(output).parent / "si_gap_report"
        report.mkdir()
        for path in (output, os.path.splitext(output)[0] + ".posterior.npz"):
            Path(path).write_bytes(b"x")
        overall = {"energy_mae": 1.0, "force_mae": 0.1}
        return types.SimpleNamespace(fit=types.SimpleNamespace(model=stillinger_weber()),
                                     errors={os.path.basename(test_files[0]):
                                             {"overall": overall}},
                                     report_dir=str(report), model_path=output)

    monkeypatch.setattr(pipeline, "run_job", run_job)
    with caplog.at_level(logging.INFO, logger="jaxpot"):
        run_demo(out=str(tmp_path / "python"), progress=False)
    stages = ("reading training configurations from", "test MAE:", "relaxing diamond Si",
              "elastic constants of relaxed diamond Si", "diamond Si: a = ",
              "phonons of relaxed diamond Si", "phonons at Gamma", "properties: ")
    _in_order(caplog.text, stages)
    assert main(["fit", "--out", str(tmp_path / "cli")]) == 0
    _in_order(capsys.readouterr().out, stages)
    _in_order((tmp_path / "cli" / "si_gap_report" / "fit.log").read_text(), stages)
