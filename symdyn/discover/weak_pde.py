"""The weak form of an evolution PDE ``u_t = sum_j c_j d^k_j/dx^k_j (u^p_j)``: no derivatives of the data.

Multiply the PDE by a smooth test function ``psi(t, x)`` that vanishes with its derivatives
at the edge of its support (or is periodic in ``x``) and integrate by parts: every
derivative moves onto ``psi``, whose derivatives are known exactly,

    - int int psi_t u dx dt = sum_j c_j (-1)^k_j int int (d^k_j psi/dx^k_j) u^p_j dx dt,

one linear equation in the ``c_j`` per test function (Messenger & Bortz, "Weak SINDy for
partial differential equations", J. Comput. Phys. 443 (2021) 110525; Reinbold, Gurevich &
Grigoriev, Phys. Rev. E 101 (2020) 010203, "weak PDE-FIND").  The library is therefore
written in conservative form, ``d^k(u^p)``: ``u u_x = (u^2)_x / 2``, ``u^2 u_x = (u^3)_x / 3``.

Test functions are separable, ``psi = phi_t(t - t_c) phi_x(x - x_c)`` with the piecewise
polynomial bump ``phi(s) = (1 - s^2)^p`` on ``|s| <= 1`` (``s`` = offset / half-width).  On the
uniform grid every integral is a sum (trapezoidal rule: the integrand vanishes at both
ends of the support), so for a field ``G`` (shape ``(nt, nx)``) all test functions at once are

    Vt^(a) @ G @ Vx^(k).T,

where row ``c`` of ``Vx^(k)`` holds ``h * phi_x^(k)`` centred at ``x_c``.  Half-widths come
from the data's spectral corner (the wavenumber where the spectrum meets the noise floor,
:func:`.spatial.spectral_corner`): as in Messenger & Bortz (Sect. 3.2), the bump's Fourier
transform, about a Gaussian of standard deviation ``sqrt(2p)/(m h)``, is made to put the
corner :data:`TAU_HAT` standard deviations into its tail, so the noise above the corner is
filtered out and the signal below it is kept.

With noise, a first fit's PDE then shortens the time test function
(:func:`rate_limited_half_width`): the time filter must pass the PDE's fastest rate at the
spatial cut-off, or the noise ends up in the regressors rather than in ``u_t``.

Powers of noisy data are biased, ``E[(u + e)^2] = u^2 + s^2``; with a noise estimate ``s``
the powers are replaced by their unbiased versions (Hermite polynomials in ``u``):
``u^2 - s^2``, ``u^3 - 3 s^2 u``.

>>> phi = bump_derivatives(4, 2, 1.0, 1)
>>> phi.shape, float(phi[0, 4]), float(phi[0].sum())        # value 1 at the centre, integral (half-width 4) x 16/15
((2, 9), 1.0, 4.265625)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.polynomial import polynomial as P

from .. import errors
from . import spatial

__all__ = ["TestFunctions", "bump_derivatives", "kernel_matrix", "choose_half_width", "cutoff_wavenumber",
           "rate_limited_half_width", "build_test_functions", "weak_system", "unbiased_powers", "TAU_HAT"]

#: the corner wavenumber sits this many standard deviations into the bump's Fourier transform
TAU_HAT = 2.0
#: bump exponent in space: derivative order + this (smooth enough for the trapezoidal rule)
SPACE_EXPONENT_EXTRA = 3
#: bump exponent in time (one derivative)
TIME_EXPONENT = 5
#: smallest half-width in grid points, per unit of the bump's exponent: the trapezoidal rule
#: on a bump that is too narrow for the grid leaves errors that other terms then fit
MIN_HALF_WIDTH_PER_EXPONENT = 2.0
#: largest half-width, as a fraction of the number of points
MAX_HALF_WIDTH_FRACTION = 0.25
#: test-function centres are at most this fraction of a half-width apart ...
STRIDE_FRACTION = 0.5
#: ... and as close as possible (down to one grid step) while there are at most this many
MAX_ROWS = 4000


def bump_derivatives(m: int, p: int, h: float, k: int) -> np.ndarray:
    """``d^j/dx^j (1 - (x/(m h))^2)^p`` for ``j = 0..k`` at the ``2m + 1`` nodes ``x = -m h .. m h``.

    Shape ``(k + 1, 2m + 1)``; exact values of the derivatives (the trapezoidal rule then
    sums them: odd derivatives sum to zero by symmetry, even ones to about ``m^-(p-j+1)``
    of their absolute sum, 1e-4 for ``p = 7``, ``j = 4``, ``m = 14``; forcing the discrete
    moments to their exact values instead spreads a comparable error over all wavenumbers,
    which measured worse).

    >>> bump_derivatives(2, 2, 0.5, 1)[1].tolist()        # (1 - x^2)^2 on x = -1..1: -4x(1 - x^2)
    [0.0, 1.5, 0.0, -1.5, 0.0]
    """
    if p <= k:
        raise errors.DiscoveryArgumentError("p", p, f"the bump exponent must exceed the derivative order {k}")
    s = np.arange(-m, m + 1) / m
    coef = P.polypow([1.0, 0.0, -1.0], p)
    out = np.empty((k + 1, 2 * m + 1))
    for j in range(k + 1):
        out[j] = P.polyval(s, coef) / (m * h) ** j
        coef = P.polyder(coef)
    return out


def kernel_matrix(n: int, values: np.ndarray, centres: np.ndarray, h: float, periodic: bool) -> np.ndarray:
    """The ``(len(centres), n)`` matrix whose row ``c`` is ``h * values`` centred at ``centres[c]``.

    ``values`` has odd length ``2m + 1``; on a periodic axis the rows wrap around.

    >>> kernel_matrix(5, np.array([1.0, 2.0, 1.0]), np.array([0, 2]), 1.0, True).tolist()
    [[2.0, 1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 2.0, 1.0, 0.0]]
    """
    m = (values.size - 1) // 2
    V = np.zeros((centres.size, n))
    rows = np.arange(centres.size)[:, None]
    cols = centres[:, None] + np.arange(-m, m + 1)[None, :]
    if periodic:
        np.add.at(V, (np.broadcast_to(rows, cols.shape), cols % n), h * values)
    else:
        V[rows, cols] = h * values
    return V


def choose_half_width(corner: float, p: int, n: int) -> int:
    """The bump half-width (grid points) that filters the noise above ``corner`` (fraction of Nyquist).

    The bump's transform is about a Gaussian of standard deviation ``sqrt(2p)/(m h)``; the
    corner ``pi * corner / h`` is put :data:`TAU_HAT` of them out:
    ``m = TAU_HAT sqrt(2p) / (pi corner)``, at least ``MIN_HALF_WIDTH_PER_EXPONENT * p`` and
    at most ``MAX_HALF_WIDTH_FRACTION * n``.

    >>> choose_half_width(1.0, 7, 200), choose_half_width(0.1, 7, 200)
    (14, 24)
    """
    m = math.ceil(TAU_HAT * math.sqrt(2 * p) / (math.pi * max(corner, 1e-6)))
    lower = math.ceil(MIN_HALF_WIDTH_PER_EXPONENT * p)
    upper = max(lower, int(MAX_HALF_WIDTH_FRACTION * n))
    return int(min(max(m, lower), upper))


def cutoff_wavenumber(m: int, p: int, h: float) -> float:
    """The wavenumber the bump of half-width ``m`` (points) and exponent ``p`` cuts off at:
    :data:`TAU_HAT` standard deviations ``sqrt(2p)/(m h)`` of its Fourier transform."""
    return TAU_HAT * math.sqrt(2 * p) / (m * h)


def rate_limited_half_width(rate: float, h: float, p: int = TIME_EXPONENT) -> int:
    """The largest time half-width whose cut-off (:func:`cutoff_wavenumber`) still passes ``rate``.

    With noisy data the time test function must not be slower than the fastest dynamics the
    spatial test function lets through (the PDE's rate at the spatial cut-off): otherwise
    the time integration averages the noise out of ``u_t``'s side of the regression more
    than out of the terms', the noise then sits in the regressors, and high-order terms fit
    the noise of low-order ones (errors in variables).  At least ``p + 1`` points.

    >>> rate_limited_half_width(100.0, 0.01)          # sqrt(10) * 2 / (0.01 * 100) = 6.3
    6
    """
    if not rate > 0:
        return 10**9
    return max(p + 1, int(math.floor(TAU_HAT * math.sqrt(2 * p) / (h * rate))))


def _centres(n: int, m: int, stride: int, periodic: bool) -> np.ndarray:
    if periodic:
        return np.arange(0, n, stride)
    if n < 2 * m + 1:
        raise errors.TooFewSamplesError("U", n, 2 * m + 1, f"a test function of half-width {m} needs them")
    return np.arange(m, n - m, stride)


@dataclass
class TestFunctions:
    """The test functions of one weak system: half-widths, exponents, strides, matrices.

    ``Vt[a]`` is the time matrix of derivative ``a`` (0, 1), ``Vx[k]`` the space matrix of
    derivative ``k`` (0..K); ``corner_t``, ``corner_x`` the spectral corners they come from.
    """

    __test__ = False  # not a pytest class

    mt: int
    pt: int
    st: int
    mx: int
    px: int
    sx: int
    corner_t: float
    corner_x: float
    Vt: list
    Vx: list

    @property
    def n_rows(self) -> int:
        return self.Vt[0].shape[0] * self.Vx[0].shape[0]

    def describe(self) -> str:
        return (f"{self.n_rows} test functions (bump (1-s^2)^p: time half-width {self.mt} samples, p={self.pt}; "
                f"space half-width {self.mx} points, p={self.px}; from spectral corners at "
                f"{self.corner_t:.2f} and {self.corner_x:.2f} of Nyquist)")


def build_test_functions(U, ht: float, hx: float, K: int, periodic: bool, sigma: float,
                         mt: int | None = None, mx: int | None = None) -> TestFunctions:
    """Choose half-widths from the spectral corners (unless given) and build the matrices."""
    nt, nx = U.shape
    pt, px = TIME_EXPONENT, K + SPACE_EXPONENT_EXTRA
    ct = spatial.spectral_corner(U, 0, False, sigma)
    cx = spatial.spectral_corner(U, 1, periodic, sigma)
    mt = choose_half_width(ct, pt, nt) if mt is None else int(mt)
    mx = choose_half_width(cx, px, nx) if mx is None else int(mx)
    # the densest centres (same fraction of each half-width) giving at most MAX_ROWS rows
    for frac in np.linspace(0.0, STRIDE_FRACTION, 51)[1:]:
        st, sx = max(1, int(round(frac * mt))), max(1, int(round(frac * mx)))
        ct_idx = _centres(nt, mt, st, False)
        cx_idx = _centres(nx, mx, sx, periodic)
        if ct_idx.size * cx_idx.size <= MAX_ROWS:
            break
    phit = bump_derivatives(mt, pt, ht, 1)
    phix = bump_derivatives(mx, px, hx, K)
    Vt = [kernel_matrix(nt, phit[a], ct_idx, ht, False) for a in range(2)]
    Vx = [kernel_matrix(nx, phix[k], cx_idx, hx, periodic) for k in range(K + 1)]
    return TestFunctions(mt, pt, st, mx, px, sx, ct, cx, Vt, Vx)


def unbiased_powers(U, degree: int, sigma: float) -> list:
    """``[1, u, u^2 - s^2, u^3 - 3 s^2 u, ...]`` (probabilists' Hermite polynomials scaled by ``s``).

    For ``u`` plus Gaussian noise of standard deviation ``s``, the expectation of entry ``p``
    is the noise-free ``u^p``.

    >>> [float(g) for g in unbiased_powers(np.array(2.0), 3, 1.0)]
    [1.0, 2.0, 3.0, 2.0]
    """
    U = np.asarray(U, dtype=float)
    out = [np.ones_like(U), U.copy()]
    s2 = sigma**2
    for p in range(2, degree + 1):  # He_{p} = x He_{p-1} - (p-1) He_{p-2}, scaled
        out.append(U * out[-1] - (p - 1) * s2 * out[-2])
    return out[: degree + 1]


def weak_system(U, ht: float, hx: float, terms, periodic: bool, sigma: float = 0.0,
                tf: TestFunctions | None = None, mt: int | None = None, mx: int | None = None):
    """``(Theta, b, tf)``: one row per test function, one column per term ``(p, k)`` = ``d^k(u^p)``.

    ``b = -int int psi_t u``, ``Theta[:, j] = (-1)^k int int (d^k psi / dx^k) g_p(u)`` with the
    unbiased powers ``g_p`` (:func:`unbiased_powers`, noise ``sigma``).

    >>> x = np.arange(64) * (2 * np.pi / 64); t = np.linspace(0, 1, 81)
    >>> U = np.exp(-t)[:, None] * np.sin(x) + np.exp(-4 * t)[:, None] * np.cos(2 * x)   # u_t = u_xx
    >>> Theta, b, tf = weak_system(U, t[1], x[1], [(1, 0), (1, 2)], True)
    >>> coef = np.linalg.lstsq(Theta, b, rcond=None)[0]
    >>> bool(np.allclose(coef, [0.0, 1.0], atol=2e-3))      # quadrature error ~1e-4 on this coarse grid
    True
    """
    U = np.asarray(U, dtype=float)
    K = max([k for _, k in terms] + [0])
    if tf is None:
        tf = build_test_functions(U, ht, hx, K, periodic, sigma, mt, mx)
    degree = max([p for p, _ in terms] + [1])
    G = unbiased_powers(U, degree, sigma)
    tG = {}  # p -> Vt0 @ G_p, shared by every k
    cols = []
    for p, k in terms:
        if p not in tG:
            tG[p] = tf.Vt[0] @ G[p]
        cols.append(((-1) ** k) * (tG[p] @ tf.Vx[k].T).ravel())
    b = -(tf.Vt[1] @ U @ tf.Vx[0].T).ravel()
    Theta = np.column_stack(cols) if cols else np.zeros((b.size, 0))
    return Theta, b, tf

