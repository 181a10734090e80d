"""Run a fit job end to end: read the data, fit, save the model atomically, evaluate, report.

    jaxpot fit CONFIG.toml
    jaxpot fit --gap-fit "at_file=train.xyz gap={soap ...} e0=-0.79 default_sigma={...}"

The report directory holds ``errors.txt`` and ``errors.json`` (MAE/RMSE per config_type on the
training and, if given, test data), parity plots (PNG), ``settings.json`` and ``timings.json``.
The model file is written only when the fit has finished (through a temporary name), so an
interrupted fit leaves no half-written model.  While it runs, ``<model>.checkpoint.npz`` holds
the sparse points and the rows absorbed so far (written atomically): running the same job
again resumes from it; it is removed once the model is written.  ``<model>.posterior.npz``
holds the posterior factors for :func:`jaxpot.gap.predictive_std` with the loaded model (and
the model's digest, which ties them to it).  Before the fit starts, every input file is read
and checked, and an output that would overwrite an input is refused.  gap_fit's
``gp_file=si.xml`` writes the model file ``si.jaxpot`` and the GAP XML ``si.xml``
(:mod:`jaxpot.gap.xml_writer`, read by quippy and LAMMPS ``pair_style quip``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from typing import NamedTuple

from jaxpot.gap.config import ConfigError, FitJob
from jaxpot.gap.fit import GapFit, fit
from jaxpot.gap.labels import LabelNames, TrainingDataError
from jaxpot.gap.uncertainty import save_posterior
from jaxpot.gap.xml_writer import write_gap_xml
from jaxpot.io.paths import check_outputs, same_file
from jaxpot.structure import check_frames as check_atoms
from jaxpot.training.frames import check_writable, read_frames, write_json
from jaxpot.training.labels import read_labels_checked

_log = logging.getLogger(__name__)

#: files a job writes in its report directory (besides parity plots)
REPORT_FILES = ("errors.txt", "errors.json", "settings.json", "timings.json")


class JobResult(NamedTuple):
    fit: GapFit
    model_path: str
    report_dir: str
    errors: dict


def default_output(job: FitJob, config_path: str | None = None) -> str:
    """Model path: gp_file when it ends in ``.jaxpot``; for gap_fit's ``gp_file=si.xml`` the
    model file ``si.jaxpot`` (the XML is written too: :func:`xml_output`); else next to the
    config or at_file.  A gp_file of another suffix is refused."""
    if job.gp_file:
        root, ext = os.path.splitext(job.gp_file)
        if ext.lower() == ".xml":
            return root + ".jaxpot"
        if ext != ".jaxpot":
            raise ConfigError(
                f"gp_file={job.gp_file}: jaxpot writes .jaxpot model files and GAP .xml "
                f"files, not {ext or 'suffix-less'} files; give gp_file={root}.jaxpot or "
                f"gp_file={root}.xml, or name the model file with --output MODEL.jaxpot")
        return job.gp_file
    base = config_path or job.at_file or "gap"
    return os.path.splitext(base)[0] + ".jaxpot"


def xml_output(job: FitJob) -> str | None:
    """The GAP XML file a job writes besides its model file: gp_file when it ends in
    ``.xml`` (as gap_fit writes it), else None."""
    if job.gp_file and os.path.splitext(job.gp_file)[1].lower() == ".xml":
        return job.gp_file
    return None


def output_paths(output: str, report_dir: str, xml: str | None = None) -> dict:
    """{role: path} of every file a job writes (model, GAP XML, posterior, checkpoint,
    report)."""
    root = os.path.splitext(output)[0]
    report = {f"report file {name}": os.path.join(report_dir, name) for name in REPORT_FILES}
    return {"model file": output, **({"GAP XML file": xml} if xml else {}),
            "posterior file": root + ".posterior.npz", "checkpoint": output + ".checkpoint.npz",
            "report directory": report_dir, **report}


def run_job(job: FitJob, *, output: str | None = None, test_files: Sequence[str] = (),
            report_dir: str | None = None, progress: bool = True, frames=None,
            echo=None) -> JobResult:
    """Fit ``job``, save the model, evaluate on training and test files, write the report.

    Before the fit: no output may be an input (:func:`jaxpot.io.paths.check_outputs`), and
    every file (training, test, ``job.validation_file``) is read and its labels checked, so
    a bad test file is reported before the fit, not after it.  The report reads labels by
    the job's names (gap_fit's ``*_parameter_name``)."""
    import jaxpot
    from jaxpot.evaluation import error_report
    echo = echo or _log.info
    output = output or default_output(job)
    report_dir = report_dir or os.path.splitext(output)[0] + "_report"
    tests = _test_files(job, test_files)
    xml = xml_output(job)
    outputs = output_paths(output, report_dir, xml)
    check_outputs(outputs, {"training file": job.at_file, "test file": tests})
    check_writable(output, report_dir)
    if xml:
        if not os.path.isdir(os.path.dirname(os.path.abspath(xml))):
            raise FileNotFoundError(f"the GAP XML file {xml} (gp_file) would go in a folder "
                                    "that does not exist: create it or choose another gp_file")
        echo(f"gp_file={xml}: writing the jaxpot model file {output} and the GAP XML {xml}")
    if frames is None:
        if not job.at_file:
            raise TrainingDataError("the fit names no training file (at_file)")
        _log.info("reading training configurations from %s", job.at_file)
        frames = read_frames(job.at_file)
    frames = check_atoms(frames, "frames")
    source = job.at_file or "training data"
    sets = {"train": frames}
    species = sorted({int(z) for a in frames for z in a.numbers})
    for path in tests:
        _log.info("reading test configurations from %s", path)
        data = read_frames(path)
        check_test_frames(data, path, job.settings.names, species, source)
        sets[_set_name(path, sets)] = data
    echo(f"jaxpot fit: {len(frames)} configurations from {source}")
    start = time.perf_counter()
    checkpoint = outputs["checkpoint"]
    _log.info("fitting GAP (%s) on %d configurations", _describe(job.settings), len(frames))
    _log.debug("GAP settings: %s", job.settings)
    result = fit(frames, job.settings, source=source, progress=progress, checkpoint=checkpoint)
    fit_seconds = time.perf_counter() - start
    jaxpot.save(result.model, output)
    if xml:
        write_gap_xml(result.model, xml)
    os.remove(checkpoint)
    save_posterior(outputs["posterior file"], result.posterior)
    echo(f"fitted in {fit_seconds:.1f} s; model written to {output}"
         + (f", GAP XML to {xml}" if xml else ""))
    os.makedirs(report_dir, exist_ok=True)
    errors, text = error_report(result.model, sets, report_dir,
                                names=report_names(job.settings.names))
    echo(text)
    write_json(os.path.join(report_dir, "settings.json"), settings_dict(job))
    write_json(os.path.join(report_dir, "timings.json"),
                dict(result.timings, total_fit=fit_seconds, n_observations=result.n_observations))
    echo(f"report: {report_dir}")
    return JobResult(result, output, report_dir, errors)


def _describe(settings) -> str:
    """The descriptors of a GAP's settings, for the "fitting" line."""
    parts = []
    if getattr(settings, "distance_2b", None) is not None:
        parts.append("2-body")
    if getattr(settings, "soap", None) is not None:
        parts.append("SOAP")
    return " + ".join(parts) or "GAP"


def _test_files(job: FitJob, test_files: Sequence[str]) -> list[str]:
    """The test files and the job's validation file, each once."""
    out: list[str] = []
    for path in [*test_files, *([job.validation_file] if job.validation_file else [])]:
        if not any(same_file(path, seen) for seen in out):
            out.append(path)
    return out


def _set_name(path: str, sets: dict) -> str:
    """A report name for a test file: its base name, numbered if that name is taken."""
    name, k = os.path.basename(path), 2
    while name in sets:
        name, k = f"{os.path.basename(path)}_{k}", k + 1
    return name


def report_names(names: LabelNames) -> dict:
    """The label keys the user chose (gap_fit's ``*_parameter_name`` other than its
    defaults), as :func:`jaxpot.evaluation.evaluate` names them; defaults are left to
    evaluate (named keys, else ASE's calculator results)."""
    default = LabelNames()
    out = {}
    for field, role in (("energy", "energy"), ("force", "forces"), ("virial", "virial"),
                        ("config_type", "config_type")):
        key = getattr(names, field)
        if key is not None and key != getattr(default, field):
            out[role] = key
    return out


def check_test_frames(frames: Sequence, path: str, names: LabelNames, species: Sequence[int],
                      training: str) -> None:
    """Refuse, before a fit, a test file whose labels cannot be read by the job's ``names``
    (or hold an implausible stress), or whose species the training data lacks."""
    read_labels_checked(frames, report_names(names), path)
    for i, atoms in enumerate(frames):
        unknown = sorted(set(atoms.numbers.tolist()) - set(species))
        if unknown:
            raise TrainingDataError(
                f"{path}, configuration {i}: species Z={unknown} do not occur in the training "
                f"data ({training}, Z={list(species)}): the fitted model could not evaluate "
                "it; remove the configuration or add training data with those species")


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
