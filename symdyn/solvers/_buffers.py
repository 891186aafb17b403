"""Growable output buffers and copies for the native kernels.

Buffers grow by doubling (amortised, never per step).  Copies are explicit loops: numba's
general slice assignment (``a[:m] = b[:m]``) costs seconds of compile time per type.
"""
import numba
import numpy as np


@numba.njit(cache=True, inline="always")  # array arguments: a call would cost refcounting
def copy1(dst, src):
    """dst[:] = src for 1-d arrays of equal length."""
    for i in range(src.shape[0]):
        dst[i] = src[i]


@numba.njit(cache=True)
def grow1(a, m):
    """A copy of 1-d ``a`` with about twice the rows, the first ``m`` rows kept."""
    b = np.empty(2 * a.shape[0] + 1)
    for i in range(m):
        b[i] = a[i]
    return b


@numba.njit(cache=True)
def grow2(a, m):
    b = np.empty((2 * a.shape[0] + 1, a.shape[1]))
    for i in range(m):
        for j in range(a.shape[1]):
            b[i, j] = a[i, j]
    return b


@numba.njit(cache=True)
def grow3(a, m):
    b = np.empty((2 * a.shape[0] + 1, a.shape[1], a.shape[2]))
    for i in range(m):
        for j in range(a.shape[1]):
            for k in range(a.shape[2]):
                b[i, j, k] = a[i, j, k]
    return b


@numba.njit(cache=True)
def new_outputs(t0, u0, saveat, save_steps, keep_dense, n_stages, snap=0.0):
    """A kernel's output buffers ``(ts, us, m, rec_t, rec_h, rec_u, rec_k)`` with the initial point
    saved: every step from ``t0`` (``save_steps``; room for 64, grown by :func:`grow_outputs`) or the
    ``saveat`` times up to ``t0 + snap`` (room for all of them); step records (``keep_dense``) of
    ``n_stages`` stage vectors."""
    n = u0.shape[0]
    nsave = saveat.shape[0]
    cap = 64 if save_steps else nsave
    ts = np.empty(cap)
    us = np.empty((cap, n))
    m = 0
    if save_steps:
        ts[0] = t0
        copy1(us[0], u0)
        m = 1
    else:
        while m < nsave and saveat[m] <= t0 + snap:
            ts[m] = saveat[m]
            copy1(us[m], u0)
            m += 1
    rcap = 64 if keep_dense else 0
    return (ts, us, m, np.empty(rcap), np.empty(rcap), np.empty((rcap, n)), np.empty((rcap, n_stages, n)))


@numba.njit(cache=True)
def grow_outputs(save_steps, keep_dense, m, nrec, ts, us, rec_t, rec_h, rec_u, rec_k):
    """The buffers of :func:`new_outputs` with those that are full (``m`` saved points, ``nrec``
    records) doubled."""
    if save_steps and m == ts.shape[0]:
        ts = grow1(ts, m)
        us = grow2(us, m)
    if keep_dense and nrec == rec_t.shape[0]:
        rec_t = grow1(rec_t, nrec)
        rec_h = grow1(rec_h, nrec)
        rec_u = grow2(rec_u, nrec)
        rec_k = grow3(rec_k, nrec)
    return ts, us, rec_t, rec_h, rec_u, rec_k
