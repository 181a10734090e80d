"""Error metrics of a potential on labelled frames: what ``jaxpot evaluate`` reports.

    ev = evaluate(model, ase.io.read("test.extxyz", ":"))
    print(ev.table())                      # overall and per config_type MAE / RMSE
    json.dumps(ev.to_dict())               # plain numbers, NaN -> None
    parity_plots(ev, "out/test")           # out/test_{energy,forces,stress}.png

Reference labels are ASE's stored calculator results (energy, forces, stress), or with
``names`` the named ``atoms.info`` / ``atoms.arrays`` keys (gap_fit style; virial = -stress *
volume, eV, 9 numbers), falling back to calculator results where a named key is absent
(read by :mod:`jaxpot.training.labels`, the one reader of labels).  A missing label is
skipped for that frame.  Units: energy errors meV/atom ((E_pred - E_ref)/N),
forces eV/Å (all components), stress GPa (6 Voigt components xx yy zz yz xz xy).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from ase import units

from jaxpot.io.atomic_file import atomic_write
from jaxpot.prediction import Prediction, predict
from jaxpot.structure import check_frames
from jaxpot.training.labels import (
    LabelKeys,
    check_chosen_names_present,
    label_keys,
    read_labels,
)

_log = logging.getLogger(__name__)

GPA = units.GPa  #: 1 GPa in eV/Å^3 (1 eV/Å^3 = 160.21766208 GPa)


@dataclasses.dataclass(frozen=True, eq=False)
class Parity:
    """Predicted and reference values, one row per labelled item, with frame index and type."""

    predicted: np.ndarray
    reference: np.ndarray
    frame: np.ndarray  # (rows,) int
    config_type: np.ndarray  # (rows,) str

    def select(self, config_type: str) -> Parity:
        """The rows of one config_type."""
        m = self.config_type == config_type
        return Parity(self.predicted[m], self.reference[m], self.frame[m], self.config_type[m])


@dataclasses.dataclass(frozen=True)
class Metrics:
    """Counts and errors of one group: energy meV/atom, forces eV/Å, stress GPa (NaN: no data)."""

    n_configs: int
    n_atoms: int
    n_energy: int  # configs with an energy label
    n_force_atoms: int  # atoms with a force label
    n_stress: int  # configs with a usable stress label
    energy_mae: float
    energy_rmse: float
    force_mae: float
    force_rmse: float
    stress_mae: float
    stress_rmse: float


@dataclasses.dataclass(frozen=True, eq=False)
class Evaluation:
    """Metrics overall and per config_type, plus parity data: energy (n_E,) eV/atom, forces
    (n_F, 3) eV/Å, stress (n_S, 6) GPa."""

    overall: Metrics
    by_config_type: dict[str, Metrics]
    energy: Parity
    forces: Parity
    stress: Parity
    prediction: Prediction | None = None  #: every frame's predictions (jaxpot.predict)

    def table(self) -> str:
        """Fixed-width table: overall row, then one row per config_type."""
        head = (f"{'config_type':<16}{'n':>6}{'E MAE':>10}{'E RMSE':>10}{'F MAE':>9}"
                f"{'F RMSE':>9}{'S MAE':>9}{'S RMSE':>9}")
        unit = f"{'':<22}{'(meV/atom)':>20}{'(eV/Å)':>18}{'(GPa)':>18}"
        rows = [("overall", self.overall)] + sorted(self.by_config_type.items())
        lines = [head, unit, "-" * len(head)]
        for name, m in rows:
            lines.append(f"{name[:16]:<16}{m.n_configs:>6}" + _cell(m.energy_mae, 10, 2)
                         + _cell(m.energy_rmse, 10, 2) + _cell(m.force_mae, 9, 4)
                         + _cell(m.force_rmse, 9, 4) + _cell(m.stress_mae, 9, 4)
                         + _cell(m.stress_rmse, 9, 4))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready metrics (plain ints/floats, NaN -> None); units in ``"units"``."""
        return {"units": {"energy": "meV/atom", "forces": "eV/Å", "stress": "GPa"},
                "overall": _plain(dataclasses.asdict(self.overall)),
                "by_config_type": {k: _plain(dataclasses.asdict(m))
                                   for k, m in sorted(self.by_config_type.items())}}


def evaluate(model, frames: Sequence, *, names: LabelKeys | Mapping | None = None,
             progress: bool | None = None, source: str | Sequence[str] = "frames") -> Evaluation:
    """Errors of ``model`` on the labelled ``ase.Atoms`` ``frames`` (see module docstring).

    ``source`` names the frames in errors: a string (-> ``source[i]``) or one name per frame.
    Raises ValueError for no frames or a frame without any label; species the model does not
    know raise what :func:`jaxpot.predict` raises.
    """
    if hasattr(frames, "positions"):
        frames = [frames]
    frames = check_frames(frames, "evaluate: frames")
    if not frames:
        raise ValueError("evaluate got no frames")
    keys = label_keys(names)
    check_chosen_names_present(frames, names, keys, source if isinstance(source, str)
                               else "frames")
    where = ([f"{source}[{i}]" for i in range(len(frames))] if isinstance(source, str)
             else list(source))
    if len(where) != len(frames):
        raise ValueError(f"source names {len(where)} frames, got {len(frames)} frames")
    labels = [read_labels(a, keys, where[i]) for i, a in enumerate(frames)]
    pred = predict(model, frames, progress=progress)
    sizes = np.array([len(a) for a in frames])
    kinds = np.array([lab.config_type for lab in labels], dtype=object)
    e_rows = [i for i, lab in enumerate(labels) if lab.energy is not None]
    f_rows = [i for i, lab in enumerate(labels) if lab.forces is not None]
    s_rows = [i for i, lab in enumerate(labels)
              if lab.stress is not None and np.all(np.isfinite(pred.stress[i]))]
    energy = Parity(pred.energy[e_rows] / sizes[e_rows],
                    np.array([labels[i].energy for i in e_rows]) / sizes[e_rows],
                    np.array(e_rows, dtype=int), kinds[e_rows])
    f_frame = np.repeat(np.array(f_rows, dtype=int), sizes[f_rows])
    forces = Parity(_stack([pred.forces[i] for i in f_rows], 3),
                    _stack([labels[i].forces for i in f_rows], 3), f_frame, kinds[f_frame])
    stress = Parity(pred.stress[s_rows].reshape(-1, 6) / GPA,
                    _stack([labels[i].stress for i in s_rows], 6) / GPA,
                    np.array(s_rows, dtype=int), kinds[s_rows])
    groups = {k: group_metrics(energy.select(k), forces.select(k), stress.select(k),
                               sizes[kinds == k]) for k in sorted(set(kinds))}
    overall = group_metrics(energy, forces, stress, sizes)
    return Evaluation(overall, groups, energy, forces, stress, pred)


def group_metrics(energy: Parity, forces: Parity, stress: Parity, sizes: np.ndarray) -> Metrics:
    """Metrics of one group; ``sizes`` (n_configs,) atoms per config of the group."""
    e = _mae_rmse(1000.0 * (energy.predicted - energy.reference))
    f = _mae_rmse(forces.predicted - forces.reference)
    s = _mae_rmse(stress.predicted - stress.reference)
    return Metrics(len(sizes), int(np.sum(sizes)), len(energy.frame), len(forces.frame),
                   len(stress.frame), *e, *f, *s)


def error_report(model, sets: Mapping[str, Sequence], report_dir: str | Path, *,
                 names: LabelKeys | Mapping | object | None = None) -> tuple[dict, str]:
    """Evaluate ``model`` on each named set of labelled frames (label keys ``names``, as
    :func:`evaluate`) and write, in ``report_dir``, parity plots ``parity_<name>_*.png``,
    ``errors.txt`` and ``errors.json`` (atomically); return ({name: metrics dict}, printable
    tables)."""
    import json
    errors, tables = {}, []
    for name, data in sets.items():
        _log.info("evaluating on %s (%d configurations)", name, len(data))
        ev = evaluate(model, data, names=names, progress=False, source=name)
        errors[name] = ev.to_dict()
        tables.append(f"== {name} ({len(data)} configurations)\n{ev.table()}")
        parity_plots(ev, Path(report_dir) / f"parity_{name}")
    text = "\n\n".join(tables)
    with atomic_write(Path(report_dir) / "errors.txt", "w") as f:
        f.write(text + "\n")
    with atomic_write(Path(report_dir) / "errors.json", "w") as f:
        json.dump(errors, f, indent=1, default=str)
    return errors, text


def parity_plots(evaluation: Evaluation, path_prefix: str | Path, dpi: int = 120) -> list[Path]:
    """Write ``{prefix}_energy.png``, ``_forces.png``, ``_stress.png`` (quantities with data
    only): predicted vs reference by config_type, y=x line, MAE/RMSE in the title."""
    m = evaluation.overall
    specs = (("energy", evaluation.energy, "energy (eV/atom)", "meV/atom", "energy"),
             ("forces", evaluation.forces, "force component (eV/Å)", "eV/Å", "force"),
             ("stress", evaluation.stress, "stress component (GPa)", "GPa", "stress"))
    paths = []
    for tag, data, label, unit, field in specs:
        if len(data.frame) == 0:
            continue
        title = (f"{tag}: MAE {getattr(m, field + '_mae'):.4g}, "
                 f"RMSE {getattr(m, field + '_rmse'):.4g} {unit}")
        path = Path(f"{path_prefix}_{tag}.png")
        path.parent.mkdir(parents=True, exist_ok=True)
        parity_figure(data, label, title).savefig(path, dpi=dpi)
        paths.append(path)
    return paths


def parity_figure(data: Parity, label: str, title: str):
    """A matplotlib Figure (Agg canvas, no pyplot) of predicted vs reference, square axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.8, 4.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for kind in sorted(set(data.config_type)):
        part = data.select(kind)
        ax.scatter(part.reference.ravel(), part.predicted.ravel(), s=6, alpha=0.6, label=kind)
    both = np.concatenate([data.reference.ravel(), data.predicted.ravel()])
    lo, hi = float(both.min()), float(both.max())
    lim = (lo - 0.05 * (hi - lo or 1.0), hi + 0.05 * (hi - lo or 1.0))
    ax.plot(lim, lim, "k-", lw=0.8)
    ax.set(xlim=lim, ylim=lim, aspect="equal", xlabel=f"reference {label}",
           ylabel=f"predicted {label}", title=title)
    ax.legend(fontsize="small", markerscale=2)
    fig.tight_layout()
    return fig


def _stack(arrays: list, width: int) -> np.ndarray:
    return np.concatenate(arrays).reshape(-1, width) if arrays else np.zeros((0, width))


def _mae_rmse(err: np.ndarray) -> tuple[float, float]:
    if err.size == 0:
        return math.nan, math.nan
    return float(np.mean(np.abs(err))), float(np.sqrt(np.mean(err ** 2)))


def _cell(x: float, width: int, digits: int) -> str:
    return f"{'-':>{width}}" if math.isnan(x) else f"{x:>{width}.{digits}f}"


def _plain(metrics: dict) -> dict:
    """NaN -> None (the values are Python ints and floats already)."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in metrics.items()}
