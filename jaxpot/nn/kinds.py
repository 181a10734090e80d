"""The network kinds jaxpot trains: one row per kind, the only list of them.

    kind = NETWORK_KINDS["mace"]
    model = kind.build(["Si"], 5.0, channels=16)     # what ``model = "mace"`` in a config builds
    fresh = kind.from_config(config, seed=3)         # an ensemble member's own initial weights

A row says how a config builds the model (``build``), how an ensemble member gets fresh weights
from its seed (``from_config``), how many epochs of how many structures per step a run trains
when the config does not say (``default_epochs``, ``default_batch_size``: 10-15 minutes for
250 structures of 64 atoms on 2 CPU cores), the loss sigmas of its two stages
(``default_weights``, ``default_stage_two``), and what the training step differentiates
(``fixed_features``: BPNNs train on precomputed features and their Jacobians, the others by
autodiff through the model).  Loading needs none of this: each kind registers its rebuild
with :func:`jaxpot.model.register_model_kind` itself.

An epoch costs about the training set's pairs within the cutoff (message passing on them;
a BPNN's feature Jacobians have one row per pair), so the default epochs are those of a
reference training set (``reference_pairs``: mlearn Si's 214 training structures
have 358,380 ordered pairs within 5 Å); a set with more pairs gets proportionally fewer
(:func:`default_epochs`), so that a default run of larger or denser structures (108-atom
fcc metal cells have 2.6x Si's pairs) costs about the same, and stays reproducible (no
clock involved).  MACE's and BPNN's epoch costs follow the pairs; PaiNN's grow faster
(4.4x for 2.64x the pairs, about pairs^1.5: its forces cost more per neighbour slot in larger
cells, benchmarks/RESULTS.md and HISTORY.md), so its epochs shrink as pairs^-1.7
(``cost_exponent``; the margin covers this VM's noise).  A smaller set gets more epochs, as many as
keep the reference run's optimizer steps (``reference_structures``: the 193 mlearn Si structures
left after the validation carve) within the same pair budget, at most ``max_epoch_factor`` times
the default: 48 of those Si structures get 4x the epochs (benchmarks/HISTORY.md, "Small
training sets").  An explicit ``epochs`` is always kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import NamedTuple

from jaxpot.model import EnergyModel
from jaxpot.nn.bpnn import bpnn, bpnn_from_config
from jaxpot.nn.mace import mace, mace_from_config
from jaxpot.nn.painn import painn, painn_from_config
from jaxpot.training.weights import LossWeights


class NetworkKind(NamedTuple):
    """How jaxpot builds, seeds and trains one kind of network potential."""

    build: Callable[..., EnergyModel]  # (species, cutoff Å, **architecture) -> model
    from_config: Callable[..., EnergyModel]  # (spec config, seed=) -> model, fresh weights
    default_epochs: int
    default_batch_size: int = 4
    fixed_features: bool = False  # train on precomputed features (jaxpot.nn.fixed_features)
    reference_pairs: int | None = None  # default_epochs is for this many pairs (None: any)
    min_epochs: int = 8  # the fewest default epochs a large training set is given
    cost_exponent: float = 1.0  # an epoch costs about pairs ** cost_exponent
    reference_structures: int | None = None  # the reference set's structures (None: no scale-up)
    max_epoch_factor: float = 1.0  # the most default epochs a small set gets, x default_epochs
    default_weights: LossWeights = LossWeights()  # the loss sigmas a config does not set
    default_stage_two: LossWeights | None = None  # stage two's sigmas (None: no stage two)


def default_epochs(kind: NetworkKind, n_pairs: int | None = None,
                   n_structures: int | None = None) -> int:
    """The kind's default epoch count for a training set of ``n_structures`` structures with
    ``n_pairs`` ordered pairs within the cutoff.  The pair budget's factor is (reference_pairs
    / n_pairs) ** cost_exponent: a larger set gets ``default_epochs`` times it (never below
    ``min_epochs``); a smaller one gets more epochs, times the least of it, reference_structures
    / n_structures (the reference run's optimizer steps) and ``max_epoch_factor``."""
    if kind.reference_pairs is None or not n_pairs:
        return kind.default_epochs
    factor = (kind.reference_pairs / n_pairs) ** kind.cost_exponent
    if factor < 1.0:
        return max(min(kind.default_epochs, kind.min_epochs),
                   round(kind.default_epochs * factor))
    if kind.reference_structures is None or not n_structures:
        return kind.default_epochs
    factor = min(factor, kind.reference_structures / n_structures, kind.max_epoch_factor)
    return max(kind.default_epochs, round(kind.default_epochs * factor))


# MACE and PaiNN train on forces first (energy sigma = force sigma, as NequIP's unit weights),
# then on LossWeights() in a stage two (the last quarter): chosen on mlearn Si's validation
# split (benchmarks/HISTORY.md, "Loss weights of the MACE default"); the BPNN keeps
# LossWeights()
FORCES_FIRST = LossWeights(energy=0.05, forces=0.05, stress=0.5)

NETWORK_KINDS: Mapping[str, NetworkKind] = MappingProxyType({
    "bpnn": NetworkKind(bpnn, bpnn_from_config, 1000, fixed_features=True,
                        reference_pairs=360_000),
    "painn": NetworkKind(painn, painn_from_config, 135, default_batch_size=1,
                         reference_pairs=360_000, cost_exponent=1.7,
                         reference_structures=193, max_epoch_factor=8.0,
                         default_weights=FORCES_FIRST, default_stage_two=LossWeights()),
    "mace": NetworkKind(mace, mace_from_config, 32, default_batch_size=1,
                        reference_pairs=360_000, reference_structures=193,
                        max_epoch_factor=8.0, default_weights=FORCES_FIRST,
                        default_stage_two=LossWeights()),
})
