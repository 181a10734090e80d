"""xi . B(i) of an MTP from its radial functions and unit vectors, run on the host by numba
on a CPU backend.

XLA runs the moment program (:func:`jaxpot.descriptors.moment_tensors.run_waves`) as one
gather, multiply and scatter-add of (entries, N) arrays per wave: every wave streams the whole
(n_moments, N) array through memory, and reverse mode does it twice more.  At level 22
(54,689 entries, 13,837 moments) on 512 Si atoms that is 125 ms forward and 519 ms forward +
reverse on two cores, and the 421 basic moments (one product and slot sum each) add ~90 ms
and most of the compile time.  The kernel here takes each atom's basic moments
sum_k f_mu(r_k) x^a y^b z^c as dot products over the slots (the monomials built by recursion,
one slot-long vector each), runs the products for 8 atoms at a time in the order of
:mod:`jaxpot.descriptors.moment_layout` (depth first, each moment written once), then the
adjoint of both in reverse order.  Energy + forces + stress of that system with a 1 Å skin:
620 ms in XLA, 73 ms with the first host kernel, 35 ms now (level 24: 188 -> 54-72 ms; MD
figures in benchmarks/RESULTS.md and HISTORY.md).

The product loops take one entry at a time, its 8 lanes as one vector operation
(:mod:`jaxpot.descriptors.lane_ops`: as loops over the lanes they stayed scalar, numba gives
LLVM no aliasing facts); that made them ~2x faster (level 24, 512 Si atoms, 58 slots,
interleaved on a loaded 2-core EPYC with AVX2: energy 2.1x, energy + gradient 1.8-2.1x;
level 22 1.8x and 1.5x).  Before that, fewer instructions per entry had helped: flat moment
arrays indexed by unsigned offsets (no wraparound or stride arithmetic), and the per-atom
parts as loops over one-dimensional slot vectors instead of BLAS calls on small matrices
(energy 1.6x, energy + gradient 1.2x at level 24).  16 lanes, and m and its adjoint
interleaved in one array, were slower at level 24.

Derivatives stay exact under every transform.  :func:`moment_site_sums` is a ``custom_jvp``:
its tangent along (f, x, y, z) is <g, d(f, x, y, z)> with g their gradient from the same
kernel call; g is itself a ``custom_jvp`` whose derivatives (Hessians, training through
forces) come from XLA's program, as do derivatives along xi (the features B).  On other
backends everything runs in XLA (chosen at trace time by ``jax.default_backend()``, as the
neighbor lists choose their method): a callback is a round trip to the host there.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from jaxpot.descriptors.lane_ops import LANES, row_adjoint, row_product
from jaxpot.descriptors.moment_layout import moment_layout
from jaxpot.descriptors.moment_tensors import AlphaProgram, alpha_features
from jaxpot.neighbors.host_workers import compile_kernel, run_in_blocks

#: LLVM may reorder and fuse the kernel's sums (which vectorises the sums over slots),
#: keeping NaN and infinity semantics (no nnan / ninf)
FAST_MATH = {"reassoc", "contract", "nsz", "arcp"}


@functools.partial(compile_kernel, inline="always")
def _aligned(buffer, size):  # pragma: no cover - numba
    """The first ``size`` elements of ``buffer`` (at least 64 bytes longer) that start on a
    64-byte boundary."""
    shift = (-buffer.ctypes.data % 64) // buffer.itemsize
    return buffer[shift:shift + size]


@functools.partial(compile_kernel, fastmath=FAST_MATH, inline="always")
def _slot_parts(a, f, x, y, z, parent, axis, ft, u, p):  # pragma: no cover - numba
    """Atom a's slots as rows over the slots: radial functions ft (n_mu, K), unit vectors
    u (3, K) and monomials p (R, K) (p[r] = p[parent[r]] u[axis[r]]; p[0] = 1 is kept)."""
    for k in range(f.shape[1]):
        u[0, k], u[1, k], u[2, k] = x[a, k], y[a, k], z[a, k]
        for mu in range(f.shape[2]):
            ft[mu, k] = f[a, k, mu]
    for r in range(1, parent.shape[0]):
        below, component, out = p[parent[r]], u[axis[r]], p[r]
        for k in range(f.shape[1]):
            out[k] = below[k] * component[k]


def _site_sums_kernel(f, x, y, z, weights, parent, axis, basic_mu, basic_mono, start, left,
                      right, coef, mapping, lo, hi, sums, df, dx, dy, dz,
                      with_gradient):  # pragma: no cover - compiled by numba
    """sums[a] = weights . m[mapping] for atoms lo <= a < hi, m the moments of atom a: the basic
    ones sum_k f[a, k, mu] x^a y^b z^c (monomial r = monomial parent[r] times component
    axis[r]; basic q = (basic_mu[q], basic_mono[q])), then moment n_basic + s = sum of
    coef[t] m[left[t]] m[right[t]] over start[s] <= t < start[s + 1] (a
    :class:`~jaxpot.descriptors.moment_layout.MomentLayout`, left and right as LANES times
    the moments' numbers, uint32).  With ``with_gradient``, df, dx, dy, dz = d sums[a] /
    d (f, x, y, z)[a]."""
    n_mono, n_basic, n_k, n_mu = parent.shape[0], basic_mu.shape[0], f.shape[1], f.shape[2]
    n_moments = n_basic + start.shape[0] - 1
    # moment q of lane b at m[LANES q + b] (left, right: LANES times the moments' numbers,
    # unsigned, so that indexing needs no wraparound), rows on 64-byte boundaries
    size, slack = n_moments * LANES, 64 // f.itemsize
    m = _aligned(np.empty(size + slack, f.dtype), size)
    d = _aligned(np.empty(size + slack, f.dtype), size)
    p = np.ones((n_mono, n_k), f.dtype)  # the monomials of each slot
    dp = np.zeros((n_mono, n_k), f.dtype)
    u = np.zeros((3, n_k), f.dtype)
    du = np.zeros((3, n_k), f.dtype)
    ft = np.zeros((n_mu, n_k), f.dtype)
    dft = np.zeros((n_mu, n_k), f.dtype)
    for a0 in range(lo, hi, LANES):
        count = min(LANES, hi - a0)
        m[:n_basic * LANES] = 0.0
        for b in range(count):
            a = a0 + b
            _slot_parts(a, f, x, y, z, parent, axis, ft, u, p)
            for q in range(n_basic):
                radial, mono, total = ft[basic_mu[q]], p[basic_mono[q]], 0.0
                for k in range(n_k):
                    total += radial[k] * mono[k]
                m[q * LANES + b] = total
        out = n_basic * LANES
        for s in range(n_moments - n_basic):
            t = start[s]
            row_product(m, out, left[t], right[t], coef[t], False)
            for t in range(start[s] + 1, start[s + 1]):
                row_product(m, out, left[t], right[t], coef[t], True)
            out += LANES
        for b in range(count):
            sums[a0 + b] = 0.0
            for q in range(mapping.shape[0]):
                sums[a0 + b] += weights[q] * m[mapping[q] * LANES + b]
        if not with_gradient:
            continue
        d[:] = 0.0
        for q in range(mapping.shape[0]):
            for b in range(LANES):
                d[mapping[q] * LANES + b] += weights[q]
        for s in range(n_moments - n_basic - 1, -1, -1):
            out = (n_basic + s) * LANES
            for t in range(start[s], start[s + 1]):
                row_adjoint(d, m, out, left[t], right[t], coef[t])
        for b in range(count):
            a = a0 + b
            _slot_parts(a, f, x, y, z, parent, axis, ft, u, p)
            dp[:] = 0.0
            dft[:] = 0.0
            du[:] = 0.0
            for q in range(n_basic):
                g, mu, r = d[q * LANES + b], basic_mu[q], basic_mono[q]
                dradial, dmono, radial, mono = dft[mu], dp[r], ft[mu], p[r]
                for k in range(n_k):
                    dradial[k] += g * mono[k]
                    dmono[k] += g * radial[k]
            for r in range(n_mono - 1, 0, -1):
                dmono, dbelow, below = dp[r], dp[parent[r]], p[parent[r]]
                dcomponent, component = du[axis[r]], u[axis[r]]
                for k in range(n_k):
                    dcomponent[k] += dmono[k] * below[k]
                    dbelow[k] += dmono[k] * component[k]
            for k in range(n_k):
                dx[a, k], dy[a, k], dz[a, k] = du[0, k], du[1, k], du[2, k]
                for mu in range(n_mu):
                    df[a, k, mu] = dft[mu, k]


@functools.cache
def _kernel():
    return compile_kernel(_site_sums_kernel, fastmath=FAST_MATH)


def monomial_table(basic: np.ndarray):
    """Monomials x^a y^b z^c of the basic moments (mu, a, b, c) and the ones they are built
    from, by degree: ``(parent (R,), axis (R,), basic_mono (n_basic,))``, monomial 0 = 1 and
    monomial r = monomial parent[r] times component axis[r]."""
    order = {(0, 0, 0): 0}
    parent, axis = [0], [0]

    def index(mono):
        if mono not in order:
            ax = next(d for d in range(3) if mono[d])
            below = index(tuple(e - (d == ax) for d, e in enumerate(mono)))
            order[mono] = len(parent)
            parent.append(below)
            axis.append(ax)
        return order[mono]
    mono_of = [index(tuple(int(e) for e in row[1:])) for row in basic]
    return (np.asarray(parent, np.int64), np.asarray(axis, np.int64),
            np.asarray(mono_of, np.int64))


class HostProgram:
    """An :class:`AlphaProgram` laid out for the kernel: the monomials of its basic moments
    (:func:`monomial_table`) and its products in the order of
    :func:`~jaxpot.descriptors.moment_layout.moment_layout`."""

    def __init__(self, program: AlphaProgram):
        basic = np.asarray(program.basic).reshape(-1, 4)
        self.parent, self.axis, self.basic_mono = monomial_table(basic)
        self.basic_mu = np.ascontiguousarray(basic[:, 0], np.int64)
        self.layout = moment_layout(program)
        self.start = self.layout.start.astype(np.uint32)
        self.left, self.right = ((np.asarray(a, np.int64) * LANES).astype(np.uint32)
                                 for a in (self.layout.left, self.layout.right))

    def __call__(self, f, x, y, z, weights, with_gradient: bool):
        """(sums (N,), and with ``with_gradient`` d sums / d (f, x, y, z)) on the host from
        f (N, K, n_mu) and the unit-vector components (N, K); atoms split over threads."""
        f, x, y, z = (np.ascontiguousarray(a) for a in (f, x, y, z))
        weights = np.ascontiguousarray(weights, f.dtype)
        n = f.shape[0]
        sums = np.empty(n, f.dtype)
        grads = [np.empty(a.shape if with_gradient else (0,) * a.ndim, f.dtype)
                 for a in (f, x, y, z)]
        layout = self.layout
        tables = (self.parent, self.axis, self.basic_mu, self.basic_mono, self.start,
                  self.left, self.right, layout.coef.astype(f.dtype), layout.mapping)
        run_in_blocks(_kernel(), n, LANES, (f, x, y, z, weights) + tables,
                      (sums, *grads, with_gradient))
        return (sums, *grads)


def moment_site_sums(program: AlphaProgram):
    """A jittable ``site_sums(f, unit, xi)``: xi . B(i) (N,) from the radial functions
    f (N, K, n_mu), the unit-vector components ``unit = (x, y, z)`` (N, K) each and the
    coefficients xi (F,), run by the host kernel on a CPU backend."""
    host = HostProgram(program)

    def xla_sums(f, x, y, z, xi):
        return alpha_features(program, f, (x, y, z)) @ xi

    def xla_sums_and_gradient(f, x, y, z, xi):
        sums, pullback = jax.vjp(lambda *a: xla_sums(*a, xi), f, x, y, z)
        return (sums, *pullback(jnp.ones_like(sums)))

    def callback(with_gradient: bool, f, x, y, z, xi):
        shapes = [jax.ShapeDtypeStruct((f.shape[0],), f.dtype)]
        shapes += [jax.ShapeDtypeStruct(a.shape if with_gradient else (0,) * a.ndim, f.dtype)
                   for a in (f, x, y, z)]
        run = functools.partial(_host_call, host, with_gradient)
        return jax.pure_callback(run, tuple(shapes), f, x, y, z, xi.astype(f.dtype),
                                 vmap_method="sequential")

    @jax.custom_jvp
    def sums_and_gradient(f, x, y, z, xi):
        if jax.default_backend() == "cpu":
            return callback(True, f, x, y, z, xi)
        return xla_sums_and_gradient(f, x, y, z, xi)

    @sums_and_gradient.defjvp
    def _(primals, tangents):
        return jax.jvp(xla_sums_and_gradient, primals, tangents)

    @jax.custom_jvp
    def sums_of(f, x, y, z, xi):
        if jax.default_backend() == "cpu":
            return callback(False, f, x, y, z, xi)[0]
        return xla_sums(f, x, y, z, xi)

    def sums_jvp(primals, tangents):
        *inputs, xi = primals
        sums, *gradient = sums_and_gradient(*primals)
        tangent = jnp.zeros_like(sums)
        for g, t in zip(gradient, tangents[:4]):
            if not isinstance(t, SymbolicZero):
                tangent = tangent + jnp.sum((g * t).reshape(len(sums), -1), axis=1)
        if not isinstance(tangents[4], SymbolicZero):
            features = alpha_features(program, inputs[0], tuple(inputs[1:]))
            tangent = tangent + features @ tangents[4]
        return sums, tangent

    sums_of.defjvp(sums_jvp, symbolic_zeros=True)

    def site_sums(f, unit, xi):
        return sums_of(f, *unit, xi)
    return site_sums


def _host_call(host: HostProgram, with_gradient: bool, *arrays):
    return host(*(np.asarray(a) for a in arrays), with_gradient)
