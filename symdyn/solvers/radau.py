"""The Radau IIA stepper (3 stages, order 5): the algorithm of Hairer & Wanner's RADAU5.

E. Hairer, G. Wanner, *Solving Ordinary Differential Equations II*, 2nd ed. (1996), Sec. IV.8;
the coefficients are data (:class:`.tableaus.RadauTableau`).  Per step:

* **Simplified Newton iteration** on the transformed increments ``W = (TI x I) Z``: with the
  Jacobian ``J`` (dense, through the ``jac`` address) one real LU of ``E1 = gamma/h I - J`` and
  one complex LU of ``E2 = (alpha + i beta)/h I - J`` (numba ``complex128``, the same
  :func:`.linalg.lu_factor` with partial pivoting), three right-hand side calls and one real plus
  one complex back-substitution per iteration.  Starting values extrapolate the previous step's
  collocation polynomial (zero on the first step).  Convergence control as in RADAU5: rate
  ``theta = ||dW_k|| / ||dW_{k-1}||``, stop when ``eta ||dW|| <= fnewt`` with
  ``eta = theta/(1-theta)`` and ``fnewt = max(10 eps/rtol, min(0.03, rtol**0.5))``; at most
  ``NIT = 7`` iterations; a diverging iteration (``theta >= 0.99``) or one predicted to miss
  ``fnewt`` within ``NIT`` iterations rejects the step and shrinks ``h``.
* **Jacobian reuse**: after an accepted step the Jacobian is recomputed only when the Newton
  iteration converged slowly (``theta > THET = 1e-3``); if moreover the new step would be
  within ``[1, 1.2]`` times the old one, ``h`` and both LU factorisations are kept.
* **Error estimate** of RADAU5: ``err = E1^{-1} (f(t, u) + sum_i dd_i Z_i / h)``; when it
  fails on the first step or right after a rejection, once more with ``f(t, u + err)`` in place
  of ``f(t, u)`` (filters the stiff components).  ``err`` is measured with
  :func:`.control.scaled_sq_sum` and steps come from :func:`.control.predictive_factor`
  (Gustafsson, exponent 1/4).
* **Tolerances** are mapped as RADAU5 does (its estimate is of order 3 for a method of order 5):
  ``rtol' = 0.1 rtol**(2/3)``, ``atol' = atol rtol'/rtol``.
* **Output** at ``saveat`` by the collocation polynomial ``u + sum_i l_i(theta) Z_i``; with
  ``keep_dense`` the increments ``Z`` of every step are recorded (no ``h`` factor).

Failures as in :mod:`.rosenbrock`: a singular or non-finite ``E1``/``E2`` rejects the step and
shrinks ``h`` (``LINEAR_SOLVE_FAILED`` once that reaches the round-off limit), NaN from the
model shrinks it by 10 (``NON_FINITE``), a Newton iteration that keeps failing ends with
``STEP_SIZE_TOO_SMALL``.  With ``adaptive=False`` a Newton failure ends the solve.
``stats["nlu"]`` counts factorisations of the pair ``(E1, E2)``.
"""
import math

import numba
import numpy as np

from codegen.radau_loop import F as _F, I as _I

from . import _status as st
from ._buffers import copy1, grow_outputs, new_outputs
from ._emitted import run_emitted
from ._native import call_native, call_native_row
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
from .explicit import interpolate
from .linalg import band_assemble, band_lu_factor, lu_factor, lu_solve, perm_band_solve

#: at most this many Newton iterations per step (RADAU5's NIT)
NIT = 7
#: recompute the Jacobian after a step whose Newton rate exceeded this (RADAU5's THET).  Measured
#: (VDPOL, HIRES, POLLU, ROBER at rtol 1e-6 and 1e-8, bench_solvers' atol): 1e-2 and 0.1 cut the
#: Jacobians 2-15x but added Newton iterations: POLLU up to 5% faster, VDPOL and ROBER up to 7%
#: (1e-2) and 28% (0.1) slower
THET = 1e-3
#: keep h and the factorisations when the proposed step ratio lies in [QUOT1, QUOT2]
QUOT1 = 1.0
QUOT2 = 1.2
#: Newton tolerance fnewt = max(10 eps / rtol', min(FNEWT_MAX, rtol'**0.5))
FNEWT_MAX = 0.03
#: RADAU5's tolerance map rtol' = RTOL_FACTOR * rtol**RTOL_EXPONENT
RTOL_FACTOR = 0.1
RTOL_EXPONENT = 2.0 / 3.0
#: step factors: diverging Newton iteration, singular matrix, failed first step
FAC_DIVERGED = 0.5
FAC_SINGULAR = 0.25
FAC_FIRST_REJECT = 0.1
#: rate bound above which the Newton iteration counts as diverging
THETA_DIVERGE = 0.99


@numba.njit(cache=True, _nrt=False)  # no refcounting: 2 atomic ops per array argument and call
def _ell(dense, theta, out):
    """``out[i] = l_i(theta)``, the collocation polynomials."""
    for i in range(dense.shape[0]):
        acc = 0.0
        pw = theta
        for j in range(dense.shape[1]):
            acc += dense[i, j] * pw
            pw *= theta
        out[i] = acc


@numba.njit(cache=True)
def radau_solve(rhs, jac, p, t0, tf, u0, c, T, TI, gamma, alpha, beta, dd, dense, q,
                saveat, save_steps, keep_dense, rtol_user, atol_user, h_init, adaptive, max_steps,
                band_kl, band_ku, band_perm, band_pos, band_dpos, jac_rows):
    """Integrate ``u' = f(t, u)`` on ``[t0, tf]``; see the module docstring.

    Returns ``(status, t, u, ts, us, stats, rec_t, rec_h, rec_u, rec_k, h)`` like
    :func:`symdyn.solvers.rosenbrock.rosenbrock_solve` (``rec_k`` holds the increments ``Z_i``).
    """
    n = u0.shape[0]
    s = c.shape[0]  # 3: the real + complex split below is written for one real eigenvalue and one pair
    rtol = RTOL_FACTOR * rtol_user**RTOL_EXPONENT
    atol = np.empty(n)
    for k in range(n):
        atol[k] = atol_user[k] * (rtol / rtol_user)
    fnewt = max(10.0 * EPS / rtol, min(FNEWT_MAX, math.sqrt(rtol)))

    u = u0.copy()
    unew = np.empty(n)
    ytmp = np.empty(n)
    fx = np.empty(n)
    f2 = np.empty(n)
    err = np.empty(n)
    scal = np.empty(n)
    Z = np.zeros((s, n))
    Wt = np.zeros((s, n))
    F = np.empty((s, n))
    Zold = np.zeros((s, n))
    dw1 = np.empty(n)
    v = np.empty(n, np.complex128)
    ell = np.empty(s)
    bt = np.empty(s)
    # banded (band_kl >= 0): as in the Rosenbrock kernel, `jac` gives CSC values scattered into
    # band storage of the reordered E1 (real) and E2 (complex)
    banded = band_kl >= 0
    nd = 1 if banded else n
    Jflat = np.empty(nd * nd)
    J = Jflat.reshape((nd, nd))  # J[col, row] = d f_row / d u_col
    E1 = np.empty((nd, nd))
    E2 = np.empty((nd, nd), np.complex128)
    nb = n if banded else 1
    ldab = 2 * band_kl + band_ku + 1 if banded else 1
    AB1 = np.zeros((nb, ldab))
    AB1f = AB1.reshape(nb * ldab)
    AB2 = np.zeros((nb, ldab), np.complex128)
    AB2f = AB2.reshape(nb * ldab)
    vals = np.empty(jac_rows.shape[0])
    work1 = np.empty(nb)
    work2 = np.empty(nb, np.complex128)
    piv1 = np.empty(n, np.int64)
    piv2 = np.empty(n, np.int64)
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
    for k in range(n):
        scal[k] = atol[k] + rtol * abs(u[k])

    # the loop state carried between calls of _steps: t, h, h_lu (the h of the current
    # factorisations, < 0: none), hold, hacc, erracc, faccon, theta / need_jac, caljac (J evaluated at
    # the current (t, u)), first, rejected, have_old (a previous step to extrapolate starting values
    # from), last_failure (0: none, 1: non-finite, 2: singular matrix, 3: Newton failed), m, nrec
    fstate = np.array([t0, h, -1.0, h, h, 1.0, 1.0, THET])
    istate = np.array([1, 0, 1, 0, 0, 0, m, 0], np.int64)
    while True:
        status = _steps(rhs, jac, p, t0, tf, c, T, TI, gamma, alpha, beta, dd, dense, q, saveat, save_steps,
                        keep_dense, rtol, atol, fnewt, adaptive, max_steps, band_kl, band_ku, band_perm, band_pos,
                        band_dpos, u, unew, ytmp, fx, f2, err, scal, Z, Wt, F, Zold, dw1, v, ell, bt, Jflat, J, E1,
                        E2, AB1, AB1f, AB2, AB2f, vals, work1, work2, piv1, piv2, stats, ts, us, rec_t, rec_h, rec_u,
                        rec_k, fstate, istate)
        if status != st.BUFFER_FULL:
            break
        m, nrec = istate[6], istate[7]
        ts, us, rec_t, rec_h, rec_u, rec_k = grow_outputs(save_steps, keep_dense, m, nrec, ts, us, rec_t, rec_h, rec_u,
                                                          rec_k)
    m, nrec = istate[6], istate[7]
    return (status, fstate[0], u, ts[:m], us[:m], stats, rec_t[:nrec], rec_h[:nrec], rec_u[:nrec], rec_k[:nrec],
            fstate[1])


@numba.njit(cache=True)
def _steps(rhs, jac, p, t0, tf, c, T, TI, gamma, alpha, beta, dd, dense, q, saveat, save_steps, keep_dense, rtol,
           atol, fnewt, adaptive, max_steps, band_kl, band_ku, band_perm, band_pos, band_dpos, u, unew, ytmp, fx, f2,
           err, scal, Z, Wt, F, Zold, dw1, v, ell, bt, Jflat, J, E1, E2, AB1, AB1f, AB2, AB2f, vals, work1, work2,
           piv1, piv2, stats, ts, us, rec_t, rec_h, rec_u, rec_k, fstate, istate):
    """The time loop of :func:`radau_solve` from the state in ``fstate``/``istate`` (updated in place);
    returns a status code, or ``BUFFER_FULL`` before a step whose output has no room.  Arrays are
    never rebound here (see :func:`symdyn.solvers.explicit.explicit_rk_solve`)."""
    n = u.shape[0]
    s = c.shape[0]
    nsave = saveat.shape[0]
    banded = band_kl >= 0
    t, h, h_lu, hold, hacc, erracc, faccon, theta = (fstate[0], fstate[1], fstate[2], fstate[3], fstate[4],
                                                     fstate[5], fstate[6], fstate[7])
    need_jac = istate[0] != 0
    caljac = istate[1] != 0
    first = istate[2] != 0
    rejected = istate[3] != 0
    have_old = istate[4] != 0
    last_failure = istate[5]
    m = istate[6]
    nrec = istate[7]
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
            need_jac = False
            caljac = True
            h_lu = -1.0
        fac1 = gamma / h
        alphn = alpha / h
        betan = beta / h
        if h != h_lu:
            z2 = complex(alphn, betan)
            if banded:
                band_assemble(AB1f, vals, band_pos, band_dpos, fac1)
                band_assemble(AB2f, vals, band_pos, band_dpos, z2)
            else:
                for col in range(n):
                    for r in range(n):
                        E1[col, r] = -J[col, r]
                        E2[col, r] = -J[col, r]
                    E1[col, col] += fac1
                    E2[col, col] += z2
            stats[st.NLU] += 1
            if banded:
                ok = band_lu_factor(AB1, band_kl, band_ku, piv1) and band_lu_factor(AB2, band_kl, band_ku, piv2)
            else:
                ok = lu_factor(E1, piv1) and lu_factor(E2, piv2)
            if not ok:
                h_lu = -1.0
                stats[st.NREJECT] += 1
                last_failure = 2
                rejected = True
                if not adaptive:
                    status = st.LINEAR_SOLVE_FAILED
                    break
                need_jac = not caljac  # an old J may be the culprit; at this point it stays
                h *= FAC_SINGULAR
                continue
            h_lu = h

        # starting values: the previous collocation polynomial, or zero
        if have_old:
            ratio = h / hold
            for i in range(s):
                _ell(dense, 1.0 + c[i] * ratio, ell)
                for k in range(n):
                    acc = -Zold[s - 1, k]
                    for j in range(s):
                        acc += ell[j] * Zold[j, k]
                    Z[i, k] = acc
            for i in range(s):
                for k in range(n):
                    acc = 0.0
                    for j in range(s):
                        acc += TI[i, j] * Z[j, k]
                    Wt[i, k] = acc
        else:
            for i in range(s):
                for k in range(n):
                    Z[i, k] = 0.0
                    Wt[i, k] = 0.0

        # simplified Newton iteration
        faccon = max(faccon, EPS) ** 0.8
        theta = THET
        newt = 0
        dynold = 1.0
        thqold = 1.0
        fail = 0  # 0: converged, 1: non-finite, 3: slow or diverging
        hfac = FAC_DIVERGED
        while True:
            if newt >= NIT:
                fail = 3
                break
            for i in range(s):
                for k in range(n):
                    ytmp[k] = u[k] + Z[i, k]
                call_native_row(rhs, t + c[i] * h, ytmp, p, F, i)
            stats[st.NFEV] += s
            dyno = 0.0
            for k in range(n):
                r0 = TI[0, 0] * F[0, k] + TI[0, 1] * F[1, k] + TI[0, 2] * F[2, k]
                r1 = TI[1, 0] * F[0, k] + TI[1, 1] * F[1, k] + TI[1, 2] * F[2, k]
                r2 = TI[2, 0] * F[0, k] + TI[2, 1] * F[1, k] + TI[2, 2] * F[2, k]
                dw1[k] = r0 - fac1 * Wt[0, k]
                v[k] = complex(r1 - alphn * Wt[1, k] + betan * Wt[2, k], r2 - betan * Wt[1, k] - alphn * Wt[2, k])
            if banded:
                perm_band_solve(AB1, band_kl, band_ku, piv1, band_perm, dw1, work1)
                perm_band_solve(AB2, band_kl, band_ku, piv2, band_perm, v, work2)
            else:
                lu_solve(E1, piv1, dw1)
                lu_solve(E2, piv2, v)
            for k in range(n):
                a0 = dw1[k] / scal[k]
                a1 = v[k].real / scal[k]
                a2 = v[k].imag / scal[k]
                dyno += a0 * a0 + a1 * a1 + a2 * a2
            dyno = math.sqrt(dyno / (s * n))
            if not math.isfinite(dyno):
                fail = 1
                break
            newt += 1
            if newt > 1 and newt < NIT:
                thq = dyno / dynold
                theta = thq if newt == 2 else math.sqrt(thq * thqold)
                thqold = thq
                if theta < THETA_DIVERGE:
                    faccon = theta / (1.0 - theta)
                    dyth = faccon * dyno * theta ** (NIT - 1 - newt) / fnewt
                    if dyth >= 1.0 and adaptive:  # will not converge in time: a smaller step
                        qnewt = max(1e-4, min(20.0, dyth))
                        hfac = 0.8 * qnewt ** (-1.0 / (4.0 + NIT - 1 - newt))
                        fail = 3
                        break
                else:
                    fail = 3
                    break
            dynold = max(dyno, EPS)
            for k in range(n):
                w0 = Wt[0, k] + dw1[k]
                w1 = Wt[1, k] + v[k].real
                w2 = Wt[2, k] + v[k].imag
                Wt[0, k] = w0
                Wt[1, k] = w1
                Wt[2, k] = w2
                for i in range(s):
                    Z[i, k] = T[i, 0] * w0 + T[i, 1] * w1 + T[i, 2] * w2
            if faccon * dyno <= fnewt:
                break

        if fail != 0:
            stats[st.NREJECT] += 1
            rejected = True
            last_failure = fail
            if not adaptive:
                status = st.NON_FINITE if fail == 1 else st.STEP_SIZE_TOO_SMALL
                break
            h *= FAC_NONFINITE if fail == 1 else hfac
            need_jac = not caljac
            continue

        # error estimate (RADAU5's ESTRAD)
        for k in range(n):
            acc = 0.0
            for i in range(s):
                acc += dd[i] * Z[i, k]
            f2[k] = acc / h
            err[k] = f2[k] + fx[k]
            unew[k] = u[k] + Z[s - 1, k]
        if banded:
            perm_band_solve(AB1, band_kl, band_ku, piv1, band_perm, err, work1)
        else:
            lu_solve(E1, piv1, err)
        errn = 0.0
        if adaptive:
            errn = max(math.sqrt(scaled_sq_sum(err, u, unew, rtol, atol) / n), 1e-10)
            if errn >= 1.0 and (first or rejected):
                for k in range(n):
                    ytmp[k] = u[k] + err[k]
                call_native(rhs, t, ytmp, p, err)
                stats[st.NFEV] += 1
                for k in range(n):
                    err[k] += f2[k]
                if banded:
                    perm_band_solve(AB1, band_kl, band_ku, piv1, band_perm, err, work1)
                else:
                    lu_solve(E1, piv1, err)
                errn = max(math.sqrt(scaled_sq_sum(err, u, unew, rtol, atol) / n), 1e-10)
        if not (math.isfinite(errn) and all_finite(unew)):
            stats[st.NREJECT] += 1
            last_failure = 1
            rejected = True
            if not adaptive:
                status = st.NON_FINITE
                break
            h *= FAC_NONFINITE
            need_jac = not caljac
            continue

        if errn < 1.0:
            t_new = tf if last else t + h
            call_native(rhs, t_new, unew, p, ytmp)
            stats[st.NFEV] += 1
            if not all_finite(ytmp):
                stats[st.NREJECT] += 1
                last_failure = 1
                rejected = True
                if not adaptive:
                    status = st.NON_FINITE
                    break
                h *= FAC_NONFINITE
                need_jac = not caljac
                continue
            last_failure = 0
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
                        interpolate((saveat[m] - t) / h, 1.0, u, Z, dense, bt, us[m])
                    m += 1
            if keep_dense:
                rec_t[nrec] = t
                rec_h[nrec] = h
                copy1(rec_u[nrec], u)
                for i in range(s):
                    copy1(rec_k[nrec, i], Z[i])
                nrec += 1
            for i in range(s):
                for k in range(n):
                    Zold[i, k] = Z[i, k]
            have_old = True
            hold = h
            copy1(u, unew)
            copy1(fx, ytmp)
            t = t_new
            for k in range(n):
                scal[k] = atol[k] + rtol * abs(u[k])
            stats[st.NACCEPT] += 1
            fac = predictive_factor(errn, q, h, hacc, erracc, first)
            first = False
            hacc = h
            erracc = max(errn, 1e-2)
            if rejected:
                fac = min(fac, 1.0)
            rejected = False
            caljac = False
            if adaptive:
                if not (theta <= THET and QUOT1 <= fac <= QUOT2):
                    h *= fac
                need_jac = theta > THET
            else:
                need_jac = theta > THET
        else:
            stats[st.NREJECT] += 1
            rejected = True
            last_failure = 0
            h *= FAC_FIRST_REJECT if first else reject_factor(errn, q)
            need_jac = not caljac

    fstate[0], fstate[1], fstate[2], fstate[3] = t, h, h_lu, hold
    fstate[4], fstate[5], fstate[6], fstate[7] = hacc, erracc, faccon, theta
    istate[0] = 1 if need_jac else 0
    istate[1] = 1 if caljac else 0
    istate[2] = 1 if first else 0
    istate[3] = 1 if rejected else 0
    istate[4] = 1 if have_old else 0
    istate[5] = last_failure
    istate[6] = m
    istate[7] = nrec
    return status


_F_HLU, _F_ERRACC, _F_FACCON, _F_THETA, _F_FNEWT = _F["h_lu"], _F["erracc"], _F["faccon"], _F["theta"], _F["fnewt"]
_I_NEED_JAC, _I_FIRST = _I["need_jac"], _I["first"]
_NF, _NI = len(_F), len(_I)


@numba.njit(cache=True)
def radau_fused_solve(stepper, work_size, p, t0, tf, u0, s, saveat, save_steps, rtol_user, atol_user, h_init, adaptive,
                      max_steps, keep_dense):
    """:func:`radau_solve` (dense Jacobian) with the time loop emitted as LLVM IR for one model
    (:mod:`codegen.radau_loop`; :mod:`symdyn.solvers.fused` builds it); ``work_size`` is its work
    array's length (:func:`codegen.radau_loop.work_layout`).  Returns ``(status, t, u, ts, us,
    stats, h, rec)`` like :func:`symdyn.solvers.explicit.explicit_fused_dense_solve` (``rec``
    without rows unless ``keep_dense``; its stages are the ``Z_i``)."""
    n = u0.shape[0]
    rtol = RTOL_FACTOR * rtol_user**RTOL_EXPONENT  # RADAU5's tolerance map, as radau_solve
    atol = np.empty(n)
    for k in range(n):
        atol[k] = atol_user[k] * (rtol / rtol_user)
    u = u0.copy()
    fargs = np.zeros(_NF)
    fargs[_F_HLU] = -1.0  # radau_solve's starting state: no factorisation, erracc 1, faccon 1, theta THET
    fargs[_F_ERRACC] = 1.0
    fargs[_F_FACCON] = 1.0
    fargs[_F_THETA] = THET
    fargs[_F_FNEWT] = max(10.0 * EPS / rtol, min(FNEWT_MAX, math.sqrt(rtol)))
    iargs = np.zeros(_NI, np.int64)
    iargs[_I_NEED_JAC] = 1
    iargs[_I_FIRST] = 1
    status, t, ts, us, stats, h, rec = run_emitted(stepper, fargs, iargs, u, p, np.zeros(work_size), atol, saveat,
                                                   save_steps, s, t0, tf, rtol, 0.0, h_init, adaptive, max_steps,
                                                   keep_dense)
    return status, t, u, ts, us, stats, h, rec
