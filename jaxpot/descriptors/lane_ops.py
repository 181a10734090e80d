"""Updates of 8-lane rows of flat arrays as single <8 x float> vector operations, for numba
kernels that keep 8 atoms side by side (row q of an array ``a`` = ``a[q0:q0 + 8]``,
``q0 = 8 q``; :mod:`jaxpot.descriptors.moment_host`).

Written as plain loops over the 8 lanes, ``m[k + b] += c * m[i + b] * m[j + b]`` stays scalar:
numba tells LLVM nothing about aliasing, the rows k, i and j may overlap for all it knows,
so LLVM keeps the lanes' loads and stores in their sequential order (8 scalar fused
multiply-adds, not one or two vector ones).  Each function here is a numba ``@intrinsic``
that emits the update on whole rows: one <8 x double> (<8 x float>) load per row read, a
multiply and ``llvm.fmuladd`` (fused where the CPU has FMA, as numba's ``contract``
fast-math flag allows in the loops), one store per row written, in the order the loop
would write them, so a row read after it was written (i == j below) is read back from
memory.  LLVM splits the vectors for the CPU (two ymm registers per row on AVX2) and
inlines them into the kernel.

The arrays are one-dimensional and contiguous (numba layout 'C'); offsets count elements
and are any integer type.  Loads and stores claim only the element's alignment: the rows
of the moment kernel are 64-byte aligned, but VEX-encoded unaligned loads cost nothing
extra on aligned data, and a misaligned row stays correct.

numba's disk cache (``cache=True``) keeps kernels that use these, but it checks only the
kernel's own source file: after editing this module, touch the kernel's (or clear its
``__pycache__``) to recompile.
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

#: elements in a row: one lane per atom
LANES = 8


def _row_pointer(context, builder, aryty, ary, offset, offty):
    """Pointer to the <LANES x dtype> row at element ``offset`` of a contiguous 1-D array."""
    data = context.make_array(aryty)(context, builder, ary).data
    index = context.cast(builder, offset, offty, types.intp)
    vector = ir.VectorType(context.get_value_type(aryty.dtype), LANES)
    return builder.bitcast(builder.gep(data, [index]), vector.as_pointer())


def _load(builder, pointer, aryty):
    return builder.load(pointer, align=aryty.dtype.bitwidth // 8)


def _store(builder, value, pointer, aryty):
    builder.store(value, pointer, align=aryty.dtype.bitwidth // 8)


def _splat(context, builder, value, valty, dtype):
    """``value`` (a scalar of type valty) as dtype, in every lane."""
    scalar = context.cast(builder, value, valty, dtype)
    vector = ir.VectorType(scalar.type, LANES)
    one = builder.insert_element(ir.Constant(vector, ir.Undefined), scalar,
                                 ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(one, ir.Constant(vector, ir.Undefined),
                                  ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES))


def _fmuladd(builder, a, b, c):
    """a * b + c on vectors, fused where the target has FMA (``llvm.fmuladd``)."""
    suffix = f"v{LANES}f{64 if isinstance(a.type.element, ir.DoubleType) else 32}"
    fn = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(a.type, [a.type] * 3), f"llvm.fmuladd.{suffix}")
    return builder.call(fn, [a, b, c])


def _check(*arrays):
    """Whether the numba types are contiguous 1-D float arrays of one dtype."""
    return all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C"
               and isinstance(a.dtype, types.Float) and a.dtype == arrays[0].dtype
               for a in arrays)


@intrinsic
def row_product(typingctx, m, out, i, j, c, accumulate):
    """m[out:out + 8] (=, or += with ``accumulate`` a compile-time bool) c * m[i:i + 8] *
    m[j:j + 8]; m (n,) float, out, i, j element offsets, c a scalar."""
    if not (_check(m) and isinstance(accumulate, types.BooleanLiteral)):
        return None
    add = accumulate.literal_value

    def codegen(context, builder, sig, args):
        ary, o, a, b, coef, _ = args
        mty, oty, aty, bty, cty, _ = sig.args
        left = _load(builder, _row_pointer(context, builder, mty, ary, a, aty), mty)
        right = _load(builder, _row_pointer(context, builder, mty, ary, b, bty), mty)
        scaled = builder.fmul(_splat(context, builder, coef, cty, mty.dtype), left)
        target = _row_pointer(context, builder, mty, ary, o, oty)
        if add:
            value = _fmuladd(builder, scaled, right, _load(builder, target, mty))
        else:
            value = builder.fmul(scaled, right)
        _store(builder, value, target, mty)
        return context.get_dummy_value()
    return types.none(m, out, i, j, c, accumulate), codegen


@intrinsic
def row_adjoint(typingctx, d, m, out, i, j, c):
    """The adjoint of ``row_product(m, out, i, j, c, True)``: with g = c d[out:out + 8],
    d[i:i + 8] += g m[j:j + 8], then d[j:j + 8] += g m[i:i + 8] (stored and loaded in that
    order, so i == j adds both); d, m (n,) float, out, i, j element offsets."""
    if not _check(d, m):
        return None

    def codegen(context, builder, sig, args):
        dary, mary, o, a, b, coef = args
        dty, mty, oty, aty, bty, cty = sig.args
        g = builder.fmul(_splat(context, builder, coef, cty, dty.dtype),
                         _load(builder, _row_pointer(context, builder, dty, dary, o, oty), dty))
        for this, other, thisty, otherty in ((a, b, aty, bty), (b, a, bty, aty)):
            source = _load(builder, _row_pointer(context, builder, mty, mary, other, otherty),
                           mty)
            target = _row_pointer(context, builder, dty, dary, this, thisty)
            _store(builder, _fmuladd(builder, g, source, _load(builder, target, dty)), target,
                   dty)
        return context.get_dummy_value()
    return types.none(d, m, out, i, j, c), codegen
