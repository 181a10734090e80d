"""xi . B(i) of an MTP from its basic moments, run on the host by numba on a CPU backend.

XLA runs the moment program (:func:`jaxpot.descriptors.moment_tensors.run_waves`) as one
gather, multiply and scatter-add of (entries, N) arrays per wave: every wave streams the whole
(n_moments, N) array through memory, and reverse mode does it twice more.  At level 22
(54,689 entries, 13,837 moments) on 512 Si atoms that is 125 ms forward and 519 ms forward +
reverse on two cores.  The kernel here runs ``alpha_index_times`` in order for 8 atoms at a
time (their moments, 8 x 13,837 numbers, stay in cache and the 8 atoms fill the vector
lanes), then the adjoint in reverse order: 28 ms for both (a one-off measurement while writing
it; MD figures in benchmarks/RESULTS.md).

Derivatives stay exact under every transform.  :func:`moment_site_sums` is a ``custom_jvp``:
its tangent along the basic moments is <g, d basic> with g = d(xi . B)/d basic from the same
kernel call; g is itself a ``custom_jvp`` whose derivatives (Hessians, training through
forces) come from XLA's program, as do derivatives along xi (the features B).  On other
backends everything runs in XLA (``lax.platform_dependent``): a callback is a round trip to
the host there.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from jaxpot.descriptors.moment_tensors import AlphaProgram, run_waves
from jaxpot.neighbors.host_workers import compile_kernel, in_threads, pool, workers

#: atoms run together by the kernel (one vector lane each)
LANES = 8


def _site_sums_kernel(basic, weights, entries, multiplicity, mapping, n_moments, lo, hi, sums,
                      gradient, with_gradient):  # pragma: no cover - compiled by numba
    """sums[a] = weights . m[mapping] for atoms lo <= a < hi, m the moments of basic[:, a]
    (entries (T, 4) int32 as alpha_index_times, their multiplicity (T,) in basic's dtype);
    gradient[:, a] = d sums[a] / d basic[:, a] when ``with_gradient``."""
    n_basic = basic.shape[0]
    m = np.zeros((n_moments, LANES), basic.dtype)
    d = np.zeros((n_moments, LANES), basic.dtype)
    for a0 in range(lo, hi, LANES):
        count = min(LANES, hi - a0)
        m[:] = 0.0
        for q in range(n_basic):
            for b in range(count):
                m[q, b] = basic[q, a0 + b]
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
        for q in range(n_basic):
            for b in range(count):
                gradient[q, a0 + b] = d[q, b]


@functools.cache
def _kernel():
    return compile_kernel(_site_sums_kernel)


class HostProgram:
    """An :class:`AlphaProgram` laid out for the kernel: its ``times`` entries in order (the
    waves concatenated: a wave's inputs are complete before it runs), int32 (T, 4)."""

    def __init__(self, program: AlphaProgram):
        waves = [np.asarray(w, np.int32).reshape(-1, 4) for w in program.waves]
        self.entries = np.ascontiguousarray(np.concatenate(waves) if waves
                                            else np.zeros((0, 4), np.int32))
        self.mapping = np.ascontiguousarray(program.mapping, np.int64)
        self.n_moments = int(program.n_moments)

    def __call__(self, basic: np.ndarray, weights: np.ndarray, with_gradient: bool):
        """(sums (N,), gradient (n_basic, N)) on the host, atoms split over worker threads."""
        basic = np.ascontiguousarray(basic)
        weights = np.ascontiguousarray(weights, basic.dtype)
        n = basic.shape[1]
        sums = np.empty(n, basic.dtype)
        gradient = np.empty(basic.shape if with_gradient else (0, 0), basic.dtype)
        threads = max(1, min(workers(), -(-n // LANES)))
        per = -(-n // (threads * LANES)) * LANES
        kernel = _kernel()
        multiplicity = self.entries[:, 2].astype(basic.dtype)
        jobs = [(basic, weights, self.entries, multiplicity, self.mapping, self.n_moments, lo,
                 min(lo + per, n), sums, gradient, with_gradient) for lo in range(0, n, per)]
        if jobs:
            in_threads(pool(workers()), kernel, jobs)
        return sums, gradient


def moment_site_sums(program: AlphaProgram):
    """A jittable ``site_sums(basic, xi)``: xi . B(i) (N,) from the basic moments
    (n_basic, N) and the coefficients xi (F,), run by the host kernel on a CPU backend."""
    host = HostProgram(program)

    def xla_sums(basic, xi):
        return run_waves(program, basic)[program.mapping].T @ xi

    def xla_sums_and_gradient(basic, xi):
        sums, pullback = jax.vjp(lambda b: xla_sums(b, xi), basic)
        return sums, pullback(jnp.ones_like(sums))[0]

    def callback(with_gradient: bool, basic, xi):
        n_basic, n = basic.shape
        shapes = (jax.ShapeDtypeStruct((n,), basic.dtype),
                  jax.ShapeDtypeStruct((n_basic, n) if with_gradient else (0, 0), basic.dtype))
        run = functools.partial(_host_call, host, with_gradient)
        return jax.pure_callback(run, shapes, basic, xi.astype(basic.dtype),
                                 vmap_method="sequential")

    @jax.custom_jvp
    def sums_and_gradient(basic, xi):
        return jax.lax.platform_dependent(
            basic, xi, cpu=functools.partial(callback, True),
            default=xla_sums_and_gradient)

    @sums_and_gradient.defjvp
    def _(primals, tangents):
        return jax.jvp(xla_sums_and_gradient, primals, tangents)

    @jax.custom_jvp
    def site_sums(basic, xi):
        return jax.lax.platform_dependent(
            basic, xi, cpu=lambda b, x: callback(False, b, x)[0], default=xla_sums)

    def site_sums_jvp(primals, tangents):
        basic, xi = primals
        d_basic, d_xi = tangents
        sums, gradient = sums_and_gradient(basic, xi)
        tangent = jnp.zeros_like(sums)
        if not isinstance(d_basic, SymbolicZero):
            tangent = tangent + jnp.sum(gradient * d_basic, axis=0)
        if not isinstance(d_xi, SymbolicZero):
            tangent = tangent + run_waves(program, basic)[program.mapping].T @ d_xi
        return sums, tangent

    site_sums.defjvp(site_sums_jvp, symbolic_zeros=True)
    return site_sums


def _host_call(host: HostProgram, with_gradient: bool, basic, xi):
    return host(np.asarray(basic), np.asarray(xi), with_gradient)
