"""Building whole functions from programs: argument handling, body, output stores, loops."""
from __future__ import annotations

import llvmlite.ir as ir
import numpy as np

from .emit import Emitter
from .signatures import ARG_NAMES, DOUBLE, FUNCTION_TYPE, I64


def _declare(module: ir.Module, name: str, internal: bool = False) -> ir.Function:
    fn = ir.Function(module, FUNCTION_TYPE, name)
    if internal:
        # kept out of line: LLVM's instruction selection and register allocation are
        # superlinear in the size of one function, so big models stay in pieces
        fn.linkage = "internal"
        fn.attributes.add("noinline")
    for arg, argname in zip(fn.args, ARG_NAMES):
        arg.name = argname
    for arg in fn.args[1:]:
        arg.add_attribute("noalias")
    fn.attributes.add("nounwind")
    return fn


def table_pointer(b: ir.IRBuilder, array: np.ndarray, keepalive: list):
    """A pointer constant to an int64 table owned by the compiled module.

    Large index tables (Jacobian positions) would cost seconds to print as IR text and
    parse again; the module keeps the array alive instead (``keepalive``), so generated
    code is valid only in this process.
    """
    table = np.ascontiguousarray(array, dtype=np.int64)
    keepalive.append(table)
    return b.inttoptr(ir.Constant(I64, table.ctypes.data), I64.as_pointer())


def _load(b: ir.IRBuilder, ptr, k: int, name: str):
    return b.load(b.gep(ptr, [ir.Constant(I64, k)], inbounds=True), name=name)


def _store(b: ir.IRBuilder, value, ptr, k: int):
    b.store(value, b.gep(ptr, [ir.Constant(I64, k)], inbounds=True))


def build_function(module: ir.Module, name: str, program, fastmath: bool = False,
                   keepalive: list | None = None) -> ir.Function:
    """Emit ``void name(double t, const double *u, const double *p, double *out)``.

    ``program`` is a :class:`symdyn.passes.Program` (anything with ``t``, ``states``,
    ``params``, ``assignments`` and ``outputs``): inputs are loaded, assignments emitted
    in order, and ``outputs[k]`` stored to ``out[k]``.  A list of programs (the chunks
    of one big function, each writing the outputs after the previous one's) becomes one
    internal function per chunk and ``name`` calling them in order.

    >>> import llvmlite.ir as ir, sympy as sp
    >>> from symdyn.passes import Program
    >>> x, t = sp.symbols("x t")
    >>> m = ir.Module("doc")
    >>> f = build_function(m, "rhs", Program(t, (x,), (), (), (-x,)), keepalive=[])
    >>> f.name
    'rhs'
    """
    keepalive = [] if keepalive is None else keepalive
    if isinstance(program, (list, tuple)):
        if len(program) == 1:
            return build_function(module, name, program[0], fastmath, keepalive)
        return _build_chunked(module, name, program, fastmath, keepalive)
    return _build_body(_declare(module, name), module, name, program, fastmath, keepalive)


def _build_chunked(module, name, chunks, fastmath, keepalive):
    fn = _declare(module, name)
    t, u, p, out = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    for i, chunk in enumerate(chunks):  # every chunk writes its own (absolute) slots
        part = _build_body(_declare(module, f"{name}.{i}", internal=True), module, name, chunk, fastmath,
                           keepalive)
        b.call(part, [t, u, p, out])
    b.ret_void()
    return fn


def _build_body(fn, module, name, program, fastmath, keepalive):
    t, u, p, out = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    values = {program.t: t}
    for k, s in enumerate(program.params):  # loaded up front: loops use them
        values[s] = _load(b, p, k, str(s))
    loaders = {s: (lambda k=k, s=s: _load(b, u, k, str(s))) for k, s in enumerate(program.states)}
    em = Emitter(b, module, values, where=f"function {name}", fastmath=fastmath, loaders=loaders)
    for tmp, expr in program.assignments:
        em.bind(tmp, em.emit(expr))
    for k, (slot, expr) in enumerate(zip(program.slots, program.outputs)):
        if expr.is_Number:
            _store(b, ir.Constant(DOUBLE, float(expr)), out, slot)
        else:
            em.where = f"function {name}, output {program.labels[k] if program.labels else k}"
            _store(b, em.emit(expr), out, slot)
    base = {program.t: t, **{s: values[s] for s in program.params}}
    for k, loop in enumerate(program.loops):
        _build_loop(fn, b, module, f"{name}.loop{k}", loop, base, u, out, fastmath, keepalive)
    b.ret_void()
    return fn


def _build_loop(fn, b, module, name, loop, base_values, u, out, fastmath, keepalive):
    """Emit ``for i in range(count): out[pos(i)] = body(u[a(i) + offsets])`` at ``b``.

    ``base_values`` (time and parameters) are loaded before the loop; the body's
    placeholders are loaded at ``a(i) = anchor_start + anchor_stride*i`` plus their
    offsets; ``pos(i)`` is an arithmetic progression or a constant table.
    """
    c = lambda v: ir.Constant(I64, int(v))  # noqa: E731
    pre = b.block
    body_bb = fn.append_basic_block(f"{name}.body")
    done_bb = fn.append_basic_block(f"{name}.done")
    b.branch(body_bb)
    b.position_at_end(body_bb)
    i = b.phi(I64, name="i")
    i.add_incoming(c(0), pre)
    anchor = b.add(b.mul(i, c(loop.anchor_stride)), c(loop.anchor_start), name="a")
    values = dict(base_values)
    for ph, off in zip(loop.placeholders, loop.offsets):
        values[ph] = b.load(b.gep(u, [b.add(anchor, c(off))], inbounds=True), name=f"u_a{off:+d}")
    em = Emitter(b, module, values, where=f"function {name} ({loop.label})", fastmath=fastmath)
    for tmp, expr in loop.body.assignments:
        em.bind(tmp, em.emit(expr))
    value = em.emit(loop.body.outputs[0])
    progression = loop.out_progression()
    if progression is not None:
        slot = b.add(b.mul(i, c(progression[1])), c(progression[0]))
    else:
        table = table_pointer(b, loop.out_positions, keepalive)
        slot = b.load(b.gep(table, [i], inbounds=True))
    b.store(value, b.gep(out, [slot], inbounds=True))
    nxt = b.add(i, c(1))
    i.add_incoming(nxt, b.block)
    b.cbranch(b.icmp_signed("<", nxt, c(loop.count)), body_bb, done_bb)
    b.position_at_end(done_bb)


def build_dense_scatter(module: ir.Module, name: str, csc_fn: ir.Function, positions: np.ndarray,
                        size: int, keepalive: list) -> ir.Function:
    """Emit ``name`` writing the dense column-major matrix whose CSC values ``csc_fn`` computes.

    The CSC values are computed into the front of ``out`` and moved in place to their
    dense positions by a loop running backwards (``positions[k] >= k`` and increasing,
    so no value is overwritten before it is moved); the tail is zeroed first.
    This is the loop form the code generator will use for fields on grids.
    """
    fn = _declare(module, name)
    t, u, p, out = fn.args
    entry = fn.append_basic_block("entry")
    b = ir.IRBuilder(entry)
    nnz = len(positions)
    i8p = ir.IntType(8).as_pointer()
    memset = module.declare_intrinsic("llvm.memset", [i8p, I64])
    tail = b.bitcast(b.gep(out, [ir.Constant(I64, nnz)]), i8p)
    b.call(memset, [tail, ir.Constant(ir.IntType(8), 0), ir.Constant(I64, 8 * (size - nnz)),
                    ir.Constant(ir.IntType(1), 0)])
    b.call(csc_fn, [t, u, p, out])
    if nnz:
        table = table_pointer(b, positions, keepalive)
        loop = fn.append_basic_block("scatter")
        done = fn.append_basic_block("done")
        b.branch(loop)
        b.position_at_end(loop)
        k = b.phi(I64, name="k")
        k.add_incoming(ir.Constant(I64, nnz), entry)
        km1 = b.sub(k, ir.Constant(I64, 1), name="km1")
        src = b.gep(out, [km1], inbounds=True)
        value = b.load(src)
        b.store(ir.Constant(DOUBLE, 0.0), src)
        pos = b.load(b.gep(table, [km1], inbounds=True))
        b.store(value, b.gep(out, [pos], inbounds=True))
        k.add_incoming(km1, loop)
        b.cbranch(b.icmp_signed(">", km1, ir.Constant(I64, 0)), loop, done)
        b.position_at_end(done)
    b.ret_void()
    return fn
