"""The weak (integral) form of ``u' = Theta(u) xi``: no derivatives of noisy data.

Multiplying by a smooth test function ``phi`` that vanishes at both ends of its support
and integrating by parts gives, for every term of the library,

    -int phi'(t) u(t) dt = sum_j xi_j int phi(t) Theta_j(u(t)) dt

so each test function is one row of a linear system ``b = G xi`` whose entries are
integrals of the data -- noise is averaged, never differentiated (D. A. Messenger and
D. M. Bortz, "Weak SINDy: Galerkin-based data-driven model selection", Multiscale Model.
Simul. 19 (2021) 1474-1497).  The integrals are trapezoidal sums on the sample times, so
non-uniform grids need nothing special.

Test functions are the compactly supported polynomial bumps
``phi(t) = (1 - ((t - c)/r)^2)^q`` (``q =`` :data:`BUMP_DEGREE`) of radius ``r``, centres
spaced ``r / 2`` apart over the record.  The radius follows the data
(:func:`choose_radius`): the bump must pass the signal's band and stop the noise, so it is
matched to the *corner* frequency where the data's spectrum meets the noise floor
(after the criterion of Messenger & Bortz), and never resolved by fewer than
:data:`MIN_POINTS` samples.

>>> import numpy as np
>>> t = np.linspace(0, 10, 2001)
>>> u = np.exp(-0.5 * t)                                   # u' = -0.5 u
>>> G, b = weak_system(t, u[:, None], u[:, None], radius=0.5)
>>> round(float(np.linalg.lstsq(G, b, rcond=None)[0][0, 0]), 9)
-0.5
"""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sps

from .. import errors

#: exponent ``q`` of the bump ``(1 - s^2)^q``: smooth enough that the trapezoidal rule is
#: accurate to high order (the bump and its first q-1 derivatives vanish at the ends)
BUMP_DEGREE = 8

#: the smallest radius in samples: the trapezoidal rule on a row's integral is then accurate to
#: about 1e-10 (the bump's derivative times a linear function: 2.5e-10 relative at 24 samples,
#: 1.1e-6 at 8, which on nearly clean data is larger than the noise)
MIN_POINTS = 24

#: radius = RADIUS_FACTOR / (corner angular frequency): the bump (close to a Gaussian of
#: standard deviation r/sqrt(2q)) still passes the fastest frequency the data resolve above
#: the noise, so no information on the dynamics is averaged away, while the many overlapping
#: test functions average the noise
RADIUS_FACTOR = 2.0

#: at most this many test functions per trajectory
MAX_TEST_FUNCTIONS = 2000

#: test functions per radius (centres r / SPACING apart)
SPACING = 2


def trapezoid_weights(t) -> np.ndarray:
    """Weights ``w`` with ``sum w f(t) ~ int f`` (trapezoidal rule on the samples)."""
    t = np.asarray(t, dtype=float)
    w = np.zeros_like(t)
    h = np.diff(t)
    w[:-1] += h / 2
    w[1:] += h / 2
    return w


def bump_functions(t, radius: float, degree: int = BUMP_DEGREE, max_count: int = MAX_TEST_FUNCTIONS):
    """Sparse matrices ``V`` and ``dV`` of shape ``(K, m)``: ``V @ f ~ int phi_k f`` and ``dV @ f ~ int phi_k' f``.

    Bumps of radius ``radius`` (time units), centres from ``t0 + r`` to ``t_end - r``
    spaced ``r/2`` apart (wider if that would exceed ``max_count``), each normalised to
    unit integral.  Returns ``(V, dV, centres)``.
    """
    t = np.asarray(t, dtype=float)
    r = float(radius)
    t0, t1 = float(t[0]), float(t[-1])
    if not (r > 0 and 2 * r <= t1 - t0):
        raise errors.DiscoveryArgumentError("radius", radius, f"must be positive and at most half the record "
                                            f"({(t1 - t0) / 2:.6g})")
    count = int(math.floor((t1 - t0 - 2 * r) / (r / SPACING))) + 1
    count = max(1, min(count, int(max_count)))
    centres = np.linspace(t0 + r, t1 - r, count)
    w = trapezoid_weights(t)
    rows, cols, vals, dvals = [], [], [], []
    for k, c in enumerate(centres):
        lo, hi = np.searchsorted(t, [c - r, c + r])
        idx = np.arange(lo, hi + 1 if hi < t.size and t[hi] <= c + r else hi)
        s = (t[idx] - c) / r
        inside = np.abs(s) < 1
        idx, s = idx[inside], s[inside]
        base = 1 - s * s
        phi = base ** degree
        dphi = -2 * degree * s * base ** (degree - 1) / r
        norm = float(np.sum(w[idx] * phi))
        rows.append(np.full(idx.size, k))
        cols.append(idx)
        vals.append(w[idx] * phi / norm)
        dvals.append(w[idx] * dphi / norm)
    shape = (count, t.size)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    V = sps.csr_matrix((np.concatenate(vals), (rows, cols)), shape=shape)
    dV = sps.csr_matrix((np.concatenate(dvals), (rows, cols)), shape=shape)
    return V, dV, centres


def weak_system(t, U, Theta, radius: float, degree: int = BUMP_DEGREE, max_count: int = MAX_TEST_FUNCTIONS):
    """``(G, b)``: ``G = V Theta`` (K, p) and ``b = -dV U`` (K, n) for bumps of the given radius."""
    V, dV, _ = bump_functions(t, radius, degree, max_count)
    return np.asarray(V @ Theta), -np.asarray(dV @ U)


def corner_frequency(t, u, sigma) -> float:
    """Angular frequency above which the spectrum of ``u`` is noise (or the Nyquist frequency).

    The periodogram (Hann window, after removing the linear trend) is smoothed over a few
    bins; the corner is the highest frequency at which it still exceeds ten times the
    level white noise of standard deviation ``sigma`` would give.
    """
    t = np.asarray(t, dtype=float)
    u = np.asarray(u, dtype=float)
    m = t.size
    h = (t[-1] - t[0]) / (m - 1)
    grid = np.linspace(t[0], t[-1], m)
    v = np.interp(grid, t, u) if not np.allclose(grid, t, rtol=0, atol=1e-9 * h) else u
    v = v - np.polyval(np.polyfit(grid - grid.mean(), v, 1), grid - grid.mean())
    win = np.hanning(m)
    P = np.abs(np.fft.rfft(v * win)) ** 2
    floor = float(sigma) ** 2 * float(np.sum(win ** 2))
    L = 5
    Ps = np.convolve(P, np.ones(L) / L, mode="same")
    above = np.flatnonzero(Ps > 10 * floor)
    freqs = 2 * np.pi * np.fft.rfftfreq(m, h)
    if above.size == 0:
        return float(freqs[1])
    return float(freqs[min(above[-1], freqs.size - 1)])


def choose_radius(t, U, sigma, degree: int = BUMP_DEGREE) -> float:
    """Test-function radius for data ``U`` (m, n) with noise ``sigma`` (n,).

    The bump ``(1 - s^2)^q`` is close to a Gaussian of standard deviation ``r/sqrt(2q)``,
    whose transform at angular frequency ``w`` is ``exp(-w^2 r^2 / (4q))``.  With
    ``r = RADIUS_FACTOR / w_c`` (``w_c`` the highest corner frequency of the states) that is
    ``exp(-1/q) ~ 0.9`` at the corner: the signal's band passes, the noise above it is
    averaged.  At least :data:`MIN_POINTS` samples, at most a tenth of the record.
    """
    t = np.asarray(t, dtype=float)
    U = np.asarray(U, dtype=float)
    U = U[:, None] if U.ndim == 1 else U
    sigma = np.broadcast_to(np.asarray(sigma, dtype=float), (U.shape[1],))
    wc = max(corner_frequency(t, U[:, k], sigma[k]) for k in range(U.shape[1]))
    r = RADIUS_FACTOR / wc
    h = float(np.max(np.diff(t)))
    span = float(t[-1] - t[0])
    return float(min(max(r, MIN_POINTS * h), span / 10))
