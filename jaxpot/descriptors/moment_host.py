"""xi . B(i) of an MTP from its radial functions and unit vectors, run on the host by numba
on a CPU backend.

XLA runs the moment program (:func:`jaxpot.descriptors.moment_tensors.run_waves`) as one
gather, multiply and scatter-add of (entries, N) arrays per wave: every wave streams the whole
(n_moments, N) array through memory, and reverse mode does it twice more.  At level 22
(54,689 entries, 13,837 moments) on 512 Si atoms that is 125 ms forward and 519 ms forward +
reverse on two cores, and the 421 basic moments (one product and slot sum each) add ~90 ms
and most of the compile time.  The kernel here takes each atom's basic moments
sum_k f_mu(r_k) x^a y^b z^c as one small matrix product (f^T times the monomials, built by
recursion), runs ``alpha_index_times`` in order for 8 atoms at a time (their moments, 8 x
13,837 numbers, stay in cache and the 8 atoms fill the vector lanes), then the adjoint of
both in reverse order.  Energy + forces of that system with a 1 Å skin: 620 -> ~65 ms (one-off
measurements while writing it; MD figures in benchmarks/RESULTS.md).

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

from jaxpot.descriptors.moment_tensors import AlphaProgram, alpha_features
from jaxpot.neighbors.host_workers import compile_kernel, run_in_blocks

#: atoms run together by the kernel (one vector lane each)
LANES = 8


def _site_sums_kernel(f, x, y, z, weights, parent, axis, basic_mu, basic_mono, entries,
                      multiplicity, mapping, n_moments, lo, hi, sums, df, dx, dy, dz,
                      with_gradient):  # pragma: no cover - compiled by numba
    """sums[a] = weights . m[mapping] for atoms lo <= a < hi, m the moments of atom a: the basic
    ones sum_k f[a, k, mu] x^a y^b z^c (monomial r = monomial parent[r] times component
    axis[r]; basic q = (basic_mu[q], basic_mono[q])), then ``entries`` (T, 4) int32 as
    alpha_index_times with their multiplicity (T,) in f's dtype.  With ``with_gradient``,
    df, dx, dy, dz = d sums[a] / d (f, x, y, z)[a]."""
    n_mono, n_basic, n_k, n_mu = parent.shape[0], basic_mu.shape[0], f.shape[1], f.shape[2]
    m = np.zeros((n_moments, LANES), f.dtype)
    d = np.zeros((n_moments, LANES), f.dtype)
    p = np.ones((n_k, n_mono), f.dtype)
    weight = np.zeros((n_mu, n_mono), f.dtype)
    u = np.zeros((n_k, 3), f.dtype)
    du = np.zeros((n_k, 3), f.dtype)
    for a0 in range(lo, hi, LANES):
        count = min(LANES, hi - a0)
        m[:] = 0.0
        for b in range(count):
            a = a0 + b
            for k in range(n_k):
                u[k, 0], u[k, 1], u[k, 2] = x[a, k], y[a, k], z[a, k]
                for r in range(1, n_mono):
                    p[k, r] = p[k, parent[r]] * u[k, axis[r]]
            moments = np.dot(f[a].T, p)  # (n_mu, n_mono)
            for q in range(n_basic):
                m[q, b] = moments[basic_mu[q], basic_mono[q]]
        for t in range(entries.shape[0]):
            i, j, k = entries[t, 0], entries[t, 1], entries[t, 3]
            c = multiplicity[t]
            for b in range(LANES):
                m[k, b] += c * m[i, b] * m[j, b]
        for b in range(count):
            sums[a0 + b] = 0.0
            for q in range(mapping.shape[0]):
                sums[a0 + b] += weights[q] * m[mapping[q], b]
        if not with_gradient:
            continue
        d[:] = 0.0
        for q in range(mapping.shape[0]):
            for b in range(LANES):
                d[mapping[q], b] += weights[q]
        for t in range(entries.shape[0] - 1, -1, -1):
            i, j, k = entries[t, 0], entries[t, 1], entries[t, 3]
            c = multiplicity[t]
            for b in range(LANES):
                g = c * d[k, b]
                d[i, b] += g * m[j, b]
                d[j, b] += g * m[i, b]
        for b in range(count):
            a = a0 + b
            for k in range(n_k):
                u[k, 0], u[k, 1], u[k, 2] = x[a, k], y[a, k], z[a, k]
                for r in range(1, n_mono):
                    p[k, r] = p[k, parent[r]] * u[k, axis[r]]
            for q in range(n_basic):
                weight[basic_mu[q], basic_mono[q]] = d[q, b]
            dp = np.dot(f[a], weight)  # (n_k, n_mono)
            df[a] = np.dot(p, weight.T)
            du[:] = 0.0
            for k in range(n_k):
                for r in range(n_mono - 1, 0, -1):
                    dp[k, parent[r]] += dp[k, r] * u[k, axis[r]]
                    du[k, axis[r]] += dp[k, r] * p[k, parent[r]]
                dx[a, k], dy[a, k], dz[a, k] = du[k, 0], du[k, 1], du[k, 2]


#: LLVM may reorder and fuse the kernel's sums (which vectorises the lanes: level 22, 512 Si
#: atoms, 58 slots, 75 -> 56 ms), keeping NaN and infinity semantics (no nnan / ninf)
FAST_MATH = {"reassoc", "contract", "nsz", "arcp"}


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
    (:func:`monomial_table`) and its ``times`` entries in order (the waves concatenated: a
    wave's inputs are complete before it runs), int32 (T, 4)."""

    def __init__(self, program: AlphaProgram):
        basic = np.asarray(program.basic).reshape(-1, 4)
        self.parent, self.axis, self.basic_mono = monomial_table(basic)
        self.basic_mu = np.ascontiguousarray(basic[:, 0], np.int64)
        waves = [np.asarray(w, np.int32).reshape(-1, 4) for w in program.waves]
        self.entries = np.ascontiguousarray(np.concatenate(waves) if waves
                                            else np.zeros((0, 4), np.int32))
        self.mapping = np.ascontiguousarray(program.mapping, np.int64)
        self.n_moments = int(program.n_moments)

    def __call__(self, f, x, y, z, weights, with_gradient: bool):
        """(sums (N,), and with ``with_gradient`` d sums / d (f, x, y, z)) on the host from
        f (N, K, n_mu) and the unit-vector components (N, K); atoms split over threads."""
        f, x, y, z = (np.ascontiguousarray(a) for a in (f, x, y, z))
        weights = np.ascontiguousarray(weights, f.dtype)
        n = f.shape[0]
        sums = np.empty(n, f.dtype)
        grads = [np.empty(a.shape if with_gradient else (0,) * a.ndim, f.dtype)
                 for a in (f, x, y, z)]
        multiplicity = self.entries[:, 2].astype(f.dtype)
        tables = (self.parent, self.axis, self.basic_mu, self.basic_mono, self.entries,
                  multiplicity, self.mapping, self.n_moments)
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
