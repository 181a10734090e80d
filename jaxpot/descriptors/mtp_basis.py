"""The basis of a moment tensor potential (MTP) up to a level, as contraction multigraphs.

Shapeev's moment tensors of atom i (Multiscale Model. Simul. 14, 1153 (2016)) are

    M_{mu,nu}(i) = sum_j f_mu(r_ij, z_i, z_j) rhat_ij (x) ... (x) rhat_ij     (nu factors)

(unit vectors, as mlip-2), of level lev M_{mu,nu} = 2 + 4 mu + nu.  A basis function B_alpha is
a product of moment tensors fully contracted to a scalar; its level is the sum of its factors'
levels, and an MTP of level L uses every such B_alpha with level <= L (Novikov et al., Mach.
Learn.: Sci. Technol. 2, 025002 (2021)).

A contraction is a multigraph: one node per factor (carrying mu), an edge of multiplicity m
between two nodes when they share m indices, so nu of a node is its degree (no self-loops: a
trace of rhat (x) rhat is 1 and would repeat a lower tensor).  Here the connected contractions
are enumerated up to isomorphism (canonical form: the least relabelling), and the basis is every
multiset of connected ones within the level (products of scalars included, as mlip-2).

:func:`alpha_arrays` writes a basis in mlip-2's scalar form, which is also how jaxpot evaluates
it (:mod:`jaxpot.descriptors.moment_tensors`): the "basic" moments are the monomial components
(mu, a, b, c) = sum_j f_mu x^a y^b z^c of the moment tensors (a + b + c = nu), and each entry
(i, j, m, k) of ``times`` adds m * moment_i * moment_j to moment k.  A contraction of K tensors
is the sum, over the 3^E assignments of its E shared indices, of products of K monomial
components, grouped by product and chained two factors at a time through intermediate moments
(prefix products shared); a basis function is the product of its contractions.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import Counter
from typing import NamedTuple

import numpy as np


class Contraction(NamedTuple):
    """A connected contraction: node labels mu (K,) and edges (k, l, multiplicity), k < l."""

    mus: tuple[int, ...]
    edges: tuple[tuple[int, int, int], ...]

    @property
    def nus(self) -> tuple[int, ...]:
        """Rank of each node's tensor (its degree)."""
        deg = [0] * len(self.mus)
        for k, l, m in self.edges:
            deg[k] += m
            deg[l] += m
        return tuple(deg)

    @property
    def level(self) -> int:
        return sum(2 + 4 * mu + nu for mu, nu in zip(self.mus, self.nus))


class MTPBasis(NamedTuple):
    """Basis functions of level <= ``level``: ``functions`` are tuples of indices into
    ``contractions`` (a product of those connected contractions)."""

    level: int
    contractions: tuple[Contraction, ...]
    functions: tuple[tuple[int, ...], ...]

    @property
    def n_functions(self) -> int:
        return len(self.functions)

    @property
    def n_radial(self) -> int:
        """Radial functions needed: max mu + 1."""
        return 1 + max((mu for c in self.contractions for mu in c.mus), default=0)

    @property
    def moments(self) -> tuple[tuple[int, int], ...]:
        """The distinct moment tensors (mu, nu) the contractions use, sorted."""
        return tuple(sorted({(mu, nu) for c in self.contractions
                             for mu, nu in zip(c.mus, c.nus)}))


def _pairs(k: int) -> list[tuple[int, int]]:
    return [(a, b) for a in range(k) for b in range(a + 1, k)]


def _connected(k: int, multiplicities, pairs) -> bool:
    seen, stack = {0}, [0]
    adjacency = {a: set() for a in range(k)}
    for (a, b), m in zip(pairs, multiplicities):
        if m:
            adjacency[a].add(b)
            adjacency[b].add(a)
    while stack:
        for b in adjacency[stack.pop()] - seen:
            seen.add(b)
            stack.append(b)
    return len(seen) == k


@functools.lru_cache(maxsize=16)
def _relabellings(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every relabelling of k nodes: ``(nodes (k!, k), pairs (k!, P))``, row r taking node a
    to ``nodes[r, a]`` and pair p = (a, b) of :func:`_pairs` to pair ``pairs[r, p]`` =
    (nodes[r, a], nodes[r, b]) sorted."""
    index = {pair: p for p, pair in enumerate(_pairs(k))}
    perms = list(itertools.permutations(range(k)))
    pairs = [[index[tuple(sorted((perm[a], perm[b])))] for a, b in _pairs(k)] for perm in perms]
    return np.asarray(perms, np.int64).reshape(len(perms), k), np.asarray(pairs, np.int64)


def _canonical(mus, multiplicities, k: int) -> tuple:
    """Least (mus, multiplicities) over all relabellings of the nodes (all k! at once: the
    level-24 basis took 2 minutes with a Python loop over them)."""
    nodes, relabelled = _relabellings(k)
    keys = np.concatenate([np.asarray(mus, np.int64)[nodes],
                           np.asarray(multiplicities, np.int64).reshape(-1)[relabelled]], 1)
    rows = np.arange(len(keys))
    for column in keys.T:  # lexicographic minimum: keep the rows least in each column
        rows = rows[column[rows] == column[rows].min()]
        if len(rows) == 1:
            break
    return tuple(keys[rows[0], :k].tolist()), tuple(keys[rows[0], k:].tolist())


def _compositions(total_max: int, parts: int):
    """Every tuple of ``parts`` non-negative integers with sum <= total_max."""
    if parts == 0:
        yield ()
        return
    for first in range(total_max + 1):
        for rest in _compositions(total_max - first, parts - 1):
            yield (first,) + rest


@functools.lru_cache(maxsize=16)
def connected_contractions(level: int) -> tuple[Contraction, ...]:
    """All connected contractions of level <= ``level``, sorted by (level, K, labels)."""
    found = {}
    for mu in range((level - 2) // 4 + 1):  # single scalar moments M_{mu,0}
        found[((mu,), ())] = Contraction((mu,), ())
    k = 2
    while 2 * k + 2 * (k - 1) <= level:  # K nodes need >= K-1 edges, each 2 levels
        pairs = _pairs(k)
        for mult in _compositions((level - 2 * k) // 2, len(pairs)):
            if sum(mult) < k - 1 or not _connected(k, mult, pairs):
                continue
            spare = (level - 2 * k - 2 * sum(mult)) // 4
            for mus in _compositions(spare, k):
                key = _canonical(mus, mult, k)
                if key not in found:
                    edges = tuple((a, b, m) for (a, b), m in zip(pairs, key[1]) if m)
                    found[key] = Contraction(key[0], edges)
        k += 1
    return tuple(sorted(found.values(), key=lambda c: (c.level, len(c.mus), c.mus, c.edges)))


@functools.lru_cache(maxsize=16)
def mtp_basis(level: int) -> MTPBasis:
    """The MTP basis of a level (>= 2): every product of connected contractions within it."""
    if not isinstance(level, int) or level < 2:
        raise ValueError(f"MTP level must be an integer >= 2, got {level!r}")
    contractions = connected_contractions(level)
    levels = [c.level for c in contractions]
    functions = []

    def extend(prefix: tuple[int, ...], start: int, used: int):
        for i in range(start, len(contractions)):
            if used + levels[i] <= level:
                product = prefix + (i,)
                functions.append(product)
                extend(product, i, used + levels[i])

    extend((), 0, 0)
    functions.sort(key=lambda f: (sum(levels[i] for i in f), len(f), f))
    used = sorted({i for f in functions for i in f})
    if used != list(range(len(contractions))):
        raise AssertionError("every connected contraction is a basis function itself")
    return MTPBasis(level, contractions, tuple(functions))


@functools.lru_cache(maxsize=32)
def monomials(nu: int) -> tuple[tuple[int, int, int], ...]:
    """Exponents (a, b, c), a + b + c = nu, of the monomials of degree nu (mlip-2's order)."""
    return tuple((a, b, nu - a - b) for a in range(nu, -1, -1) for b in range(nu - a, -1, -1))


def multinomial(a: int, b: int, c: int) -> int:
    """Number of Cartesian index tuples with a x's, b y's and c z's."""
    return math.factorial(a + b + c) // (math.factorial(a) * math.factorial(b)
                                         * math.factorial(c))


def edge_letters(contraction: Contraction) -> list[str]:
    """Einsum-style subscripts of each node (one letter per shared index)."""
    letters = iter("abcdefghijklmopqrstuvwxyz")
    subs = [""] * len(contraction.mus)
    for k, l, m in contraction.edges:
        for _ in range(m):
            ch = next(letters)
            subs[k] += ch
            subs[l] += ch
    return subs


class AlphaArrays(NamedTuple):
    """mlip-2's alpha arrays: basic (n_basic, 4) [mu, a, b, c], times (n_times, 4)
    [i, j, multiplicity, k], mapping (F,) (the basis functions), and the number of moments."""

    basic: np.ndarray
    times: np.ndarray
    mapping: np.ndarray
    n_moments: int


def _contraction_terms(con: Contraction, basic_slot: dict) -> Counter:
    """{sorted basic slots: multiplicity} whose sum of products is the contraction."""
    subs = edge_letters(con)
    if len(con.mus) == 2:  # a full contraction of two tensors: multinomial-weighted dot
        nu = con.nus[0]
        return Counter({tuple(sorted((basic_slot[(con.mus[0], *e)], basic_slot[(con.mus[1], *e)]
                                      ))): multinomial(*e) for e in monomials(nu)})
    letters = sorted(set("".join(subs)))
    terms: Counter = Counter()
    for values in itertools.product(range(3), repeat=len(letters)):
        assign = dict(zip(letters, values))
        factors = []
        for mu, sub in zip(con.mus, subs):
            counts = [0, 0, 0]
            for ch in sub:
                counts[assign[ch]] += 1
            factors.append(basic_slot[(mu, *counts)])
        terms[tuple(sorted(factors))] += 1
    return terms


@functools.lru_cache(maxsize=16)
def alpha_arrays(basis: MTPBasis) -> AlphaArrays:
    """The basis in mlip-2's alpha-moment form (see the module docstring)."""
    basic_slot: dict[tuple[int, int, int, int], int] = {}
    for mu, nu in basis.moments:
        for e in monomials(nu):
            basic_slot[(mu, *e)] = len(basic_slot)
    count = [len(basic_slot)]
    times: list[tuple[int, int, int, int]] = []
    product_slot: dict[tuple[int, ...], int] = {}

    def new_slot() -> int:
        count[0] += 1
        return count[0] - 1

    def chained(factors: tuple[int, ...]) -> int:
        """Slot holding the product of ``factors`` (memoised prefix products)."""
        if len(factors) == 1:
            return factors[0]
        if factors not in product_slot:
            left = chained(factors[:-1])
            slot = new_slot()
            times.append((left, factors[-1], 1, slot))
            product_slot[factors] = slot
        return product_slot[factors]

    def sum_of_products(terms: Counter) -> int:
        target = new_slot()
        for factors, mult in sorted(terms.items()):
            times.append((chained(factors[:-1]), factors[-1], int(mult), target))
        return target

    contraction_slot = [basic_slot[(con.mus[0], 0, 0, 0)] if len(con.mus) == 1
                        else sum_of_products(_contraction_terms(con, basic_slot))
                        for con in basis.contractions]
    mapping = []
    for function in basis.functions:
        slots = tuple(sorted(contraction_slot[i] for i in function))
        mapping.append(slots[0] if len(slots) == 1 else sum_of_products(Counter({slots: 1})))
    basic = np.array([key for key, _ in sorted(basic_slot.items(), key=lambda kv: kv[1])], int)
    return AlphaArrays(basic.reshape(-1, 4), np.array(times, int).reshape(-1, 4),
                       np.array(mapping, int), count[0])
