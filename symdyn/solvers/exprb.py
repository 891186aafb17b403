"""Adaptive exponential Rosenbrock methods (``exprb32``, ``exprb43``) with Krylov phi-products.

An exponential Rosenbrock method linearises around the current state at every step
(M. Hochbruck, A. Ostermann and J. Schweitzer, "Exponential Rosenbrock-type methods",
*SIAM J. Numer. Anal.* 47(1) (2009) 786--803; M. Hochbruck and A. Ostermann, "Exponential
integrators", *Acta Numerica* 19 (2010) 209--286, Sec. 2.4):

    J_n = df/du(t_n, u_n),   v_n = df/dt(t_n, u_n),   g_n(t, u) = f(t, u) - J_n u - v_n t,
    U_i     = u_n + c_i h phi_1(c_i h J_n) f_n + (c_i h)^2 phi_2(c_i h J_n) v_n
                  + h sum_{j<i} a_ij(h J_n) D_j,
    u_{n+1} = u_n + h phi_1(h J_n) f_n + h^2 phi_2(h J_n) v_n + h sum_j b_j(h J_n) D_j,
    D_j     = g_n(t_n + c_j h, U_j) - g_n(t_n, u_n)
            = f(t_n + c_j h, U_j) - f_n - J_n (U_j - u_n) - c_j h v_n,

with ``a_ij(z) = sum_k A[i, j, k] phi_k(c_i z)`` and ``b_j(z) = sum_k B[j, k] phi_k(z)``.  The
method is exact for linear autonomous problems (all ``D_j`` vanish).  Non-autonomous problems
are handled as if ``t`` were an extra state ``t' = 1``: the augmented Jacobian is
``[[J, v], [0, 0]]``, which is where the ``phi_2 v_n`` and ``c_j h v_n`` terms come from;
``v_n`` is a central difference of ``rhs`` in ``t`` (as in :mod:`.rosenbrock`, two extra calls per
step) unless the caller says the problem is autonomous.

Methods are data (:class:`ExpRosenbrockTableau`, which checks the stiff order conditions of
Hochbruck--Ostermann--Schweitzer for itself); one stepper (:func:`exprb_kernel`) runs them.
Every phi-product comes from one call of :func:`.krylov.phipm` on the sparse Jacobian (CSC
values from the ``jac_csc`` address), written as ``sum_k T^k phi_k(T J) b_k`` with
``T = c_i h``: ``b_1 = f_n``, ``b_2 = v_n``, and ``b_k += A[i, j, k] h^(1-k) c_i^(-k) D_j``.
Per step: the stages (``s - 1`` phi-calls and right-hand side calls), the propagated solution
from the last stage with ``c = 1`` plus one phi-call with weights ``B[j] - A[r, j]`` (the
``f_n``, ``v_n`` parts cancel), and the error estimate ``h sum_j e_j(hJ) D_j`` (one phi-call,
weights ``E = B - B_hat``).  exprb32: 2 phi-calls and 2 right-hand sides per step; exprb43: 4 and 3.

Krylov accuracy: each phi-call meets ``KRYLOV_TOL`` in the step's error norm (weights
``atol_i + rtol |u_i|``), a fraction of the tolerance the step must meet.  With
``adaptive=False`` ``rtol``/``atol`` only set this Krylov accuracy.

Output at ``saveat`` uses the method's continuous extension
``u(t_n + theta h) = u_n + sum_k (theta h)^k phi_k(theta h J) b_k`` with the propagated
solution's vectors ``b_k`` (it satisfies the stiff order conditions with ``theta^k`` weights:
``b_j(theta, z) = sum_k theta^k B[j, k] phi_k(theta z)``); a step with output points inside it
computes ``u_{n+1}`` and the outputs in one phi-call (time-stepping through the output times).
The step sequence does not depend on ``saveat`` (up to the Krylov tolerance).  The records for
Python-side dense output (``keep_dense``) are cubic Hermite data: ``rec_k`` rows
``(u_{n+1} - u_n, h f_n, h f_{n+1})`` with :data:`HERMITE_DENSE` as the polynomial table of
:class:`~symdyn.solvers.solution.DenseOutput` (``scale_h=False``).

Step sizes: the local error of the embedded method in the weighted RMS norm of
:mod:`.control`, Gustafsson's predictive controller (:func:`.control.predictive_factor`) with
exponent ``1/q``, ``q = embedded order + 1``.  The Jacobian is evaluated once per step and kept
after a rejection (the point has not moved).  A failed phi-call (non-finite values, too many
Krylov substeps) rejects the step and shrinks ``h``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba
import numpy as np

from . import _status as st
from ._buffers import copy1, grow1, grow2, grow3, new_outputs
from ._native import call_native
from .control import (
    EPS,
    FAC_NONFINITE,
    all_finite,
    initial_step,
    min_step,
    predictive_factor,
    reject_factor,
    scaled_sq_sum,
)
from .krylov import KRYLOV_OK, KSTAT_NAMES, csc_matvec, csc_norm1, krylov_workspace, phipm
from .tableaus import TableauError

__all__ = ["ExpRosenbrockTableau", "EXPRB32", "EXPRB43", "EXPRB_METHODS", "exprb_solve", "exprb_kernel",
           "HERMITE_DENSE", "KSTAT_NAMES", "KRYLOV_TOL", "KRYLOV_M_MAX"]

#: every phi-call meets this fraction of the step tolerance (weighted RMS norm)
KRYLOV_TOL = 0.05
#: default bound of the Krylov dimension (beyond it the phi-call takes substeps)
KRYLOV_M_MAX = 30
CBRT_EPS = EPS ** (1.0 / 3.0)

#: cubic Hermite interpolation u_n + sum_i b_i(theta) k_i with k = (u_{n+1} - u_n, h f_n, h f_{n+1}):
#: b_i(theta) = sum_j HERMITE_DENSE[i, j] theta^(j+1)
HERMITE_DENSE = np.array([
    [0.0, 3.0, -2.0],
    [1.0, -2.0, 1.0],
    [0.0, -1.0, 1.0],
])


@dataclass(frozen=True)
class ExpRosenbrockTableau:
    """An exponential Rosenbrock method as data (0-based stages, stage 0 is ``u_n``).

    ``c``: nodes (``c[0] = 0``, others in ``(0, 1]``); ``A[i, j, k]``: coefficient of
    ``phi_k(c_i z)`` in ``a_ij(z)`` (strictly lower in ``i, j``); ``B[j, k]``: coefficient of
    ``phi_k(z)`` in ``b_j(z)``; ``E = B - B_hat`` for the embedded method.  Column ``k = 0`` and
    stage ``j = 0`` must be zero (``D_0 = 0``).  Construction checks the stiff order conditions of
    HOS 2009 (Table 4.1) coefficient by coefficient, for ``B`` up to ``order`` and for ``B_hat``
    up to ``embedded_order``: ``sum_j b_j(z) c_j^2 = 2 phi_3(z)`` (order 3) and
    ``sum_j b_j(z) c_j^3 = 6 phi_4(z)`` (order 4).  The remaining order-4 condition
    (``sum_j b_j(Z) J psi_{3,j}(Z) = 0``, which involves the stages) is not checked here; the
    convergence tests measure the order.
    """

    name: str
    c: np.ndarray
    A: np.ndarray
    B: np.ndarray
    E: np.ndarray
    order: int
    embedded_order: int
    source: str
    reuse_stage: int = field(init=False)

    def __post_init__(self):
        c = np.asarray(self.c, float)
        A = np.asarray(self.A, float)
        B = np.asarray(self.B, float)
        E = np.asarray(self.E, float)
        s, kp1 = B.shape
        for arr in (c, A, B, E):
            arr.setflags(write=False)
        object.__setattr__(self, "c", c)
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "B", B)
        object.__setattr__(self, "E", E)

        def fail(identity, residual):
            raise TableauError(self.name, identity, float(residual))

        if c.shape != (s,) or A.shape != (s, s, kp1) or E.shape != (s, kp1):
            fail(f"shapes c {c.shape}, A {A.shape}, B {B.shape}, E {E.shape} agree", 1.0)
        if c[0] != 0.0 or np.any(c[1:] <= 0.0) or np.any(c > 1.0):
            fail("c[0] = 0 < c[i] <= 1", 1.0)
        if np.any(np.triu(np.abs(A).sum(axis=2)) != 0.0):
            fail("A strictly lower triangular", np.abs(np.triu(np.abs(A).sum(axis=2))).max())
        for name, arr in (("A", A[..., 0]), ("B", B[:, 0]), ("E", E[:, 0])):
            if np.any(arr != 0.0):
                fail(f"{name} has no phi_0 terms", np.abs(arr).max())
        if np.any(A[:, 0] != 0.0) or np.any(B[0] != 0.0) or np.any(E[0] != 0.0):
            fail("stage 0 has no weight (D_0 = 0)", 1.0)
        # sum_j B[j, k] c_j^q = q! delta_{k, q+1}  for the orders the method claims
        for label, W, order in (("b", B, self.order), ("b_hat", B - E, self.embedded_order)):
            for q in range(2, order):
                want = np.zeros(kp1)
                if q + 1 < kp1:
                    want[q + 1] = math.factorial(q)
                elif order > q:
                    fail(f"phi_{q + 1} available for order {order}", 1.0)
                got = (W * (c**q)[:, None]).sum(axis=0)
                res = np.abs(got - want).max()
                if res > 1e-12:
                    fail(f"sum_j {label}_j(z) c_j^{q} = {math.factorial(q)} phi_{q + 1}(z) (order {q + 1})", res)
        # the propagated solution reuses the last stage with c = 1: u_{n+1} = U_r + phi-call(B - A[r])
        r = -1
        for i in range(1, s):
            if c[i] == 1.0:
                r = i
        object.__setattr__(self, "reuse_stage", r)

    @property
    def kmax(self):
        """The highest phi-function index the method uses (at least 2, for ``v_n``)."""
        return max(2, self.B.shape[1] - 1)

    @property
    def error_exponent(self):
        return float(self.embedded_order + 1)


def _tab(s, kmax, A=(), B=(), E=()):
    """Dense coefficient arrays from {(i, j, k): value} style lists."""
    Aa = np.zeros((s, s, kmax + 1))
    Ba = np.zeros((s, kmax + 1))
    Ea = np.zeros((s, kmax + 1))
    for (i, j, k), v in A:
        Aa[i, j, k] = v
    for (j, k), v in B:
        Ba[j, k] = v
    for (j, k), v in E:
        Ea[j, k] = v
    return Aa, Ba, Ea


_A, _B, _E = _tab(2, 3, B=[((1, 3), 2.0)], E=[((1, 3), 2.0)])
#: order 3, embedded exponential Rosenbrock--Euler (order 2):
#: U_2 = u + h phi_1 f;  u_1 = U_2 + 2 h phi_3 D_2;  error = 2 h phi_3(hJ) D_2
EXPRB32 = ExpRosenbrockTableau(
    "exprb32", np.array([0.0, 1.0]), _A, _B, _E, order=3, embedded_order=2,
    source="Hochbruck, Ostermann & Schweitzer, SIAM J. Numer. Anal. 47 (2009) 786, Sec. 5.1; "
           "Hochbruck & Ostermann, Acta Numerica 19 (2010) 209, eq. (2.39)")
_A, _B, _E = _tab(
    3, 4,
    A=[((2, 1, 1), 1.0)],
    B=[((1, 3), 16.0), ((1, 4), -48.0), ((2, 3), -2.0), ((2, 4), 12.0)],
    E=[((1, 4), -48.0), ((2, 4), 12.0)])
#: order 4, embedded order 3 (B_hat: 16 phi_3, -2 phi_3)
EXPRB43 = ExpRosenbrockTableau(
    "exprb43", np.array([0.0, 0.5, 1.0]), _A, _B, _E, order=4, embedded_order=3,
    source="Hochbruck, Ostermann & Schweitzer, SIAM J. Numer. Anal. 47 (2009) 786, Sec. 5.2; "
           "Hochbruck & Ostermann, Acta Numerica 19 (2010) 209, eq. (2.40)")
del _A, _B, _E

EXPRB_METHODS = {t.name: t for t in (EXPRB32, EXPRB43)}


@numba.njit(cache=True)
def _fill_b(Bv, kmax, base, F, dT, autonomous, coef, hh, cpow, D, s_used):
    """Bv[k] = [F at k=1, dT at k=2 if base] + sum_j coef[j, k] * h^(1-k) * cpow^(-k) * D[j];
    returns the highest k with a nonzero row (0 if none)."""
    n = Bv.shape[1]
    for k in range(kmax + 1):
        for i in range(n):
            Bv[k, i] = 0.0
    ptop = 0
    if base:
        for i in range(n):
            Bv[1, i] = F[i]
        ptop = 1
        if not autonomous:
            for i in range(n):
                Bv[2, i] = dT[i]
            ptop = 2
    for k in range(1, coef.shape[1]):
        w = hh ** (1.0 - k) * cpow ** (-k)
        for j in range(1, s_used):
            a = coef[j, k]
            if a != 0.0:
                a *= w
                Dj = D[j]
                for i in range(n):
                    Bv[k, i] += a * Dj[i]
                if k > ptop:
                    ptop = k
    return ptop


@numba.njit(cache=True)
def exprb_kernel(rhs, jac_csc, indptr, indices, p, t0, tf, u0, c, A, B, E, reuse, q, autonomous, saveat,
                 save_steps, keep_dense, rtol, atol, h_init, adaptive, max_steps, m_max, ktol):
    """Integrate ``u' = f(t, u)`` on ``[t0, tf]`` with an exponential Rosenbrock method.

    Returns ``(status, t, u, ts, us, stats, rec_t, rec_h, rec_u, rec_k, kstats)``: as
    :func:`symdyn.solvers.rosenbrock.rosenbrock_solve` (``rec_k`` holds the Hermite data, see
    :data:`HERMITE_DENSE`), plus the Krylov counters :data:`KSTAT_NAMES`.
    """
    n = u0.shape[0]
    s = c.shape[0]
    kmax = max(2, B.shape[1] - 1)
    nnz = indptr[n]
    jv = np.empty(max(nnz, 1))
    u = u0.copy()
    unew = np.empty(n)
    fx = np.empty(n)
    fnew = np.empty(n)
    dT = np.zeros(n)
    ytmp = np.empty(n)
    err = np.empty(n)
    sck = np.empty(n)
    D = np.zeros((s, n))
    U = np.zeros((s, n))
    W = np.zeros((s, n))  # W[i] = U_i - u_n
    Bv = np.zeros((kmax + 1, n))
    Cdiff = np.zeros((s, B.shape[1]))
    if reuse > 0:
        for j in range(s):
            for k in range(B.shape[1]):
                Cdiff[j, k] = B[j, k] - A[reuse, j, k]
    V, H, Wk, vec, S, ipiv = krylov_workspace(n, m_max, kmax)
    mm = V.shape[0] - 1
    tout = np.empty(8)
    souts = np.empty((8, n))  # outputs of the propagating phi-call (saveat points, then t + h)
    eout = np.empty((1, n))  # result of a stage or error phi-call
    kstats = np.zeros(len(KSTAT_NAMES), np.int64)
    hints = np.zeros((s + 2, 2))  # per phi-call of a step: Krylov dimension and substep of the last step
    stats = np.zeros(st.NSTATS, np.int64)

    nsave = saveat.shape[0]
    ts, us, m, rec_t, rec_h, rec_u, rec_k = new_outputs(t0, u0, saveat, save_steps, keep_dense, 3)
    nrec = 0

    t = t0
    status = st.SUCCESS
    call_native(rhs, t, u, p, fx)
    stats[st.NFEV] += 1
    if not all_finite(fx):
        return (st.NON_FINITE, t, u, ts[:m], us[:m], stats, rec_t[:0], rec_h[:0], rec_u[:0], rec_k[:0],
                kstats)
    if h_init > 0.0:
        h = h_init
    else:
        h = initial_step(rhs, p, t0, tf, u0, fx, q - 1.0, rtol, atol, ytmp, unew)
        stats[st.NFEV] += 1
    h = min(h, tf - t0)
    need_jac = True
    anorm = 0.0
    rejected = False
    first = True
    hacc = h
    erracc = 1.0
    last_failure = 0  # 0: none, 1: non-finite or failed phi-call
    while t < tf:
        if stats[st.NSTEPS] >= max_steps:
            status = st.MAX_STEPS
            break
        if adaptive and h < min_step(t, t0, tf):
            status = st.NON_FINITE if last_failure == 1 else st.STEP_SIZE_TOO_SMALL
            break
        last = False
        if (adaptive and t + 1.01 * h >= tf) or (not adaptive and t + h * (1.0 + 1e-9) >= tf):
            h = tf - t
            last = True
        t_new = tf if last else t + h
        stats[st.NSTEPS] += 1

        if need_jac:
            call_native(jac_csc, t, u, p, jv)
            stats[st.NJEV] += 1
            anorm = csc_norm1(jv, indptr)
            if not autonomous:  # central difference, error ~ eps^(2/3) on the time scale T
                delta = CBRT_EPS * max(abs(t), min(1.0, tf - t0))
                call_native(rhs, t + delta, u, p, dT)
                call_native(rhs, t - delta, u, p, ytmp)
                stats[st.NFEV] += 2
                for i in range(n):
                    dT[i] = (dT[i] - ytmp[i]) / (2.0 * delta)
            need_jac = False
        for i in range(n):
            sck[i] = atol[i] + rtol * abs(u[i])
            if sck[i] == 0.0:
                sck[i] = 1e-300

        ok = math.isfinite(anorm)
        # the phi-calls of a step, through one call site (keeps numba/LLVM compile time down):
        # jobs 1..s-1 are the stages, job s the propagated solution (and the outputs inside the
        # step), job s+1 the error estimate
        nin = 0
        if not save_steps:
            while m + nin < nsave and saveat[m + nin] < t_new:
                nin += 1
        full = nin > 0 or reuse < 0
        if full and nin + 1 > tout.shape[0]:
            tout = np.empty(2 * (nin + 1))
            souts = np.empty((2 * (nin + 1), n))
        errn = 0.0
        njobs = s + 1 if adaptive else s
        job = 1
        while ok and job <= njobs:
            ob = eout
            nout = 1
            if job < s:  # stage U_i at c_i h
                ci = c[job]
                ptop = _fill_b(Bv, kmax, True, fx, dT, autonomous, A[job], h, ci, D, job)
                tout[0] = ci * h
            elif job == s:
                ob = souts
                if full:  # u_{n+1} and the outputs from u_n
                    for k in range(nin):
                        tout[k] = saveat[m + k] - t
                    nout = nin + 1
                    ptop = _fill_b(Bv, kmax, True, fx, dT, autonomous, B, h, 1.0, D, s)
                else:  # u_{n+1} = U_r + phi-call with weights B - A[r]
                    ptop = _fill_b(Bv, kmax, False, fx, dT, autonomous, Cdiff, h, 1.0, D, s)
                tout[nout - 1] = h
            else:  # error estimate h sum_j e_j(hJ) D_j
                ptop = _fill_b(Bv, kmax, False, fx, dT, autonomous, E, h, 1.0, D, s)
                tout[0] = h
            if ptop == 0:
                for k in range(n):
                    ob[0, k] = 0.0
            else:
                code = phipm(jv, indptr, indices, 1.0, anorm, Bv, ptop, True, tout, nout, ob, sck, ktol, mm,
                             V, H, Wk, vec, S, ipiv, kstats, hints[job])
                if code != KRYLOV_OK:
                    ok = False
                    break
            if job < s:
                ci = c[job]
                Ui = U[job]
                Wi = W[job]
                for k in range(n):
                    Wi[k] = eout[0, k]
                    Ui[k] = u[k] + eout[0, k]
                Di = D[job]
                call_native(rhs, t + ci * h, Ui, p, Di)
                stats[st.NFEV] += 1
                csc_matvec(jv, indptr, indices, 1.0, Wi, ytmp)
                kstats[0] += 1
                cih = ci * h
                for k in range(n):
                    Di[k] = Di[k] - fx[k] - ytmp[k]
                    if not autonomous:
                        Di[k] -= cih * dT[k]
                ok = all_finite(Di)
            elif job == s:
                if full:
                    for k in range(n):
                        unew[k] = u[k] + souts[nin, k]
                else:
                    Ur = U[reuse]
                    for k in range(n):
                        unew[k] = Ur[k] + souts[0, k]
            else:
                for k in range(n):
                    err[k] = eout[0, k]
                errn = math.sqrt(scaled_sq_sum(err, u, unew, rtol, atol) / n)
            job += 1
        if not (ok and math.isfinite(errn) and all_finite(unew)):
            stats[st.NREJECT] += 1
            last_failure = 1
            rejected = True
            if not adaptive:
                status = st.NON_FINITE
                break
            h *= FAC_NONFINITE
            continue

        if errn <= 1.0 or not adaptive:
            call_native(rhs, t_new, unew, p, fnew)
            stats[st.NFEV] += 1
            if not all_finite(fnew):
                stats[st.NREJECT] += 1
                last_failure = 1
                rejected = True
                if not adaptive:
                    status = st.NON_FINITE
                    break
                h *= FAC_NONFINITE
                continue
            last_failure = 0
            if save_steps:
                if m == ts.shape[0]:
                    ts = grow1(ts, m)
                    us = grow2(us, m)
                ts[m] = t_new
                copy1(us[m], unew)
                m += 1
            else:
                for k in range(nin):
                    ts[m] = saveat[m]
                    for i in range(n):
                        us[m, i] = u[i] + souts[k, i]
                    m += 1
                if m < nsave and saveat[m] == t_new:
                    ts[m] = t_new
                    copy1(us[m], unew)
                    m += 1
            if keep_dense:
                if nrec == rec_t.shape[0]:
                    rec_t = grow1(rec_t, nrec)
                    rec_h = grow1(rec_h, nrec)
                    rec_u = grow2(rec_u, nrec)
                    rec_k = grow3(rec_k, nrec)
                rec_t[nrec] = t
                rec_h[nrec] = h
                copy1(rec_u[nrec], u)
                for k in range(n):
                    rec_k[nrec, 0, k] = unew[k] - u[k]
                    rec_k[nrec, 1, k] = h * fx[k]
                    rec_k[nrec, 2, k] = h * fnew[k]
                nrec += 1
            copy1(u, unew)
            copy1(fx, fnew)
            t = t_new
            need_jac = True
            stats[st.NACCEPT] += 1
            fac = predictive_factor(errn, q, h, hacc, erracc, first)
            first = False
            hacc = h
            erracc = max(errn, 1e-2)
            if rejected:
                fac = min(fac, 1.0)
            rejected = False
            if adaptive:
                h *= fac
        else:
            stats[st.NREJECT] += 1
            rejected = True
            last_failure = 0
            h *= reject_factor(errn, q)

    return status, t, u, ts[:m], us[:m], stats, rec_t[:nrec], rec_h[:nrec], rec_u[:nrec], rec_k[:nrec], kstats


def exprb_solve(rhs_addr, jac_csc_addr, indptr, indices, p, t0, tf, u0, rtol, atol, saveat, dt, adaptive,
                max_steps, method="exprb32", *, dense=False, autonomous=False, krylov_dim=KRYLOV_M_MAX,
                krylov_tol=KRYLOV_TOL):
    """Integrate ``u' = f(t, u, p)`` from ``t0`` to ``tf`` with an exponential Rosenbrock method.

    Parameters
    ----------
    rhs_addr, jac_csc_addr : int
        Native function addresses (``cm.addresses["rhs"]``, ``cm.addresses["jac_csc"]``);
        ``jac_csc`` writes the Jacobian's values in the CSC order of ``indptr``/``indices``
        (``cm.jac_pattern``).
    indptr, indices : integer arrays
        The CSC pattern (converted to int64).
    p : float64 array
        Parameters (at least one entry: pass ``np.zeros(1)`` for none).
    t0, tf : float
        ``t0 < tf``.
    u0 : float64 array
        Initial state.
    rtol : float, atol : float or array
        Tolerances of the weighted RMS norm (weights ``atol_i + rtol*max(|u_i|, |u_new_i|)``);
        they also set the Krylov accuracy (``krylov_tol`` times the same norm).
    saveat : array or None
        Output times (strictly increasing, in ``[t0, tf]``) from the method's continuous
        extension; ``None``: ``t0`` and every accepted step.
    dt : float or None
        First step (automatic when None or 0); the step of every step when ``adaptive=False``.
    adaptive : bool
        False: fixed steps of ``dt`` (the last one shortened to end at ``tf``), no error estimate.
    max_steps : int
        Bound on attempted steps.
    method : "exprb32" | "exprb43"
    dense : bool
        Record Hermite data for every step (see :data:`HERMITE_DENSE`).
    autonomous : bool
        True skips ``df/dt`` (two right-hand side calls per step).
    krylov_dim : int
        Largest Krylov dimension (memory ``(krylov_dim + 1) * n`` doubles).
    krylov_tol : float
        Krylov tolerance as a fraction of the step tolerance.

    Returns
    -------
    ``(status, t, u, ts, us, stats, rec_t, rec_h, rec_u, rec_k, kstats)``: the status code
    (:mod:`._status`), the time reached and the state there, the output times and states, the
    counters (``_status.STAT_NAMES``; ``nlu`` stays 0), the dense records, and the Krylov
    counters (:data:`KSTAT_NAMES`: matrix-vector products, phi-calls, substeps, largest
    Krylov dimension used, small exponentials).
    """
    from .errors import OptionError, ShapeError, UnknownMethodError

    if method not in EXPRB_METHODS:
        raise UnknownMethodError(method, list(EXPRB_METHODS))
    tab = EXPRB_METHODS[method]
    u0 = np.array(u0, dtype=np.float64, order="C")
    n = u0.shape[0]
    p = np.ascontiguousarray(p, dtype=np.float64)
    if p.size == 0:
        p = np.zeros(1)
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    indices = np.ascontiguousarray(indices, dtype=np.int64)
    if indptr.shape != (n + 1,):
        raise ShapeError("indptr", (n + 1,), indptr.shape)
    if indices.shape != (int(indptr[-1]),):
        raise ShapeError("indices", (int(indptr[-1]),), indices.shape)
    atol = np.broadcast_to(np.asarray(atol, dtype=np.float64), (n,)).copy()
    if saveat is None:
        saveat_arr, save_steps = np.empty(0), True
    else:
        saveat_arr, save_steps = np.ascontiguousarray(np.atleast_1d(saveat), dtype=np.float64), False
    h0 = float(dt) if dt else 0.0
    if not adaptive and h0 <= 0.0:
        raise OptionError("dt", dt, "adaptive=False needs a step size dt > 0")
    return exprb_kernel(int(rhs_addr), int(jac_csc_addr), indptr, indices, p, float(t0), float(tf), u0, tab.c,
                        tab.A, tab.B, tab.E, tab.reuse_stage, tab.error_exponent, bool(autonomous), saveat_arr,
                        save_steps, bool(dense), float(rtol), atol, h0, bool(adaptive), int(max_steps),
                        int(krylov_dim), float(krylov_tol))
