"""The validation split every trainer carves from its training frames.

    train, val = validation_carve(frames, 0.1, seed=0)      # index arrays, stratified

Seeded, at least one validation frame when there are two or more frames, and stratified by
``config_type`` (each type gives its share, :func:`split_indices`), so that a type with few
frames is neither missing from validation nor all in it.  GAP, the linear fits, the networks,
L-BFGS and the charge models all carve with :func:`validation_carve`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxpot.training.labels import config_types, read_labels_checked


def split_indices(n: int, fraction: float, seed: int, groups: Sequence | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) index arrays: a seeded ``fraction`` held out for validation (at
    least one frame when n > 1).

    groups: a label per frame (its config_type, say).  With two or more distinct labels the
    carve is stratified: each group gives its share of the validation frames (largest
    remainders; a group keeps at least one training frame), so that a type of structure with
    few frames (11 surfaces among 230) is neither missing from validation nor all in it.  With
    one label, or none, or groups too small to fill the carve, it is the plain random carve.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    n_val = round(fraction * n)
    if fraction > 0 and n > 1:
        n_val = max(n_val, 1)
    if groups is not None and len(groups) != n:
        raise ValueError(f"split_indices got {len(groups)} group labels for {n} frames")
    members: dict = {}
    for i, label in enumerate(groups if groups is not None else ()):
        members.setdefault(label, []).append(i)
    takes = _group_quotas([len(m) for m in members.values()], fraction, n_val)
    rng = np.random.default_rng(seed)
    if len(members) < 2 or takes is None:
        order = rng.permutation(n)
        return np.sort(order[n_val:]), np.sort(order[:n_val])
    val = np.concatenate([rng.permutation(np.asarray(m))[:k]
                          for m, k in zip(members.values(), takes)])
    train = np.setdiff1d(np.arange(n), val)
    return train, np.sort(val)


def _group_quotas(sizes: list[int], fraction: float, n_val: int) -> list[int] | None:
    """Validation frames per group: floor(fraction x size), then one more to the groups with
    the largest remainders (earlier groups first on ties) until ``n_val``; a group keeps one
    training frame.  None when the groups cannot hold ``n_val`` that way."""
    caps = [size - 1 for size in sizes]
    if sum(caps) < n_val:
        return None
    shares = [fraction * size for size in sizes]
    takes = [min(int(np.floor(s)), c) for s, c in zip(shares, caps)]
    order = sorted(range(len(sizes)), key=lambda j: (-(shares[j] - takes[j]), j))
    while sum(takes) < n_val:
        for j in order:
            if sum(takes) < n_val and takes[j] < caps[j]:
                takes[j] += 1
    return takes  # the floors never sum above n_val: sum floor(f s) <= floor(f n)


def labelled_splits(frames: Sequence, validation_frames: Sequence | None, settings,
                    names=None, source: str = "frames") -> tuple[list, list, list, list]:
    """(training frames, their labels, validation frames, their labels), labels read with
    file and index in their errors: ``validation_frames`` when given, else the carve of
    ``frames`` that ``settings`` ask for (its ``validation_fraction``, ``seed`` and
    ``stratify_validation``; :func:`validation_carve`)."""
    frames = list(frames)
    labels = read_labels_checked(frames, names, source)
    if validation_frames is not None:
        val_frames = list(validation_frames)
        return frames, labels, val_frames, read_labels_checked(
            val_frames, names, f"{source} (validation)")
    tr, va = validation_carve(frames, settings.validation_fraction, settings.seed,
                              settings.stratify_validation)
    return ([frames[i] for i in tr], [labels[i] for i in tr],
            [frames[i] for i in va], [labels[i] for i in va])


def validation_carve(frames: Sequence, fraction: float, seed: int, stratify: bool = True
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices of ``frames`` as every trainer carves them:
    :func:`split_indices` stratified by config_type (``stratify=False``: the plain random
    carve, every trainer's before 2026-11-29)."""
    return split_indices(len(frames), fraction, seed,
                         config_types(frames) if stratify else None)


