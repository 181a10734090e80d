"""SNAP energies and their gradient on the host by numba, on a CPU backend (LAMMPS's algorithm).

The XLA form (:mod:`jaxpot.descriptors.bispectrum_adjoint`) runs each step of ``pair_style
snap`` (U per neighbour, Z, Y, dU per neighbour) as whole-array ops over atoms and neighbour
slots, which stream large arrays through memory.  Here one numba kernel does what LAMMPS's
``SNA`` does per atom, for 8 atoms at a time (one per vector lane): the total U^j from every
neighbour's Wigner matrices (``compute_uarray``'s recursion), every Z^{j1 j2 j} entry once,
adding it to the bispectrum B (``compute_bi``) and, weighted by the energy's dE/dB, to the
adjoint Y^j (``compute_yi``), then each neighbour's gradient along its Cayley–Klein
parameters (a, b) by the reverse sweep of its recursion from the cotangent Y
(``compute_duidrj`` and ``compute_deidrj`` in one).  Neighbour slots beyond the cutoff are
skipped.  The kernel's inputs are per slot: a, b and the weight s = f_c(r) w_b; XLA maps
positions to them and back, so forces, stress and the cell follow by the chain rule.

:func:`snap_site_energies` is a ``custom_jvp``: the tangent along (a, b, s) is <g, d(a, b, s)>
with g from the kernel; g is itself a ``custom_jvp`` whose derivatives (Hessians, phonons)
come from XLA's einsum form of the bispectrum, as do parameter derivatives.  SNAP models
use it on a CPU backend (chosen at trace time by ``jax.default_backend()``); elsewhere a
callback is a round trip to the host and the XLA form runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxpot.descriptors.bispectrum import (
    components_of_stacks,
    full_columns,
    padded_cg,
    triple_stacks,
    wigner_u_left,
)
from jaxpot.descriptors.bispectrum_adjoint import couplings
from jaxpot.descriptors.sna_tables import clebsch_gordan
from jaxpot.neighbors.host_workers import compile_kernel, run_in_blocks
from jaxpot.tangents import instantiate, is_zero

#: atoms run together by the kernel (one vector lane each)
LANES = 8


def _snap_kernel(ar, ai, br, bi, s, g, quad, centre, offset, rec, rec_c, mirror, mirror_sign,
                 diagonal, half, half_weight, terms, weights, entry_end, entry_u, entry_y,
                 entry_b, entry_factor, entry_g, n_b, lo, hi, bis, dar, dai, dbr, dbi, ds,
                 with_gradient):  # pragma: no cover - compiled by numba
    """Bispectrum ``bis`` (N, n_b) of atoms lo <= a < hi and, with ``with_gradient``, the
    gradient of E_a = g[a] . B'_a + B'_a . Q B'_a / 2 along each slot's (Re a, Im a, Re b,
    Im b, s) (N, K), with B' = B - offset and Q = quad[centre[a]] (no Q if ``quad`` is empty).

    U^j matrices are flat, row-major, levels one after another (:class:`HostTables`); ``rec``
    (R, 6) = (target, source, source one row up, j, mirror range) and ``rec_c`` (R, 2) their
    factors run U^j[ma, mb] = c_a conj(a) U^{j-1}[ma, mb] - c_b conj(b) U^{j-1}[ma-1, mb] on
    columns mb <= j/2, then ``mirror`` (M, 2) fills level j's others, U[t] = sign conj(U[src]).
    Z entry e sums ``weights[t] U[terms[t, 0]] U[terms[t, 1]]`` over its terms t, adds
    entry_b[e] Re(conj(U[entry_u[e]]) Z) to B[entry_g[e]] (entry_b = 0: not a component) and
    entry_factor[e] g[entry_g[e]] Z to Y[entry_y[e]] (columns mb <= j/2 only).  Each slot's
    gradient is the reverse sweep of its recursion from the cotangent s Y.  Slots with s = 0
    (beyond the cutoff, empty) are skipped and get gradient 0: s has zero slope there."""
    n_k, n_u, n_y, n_r = ar.shape[1], diagonal.shape[0], half.shape[0], rec.shape[0]
    n_e, quadratic, dtype = entry_end.shape[0], quad.shape[0] > 0, ar.dtype
    tr, ti = np.zeros((n_u, LANES), dtype), np.zeros((n_u, LANES), dtype)
    ur, ui = np.zeros((n_u, LANES), dtype), np.zeros((n_u, LANES), dtype)
    vr, vi = np.zeros((n_u, LANES), dtype), np.zeros((n_u, LANES), dtype)
    yr, yi = np.zeros((n_y, LANES), dtype), np.zeros((n_y, LANES), dtype)
    b_out, gl = np.zeros((n_b, LANES), dtype), np.zeros((n_b, LANES), dtype)
    x, w = np.zeros((4, LANES), dtype), np.zeros(LANES, dtype)
    acc = np.zeros((5, LANES), dtype)
    zr, zi = np.zeros(LANES, dtype), np.zeros(LANES, dtype)
    z_r = np.zeros((n_e if quadratic else 0, LANES), dtype)  # every Z of the 8 atoms
    z_i = np.zeros((n_e if quadratic else 0, LANES), dtype)
    active = np.zeros((LANES, n_k), np.int64)
    n_active = np.zeros(LANES, np.int64)
    for a0 in range(lo, hi, LANES):
        count = min(LANES, hi - a0)
        n_active[:] = 0
        for b in range(count):
            for k in range(n_k):
                if s[a0 + b, k] != 0.0:
                    active[b, n_active[b]] = k
                    n_active[b] += 1
                if with_gradient:
                    dar[a0 + b, k] = dai[a0 + b, k] = dbr[a0 + b, k] = 0.0
                    dbi[a0 + b, k] = ds[a0 + b, k] = 0.0
        for q in range(n_u):
            for b in range(LANES):
                tr[q, b] = diagonal[q]  # w_self I
                ti[q, b] = 0.0
        for sweep in range(2 if with_gradient else 1):  # 0: total U, B, Y; 1: gradient
            for kk in range(n_active.max()):
                for b in range(LANES):  # lanes without a kk-th slot: a = 1, b = 0, w = 0
                    x[0, b], x[1, b], x[2, b], x[3, b], w[b] = 1.0, 0.0, 0.0, 0.0, 0.0
                    if b < count and kk < n_active[b]:
                        a, k = a0 + b, active[b, kk]
                        x[0, b], x[1, b], x[2, b] = ar[a, k], ai[a, k], br[a, k]
                        x[3, b], w[b] = bi[a, k], s[a, k]
                    ur[0, b], ui[0, b] = 1.0, 0.0
                for t in range(n_r):
                    q, p1, p2 = rec[t, 0], rec[t, 1], rec[t, 2]
                    ca, cb = rec_c[t, 0], rec_c[t, 1]
                    for b in range(LANES):  # c_a conj(a) U1 - c_b conj(b) U2
                        ur[q, b] = (ca * (x[0, b] * ur[p1, b] + x[1, b] * ui[p1, b])
                                    - cb * (x[2, b] * ur[p2, b] + x[3, b] * ui[p2, b]))
                        ui[q, b] = (ca * (x[0, b] * ui[p1, b] - x[1, b] * ur[p1, b])
                                    - cb * (x[2, b] * ui[p2, b] - x[3, b] * ur[p2, b]))
                    if t + 1 == n_r or rec[t + 1, 3] != rec[t, 3]:
                        for m in range(rec[t, 4], rec[t, 5]):
                            q, p = mirror[m, 0], mirror[m, 1]
                            for b in range(LANES):
                                ur[q, b] = mirror_sign[m] * ur[p, b]
                                ui[q, b] = -mirror_sign[m] * ui[p, b]
                if sweep == 0:
                    for q in range(n_u):
                        for b in range(LANES):
                            tr[q, b] += w[b] * ur[q, b]
                            ti[q, b] += w[b] * ui[q, b]
                    continue
                vr[:] = 0.0
                vi[:] = 0.0
                acc[:] = 0.0
                for h in range(n_y):
                    q, c = half[h], half_weight[h]
                    for b in range(LANES):
                        vr[q, b] = c * yr[h, b]
                        vi[q, b] = c * yi[h, b]
                        acc[4, b] += vr[q, b] * ur[q, b] + vi[q, b] * ui[q, b]
                for t in range(n_r - 1, -1, -1):  # the recursion's reverse sweep
                    if t + 1 == n_r or rec[t + 1, 3] != rec[t, 3]:
                        for m in range(rec[t, 5] - 1, rec[t, 4] - 1, -1):
                            q, p, sg = mirror[m, 0], mirror[m, 1], mirror_sign[m]
                            for b in range(LANES):
                                vr[p, b] += sg * vr[q, b]
                                vi[p, b] -= sg * vi[q, b]
                    q, p1, p2 = rec[t, 0], rec[t, 1], rec[t, 2]
                    ca, cb = rec_c[t, 0], rec_c[t, 1]
                    for b in range(LANES):
                        gr, gi = vr[q, b], vi[q, b]
                        vr[p1, b] += ca * (x[0, b] * gr - x[1, b] * gi)
                        vi[p1, b] += ca * (x[1, b] * gr + x[0, b] * gi)
                        vr[p2, b] -= cb * (x[2, b] * gr - x[3, b] * gi)
                        vi[p2, b] -= cb * (x[3, b] * gr + x[2, b] * gi)
                        acc[0, b] += ca * (ur[p1, b] * gr + ui[p1, b] * gi)
                        acc[1, b] += ca * (ui[p1, b] * gr - ur[p1, b] * gi)
                        acc[2, b] -= cb * (ur[p2, b] * gr + ui[p2, b] * gi)
                        acc[3, b] -= cb * (ui[p2, b] * gr - ur[p2, b] * gi)
                for b in range(count):
                    if kk < n_active[b]:
                        a, k = a0 + b, active[b, kk]
                        dar[a, k], dai[a, k] = w[b] * acc[0, b], w[b] * acc[1, b]
                        dbr[a, k], dbi[a, k] = w[b] * acc[2, b], w[b] * acc[3, b]
                        ds[a, k] = acc[4, b]
            if sweep == 1:
                continue
            b_out[:] = 0.0
            yr[:] = 0.0
            yi[:] = 0.0
            gl[:] = 0.0
            for b in range(count):
                for c in range(n_b):
                    gl[c, b] = g[a0 + b, c]
            start = 0
            for e in range(n_e):
                zr[:] = 0.0
                zi[:] = 0.0
                for t in range(start, entry_end[e]):
                    c, p1, p2 = weights[t], terms[t, 0], terms[t, 1]
                    for b in range(LANES):
                        zr[b] += c * (tr[p1, b] * tr[p2, b] - ti[p1, b] * ti[p2, b])
                        zi[b] += c * (tr[p1, b] * ti[p2, b] + ti[p1, b] * tr[p2, b])
                start = entry_end[e]
                c, qu, qy = entry_g[e], entry_u[e], entry_y[e]
                if entry_b[e] != 0.0:
                    for b in range(LANES):
                        b_out[c, b] += entry_b[e] * (tr[qu, b] * zr[b] + ti[qu, b] * zi[b])
                if quadratic:  # Y once dE/dB is known, below
                    for b in range(LANES):
                        z_r[e, b], z_i[e, b] = zr[b], zi[b]
                elif with_gradient:
                    f = entry_factor[e]
                    for b in range(LANES):
                        yr[qy, b] += f * gl[c, b] * zr[b]
                        yi[qy, b] += f * gl[c, b] * zi[b]
            for b in range(count):
                for c in range(n_b):
                    bis[a0 + b, c] = b_out[c, b]
            if quadratic and with_gradient:  # dE/dB = g + Q (B - offset), Q of the centre's species
                for b in range(count):
                    q = quad[centre[a0 + b]]
                    for c in range(n_b):
                        for d in range(n_b):
                            gl[c, b] += q[c, d] * (b_out[d, b] - offset[d])
                for e in range(n_e):
                    f, c, qy = entry_factor[e], entry_g[e], entry_y[e]
                    for b in range(LANES):
                        yr[qy, b] += f * gl[c, b] * z_r[e, b]
                        yi[qy, b] += f * gl[c, b] * z_i[e, b]


#: LLVM may reorder and fuse the kernel's sums (vectorising the lanes), keeping NaN and
#: infinity semantics (no nnan / ninf)
FAST_MATH = {"reassoc", "contract", "nsz", "arcp"}


@functools.cache
def _kernel():
    return compile_kernel(_snap_kernel, fastmath=FAST_MATH)


class HostTables:
    """The kernel's static tables for ``twojmax`` (see :func:`_snap_kernel`)."""

    def __init__(self, twojmax: int):
        size = [(j + 1) ** 2 for j in range(twojmax + 1)]
        off = np.cumsum([0] + size)

        def at(j, ma, mb):
            return off[j] + ma * (j + 1) + mb

        rec, rec_c, mirror, sign = [], [], [], []
        for j in range(1, twojmax + 1):
            first = len(mirror)
            for mb in range(j // 2 + 1, j + 1):
                for ma in range(j + 1):
                    mirror.append((at(j, ma, mb), at(j, j - ma, j - mb)))
                    sign.append((-1.0) ** (ma + mb))
            for ma in range(j + 1):
                for mb in range(j // 2 + 1):
                    rec.append((at(j, ma, mb), at(j - 1, min(ma, j - 1), mb),
                                at(j - 1, max(ma - 1, 0), mb), j, first, len(mirror)))
                    rec_c.append((np.sqrt((j - ma) / (j - mb)), np.sqrt(ma / (j - mb))))
        self.rec = np.asarray(rec, np.int64).reshape(-1, 6)
        self.rec_c = np.asarray(rec_c, float).reshape(-1, 2)
        self.mirror = np.asarray(mirror, np.int64).reshape(-1, 2)
        self.mirror_sign = np.asarray(sign, float)
        self.diagonal = np.zeros(off[-1])
        for j in range(twojmax + 1):
            self.diagonal[[at(j, m, m) for m in range(j + 1)]] = 1.0
        half = [(j, ma, mb) for j in range(twojmax + 1) for ma in range(j + 1)
                for mb in range(j // 2 + 1)]
        half_index = {t: h for h, t in enumerate(half)}
        self.half = np.asarray([at(*t) for t in half], np.int64)
        self.half_weight = np.asarray([2.0 if 2 * mb < j else 1.0 for j, _, mb in half])
        self._z_entries(twojmax, at, half_index)

    def _z_entries(self, twojmax, at, half_index):
        terms, weights, end, e_u, e_y, e_b, e_f, e_g = ([] for _ in range(8))
        for c in couplings(twojmax):
            cg = clebsch_gordan(c.j1, c.j2, c.j)
            nonzero = [[(m1, m2) for m1 in range(c.j1 + 1) for m2 in range(c.j2 + 1)
                        if cg[m1, m2, m] != 0.0] for m in range(c.j + 1)]
            for ma in range(c.j + 1):
                for mb in range(c.j // 2 + 1):
                    for m1, m2 in nonzero[ma]:
                        for n1, n2 in nonzero[mb]:
                            terms.append((at(c.j1, m1, n1), at(c.j2, m2, n2)))
                            weights.append(cg[m1, m2, ma] * cg[n1, n2, mb])
                    end.append(len(terms))
                    e_u.append(at(c.j, ma, mb))
                    e_y.append(half_index[(c.j, ma, mb)])
                    column = 2.0 if 2 * mb < c.j else 1.0
                    e_b.append(column if c.j >= c.j1 else 0.0)
                    e_f.append(c.factor)
                    e_g.append(c.component)
        self.terms = np.asarray(terms, np.int64)
        self.weights = np.asarray(weights)
        self.entry_end = np.asarray(end, np.int64)
        self.entry_u, self.entry_y = np.asarray(e_u, np.int64), np.asarray(e_y, np.int64)
        self.entry_b, self.entry_factor = np.asarray(e_b), np.asarray(e_f)
        self.entry_g = np.asarray(e_g, np.int64)
        self.n_b = int(max(c.component for c in couplings(twojmax)) + 1)

    def __call__(self, ar, ai, br, bi, s, g, quad, centre, offset, with_gradient: bool):
        """(B (N, n_b), and with ``with_gradient`` the gradient of E = g . B' + B' . Q B' / 2
        (B' = B - offset, Q = quad[centre] (S, n_b, n_b), none if S = 0) along (Re a, Im a,
        Re b, Im b, s), each (N, K)) on the host, atoms split over threads."""
        dtype, n = ar.dtype, ar.shape[0]
        ar, ai, br, bi, s, g, quad, offset = (np.ascontiguousarray(x, dtype) for x in
                                              (ar, ai, br, bi, s, g, quad, offset))
        centre = np.ascontiguousarray(centre, np.int64)
        bis = np.empty((n, self.n_b), dtype)
        grads = [np.empty(ar.shape if with_gradient else (0, 0), dtype) for _ in range(5)]
        tables = (self.rec, self.rec_c.astype(dtype), self.mirror, self.mirror_sign.astype(dtype),
                  self.diagonal.astype(dtype), self.half, self.half_weight.astype(dtype),
                  self.terms, self.weights.astype(dtype), self.entry_end, self.entry_u,
                  self.entry_y, self.entry_b.astype(dtype), self.entry_factor.astype(dtype),
                  self.entry_g, self.n_b)
        run_in_blocks(_kernel(), n, LANES, (ar, ai, br, bi, s, g, quad, centre, offset) + tables,
                      (bis, *grads, with_gradient))
        return (bis, *grads)


@functools.cache
def host_tables(twojmax: int) -> HostTables:
    """The kernel's tables for ``twojmax`` (built once per process: 0.17 s at twojmax 8)."""
    return HostTables(twojmax)


FeatureEnergy = Callable[[object, jax.Array, jax.Array], jax.Array]


def xla_components(twojmax: int, ar, ai, br, bi, s) -> jax.Array:
    """The bispectrum (N, nB) (bzero not subtracted) from the slots' (a, b, s) (N, K), by
    XLA's einsum form (:func:`~jaxpot.descriptors.bispectrum.components_of_stacks`)."""
    a, b = jax.lax.complex(ar, ai), jax.lax.complex(br, bi)
    u = [full_columns(jnp.sum(s[..., None, None] * x, axis=1), j) + jnp.eye(j + 1, dtype=a.dtype)
         for j, x in enumerate(wigner_u_left(a, b, twojmax))]
    return components_of_stacks(*triple_stacks(twojmax, u), padded_cg(twojmax))


def snap_site_energies(twojmax: int, bzero: np.ndarray | None, feature_energy: FeatureEnergy,
                       n_species: int, quadratic: bool):
    """A jittable ``energies(params, a, b, s, centre) -> (N,)`` eV: ``feature_energy`` of the
    bispectrum (minus ``bzero`` if given) of the slots' Cayley–Klein parameters a, b (N, K)
    complex and weights s (N, K), run by the host kernel (for a CPU backend).
    ``feature_energy`` must be linear in B, or quadratic with ``quadratic``: the kernel takes
    its gradient g and Hessian Q (one per species of ``n_species``) at B = 0, from JAX."""
    host = host_tables(twojmax)
    offset = np.zeros(host.n_b) if bzero is None else np.asarray(bzero, float)

    def taylor(params, centre, dtype):
        """g (N, n_b) and Q (S, n_b, n_b) (S = 0 if linear) of feature_energy at B' = 0."""
        def one(b, c):
            return feature_energy(params, b[None], c[None])[0]
        zero = jnp.zeros(host.n_b, dtype)
        g = jax.vmap(jax.grad(one), (None, 0))(zero, centre)
        if not quadratic:
            return g, jnp.zeros((0, host.n_b, host.n_b), dtype)
        return g, jax.vmap(jax.hessian(one), (None, 0))(zero, jnp.arange(n_species))

    def xla_weighted(ar, ai, br, bi, s, g, quad, centre):
        def energy(*inputs):
            bis = xla_components(twojmax, *inputs)
            b = bis - offset
            e = jnp.sum(g * b)
            if quad.shape[0]:
                e = e + 0.5 * jnp.einsum("nc,ncd,nd->", b, quad[centre], b)
            return e, bis
        grads, bis = jax.grad(energy, (0, 1, 2, 3, 4), has_aux=True)(ar, ai, br, bi, s)
        return (bis, *grads)

    def callback(with_gradient: bool, ar, ai, br, bi, s, g, quad, centre):
        shapes = [jax.ShapeDtypeStruct((ar.shape[0], host.n_b), ar.dtype)]
        shapes += [jax.ShapeDtypeStruct(ar.shape if with_gradient else (0, 0), ar.dtype)] * 5
        run = functools.partial(_host_call, host, with_gradient)
        return jax.pure_callback(run, tuple(shapes), ar, ai, br, bi, s, g.astype(ar.dtype),
                                 quad.astype(ar.dtype), centre, offset.astype(ar.dtype),
                                 vmap_method="sequential")

    @jax.custom_jvp
    def weighted(ar, ai, br, bi, s, g, quad, centre):
        return callback(True, ar, ai, br, bi, s, g, quad, centre)

    @weighted.defjvp
    def _(primals, tangents):
        return jax.jvp(lambda *x: xla_weighted(*x, primals[-1]), primals[:-1], tangents[:-1])

    @jax.custom_jvp
    def components(ar, ai, br, bi, s):
        zero = jnp.zeros((ar.shape[0], host.n_b), ar.dtype)
        return callback(False, ar, ai, br, bi, s, zero, jnp.zeros((0, host.n_b, host.n_b)),
                        jnp.zeros(ar.shape[0], jnp.int32))[0]

    @components.defjvp
    def _(primals, tangents):
        return jax.jvp(functools.partial(xla_components, twojmax), primals, tangents)

    @jax.custom_jvp
    def energies(params, ar, ai, br, bi, s, centre):
        return feature_energy(params, components(ar, ai, br, bi, s) - offset, centre)

    def energies_jvp(primals, tangents):
        params, *inputs, centre = primals
        g, quad = taylor(params, centre, inputs[0].dtype)
        bis, *gradient = weighted(*inputs, g, quad, centre)
        bis = bis - offset
        e = feature_energy(params, bis, centre)
        tangent = jnp.zeros_like(e)
        for grad, t in zip(gradient, tangents[1:6]):
            if not is_zero(t):
                tangent = tangent + jnp.sum(grad * t, axis=1)
        if not is_zero(tangents[0]):
            tangent = tangent + jax.jvp(lambda p: feature_energy(p, bis, centre), (params,),
                                        (instantiate(tangents[0], params),))[1]
        return e, tangent

    energies.defjvp(energies_jvp, symbolic_zeros=True)

    def site_energies(params, a, b, s, centre):
        return energies(params, jnp.real(a), jnp.imag(a), jnp.real(b), jnp.imag(b), s, centre)
    return site_energies


def _host_call(host: HostTables, with_gradient: bool, *arrays):
    return host(*(np.asarray(x) for x in arrays), with_gradient)
