"""A Rosenbrock time loop emitted as LLVM IR next to a small model's right-hand side and Jacobian.

The counterpart of :mod:`codegen.erk` for :func:`symdyn.solvers.rosenbrock._steps` (dense
Jacobian path): the same statements in the same order, no fast-math flags, so the numbers are
the numba stepper's.  What changes is the form: the tableau's coefficients are constants, every
loop over states, stages and matrix entries is unrolled, the model's ``rhs`` and ``jac_csc``
(CSC values of the Jacobian's structural nonzeros, pattern given here) are inlined, ``W`` is
assembled from the CSC values at constant positions, and the LU with partial pivoting
(:func:`symdyn.solvers.linalg.lu_factor`, Golub & Van Loan Alg. 3.4.1) is unrolled with the row
interchanges as the only run-time indices.

Signature and protocol as in :mod:`codegen.erk` (``k0`` holds ``f(t, u)``); the slots are
:data:`F_SLOTS` and :data:`I_SLOTS`.

>>> import llvmlite.ir as ir, numpy as np
>>> from codegen.erk import DEFAULT_CONSTANTS
>>> from codegen.signatures import FUNCTION_TYPE
>>> m = ir.Module("doc")
>>> rhs, jac = ir.Function(m, FUNCTION_TYPE, "rhs"), ir.Function(m, FUNCTION_TYPE, "jac_csc")
>>> spec = RosenbrockSpec(A=np.zeros((1, 1)), C=np.zeros((1, 1)), gamma=1.0, c=np.zeros(1),
...     d=np.ones(1), b=np.ones(1), e=np.zeros(1), dense=np.ones((1, 1)), q=2.0,
...     constants={**DEFAULT_CONSTANTS, **ROSENBROCK_CONSTANTS}, codes=DEFAULT_CODES)
>>> build_rosenbrock(m, "euler", rhs, jac, 1, np.array([0, 1]), np.array([0]), spec).name
'euler'
"""
from __future__ import annotations

from dataclasses import dataclass

import llvmlite.ir as ir
import numpy as np

from .lu_ir import RealField, lu_factor, lu_solve
from .sparse_lu_ir import SparseLU, sparse_lu_factor, sparse_lu_solve
from .loop_ir import (COMMON_F_SLOTS, COMMON_I_SLOTS, begin_loop, const as _c, counter_vars, failure_code,
                      first_step, iconst as _i, increment_interpolant, loop_head, predictive_step,
                      record_step, records_full, retry_smaller, save_output, state_vars, store_state)
from .signatures import DOUBLE, I64

F_SLOTS = COMMON_F_SLOTS + ("jnorm", "hacc", "erracc")
I_SLOTS = COMMON_I_SLOTS + ("autonomous", "rejected", "first", "last_failure", "nonstiff_run")
F = {name: i for i, name in enumerate(F_SLOTS)}
I = {name: i for i, name in enumerate(I_SLOTS)}  # noqa: E741

#: the Rosenbrock stepper's own constants (:mod:`symdyn.solvers.rosenbrock` and the predictive
#: controller of :mod:`symdyn.solvers.control`); the solver passes its values
ROSENBROCK_CONSTANTS = dict(FAC_SINGULAR=0.25, CBRT_EPS=float(np.finfo(float).eps) ** (1.0 / 3.0),
                            NONSTIFF_STEPS=25, PRED_FACMIN=0.2, PRED_FACMAX=8.0, ERRACC_MIN=1e-2)
DEFAULT_CODES = dict(SUCCESS=0, MAX_STEPS=1, STEP_SIZE_TOO_SMALL=2, NON_FINITE=3, LINEAR_SOLVE_FAILED=4,
                     NONSTIFF=101, BUFFER_FULL=-1, NEEDS_PIVOTING=102, NFEV=0, NJEV=1, NSTEPS=2, NACCEPT=3, NREJECT=4, NLU=5)


@dataclass(frozen=True)
class RosenbrockSpec:
    """A Rosenbrock method in the transformed form of :class:`symdyn.solvers.tableaus.RosenbrockTableau`
    (``A``, ``C``, ``gamma``, ``c``, ``d``, ``b``, ``e``, ``dense`` polynomials, error exponent
    ``q``) and the solver's constants and codes."""

    A: np.ndarray
    C: np.ndarray
    gamma: float
    c: np.ndarray
    d: np.ndarray
    b: np.ndarray
    e: np.ndarray
    dense: np.ndarray
    q: float
    constants: dict
    codes: dict


def build_rosenbrock(module: ir.Module, name: str, rhs: ir.Function, jac_csc: ir.Function, n: int,
                     indptr: np.ndarray, indices: np.ndarray, spec: RosenbrockSpec,
                     sparse: SparseLU | None = None, pivot_fallback: bool = False) -> ir.Function:
    """Emit the time loop of ``spec``'s method for ``n`` states; ``jac_csc`` writes the Jacobian's
    values in the CSC order of ``indptr``/``indices``.  With ``sparse`` (a plan of
    :func:`codegen.sparse_lu_ir.plan_sparse_lu` for that pattern) ``W`` is factored by the sparse
    LU with static pivots, and a matrix failing its threshold test stops the loop with
    ``NEEDS_PIVOTING`` -- or, with ``pivot_fallback``, is factored by the dense LU instead (for
    small ``n``: both are emitted, and each solve takes the one that factored ``W``); without
    ``sparse``, the dense LU with partial pivoting (numba's numbers).  Returns the function."""
    A, Cm = np.asarray(spec.A, float), np.asarray(spec.C, float)
    c, d = np.asarray(spec.c, float), np.asarray(spec.d, float)
    bw, ew, dense = np.asarray(spec.b, float), np.asarray(spec.e, float), np.asarray(spec.dense, float)
    gamma, q = float(spec.gamma), float(spec.q)
    s = bw.shape[0]
    K, X = spec.constants, spec.codes
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    nnz = int(indptr[-1])

    E, a = begin_loop(module, name, n, F, I)
    b = E.b
    R = RealField(E)
    fn, fargs, iargs, u_out, p, fx_io, saveat, ts, us, stats_p = (E.fn, a.fargs, a.iargs, a.u_out, a.p, a.k0,
                                                                  a.saveat, a.ts, a.us, a.stats)
    t0, tf, rtol, nonstiff_bound, nsave, cap = a.t0, a.tf, a.rtol, a.bound, a.nsave, a.cap
    save_steps, max_steps, adaptive, atol = a.save_steps, a.max_steps, a.adaptive, a.atol
    autonomous = a.flag("autonomous")
    one_bit = ir.Constant(ir.IntType(1), 1)

    U = [E.array(n, f"U{i}") for i in range(s)]
    u, unew, ytmp, fx, dT, Ui = (E.array(n, nm) for nm in ("u", "unew", "ytmp", "fx", "dT", "Ui"))
    vals = E.array(max(nnz, 1), "jvals")
    dense_lu = sparse is None or pivot_fallback
    if dense_lu:
        W = E.array(n * n, "W")  # W[col*n + row], column-major like numba's W[col, row]
        piv = [E.var(I64, f"piv{k}") for k in range(n)]
    if sparse is not None:
        factors = E.array(max(sparse.size, 1), "LU")
        pivoted = E.var(ir.IntType(1), "pivoted", ir.Constant(ir.IntType(1), 0))  # W's factors: dense
    counters = counter_vars(E, stats_p, X, ("NFEV", "NJEV", "NSTEPS", "NACCEPT", "NREJECT", "NLU"))
    for k in range(n):
        E.st(E.ld(u_out, k), u, k)
        E.st(_c(0.0), dT, k)  # numba's np.zeros: used unset on autonomous problems only with d = 0
    fv = state_vars(E, fargs, F, ("t", "h", "jnorm", "hacc", "erracc"), DOUBLE)
    iv = state_vars(E, iargs, I, ("m", "nrec", "rejected", "first", "last_failure", "nonstiff_run"), I64)
    t, h, jnorm, hacc, erracc = (fv[k] for k in ("t", "h", "jnorm", "hacc", "erracc"))
    m, rejected, first, last_failure, nonstiff_run = (iv[k] for k in ("m", "rejected", "first", "last_failure",
                                                                      "nonstiff_run"))
    need_jac = E.var(ir.IntType(1), "need_jac", one_bit)  # (a resumed call always follows an accepted step)
    last = E.var(ir.IntType(1), "last")
    head = E.block("head")

    def call(fn_, tv, y, out):
        b.call(fn_, [tv, E.at(y, 0), p, E.at(out, 0)])

    def w_at(col, row):  # pointer to W[col, row]; row may be a run-time index
        return E.at(W, E.index(col * n, row))

    # --- first call: f(t0, u0) and the first step ----------------------------------------------
    init_blk, load_blk = E.block("init"), E.block("load_state")
    b.cbranch(b.icmp_signed("==", E.ld(iargs, I["resume"]), _i(0)), init_blk, load_blk)
    b.position_at_end(init_blk)
    call(rhs, t0, u, fx)
    E.incr(counters["NFEV"])
    good0 = E.block("init_step")
    b.cbranch(E.all_finite(fx, n), good0, E.stop(X["NON_FINITE"], "init_nonfinite"))
    b.position_at_end(good0)
    h_first = first_step(E, lambda tv, y, out: call(rhs, tv, y, out), n, u, fx, ytmp, unew, atol, rtol, t0, tf,
                         E.ld(fargs, F["h_init"]), q - 1.0, counters["NFEV"])
    hv0 = E.min(h_first, E.sub(tf, t0))
    E.st(hv0, h)
    E.st(hv0, hacc)  # the numba entry's fstate = [t0, h, 0, h, 1]
    b.branch(head)
    b.position_at_end(load_blk)
    for k in range(n):
        E.st(E.ld(fx_io, k), fx, k)
    b.branch(head)

    # --- loop head ---------------------------------------------------------------------------------
    b.position_at_end(head)
    tv, hv = loop_head(E, t, h, t0, tf, last, adaptive, save_steps, m, cap, counters["NSTEPS"], max_steps,
                       failure_code(E, last_failure), K, records_full=records_full(E, a, iv["nrec"]))

    # --- the Jacobian (after an accepted step), df/dt, ||J||_inf --------------------------------------
    jac_blk, jac_done = E.block("jacobian"), E.block("jacobian_done")
    b.cbranch(E.ld(need_jac), jac_blk, jac_done)
    b.position_at_end(jac_blk)
    call(jac_csc, tv, u, vals)
    E.incr(counters["NJEV"])
    dt_blk, dt_done = E.block("dfdt"), E.block("dfdt_done")
    b.cbranch(autonomous, dt_done, dt_blk)
    b.position_at_end(dt_blk)
    delta = E.mul(_c(K["CBRT_EPS"]), E.max(E.fabs(tv), E.min(_c(1.0), E.sub(tf, t0))))
    call(rhs, E.add(tv, delta), u, dT)
    call(rhs, E.sub(tv, delta), u, ytmp)
    E.incr(counters["NFEV"], 2)
    two_delta = E.mul(_c(2.0), delta)
    for k in range(n):
        E.st(E.div(E.sub(E.ld(dT, k), E.ld(ytmp, k)), two_delta), dT, k)
    b.branch(dt_done)
    b.position_at_end(dt_done)
    rows = [[] for _ in range(n)]  # row r: its CSC slots in column order
    for col in range(n):
        for k in range(indptr[col], indptr[col + 1]):
            rows[indices[k]].append(int(k))
    jn = _c(0.0)
    for r in range(n):
        acc = _c(0.0)
        for k in rows[r]:
            acc = E.add(acc, E.fabs(E.ld(vals, k)))
        jn = E.max(jn, acc)
    E.st(jn, jnorm)
    E.st(ir.Constant(ir.IntType(1), 0), need_jac)
    b.branch(jac_done)

    # --- W = I/(h gamma) - J and its LU --------------------------------------------------------------
    b.position_at_end(jac_done)
    dtgam = E.div(_c(1.0), E.mul(hv, _c(gamma)))
    where = {}
    for col in range(n):
        for k in range(indptr[col], indptr[col + 1]):
            where[(col, int(indices[k]))] = int(k)
    E.incr(counters["NLU"])
    lu_ok = E.block("lu_ok")
    lu_bad = retry_smaller(E, counters["NREJECT"], [(last_failure, 2), (rejected, 1)], adaptive,
                           X["LINEAR_SOLVE_FAILED"], "singular", h, K["FAC_SINGULAR"], head)
    def dense_factor():
        for col in range(n):
            for r in range(n):
                k = where.get((col, r))
                v = b.fneg(E.ld(vals, k)) if k is not None else _c(-0.0)  # numba: W = -J, J's zeros included
                if r == col:
                    v = E.add(v, dtgam)
                E.st(v, w_at(col, r))
        lu_factor(E, R, w_at, n, piv, lu_bad)

    if sparse is None:
        dense_factor()
        b.branch(lu_ok)
    else:
        def w_value(r, col):  # W[r, col]; None off the pattern (the LU's fill starts at zero)
            k = where.get((col, r))
            v = b.fneg(E.ld(vals, k)) if k is not None else (_c(-0.0) if r == col else None)
            return E.add(v, dtgam) if r == col else v

        unstable = E.block("needs_pivoting") if pivot_fallback else E.stop(X["NEEDS_PIVOTING"], "needs_pivoting")
        sparse_lu_factor(E, R, sparse, w_value, lambda k: E.at(factors, k), lu_bad, unstable)
        E.st(ir.Constant(ir.IntType(1), 0), pivoted)
        b.branch(lu_ok)
        if pivot_fallback:  # static pivots unstable for this W: partial pivoting
            b.position_at_end(unstable)
            dense_factor()
            E.st(one_bit, pivoted)
            b.branch(lu_ok)

    # --- the stages ------------------------------------------------------------------------------
    b.position_at_end(lu_ok)

    def dense_solve(x):
        lu_solve(E, R, w_at, n, [E.ld(piv[k]) for k in range(n)], lambda k: E.at(x, k))

    def lu_solve_in(x):
        if sparse is None:
            dense_solve(x)
            return
        if pivot_fallback:
            by_dense, by_sparse, solved = E.block("solve_dense"), E.block("solve_sparse"), E.block("solved")
            b.cbranch(E.ld(pivoted), by_dense, by_sparse)
            b.position_at_end(by_dense)
            dense_solve(x)
            b.branch(solved)
            b.position_at_end(by_sparse)
        sparse_lu_solve(E, R, sparse, lambda k: E.at(factors, k), lambda k: E.at(x, k))
        if pivot_fallback:
            b.branch(solved)
            b.position_at_end(solved)

    for i in range(s):
        if i == 0:
            for k in range(n):
                E.st(E.ld(fx, k), Ui, k)
        else:
            for k in range(n):
                acc = E.ld(u, k)
                for j in range(i):
                    acc = E.add(acc, E.mul(_c(A[i, j]), E.ld(U[j], k)))
                E.st(acc, ytmp, k)
            call(rhs, E.add(tv, E.mul(_c(c[i]), hv)), ytmp, Ui)
            weights = [E.div(_c(Cm[i, j]), hv) for j in range(i)]
            for k in range(n):
                acc = E.ld(Ui, k)
                for j in range(i):
                    acc = E.add(acc, E.mul(weights[j], E.ld(U[j], k)))
                E.st(acc, Ui, k)
        if d[i] != 0.0:
            add_dt, added = E.block(f"dt_term{i}"), E.block(f"dt_term{i}_done")
            b.cbranch(autonomous, added, add_dt)
            b.position_at_end(add_dt)
            hd = E.mul(hv, _c(d[i]))
            for k in range(n):
                E.st(E.add(E.ld(Ui, k), E.mul(hd, E.ld(dT, k))), Ui, k)
            b.branch(added)
            b.position_at_end(added)
        lu_solve_in(Ui)
        for k in range(n):
            E.st(E.ld(Ui, k), U[i], k)
    E.incr(counters["NFEV"], s - 1)

    ss = _c(0.0)
    finite = None
    for k in range(n):
        acc, acce = _c(0.0), _c(0.0)
        for i in range(s):
            Uik = E.ld(U[i], k)
            acc = E.add(acc, E.mul(_c(bw[i]), Uik))
            acce = E.add(acce, E.mul(_c(ew[i]), Uik))
        uk = E.ld(u, k)
        un = E.add(uk, acc)
        E.st(un, unew, k)
        sc = E.add(atol[k], E.mul(rtol, E.max(E.fabs(uk), E.fabs(un))))
        r = E.div(acce, sc)
        ss = E.add(ss, E.mul(r, r))
        fk = E.finite(un)
        finite = fk if finite is None else b.and_(finite, fk)
    errn = b.select(adaptive, E.sqrt(E.div(ss, _c(n))), _c(0.0))

    def nonfinite(name):
        return retry_smaller(E, counters["NREJECT"], [(last_failure, 1), (rejected, 1)], adaptive, X["NON_FINITE"],
                             name, h, K["FAC_NONFINITE"], head)

    checked = E.block("finite")
    b.cbranch(b.and_(E.finite(errn), finite), checked, nonfinite("nonfinite"))
    b.position_at_end(checked)
    accept_blk, reject_blk = E.block("accept"), E.block("reject")
    b.cbranch(b.or_(E.le(errn, _c(1.0)), b.not_(adaptive)), accept_blk, reject_blk)

    b.position_at_end(reject_blk)
    E.incr(counters["NREJECT"])
    E.st(_i(1), rejected)
    E.st(_i(0), last_failure)
    E.st(E.mul(E.ld(h), E.max(_c(K["FACMIN"]), E.mul(_c(K["SAFETY"]), E.pow(errn, _c(-1.0 / q))))), h)
    b.branch(head)

    # --- accepted: f at the new point first (a NaN there rejects the step) ---------------------------
    b.position_at_end(accept_blk)
    t_new = b.select(E.ld(last), tf, E.add(tv, hv))
    call(rhs, t_new, unew, ytmp)
    E.incr(counters["NFEV"])
    ok_blk = E.block("accepted")
    b.cbranch(E.all_finite(ytmp, n), ok_blk, nonfinite("nonfinite_new"))
    b.position_at_end(ok_blk)
    E.st(_i(0), last_failure)

    interpolate = increment_interpolant(E, n, u, U, dense, tv, hv)
    save_output(E, n, save_steps, m, ts, us, nsave, saveat, t_new, unew, interpolate)
    record_step(E, a, iv["nrec"], n, tv, hv, u, U)  # (dense=True)
    for k in range(n):
        E.st(E.ld(unew, k), u, k)
        E.st(E.ld(ytmp, k), fx, k)
    E.st(t_new, t)
    E.st(one_bit, need_jac)
    E.incr(counters["NACCEPT"])
    fac = predictive_step(E, errn, q, hv, hacc, erracc, first, rejected, K)
    test_blk, tested = E.block("nonstiff_test"), E.block("nonstiff_tested")
    b.cbranch(E.gt(nonstiff_bound, _c(0.0)), test_blk, tested)
    b.position_at_end(test_blk)
    calm = E.lt(E.mul(hv, E.ld(jnorm)), nonstiff_bound)
    run = b.select(calm, b.add(E.ld(nonstiff_run), _i(1)), _i(0))
    E.st(run, nonstiff_run)
    handback = b.and_(b.icmp_signed(">=", run, _i(K["NONSTIFF_STEPS"])), E.lt(t_new, tf))
    b.cbranch(handback, E.stop(X["NONSTIFF"], "nonstiff"), tested)
    b.position_at_end(tested)
    E.st(b.select(adaptive, E.mul(hv, fac), hv), h)
    b.branch(head)

    store_state(E, n, [(u, u_out), (fx, fx_io)], [(fv, fargs, F), (iv, iargs, I)], counters, stats_p)
    return fn
