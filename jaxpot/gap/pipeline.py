"""Run a fit job end to end: read the data, fit, save the model atomically, evaluate, report.

    jaxpot fit CONFIG.toml
    jaxpot fit --gap-fit "at_file=train.xyz gap={soap ...} e0=-0.79 default_sigma={...}"

The report directory holds ``errors.txt`` and ``errors.json`` (MAE/RMSE per config_type on the
training and, if given, test data), parity plots (PNG), ``settings.json`` and ``timings.json``.
The model file is written only when the fit has finished (through a temporary name), so an
interrupted fit leaves no half-written model.  While it runs, ``<model>.checkpoint.npz`` holds
the sparse points and the rows absorbed so far (written atomically): running the same job
again resumes from it; it is removed once the model is written.  ``<model>.posterior.npz``
holds the posterior factors for :func:`jaxpot.gap.predictive_std` with the loaded model.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import NamedTuple
from collections.abc import Sequence

from jaxpot.gap.config import FitJob
from jaxpot.gap.fit import GapFit, fit
from jaxpot.gap.labels import TrainingDataError
from jaxpot.gap.uncertainty import save_posterior
from jaxpot.io.atomic_file import atomic_write


class JobResult(NamedTuple):
    fit: GapFit
    model_path: str
    report_dir: str
    errors: dict


def read_frames(path: str) -> list:
    """All configurations of an ASE-readable file; clear errors for missing or empty files."""
    from ase.io import read
    if not os.path.exists(path):
        raise TrainingDataError(f"{path}: no such file")
    try:
        frames = read(path, ":")
    except Exception as err:  # noqa: BLE001  (ASE raises many types for malformed files)
        raise TrainingDataError(f"{path}: cannot be read as a structure file ({err})") from None
    if not frames:
        raise TrainingDataError(f"{path}: no configurations")
    return frames


def default_output(job: FitJob, config_path: str | None = None) -> str:
    """Model path: gp_file with a ``.jaxpot`` suffix, else next to the config or at_file."""
    if job.gp_file:
        root, ext = os.path.splitext(job.gp_file)
        return job.gp_file if ext == ".jaxpot" else root + ".jaxpot"
    base = config_path or job.at_file or "gap"
    return os.path.splitext(base)[0] + ".jaxpot"


def run_job(job: FitJob, *, output: str | None = None, test_files: Sequence[str] = (),
            report_dir: str | None = None, progress: bool = True, frames=None,
            echo=print) -> JobResult:
    """Fit ``job``, save the model, evaluate on training and test files, write the report."""
    import jaxpot
    from jaxpot.evaluation import error_report
    if frames is None:
        if not job.at_file:
            raise TrainingDataError("the fit names no training file (at_file)")
        frames = read_frames(job.at_file)
    output = output or default_output(job)
    report_dir = report_dir or os.path.splitext(output)[0] + "_report"
    source = job.at_file or "training data"
    echo(f"jaxpot fit: {len(frames)} configurations from {source}")
    start = time.perf_counter()
    checkpoint = output + ".checkpoint.npz"
    result = fit(frames, job.settings, source=source, progress=progress, checkpoint=checkpoint)
    fit_seconds = time.perf_counter() - start
    jaxpot.save(result.model, output)
    os.remove(checkpoint)
    save_posterior(os.path.splitext(output)[0] + ".posterior.npz", result.posterior)
    echo(f"fitted in {fit_seconds:.1f} s; model written to {output}")
    os.makedirs(report_dir, exist_ok=True)
    sets = {"train": frames}
    for path in test_files:
        sets[os.path.basename(path)] = read_frames(path)
    errors, text = error_report(result.model, sets, report_dir)
    echo(text)
    write_json(os.path.join(report_dir, "settings.json"), settings_dict(job))
    write_json(os.path.join(report_dir, "timings.json"),
                dict(result.timings, total_fit=fit_seconds, n_observations=result.n_observations))
    echo(f"report: {report_dir}")
    return JobResult(result, output, report_dir, errors)


def settings_dict(job: FitJob) -> dict:
    """JSON-ready settings of a job (gap_fit names)."""
    def plain(x):
        if dataclasses.is_dataclass(x):
            return {k: plain(v) for k, v in dataclasses.asdict(x).items()}
        if isinstance(x, tuple) and hasattr(x, "_asdict"):
            return {k: plain(v) for k, v in x._asdict().items()}
        if isinstance(x, (list, tuple)):
            return [plain(v) for v in x]
        if isinstance(x, dict):
            return {str(k): plain(v) for k, v in x.items()}
        return x
    out = plain(job.settings)
    out.update(at_file=job.at_file, gp_file=job.gp_file)
    return out


def write_json(path: str, data) -> None:
    """Write ``data`` as JSON through a temporary name (atomic)."""
    with atomic_write(path, "w") as fh:
        json.dump(data, fh, indent=1, default=str)
