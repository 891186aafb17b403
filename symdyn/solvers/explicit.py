"""The generic explicit Runge--Kutta stepper: one native loop for every tableau.

:func:`explicit_rk_solve` integrates from ``t0`` to ``tf`` in one call, with the method given
as arrays (:meth:`ExplicitRKTableau.native_args`) and the right-hand side as a function
address.  Stepping lives here; the error norm and the step-size rules live in
:mod:`symdyn.solvers.control`.  Work arrays are allocated once per solve; output buffers
grow by doubling.

Output: at the times in ``saveat`` by the method's continuous extension (the step sequence is
not changed by output), or -- when ``save_steps`` -- at ``t0`` and after every accepted step.
With ``keep_dense`` every accepted step is recorded (start time, size, state, stages) so that
Python can evaluate the continuous extension anywhere afterwards.

Stiffness detection (``stiff_bound > 0``, for methods whose last two stages are both at
``t + h``, i.e. Tsit5 and DP5): Hairer's estimate ``h*|lambda| ~ h*||k_s - k_{s-1}|| /
||u_new - Y_{s-1}||`` of the dominant eigenvalue (HNW II, Sec. IV.2; code DOPRI5).  When it
exceeds ``stiff_bound`` in 15 accepted steps (without 6 consecutive non-stiff ones between),
the kernel stops with status ``STIFF`` so that the caller can switch to an implicit method.
"""
import math

import numba
import numpy as np

from codegen.erk import F as _F, I as _I

from . import _status as st
from ._buffers import copy1, grow_outputs, new_outputs
from ._emitted import run_emitted
from ._native import call_native_row
from .control import (
    ERROLD_MIN,
    FAC_NONFINITE,
    all_finite,
    initial_step,
    min_step,
    pi_factor,
    reject_factor,
    scaled_sq_sum,
)

#: Hairer's counts for the stiffness test (DOPRI5)
STIFF_HITS = 15
NONSTIFF_RESET = 6


#: from this many states on, stage sums run stage-outer (long independent loops over the states)
STAGE_OUTER_N = 16


def stage_outer_for(n: int) -> bool:
    """The ``stage_outer`` argument of :func:`explicit_rk_solve` for ``n`` states.

    >>> stage_outer_for(3), stage_outer_for(128)
    (False, True)
    """
    return n >= STAGE_OUTER_N


@numba.njit(cache=True, inline="always")  # array arguments: a call would cost refcounting
def _scaled_sum(w, h, K, out, stage_outer):
    """out = h * sum_j w[j] K[j] (j = 0, 1, ... in order), loops ordered as in :func:`_stage_input`."""
    n = out.shape[0]
    if not stage_outer:
        for k in range(n):
            acc = 0.0
            for j in range(w.shape[0]):
                acc += w[j] * K[j, k]
            out[k] = h * acc
    else:
        for k in range(n):
            out[k] = 0.0
        for j in range(w.shape[0]):
            wj = w[j]
            if wj != 0.0:
                for k in range(n):
                    out[k] += wj * K[j, k]
        for k in range(n):
            out[k] = h * out[k]


@numba.njit(cache=True, inline="always")  # array arguments: a call would cost refcounting
def _stage_input(i, u, h, A, K, out, stage_outer):
    """out = u + h * sum_{j<i} A[i, j] K[j], summed in the order j = 0, 1, ... for every n."""
    n = u.shape[0]
    if not stage_outer:
        # component-outer: the inner loop is a short reduction, so LLVM emits no alias checks
        # or vector prologues that would cost more than the work for small n
        for k in range(n):
            acc = 0.0
            for j in range(i):
                acc += A[i, j] * K[j, k]
            out[k] = u[k] + h * acc
    else:
        # stage-outer: each pass is an independent (vectorisable) loop over the states; the
        # component-outer sums above are a chain of dependent adds per state, latency-bound
        # (a DOP853 step of KS with 128 states: 7.6 us of which 0.7 in the right-hand sides;
        # 3.0 us this way).  Same order of summation (out holds the partial sums), so the
        # same numbers as the small-n branch.
        for k in range(n):
            out[k] = 0.0
        for j in range(i):
            w = A[i, j]
            if w != 0.0:
                for k in range(n):
                    out[k] += w * K[j, k]
        for k in range(n):
            out[k] = u[k] + h * out[k]


@numba.njit(cache=True, inline="always")  # array arguments: a call would cost refcounting
def _row_finite(K, i):
    for k in range(K.shape[1]):
        if not math.isfinite(K[i, k]):
            return False
    return True


@numba.njit(cache=True)
def _extra_stages(rhs, p, t, h, u, A, c, K, s, ytmp, stage_outer):
    """Evaluate the stages used only by the continuous extension (s .. s_total-1)."""
    for i in range(s, c.shape[0]):
        _stage_input(i, u, h, A, K, ytmp, stage_outer)
        call_native_row(rhs, t + c[i] * h, ytmp, p, K, i)
    return c.shape[0] - s


@numba.njit(cache=True, inline="always")  # array arguments: a call would cost refcounting
def interpolate(theta, h, u, K, dense, bt, out):
    """out = u + h * sum_i b_i(theta) K[i];  ``bt`` is workspace of length s_total."""
    st_, deg = dense.shape
    for i in range(st_):
        acc = 0.0
        pw = theta
        for j in range(deg):
            acc += dense[i, j] * pw
            pw *= theta
        bt[i] = h * acc
    for k in range(u.shape[0]):
        out[k] = u[k]
    for i in range(st_):
        w = bt[i]
        if w != 0.0:
            for k in range(u.shape[0]):
                out[k] += w * K[i, k]


# slots of the loop state carried between calls of _steps
_T, _H, _ERROLD = 0, 1, 2
_M, _NREC, _REJECTED, _LAST_NONFINITE, _STIFF_HITS, _NONSTIFF_RUN = 0, 1, 2, 3, 4, 5


def explicit_rk_solve(rhs, p, t0, tf, u0, A, c, b, e, e2, dense, fsal, order, q, beta,
                      saveat, save_steps, keep_dense, rtol, atol, h_init, adaptive, max_steps,
                      stiff_bound):
    """Integrate ``u' = f(t, u)`` on ``[t0, tf]`` natively; see :func:`_solve` and the module docstring.

    The stage sums are ordered for ``n = u0.shape[0]`` (:func:`stage_outer_for`): each order is
    its own compiled kernel, because a run-time branch between the two made the small-``n``
    loop 2.3x slower (Lorenz DOP853: 97 -> 226 us).
    """
    kernel = _solve_stage_outer if stage_outer_for(u0.shape[0]) else _solve_component_outer
    return kernel(rhs, p, t0, tf, u0, A, c, b, e, e2, dense, fsal, order, q, beta, saveat, save_steps, keep_dense,
                  rtol, atol, h_init, adaptive, max_steps, stiff_bound)


@numba.njit(cache=True)
def _solve_component_outer(rhs, p, t0, tf, u0, A, c, b, e, e2, dense, fsal, order, q, beta, saveat, save_steps,
                           keep_dense, rtol, atol, h_init, adaptive, max_steps, stiff_bound):
    return _solve(rhs, p, t0, tf, u0, A, c, b, e, e2, dense, fsal, order, q, beta, saveat, save_steps, keep_dense,
                  rtol, atol, h_init, adaptive, max_steps, stiff_bound, False)


@numba.njit(cache=True)
def _solve_stage_outer(rhs, p, t0, tf, u0, A, c, b, e, e2, dense, fsal, order, q, beta, saveat, save_steps,
                       keep_dense, rtol, atol, h_init, adaptive, max_steps, stiff_bound):
    return _solve(rhs, p, t0, tf, u0, A, c, b, e, e2, dense, fsal, order, q, beta, saveat, save_steps, keep_dense,
                  rtol, atol, h_init, adaptive, max_steps, stiff_bound, True)


@numba.njit(cache=True, inline="always")  # compiled only inside the two entries above
def _solve(rhs, p, t0, tf, u0, A, c, b, e, e2, dense, fsal, order, q, beta,
           saveat, save_steps, keep_dense, rtol, atol, h_init, adaptive, max_steps,
           stiff_bound, stage_outer):
    """Integrate ``u' = f(t, u)`` on ``[t0, tf]``; see the module docstring.

    Returns ``(status, t, u, ts, us, stats, rec_t, rec_h, rec_u, rec_k, h)``: the status code
    (:mod:`._status`), the time reached and the state there, the saved output, the counters,
    the step records (empty unless ``keep_dense``) and the step size the controller proposes next.

    The time loop itself is :func:`_steps`, which never reassigns an array: output buffers
    that fill up are grown here, between its calls.  (A loop that may rebind arrays makes numba
    count references on every iteration -- atomic operations that cost more than a small
    model's whole step: Lorenz with DOP853 went from 97 to 65 us when they were removed.)

    ``stage_outer`` picks the loop order of the stage sums.  The two entries pass it as a
    constant: it reaches :func:`_steps` as a literal type, so each order is its own compiled
    code with the other branch removed.  (This function is inlined into the entries: compiled
    on its own and linked into them, it had cost 4 s more of first-time compilation.)
    """
    n = u0.shape[0]
    s_total = c.shape[0]
    K = np.empty((s_total, n))
    u = u0.copy()
    unew = np.empty(n)
    ytmp = np.empty(n)
    ysti = np.empty(n)
    err = np.empty(n)
    err2 = np.empty(n)
    bt = np.empty(s_total)
    stats = np.zeros(st.NSTATS, np.int64)

    ts, us, m, rec_t, rec_h, rec_u, rec_k = new_outputs(t0, u0, saveat, save_steps, keep_dense, s_total)

    call_native_row(rhs, t0, u, p, K, 0)
    stats[st.NFEV] += 1
    if not all_finite(K[0]):
        return st.NON_FINITE, t0, u, ts[:m], us[:m], stats, rec_t[:0], rec_h[:0], rec_u[:0], rec_k[:0], 0.0
    if h_init > 0.0:
        h = h_init
    else:
        h = initial_step(rhs, p, t0, tf, u0, K[0], order, rtol, atol, ytmp, K[1])
        stats[st.NFEV] += 1
    fstate = np.array([t0, min(h, tf - t0), ERROLD_MIN])
    istate = np.zeros(6, np.int64)
    istate[_M] = m
    while True:
        status = _steps(rhs, p, t0, tf, A, c, b, e, e2, dense, fsal, q, beta, saveat, save_steps, keep_dense,
                        rtol, atol, adaptive, max_steps, stiff_bound, K, u, unew, ytmp, ysti, err, err2, bt,
                        stats, ts, us, rec_t, rec_h, rec_u, rec_k, fstate, istate, stage_outer)
        if status != st.BUFFER_FULL:
            break
        m, nrec = istate[_M], istate[_NREC]
        ts, us, rec_t, rec_h, rec_u, rec_k = grow_outputs(save_steps, keep_dense, m, nrec, ts, us, rec_t, rec_h, rec_u,
                                                          rec_k)
    m = istate[_M]
    nrec = istate[_NREC]
    return (status, fstate[_T], u, ts[:m], us[:m], stats, rec_t[:nrec], rec_h[:nrec], rec_u[:nrec], rec_k[:nrec],
            fstate[_H])


@numba.njit(cache=True)
def _steps(rhs, p, t0, tf, A, c, b, e, e2, dense, fsal, q, beta, saveat, save_steps, keep_dense, rtol, atol,
           adaptive, max_steps, stiff_bound, K, u, unew, ytmp, ysti, err, err2, bt, stats, ts, us, rec_t, rec_h,
           rec_u, rec_k, fstate, istate, stage_outer):
    """The time loop of :func:`explicit_rk_solve`, from the state in ``fstate``/``istate`` (updated in
    place); returns a status code, or ``BUFFER_FULL`` before an accepted step whose output has
    no room (the step is then repeated after the caller has grown the buffers)."""
    n = u.shape[0]
    s = b.shape[0]
    s_total = c.shape[0]
    nsave = saveat.shape[0]
    has_e2 = False
    for i in range(s):
        if e2[i] != 0.0:
            has_e2 = True
    t = fstate[_T]
    h = fstate[_H]
    errold = fstate[_ERROLD]
    m = istate[_M]
    nrec = istate[_NREC]
    rejected = istate[_REJECTED] != 0
    last_nonfinite = istate[_LAST_NONFINITE] != 0
    stiff_hits = istate[_STIFF_HITS]
    nonstiff_run = istate[_NONSTIFF_RUN]
    status = st.SUCCESS

    while t < tf:
        if (save_steps and m == ts.shape[0]) or (keep_dense and nrec == rec_t.shape[0]):
            status = st.BUFFER_FULL
            break
        if stats[st.NSTEPS] >= max_steps:
            status = st.MAX_STEPS
            break
        if adaptive and h < min_step(t, t0, tf):
            status = st.NON_FINITE if last_nonfinite else st.STEP_SIZE_TOO_SMALL
            break
        last = False
        if (adaptive and t + 1.01 * h >= tf) or (not adaptive and t + h * (1.0 + 1e-9) >= tf):
            h = tf - t
            last = True
        stats[st.NSTEPS] += 1

        for i in range(1, s):
            _stage_input(i, u, h, A, K, ytmp, stage_outer)
            if i == s - 2:
                copy1(ysti, ytmp)
            call_native_row(rhs, t + c[i] * h, ytmp, p, K, i)
        stats[st.NFEV] += s - 1
        if fsal:
            _stage_input(s - 1, u, h, A, K, unew, stage_outer)  # the last stage's input is u_new
        else:
            _scaled_sum(b, h, K, unew, stage_outer)
            for k in range(n):
                unew[k] += u[k]

        errn = 0.0
        if adaptive:
            _scaled_sum(e, h, K, err, stage_outer)
            if has_e2:
                _scaled_sum(e2, h, K, err2, stage_outer)
            ss = scaled_sq_sum(err, u, unew, rtol, atol)
            if has_e2:
                # DOP853: the 5th-order estimate corrected by the 3rd-order one (Hairer)
                ss3 = scaled_sq_sum(err2, u, unew, rtol, atol)
                den = ss + 0.01 * ss3
                errn = ss / math.sqrt(den * n) if den > 0.0 else 0.0
            else:
                errn = math.sqrt(ss / n)
        # (written out: helpers taking arrays would cost two atomic reference counts per step)
        finite = math.isfinite(errn)
        for k in range(n):
            if not (math.isfinite(unew[k]) and (not fsal or math.isfinite(K[s - 1, k]))):
                finite = False
        if not finite:
            stats[st.NREJECT] += 1
            last_nonfinite = True
            rejected = True
            if not adaptive:
                status = st.NON_FINITE
                break
            h *= FAC_NONFINITE
            continue
        last_nonfinite = False

        if errn <= 1.0 or not adaptive:
            t_new = tf if last else t + h
            dense_ready = s == s_total
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
                        if not dense_ready:
                            stats[st.NFEV] += _extra_stages(rhs, p, t, h, u, A, c, K, s, ytmp, stage_outer)
                            dense_ready = True
                        interpolate((saveat[m] - t) / h, h, u, K, dense, bt, us[m])
                    m += 1
            if keep_dense:
                if not dense_ready:
                    stats[st.NFEV] += _extra_stages(rhs, p, t, h, u, A, c, K, s, ytmp, stage_outer)
                    dense_ready = True
                rec_t[nrec] = t
                rec_h[nrec] = h
                copy1(rec_u[nrec], u)
                for i in range(s_total):
                    copy1(rec_k[nrec, i], K[i])
                nrec += 1
            if stiff_bound > 0.0:
                num = 0.0
                den = 0.0
                for k in range(n):
                    num += (K[s - 1, k] - K[s - 2, k]) ** 2
                    den += (unew[k] - ysti[k]) ** 2
                if den > 0.0 and h * math.sqrt(num / den) > stiff_bound:
                    nonstiff_run = 0
                    stiff_hits += 1
                else:
                    nonstiff_run += 1
                    if nonstiff_run == NONSTIFF_RESET:
                        stiff_hits = 0
            copy1(u, unew)
            t = t_new
            if fsal:
                for k in range(n):
                    K[0, k] = K[s - 1, k]
            else:
                call_native_row(rhs, t, u, p, K, 0)
                stats[st.NFEV] += 1
            stats[st.NACCEPT] += 1
            if adaptive:
                h *= pi_factor(errn, errold, q, beta, rejected)
                errold = max(errn, ERROLD_MIN)
            rejected = False
            if stiff_hits >= STIFF_HITS and t < tf:
                status = st.STIFF
                break
        else:
            stats[st.NREJECT] += 1
            h *= reject_factor(errn, q)
            rejected = True

    fstate[_T] = t
    fstate[_H] = h
    fstate[_ERROLD] = errold
    istate[_M] = m
    istate[_NREC] = nrec
    istate[_REJECTED] = 1 if rejected else 0
    istate[_LAST_NONFINITE] = 1 if last_nonfinite else 0
    istate[_STIFF_HITS] = stiff_hits
    istate[_NONSTIFF_RUN] = nonstiff_run
    return status


_F_ERROLD = _F["errold"]
_NF, _NI = len(_F), len(_I)


@numba.njit(cache=True)
def _fused(stepper, p, t0, tf, u0, s_total, saveat, save_steps, rtol, atol, h_init, adaptive, max_steps, stiff_bound,
           keep_dense):
    u = u0.copy()
    fargs = np.zeros(_NF)
    fargs[_F_ERROLD] = ERROLD_MIN
    iargs = np.zeros(_NI, np.int64)
    status, t, ts, us, stats, h, rec = run_emitted(stepper, fargs, iargs, u, p, np.empty(u.shape[0]), atol, saveat,
                                                   save_steps, s_total, t0, tf, rtol, stiff_bound, h_init, adaptive,
                                                   max_steps, keep_dense)
    return status, t, u, ts, us, stats, h, rec


@numba.njit(cache=True)
def explicit_fused_solve(stepper, p, t0, tf, u0, s_total, saveat, save_steps, rtol, atol, h_init, adaptive,
                         max_steps, stiff_bound):
    """:func:`explicit_rk_solve` with the time loop emitted as LLVM IR for one model and method
    (:mod:`codegen.erk`, address ``stepper``; :mod:`symdyn.solvers.fused` builds it).  Same
    arguments (the tableau is compiled into the loop; ``s_total`` is its stage count); returns
    ``(status, t, u, ts, us, stats, h)``: no step records (:func:`explicit_fused_dense_solve`
    keeps them), and four arrays fewer to return to Python."""
    status, t, u, ts, us, stats, h, _ = _fused(stepper, p, t0, tf, u0, s_total, saveat, save_steps, rtol, atol,
                                               h_init, adaptive, max_steps, stiff_bound, False)
    return status, t, u, ts, us, stats, h


@numba.njit(cache=True)
def explicit_fused_dense_solve(stepper, p, t0, tf, u0, s_total, saveat, save_steps, rtol, atol, h_init, adaptive,
                               max_steps, stiff_bound):
    """:func:`explicit_fused_solve` keeping every accepted step's record for ``dense=True``:
    returns ``(status, t, u, ts, us, stats, h, rec)``, ``rec`` rows of ``t, h, u, K_1 .. K_s``
    (:func:`._emitted.split_records` makes :class:`.solution.DenseOutput`'s arrays of them)."""
    return _fused(stepper, p, t0, tf, u0, s_total, saveat, save_steps, rtol, atol, h_init, adaptive, max_steps,
                  stiff_bound, True)

