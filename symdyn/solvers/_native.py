"""Calling generated native functions from numba-compiled integrators.

The code generator (and, in tests, ``numba.cfunc``) produces functions with the plain C
signature ``void f(double t, const double *u, const double *p, double *out)`` -- the
right-hand side ``rhs`` and the dense column-major Jacobian ``jac`` share it.  Their
addresses reach the integrators as ``int64`` arguments; :func:`call_native` turns such an
integer into a function pointer and calls it.  Because the address is a run-time value, not
a constant baked into the machine code, one compiled integrator serves every model and
numba's on-disk cache (``cache=True``) is valid across processes.
"""
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_DOUBLE = ir.DoubleType()
_DOUBLE_PTR = _DOUBLE.as_pointer()
#: the C signature every generated function follows
NATIVE_FNTY = ir.FunctionType(ir.VoidType(), [_DOUBLE, _DOUBLE_PTR, _DOUBLE_PTR, _DOUBLE_PTR])


@intrinsic
def call_native(typingctx, addr, t, u, p, out):
    """``call_native(addr, t, u, p, out)``: call ``f(t, u.data, p.data, out.data)``.

    ``addr`` is an int64 function address; ``u``, ``p``, ``out`` are C-contiguous 1-d
    float64 arrays (the callee reads ``n`` entries of ``u``, the model's parameters from
    ``p``, and writes ``n`` -- or ``n*n`` for a Jacobian -- entries of ``out``).
    """
    for arr in (u, p, out):
        if not (isinstance(arr, types.Array) and arr.dtype == types.float64 and arr.layout == "C"):
            return None
    if not isinstance(addr, types.Integer):
        return None
    sig = types.void(addr, types.float64, u, p, out)

    def codegen(context, builder, signature, args):
        addr_v, t_v, u_v, p_v, out_v = args
        data = [
            context.make_array(ty)(context, builder, val).data
            for ty, val in zip(signature.args[2:], (u_v, p_v, out_v))
        ]
        t_d = context.cast(builder, t_v, signature.args[1], types.float64)
        fn = builder.inttoptr(addr_v, NATIVE_FNTY.as_pointer())
        builder.call(fn, [t_d] + data)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def call_native_row(typingctx, addr, t, u, p, out, row):
    """``call_native_row(addr, t, u, p, out, row)``: like :func:`call_native` writing into row
    ``row`` of the C-contiguous 2-d float64 array ``out``.

    ``call_native(addr, t, u, p, out[row])`` would build a view, whose reference counting (two
    atomic operations) costs more than a small model's right-hand side; here the row's address
    is computed directly.
    """
    for arr in (u, p):
        if not (isinstance(arr, types.Array) and arr.dtype == types.float64 and arr.layout == "C"):
            return None
    if not (isinstance(out, types.Array) and out.ndim == 2 and out.dtype == types.float64
            and out.layout == "C"):
        return None
    if not (isinstance(addr, types.Integer) and isinstance(row, types.Integer)):
        return None
    sig = types.void(addr, types.float64, u, p, out, row)

    def codegen(context, builder, signature, args):
        addr_v, t_v, u_v, p_v, out_v, row_v = args
        u_d = context.make_array(signature.args[2])(context, builder, u_v).data
        p_d = context.make_array(signature.args[3])(context, builder, p_v).data
        out_a = context.make_array(signature.args[4])(context, builder, out_v)
        ncols = builder.extract_value(out_a.shape, 1)
        row_i = context.cast(builder, row_v, signature.args[5], types.intp)
        out_d = builder.gep(out_a.data, [builder.mul(row_i, ncols)])
        t_d = context.cast(builder, t_v, signature.args[1], types.float64)
        fn = builder.inttoptr(addr_v, NATIVE_FNTY.as_pointer())
        builder.call(fn, [t_d, u_d, p_d, out_d])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def call_stepper(typingctx, addr, fargs, iargs, u, p, k0, atol, saveat, ts, us, stats, rec):
    """``call_stepper(addr, fargs, iargs, u, p, k0, atol, saveat, ts, us, stats, rec)``: call an
    emitted time loop (:data:`codegen.loop_ir.STEPPER_TYPE`) with the arrays' data pointers;
    returns its int64 status.  Every array must be C-contiguous (float64, except ``iargs`` and
    ``stats``: int64)."""
    arrays = (fargs, iargs, u, p, k0, atol, saveat, ts, us, stats, rec)
    for arr, dtype in zip(arrays, (types.float64, types.int64) + (types.float64,) * 7 + (types.int64, types.float64)):
        if not (isinstance(arr, types.Array) and arr.dtype == dtype and arr.layout == "C"):
            return None
    if not isinstance(addr, types.Integer):
        return None
    sig = types.int64(addr, *arrays)

    def codegen(context, builder, signature, args):
        data = [context.make_array(ty)(context, builder, val).data
                for ty, val in zip(signature.args[1:], args[1:])]
        fnty = ir.FunctionType(ir.IntType(64), [d.type for d in data])
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        return builder.call(fn, data)

    return sig, codegen
