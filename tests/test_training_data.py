"""The validation carve every trainer uses (jaxpot.training.splits.split_indices /
validation_carve).

The stratified carve's per-group counts are checked against scikit-learn's
``train_test_split(stratify=...)`` (largest-remainder allocation, as ours), on group sizes
without ties; the unlabelled carve against the plain seeded permutation it always was.  The
"balanced" config_type weights against scikit-learn's ``compute_sample_weight("balanced")``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from jaxpot.training.labels import config_types
from jaxpot.training.splits import split_indices, validation_carve
from jaxpot.training.weights import config_type_loss_weights

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SIZES = {"AIMD-NVT": 171, "Surface": 14, "Elastic": 28, "Vacancy": 17}  # 230 frames


def _labels(seed: int = 0) -> list[str]:
    labels = [k for k, n in SIZES.items() for _ in range(n)]
    return [labels[i] for i in np.random.default_rng(seed).permutation(len(labels))]


def _counts(labels, idx) -> dict[str, int]:
    return {k: sum(labels[i] == k for i in idx) for k in SIZES}


def test_stratified_counts_match_scikit_learn():
    from sklearn.model_selection import train_test_split
    labels = _labels()
    train, val = split_indices(len(labels), 0.1, 0, labels)
    assert len(val) == 23 and len(train) == 207
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(230))
    _, ref = train_test_split(np.arange(230), test_size=23, stratify=labels, random_state=0)
    assert _counts(labels, val) == _counts(labels, ref) == {
        "AIMD-NVT": 17, "Surface": 1, "Elastic": 3, "Vacancy": 2}


def test_stratified_carve_is_seeded_and_varies_with_the_seed():
    labels = _labels()
    a = split_indices(230, 0.1, 3, labels)[1]
    assert np.array_equal(a, split_indices(230, 0.1, 3, labels)[1])
    b = split_indices(230, 0.1, 4, labels)[1]
    assert not np.array_equal(a, b) and _counts(labels, a) == _counts(labels, b)


def test_one_label_or_none_is_the_plain_random_carve():
    order = np.random.default_rng(7).permutation(50)  # the carve before stratification
    want = np.sort(order[:5])
    assert np.array_equal(split_indices(50, 0.1, 7)[1], want)
    assert np.array_equal(split_indices(50, 0.1, 7, ["bulk"] * 50)[1], want)
    assert np.array_equal(split_indices(50, 0.1, 7, [None] * 50)[1], want)


def test_a_single_frame_group_stays_in_training_and_tiny_groups_fall_back():
    labels = ["a"] * 9 + ["b"]
    train, val = split_indices(10, 0.1, 0, labels)
    assert 9 in train and len(val) == 1  # the one "b" frame is never all of its type
    unique = [str(i) for i in range(10)]  # a label per frame: nothing to stratify
    assert np.array_equal(split_indices(10, 0.3, 2, unique)[1], split_indices(10, 0.3, 2)[1])


def test_at_least_one_validation_frame_and_bad_input():
    assert len(split_indices(5, 0.01, 0, ["a", "a", "a", "b", "b"])[1]) == 1
    assert len(split_indices(5, 0.0, 0, ["a", "a", "a", "b", "b"])[1]) == 0
    with pytest.raises(ValueError, match="3 group labels for 4 frames"):
        split_indices(4, 0.25, 0, ["a", "b", "a"])
    with pytest.raises(ValueError, match=r"validation fraction must be in \[0, 1\)"):
        split_indices(4, 1.0, 0, None)


def test_validation_carve_reads_config_type():
    frames = [Atoms("Si", info={"config_type": t}) for t in _labels()]
    frames[0].info.pop("config_type")
    labels = config_types(frames)
    assert labels[0] is None and labels[1] == frames[1].info["config_type"]
    assert np.array_equal(validation_carve(frames, 0.1, 0)[1],
                          split_indices(230, 0.1, 0, labels)[1])
    assert np.array_equal(validation_carve(frames, 0.1, 0, stratify=False)[1],
                          split_indices(230, 0.1, 0)[1])


def test_mlearn_ge_validation_holds_every_config_type():
    """mlearn Ge's training split: the random carve (seed 0) held none of its 11 surfaces."""
    from ase.io import read
    frames = [a for a in read(DATA / "mlearn_Ge_PBE.extxyz", ":")
              if a.info["split"] == "training"]
    types = config_types(frames)
    _, random_val = validation_carve(frames, 0.1, 0, stratify=False)
    _, val = validation_carve(frames, 0.1, 0)
    assert "Surface" not in {types[i] for i in random_val}
    assert {types[i] for i in val} == set(types)
    assert len(val) == len(random_val)


def _typed_frames(labels) -> list[Atoms]:
    frames = []
    for label in labels:
        atoms = Atoms("Si")
        if label is not None:
            atoms.info["config_type"] = label
        frames.append(atoms)
    return frames


def test_config_type_loss_weights_balanced_mapping_and_bad_keys():
    """"balanced" equals scikit-learn's compute_sample_weight("balanced") (frames without a
    config_type forming one more class); a mapping's factor multiplies residuals, so the loss
    weight is its square; a key no frame has, or a negative factor, is refused by name."""
    from sklearn.utils.class_weight import compute_sample_weight
    labels = _labels()[:120] + [None] * 5
    frames = _typed_frames(labels)
    want = compute_sample_weight("balanced", ["(none)" if k is None else k for k in labels])
    got = config_type_loss_weights(frames, "balanced")
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert abs(got.mean() - 1.0) < 1e-12
    totals = {k: got[[i for i, x in enumerate(labels) if x == k]].sum() for k in set(labels)}
    np.testing.assert_allclose(list(totals.values()), len(labels) / len(totals), rtol=1e-12)
    mapped = config_type_loss_weights(frames, {"Surface": 2.0, "Elastic": 0.0})
    np.testing.assert_array_equal(mapped, [{"Surface": 4.0, "Elastic": 0.0}.get(k, 1.0)
                                           for k in labels])
    np.testing.assert_array_equal(config_type_loss_weights(frames, None), np.ones(125))
    with pytest.raises(ValueError, match="Surfce"):
        config_type_loss_weights(frames, {"Surfce": 2.0})
    with pytest.raises(ValueError, match="finite and >= 0"):
        config_type_loss_weights(frames, {"Surface": -1.0})
    with pytest.raises(ValueError, match="'balance'"):
        config_type_loss_weights(frames, "balance")
