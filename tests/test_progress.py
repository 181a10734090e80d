"""Progress bars (jaxpot.progress): work-weighted bars, and complete lines in a log file."""

from __future__ import annotations

import io
import subprocess
import sys

from jaxpot.progress import LOG_INTERVAL_S, progress_bar, work_bar


def test_work_bar_reports_the_work_weighted_fraction():
    costs = [8, 8, 64, 120]  # atoms of four configurations
    bar = work_bar(costs, file=io.StringIO(), unit="atom", desc="rows")
    assert bar.total == 200
    bar.advance([0, 1])  # half the configurations, 8 % of the work
    assert bar.n == 16 and abs(bar.fraction - 0.08) < 1e-12
    assert bar.format_dict["n"] / bar.format_dict["total"] == bar.fraction
    assert bar.format_dict["unit"] == "atom"
    bar.advance([3])
    assert abs(bar.fraction - 0.68) < 1e-12
    bar.advance([2])
    assert bar.n == bar.total == 200 and bar.fraction == 1.0
    bar.close()


def test_work_bar_resumes_from_work_already_done():
    costs = [10, 30, 60]
    bar = work_bar(costs, initial=costs[1], file=io.StringIO())
    assert bar.fraction == 0.3
    bar.advance([0, 2])
    assert bar.fraction == 1.0
    bar.close()


def test_a_bar_on_a_file_writes_few_complete_lines(tmp_path):
    log = tmp_path / "stderr.log"
    code = ("import time\n"
            "from jaxpot.progress import work_bar\n"
            "bar = work_bar([1] * 400, desc='GAP kernel rows', unit='atom')\n"
            "for i in range(400):\n"
            "    bar.advance([i]); time.sleep(0.001)\n"
            "bar.close()\n")
    with open(log, "w") as fh:
        subprocess.run([sys.executable, "-c", code], stderr=fh, check=True, timeout=120)
    text = log.read_text()
    assert "\r" not in text
    lines = text.splitlines()
    assert 1 <= len(lines) <= 3, lines  # the start, the end (and one per LOG_INTERVAL_S)
    assert lines[-1].startswith("GAP kernel rows: 100%") and "400/400" in lines[-1]
    assert all(line.strip() for line in lines)


def test_a_bar_on_a_stream_that_is_not_a_terminal_flushes_lines():
    stream = io.StringIO()
    bar = progress_bar(total=10, file=stream, desc="design rows", mininterval=0)
    for _ in range(10):
        bar.update(1)
    bar.close()
    text = stream.getvalue()
    assert "\r" not in text and text.endswith("\n")
    assert text.splitlines()[-1].startswith("design rows: 100%")
    assert LOG_INTERVAL_S >= 10
