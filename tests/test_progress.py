"""Progress bars (jaxpot.progress): work-weighted bars, and complete lines in a log file."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np

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


def test_restart_clock_keeps_the_count_and_times_only_what_follows():
    import time
    bar = work_bar([5, 5, 10], initial=5, file=io.StringIO())
    time.sleep(0.2)  # a stage's compilation, which the rate must not include
    bar.restart_clock()
    assert bar.n == 5 and bar.fraction == 0.25
    assert bar.format_dict["elapsed"] < 0.1
    bar.advance([1])
    assert bar.n == 10
    bar.close()


def test_gap_stages_compile_every_batch_shape_before_the_first_batch():
    """The kernel-row and SOAP stages compile all their shapes up front, then call
    ``on_compiled`` (where the bar restarts its clock): the batches then compile nothing,
    so the bar's rate and ETA measure computation (benchmarks/progress_eta.py)."""
    import jax
    from ase.build import bulk

    from jaxpot import gap
    from jaxpot.gap.design import soap_features, structure_rows
    from jaxpot.gap.terms import quip_soap
    from jaxpot.testing import CompilationCounter

    jax.config.update("jax_enable_x64", True)
    frames = [bulk("Si", "diamond", a=5.43).repeat(n) for n in (1, 1, 2, 2)]
    frames[3].pbc = False  # a cluster: a bucket (a compiled shape) of its own
    frames[3].center(vacuum=4.0)
    for k, a in enumerate(frames):
        a.rattle(0.05, seed=k)
    desc = quip_soap((14,), 3.0, 2, 2, 0.5)
    x = desc(frames[0])[:2]
    term = gap.soap_gp(species=(14,), cutoff=3.0, n_max=2, l_max=2, atom_sigma=0.5, zeta=2,
                       delta=1.0, sparse=x, alpha=np.ones(2), n_sparse=(2,))
    for stage in (lambda **kw: structure_rows(term, frames, **kw),
                  lambda **kw: soap_features(desc, term, frames, **kw)):
        events = []
        with CompilationCounter() as compiled:
            def on_compiled(counter=compiled):
                events.append(("compiled", counter.count))

            def on_batch(members, counter=compiled):
                events.append(("batch", counter.count))
            done = [i for i, _ in stage(on_batch=on_batch, on_compiled=on_compiled)]
        assert sorted(done) == [0, 1, 2, 3]
        assert events[0][0] == "compiled" and len(events) >= 3  # 2 bucket shapes at least
        assert all(count == events[0][1] for _, count in events), events


def test_the_linear_design_rows_compile_before_their_first_batch():
    """SNAP's ``basis.compile(batch)`` (called for each bucket before the design-rows bar
    starts its clock) leaves nothing for ``basis.rows`` to compile."""
    import jax
    from ase.build import bulk

    from jaxpot.batch import first_batch_of_each_bucket, frame_pairs, plan_buckets, slot_work
    from jaxpot.descriptors.bispectrum import bispectrum
    from jaxpot.linear.fit import SnapBasis
    from jaxpot.testing import CompilationCounter

    jax.config.update("jax_enable_x64", True)
    frames = [bulk("Si", "diamond", a=5.43).repeat(n) for n in (1, 2)]
    basis = SnapBasis(bispectrum(["Si"], 2, 4.0, 0.99, 0.0, radius={"Si": 0.5}))
    template = basis.model(np.zeros(basis.n_columns))
    pairs = [frame_pairs(template, a) for a in frames]
    buckets = plan_buckets(frames, pairs, pad_atoms=True)
    assert sum(slot_work(buckets, len(frames))) == sum(b.n_atoms * b.batch_size
                                                       for b in buckets)
    (batch,) = list(first_batch_of_each_bucket(template, frames, pairs, buckets))
    basis.compile(batch)
    with CompilationCounter() as compiled:
        jax.block_until_ready(basis.rows(batch))
    assert compiled.count == 0
