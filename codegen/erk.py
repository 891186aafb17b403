"""An explicit Runge--Kutta time loop emitted as LLVM IR next to a model's right-hand side.

For small models the numba stepper (:mod:`symdyn.solvers.explicit`) spends its time on
generic machinery, not on arithmetic: loops over a run-time number of states and stages,
coefficients loaded from arrays, the right-hand side called through a pointer.  Here the
tableau's coefficients are constants, every loop over states and stages is unrolled, and the
right-hand side is in the same module, so LLVM inlines it and keeps the stages in registers
(Lorenz with DOP853 at rtol 1e-8: see ``benchmarks/README.md``).

The emitted function follows :func:`symdyn.solvers.explicit._steps` statement by statement
(same error norm, step-size rules, output and stiffness test; its docstring is the
specification) and the same resumable protocol: it returns ``BUFFER_FULL`` when the output
buffer is full, with its whole state stored, and the caller grows the buffer and calls again.

Signature (all pointers to caller-owned, C-contiguous arrays)::

    int64 erk(double *fargs, int64 *iargs, double *u, const double *p, double *k0,
              const double *atol, const double *saveat, double *ts, double *us, int64 *stats)

``fargs``/``iargs`` hold the scalar arguments and the loop state (layouts :data:`F_SLOTS`,
:data:`I_SLOTS`); ``u`` is the state (start value in, reached value out); ``k0`` the slope
at ``u`` (written on exit, read on a resumed call); ``us`` is ``(cap, n)`` row-major.

codegen knows nothing of solvers: the caller passes the tableau, the step-size constants and
the status and counter codes (:class:`ERKSpec`).

>>> import llvmlite.ir as ir, numpy as np
>>> spec = ERKSpec(A=np.array([[0.0]]), c=np.array([0.0]), b=np.array([1.0]), e=np.zeros(1),
...                e2=np.zeros(1), dense=np.ones((1, 1)), fsal=False, order=1, q=1.0, beta=0.0,
...                constants=DEFAULT_CONSTANTS, codes=DEFAULT_CODES)
>>> m = ir.Module("doc")
>>> rhs = ir.Function(m, ir.FunctionType(ir.VoidType(), [DOUBLE] + [DOUBLE_PTR] * 3), "rhs")
>>> build_erk(m, "euler", rhs, 2, spec).name
'euler'
"""
from __future__ import annotations

from dataclasses import dataclass

import llvmlite.ir as ir
import numpy as np

from .signatures import DOUBLE, DOUBLE_PTR, I64

#: slots of ``fargs``: inputs, then the loop state carried between calls
F_SLOTS = ("t0", "tf", "rtol", "stiff_bound", "h_init", "t", "h", "errold")
#: slots of ``iargs``
I_SLOTS = ("nsave", "cap", "save_steps", "max_steps", "adaptive", "resume", "m", "rejected",
           "last_nonfinite", "stiff_hits", "nonstiff_run")
F = {name: i for i, name in enumerate(F_SLOTS)}
I = {name: i for i, name in enumerate(I_SLOTS)}  # noqa: E741

#: the step-size constants of :mod:`symdyn.solvers.control` (the solver passes its own)
DEFAULT_CONSTANTS = dict(SAFETY=0.9, FACMIN=0.2, FACMAX=10.0, FAC_NONFINITE=0.1, ERROLD_MIN=1e-4,
                         HMIN_ULPS=16.0, HMIN_SPAN=1e-10, EPS=float(np.finfo(np.float64).eps),
                         STIFF_HITS=15, NONSTIFF_RESET=6)
#: status codes and counter slots of :mod:`symdyn.solvers._status` (the solver passes its own)
DEFAULT_CODES = dict(SUCCESS=0, MAX_STEPS=1, STEP_SIZE_TOO_SMALL=2, NON_FINITE=3, STIFF=100,
                     BUFFER_FULL=-1, NFEV=0, NSTEPS=2, NACCEPT=3, NREJECT=4)

STEPPER_TYPE = ir.FunctionType(I64, [DOUBLE_PTR, I64.as_pointer(), DOUBLE_PTR, DOUBLE_PTR, DOUBLE_PTR,
                                     DOUBLE_PTR, DOUBLE_PTR, DOUBLE_PTR, DOUBLE_PTR, I64.as_pointer()])


@dataclass(frozen=True)
class ERKSpec:
    """What the emitted loop needs of a method: the tableau (``A`` is ``(s_total, s_total)``,
    ``b``/``e``/``e2`` have the ``s`` stepping stages, ``dense`` the interpolant's polynomial
    coefficients ``b_i(theta) = sum_j dense[i, j] theta**(j+1)``), its orders (``order`` for
    the first step, ``q`` and ``beta`` for the PI controller), and the solver's constants and codes."""

    A: np.ndarray
    c: np.ndarray
    b: np.ndarray
    e: np.ndarray
    e2: np.ndarray
    dense: np.ndarray
    fsal: bool
    order: int
    q: float
    beta: float
    constants: dict
    codes: dict


#: fast-math flags of the loop's arithmetic: none, so that the numbers are those of the numba
#: stepper (``dense=True`` runs that one; the same steps either way).  ``contract`` (fused
#: multiply-adds) was measured no faster on Lorenz with DOP853 (59 against 60 us).
FLAGS = ()


def _c(x) -> ir.Constant:
    return ir.Constant(DOUBLE, float(x))


def _i(x) -> ir.Constant:
    return ir.Constant(I64, int(x))


class _Emit:
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
        """Pointer to element ``k`` of a double pointer or an alloca'd array."""
        if isinstance(ptr.type.pointee, ir.ArrayType):
            return self.b.gep(ptr, [_i(0), _i(k)], inbounds=True)
        return self.b.gep(ptr, [_i(k)], inbounds=True)

    def ld(self, ptr, k=None):
        return self.b.load(ptr if k is None else self.at(ptr, k))

    def st(self, value, ptr, k=None):
        self.b.store(value, ptr if k is None else self.at(ptr, k))

    def ld_dyn(self, ptr, index):
        return self.b.load(self.b.gep(ptr, [index], inbounds=True))

    def st_dyn(self, value, ptr, index):
        self.b.store(value, self.b.gep(ptr, [index], inbounds=True))

    def incr(self, slot, by=1):
        self.st(self.b.add(self.ld(slot), _i(by)), slot)

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
        return self.lt(self.fabs(x), _c(np.inf))

    def combo(self, weights, vectors, k):
        """``sum_j weights[j] * vectors[j][k]`` in the order j = 0, 1, ..., zero weights
        skipped; None when every weight is zero."""
        acc = None
        for w, vec in zip(weights, vectors):
            if w != 0.0:
                term = self.mul(_c(w), self.ld(vec, k))
                acc = term if acc is None else self.add(acc, term)
        return acc

    def block(self, name):
        return self.fn.append_basic_block(name)


def build_erk(module: ir.Module, name: str, rhs: ir.Function, n: int, spec: ERKSpec) -> ir.Function:
    """Emit the time loop of ``spec``'s method for ``n`` states calling ``rhs`` (see the module
    docstring for the signature and protocol); returns the function."""
    A = np.asarray(spec.A, dtype=float)
    c = np.asarray(spec.c, dtype=float)
    bw = np.asarray(spec.b, dtype=float)
    ew = np.asarray(spec.e, dtype=float)
    e2w = np.asarray(spec.e2, dtype=float)
    dense = np.asarray(spec.dense, dtype=float)
    s, s_total = bw.shape[0], c.shape[0]
    has_e2 = bool(np.any(e2w[:s] != 0.0))
    C, X = spec.constants, spec.codes

    fn = ir.Function(module, STEPPER_TYPE, name)
    fargs, iargs, u_out, p, k0_io, atol_p, saveat, ts, us, stats_p = fn.args
    for arg in fn.args:
        arg.add_attribute("noalias")
    fn.attributes.add("nounwind")
    E = _Emit(module, fn)
    b = E.b

    # inputs
    t0 = E.ld(fargs, F["t0"])
    tf = E.ld(fargs, F["tf"])
    rtol = E.ld(fargs, F["rtol"])
    stiff_bound = E.ld(fargs, F["stiff_bound"])
    nsave = E.ld(iargs, I["nsave"])
    cap = E.ld(iargs, I["cap"])
    save_steps = b.icmp_signed("!=", E.ld(iargs, I["save_steps"]), _i(0))
    max_steps = E.ld(iargs, I["max_steps"])
    adaptive = b.icmp_signed("!=", E.ld(iargs, I["adaptive"]), _i(0))
    atol = [E.ld(atol_p, k) for k in range(n)]

    # work arrays (registers after SROA: every index below is a constant)
    K = [E.array(n, f"K{i}") for i in range(s_total)]
    u = E.array(n, "u")
    unew = E.array(n, "unew")
    ytmp = E.array(n, "ytmp")
    ysti = E.array(n, "ysti")
    counters = {key: E.var(I64, key.lower(), E.ld(stats_p, X[key])) for key in ("NFEV", "NSTEPS", "NACCEPT",
                                                                               "NREJECT")}
    status = E.var(I64, "status", _i(X["SUCCESS"]))
    for k in range(n):
        E.st(E.ld(u_out, k), u, k)
    # the loop state (the caller's values: t = t0, h = 0, errold = ERROLD_MIN, m = saved points,
    # zeros on a first call)
    t = E.var(DOUBLE, "t", E.ld(fargs, F["t"]))
    h = E.var(DOUBLE, "h", E.ld(fargs, F["h"]))
    errold = E.var(DOUBLE, "errold", E.ld(fargs, F["errold"]))
    m = E.var(I64, "m", E.ld(iargs, I["m"]))
    rejected = E.var(I64, "rejected", E.ld(iargs, I["rejected"]))
    last_nf = E.var(I64, "last_nonfinite", E.ld(iargs, I["last_nonfinite"]))
    stiff_hits = E.var(I64, "stiff_hits", E.ld(iargs, I["stiff_hits"]))
    nonstiff_run = E.var(I64, "nonstiff_run", E.ld(iargs, I["nonstiff_run"]))
    last = E.var(ir.IntType(1), "last")
    head = E.block("head")

    def call_rhs(t, y, out):
        b.call(rhs, [t, E.at(y, 0), p, E.at(out, 0)])

    def copy(dst, src):
        for k in range(n):
            E.st(E.ld(src, k), dst, k)

    def sc(k, *vecs):  # atol_k + rtol * max |vec_k|
        mag = E.fabs(E.ld(vecs[0], k))
        for v in vecs[1:]:
            mag = E.max(mag, E.fabs(E.ld(v, k)))
        return E.add(atol[k], E.mul(rtol, mag))

    def stage_input(i, t_h, out):
        """out = u + h * sum_{j<i} A[i, j] K[j]."""
        for k in range(n):
            acc = E.combo(A[i, :i], K[:i], k)
            uk = E.ld(u, k)
            E.st(uk if acc is None else E.add(uk, E.mul(t_h, acc)), out, k)

    exit_blk = E.block("exit")

    # --- first call: the slope at u0 and the first step (Hairer) ---------------------------------
    init_blk, load_blk = E.block("init"), E.block("load_state")
    b.cbranch(b.icmp_signed("==", E.ld(iargs, I["resume"]), _i(0)), init_blk, load_blk)
    b.position_at_end(init_blk)
    call_rhs(t0, u, K[0])
    E.incr(counters["NFEV"])
    ok = None
    for k in range(n):
        fk = E.finite(E.ld(K[0], k))
        ok = fk if ok is None else b.and_(ok, fk)
    bad0, good0 = E.block("init_nonfinite"), E.block("init_step")
    b.cbranch(ok, good0, bad0)
    b.position_at_end(bad0)
    E.st(_i(X["NON_FINITE"]), status)
    b.branch(exit_blk)
    b.position_at_end(good0)
    h_first = first_step(E, call_rhs, n, u, K[0], ytmp, K[1] if s_total > 1 else unew, atol, rtol, t0, tf,
                         E.ld(fargs, F["h_init"]), spec.order, counters["NFEV"])
    E.st(E.min(h_first, E.sub(tf, t0)), h)
    b.branch(head)

    # --- resumed call: the slope at u from the caller ----------------------------------------
    b.position_at_end(load_blk)
    copy(K[0], k0_io)
    b.branch(head)

    # --- loop head: stop conditions, the last step ---------------------------------------------
    b.position_at_end(head)

    def stop_if(cond, code, name):
        stop, go = E.block(f"stop_{name}"), E.block(f"after_{name}")
        b.cbranch(cond, stop, go)
        b.position_at_end(stop)
        E.st(code if isinstance(code, ir.Value) else _i(code), status)
        b.branch(exit_blk)
        b.position_at_end(go)

    tv, hv = E.ld(t), E.ld(h)
    stop_if(b.not_(E.lt(tv, tf)), X["SUCCESS"], "done")
    stop_if(b.and_(save_steps, b.icmp_signed("==", E.ld(m), cap)), X["BUFFER_FULL"], "full")
    stop_if(b.icmp_signed(">=", E.ld(counters["NSTEPS"]), max_steps), X["MAX_STEPS"], "max_steps")
    hmin = E.mul(_c(C["HMIN_ULPS"] * C["EPS"]), E.max(E.fabs(tv), E.mul(_c(C["HMIN_SPAN"]), E.fabs(E.sub(tf, t0)))))
    small_code = b.select(b.icmp_signed("!=", E.ld(last_nf), _i(0)), _i(X["NON_FINITE"]),
                          _i(X["STEP_SIZE_TOO_SMALL"]))
    stop_if(b.and_(adaptive, E.lt(hv, hmin)), small_code, "small")
    reach = b.select(adaptive, E.add(tv, E.mul(_c(1.01), hv)), E.add(tv, E.mul(hv, _c(1.0 + 1e-9))))
    is_last = E.ge(reach, tf)
    E.st(is_last, last)
    E.st(b.select(is_last, E.sub(tf, tv), hv), h)
    E.incr(counters["NSTEPS"])

    # --- the stages --------------------------------------------------------------------------
    hv = E.ld(h)
    for i in range(1, s):
        stage_input(i, hv, ytmp)
        if i == s - 2:
            copy(ysti, ytmp)
        call_rhs(E.add(tv, E.mul(_c(c[i]), hv)), ytmp, K[i])
    E.incr(counters["NFEV"], s - 1)
    for k in range(n):
        if spec.fsal:
            acc = E.combo(A[s - 1, : s - 1], K[: s - 1], k)
            E.st(E.add(E.ld(u, k), E.mul(hv, acc)), unew, k)
        else:
            acc = E.combo(bw[:s], K[:s], k)
            E.st(E.add(E.mul(hv, acc), E.ld(u, k)), unew, k)

    # the error estimate (computed also without adaptivity; unused then)
    ss = ss3 = _c(0.0)
    for k in range(n):
        sck = sc(k, u, unew)
        acc = E.combo(ew[:s], K[:s], k)
        r = E.div(E.mul(hv, acc) if acc is not None else _c(0.0), sck)
        ss = E.add(ss, E.mul(r, r))
        if has_e2:
            acc2 = E.combo(e2w[:s], K[:s], k)
            r2 = E.div(E.mul(hv, acc2) if acc2 is not None else _c(0.0), sck)
            ss3 = E.add(ss3, E.mul(r2, r2))
    if has_e2:
        den = E.add(ss, E.mul(_c(0.01), ss3))
        errn = b.select(E.gt(den, _c(0.0)), E.div(ss, E.sqrt(E.mul(den, _c(n)))), _c(0.0))
    else:
        errn = E.sqrt(E.div(ss, _c(n)))
    errn = b.select(adaptive, errn, _c(0.0))
    finite = E.finite(errn)
    for k in range(n):
        finite = b.and_(finite, E.finite(E.ld(unew, k)))
        if spec.fsal:
            finite = b.and_(finite, E.finite(E.ld(K[s - 1], k)))
    nonfinite_blk, finite_blk = E.block("nonfinite"), E.block("finite")
    b.cbranch(finite, finite_blk, nonfinite_blk)

    b.position_at_end(nonfinite_blk)
    E.incr(counters["NREJECT"])
    E.st(_i(1), last_nf)
    E.st(_i(1), rejected)
    stop_if(b.not_(adaptive), X["NON_FINITE"], "nonfinite_fixed")
    E.st(E.mul(E.ld(h), _c(C["FAC_NONFINITE"])), h)
    b.branch(head)

    b.position_at_end(finite_blk)
    E.st(_i(0), last_nf)
    accept_blk, reject_blk = E.block("accept"), E.block("reject")
    b.cbranch(b.or_(E.le(errn, _c(1.0)), b.not_(adaptive)), accept_blk, reject_blk)

    # --- rejected step -----------------------------------------------------------------------
    b.position_at_end(reject_blk)
    E.incr(counters["NREJECT"])
    fac = E.max(_c(C["FACMIN"]), E.mul(_c(C["SAFETY"]), E.pow(errn, _c(-1.0 / spec.q))))
    E.st(E.mul(E.ld(h), fac), h)
    E.st(_i(1), rejected)
    b.branch(head)

    # --- accepted step: output -----------------------------------------------------------------
    b.position_at_end(accept_blk)
    t_new = b.select(E.ld(last), tf, E.add(tv, hv))
    dense_ready = E.var(ir.IntType(1), "dense_ready", ir.Constant(ir.IntType(1), int(s == s_total)))
    steps_blk, saveat_blk, out_done = E.block("save_step"), E.block("save_head"), E.block("output_done")
    b.cbranch(save_steps, steps_blk, saveat_blk)

    b.position_at_end(steps_blk)
    mv = E.ld(m)
    E.st_dyn(t_new, ts, mv)
    row = b.mul(mv, _i(n))
    for k in range(n):
        E.st_dyn(E.ld(unew, k), us, b.add(row, _i(k)))
    E.st(b.add(mv, _i(1)), m)
    b.branch(out_done)

    b.position_at_end(saveat_blk)  # while m < nsave and saveat[m] <= t_new
    mv = E.ld(m)
    more, save_body = E.block("save_more"), E.block("save_body")
    b.cbranch(b.icmp_signed("<", mv, nsave), more, out_done)
    b.position_at_end(more)
    ta = E.ld_dyn(saveat, mv)
    b.cbranch(E.le(ta, t_new), save_body, out_done)
    b.position_at_end(save_body)
    E.st_dyn(ta, ts, mv)
    row = b.mul(mv, _i(n))
    exact, interp, saved = E.block("save_exact"), E.block("save_interp"), E.block("saved")
    b.cbranch(b.fcmp_ordered("==", ta, t_new), exact, interp)
    b.position_at_end(exact)
    for k in range(n):
        E.st_dyn(E.ld(unew, k), us, b.add(row, _i(k)))
    b.branch(saved)
    b.position_at_end(interp)
    if s < s_total:
        extra, have = E.block("extra_stages"), E.block("have_dense")
        b.cbranch(E.ld(dense_ready), have, extra)
        b.position_at_end(extra)
        for i in range(s, s_total):
            stage_input(i, hv, ytmp)
            call_rhs(E.add(tv, E.mul(_c(c[i]), hv)), ytmp, K[i])
        E.incr(counters["NFEV"], s_total - s)
        E.st(ir.Constant(ir.IntType(1), 1), dense_ready)
        b.branch(have)
        b.position_at_end(have)
    theta = E.div(E.sub(ta, tv), hv)
    weights = []
    for i in range(s_total):
        if np.any(dense[i] != 0.0):
            acc, pw = _c(0.0), theta
            for j in range(dense.shape[1]):
                acc = E.add(acc, E.mul(_c(dense[i, j]), pw))
                pw = E.mul(pw, theta)
            weights.append((i, E.mul(hv, acc)))
    for k in range(n):
        acc = E.ld(u, k)
        for i, w in weights:
            acc = E.add(acc, E.mul(w, E.ld(K[i], k)))
        E.st_dyn(acc, us, b.add(row, _i(k)))
    b.branch(saved)
    b.position_at_end(saved)
    E.st(b.add(mv, _i(1)), m)
    b.branch(saveat_blk)

    # --- accepted step: stiffness test, advance, next step size ------------------------------------
    b.position_at_end(out_done)
    if s >= 2:
        test_blk, tested = E.block("stiff_test"), E.block("stiff_tested")
        b.cbranch(E.gt(stiff_bound, _c(0.0)), test_blk, tested)
        b.position_at_end(test_blk)
        num = den_s = _c(0.0)
        for k in range(n):
            dk = E.sub(E.ld(K[s - 1], k), E.ld(K[s - 2], k))
            num = E.add(num, E.mul(dk, dk))
            dy = E.sub(E.ld(unew, k), E.ld(ysti, k))
            den_s = E.add(den_s, E.mul(dy, dy))
        stiff = b.and_(E.gt(den_s, _c(0.0)), E.gt(E.mul(hv, E.sqrt(E.div(num, den_s))), stiff_bound))
        hit, calm, calm_reset = E.block("stiff_hit"), E.block("stiff_calm"), E.block("stiff_reset")
        b.cbranch(stiff, hit, calm)
        b.position_at_end(hit)
        E.st(_i(0), nonstiff_run)
        E.incr(stiff_hits)
        b.branch(tested)
        b.position_at_end(calm)
        E.incr(nonstiff_run)
        b.cbranch(b.icmp_signed("==", E.ld(nonstiff_run), _i(C["NONSTIFF_RESET"])), calm_reset, tested)
        b.position_at_end(calm_reset)
        E.st(_i(0), stiff_hits)
        b.branch(tested)
        b.position_at_end(tested)
    copy(u, unew)
    E.st(t_new, t)
    if spec.fsal:
        copy(K[0], K[s - 1])
    else:
        call_rhs(t_new, u, K[0])
        E.incr(counters["NFEV"])
    E.incr(counters["NACCEPT"])
    # the PI controller (control.pi_factor), only when adaptive
    if spec.beta != 0.0:
        fac = E.mul(E.mul(_c(C["SAFETY"]), E.pow(errn, _c(-(1.0 / spec.q - 0.75 * spec.beta)))),
                    E.pow(E.ld(errold), _c(spec.beta)))
    else:
        fac = E.mul(_c(C["SAFETY"]), E.pow(errn, _c(-(1.0 / spec.q - 0.75 * spec.beta))))
    fac = b.select(b.fcmp_ordered("==", errn, _c(0.0)), _c(C["FACMAX"]), fac)
    fac = E.min(_c(C["FACMAX"]), E.max(_c(C["FACMIN"]), fac))
    fac = b.select(b.icmp_signed("!=", E.ld(rejected), _i(0)), E.min(fac, _c(1.0)), fac)
    E.st(b.select(adaptive, E.mul(hv, fac), hv), h)
    E.st(b.select(adaptive, E.max(errn, _c(C["ERROLD_MIN"])), E.ld(errold)), errold)
    E.st(_i(0), rejected)
    stop_if(b.and_(b.icmp_signed(">=", E.ld(stiff_hits), _i(C["STIFF_HITS"])), E.lt(t_new, tf)), X["STIFF"],
            "stiff")
    b.branch(head)

    # --- exit: store the state ---------------------------------------------------------------------
    b.position_at_end(exit_blk)
    for k in range(n):
        E.st(E.ld(u, k), u_out, k)
        E.st(E.ld(K[0], k), k0_io, k)
    for key, slot in (("t", t), ("h", h), ("errold", errold)):
        E.st(E.ld(slot), E.at(fargs, F[key]))
    for key, slot in (("m", m), ("rejected", rejected), ("last_nonfinite", last_nf), ("stiff_hits", stiff_hits),
                      ("nonstiff_run", nonstiff_run)):
        E.st(E.ld(slot), E.at(iargs, I[key]))
    for key, slot in counters.items():
        E.st(E.ld(slot), E.at(stats_p, X[key]))
    b.ret(E.ld(status))
    return fn


def first_step(E, call_rhs, n, u, f0, ytmp, work, atol, rtol, t0, tf, h_init, order, nfev):
    """Emit the first step size: ``h_init`` if positive, else Hairer's starting step (HNW I,
    Sec. II.4; :func:`symdyn.solvers.control.initial_step`, one right-hand side call into
    ``work``, counted in the int64 slot ``nfev``).  Returns the value, in the block where the emission continues."""
    b = E.b
    given, hairer, h_done = E.block("h_given"), E.block("h_hairer"), E.block("h_done")
    h_slot = E.var(DOUBLE, "h_first")
    b.cbranch(E.gt(h_init, _c(0.0)), given, hairer)
    b.position_at_end(given)
    E.st(h_init, h_slot)
    b.branch(h_done)
    b.position_at_end(hairer)
    d0 = d1 = _c(0.0)
    scs = []
    for k in range(n):
        sck = E.add(atol[k], E.mul(rtol, E.fabs(E.ld(u, k))))
        scs.append(sck)
        r0 = E.div(E.ld(u, k), sck)
        r1 = E.div(E.ld(f0, k), sck)
        d0 = E.add(d0, E.mul(r0, r0))
        d1 = E.add(d1, E.mul(r1, r1))
    d0 = E.sqrt(E.div(d0, _c(n)))
    d1 = E.sqrt(E.div(d1, _c(n)))
    tiny = b.or_(E.lt(d0, _c(1e-5)), E.lt(d1, _c(1e-5)))
    h0 = b.select(tiny, _c(1e-6), E.div(E.mul(_c(0.01), d0), d1))
    span = E.sub(tf, t0)
    h0 = E.min(h0, span)
    for k in range(n):
        E.st(E.add(E.ld(u, k), E.mul(h0, E.ld(f0, k))), ytmp, k)
    call_rhs(E.add(t0, h0), ytmp, work)
    E.incr(nfev)
    d2 = _c(0.0)
    for k in range(n):
        r = E.div(E.sub(E.ld(work, k), E.ld(f0, k)), scs[k])
        d2 = E.add(d2, E.mul(r, r))
    d2 = E.div(E.sqrt(E.div(d2, _c(n))), h0)
    dmax = E.max(d1, d2)
    h1 = b.select(E.le(dmax, _c(1e-15)), E.max(_c(1e-6), E.mul(h0, _c(1e-3))),
                  E.pow(E.div(_c(0.01), dmax), _c(1.0 / (order + 1))))
    h_hairer = E.min(E.min(E.mul(_c(100.0), h0), h1), span)
    E.st(b.select(E.finite(d2), h_hairer, E.mul(h0, _c(1e-3))), h_slot)
    b.branch(h_done)
    b.position_at_end(h_done)
    return E.ld(h_slot)
