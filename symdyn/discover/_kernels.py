"""numba kernels of symdyn.discover, in their own module so that ``import symdyn`` does not load numba.

- :func:`fornberg`: finite-difference weights on arbitrary grids;
- :func:`fd_kernel`: derivatives of every column with per-point stencils;
- :func:`interp_residual`: each sample minus its interpolation from its neighbours (noise estimate);
- :func:`evaluate_rows`: a compiled library function called once per sample.
"""
import math

import numba
import numpy as np

from ..solvers._native import call_native_row


@numba.njit(cache=True)
def evaluate_rows(addr, T, U, p, out):  # pragma: no cover - compiled
    m, n = U.shape
    buf = np.empty(max(n, 1))
    for i in range(m):
        for j in range(n):
            buf[j] = U[i, j]
        call_native_row(addr, T[i], buf, p, out, i)


@numba.njit(cache=True)
def fornberg(z, x, order):  # pragma: no cover - compiled
    """Weights ``c[j, k]``: the k-th derivative at ``z`` is ``sum_j c[j, k] f(x[j])``.

    B. Fornberg, "Generation of finite difference formulas on arbitrarily spaced grids",
    Math. Comp. 51 (1988) 699-706.
    """
    n = x.size
    c = np.zeros((n, order + 1))
    c1 = 1.0
    c4 = x[0] - z
    c[0, 0] = 1.0
    for i in range(1, n):
        mn = min(i, order)
        c2 = 1.0
        c5 = c4
        c4 = x[i] - z
        for j in range(i):
            c3 = x[i] - x[j]
            c2 *= c3
            if j == i - 1:
                for k in range(mn, 0, -1):
                    c[i, k] = c1 * (k * c[i - 1, k - 1] - c5 * c[i - 1, k]) / c2
                c[i, 0] = -c1 * c5 * c[i - 1, 0] / c2
            for k in range(mn, 0, -1):
                c[j, k] = (c4 * c[j, k] - k * c[j, k - 1]) / c3
            c[j, 0] = c4 * c[j, 0] / c3
        c1 = c2
    return c


@numba.njit(cache=True)
def fd_kernel(t, u, order, width):  # pragma: no cover - compiled
    m, n = u.shape
    out = np.zeros((m, n))
    half = width // 2
    for i in range(m):
        lo = min(max(i - half, 0), m - width)
        c = fornberg(t[i], t[lo:lo + width], order)
        for j in range(width):
            w = c[j, order]
            for k in range(n):
                out[i, k] += w * u[lo + j, k]
    return out


@numba.njit(cache=True)
def interp_residual(t, u, half):  # pragma: no cover - compiled
    """``u_i`` minus its interpolation from ``half`` neighbours each side, normalised to unit noise."""
    m, n = u.shape
    out = np.full((m, n), np.nan)
    x = np.empty(2 * half)
    for i in range(half, m - half):
        for j in range(half):
            x[j] = t[i - half + j]
            x[half + j] = t[i + 1 + j]
        c = fornberg(t[i], x, 0)
        norm = 1.0
        for j in range(2 * half):
            norm += c[j, 0] * c[j, 0]
        norm = math.sqrt(norm)
        for k in range(n):
            s = u[i, k]
            for j in range(half):
                s -= c[j, 0] * u[i - half + j, k] + c[half + j, 0] * u[i + 1 + j, k]
            out[i, k] = s / norm
    return out
