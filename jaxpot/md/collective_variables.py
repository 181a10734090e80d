"""Collective variables (CVs): differentiable JAX functions ``cv(positions, cell) -> scalar``.

    from jaxpot.md import collective_variables as cv
    d = cv.distance(0, 1)                    # Å, minimum image
    a = cv.angle(0, 1, 2)                    # radians, vertex atom 1
    n = cv.coordination(0, [1, 2, 3], r0=2.5)  # PLUMED's rational switching function
    x = cv.position(0, 0)                    # Å, a coordinate (one-particle model potentials)
    mine = cv.collective_variable(lambda r, c: r[1, 2] - r[0, 2], name="dz")

Positions (N, 3) Å and cell (3, 3) Å rows, as in :class:`~jaxpot.md.state.MDState`.  Every CV
is a :class:`CollectiveVariable`: callable, named, and hashable (built-ins compare by their
kind and arguments, user functions by identity), so it can sit in an integrator's static
options; its ``repr`` is its name, stable across processes (checkpoints compare it).
Derivatives with respect to positions and cell come from autodiff (:mod:`.metadynamics`
turns them into bias forces and bias stress).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import jax.numpy as jnp
import numpy as np

from jaxpot.types import Array


@dataclasses.dataclass(frozen=True, eq=False)
class CollectiveVariable:
    """A named CV: ``fn(positions (N,3) Å, cell (3,3) Å) -> scalar`` (units of the CV).

    ``key`` identifies a built-in (kind and arguments), so two equal built-ins share compiled
    code; a user function (``key=()``) is compared by identity.
    """

    fn: Callable[[Array, Array], Array]
    name: str
    key: tuple = ()

    def __call__(self, positions: Array, cell: Array) -> Array:
        return jnp.asarray(self.fn(positions, cell))

    def _identity(self) -> tuple:
        return self.key if self.key else ("function", self.fn, self.name)

    def __eq__(self, other) -> bool:
        return isinstance(other, CollectiveVariable) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        return f"CV({self.name})"


def function_name(fn: Callable) -> str:
    """``module.qualname`` of a function (stable across processes, unlike its repr)."""
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


def collective_variable(fn: Callable[[Array, Array], Array] | CollectiveVariable,
                        name: str | None = None) -> CollectiveVariable:
    """Any JAX function ``fn(positions, cell) -> scalar`` as a CV (named ``name`` or after
    the function); a CV is returned as it is."""
    if isinstance(fn, CollectiveVariable):
        return fn if name is None else dataclasses.replace(fn, name=name)
    if not callable(fn):
        raise TypeError(f"a collective variable must be a function (positions, cell) -> "
                        f"scalar, got {type(fn).__name__}")
    return CollectiveVariable(fn=fn, name=name or function_name(fn))


def cv_values(cvs: Sequence[CollectiveVariable], positions: Array, cell: Array) -> Array:
    """The values (d,) of ``cvs`` at ``positions``, ``cell`` (each must be a scalar)."""
    return jnp.stack([jnp.reshape(jnp.asarray(cv(positions, cell), positions.dtype), ())
                      for cv in cvs])


def minimum_image(vector: Array, cell: Array) -> Array:
    """The shortest periodic image of ``vector`` (..., 3) Å in a periodic ``cell`` (3, 3)
    (fractional components wrapped to [-1/2, 1/2); exact for cells not too skewed)."""
    frac = jnp.linalg.solve(cell.T, vector.T).T
    frac = frac - jnp.round(frac)
    return frac @ cell


def _vector(positions: Array, cell: Array, i: int, j: int, periodic: bool) -> Array:
    d = positions[j] - positions[i]
    return minimum_image(d, cell) if periodic else d


def _norm(v: Array) -> Array:
    """|v|, with a finite gradient at v = 0."""
    sq = jnp.sum(v * v, axis=-1)
    safe = jnp.where(sq > 0, sq, 1.0)
    return jnp.where(sq > 0, jnp.sqrt(safe), 0.0)


def _index(value, name: str) -> int:
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise ValueError(f"{name} must be an atom index (integer >= 0), got {value!r}")
    return int(value)


def distance(i: int, j: int, periodic: bool = True) -> CollectiveVariable:
    """|r_j - r_i| in Å, the minimum image in the cell (``periodic=False``: the plain
    difference, for open boundaries or a singular cell)."""
    i, j = _index(i, "i"), _index(j, "j")

    def fn(positions, cell):
        return _norm(_vector(positions, cell, i, j, periodic))

    return CollectiveVariable(fn, f"distance({i}, {j})", ("distance", i, j, periodic))


def angle(i: int, j: int, k: int, periodic: bool = True) -> CollectiveVariable:
    """The angle i-j-k at vertex ``j`` in radians (between r_i - r_j and r_k - r_j, minimum
    images), by ``atan2(|a x b|, a . b)`` (accurate at all angles)."""
    i, j, k = _index(i, "i"), _index(j, "j"), _index(k, "k")

    def fn(positions, cell):
        a = _vector(positions, cell, j, i, periodic)
        b = _vector(positions, cell, j, k, periodic)
        return jnp.arctan2(_norm(jnp.cross(a, b)), jnp.dot(a, b))

    return CollectiveVariable(fn, f"angle({i}, {j}, {k})", ("angle", i, j, k, periodic))


def switching(r: Array, r0: float, n: int = 6, m: int = 12) -> Array:
    """PLUMED's rational switching function ``(1 - (r/r0)^n) / (1 - (r/r0)^m)`` (n/m at
    r = r0, where a first-order expansion replaces the 0/0; smooth everywhere)."""
    x = r / r0
    near = jnp.abs(x - 1.0) < 1e-6
    xs = jnp.where(near, 2.0, x)
    ratio = (1.0 - xs ** n) / (1.0 - xs ** m)
    expansion = n / m + n * (n - m) / (2.0 * m) * (x - 1.0)
    return jnp.where(near, expansion, ratio)


def coordination(i: int, group: Sequence[int], r0: float, n: int = 6, m: int = 12,
                 periodic: bool = True) -> CollectiveVariable:
    """Coordination number of atom ``i`` with the atoms of ``group`` (itself excluded):
    ``sum_j s(|r_j - r_i|)`` with PLUMED's rational switching function :func:`switching`
    (``r0`` Å, exponents ``n`` < ``m``); minimum images."""
    i = _index(i, "i")
    members = tuple(_index(g, "group member") for g in group if int(g) != i)
    if not members:
        raise ValueError("coordination needs a group with at least one atom besides i")
    if not (r0 > 0 and n > 0 and m > n):
        raise ValueError(f"coordination needs r0 > 0 Å and 0 < n < m, got r0={r0}, n={n}, "
                         f"m={m}")
    idx = np.asarray(members)

    def fn(positions, cell):
        d = positions[idx] - positions[i]
        if periodic:
            d = minimum_image(d, cell)
        return jnp.sum(switching(_norm(d), r0, n, m))

    return CollectiveVariable(fn, f"coordination({i}, {list(members)}, r0={r0:g}, n={n}, m={m})",
                              ("coordination", i, members, float(r0), int(n), int(m), periodic))


def position(i: int, axis: int) -> CollectiveVariable:
    """Coordinate ``axis`` (0, 1, 2 = x, y, z) of atom ``i`` in Å (unwrapped)."""
    i = _index(i, "i")
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2 (x, y, z), got {axis!r}")

    def fn(positions, cell):
        return positions[i, axis]

    return CollectiveVariable(fn, f"position({i}, {'xyz'[axis]})", ("position", i, axis))
