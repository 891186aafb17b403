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
