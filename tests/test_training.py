"""The shared fitting layer (:mod:`jaxpot.training`): the families import it and never each
other, and its one checkpoint format refuses what is not its own run."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from jaxpot.training import checkpoint as ckpt

PACKAGE = Path(__file__).resolve().parents[1] / "jaxpot"
FAMILIES = ("gap", "nn", "linear", "charges")
FITTING = FAMILIES + ("training",)


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports (module level or inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_fitting_families_import_training_and_never_each_other(family):
    """gap/, nn/, linear/ and charges/ are siblings: none imports another (the shared
    pieces live in jaxpot.training), and jaxpot.training imports none of them."""
    crossing = []
    for path in sorted((PACKAGE / family).glob("*.py")):
        for module in _imported_modules(path):
            parts = module.split(".")
            if parts[0] == "jaxpot" and len(parts) > 1 and parts[1] in FAMILIES \
                    and parts[1] != family:
                crossing.append(f"{path.name} imports {module}")
    assert not crossing, crossing
    for path in sorted((PACKAGE / "training").glob("*.py")):
        used = {m.split(".")[1] for m in _imported_modules(path)
                if m.startswith("jaxpot.") and len(m.split(".")) > 1}
        assert not used & set(FAMILIES), f"training/{path.name} imports {used & set(FAMILIES)}"


@pytest.mark.parametrize("physics", ("potentials", "electrostatics", "descriptors"))
def test_the_physics_core_does_not_import_the_fitting_layer(physics):
    """Potentials, electrostatics and descriptors sit below the fitting side: none of their
    modules imports jaxpot.training or a fitting family (a re-export loaded on first use by
    name, as electrostatics' fit_charges, is not an import)."""
    found = [f"{path.name} imports {module}"
             for path in sorted((PACKAGE / physics).glob("*.py"))
             for module in _imported_modules(path)
             if module.startswith("jaxpot.") and module.split(".")[1] in FITTING]
    assert not found, found


def test_learning_curves_plot_every_logged_quantity(tmp_path):
    """The metrics log round-trips (a partial last line from a kill is left out) and the
    learning curves draw training and validation of each quantity logged, against the epoch."""
    from jaxpot.training.metrics_log import (
        learning_curve_figure,
        learning_curves,
        metrics_log,
        read_metrics,
    )
    log = metrics_log(str(tmp_path), resumed=False)
    for epoch in range(4):
        log({"epoch": epoch, "train_loss": 1.0 / (epoch + 1), "val_loss": 2.0 / (epoch + 1),
             "train_energy_rmse": 10.0 - epoch, "train_forces_rmse": 0.5 / (epoch + 1)})
    with open(tmp_path / "metrics.jsonl", "a") as fh:
        fh.write('{"epoch": 4, "train_lo')  # killed mid-write
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [0, 1, 2, 3]
    fig = learning_curve_figure(records)
    axes = fig.get_axes()
    assert [ax.get_ylabel() for ax in axes] == ["loss", "energy RMSE (meV/atom)",
                                                "force RMSE (eV/Å)"]
    train, val = axes[0].get_lines()
    assert list(val.get_xdata()) == [0, 1, 2, 3]
    np.testing.assert_allclose(val.get_ydata(), [2.0, 1.0, 2 / 3, 0.5])
    assert len(axes[1].get_lines()) == 1  # no validation energies logged: no line
    assert learning_curves(records, tmp_path / "curves.png").stat().st_size > 0
    assert learning_curves([], tmp_path / "none.png") is None
    metrics_log(str(tmp_path), resumed=True)  # a resumed run cuts the partial line
    assert (tmp_path / "metrics.jsonl").read_text().endswith("}\n")


def _frames():
    atoms = bulk("Si", "diamond", 5.43)
    atoms.info["energy"] = -10.0
    return [atoms]


def test_checkpoint_refuses_another_kind_another_run_and_another_format(tmp_path):
    """One format for every fit: a checkpoint of another kind of run, of other settings or
    labels (named), or a file of another layout is refused with CheckpointError."""
    path = str(tmp_path / "run.npz")
    frames = _frames()
    digest = ckpt.fingerprint(("settings", 1), frames)
    ckpt.save(path, "linear fit", digest, {"done": np.arange(3)}, {"epoch": 2})
    header, arrays = ckpt.load(path, "linear fit", digest)
    assert header == {"epoch": 2} and arrays["done"].tolist() == [0, 1, 2]
    assert ckpt.load(str(tmp_path / "none.npz"), "linear fit", digest) is None
    with pytest.raises(ckpt.CheckpointError, match="a linear fit checkpoint, not a GAP fit"):
        ckpt.load(path, "GAP fit", digest)
    frames[0].info["energy"] = -10.5  # a corrected label
    with pytest.raises(ckpt.CheckpointError, match="the labels differ from the run"):
        ckpt.load(path, "linear fit", ckpt.fingerprint(("settings", 1), frames))
    with pytest.raises(ckpt.CheckpointError, match="the settings differ"):
        ckpt.load(path, "linear fit", ckpt.fingerprint(("settings", 2), _frames()))
    np.savez(tmp_path / "old.npz", digest=np.array(digest), done=np.arange(3))  # old layout
    with pytest.raises(ckpt.CheckpointError, match="unreadable linear fit checkpoint"):
        ckpt.load(str(tmp_path / "old.npz"), "linear fit", digest)


def test_tree_checkpoint_round_trip_and_shape_check(tmp_path):
    """A trainer's state comes back bit for bit in its template's structure and dtypes; a
    template of another shape is refused."""
    path = str(tmp_path / "state.npz")
    state = {"w": np.linspace(0.0, 1.0, 6).reshape(2, 3), "step": np.int32(7)}
    ckpt.save_tree(path, "training run", "fp", state, {"epoch": 1})
    loaded, header = ckpt.load_tree(path, "training run", "fp", state)
    assert header == {"epoch": 1} and loaded["step"].dtype == np.int32
    np.testing.assert_array_equal(loaded["w"], state["w"])
    with pytest.raises(ckpt.CheckpointError, match="does not match this model's shape"):
        ckpt.load_tree(path, "training run", "fp", {"w": np.zeros((3, 3)), "step": 0})


def test_old_import_paths_still_work():
    """jaxpot.training_data and jaxpot.label_checks (documented before the move) hand on the
    names that now live in jaxpot.training; the families' ConfigError is one class."""
    import jaxpot.gap
    import jaxpot.linear.pipeline
    import jaxpot.nn.pipeline
    from jaxpot import label_checks, training_data
    from jaxpot.training import config, labels, splits
    assert training_data.validation_carve is splits.validation_carve
    assert training_data.TrainingDataError is labels.TrainingDataError \
        is jaxpot.gap.TrainingDataError
    assert label_checks.LabelError is labels.LabelError
    import jaxpot.charges
    import jaxpot.electrostatics
    assert jaxpot.electrostatics.fit_charges is jaxpot.charges.fit_charges
    assert jaxpot.gap.ConfigError is jaxpot.nn.pipeline.ConfigError \
        is jaxpot.linear.pipeline.ConfigError is config.ConfigError
