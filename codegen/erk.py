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
              const double *atol, const double *saveat, double *ts, double *us, int64 *stats,
              double *rec)

``fargs``/``iargs`` hold the scalar arguments and the loop state (layouts :data:`F_SLOTS`,
:data:`I_SLOTS`); ``u`` is the state (start value in, reached value out); ``k0`` the slope
at ``u`` (written on exit, read on a resumed call); ``us`` is ``(cap, n)`` row-major; with
``keep_dense`` set, ``rec`` receives a row ``t, h, u, K_1 .. K_s`` per accepted step (``rcap``
rows; a full buffer is a ``BUFFER_FULL`` too), the step records of ``dense=True``.

codegen knows nothing of solvers: the caller passes the tableau, the step-size constants and
the status and counter codes (:class:`ERKSpec`).

>>> import llvmlite.ir as ir, numpy as np
>>> from codegen.signatures import FUNCTION_TYPE
>>> spec = ERKSpec(A=np.array([[0.0]]), c=np.array([0.0]), b=np.array([1.0]), e=np.zeros(1),
...                e2=np.zeros(1), dense=np.ones((1, 1)), fsal=False, order=1, q=1.0, beta=0.0,
...                constants=DEFAULT_CONSTANTS, codes=DEFAULT_CODES)
>>> m = ir.Module("doc")
>>> rhs = ir.Function(m, FUNCTION_TYPE, "rhs")
>>> build_erk(m, "euler", rhs, 2, spec).name
'euler'
"""
from __future__ import annotations

from dataclasses import dataclass

import llvmlite.ir as ir
import numpy as np

from .loop_ir import (COMMON_F_SLOTS, COMMON_I_SLOTS, begin_loop, const as _c, counter_vars, first_step, iconst as _i,
                      loop_head, record_step, records_full, retry_smaller, save_output, state_vars, store_state)
from .signatures import DOUBLE, I64

#: slots of ``fargs``: inputs, then the loop state carried between calls
F_SLOTS = COMMON_F_SLOTS + ("errold",)
#: slots of ``iargs``
I_SLOTS = COMMON_I_SLOTS + ("rejected", "last_nonfinite", "stiff_hits", "nonstiff_run")
F = {name: i for i, name in enumerate(F_SLOTS)}
I = {name: i for i, name in enumerate(I_SLOTS)}  # noqa: E741

#: the step-size constants of :mod:`symdyn.solvers.control` (the solver passes its own)
DEFAULT_CONSTANTS = dict(SAFETY=0.9, FACMIN=0.2, FACMAX=10.0, FAC_NONFINITE=0.1, ERROLD_MIN=1e-4,
                         HMIN_ULPS=16.0, HMIN_SPAN=1e-10, EPS=float(np.finfo(np.float64).eps),
                         STIFF_HITS=15, NONSTIFF_RESET=6)
#: status codes and counter slots of :mod:`symdyn.solvers._status` (the solver passes its own)
DEFAULT_CODES = dict(SUCCESS=0, MAX_STEPS=1, STEP_SIZE_TOO_SMALL=2, NON_FINITE=3, STIFF=100,
                     BUFFER_FULL=-1, NFEV=0, NSTEPS=2, NACCEPT=3, NREJECT=4)

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

    E, a = begin_loop(module, name, n, F, I)
    b = E.b
    fn, fargs, iargs, u_out, p, k0_io, saveat, ts, us, stats_p = (E.fn, a.fargs, a.iargs, a.u_out, a.p, a.k0,
                                                                  a.saveat, a.ts, a.us, a.stats)
    t0, tf, rtol, stiff_bound, nsave, cap = a.t0, a.tf, a.rtol, a.bound, a.nsave, a.cap
    save_steps, max_steps, adaptive, atol = a.save_steps, a.max_steps, a.adaptive, a.atol

    # work arrays (registers after SROA: every index below is a constant)
    K = [E.array(n, f"K{i}") for i in range(s_total)]
    u = E.array(n, "u")
    unew = E.array(n, "unew")
    ytmp = E.array(n, "ytmp")
    ysti = E.array(n, "ysti")
    counters = counter_vars(E, stats_p, X, ("NFEV", "NSTEPS", "NACCEPT", "NREJECT"))
    for k in range(n):
        E.st(E.ld(u_out, k), u, k)
    # the loop state (the caller's values: t = t0, h = 0, errold = ERROLD_MIN, m = saved points,
    # zeros on a first call)
    fv = state_vars(E, fargs, F, ("t", "h", "errold"), DOUBLE)
    iv = state_vars(E, iargs, I, ("m", "nrec", "rejected", "last_nonfinite", "stiff_hits", "nonstiff_run"), I64)
    nrec = iv["nrec"]
    t, h, errold = fv["t"], fv["h"], fv["errold"]
    m, rejected, last_nf, stiff_hits, nonstiff_run = (iv[k] for k in ("m", "rejected", "last_nonfinite",
                                                                       "stiff_hits", "nonstiff_run"))
    last = E.var(ir.IntType(1), "last")
    head = E.block("head")

    def call_rhs(tv, y, out):
        b.call(rhs, [tv, E.at(y, 0), p, E.at(out, 0)])

    def copy(dst, src_):
        for k in range(n):
            E.st(E.ld(src_, k), dst, k)

    def stage_input(i, t_h, out):
        """out = u + h * sum_{j<i} A[i, j] K[j]."""
        for k in range(n):
            acc = E.combo(A[i, :i], K[:i], k)
            uk = E.ld(u, k)
            E.st(uk if acc is None else E.add(uk, E.mul(t_h, acc)), out, k)

    # --- first call: the slope at u0 and the first step (Hairer) ---------------------------------
    init_blk, load_blk = E.block("init"), E.block("load_state")
    b.cbranch(b.icmp_signed("==", E.ld(iargs, I["resume"]), _i(0)), init_blk, load_blk)
    b.position_at_end(init_blk)
    call_rhs(t0, u, K[0])
    E.incr(counters["NFEV"])
    good0 = E.block("init_step")
    b.cbranch(E.all_finite(K[0], n), good0, E.stop(X["NON_FINITE"], "init_nonfinite"))
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
    small_code = b.select(b.icmp_signed("!=", E.ld(last_nf), _i(0)), _i(X["NON_FINITE"]), _i(X["STEP_SIZE_TOO_SMALL"]))
    tv, hv = loop_head(E, t, h, t0, tf, last, adaptive, save_steps, m, cap, counters["NSTEPS"], max_steps, small_code,
                       C, records_full=records_full(E, a, nrec))

    # --- the stages --------------------------------------------------------------------------
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
        sck = E.add(atol[k], E.mul(rtol, E.max(E.fabs(E.ld(u, k)), E.fabs(E.ld(unew, k)))))
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
    finite_blk = E.block("finite")
    b.cbranch(finite, finite_blk, retry_smaller(E, counters["NREJECT"], [(last_nf, 1), (rejected, 1)], adaptive,
                                                X["NON_FINITE"], "nonfinite", h, C["FAC_NONFINITE"], head))
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

    def ensure_dense():  # explicit._extra_stages, once per step, when the interpolant needs them
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

    def interpolate(ta):  # explicit.interpolate, with the extra stages the interpolant needs first
        ensure_dense()
        theta = E.div(E.sub(ta, tv), hv)
        weights = []
        for i in range(s_total):
            if np.any(dense[i] != 0.0):
                acc, pw = _c(0.0), theta
                for j in range(dense.shape[1]):
                    acc = E.add(acc, E.mul(_c(dense[i, j]), pw))
                    pw = E.mul(pw, theta)
                weights.append((i, E.mul(hv, acc)))
        values = []
        for k in range(n):
            acc = E.ld(u, k)
            for i, w in weights:
                acc = E.add(acc, E.mul(w, E.ld(K[i], k)))
            values.append(acc)
        return values

    save_output(E, n, save_steps, m, ts, us, nsave, saveat, t_new, unew, interpolate)

    record_step(E, a, nrec, n, tv, hv, u, K, before=ensure_dense)  # (dense=True)

    # --- accepted step: stiffness test, advance, next step size ------------------------------------
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
    fac = E.mul(_c(C["SAFETY"]), E.pow(errn, _c(-(1.0 / spec.q - 0.75 * spec.beta))))
    if spec.beta != 0.0:
        fac = E.mul(fac, E.pow(E.ld(errold), _c(spec.beta)))
    fac = b.select(b.fcmp_ordered("==", errn, _c(0.0)), _c(C["FACMAX"]), fac)
    fac = E.min(_c(C["FACMAX"]), E.max(_c(C["FACMIN"]), fac))
    fac = b.select(b.icmp_signed("!=", E.ld(rejected), _i(0)), E.min(fac, _c(1.0)), fac)
    E.st(b.select(adaptive, E.mul(hv, fac), hv), h)
    E.st(b.select(adaptive, E.max(errn, _c(C["ERROLD_MIN"])), E.ld(errold)), errold)
    E.st(_i(0), rejected)
    E.stop_if(b.and_(b.icmp_signed(">=", E.ld(stiff_hits), _i(C["STIFF_HITS"])), E.lt(t_new, tf)), X["STIFF"],
              "stiff")
    b.branch(head)

    store_state(E, n, [(u, u_out), (K[0], k0_io)], [(fv, fargs, F), (iv, iargs, I)], counters, stats_p)
    return fn
