"""Issue 71's domain check on real data, small (benchmarks/uq_domain.py is the full one).

A distance reference (any model: Stillinger-Weber's energies, labels from mlearn Si PBE) and
a small GAP's posterior, both from a few bulk-crystal frames of mlearn Si's training split,
calibrated on a few others, must tell held-out bulk frames (the paper's test split) from
surfaces, which they never saw: AUROC >= 0.9 of the per-structure ``uq.domain`` scores.

The bulk frames are the solid ones (Elastic and the AIMD-NVT runs at 300, 843 and 1518 K;
silicon melts at 1687 K): a handful of frames cannot cover the liquid runs' environments,
which the full benchmark trains on.

Reference: the AUROC by the rank formula (:func:`auroc`) = the Mann-Whitney U statistic of
the outside scores over the inside ones divided by n_out n_in
(``scipy.stats.mannwhitneyu(outside, inside).statistic``).
"""

from __future__ import annotations

import re
from pathlib import Path

import jax
import numpy as np
import pytest
from ase.io import read
from scipy.stats import mannwhitneyu

from jaxpot import gap
from jaxpot import uncertainty as uq
from jaxpot.potentials import stillinger_weber
from jaxpot.uncertainty.metrics import rankdata

jax.config.update("jax_enable_x64", True)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SOLID = ("Elastic", "300", "843", "1518")  # config_type Elastic, AIMD-NVT temperatures (K)


def auroc(inside, outside) -> float:
    """Area under the ROC curve of scores meant to be larger outside, by the rank formula
    (R_out - n_out (n_out + 1) / 2) / (n_out n_in), ties at their average rank."""
    a, b = np.asarray(inside, float), np.asarray(outside, float)
    ranks = rankdata(np.concatenate([a, b]))
    return float((ranks[len(a):].sum() - len(b) * (len(b) + 1) / 2) / (len(a) * len(b)))


def _group(atoms) -> str:
    found = re.search(r"at (\d+) K", atoms.info.get("description", ""))
    return found.group(1) if found else atoms.info["config_type"]


@pytest.fixture(scope="module")
def si_sets():
    """(training, validation, held-out bulk, surfaces): two training and two validation
    frames of each solid bulk group (seeded), the solid bulk test frames, every surface."""
    frames = read(DATA / "mlearn_Si_PBE.extxyz", ":")
    bulk = [a for a in frames
            if a.info["config_type"] in ("Elastic", "AIMD-NVT") and _group(a) in SOLID]
    groups: dict = {}
    for a in bulk:
        if a.info["split"] == "training":
            groups.setdefault(_group(a), []).append(a)
    rng = np.random.default_rng(0)
    picks = {k: [g[i] for i in rng.permutation(len(g))[:4]] for k, g in groups.items()}
    train = [a for p in picks.values() for a in p[:2]]
    val = [a for p in picks.values() for a in p[2:]]
    test = [a for a in bulk if a.info["split"] == "test"]
    surfaces = [a for a in frames if a.info["config_type"] == "Surface"]
    return train, val, test, surfaces


def test_rank_formula_auroc_is_the_mann_whitney_u():
    """With ties, unequal sizes and perfect separation."""
    rng = np.random.default_rng(1)
    inside, outside = rng.integers(0, 6, 40), rng.integers(2, 9, 25)  # many ties
    u = mannwhitneyu(outside, inside).statistic
    assert auroc(inside, outside) == pytest.approx(u / (40 * 25), rel=1e-14)
    assert auroc([0.1, 0.2], [0.3, 0.5, 0.4]) == 1.0
    assert auroc([0.3, 0.5], [0.1, 0.2]) == 0.0


@pytest.mark.parametrize("method", ["distance", "gap_posterior"])
def test_domain_scores_tell_surfaces_from_held_out_bulk(si_sets, method):
    """AUROC >= 0.9 (= scipy's Mann-Whitney U / n_out n_in), and the calibrated threshold
    keeps most held-out bulk frames inside and most surfaces outside."""
    train, val, test, surfaces = si_sets
    if method == "distance":
        model = uq.calibrate(stillinger_weber(), val, training=train)
    else:
        settings = gap.GapSettings(
            soap=gap.SoapSettings(cutoff=4.0, n_max=3, l_max=3, zeta=4, n_sparse=25,
                                  delta=0.5),
            e0=-0.79, default_sigma=(0.005, 0.1, 0.05, 0.0), fit_virials=False,
            sparse_jitter=1e-4, distance_2b=None)
        fit = gap.fit(train, settings, progress=False)
        model = uq.calibrate(fit.gap, val, posterior=fit.posterior)
    d = uq.domain(model, test + surfaces)
    inside, outside = d.scores[:len(test)], d.scores[len(test):]
    u = mannwhitneyu(outside, inside).statistic
    assert auroc(inside, outside) == pytest.approx(u / (len(inside) * len(outside)),
                                                   rel=1e-14)
    assert auroc(inside, outside) >= 0.9
    assert d.inside[:len(test)].mean() >= 0.75 and d.inside[len(test):].mean() <= 0.25
