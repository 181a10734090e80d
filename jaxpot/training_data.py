"""Training data shared by every fitted family (GAP, neural networks, linear models).

One error type, :class:`TrainingDataError`, whose messages name the file and configuration
index; labels read with those errors; and the seeded validation split carved from training data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxpot.evaluation import Labels, label_keys, read_labels


class TrainingDataError(ValueError):
    """A training configuration that cannot be used, with file and index in the message."""


def read_labels_checked(frames: Sequence, names=None, source: Sequence[str] | str = "frames"
                        ) -> list[Labels]:
    """Labels of every frame; errors name the file and configuration index."""
    keys = label_keys(names)
    where = ([f"{source}[{i}]" for i in range(len(frames))] if isinstance(source, str)
             else list(source))
    out = []
    for i, atoms in enumerate(frames):
        try:
            out.append(read_labels(atoms, keys, where[i]))
        except ValueError as err:
            raise TrainingDataError(str(err)) from None
    return out


def split_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) index arrays: a seeded random ``fraction`` held out for validation
    (at least one frame when n > 1)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = round(fraction * n)
    if fraction > 0 and n > 1:
        n_val = max(n_val, 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])
