"""Exponential integrators for semilinear problems ``u' = L u + N(u, t)``: ETDRK4 and EXPMS.

``N`` reaches the kernels as the address of a native function with the usual C signature
(``void N(double t, const double *u, const double *p, double *out)``; a model compiled with
``symdyn.compile`` whose right-hand side is ``N``).  ``L`` is data.  See ``docs/exponential.md``.

**ETDRK4** (:func:`etdrk4_solve`): Cox & Matthews, *J. Comput. Phys.* 176 (2002) 430--455
(their ETD4RK), with the coefficients of Kassam & Trefethen, *SIAM J. Sci. Comput.* 26 (2005)
1214--1233, written with phi-functions (Hochbruck & Ostermann, *Acta Numerica* 19 (2010) 209--286),
``z = hL``::

    a = e^{z/2} u + h/2 phi_1(z/2) N(u, t)
    b = e^{z/2} u + h/2 phi_1(z/2) N(a, t + h/2)
    c = e^{z/2} a + h/2 phi_1(z/2) (2 N(b, t + h/2) - N(u, t))
    u_new = e^z u + h [f1 N(u) + 2 f2 (N(a) + N(b)) + f3 N(c)]
    f1 = phi_1 - 3 phi_2 + 4 phi_3,   f2 = phi_2 - 2 phi_3,   f3 = -phi_2 + 4 phi_3

``L`` is used in a basis where it is diagonal: ``diagonal`` (the states), ``circulant`` (the
discrete Fourier basis, transforms by :mod:`._fft` inside the native loop: real FFT of length
``n``, radix-2 when ``n/2`` is a power of two and Bluestein otherwise), or ``dense`` (adaptive: the
eigenbasis of ``L`` when it is well conditioned -- real and orthogonal, with real transforms, when
``L`` is symmetric; fixed steps: phi-matrices precomputed in Python by
:func:`.phi.phi_matrix`, one set per step size, the native loop doing matrix--vector products).

*Error estimate* (adaptive steps).  The method is exponential quadrature of the quadratic that
interpolates ``N`` at ``(0, N(u)), (1/2, (N(a)+N(b))/2), (1, N(c))`` (its weights are exactly
``f1, 2 f2 + 2 f2, f3`` above).  The embedded solution ``u_hat`` integrates instead the *cubic*
through ``N`` at the previous step's start (a free, stored value), ``t``, ``t + h/2`` and ``t + h``,
the last taken at the new state ``N(u_new, t + h)`` -- the first stage of the next step (FSAL), so
an accepted step costs 4 evaluations of ``N``, like fixed-step ETDRK4.  Then::

    u_new - u_hat = h f3(z) (N(c) - N(u_new)) - h w(z) N[-r, 0, 1/2, 1],   w = 6 phi_4 - 3 phi_3 + phi_2/2

with ``r = h_prev/h`` and ``N[...]`` the third divided difference: the first term measures the
error of the stages (the classical RK4(3) "FSAL" estimate for ``L = 0``), the second the error of
the quadratic interpolation in time (including explicit time dependence of ``N``).  On the first
step only the first term is used.  The local error of ``u_hat`` is ``O(h^4)``: the controller uses
the exponent ``1/4`` (:func:`.control.pi_factor`, ``q = 4``).  The step size is kept when the
controller proposes a factor in ``[STEADY_MIN, STEADY_MAX] = [0.95, 1.2]`` (a dead band, as RADAU5
keeps its LU for factors in ``[1, 1.2]``; 0.95 keeps ``h`` while the accepted error is below about
0.8), so the coefficients -- ``n`` phi evaluations, or ``n/2 + 1`` for a circulant ``L`` -- are
recomputed natively only when ``h`` changes (on KS, 10--25% of the steps instead of 50%, 25--40%
faster at equal error).

*Output*: at ``saveat`` by the continuous extension ``u(t + theta h) = e^{theta z} u + h
[theta phi_1(theta z) N_1 + theta^2 phi_2(theta z) (-3 N_1 + 4 N_m - N_c) + 4 theta^3 phi_3(theta z)
(N_1 - 2 N_m + N_c)]`` (the same quadratic integrated to ``theta``; equal to ``u_new`` at ``theta =
1``), so the steps do not depend on ``saveat``; with a dense ``L`` at fixed steps, steps end on the
``saveat`` points instead (one more phi-matrix set per distinct step size).

**EXPMS** (:func:`expms_solve`): an exponential multistep (Adams) method for ``L = a(t) I``, in
the style of DEIS (Zhang & Chen, ICLR 2023, its "tAB" variant) and DPM-Solver++(2M)
(Lu et al., arXiv:2211.01095, 2022):
with ``A' = a``,

    u_{i+1} = e^{A(t_{i+1}) - A(t_i)} u_i + sum_j w_ij N(u_{i-j}, t_{i-j}),
    w_ij = int_{t_i}^{t_{i+1}} e^{A(t_{i+1}) - A(s)} l_j(s) ds

with ``l_j`` the Lagrange polynomials through the last ``k`` grid points (``k = order``, fewer on
the first steps).  One evaluation of ``N`` per step.  Order 1 is exponential Euler (DDIM's update
when ``N`` is the score term).  For order 3 the first step is exponential Euler corrected by the
exponential trapezoidal rule with ``N`` at the predicted point (as UniPC's corrector, Zhao et
al., NeurIPS 2023; no extra evaluation), which keeps the global order 3.  The weights are computed once per solve in
Python (:func:`expms_weights`).
"""
from __future__ import annotations

import math
import numbers

import numba
import numpy as np

from . import _status as st
from ._buffers import copy1, grow1, grow2, new_outputs
from ._fft import EIG, EIGR, FULL, IDENT, RFFT, make_plan, spectrum_length, to_real, to_spec
from ._native import call_native
from .control import (
    ERROLD_MIN,
    FAC_NONFINITE,
    all_finite,
    min_step,
    pi_factor,
    reject_factor,
    scaled_sq_sum,
)
from .errors import DTypeError, NonFiniteValueError, OptionError, SaveatError, ShapeError
from .phi import TAYLOR_RADIUS, phi_all, phi_all_complex, phi_all_real, phi_matrix
from .solution import RetCode, Solution, _message

__all__ = ["etdrk4_solve", "expms_solve", "expms_weights", "etdrk4_coefficients", "L_KINDS",
           "ETDRK4_ORDER", "STEADY_MIN", "STEADY_MAX", "EIG_COND_MAX"]

#: the order of ETDRK4 and the exponent of its error estimate (the embedded solution has order 3)
ETDRK4_ORDER = 4
ERROR_EXPONENT = 4.0
#: PI controller beta (DOPRI5's value)
PI_BETA = 0.04
#: keep h (and the phi coefficients) when the controller proposes a factor in [STEADY_MIN, STEADY_MAX]
STEADY_MIN = 0.95
STEADY_MAX = 1.2
#: a dense L is used in its eigenbasis (adaptive steps) only when cond(V) is at most this
EIG_COND_MAX = 1e8
#: the kinds of L understood by etdrk4_solve
L_KINDS = ("diagonal", "circulant", "block_circulant", "dense")


# --- coefficients ---------------------------------------------------------------------------------
@numba.njit(cache=True)
def _set_coeffs(i, h, p0, p1, p2, p3, p4, q0, q1, E, E2, Q, F1, F2, F3, W):
    E[i] = p0
    E2[i] = q0
    Q[i] = 0.5 * h * q1
    F1[i] = h * (p1 - 3.0 * p2 + 4.0 * p3)
    F2[i] = 2.0 * h * (p2 - 2.0 * p3)
    F3[i] = h * (-p2 + 4.0 * p3)
    W[i] = h * (6.0 * p4 - 3.0 * p3 + 0.5 * p2)


@numba.njit(cache=True)
def _phi_up(z, em, p):
    """phi_1..phi_4 of z (|z| >= 1) by the upward recurrence from em = e^z - 1; into p[1..4]."""
    p[1] = em / z
    p[2] = (p[1] - 1.0) / z
    p[3] = (p[2] - 0.5) / z
    p[4] = (p[3] - 1.0 / 6.0) / z


@numba.njit(cache=True)
def _coeffs(lam, h, E, E2, Q, F1, F2, F3, W, br, bc):
    """The ETDRK4 coefficients (times h where they multiply N) and the error weight, per mode.

    For ``|z| >= 1`` two transcendental calls per mode: with ``x = z/2``, ``e^x`` and ``e^x - 1``
    give ``e^z = (e^x)^2`` and ``e^z - 1 = (e^x - 1)(e^x + 1)`` (no cancellation); below, the
    Taylor scheme of :mod:`.phi`.
    """
    for i in range(lam.shape[0]):
        z = h * lam[i]
        if z.imag == 0.0:
            x = z.real
            if abs(x) < TAYLOR_RADIUS:
                phi_all_real(x, 4, br)
                p0, p1, p2, p3, p4 = br[0], br[1], br[2], br[3], br[4]
                phi_all_real(0.5 * x, 1, br)
                q0, q1 = br[0], br[1]
            else:
                q0 = math.exp(0.5 * x)
                em2 = math.expm1(0.5 * x)
                q1 = em2 / (0.5 * x)
                p0 = q0 * q0
                _phi_up(x, em2 * (q0 + 1.0), br)
                p1, p2, p3, p4 = br[1], br[2], br[3], br[4]
            _set_coeffs(i, h, p0 + 0j, p1 + 0j, p2 + 0j, p3 + 0j, p4 + 0j, q0 + 0j, q1 + 0j,
                        E, E2, Q, F1, F2, F3, W)
        else:
            if abs(z) < TAYLOR_RADIUS:
                phi_all_complex(z, 4, bc)
                c0, c1, c2, c3, c4 = bc[0], bc[1], bc[2], bc[3], bc[4]
                phi_all_complex(0.5 * z, 1, bc)
                d0, d1 = bc[0], bc[1]
            else:
                a = 0.5 * z.real
                b = 0.5 * z.imag
                ea = math.exp(a)
                cb = math.cos(b)
                sb = math.sin(b)
                s2 = math.sin(0.5 * b)
                d0 = complex(ea * cb, ea * sb)
                em2 = complex(math.expm1(a) * cb - 2.0 * s2 * s2, ea * sb)
                d1 = em2 / (0.5 * z)
                c0 = d0 * d0
                _phi_up(z, em2 * (d0 + 1.0), bc)
                c1, c2, c3, c4 = bc[1], bc[2], bc[3], bc[4]
            _set_coeffs(i, h, c0, c1, c2, c3, c4, d0, d1, E, E2, Q, F1, F2, F3, W)


@numba.njit(cache=True)
def _dense_point(theta, h, lam, v, N1, N2, N3, N4, out, bc):
    """Spectrum of the continuous extension at ``t + theta h`` (see the module docstring)."""
    for i in range(lam.shape[0]):
        phi_all_complex(theta * h * lam[i], 3, bc)
        nm = 0.5 * (N2[i] + N3[i])
        out[i] = bc[0] * v[i] + h * (theta * bc[1] * N1[i]
                                     + theta * theta * bc[2] * (-3.0 * N1[i] + 4.0 * nm - N4[i])
                                     + 4.0 * theta ** 3 * bc[3] * (N1[i] - 2.0 * nm + N4[i]))


@numba.njit(cache=True)
def _initial_step(naddr, p, t0, tf, u0, f0, v, N1, lam, plan, rtol, atol, y, f, s1, s2):
    """Hairer's starting step (HNW I, Sec. II.4) for ``u' = L u + N``: one extra N evaluation."""
    n = u0.shape[0]
    m = lam.shape[0]
    for i in range(m):
        s1[i] = lam[i] * v[i] + N1[i]
    to_real(plan, s1, f0)  # f0 = L u0 + N(u0)
    d0 = 0.0
    d1 = 0.0
    for i in range(n):
        sc = atol[i] + rtol * abs(u0[i])
        d0 += (u0[i] / sc) ** 2
        d1 += (f0[i] / sc) ** 2
    d0 = math.sqrt(d0 / n)
    d1 = math.sqrt(d1 / n)
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    h0 = min(h0, tf - t0)
    for i in range(n):
        y[i] = u0[i] + h0 * f0[i]
    call_native(naddr, t0 + h0, y, p, f)
    to_spec(plan, f, s2)
    to_spec(plan, y, s1)
    for i in range(m):
        s1[i] = lam[i] * s1[i] + s2[i]
    to_real(plan, s1, f)  # f1 = L y + N(y)
    d2 = 0.0
    for i in range(n):
        sc = atol[i] + rtol * abs(u0[i])
        d2 += ((f[i] - f0[i]) / sc) ** 2
    d2 = math.sqrt(d2 / n) / h0
    if not math.isfinite(d2):
        return h0 * 1e-3
    dmax = max(d1, d2)
    h1 = max(1e-6, h0 * 1e-3) if dmax <= 1e-15 else (0.01 / dmax) ** (1.0 / (ETDRK4_ORDER + 1))
    return min(100.0 * h0, h1, tf - t0)


# --- the spectral (diagonal / circulant / eigenbasis) kernel -----------------------------------------
@numba.njit(cache=True)
def etdrk4_spectral(naddr, p, t0, tf, u0, lam, plan, saveat, save_steps, rtol, atol, h_init, adaptive,
                    max_steps):
    """ETDRK4 for ``u' = L u + N(u, t)`` with ``L`` diagonal in the plan's basis (eigenvalues ``lam``).

    Returns ``(status, t, u, ts, us, stats)`` (codes of :mod:`._status`).
    """
    n = u0.shape[0]
    m = lam.shape[0]
    u = u0.copy()
    unew = np.empty(n)
    y = np.empty(n)
    f = np.empty(n)
    err = np.empty(n)
    v = np.empty(m, np.complex128)
    vnew = np.empty(m, np.complex128)
    ah = np.empty(m, np.complex128)
    bh = np.empty(m, np.complex128)
    ch = np.empty(m, np.complex128)
    N1 = np.empty(m, np.complex128)
    N2 = np.empty(m, np.complex128)
    N3 = np.empty(m, np.complex128)
    N4 = np.empty(m, np.complex128)
    N5 = np.empty(m, np.complex128)
    Np = np.zeros(m, np.complex128)
    sh = np.empty(m, np.complex128)
    E = np.empty(m, np.complex128)
    E2 = np.empty(m, np.complex128)
    Q = np.empty(m, np.complex128)
    F1 = np.empty(m, np.complex128)
    F2 = np.empty(m, np.complex128)
    F3 = np.empty(m, np.complex128)
    W = np.empty(m, np.complex128)
    br = np.empty(5)
    bc = np.empty(5, np.complex128)
    stats = np.zeros(st.NSTATS, np.int64)

    nsave = saveat.shape[0]
    ts, us, k = new_outputs(t0, u0, saveat, save_steps, False, 0)[:3]

    t = t0
    to_spec(plan, u, v)
    call_native(naddr, t, u, p, f)
    stats[st.NFEV] += 1
    if not all_finite(f):
        return st.NON_FINITE, t, u, ts[:k], us[:k], stats
    to_spec(plan, f, N1)
    if h_init > 0.0:
        h = h_init
    else:
        h = _initial_step(naddr, p, t0, tf, u0, err, v, N1, lam, plan, rtol, atol, y, f, ah, bh)
        stats[st.NFEV] += 1
    h = min(h, tf - t0)
    h_coef = -1.0
    errold = ERROLD_MIN
    rejected = False
    last_nonfinite = False
    have_prev = False
    hprev = 0.0
    status = st.SUCCESS

    while t < tf:
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
        if h != h_coef:
            _coeffs(lam, h, E, E2, Q, F1, F2, F3, W, br, bc)
            h_coef = h
            stats[st.NLU] += 1

        for i in range(m):
            ah[i] = E2[i] * v[i] + Q[i] * N1[i]
        to_real(plan, ah, y)
        call_native(naddr, t + 0.5 * h, y, p, f)
        to_spec(plan, f, N2)
        for i in range(m):
            bh[i] = E2[i] * v[i] + Q[i] * N2[i]
        to_real(plan, bh, y)
        call_native(naddr, t + 0.5 * h, y, p, f)
        to_spec(plan, f, N3)
        for i in range(m):
            ch[i] = E2[i] * ah[i] + Q[i] * (2.0 * N3[i] - N1[i])
        to_real(plan, ch, y)
        call_native(naddr, t + h, y, p, f)
        to_spec(plan, f, N4)
        for i in range(m):
            vnew[i] = E[i] * v[i] + F1[i] * N1[i] + F2[i] * (N2[i] + N3[i]) + F3[i] * N4[i]
        to_real(plan, vnew, unew)
        call_native(naddr, t + h, unew, p, f)  # FSAL: the next step's first stage
        stats[st.NFEV] += 4
        finite = all_finite(f) and all_finite(unew)
        if finite:
            to_spec(plan, f, N5)

        errn = 0.0
        if adaptive and finite:
            if have_prev:
                r = hprev / h
                d0 = -1.0 / (r * (r + 0.5) * (r + 1.0))
                d1 = 2.0 / r
                d2 = -4.0 / (r + 0.5)
                d3 = 2.0 / (r + 1.0)
                for i in range(m):
                    dd = d0 * Np[i] + d1 * N1[i] + d2 * 0.5 * (N2[i] + N3[i]) + d3 * N5[i]
                    sh[i] = F3[i] * (N4[i] - N5[i]) - W[i] * dd
            else:
                for i in range(m):
                    sh[i] = F3[i] * (N4[i] - N5[i])
            to_real(plan, sh, err)
            errn = math.sqrt(scaled_sq_sum(err, u, unew, rtol, atol) / n)
            finite = math.isfinite(errn)
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
            if save_steps:
                if k == ts.shape[0]:
                    ts = grow1(ts, k)
                    us = grow2(us, k)
                ts[k] = t_new
                copy1(us[k], unew)
                k += 1
            else:
                while k < nsave and saveat[k] <= t_new:
                    ts[k] = saveat[k]
                    if saveat[k] == t_new:
                        copy1(us[k], unew)
                    else:
                        _dense_point((saveat[k] - t) / h, h, lam, v, N1, N2, N3, N4, sh, bc)
                        to_real(plan, sh, us[k])
                    k += 1
            # rotate: previous first stage <- N1, N1 <- N5 (FSAL); state <- new state
            tmp = Np
            Np = N1
            N1 = N5
            N5 = tmp
            tmpc = v
            v = vnew
            vnew = tmpc
            tmpr = u
            u = unew
            unew = tmpr
            have_prev = True
            hprev = h
            t = t_new
            stats[st.NACCEPT] += 1
            if adaptive:
                fac = pi_factor(errn, errold, ERROR_EXPONENT, PI_BETA, rejected)
                if not (STEADY_MIN <= fac <= STEADY_MAX):
                    h *= fac
                errold = max(errn, ERROLD_MIN)
            rejected = False
        else:
            stats[st.NREJECT] += 1
            h *= reject_factor(errn, ERROR_EXPONENT)
            rejected = True

    return status, t, u, ts[:k], us[:k], stats


# --- dense L at fixed steps: phi-matrices precomputed per step size ----------------------------------
@numba.njit(cache=True)
def _matvec(A, x, out, accumulate):
    n = x.shape[0]
    for i in range(n):
        acc = 0.0
        for j in range(n):
            acc += A[i, j] * x[j]
        if accumulate:
            out[i] += acc
        else:
            out[i] = acc


@numba.njit(cache=True)
def etdrk4_dense_grid(naddr, p, grid, iset, save, u0, E, E2, Q, F1, F2, F3, max_steps):
    """ETDRK4 with dense coefficient matrices on the given time grid.

    Step ``j`` goes from ``grid[j]`` to ``grid[j+1]`` with the coefficient set ``iset[j]``
    (``E[iset[j]]`` etc., each ``(n, n)``); the state is saved at grid points with ``save[j]``.
    Returns ``(status, t, u, ts, us, stats)``.
    """
    n = u0.shape[0]
    nsteps = grid.shape[0] - 1
    u = u0.copy()
    unew = np.empty(n)
    a = np.empty(n)
    b = np.empty(n)
    c = np.empty(n)
    e2u = np.empty(n)
    N1 = np.empty(n)
    N2 = np.empty(n)
    N3 = np.empty(n)
    N4 = np.empty(n)
    w = np.empty(n)
    stats = np.zeros(st.NSTATS, np.int64)
    nsave = 0
    for j in range(save.shape[0]):
        if save[j]:
            nsave += 1
    ts = np.empty(nsave)
    us = np.empty((nsave, n))
    k = 0
    t = grid[0]
    if save[0]:
        ts[0] = t
        copy1(us[0], u0)
        k = 1
    call_native(naddr, t, u, p, N1)
    stats[st.NFEV] += 1
    if not all_finite(N1):
        return st.NON_FINITE, t, u, ts[:k], us[:k], stats
    status = st.SUCCESS
    for j in range(nsteps):
        if j >= max_steps:
            status = st.MAX_STEPS
            break
        s = iset[j]
        h = grid[j + 1] - grid[j]
        stats[st.NSTEPS] += 1
        _matvec(E2[s], u, e2u, False)
        copy1(a, e2u)
        _matvec(Q[s], N1, a, True)
        call_native(naddr, t + 0.5 * h, a, p, N2)
        copy1(b, e2u)
        _matvec(Q[s], N2, b, True)
        call_native(naddr, t + 0.5 * h, b, p, N3)
        _matvec(E2[s], a, c, False)
        for i in range(n):
            w[i] = 2.0 * N3[i] - N1[i]
        _matvec(Q[s], w, c, True)
        call_native(naddr, t + h, c, p, N4)
        _matvec(E[s], u, unew, False)
        _matvec(F1[s], N1, unew, True)
        for i in range(n):
            w[i] = N2[i] + N3[i]
        _matvec(F2[s], w, unew, True)
        _matvec(F3[s], N4, unew, True)
        t = grid[j + 1]
        call_native(naddr, t, unew, p, N1)
        stats[st.NFEV] += 4
        if not (all_finite(unew) and all_finite(N1)):
            status = st.NON_FINITE
            stats[st.NREJECT] += 1
            t = grid[j]
            break
        stats[st.NACCEPT] += 1
        copy1(u, unew)
        if save[j + 1]:
            ts[k] = t
            copy1(us[k], u)
            k += 1
    return status, t, u, ts[:k], us[:k], stats


def etdrk4_coefficients(L, h):
    """Dense ETDRK4 coefficient matrices ``(E, E2, Q, F1, F2, F3)`` for the step ``h`` (see the
    module docstring; ``F1 = h f1(hL)``, ``F2 = 2 h f2(hL)``, ``F3 = h f3(hL)``, ``Q = h/2
    phi_1(hL/2)``), from two augmented-matrix exponentials (:func:`.phi.phi_matrix`)."""
    L = np.asarray(L, dtype=np.float64)
    p0, p1, p2, p3 = phi_matrix(h * L, 3)
    q0, q1 = phi_matrix(0.5 * h * L, 1)
    return (p0, q0, 0.5 * h * q1, h * (p1 - 3 * p2 + 4 * p3), 2 * h * (p2 - 2 * p3), h * (-p2 + 4 * p3))


# --- argument checks --------------------------------------------------------------------------------
def _checks():
    # the argument checks of solve_compiled (imported late: solve.py may import this module)
    from . import solve as _s
    return _s


def _check_address(arg, a):
    if not isinstance(a, numbers.Integral) or isinstance(a, bool) or a <= 0:
        raise OptionError(arg, a, "must be a positive integer function address (cm.addresses['rhs'])")
    return int(a)


def _float_array(arg, x, shape):
    if isinstance(x, np.ndarray):
        if x.dtype != np.float64:
            raise DTypeError(arg, x.dtype)
        a = np.array(x, dtype=np.float64, order="C")
    else:
        try:
            a = np.array(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise DTypeError(arg, type(x).__name__) from None
    if a.shape != shape:
        raise ShapeError(arg, shape, a.shape)
    bad = np.argwhere(~np.isfinite(a))
    if bad.size:
        idx = tuple(int(i) for i in bad[0])
        raise NonFiniteValueError(arg, idx[0] if len(idx) == 1 else idx, float(a[idx]))
    return a


#: small caches: the eigendecomposition of a dense L and the EXPMS weights are computed once per
#: operator / grid, not per solve (they cost far more than the integration itself)
_CACHE_SIZE = 32
_EIGS: dict = {}
_WEIGHTS: dict = {}


def _eigenbasis(L):
    """``(lam, V, Vinv, cond(V))`` of ``L``, cached by the bytes of ``L``."""
    key = (L.shape, L.tobytes())
    hit = _EIGS.get(key)
    if hit is None:
        lam, V = np.linalg.eig(L)
        cond = float(np.linalg.cond(V))
        Vinv = np.linalg.inv(V) if np.isfinite(cond) else V
        if len(_EIGS) >= _CACHE_SIZE:
            _EIGS.pop(next(iter(_EIGS)))
        hit = _EIGS[key] = (lam, V, Vinv, cond)
    return hit


def _symmetric_eigenbasis(L):
    """``(lam, V, V^T)`` of a symmetric ``L`` (``numpy.linalg.eigh``: ``V`` orthogonal, both
    C-contiguous), cached by the bytes of ``L``."""
    key = ("symmetric", L.shape, L.tobytes())
    hit = _EIGS.get(key)
    if hit is None:
        lam, V = np.linalg.eigh(L)
        if len(_EIGS) >= _CACHE_SIZE:
            _EIGS.pop(next(iter(_EIGS)))
        hit = _EIGS[key] = (lam, np.ascontiguousarray(V), np.ascontiguousarray(V.T))
    return hit


def _common_args(n_addr, p, t0, tf, u0, rtol, atol, saveat, max_steps):
    s = _checks()
    n_addr = _check_address("n_addr", n_addr)
    t0, tf = s._check_t_span((t0, tf))
    u0 = s._float_vector("u0", u0)
    s._check_finite("u0", u0)
    n = u0.shape[0]
    if n == 0:
        raise ShapeError("u0", "(n,) with n >= 1", u0.shape)
    p = s._float_vector("p", p)
    s._check_finite("p", p)
    if p.size == 0:
        p = np.zeros(1)
    saveat_arr, save_steps = s._check_saveat(saveat, t0, tf)
    rtol, atol_arr = s._check_tolerances(rtol, atol, n)
    max_steps = s._check_int("max_steps", max_steps, 1)
    return n_addr, p, t0, tf, u0, n, saveat_arr, save_steps, rtol, atol_arr, max_steps


def _solution(code, t_end, u_end, ts, us, counters, method, tf, max_steps, names, t0):
    stats = dict(zip(st.STAT_NAMES, (int(x) for x in counters)))
    retcode = RetCode(code)
    return Solution(ts, us, retcode, _message(retcode, method, t_end, tf, max_steps, False), stats, method,
                    names=names, t_reached=t_end, u_end=u_end, segments=[(t0, method)])


def _names(names, n):
    if names is None:
        return None
    names = [str(x) for x in names]
    if len(names) != n:
        raise ShapeError("names", (n,), (len(names),))
    return names


# --- ETDRK4 entry point -----------------------------------------------------------------------------
def etdrk4_solve(n_addr, p, t0, tf, u0, L_kind, L_data, rtol=1e-6, atol=1e-8, saveat=None, dt=None,
                 adaptive=True, max_steps=100_000, names=None):
    """Integrate ``u' = L u + N(u, t)`` on ``[t0, tf]`` with ETDRK4; one native call per solve.

    Parameters
    ----------
    n_addr : int
        Address of ``N`` (C signature ``void N(double t, const double *u, const double *p, double
        *out)``, writing ``n`` values), e.g. ``sd.compile(model_of_N).addresses["rhs"]``.
    p : float64 vector
        The parameters passed to ``N``.
    t0, tf : float
        The span, ``t0 < tf``.
    u0 : float64 vector (n,)
    L_kind, L_data :
        ``"diagonal"``: ``L = diag(L_data)``, ``L_data`` shape ``(n,)``;
        ``"circulant"``: ``L_data`` is the first column ``c`` of the circulant ``L`` (``L[i, j] =
        c[(i - j) % n]``), shape ``(n,)``; eigenvalues ``numpy.fft.fft(c)``;
        ``"block_circulant"``: ``L = blockdiag(C_1, ..., C_b)`` of equal circulant blocks,
        ``L_data`` shape ``(b, n/b)`` holds their first columns (each block transformed by its
        own FFT);
        ``"dense"``: ``L_data`` is ``L``, shape ``(n, n)``.  Adaptive steps use its eigenbasis
        (orthogonal for a symmetric ``L``; otherwise ``cond(V) <= EIG_COND_MAX`` required); fixed
        steps use phi-matrices (any ``L``).
    rtol, atol :
        Tolerances of the weighted RMS error norm (as :func:`symdyn.solvers.solve_compiled`).
    saveat : times, optional
        Output times (continuous extension); without it ``t0`` and every step.
    dt, adaptive :
        ``dt`` is the first step (automatic when None); ``adaptive=False`` takes steps of ``dt``
        (the last one shortened to end at ``tf``).
    max_steps : int
        Bound on attempted steps (``RetCode.MaxSteps`` beyond it).
    names : state names, optional

    Returns
    -------
    Solution
        ``method = "etdrk4"``; ``stats["nfev"]`` counts evaluations of ``N``.  No ``sol(t)``.
    """
    n_addr, p, t0, tf, u0, n, saveat_arr, save_steps, rtol, atol_arr, max_steps = _common_args(
        n_addr, p, t0, tf, u0, rtol, atol, saveat, max_steps)
    if not isinstance(L_kind, str) or L_kind not in L_KINDS:
        raise OptionError("L_kind", L_kind, f"must be one of {', '.join(map(repr, L_KINDS))}")
    if dt is not None and (not isinstance(dt, numbers.Real) or isinstance(dt, bool) or not np.isfinite(dt)
                           or dt <= 0):
        raise OptionError("dt", dt, "must be a finite number > 0")
    if not adaptive and dt is None:
        raise OptionError("dt", dt, "adaptive=False needs a step size dt")
    names = _names(names, n)
    h0 = float(dt) if dt is not None else 0.0

    if L_kind == "dense":
        L = _float_array("L_data", L_data, (n, n))
        if not adaptive:
            return _etdrk4_dense_fixed(n_addr, p, t0, tf, u0, L, saveat_arr, save_steps, h0, max_steps, names)
        if np.array_equal(L, L.T):  # symmetric: a real orthogonal basis, real transforms (dgemv)
            lam, V, VT = _symmetric_eigenbasis(L)
            plan = make_plan(n, EIGR, V, VT)
        else:
            lam, V, Vinv, cond = _eigenbasis(L)
            if not np.isfinite(cond) or cond > EIG_COND_MAX:
                raise OptionError("L_data", f"<{n}x{n} matrix>",
                                  f"its eigenvector matrix has condition number {cond:.3g} > {EIG_COND_MAX:g}, "
                                  "so adaptive ETDRK4 cannot work in its eigenbasis; pass adaptive=False and dt "
                                  "(phi-matrices, any L)")
            plan = make_plan(n, EIG, V, Vinv)
        lam = np.ascontiguousarray(lam, dtype=np.complex128)
    elif L_kind == "block_circulant":
        C = np.asarray(L_data, dtype=np.float64) if not isinstance(L_data, np.ndarray) else L_data
        if C.ndim != 2 or C.shape[0] < 1 or C.shape[0] * C.shape[1] != n:
            raise ShapeError("L_data", f"(blocks, {n}/blocks)", C.shape)
        C = _float_array("L_data", C, C.shape)
        b, m = C.shape
        layout = RFFT if m % 2 == 0 else FULL
        plan = make_plan(m, layout, blocks=b)
        lams = []
        for c in C:
            lam_b = np.fft.rfft(c) if layout == RFFT else np.fft.fft(c)
            lam_b = np.array(lam_b, dtype=np.complex128)
            lam_b[0] = lam_b[0].real
            if layout == RFFT:
                lam_b[-1] = lam_b[-1].real
            lams.append(lam_b)
        lam = np.ascontiguousarray(np.concatenate(lams))
        assert lam.shape[0] == spectrum_length(m, layout, b)
    else:
        c = _float_array("L_data", L_data, (n,))
        if L_kind == "diagonal":
            plan = make_plan(n, IDENT)
            lam = c.astype(np.complex128)
        else:
            layout = RFFT if n % 2 == 0 else FULL
            plan = make_plan(n, layout)
            lam = np.fft.rfft(c) if layout == RFFT else np.fft.fft(c)
            lam = np.ascontiguousarray(lam, dtype=np.complex128)
            lam[0] = lam[0].real  # exactly real for a real c
            if layout == RFFT:
                lam[-1] = lam[-1].real
            assert lam.shape[0] == spectrum_length(n, layout)
    code, t_end, u_end, ts, us, counters = etdrk4_spectral(
        n_addr, p, t0, tf, u0, lam, plan, saveat_arr, save_steps, rtol, atol_arr, h0, bool(adaptive), max_steps)
    return _solution(code, t_end, u_end, ts, us, counters, "etdrk4", tf, max_steps, names, t0)


def _etdrk4_dense_fixed(n_addr, p, t0, tf, u0, L, saveat, save_steps, dt, max_steps, names):
    """Fixed steps of ``dt`` on the lattice ``t0 + k dt``, also ending on every ``saveat`` point."""
    span = tf - t0
    k_last = int(np.floor(span / dt * (1 + 1e-12)))
    lattice = t0 + dt * np.arange(1, k_last + 1)
    lattice = lattice[lattice < tf - 1e-9 * dt]
    if saveat.size:  # a lattice point within round-off of a saveat time is that time
        near = np.abs(lattice[:, None] - saveat[None, :]).min(axis=1) < 1e-9 * dt
        lattice = lattice[~near]
    pts = np.concatenate([[t0], lattice, saveat, [tf]])
    grid = np.unique(pts)
    if save_steps:
        save = np.ones(grid.size, bool)
    else:
        save = np.isin(grid, saveat)
    hs = np.diff(grid)
    keys = np.round(hs / dt, 12)
    uniq, iset = np.unique(keys, return_inverse=True)
    if uniq.size > 64:
        raise OptionError("saveat", f"<{saveat.size} times>",
                          f"needs {uniq.size} distinct step sizes with a dense L at fixed steps (one "
                          "phi-matrix set each); put the saveat times on the lattice t0 + k*dt")
    sets = [etdrk4_coefficients(L, float(hs[np.flatnonzero(iset == j)[0]])) for j in range(uniq.size)]
    mats = [np.ascontiguousarray(np.stack([s[i] for s in sets])) for i in range(6)]
    code, t_end, u_end, ts, us, counters = etdrk4_dense_grid(
        n_addr, p, grid, iset.astype(np.int64), save, u0, *mats, max_steps)
    counters[st.NLU] = uniq.size  # phi-matrix sets computed
    return _solution(code, t_end, u_end, ts, us, counters, "etdrk4", tf, max_steps, names, t0)


# --- EXPMS: exponential multistep for L = a(t) I --------------------------------------------------
#: Gauss--Legendre nodes per panel in the weight quadrature
GL_NODES = 16
#: panels per step are doubled until two results agree to this relative tolerance ...
WEIGHT_RTOL = 1e-14
#: ... or this many panels are reached
MAX_PANELS = 4096
EXPMS_ORDERS = (1, 2, 3)


@numba.njit(cache=True)
def _eval_native_scalar(addr, ts, ap, out):
    """``out[i] = f(ts[i])[0]`` for a native function of one state (the state is not read)."""
    ubuf = np.zeros(1)
    obuf = np.zeros(1)
    for i in range(ts.shape[0]):
        call_native(addr, ts[i], ubuf, ap, obuf)
        out[i] = obuf[0]


def _scalar_function(arg, f, fp, native=False):
    """A vectorised numpy function of t from a number or a callable, or (``native``) from the
    address of a native function of one state (``out[0]`` is the value; parameters ``fp``)."""
    if native:
        addr = _check_address(arg, f)

        def call_addr(t):
            t = np.ascontiguousarray(t, dtype=np.float64)
            out = np.empty(t.size)
            _eval_native_scalar(addr, t.ravel(), fp, out)
            return out.reshape(t.shape)
        return call_addr
    if isinstance(f, numbers.Real) and not isinstance(f, bool):
        value = float(f)
        if not np.isfinite(value):
            raise NonFiniteValueError(arg, 0, value)
        return lambda t: np.full(np.shape(t), value)
    if callable(f):
        def call(t):
            t = np.asarray(t, dtype=np.float64)
            try:
                r = np.asarray(f(t), dtype=np.float64)
                if r.shape != t.shape:
                    r = np.broadcast_to(r, t.shape)
            except (TypeError, ValueError):
                r = np.vectorize(lambda s: float(f(s)))(t)
            return r
        return call
    raise OptionError(arg, f, "must be a number or a callable f(t) (a native address goes in a_addr)")


def _gauss_legendre_01(m):
    x, w = np.polynomial.legendre.leggauss(m)
    return 0.5 * (x + 1.0), 0.5 * w


def _moments_quadrature(grid, a_fn, A_fn, panels, qmax):
    """``E_i = e^{A(t_{i+1}) - A(t_i)}`` and ``M_iq = int_0^1 e^{A(t_{i+1}) - A(t_i + h_i s)} s^q ds``
    (q = 0..qmax) for every step, by composite Gauss--Legendre with ``panels`` panels per step."""
    x, w = _gauss_legendre_01(GL_NODES)
    t_i = grid[:-1][:, None, None]
    h = np.diff(grid)[:, None, None]
    P = panels
    lo = (np.arange(P) / P)[None, :, None]  # panel starts in s
    s = lo + x[None, None, :] / P  # (1, P, m) outer nodes in s
    if A_fn is not None:
        G = A_fn(grid[1:])[:, None, None] - A_fn(t_i + h * s)  # (steps, P, m)
        E = np.exp(A_fn(grid[1:]) - A_fn(grid[:-1]))
    else:
        # integral of a over each panel, and from each outer node to its panel's end
        hi = lo + 1.0 / P
        panel_int = (h[:, :, 0] / P) * (a_fn(t_i + h * (lo + x[None, None, :] / P)) @ w)  # (steps, P)
        tail = np.cumsum(panel_int[:, ::-1], axis=1)[:, ::-1]  # sum over panels >= p
        after = tail - panel_int  # sum over panels > p
        length = hi - s  # (1, P, m) from node to panel end
        inner = s[..., None] + length[..., None] * x[None, None, None, :]  # (1, P, m, m)
        part = h[..., None][:, :, :, 0] * length * (a_fn(t_i[..., None] + h[..., None] * inner) @ w)
        G = part + after[:, :, None]
        E = np.exp(tail[:, 0])
    sw = (w[None, None, :] / P)
    M = np.stack([np.sum(np.exp(G) * s**q * sw, axis=(1, 2)) for q in range(qmax + 1)], axis=1)
    return E, M


def _moments(grid, a, a_addr, A, a_p, qmax):
    """E (steps,) and the moments M (steps, qmax+1); exact (phi-functions) for a constant a."""
    h = np.diff(grid)
    if (a is None) == (a_addr is None):
        raise OptionError("a", a, "give exactly one of a (number or callable) and a_addr (native address)")
    if a_addr is None and isinstance(a, numbers.Real) and not isinstance(a, bool) and A is None:
        if not np.isfinite(a):
            raise NonFiniteValueError("a", 0, a)
        ph = phi_all(float(a) * h, qmax + 1)
        M = np.stack([math.factorial(q) * ph[q + 1] for q in range(qmax + 1)], axis=1)
        return ph[0], M
    if a_addr is not None:
        a_fn = _scalar_function("a_addr", a_addr, a_p, native=True)
    else:
        a_fn = _scalar_function("a", a, a_p)
    A_fn = None
    if A is not None:
        if not callable(A):
            raise OptionError("A", A, "must be a callable A(t), an antiderivative of a(t)")
        A_fn = _scalar_function("A", A, a_p)
    P = 1
    E, M = _moments_quadrature(grid, a_fn, A_fn, P, qmax)
    while True:
        E2, M2 = _moments_quadrature(grid, a_fn, A_fn, 2 * P, qmax)
        scale = np.maximum(np.abs(M2).max(axis=1, keepdims=True), 1e-300)
        diff = max(np.max(np.abs(M2 - M) / scale), np.max(np.abs(E2 - E) / np.maximum(np.abs(E2), 1e-300)))
        E, M, P = E2, M2, 2 * P
        if not np.isfinite(diff):
            raise OptionError("a", a, "gives non-finite integrating factors exp(int a) on this grid")
        if diff <= WEIGHT_RTOL or P >= MAX_PANELS:
            return E, M


def _lagrange_monomial(nodes):
    """Coefficients C[j, q] of the Lagrange polynomials l_j(s) = sum_q C[j, q] s^q."""
    k = len(nodes)
    V = np.vander(np.asarray(nodes, dtype=np.float64), k, increasing=True)  # V[j, q] = nodes_j^q
    return np.linalg.inv(V).T  # l_j(s) = sum_q (V^-1)[q, j] s^q


def expms_weights(grid, order, a=None, a_addr=None, A=None, a_p=None):
    """The EXPMS coefficients on a time grid: ``(E, W, Wc)``.

    ``E[i] = e^{A(t_{i+1}) - A(t_i)}``; ``W[i, j]`` multiplies ``N(u_{i-j}, t_{i-j})`` in step ``i``
    (``j < min(order, i + 1)``, zero beyond); ``Wc`` (2,) are the order-3 first-step corrector weights
    of ``N(t_0)`` and ``N(t_1)`` (zero for orders 1, 2).  ``a`` is a number (exact weights by
    phi-functions) or a callable ``a(t)``; or ``a_addr`` a native address (parameters ``a_p``); ``A``
    an optional antiderivative of ``a``.  Otherwise by composite Gauss--Legendre quadrature
    (``GL_NODES`` per panel, panels doubled until ``WEIGHT_RTOL``; ``exp(A(t_{i+1}) - A(s))`` from a
    nested quadrature of ``a``).
    """
    grid = np.asarray(grid, dtype=np.float64)
    a_p = np.zeros(1) if a_p is None else np.ascontiguousarray(a_p, dtype=np.float64)
    if a_p.size == 0:
        a_p = np.zeros(1)
    E, M = _moments(grid, a, a_addr, A, a_p, 2)
    h = np.diff(grid)
    steps = h.size
    W = np.zeros((steps, 3))
    for i in range(steps):
        k = min(order, i + 1)
        nodes = [(grid[i - j] - grid[i]) / h[i] for j in range(k)]
        C = _lagrange_monomial(nodes)
        W[i, :k] = h[i] * (C @ M[i, :k])
    Wc = np.zeros(2)
    if order == 3:
        C = _lagrange_monomial([0.0, 1.0])
        Wc[:] = h[0] * (C @ M[0, :2])
    return np.ascontiguousarray(E), W, Wc


@numba.njit(cache=True)
def expms_kernel(naddr, p, grid, u0, E, W, Wc, order, save):
    """The EXPMS time loop on ``grid`` (see :func:`expms_weights`); returns
    ``(status, t, u, ts, us, stats)``."""
    n = u0.shape[0]
    nsteps = grid.shape[0] - 1
    ring = np.empty((3, n))
    u = u0.copy()
    unew = np.empty(n)
    stats = np.zeros(st.NSTATS, np.int64)
    nsave = 0
    for j in range(save.shape[0]):
        if save[j]:
            nsave += 1
    ts = np.empty(nsave)
    us = np.empty((nsave, n))
    k = 0
    t = grid[0]
    if save[0]:
        ts[0] = t
        copy1(us[0], u)
        k = 1
    call_native(naddr, t, u, p, ring[0])
    stats[st.NFEV] += 1
    if not all_finite(ring[0]):
        return st.NON_FINITE, t, u, ts[:k], us[:k], stats
    status = st.SUCCESS
    for i in range(nsteps):
        kk = min(order, i + 1)
        for q in range(n):
            acc = E[i] * u[q]
            for j in range(kk):
                acc += W[i, j] * ring[(i - j) % 3, q]
            unew[q] = acc
        stats[st.NSTEPS] += 1
        corrector = order == 3 and i == 0
        if i < nsteps - 1 or corrector:
            nxt = ring[(i + 1) % 3]
            call_native(naddr, grid[i + 1], unew, p, nxt)
            stats[st.NFEV] += 1
            if not all_finite(nxt):
                status = st.NON_FINITE
                stats[st.NREJECT] += 1
                break
            if corrector:  # exponential trapezoidal rule with N at the predicted point
                for q in range(n):
                    unew[q] = E[0] * u[q] + Wc[0] * ring[0, q] + Wc[1] * nxt[q]
        if not all_finite(unew):
            status = st.NON_FINITE
            stats[st.NREJECT] += 1
            break
        copy1(u, unew)
        t = grid[i + 1]
        stats[st.NACCEPT] += 1
        if save[i + 1]:
            ts[k] = t
            copy1(us[k], u)
            k += 1
    return status, t, u, ts[:k], us[:k], stats


def expms_solve(n_addr, p, t0, tf, u0, a=None, n_steps=None, t_grid=None, order=2, a_addr=None, A=None, a_p=None,
                saveat=None, names=None):
    """Integrate ``u' = a(t) u + N(u, t)`` from ``t0`` to ``tf`` with the exponential multistep method.

    Parameters
    ----------
    n_addr, p, u0 :
        ``N`` as a native address, its parameters, the initial state (as :func:`etdrk4_solve`).
    t0, tf : float
        Start and end; ``tf < t0`` integrates backwards (diffusion sampling from t = 1 to 0).
    a, a_addr :
        The scalar coefficient of ``L = a(t) I``, exactly one of: ``a`` a number or a callable
        ``a(t)`` (numpy-vectorised or scalar); ``a_addr`` the address of a native function of one
        state whose ``out[0]`` is ``a(t)`` (``sd.compile`` of a model ``D(z) = a(t)``), evaluated
        with parameters ``a_p``.
    n_steps, t_grid :
        Exactly one: ``n_steps`` uniform steps, or the grid itself (strictly monotone, from ``t0``
        to ``tf``).
    order : 1, 2 or 3
    A : callable, optional
        An antiderivative of ``a`` (exact integrating factor, skips the nested quadrature).
    saveat : times, optional
        Output times; each must be a grid point.  Without it, every grid point.

    Returns
    -------
    Solution
        ``method = "expms<order>"``; ``stats["nfev"]`` is ``n_steps`` (``max(n_steps, 2)`` for
        order 3).
    """
    s = _checks()
    n_addr = _check_address("n_addr", n_addr)
    try:
        t0 = float(t0)
        tf = float(tf)
    except (TypeError, ValueError):
        raise OptionError("t0, tf", (t0, tf), "must be numbers") from None
    if not (np.isfinite(t0) and np.isfinite(tf)) or t0 == tf:
        raise OptionError("t0, tf", (t0, tf), "must be finite and different")
    u0 = s._float_vector("u0", u0)
    s._check_finite("u0", u0)
    n = u0.shape[0]
    if n == 0:
        raise ShapeError("u0", "(n,) with n >= 1", u0.shape)
    p = s._float_vector("p", p)
    s._check_finite("p", p)
    if p.size == 0:
        p = np.zeros(1)
    if isinstance(order, bool) or order not in EXPMS_ORDERS:
        raise OptionError("order", order, "must be 1, 2 or 3")
    if (n_steps is None) == (t_grid is None):
        raise OptionError("n_steps", n_steps, "give exactly one of n_steps and t_grid")
    if t_grid is None:
        n_steps = s._check_int("n_steps", n_steps, 1)
        grid = np.linspace(t0, tf, n_steps + 1)
    else:
        grid = s._float_vector("t_grid", t_grid)
        s._check_finite("t_grid", grid)
        if grid.size < 2:
            raise ShapeError("t_grid", "(k,) with k >= 2", grid.shape)
        d = np.diff(grid) * np.sign(tf - t0)
        if np.any(d <= 0):
            raise OptionError("t_grid", "<grid>", "must be strictly monotone from t0 towards tf")
        if grid[0] != t0 or grid[-1] != tf:
            raise OptionError("t_grid", "<grid>", f"must start at t0={t0!r} and end at tf={tf!r}")
    names = _names(names, n)
    if saveat is None:
        save = np.ones(grid.size, bool)
    else:
        sv = np.atleast_1d(np.asarray(saveat, dtype=np.float64))
        if sv.ndim != 1 or sv.size == 0:
            raise SaveatError("must be a non-empty 1-d sequence of grid times")
        save = np.zeros(grid.size, bool)
        for x in sv:
            j = int(np.argmin(np.abs(grid - x)))
            if abs(grid[j] - x) > 1e-12 * max(1.0, abs(x)):
                raise SaveatError(f"time {x!r} is not a point of the step grid; expms outputs at grid points")
            save[j] = True
    a_p_arr = np.zeros(1) if a_p is None else s._float_vector("a_p", a_p)
    if a_p_arr.size == 0:
        a_p_arr = np.zeros(1)
    key = (grid.tobytes(), order, id(a), id(A), a_addr, a_p_arr.tobytes())
    hit = _WEIGHTS.get(key)
    if hit is not None and hit[0] is a and hit[1] is A:
        E, W, Wc = hit[2]
    else:
        E, W, Wc = expms_weights(grid, order, a, a_addr, A, a_p_arr)
        if len(_WEIGHTS) >= _CACHE_SIZE:
            _WEIGHTS.pop(next(iter(_WEIGHTS)))
        _WEIGHTS[key] = (a, A, (E, W, Wc))  # a and A kept alive: their ids stay theirs
    if not (np.all(np.isfinite(E)) and np.all(np.isfinite(W))):
        raise OptionError("a", a, "gives non-finite integrating factors exp(int a) on this grid")
    code, t_end, u_end, ts, us, counters = expms_kernel(n_addr, p, grid, u0, E, W, Wc, order, save)
    method = f"expms{order}"
    stats = dict(zip(st.STAT_NAMES, (int(x) for x in counters)))
    retcode = RetCode(code)
    msg = _message(retcode, method, t_end, tf, grid.size - 1, False)
    return Solution(ts, us, retcode, msg, stats, method, names=names, t_reached=t_end, u_end=u_end,
                    segments=[(t0, method)])
