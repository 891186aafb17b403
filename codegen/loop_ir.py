"""Pieces shared by the emitted time loops (:mod:`codegen.erk`, :mod:`codegen.rosenbrock_loop`,
:mod:`codegen.radau_loop`).

:class:`LoopEmitter` holds the builder helpers -- scalar variables as allocas (LLVM's
mem2reg/SROA turn them into registers), float arithmetic without fast-math flags, intrinsics,
linear combinations with constant weights, and the exits to the status block.  The functions
emit what the loops do the same way as their numba steppers: the function and its common inputs
(:func:`begin_loop`), the first step size (:func:`first_step`), the loop head (:func:`loop_head`,
:func:`failure_code`), a failed step retried smaller (:func:`retry_smaller`), the output of an
accepted step (:func:`save_output`, :func:`increment_interpolant`), the predictive step-size
controller (:func:`predictive_step`) and the state stored on exit (:func:`store_state`).

>>> import llvmlite.ir as ir
>>> from codegen.signatures import FUNCTION_TYPE
>>> fn = ir.Function(ir.Module("doc"), FUNCTION_TYPE, "f")
>>> E = LoopEmitter(fn.module, fn)
>>> str(E.add(fn.args[0], const(1.0)).type)
'double'
"""
from __future__ import annotations

from types import SimpleNamespace

import llvmlite.ir as ir
import numpy as np

from .signatures import DOUBLE, DOUBLE_PTR, I64

#: the signature of every emitted loop:
#: (fargs, iargs, u, p, k0, atol, saveat, ts, us, stats, rec) -> status; ``rec`` holds the step
#: records of ``dense=True`` (rows of ``t, h, u, stages``; only the explicit loop writes them)
STEPPER_TYPE = ir.FunctionType(I64, [DOUBLE_PTR, I64.as_pointer(), DOUBLE_PTR, DOUBLE_PTR, DOUBLE_PTR,
                                     DOUBLE_PTR, DOUBLE_PTR, DOUBLE_PTR, DOUBLE_PTR, I64.as_pointer(), DOUBLE_PTR])

#: fast-math flags of the loop's arithmetic: none, so that the numbers are those of the numba
#: stepper (``dense=True`` runs that one; the same steps either way).  ``contract`` (fused
#: multiply-adds) was measured no faster on Lorenz with DOP853 (59 against 60 us).
FLAGS = ()

#: the first slots of every emitted loop's ``fargs`` and ``iargs`` (each loop appends its own
#: state): the arguments, and the state every loop carries
COMMON_F_SLOTS = ("t0", "tf", "rtol", "switch_bound", "h_init", "t", "h")
COMMON_I_SLOTS = ("nsave", "cap", "save_steps", "max_steps", "adaptive", "resume", "m", "keep_dense", "nrec",
                  "rcap")


def const(x) -> ir.Constant:
    """A double constant."""
    return ir.Constant(DOUBLE, float(x))


def iconst(x) -> ir.Constant:
    """An int64 constant."""
    return ir.Constant(I64, int(x))


class LoopEmitter:
    """Builder helpers: scalar variables as allocas (LLVM's mem2reg/SROA turn them into
    registers), float arithmetic, intrinsics, and linear combinations with constant weights."""

    def __init__(self, module, fn):
        self.m = module
        self.fn = fn
        self.entry = fn.append_basic_block("entry")
        self.b = ir.IRBuilder(self.entry)
        self.flags = FLAGS
        self._pow = module.declare_intrinsic("llvm.pow", [DOUBLE])
        self._sqrt = module.declare_intrinsic("llvm.sqrt", [DOUBLE])
        self._fabs = module.declare_intrinsic("llvm.fabs", [DOUBLE])

    # variables ------------------------------------------------------------------------------
    def var(self, ty, name, init=None):
        with self.b.goto_block(self.entry):
            self.b.position_at_start(self.entry)
            slot = self.b.alloca(ty, name=name)
        if init is not None:
            self.b.store(init, slot)
        return slot

    def array(self, size, name):
        with self.b.goto_block(self.entry):
            self.b.position_at_start(self.entry)
            return self.b.alloca(ir.ArrayType(DOUBLE, size), name=name)

    def at(self, ptr, k):
        """Pointer to element ``k`` (an int, or a run-time int64 value) of a double pointer or an
        alloca'd array."""
        index = k if isinstance(k, ir.Value) else iconst(k)
        if isinstance(ptr.type.pointee, ir.ArrayType):
            return self.b.gep(ptr, [iconst(0), index], inbounds=True)
        return self.b.gep(ptr, [index], inbounds=True)

    def index(self, base, k):
        """``base + k`` for a constant ``base``: an int, or an int64 value when ``k`` is one."""
        return base + k if isinstance(k, int) else self.b.add(iconst(base), k)

    def ld(self, ptr, k=None):
        return self.b.load(ptr if k is None else self.at(ptr, k))

    def st(self, value, ptr, k=None):
        self.b.store(value, ptr if k is None else self.at(ptr, k))


    def incr(self, slot, by=1):
        self.st(self.b.add(self.ld(slot), iconst(by)), slot)

    # arithmetic -----------------------------------------------------------------------------
    def add(self, x, y):
        return self.b.fadd(x, y, flags=self.flags)

    def sub(self, x, y):
        return self.b.fsub(x, y, flags=self.flags)

    def mul(self, x, y):
        return self.b.fmul(x, y, flags=self.flags)

    def div(self, x, y):
        return self.b.fdiv(x, y)

    def pow(self, x, y):
        return self.b.call(self._pow, [x, y])

    def sqrt(self, x):
        return self.b.call(self._sqrt, [x])

    def fabs(self, x):
        return self.b.call(self._fabs, [x])

    def lt(self, x, y):
        return self.b.fcmp_ordered("<", x, y)

    def le(self, x, y):
        return self.b.fcmp_ordered("<=", x, y)

    def gt(self, x, y):
        return self.b.fcmp_ordered(">", x, y)

    def ge(self, x, y):
        return self.b.fcmp_ordered(">=", x, y)

    def min(self, x, y):  # Python's min(x, y) for numbers: y if y < x else x
        return self.b.select(self.lt(y, x), y, x)

    def max(self, x, y):  # Python's max(x, y): y if y > x else x
        return self.b.select(self.gt(y, x), y, x)

    def finite(self, x):
        return self.lt(self.fabs(x), const(np.inf))

    def all_finite(self, vec, n):
        """True when the ``n`` entries of ``vec`` are all finite."""
        ok = self.finite(self.ld(vec, 0))
        for k in range(1, n):
            ok = self.b.and_(ok, self.finite(self.ld(vec, k)))
        return ok

    def combo(self, weights, vectors, k):
        """``sum_j weights[j] * vectors[j][k]`` in the order j = 0, 1, ..., zero weights
        skipped; None when every weight is zero."""
        acc = None
        for w, vec in zip(weights, vectors):
            if w != 0.0:
                term = self.mul(const(w), self.ld(vec, k))
                acc = term if acc is None else self.add(acc, term)
        return acc

    def block(self, name):
        return self.fn.append_basic_block(name)

    # exits ------------------------------------------------------------------------------------
    def exits(self, status, exit_blk, codes):
        """Where :meth:`stop` goes: the int64 variable ``status`` and the exit block; ``codes``
        are the solver's status codes and counter slots."""
        self.status, self.exit_blk, self.codes = status, exit_blk, codes

    def stop(self, code, name):
        """A new block that sets the status to ``code`` (an int or an int64 value) and exits."""
        blk = self.block(f"stop_{name}")
        with self.b.goto_block(blk):
            self.st(code if isinstance(code, ir.Value) else iconst(code), self.status)
            self.b.branch(self.exit_blk)
        return blk

    def stop_if(self, cond, code, name):
        """Exit with ``code`` if ``cond``; the emission continues in a new block otherwise."""
        go = self.block(f"after_{name}")
        self.b.cbranch(cond, self.stop(code, name), go)
        self.b.position_at_end(go)


def first_step(E, call_rhs, n, u, f0, ytmp, work, atol, rtol, t0, tf, h_init, order, nfev):
    """Emit the first step size: ``h_init`` if positive, else Hairer's starting step (HNW I,
    Sec. II.4; :func:`symdyn.solvers.control.initial_step`, one right-hand side call into
    ``work``, counted in the int64 slot ``nfev``).  Returns the value, in the block where the emission continues."""
    b = E.b
    given, hairer, h_done = E.block("h_given"), E.block("h_hairer"), E.block("h_done")
    h_slot = E.var(DOUBLE, "h_first")
    b.cbranch(E.gt(h_init, const(0.0)), given, hairer)
    b.position_at_end(given)
    E.st(h_init, h_slot)
    b.branch(h_done)
    b.position_at_end(hairer)
    d0 = d1 = const(0.0)
    scs = []
    for k in range(n):
        sck = E.add(atol[k], E.mul(rtol, E.fabs(E.ld(u, k))))
        scs.append(sck)
        r0 = E.div(E.ld(u, k), sck)
        r1 = E.div(E.ld(f0, k), sck)
        d0 = E.add(d0, E.mul(r0, r0))
        d1 = E.add(d1, E.mul(r1, r1))
    d0 = E.sqrt(E.div(d0, const(n)))
    d1 = E.sqrt(E.div(d1, const(n)))
    tiny = b.or_(E.lt(d0, const(1e-5)), E.lt(d1, const(1e-5)))
    h0 = b.select(tiny, const(1e-6), E.div(E.mul(const(0.01), d0), d1))
    span = E.sub(tf, t0)
    h0 = E.min(h0, span)
    for k in range(n):
        E.st(E.add(E.ld(u, k), E.mul(h0, E.ld(f0, k))), ytmp, k)
    call_rhs(E.add(t0, h0), ytmp, work)
    E.incr(nfev)
    d2 = const(0.0)
    for k in range(n):
        r = E.div(E.sub(E.ld(work, k), E.ld(f0, k)), scs[k])
        d2 = E.add(d2, E.mul(r, r))
    d2 = E.div(E.sqrt(E.div(d2, const(n))), h0)
    dmax = E.max(d1, d2)
    h1 = b.select(E.le(dmax, const(1e-15)), E.max(const(1e-6), E.mul(h0, const(1e-3))),
                  E.pow(E.div(const(0.01), dmax), const(1.0 / (order + 1))))
    h_hairer = E.min(E.min(E.mul(const(100.0), h0), h1), span)
    E.st(b.select(E.finite(d2), h_hairer, E.mul(h0, const(1e-3))), h_slot)
    b.branch(h_done)
    b.position_at_end(h_done)
    return E.ld(h_slot)


def loop_head(E, t, h, t0, tf, last, adaptive, save_steps, m, cap, nsteps, max_steps, small_code, constants,
              records_full=None):
    """Emit the top of the time loop as the numba steppers have it: stop at ``t >= tf``
    (SUCCESS), a full output buffer or (``records_full()``, an i1) a full step record buffer
    (BUFFER_FULL), the step budget (MAX_STEPS: ``nsteps`` against ``max_steps``), a step below the
    round-off limit (``small_code``); then shorten the last step and count the step.  Returns
    ``(t, h)`` as then loaded."""
    b, X = E.b, E.codes
    tv, hv = E.ld(t), E.ld(h)
    E.stop_if(b.not_(E.lt(tv, tf)), X["SUCCESS"], "done")
    full = b.and_(save_steps, b.icmp_signed("==", E.ld(m), cap))
    if records_full is not None:
        full = b.or_(full, records_full())
    E.stop_if(full, X["BUFFER_FULL"], "full")
    E.stop_if(b.icmp_signed(">=", E.ld(nsteps), max_steps), X["MAX_STEPS"], "max_steps")
    hmin = E.mul(const(constants["HMIN_ULPS"] * constants["EPS"]),
                 E.max(E.fabs(tv), E.mul(const(constants["HMIN_SPAN"]), E.fabs(E.sub(tf, t0)))))
    E.stop_if(b.and_(adaptive, E.lt(hv, hmin)), small_code, "small")
    reach = b.select(adaptive, E.add(tv, E.mul(const(1.01), hv)), E.add(tv, E.mul(hv, const(1.0 + 1e-9))))
    is_last = E.ge(reach, tf)
    E.st(is_last, last)
    E.st(b.select(is_last, E.sub(tf, tv), hv), h)
    E.incr(nsteps)
    return tv, E.ld(h)


def failure_code(E, last_failure):
    """The status of a step size below the round-off limit in the stiff steppers: by the last
    failure (1: NaN, 2: a singular matrix, else the step size itself)."""
    b, X = E.b, E.codes
    lf = E.ld(last_failure)
    return b.select(b.icmp_signed("==", lf, iconst(1)), iconst(X["NON_FINITE"]),
                    b.select(b.icmp_signed("==", lf, iconst(2)), iconst(X["LINEAR_SOLVE_FAILED"]),
                             iconst(X["STEP_SIZE_TOO_SMALL"])))


def save_output(E, n, save_steps, m, ts, us, nsave, saveat, t_new, unew, interpolate):
    """Emit the output of an accepted step: ``t_new`` and ``unew`` as row ``m`` (every step), or
    each ``saveat`` time up to ``t_new`` -- ``unew`` where it equals ``t_new``, else what
    ``interpolate(t_a)`` returns (a list of ``n`` values, emitted in the interpolation block).
    The builder ends in the block after the output."""
    b = E.b
    steps_blk, saveat_blk, done = E.block("save_step"), E.block("save_head"), E.block("output_done")
    b.cbranch(save_steps, steps_blk, saveat_blk)

    def store_row(mv, values):
        row = b.mul(mv, iconst(n))
        for k in range(n):
            E.st(values[k], us, b.add(row, iconst(k)))

    b.position_at_end(steps_blk)
    mv = E.ld(m)
    E.st(t_new, ts, mv)
    store_row(mv, [E.ld(unew, k) for k in range(n)])
    E.st(b.add(mv, iconst(1)), m)
    b.branch(done)

    b.position_at_end(saveat_blk)  # while m < nsave and saveat[m] <= t_new
    mv = E.ld(m)
    more, body = E.block("save_more"), E.block("save_body")
    b.cbranch(b.icmp_signed("<", mv, nsave), more, done)
    b.position_at_end(more)
    ta = E.ld(saveat, mv)
    b.cbranch(E.le(ta, t_new), body, done)
    b.position_at_end(body)
    E.st(ta, ts, mv)
    exact, interp, saved = E.block("save_exact"), E.block("save_interp"), E.block("saved")
    b.cbranch(b.fcmp_ordered("==", ta, t_new), exact, interp)
    b.position_at_end(exact)
    store_row(mv, [E.ld(unew, k) for k in range(n)])
    b.branch(saved)
    b.position_at_end(interp)
    store_row(mv, interpolate(ta))
    b.branch(saved)
    b.position_at_end(saved)
    E.st(b.add(mv, iconst(1)), m)
    b.branch(saveat_blk)
    b.position_at_end(done)


def records_full(E, a, nrec):
    """``loop_head``'s ``records_full``: the step record buffer of ``dense=True`` is full."""
    return lambda: E.b.and_(a.keep_dense, E.b.icmp_signed("==", E.ld(nrec), a.rcap))


def record_step(E, a, nrec, n, tv, hv, u, stages, before=None):
    """Emit an accepted step's record for ``dense=True`` when ``keep_dense``: row ``nrec`` of
    ``a.rec`` gets ``t, h, u`` (the step's start) and the ``stages`` arrays, as the numba
    steppers' ``rec_t, rec_h, rec_u, rec_k``; ``before()`` emits what must come first (the
    explicit interpolant's extra stages)."""
    b = E.b
    record, recorded = E.block("record"), E.block("recorded")
    b.cbranch(a.keep_dense, record, recorded)
    b.position_at_end(record)
    if before is not None:
        before()
    row = b.mul(E.ld(nrec), iconst(2 + n * (1 + len(stages))))
    values = [tv, hv] + [E.ld(u, k) for k in range(n)] + [E.ld(K, k) for K in stages for k in range(n)]
    for j, v in enumerate(values):
        E.st(v, E.at(a.rec, b.add(row, iconst(j))))
    E.incr(nrec)
    b.branch(recorded)
    b.position_at_end(recorded)


def state_vars(E, ptr, slots, names, ty):
    """``{name: variable}``, each started from ``ptr[slots[name]]`` (the loop state a call
    receives; :func:`store_state` writes it back)."""
    return {name: E.var(ty, name, E.ld(ptr, slots[name])) for name in names}


def counter_vars(E, stats_p, codes, keys):
    """The counters ``keys`` as variables started from ``stats_p``, and the status variable and
    exit block (:meth:`LoopEmitter.exits`) with ``codes``."""
    counters = {key: E.var(I64, key.lower(), E.ld(stats_p, codes[key])) for key in keys}
    E.exits(E.var(I64, "status", iconst(codes["SUCCESS"])), E.block("exit"), codes)
    return counters


def store_state(E, n, vectors, saved, counters, stats_p):
    """Emit the exit block's body: copy the local vectors back (``vectors``: (local array, caller
    pointer) pairs), the loop state (``saved``: (:func:`state_vars`' dict, caller pointer, slots)
    triples), the counters into ``stats_p`` at their slots; return the status."""
    E.b.position_at_end(E.exit_blk)
    for local, out in vectors:
        for k in range(n):
            E.st(E.ld(local, k), out, k)
    for variables, ptr, slots in saved:
        for name, var in variables.items():
            E.st(E.ld(var), E.at(ptr, slots[name]))
    for key, var in counters.items():
        E.st(E.ld(var), E.at(stats_p, E.codes[key]))
    E.b.ret(E.ld(E.status))


def retry_smaller(E, nreject, flags, adaptive, code, name, h, factor, head):
    """Emit a failed step (NaN, a singular matrix): count a rejection, set ``flags`` ((variable,
    int) pairs), stop with ``code`` under fixed steps, else shrink ``h`` by ``factor`` and go back
    to ``head``.  Returns the block (the builder's position is kept)."""
    blk = E.block(name)
    with E.b.goto_block(blk):
        E.incr(nreject)
        for var, value in flags:
            E.st(iconst(value), var)
        E.stop_if(E.b.not_(adaptive), code, f"{name}_fixed")
        E.st(E.mul(E.ld(h), const(factor)), h)
        E.b.branch(head)
    return blk


def begin_loop(module, name, n, F, I):
    """A new loop function ``name`` (:data:`STEPPER_TYPE`, arguments ``noalias``), its emitter, and
    a namespace with its arguments (``fargs``, ``iargs``, ``u_out``, ``p``, ``k0``, ``saveat``,
    ``ts``, ``us``, ``stats``, ``rec``) and the common inputs loaded in the entry block (``t0``,
    ``tf``, ``rtol``, ``bound``, ``nsave``, ``cap``, ``max_steps``, ``rcap``; ``save_steps``,
    ``adaptive``, ``keep_dense`` as booleans; ``atol`` as ``n`` values) -- ``F``/``I`` are the
    loop's slot indices."""
    fn = ir.Function(module, STEPPER_TYPE, name)
    for arg in fn.args:
        arg.add_attribute("noalias")
    fn.attributes.add("nounwind")
    E = LoopEmitter(module, fn)
    fargs, iargs, u_out, p, k0, atol_p, saveat, ts, us, stats, rec = fn.args

    def flag(slot):
        return E.b.icmp_signed("!=", E.ld(iargs, I[slot]), iconst(0))

    a = SimpleNamespace(
        fargs=fargs, iargs=iargs, u_out=u_out, p=p, k0=k0, saveat=saveat, ts=ts, us=us, stats=stats, rec=rec,
        keep_dense=flag("keep_dense"), rcap=E.ld(iargs, I["rcap"]),
        t0=E.ld(fargs, F["t0"]), tf=E.ld(fargs, F["tf"]), rtol=E.ld(fargs, F["rtol"]),
        bound=E.ld(fargs, F["switch_bound"]), nsave=E.ld(iargs, I["nsave"]), cap=E.ld(iargs, I["cap"]),
        save_steps=flag("save_steps"), max_steps=E.ld(iargs, I["max_steps"]), adaptive=flag("adaptive"),
        atol=[E.ld(atol_p, k) for k in range(n)], flag=flag)
    return E, a


def predictive_step(E, errn, q, hv, hacc, erracc, first, rejected, constants):
    """Emit :func:`symdyn.solvers.control.predictive_factor` after an accepted step and the
    bookkeeping around it (as the Rosenbrock and Radau steppers do it): ``first`` and
    ``rejected`` cleared, ``hacc = h``, ``erracc = max(err, ERRACC_MIN)``, the factor capped at 1
    right after a rejection.  Returns the factor."""
    b, K = E.b, constants
    e_ = E.max(errn, const(1e-10))
    inv_q = const(1.0 / q)
    lo, hi = const(1.0 / K["PRED_FACMIN"]), const(1.0 / K["PRED_FACMAX"])
    quot = E.min(lo, E.max(hi, E.div(E.pow(e_, inv_q), const(K["SAFETY"]))))
    gus = E.div(E.mul(E.div(E.ld(hacc), hv), E.pow(E.div(E.mul(e_, e_), E.ld(erracc)), inv_q)), const(K["SAFETY"]))
    gus = E.min(lo, E.max(hi, gus))
    quot = b.select(b.icmp_signed("!=", E.ld(first), iconst(0)), quot, E.max(quot, gus))
    fac = E.div(const(1.0), quot)
    E.st(iconst(0), first)
    E.st(hv, hacc)
    E.st(E.max(errn, const(K["ERRACC_MIN"])), erracc)
    fac = b.select(b.icmp_signed("!=", E.ld(rejected), iconst(0)), E.min(fac, const(1.0)), fac)
    E.st(iconst(0), rejected)
    return fac


def increment_interpolant(E, n, u, increments, dense, tv, hv):
    """``interpolate(t_a)`` for :func:`save_output` of the stiff steppers: the state at ``t_a``
    from increments that carry the step (``explicit.interpolate`` with ``h = 1``), ``u + sum_i
    b_i(theta) U_i``, zero weights skipped at run time as there."""
    b = E.b

    def interpolate(ta):
        theta = E.div(E.sub(ta, tv), hv)
        weights = []
        for i in range(len(increments)):
            acc, pw = const(0.0), theta
            for j in range(dense.shape[1]):
                acc = E.add(acc, E.mul(const(dense[i, j]), pw))
                pw = E.mul(pw, theta)
            weights.append(E.mul(const(1.0), acc))
        values = []
        for k in range(n):
            acc = E.ld(u, k)
            for w, inc in zip(weights, increments):
                acc = b.select(b.fcmp_unordered("!=", w, const(0.0)), E.add(acc, E.mul(w, E.ld(inc, k))), acc)
            values.append(acc)
        return values

    return interpolate
