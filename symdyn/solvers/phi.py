"""The phi-functions of exponential integrators, for scalars, arrays and small dense matrices.

``phi_0(z) = exp(z)`` and ``phi_k(z) = (phi_{k-1}(z) - 1/(k-1)!) / z``, equivalently
``phi_k(z) = sum_{j>=0} z^j / (j+k)!`` or ``phi_k(z) = int_0^1 e^{(1-s) z} s^{k-1}/(k-1)! ds``
(Hochbruck & Ostermann, *Acta Numerica* 19 (2010) 209--286, Sec. 2.1).

Scalars (real or complex), the scheme used by :func:`phi_all_real` / :func:`phi_all_complex`
(numba, callable from other kernels) and by the vectorised :func:`phi`:

- ``|z| < TAYLOR_RADIUS`` (= 1): ``phi_MAXK`` by its Taylor series (forward summation until the
  terms fall below ``1e-17`` of the sum), then ``phi_{k-1} = z phi_k + 1/(k-1)!`` downwards --
  the downward recurrence has no cancellation inside the unit disc -- and ``phi_0 = exp(z)``;
- ``|z| >= 1``: ``phi_1 = expm1(z)/z`` (``expm1`` of a complex argument evaluated as
  ``expm1(x) cos y - 2 sin^2(y/2) + i e^x sin y``, accurate near ``z = 2 pi i k``), then the
  upward recurrence, whose cancellation is bounded for ``|z| >= 1`` (the absolute error does not
  grow because each step divides by ``|z| >= 1``).

Measured against mpmath at 50 digits (``tests/test_solvers_exponential.py``): relative error
below ``1e-13`` (typically ``1e-15``) for ``k = 0..4`` and ``|z|`` from ``1e-12`` to ``1e4``,
real, complex and purely imaginary, including ``Re z = -1e4`` where ``exp`` underflows.  For
``Re z > ~709`` the values overflow to ``inf``, as ``exp`` does.

Matrices (:func:`phi_matrix`): ``phi_0(A), ..., phi_p(A)`` at once from one matrix exponential
of the augmented block matrix ``[[A, I, 0, ...], [0, 0, I, ...], ..., [0, ..., 0]]`` of size
``(p+1) n`` (its first block row is ``[e^A, phi_1(A), ..., phi_p(A)]``; Sidje, *ACM TOMS* 24
(1998) 130--156, Thm. 1; Al-Mohy & Higham, *SIAM J. Sci. Comput.* 33 (2011) 488--511), computed
by ``scipy.linalg.expm`` (scaling and squaring).  Meant for small dense ``L``, once per step size.
"""
from __future__ import annotations

import cmath
import math

import numba
import numpy as np
import scipy.linalg

__all__ = ["MAXK", "phi", "phi_all", "phi_matrix", "phi_all_real", "phi_all_complex"]

#: the highest phi-function provided (phi_0 .. phi_MAXK)
MAXK = 4
#: below this |z| the Taylor series is used, above it the recurrence
TAYLOR_RADIUS = 1.0
#: the Taylor sum stops when a term is below this fraction of the sum
TAYLOR_TOL = 1e-17
TAYLOR_MAX_TERMS = 40


@numba.njit(cache=True)
def _inv_fact(k):
    f = 1.0
    for j in range(2, k + 1):
        f *= j
    return 1.0 / f


@numba.njit(cache=True)
def _taylor_top(z, kmax):
    """``phi_kmax(z)`` by its Taylor series (|z| < 1): ``sum_j z^j / (j + kmax)!``."""
    term = z * 0.0 + _inv_fact(kmax)
    acc = term
    for j in range(1, TAYLOR_MAX_TERMS):
        term = term * z / (j + kmax)
        acc = acc + term
        if abs(term) <= TAYLOR_TOL * abs(acc):
            break
    return acc


@numba.njit(cache=True)
def phi_all_real(x, kmax, out):
    """``out[k] = phi_k(x)`` for ``k = 0..kmax`` (``x`` real, ``kmax <= 4``, ``out`` float64)."""
    out[0] = math.exp(x)
    if kmax == 0:
        return
    if abs(x) < TAYLOR_RADIUS:
        out[kmax] = _taylor_top(x, kmax)
        for k in range(kmax, 1, -1):
            out[k - 1] = x * out[k] + _inv_fact(k - 1)
    else:
        out[1] = math.expm1(x) / x
        for k in range(2, kmax + 1):
            out[k] = (out[k - 1] - _inv_fact(k - 1)) / x


@numba.njit(cache=True)
def _expm1_complex(z):
    """``exp(z) - 1`` without cancellation near ``z = 0`` and ``z = 2 pi i k``."""
    x = z.real
    y = z.imag
    s = math.sin(0.5 * y)
    return complex(math.expm1(x) * math.cos(y) - 2.0 * s * s, math.exp(x) * math.sin(y))


@numba.njit(cache=True)
def phi_all_complex(z, kmax, out):
    """``out[k] = phi_k(z)`` for ``k = 0..kmax`` (``z`` complex, ``kmax <= 4``, ``out`` complex128)."""
    out[0] = cmath.exp(z)
    if kmax == 0:
        return
    if abs(z) < TAYLOR_RADIUS:
        out[kmax] = _taylor_top(z, kmax)
        for k in range(kmax, 1, -1):
            out[k - 1] = z * out[k] + _inv_fact(k - 1)
    else:
        out[1] = _expm1_complex(z) / z
        for k in range(2, kmax + 1):
            out[k] = (out[k - 1] - _inv_fact(k - 1)) / z


@numba.njit(cache=True)
def _phi_array_real(x, kmax, out):
    buf = np.empty(kmax + 1)
    for i in range(x.shape[0]):
        phi_all_real(x[i], kmax, buf)
        for k in range(kmax + 1):
            out[k, i] = buf[k]


@numba.njit(cache=True)
def _phi_array_complex(z, kmax, out):
    buf = np.empty(kmax + 1, np.complex128)
    for i in range(z.shape[0]):
        phi_all_complex(z[i], kmax, buf)
        for k in range(kmax + 1):
            out[k, i] = buf[k]


def _check_k(k, name="k"):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= MAXK:
        raise ValueError(f"{name}={k!r}: phi-functions are provided for integer k in 0..{MAXK}")
    return int(k)


def phi_all(z, kmax=MAXK):
    """``phi_0(z), ..., phi_kmax(z)`` elementwise: an array of shape ``(kmax + 1,) + shape(z)``.

    ``z`` is a real or complex scalar or array; the result is float64 for real input and
    complex128 for complex input.
    """
    kmax = _check_k(kmax, "kmax")
    a = np.asarray(z)
    if a.dtype.kind == "c":
        flat = np.ascontiguousarray(a, dtype=np.complex128).ravel()
        out = np.empty((kmax + 1, flat.size), np.complex128)
        _phi_array_complex(flat, kmax, out)
    elif a.dtype.kind in "fiub":
        flat = np.ascontiguousarray(a, dtype=np.float64).ravel()
        out = np.empty((kmax + 1, flat.size))
        _phi_array_real(flat, kmax, out)
    else:
        raise TypeError(f"phi of {a.dtype} values: pass real or complex numbers")
    return out.reshape((kmax + 1,) + a.shape)


def phi(k, z):
    """``phi_k(z)`` elementwise for a real or complex scalar or array ``z`` (``k = 0..4``).

    >>> float(phi(1, 0.0)), float(phi(2, 0.0))
    (1.0, 0.5)
    """
    k = _check_k(k)
    r = phi_all(z, k)[k]
    return r[()] if r.ndim == 0 else r


def phi_matrix(A, kmax=MAXK):
    """``[phi_0(A), ..., phi_kmax(A)]`` for a small dense square matrix ``A`` (a list of arrays).

    One ``scipy.linalg.expm`` of the ``(kmax+1) n`` augmented block matrix (Sidje 1998, Thm. 1):
    the exponential of ``[[A, I, 0..], [0, 0, I, ..], .., [0 .. 0]]`` has ``phi_k(A)`` in block
    ``(0, k)``.
    """
    kmax = _check_k(kmax, "kmax")
    A = np.asarray(A)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"phi_matrix needs a square matrix, got shape {A.shape}")
    n = A.shape[0]
    dtype = np.result_type(A.dtype, np.float64)
    big = np.zeros(((kmax + 1) * n, (kmax + 1) * n), dtype)
    big[:n, :n] = A
    eye = np.eye(n, dtype=dtype)
    for k in range(kmax):
        big[k * n:(k + 1) * n, (k + 1) * n:(k + 2) * n] = eye
    ex = scipy.linalg.expm(big)
    return [np.array(ex[:n, k * n:(k + 1) * n]) for k in range(kmax + 1)]
