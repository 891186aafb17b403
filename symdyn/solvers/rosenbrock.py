"""The generic Rosenbrock stepper: one native loop for every :class:`RosenbrockTableau`.

Per step: the dense Jacobian ``J`` at ``(t, u)`` through the ``jac`` address (column-major,
kept after a rejection since the point has not moved), ``df/dt`` by a central difference of
``rhs`` (step ``eps**(1/3) * max(|t|, min(1, t_end - t0))``) unless the caller says the problem
is autonomous, the matrix ``W = I/(h gamma) - J``
factored once (:mod:`.linalg`), and ``s`` stages, each one right-hand side call and one
back-substitution (HW II, Sec. IV.7, transformed form).  A singular ``W`` rejects the step
and shrinks ``h``; only if that persists down to the round-off limit does the solve stop
with ``LINEAR_SOLVE_FAILED``.  Step sizes come from :func:`.control.predictive_factor`
(Gustafsson, as in RODAS).  Output as in :mod:`.explicit`: ``saveat`` by the method's
interpolant, or every step; ``keep_dense`` records every step.

Switching back for ``auto`` (``nonstiff_bound > 0``): after each accepted step the kernel
compares ``h * ||J||_inf`` (an upper bound of ``h |lambda|``) with ``nonstiff_bound``; after
``NONSTIFF_STEPS`` consecutive steps below it, an explicit method would be stable with the
same steps, and the kernel stops with status ``NONSTIFF``.
"""
import math

import numba
import numpy as np

from codegen.rosenbrock_loop import F as _F, I as _I

from . import _status as st
from ._buffers import copy1, grow_outputs, new_outputs
from ._emitted import run_emitted
from ._native import call_native
from .control import (
    EPS,
    FAC_NONFINITE,
    all_finite,
    initial_step,
    min_step,
    predictive_factor,
    reject_factor,
)
from .explicit import interpolate, stage_outer_for
from .linalg import band_assemble, band_lu_factor, lu_factor, lu_solve, perm_band_solve

#: consecutive non-stiff steps before a Rosenbrock kernel under `auto` hands back
NONSTIFF_STEPS = 25
#: step factor after a singular W
FAC_SINGULAR = 0.25
CBRT_EPS = EPS ** (1.0 / 3.0)


def rosenbrock_solve(rhs, jac, p, t0, tf, u0, A, C, gamma, c, d, b, e, dense, q, autonomous,
                     saveat, save_steps, keep_dense, rtol, atol, h_init, adaptive, max_steps, nonstiff_bound,
                     band_kl, band_ku, band_perm, band_pos, band_dpos, jac_rows):
    """Integrate ``u' = f(t, u)`` on ``[t0, tf]`` natively; see the module docstring.

    Returns ``(status, t, u, ts, us, stats, rec_t, rec_h, rec_u, rec_k, h)`` like
    :func:`symdyn.solvers.explicit.explicit_rk_solve` (``rec_k`` holds the increments ``U_i``).
    The stage sums are ordered for the number of states as in the explicit kernel (two compiled
    variants, :func:`symdyn.solvers.explicit.stage_outer_for`).
    """
    # Two entries, not one with a flag: the flag must be a compile-time constant in each (see
    # explicit._solve); they pass the band arguments to _solve as one tuple because a call with
    # more than 30 arguments compiles to *args, which numba cannot inline.
    kernel = _solve_stage_outer if stage_outer_for(u0.shape[0]) else _solve_component_outer
    return kernel(rhs, jac, p, t0, tf, u0, A, C, gamma, c, d, b, e, dense, q, autonomous, saveat, save_steps,
                  keep_dense, rtol, atol, h_init, adaptive, max_steps, nonstiff_bound, band_kl, band_ku, band_perm,
                  band_pos, band_dpos, jac_rows)


@numba.njit(cache=True)
def _solve_component_outer(rhs, jac, p, t0, tf, u0, A, C, gamma, c, d, b, e, dense, q, autonomous, saveat,
                           save_steps, keep_dense, rtol, atol, h_init, adaptive, max_steps, nonstiff_bound, band_kl,
                           band_ku, band_perm, band_pos, band_dpos, jac_rows):
    return _solve(rhs, jac, p, t0, tf, u0, A, C, gamma, c, d, b, e, dense, q, autonomous, saveat, save_steps,
                  keep_dense, rtol, atol, h_init, adaptive, max_steps, nonstiff_bound,
                  (band_kl, band_ku, band_perm, band_pos, band_dpos, jac_rows), False)


@numba.njit(cache=True)
def _solve_stage_outer(rhs, jac, p, t0, tf, u0, A, C, gamma, c, d, b, e, dense, q, autonomous, saveat,
                       save_steps, keep_dense, rtol, atol, h_init, adaptive, max_steps, nonstiff_bound, band_kl,
                       band_ku, band_perm, band_pos, band_dpos, jac_rows):
    return _solve(rhs, jac, p, t0, tf, u0, A, C, gamma, c, d, b, e, dense, q, autonomous, saveat, save_steps,
                  keep_dense, rtol, atol, h_init, adaptive, max_steps, nonstiff_bound,
                  (band_kl, band_ku, band_perm, band_pos, band_dpos, jac_rows), True)


@numba.njit(cache=True, inline="always")  # compiled only inside the two entries above
def _solve(rhs, jac, p, t0, tf, u0, A, C, gamma, c, d, b, e, dense, q, autonomous, saveat, save_steps, keep_dense,
           rtol, atol, h_init, adaptive, max_steps, nonstiff_bound, band, stage_outer):
    """The body of both entries; ``stage_outer`` is a constant there (see :func:`_steps`)."""
    band_kl, band_ku, band_perm, band_pos, band_dpos, jac_rows = band
    n = u0.shape[0]
    s = b.shape[0]
    U = np.empty((s, n))
    Ui = np.empty(n)
    u = u0.copy()
    unew = np.empty(n)
    ytmp = np.empty(n)
    fx = np.empty(n)
    dT = np.zeros(n)
    err = np.empty(n)
    bt = np.empty(s)
    # banded (band_kl >= 0): `jac` is the address of the CSC values (pattern rows `jac_rows`),
    # scattered into band storage of the reordered W through `band_pos` / `band_dpos`
    banded = band_kl >= 0
    nd = 1 if banded else n
    Jflat = np.empty(nd * nd)
    J = Jflat.reshape((nd, nd))  # J[col, row] = d f_row / d u_col
    W = np.empty((nd, nd))
    nb = n if banded else 1
    ldab = 2 * band_kl + band_ku + 1 if banded else 1
    AB = np.zeros((nb, ldab))
    ABf = AB.reshape(nb * ldab)
    vals = np.empty(jac_rows.shape[0])
    rowsum = np.empty(nb)
    xperm = np.empty(nb)
    piv = np.empty(n, np.int64)
    stats = np.zeros(st.NSTATS, np.int64)

    ts, us, m, rec_t, rec_h, rec_u, rec_k = new_outputs(t0, u0, saveat, save_steps, keep_dense, s)

    t = t0
    status = st.SUCCESS
    call_native(rhs, t, u, p, fx)
    stats[st.NFEV] += 1
    if not all_finite(fx):
        return st.NON_FINITE, t, u, ts[:m], us[:m], stats, rec_t[:0], rec_h[:0], rec_u[:0], rec_k[:0], 0.0
    if h_init > 0.0:
        h = h_init
    else:
        h = initial_step(rhs, p, t0, tf, u0, fx, q - 1.0, rtol, atol, ytmp, unew)
        stats[st.NFEV] += 1
    h = min(h, tf - t0)
    # the loop state carried between calls of _steps: t, h, jnorm, hacc, erracc / need_jac,
    # rejected, first, last_failure (0: none, 1: non-finite, 2: singular W), nonstiff_run, m, nrec
    fstate = np.array([t0, h, 0.0, h, 1.0])
    istate = np.array([1, 0, 1, 0, 0, m, 0], np.int64)
    while True:
        status = _steps(rhs, jac, p, t0, tf, A, C, gamma, c, d, b, e, dense, q, autonomous, saveat, save_steps,
                        keep_dense, rtol, atol, adaptive, max_steps, nonstiff_bound, band_kl, band_ku, band_perm,
                        band_pos, band_dpos, jac_rows, U, Ui, u, unew, ytmp, fx, dT, err, bt, Jflat, J, W, AB, ABf,
                        vals, rowsum, xperm, piv, stats, ts, us, rec_t, rec_h, rec_u, rec_k, fstate, istate,
                        stage_outer)
        if status != st.BUFFER_FULL:
            break
        m, nrec = istate[5], istate[6]
        ts, us, rec_t, rec_h, rec_u, rec_k = grow_outputs(save_steps, keep_dense, m, nrec, ts, us, rec_t, rec_h, rec_u,
                                                          rec_k)
    m, nrec = istate[5], istate[6]
    return (status, fstate[0], u, ts[:m], us[:m], stats, rec_t[:nrec], rec_h[:nrec], rec_u[:nrec], rec_k[:nrec],
            fstate[1])


@numba.njit(cache=True, inline="always")  # array arguments: a call would cost refcounting
def _row_sum_norm(J, vals, jac_rows, rowsum, banded):
    """``||J||_inf``, from the dense ``J[col, row]`` or (``banded``) the CSC values ``vals`` at
    rows ``jac_rows`` (``rowsum`` is workspace)."""
    jnorm = 0.0
    n = rowsum.shape[0] if banded else J.shape[0]
    if banded:
        for r in range(n):
            rowsum[r] = 0.0
        for k in range(vals.shape[0]):
            rowsum[jac_rows[k]] += abs(vals[k])
        for r in range(n):
            jnorm = max(jnorm, rowsum[r])
    else:
        for r in range(n):
            acc = 0.0
            for col in range(n):
                acc += abs(J[col, r])
            jnorm = max(jnorm, acc)
    return jnorm


@numba.njit(cache=True)
def _steps(rhs, jac, p, t0, tf, A, C, gamma, c, d, b, e, dense, q, autonomous, saveat, save_steps, keep_dense,
           rtol, atol, adaptive, max_steps, nonstiff_bound, band_kl, band_ku, band_perm, band_pos, band_dpos,
           jac_rows, U, Ui, u, unew, ytmp, fx, dT, err, bt, Jflat, J, W, AB, ABf, vals, rowsum, xperm, piv, stats,
           ts, us, rec_t, rec_h, rec_u, rec_k, fstate, istate, stage_outer):
    """The time loop of :func:`rosenbrock_solve` from the state in ``fstate``/``istate`` (updated in
    place); returns a status code, or ``BUFFER_FULL`` before a step whose output has no room.
    Arrays are never rebound here (see :func:`symdyn.solvers.explicit.explicit_rk_solve`)."""
    n = u.shape[0]
    s = b.shape[0]
    nsave = saveat.shape[0]
    banded = band_kl >= 0
    t, h, jnorm, hacc, erracc = fstate[0], fstate[1], fstate[2], fstate[3], fstate[4]
    need_jac = istate[0] != 0
    rejected = istate[1] != 0
    first = istate[2] != 0
    last_failure = istate[3]
    nonstiff_run = istate[4]
    m = istate[5]
    nrec = istate[6]
    status = st.SUCCESS

    while t < tf:
        if (save_steps and m == ts.shape[0]) or (keep_dense and nrec == rec_t.shape[0]):
            status = st.BUFFER_FULL
            break
        if stats[st.NSTEPS] >= max_steps:
            status = st.MAX_STEPS
            break
        if adaptive and h < min_step(t, t0, tf):
            if last_failure == 1:
                status = st.NON_FINITE
            elif last_failure == 2:
                status = st.LINEAR_SOLVE_FAILED
            else:
                status = st.STEP_SIZE_TOO_SMALL
            break
        last = False
        if (adaptive and t + 1.01 * h >= tf) or (not adaptive and t + h * (1.0 + 1e-9) >= tf):
            h = tf - t
            last = True
        stats[st.NSTEPS] += 1

        if need_jac:
            call_native(jac, t, u, p, vals if banded else Jflat)
            stats[st.NJEV] += 1
            if not autonomous:  # central difference, error ~ eps^(2/3) on the time scale T
                delta = CBRT_EPS * max(abs(t), min(1.0, tf - t0))
                call_native(rhs, t + delta, u, p, dT)
                call_native(rhs, t - delta, u, p, ytmp)
                stats[st.NFEV] += 2
                for k in range(n):
                    dT[k] = (dT[k] - ytmp[k]) / (2.0 * delta)
            jnorm = 0.0
            if nonstiff_bound > 0.0:  # ||J||_inf only serves the switch back of `auto`
                jnorm = _row_sum_norm(J, vals, jac_rows, rowsum, banded)
            need_jac = False  # a NaN in J makes the LU fail: the step is rejected (see below)

        dtgam = 1.0 / (h * gamma)
        if banded:
            band_assemble(ABf, vals, band_pos, band_dpos, dtgam)
        else:
            for col in range(n):
                for r in range(n):
                    W[col, r] = -J[col, r]
                W[col, col] += dtgam
        stats[st.NLU] += 1
        if not (band_lu_factor(AB, band_kl, band_ku, piv) if banded else lu_factor(W, piv)):
            stats[st.NREJECT] += 1
            last_failure = 2
            rejected = True
            if not adaptive:
                status = st.LINEAR_SOLVE_FAILED
                break
            h *= FAC_SINGULAR
            continue

        for i in range(s):
            # the stage is built in the work vector Ui (a view U[i] would cost reference counting)
            if i == 0:
                for k in range(n):
                    Ui[k] = fx[k]
            elif not stage_outer:  # component-outer: short reductions (see explicit._stage_input)
                for k in range(n):
                    acc = u[k]
                    for j in range(i):
                        acc += A[i, j] * U[j, k]
                    ytmp[k] = acc
                call_native(rhs, t + c[i] * h, ytmp, p, Ui)
                for k in range(n):
                    acc = Ui[k]
                    for j in range(i):
                        acc += (C[i, j] / h) * U[j, k]
                    Ui[k] = acc
            else:  # stage-outer: the same sums in the same order, as long independent loops
                for k in range(n):
                    ytmp[k] = u[k]
                for j in range(i):
                    w = A[i, j]
                    if w != 0.0:
                        for k in range(n):
                            ytmp[k] += w * U[j, k]
                call_native(rhs, t + c[i] * h, ytmp, p, Ui)
                for j in range(i):
                    w = C[i, j] / h
                    if w != 0.0:
                        for k in range(n):
                            Ui[k] += w * U[j, k]
            if d[i] != 0.0 and not autonomous:
                hd = h * d[i]
                for k in range(n):
                    Ui[k] += hd * dT[k]
            if banded:
                perm_band_solve(AB, band_kl, band_ku, piv, band_perm, Ui, xperm)
            else:
                lu_solve(W, piv, Ui)
            for k in range(n):
                U[i, k] = Ui[k]
        stats[st.NFEV] += s - 1

        if not stage_outer:
            for k in range(n):
                acc = 0.0
                acce = 0.0
                for i in range(s):
                    acc += b[i] * U[i, k]
                    acce += e[i] * U[i, k]
                unew[k] = u[k] + acc
                err[k] = acce
        else:
            for k in range(n):
                unew[k] = 0.0
                err[k] = 0.0
            for i in range(s):
                bi = b[i]
                ei = e[i]
                for k in range(n):
                    unew[k] += bi * U[i, k]
                    err[k] += ei * U[i, k]
            for k in range(n):
                unew[k] += u[k]
        # (the helpers scaled_sq_sum / all_finite written out: array arguments cost atomic refcounts)
        ss = 0.0
        finite = True
        for k in range(n):
            sc = atol[k] + rtol * max(abs(u[k]), abs(unew[k]))
            r = err[k] / sc
            ss += r * r
            if not math.isfinite(unew[k]):
                finite = False
        errn = math.sqrt(ss / n) if adaptive else 0.0
        if not (math.isfinite(errn) and finite):
            stats[st.NREJECT] += 1
            last_failure = 1
            rejected = True
            if not adaptive:
                status = st.NON_FINITE
                break
            h *= FAC_NONFINITE
            continue

        if errn <= 1.0 or not adaptive:
            # f at the new point first: a NaN there rejects the step like any non-finite value
            call_native(rhs, tf if last else t + h, unew, p, ytmp)
            stats[st.NFEV] += 1
            finite = True
            for k in range(n):
                if not math.isfinite(ytmp[k]):
                    finite = False
            if not finite:
                stats[st.NREJECT] += 1
                last_failure = 1
                rejected = True
                if not adaptive:
                    status = st.NON_FINITE
                    break
                h *= FAC_NONFINITE
                continue
            last_failure = 0
            t_new = tf if last else t + h
            if save_steps:
                ts[m] = t_new
                copy1(us[m], unew)
                m += 1
            else:
                while m < nsave and saveat[m] <= t_new:
                    ts[m] = saveat[m]
                    if saveat[m] == t_new:
                        copy1(us[m], unew)
                    else:
                        interpolate((saveat[m] - t) / h, 1.0, u, U, dense, bt, us[m])
                    m += 1
            if keep_dense:
                rec_t[nrec] = t
                rec_h[nrec] = h
                copy1(rec_u[nrec], u)
                for i in range(s):
                    copy1(rec_k[nrec, i], U[i])
                nrec += 1
            for k in range(n):
                u[k] = unew[k]
                fx[k] = ytmp[k]
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
            if nonstiff_bound > 0.0:
                if h * jnorm < nonstiff_bound:
                    nonstiff_run += 1
                else:
                    nonstiff_run = 0
                if nonstiff_run >= NONSTIFF_STEPS and t < tf:
                    status = st.NONSTIFF
                    break
            if adaptive:
                h *= fac
        else:
            stats[st.NREJECT] += 1
            rejected = True
            last_failure = 0
            h *= reject_factor(errn, q)

    fstate[0], fstate[1], fstate[2], fstate[3], fstate[4] = t, h, jnorm, hacc, erracc
    istate[0] = 1 if need_jac else 0
    istate[1] = 1 if rejected else 0
    istate[2] = 1 if first else 0
    istate[3] = last_failure
    istate[4] = nonstiff_run
    istate[5] = m
    istate[6] = nrec
    return status


_F_ERRACC, _I_AUTONOMOUS, _I_FIRST = _F["erracc"], _I["autonomous"], _I["first"]
_NF, _NI = len(_F), len(_I)


@numba.njit(cache=True)
def rosenbrock_fused_solve(stepper, p, t0, tf, u0, s, autonomous, saveat, save_steps, rtol, atol, h_init, adaptive,
                           max_steps, nonstiff_bound, keep_dense):
    """:func:`rosenbrock_solve` (dense Jacobian) with the time loop emitted as LLVM IR for one
    model and method (:mod:`codegen.rosenbrock_loop`; :mod:`symdyn.solvers.fused` builds it);
    returns ``(status, t, u, ts, us, stats, h, rec)`` like
    :func:`symdyn.solvers.explicit.explicit_fused_dense_solve` (``rec`` without rows unless
    ``keep_dense``; its stages are the increments ``U_i``)."""
    u = u0.copy()
    fargs = np.zeros(_NF)
    fargs[_F_ERRACC] = 1.0  # the numba entry's starting state: erracc 1, first step
    iargs = np.zeros(_NI, np.int64)
    iargs[_I_AUTONOMOUS] = 1 if autonomous else 0
    iargs[_I_FIRST] = 1
    status, t, ts, us, stats, h, rec = run_emitted(stepper, fargs, iargs, u, p, np.empty(u.shape[0]), atol, saveat,
                                                   save_steps, s, t0, tf, rtol, nonstiff_bound, h_init, adaptive,
                                                   max_steps, keep_dense)
    return status, t, u, ts, us, stats, h, rec
