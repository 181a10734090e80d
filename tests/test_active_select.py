"""jaxpot.active.select: greedy D-optimal (log-det) batch selection against brute force with
numpy's slogdet, near-duplicates, the extrapolation grade in closed form, the default max-min
method against a farthest-point reimplementation (scipy's cdist), and ``select`` on the SOAP
features of small Cu cells.

The D-optimal references build A_s = lam I + sum x x^T per species directly and take
differences of ``np.linalg.slogdet``; the pair check enumerates every pair of candidates and
uses the (1 - 1/e) bound of greedy maximisation of a monotone submodular function (log det).
"""

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
from ase.build import bulk
from scipy.spatial.distance import cdist

from jaxpot.active import select as sel

LAM = sel.LAMBDA


def _unit(rng, n, dim):
    x = rng.normal(size=(n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _info(features, numbers, species, dim):
    """A_s for one species by brute force."""
    a = LAM * np.eye(dim)
    for x, z in zip(features, numbers):
        a = a + x[z == species].T @ x[z == species]
    return a


def _logdet(a):
    sign, value = np.linalg.slogdet(a)
    assert sign > 0
    return value


def _brute_gain(group, numbers, pool, pool_numbers, dim):
    """log det(A + sum X^T X over ``group``) - log det(A), summed over species."""
    total = 0.0
    for s in np.unique(np.concatenate(numbers + pool_numbers)):
        a = _info(pool, pool_numbers, s, dim)
        total += _logdet(a + _info(group, numbers, s, dim) - LAM * np.eye(dim)) - _logdet(a)
    return total


def test_gain_is_determinant_lemma_of_brute_force_update():
    rng = np.random.default_rng(0)
    dim = 5
    pool = [rng.normal(size=(6, dim)) for _ in range(3)]
    pool_numbers = [rng.choice([1, 8], 6) for _ in range(3)]
    # 7 H atoms (more than F: the F x F form) and 2 O atoms (fewer: the n x n form)
    x = rng.normal(size=(9, dim))
    z = np.array([1] * 7 + [8] * 2)
    got = sel.greedy_d_optimal([x], [z], pool, pool_numbers, limit=1)
    want = _brute_gain([x], [z], pool, pool_numbers, dim)
    assert got.chosen == (0,) and got.duplicates == ()
    np.testing.assert_allclose(got.novelty[0], want, rtol=1e-10)
    # a species the pool lacks: A = lam I
    z_new = np.array([6] * 9)
    got = sel.greedy_d_optimal([x], [z_new], pool, pool_numbers, limit=1)
    np.testing.assert_allclose(got.novelty[0], _logdet(np.eye(dim) + x.T @ x / LAM), rtol=1e-10)


@pytest.mark.parametrize("seed", range(5))
def test_greedy_first_pick_and_pair_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    dim = 4
    pool = [_unit(rng, 2, dim)]
    pool_numbers = [np.ones(2, int)]
    cands = [_unit(rng, 2, dim) for _ in range(6)]
    numbers = [np.ones(2, int)] * 6
    got = sel.greedy_d_optimal(cands, numbers, pool, pool_numbers, limit=2)
    singles = [_brute_gain([c], [n], pool, pool_numbers, dim) for c, n in zip(cands, numbers)]
    assert got.chosen[0] == int(np.argmax(singles))
    np.testing.assert_allclose(got.novelty[0], max(singles), rtol=1e-10)
    pairs = {p: _brute_gain([cands[i] for i in p], [numbers[i] for i in p], pool,
                            pool_numbers, dim) for p in itertools.combinations(range(6), 2)}
    greedy = pairs[tuple(sorted(got.chosen))]
    # the reported gains add up to the pair's: the second is conditional on the first
    np.testing.assert_allclose(sum(got.novelty), greedy, rtol=1e-10)
    assert greedy >= (1 - 1 / np.e) * max(pairs.values())
    # the second pick is the best conditional on the first
    first = got.chosen[0]
    rest = {i: pairs[tuple(sorted((first, i)))] for i in range(6) if i != first}
    assert got.chosen[1] == max(rest, key=rest.get)


def test_exact_duplicate_of_labelled_structure_is_a_duplicate():
    rng = np.random.default_rng(1)
    dim = 8
    pool = [_unit(rng, 4, dim) for _ in range(3)]
    pool_numbers = [np.array([1, 1, 8, 8])] * 3
    cands = [pool[1].copy(), _unit(rng, 4, dim), _unit(rng, 4, dim)]
    numbers = [np.array([1, 1, 8, 8])] * 3
    got = sel.greedy_d_optimal(cands, numbers, pool, pool_numbers, limit=3, min_novelty=1e-3)
    assert got.duplicates == (0,) and sorted(got.chosen) == [1, 2]
    # without the novelty test the copy still has a gain (about log 2 per direction)
    plain = sel.greedy_d_optimal(cands, numbers, pool, pool_numbers, limit=3)
    assert sorted(plain.chosen) == [0, 1, 2] and plain.duplicates == ()


def test_two_copies_of_a_new_structure_give_one_label():
    rng = np.random.default_rng(2)
    dim = 8
    pool = [_unit(rng, 3, dim)]
    pool_numbers = [np.ones(3, int)]
    new = _unit(rng, 3, dim)
    near = new + 1e-6 * rng.normal(size=new.shape)
    cands = [new, _unit(rng, 3, dim), near]
    numbers = [np.ones(3, int)] * 3
    got = sel.greedy_d_optimal(cands, numbers, pool, pool_numbers, limit=3, min_novelty=1e-3)
    assert 1 in got.chosen and len(got.chosen) == 2
    assert len({0, 2} & set(got.chosen)) == 1 and len({0, 2} & set(got.duplicates)) == 1


def test_min_gain_and_grade_in_closed_form():
    # one unit atom x, k copies in the pool: x^T A^{-1} x = 1 / (lam + k)
    x = np.eye(3)[:1]
    z = np.ones(1, int)
    for k in (1, 4, 100):
        pool, pool_numbers = [x] * k, [z] * k
        grade = sel.extrapolation_grade([x, 2 * x], [z, z], pool, pool_numbers)
        np.testing.assert_allclose(grade, [1 / (LAM + k), 4 / (LAM + k)], rtol=1e-10)
        gain = np.log1p(1 / (LAM + k))
        got = sel.greedy_d_optimal([x], [z], pool, pool_numbers, limit=1)
        np.testing.assert_allclose(got.novelty, [gain], rtol=1e-10)
        got = sel.greedy_d_optimal([x], [z], pool, pool_numbers, limit=1, min_gain=0.1)
        assert (got.chosen, got.duplicates) == (((0,), ()) if gain >= 0.1 else ((), (0,)))
    # a species the pool lacks: |x|^2 / lam
    grade = sel.extrapolation_grade([x], [z + 1], [x], [z])
    np.testing.assert_allclose(grade, [1 / LAM], rtol=1e-10)


def _farthest_point(features, numbers, pool, pool_numbers, limit, min_novelty):
    """Greedy max-min selection, independently: scipy distances, per-atom nearest same-species
    pool atom, updated as structures are chosen."""
    nearest = []
    for x, z in zip(features, numbers):
        d = np.full(len(x), np.inf)
        for p, pz in zip(pool, pool_numbers):
            same = z[:, None] == pz[None, :]
            d = np.minimum(d, np.where(same, cdist(x, p), np.inf).min(axis=1, initial=np.inf))
        nearest.append(d)
    chosen, scores, remaining = [], [], list(range(len(features)))
    while remaining and len(chosen) < limit:
        score = {i: nearest[i].max() for i in remaining}
        best = max(remaining, key=lambda i: (score[i], -i))
        if score[best] < min_novelty:
            return chosen, scores, remaining
        chosen.append(best)
        scores.append(score[best])
        remaining.remove(best)
        for i in remaining:
            same = numbers[i][:, None] == numbers[best][None, :]
            d = np.where(same, cdist(features[i], features[best]), np.inf).min(axis=1)
            nearest[i] = np.minimum(nearest[i], d)
    return chosen, scores, []


def _frames(numbers):
    return [SimpleNamespace(numbers=z) for z in numbers]


@pytest.mark.parametrize("min_novelty", [0.0, 0.6, 1.2])
def test_default_method_is_farthest_point(monkeypatch, min_novelty):
    rng = np.random.default_rng(3)
    dim = 6
    sizes = [3, 4, 2, 5, 3, 4, 2, 3]
    numbers = [rng.choice([1, 8], n) for n in sizes]
    feats = [_unit(rng, n, dim) for n in sizes]
    feats[6] = feats[0].copy()  # a copy of a labelled structure
    numbers[6] = numbers[0]
    monkeypatch.setattr(sel, "atom_features", lambda model, settings, frames: feats)
    labelled, candidates = _frames(numbers[:2]), _frames(numbers[2:])
    got = sel.select(None, {}, candidates, labelled, 5, min_novelty)
    chosen, scores, dups = _farthest_point(feats[2:], numbers[2:], feats[:2], numbers[:2], 5,
                                           min_novelty)
    assert got.chosen == tuple(chosen) and got.duplicates == tuple(dups)
    np.testing.assert_allclose(got.novelty, scores, rtol=1e-7, atol=1e-7)
    if min_novelty == 1.2:
        assert 4 in dups
    dopt = sel.select(None, {}, candidates, labelled, 5, min_novelty, method="dopt")
    assert dopt == sel.greedy_d_optimal(feats[2:], numbers[2:], feats[:2], numbers[:2], 5,
                                        min_novelty=min_novelty)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="'maxmin', 'dopt'.*'kmeans'"):
        sel.select(None, {}, [], [], 3, 1e-3, method="kmeans")


def test_select_on_soap_features_of_cu_cells():
    """Real SOAP features (the distance reference's, through a Lennard-Jones model that only
    sets the cutoff): a labelled cell's copy and a repeated hot cell are near-duplicates."""
    from jaxpot.potentials import lennard_jones
    from jaxpot.uncertainty.distance import descriptor_settings

    def cell(rattle, seed):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 1, 1))
        atoms.rattle(rattle, seed=seed)
        return atoms

    model = lennard_jones(2.3, 0.4, cutoff=4.0)
    settings = descriptor_settings(model, [29], cutoff=4.0, n_max=4, l_max=3)
    labelled = [cell(0.05, k) for k in range(4)]
    hot = [cell(0.15, 10 + k) for k in range(2)]
    candidates = [labelled[2].copy(), hot[0], hot[1], hot[0].copy()]
    got = sel.select(model, settings, candidates, labelled, 4, 1e-3, method="dopt")
    assert sorted(got.chosen) == [1, 2] and got.duplicates == (0, 3)
    assert all(g > 1.0 for g in got.novelty)
    feats = sel.atom_features(model, settings, labelled + hot)
    numbers = [a.numbers for a in labelled + hot]
    grade = sel.extrapolation_grade(feats, numbers, feats[:4], numbers[:4])
    assert np.all(grade[:4] < 1.0) and np.all(grade[4:] > 1.0)
    default = sel.select(model, settings, candidates, labelled, 4, 1e-3)
    assert sorted(default.chosen) == [1, 2] and default.duplicates == (0, 3)
