"""Error control in one place: tolerances, the weighted norm, step-size selection.

Every stepper measures a local error estimate ``err`` with :func:`scaled_sq_sum` (the weights
``atol_i + rtol * max(|u_i|, |u_new_i|)``; ``atol`` is a vector, one entry per state) and asks
:func:`pi_factor` / :func:`reject_factor` for the next step size.  The first step comes from
:func:`initial_step` (Hairer's algorithm).  All are numba-compiled and allocation-free.

References: E. Hairer, S. P. Norsett, G. Wanner, *Solving Ordinary Differential Equations I*,
2nd ed., Sec. II.4 (starting step size, eq. 4.12ff) and Sec. IV.2 / code DOPRI5 (the PI
controller of Gustafsson with Hairer's constants).
"""
import math

import numba
import numpy as np

from ._native import call_native

#: step-size safety factor
SAFETY = 0.9
#: the step may shrink at most by FACMIN and grow at most by FACMAX per step
FACMIN = 0.2
FACMAX = 10.0
#: step factor after a step produced NaN or Inf
FAC_NONFINITE = 0.1
#: floor of the previous error in the PI controller
ERROLD_MIN = 1e-4
#: a step is too small when h < HMIN_ULPS * eps * max(|t|, HMIN_SPAN * |t_end - t0|)
HMIN_ULPS = 16.0
HMIN_SPAN = 1e-10
EPS = float(np.finfo(np.float64).eps)


@numba.njit(cache=True, inline="always")  # array arguments: a call would cost refcounting
def scaled_sq_sum(err, u, unew, rtol, atol):
    """``sum_i (err_i / (atol_i + rtol * max(|u_i|, |unew_i|)))**2``."""
    acc = 0.0
    for i in range(err.shape[0]):
        sc = atol[i] + rtol * max(abs(u[i]), abs(unew[i]))
        r = err[i] / sc
        acc += r * r
    return acc


@numba.njit(cache=True, inline="always")  # array arguments: a call would cost refcounting
def rms_norm(err, u, unew, rtol, atol):
    """The weighted RMS norm of an error estimate; <= 1 means the step is accepted."""
    return math.sqrt(scaled_sq_sum(err, u, unew, rtol, atol) / err.shape[0])


@numba.njit(cache=True, inline="always")  # array arguments: a call would cost refcounting
def all_finite(x):
    for i in range(x.shape[0]):
        if not math.isfinite(x[i]):
            return False
    return True


@numba.njit(cache=True)
def min_step(t, t0, tf):
    return HMIN_ULPS * EPS * max(abs(t), HMIN_SPAN * abs(tf - t0))


@numba.njit(cache=True)
def pi_factor(err, errold, q, beta, after_reject):
    """Step factor after an accepted step: ``SAFETY * err**-(1/q - 0.75 beta) * errold**beta``,
    clamped to [FACMIN, FACMAX] (to 1 right after a rejection), as in DOPRI5."""
    if err == 0.0:
        fac = FACMAX
    else:
        fac = SAFETY * err ** (-(1.0 / q - 0.75 * beta))
        if beta != 0.0:  # (DOP853 has none: one pow call less per step)
            fac *= errold**beta
    fac = min(FACMAX, max(FACMIN, fac))
    if after_reject:
        fac = min(fac, 1.0)
    return fac


@numba.njit(cache=True)
def reject_factor(err, q):
    """Step factor after a rejected step (err > 1)."""
    return max(FACMIN, SAFETY * err ** (-1.0 / q))


@numba.njit(cache=True)
def initial_step(rhs, p, t0, tf, u0, f0, order, rtol, atol, u1, f1):
    """Hairer's starting step (HNW I, Sec. II.4): one extra rhs call; ``u1``, ``f1`` are
    workspace.  Returns the step size."""
    n = u0.shape[0]
    d0 = 0.0
    d1 = 0.0
    for i in range(n):
        sc = atol[i] + rtol * abs(u0[i])
        d0 += (u0[i] / sc) ** 2
        d1 += (f0[i] / sc) ** 2
    d0 = math.sqrt(d0 / n)
    d1 = math.sqrt(d1 / n)
    if d0 < 1e-5 or d1 < 1e-5:
        h0 = 1e-6
    else:
        h0 = 0.01 * d0 / d1
    h0 = min(h0, tf - t0)
    for i in range(n):
        u1[i] = u0[i] + h0 * f0[i]
    call_native(rhs, t0 + h0, u1, p, f1)
    d2 = 0.0
    for i in range(n):
        sc = atol[i] + rtol * abs(u0[i])
        d2 += ((f1[i] - f0[i]) / sc) ** 2
    d2 = math.sqrt(d2 / n) / h0
    if not math.isfinite(d2):
        return h0 * 1e-3
    dmax = max(d1, d2)
    if dmax <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / dmax) ** (1.0 / (order + 1))
    return min(100.0 * h0, h1, tf - t0)


#: bounds of the step ratio in the predictive controller (RADAU5/RODAS: FACL = 5, FACR = 1/8)
PRED_FACMIN = 0.2
PRED_FACMAX = 8.0
#: floor of the previous accepted error in the predictive controller
ERRACC_MIN = 1e-2


@numba.njit(cache=True)
def predictive_factor(err, q, h, hacc, erracc, first):
    """Step factor after an accepted step, Gustafsson's predictive controller as in Hairer's
    RADAU5/RODAS: the larger step (smaller quotient) of the standard rule and
    ``(h_acc/h) * (err**2/err_acc)**(1/q)``; clamped to [PRED_FACMIN, PRED_FACMAX]."""
    e = max(err, 1e-10)
    quot = min(1.0 / PRED_FACMIN, max(1.0 / PRED_FACMAX, e ** (1.0 / q) / SAFETY))
    if not first:
        gus = (hacc / h) * (e * e / erracc) ** (1.0 / q) / SAFETY
        gus = min(1.0 / PRED_FACMIN, max(1.0 / PRED_FACMAX, gus))
        quot = max(quot, gus)
    return 1.0 / quot
