"""Time derivatives of sampled data, and how noisy the data are.

- :func:`estimate_noise`: the standard deviation of white noise on each column, from the
  residual of predicting every sample by polynomial interpolation of its neighbours
  (exact for smooth data of high enough order; the noise does not cancel).  Works on any grid.
- :func:`finite_difference`: high-order finite differences (Fornberg's weights, so
  non-uniform grids are handled exactly; one-sided stencils at the ends).  The method of
  choice for clean data: order 8 by default.
- :func:`savitzky_golay` and :func:`smooth`: local least-squares polynomials
  (``scipy.signal.savgol_filter``) with the window chosen from the noise estimate by the
  discrepancy principle (the widest window whose residual is still only noise).  Uniform
  grids only (:class:`~symdyn.errors.NonUniformGridError` otherwise).
- :func:`tv_derivative`: total-variation regularised differentiation (R. Chartrand,
  "Numerical differentiation of noisy, nonsmooth data", ISRN Appl. Math. 2011, 164564),
  lagged diffusivity with conjugate gradients; the weight chosen by the discrepancy principle.
- :func:`derivative`: ``method="auto"`` picks finite differences for (nearly) clean data and
  Savitzky-Golay otherwise.

>>> import numpy as np
>>> t = np.linspace(0, 2 * np.pi, 400)
>>> float(np.max(np.abs(finite_difference(t, np.sin(t)) - np.cos(t)))) < 1e-10
True
"""
from __future__ import annotations

import math

import numpy as np

from .. import errors

#: accuracy order of the finite differences used on clean data
FD_ACCURACY = 8

#: relative step spread above which a grid counts as non-uniform
UNIFORM_RTOL = 1e-6

#: polynomial order of the Savitzky-Golay fits
SG_POLYORDER = 3

#: discrepancy principle: a smoothing residual up to this multiple of the expected noise
#: residual is still "only noise" (the noise estimate itself is good to a few percent)
DISCREPANCY_ALLOWANCE = 1.1


# --- input checks ---------------------------------------------------------------------------
def real_array(x, name: str) -> np.ndarray:
    """``x`` as a float64 array, or a named error: complex, boolean, text and objects are refused.

    (``np.asarray(z, dtype=float)`` would drop the imaginary part of complex data silently.)

    >>> real_array([1, 2], "t").dtype
    dtype('float64')
    """
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError):
        raise errors.DiscoveryArgumentError(name, type(x).__name__, "must be an array of real numbers") from None
    if arr.dtype.kind not in "fiu":
        raise errors.DiscoveryArgumentError(name, f"dtype {arr.dtype}", "must be an array of real numbers")
    return arr.astype(np.float64, copy=False)


def check_time(t, name: str = "t", min_samples: int = 3) -> np.ndarray:
    """A strictly increasing, finite 1-d float array or a named error."""
    t = np.asarray(t, dtype=float)
    if t.ndim != 1:
        raise errors.DiscoveryArgumentError(name, t.shape, "must be a 1-d array of sample times")
    if not np.all(np.isfinite(t)):
        raise errors.NonFiniteDataError(name, (int(np.flatnonzero(~np.isfinite(t))[0]),))
    if t.size < min_samples:
        raise errors.TooFewSamplesError(name, t.size, min_samples, "to estimate derivatives")
    steps = np.diff(t)
    if np.any(steps <= 0):
        k = int(np.flatnonzero(steps <= 0)[0])
        raise errors.DiscoveryArgumentError(name, f"t[{k}]={t[k]}, t[{k + 1}]={t[k + 1]}",
                                            "must be strictly increasing")
    return t


def _as_columns(u, t, name="U"):
    u = np.asarray(u, dtype=float)
    was_1d = u.ndim == 1
    if was_1d:
        u = u[:, None]
    if u.ndim != 2 or u.shape[0] != t.size:
        raise errors.DiscoveryArgumentError(name, u.shape, f"must have one row per time sample ({t.size})")
    if not np.all(np.isfinite(u)):
        raise errors.NonFiniteDataError(name, tuple(int(i) for i in np.argwhere(~np.isfinite(u))[0]))
    return u, was_1d


def is_uniform(t) -> bool:
    """True when the steps of ``t`` agree to :data:`UNIFORM_RTOL`."""
    steps = np.diff(np.asarray(t, dtype=float))
    return steps.size == 0 or float(np.ptp(steps)) <= UNIFORM_RTOL * float(np.mean(np.abs(steps)))


def step_ratio(t) -> float:
    steps = np.diff(np.asarray(t, dtype=float))
    return float(steps.max() / steps.min())


def finite_difference(t, u, order: int = 1, accuracy: int = FD_ACCURACY) -> np.ndarray:
    """The ``order``-th derivative by finite differences of accuracy order ``accuracy``.

    Stencils of ``accuracy + order`` neighbouring samples (rounded up to odd, centred where
    possible, one-sided at the ends), weights by Fornberg's algorithm for the actual
    sample times: non-uniform grids are exact to the same order.

    >>> import numpy as np
    >>> t = np.sort(np.random.default_rng(1).uniform(0, 1, 200))      # a non-uniform grid
    >>> float(np.max(np.abs(finite_difference(t, t**5) - 5 * t**4))) < 1e-9
    True
    """
    t = check_time(t)
    u, was_1d = _as_columns(u, t)
    width = int(accuracy) + int(order)
    width += 1 - width % 2
    if t.size < width:
        raise errors.TooFewSamplesError("t", t.size, width, f"for a stencil of accuracy {accuracy}")
    from ._kernels import fd_kernel

    out = fd_kernel(t, np.ascontiguousarray(u), int(order), width)
    return out[:, 0] if was_1d else out


def estimate_noise(t, u) -> np.ndarray:
    """Standard deviation of additive white noise on each column of ``u``.

    Every interior sample is predicted by the interpolating polynomial through its ``2k``
    neighbours (``k = 2, 3, 4``); for smooth data the prediction is exact to order ``2k``,
    so the residual, normalised by ``sqrt(1 + sum w^2)``, is the noise.  A robust scale
    (1.4826 x median absolute value) is taken per ``k``, and the smallest over ``k`` is
    returned (coarse sampling inflates the low orders, round-off the high ones).

    >>> import numpy as np
    >>> t = np.linspace(0, 10, 2000)
    >>> u = np.sin(t) + 0.01 * np.random.default_rng(0).normal(size=t.size)
    >>> abs(float(estimate_noise(t, u)[0]) / 0.01 - 1) < 0.1
    True
    """
    t = check_time(t)
    u, _ = _as_columns(u, t)
    from ._kernels import interp_residual

    best = np.full(u.shape[1], np.inf)
    for half in (2, 3, 4):
        if t.size < 2 * half + 3:
            continue
        r = interp_residual(t, np.ascontiguousarray(u), half)[half:-half]
        best = np.minimum(best, 1.4826 * np.median(np.abs(r), axis=0))
    if not np.all(np.isfinite(best)):
        raise errors.TooFewSamplesError("t", t.size, 7, "to estimate the noise level")
    return best


# --- Savitzky-Golay ------------------------------------------------------------------------------
def _require_uniform(t, what):
    if not is_uniform(t):
        raise errors.NonUniformGridError("t", step_ratio(t), f"{what} needs uniform steps; use "
                                         "finite_difference (any grid), the weak form, or resample the data")
    return float(np.mean(np.diff(t)))


def choose_window(t, u, sigma=None, polyorder: int = SG_POLYORDER) -> np.ndarray:
    """Savitzky-Golay window per column by the discrepancy principle.

    The widest odd window whose smoothing residual is no larger than the noise it should
    remove (``sigma * sqrt(1 - c)``, ``c`` the filter's centre weight, with 10% allowance for
    the error of the noise estimate): wider windows start to cut into the signal.
    """
    from scipy.signal import savgol_coeffs, savgol_filter

    t = check_time(t)
    u, _ = _as_columns(u, t)
    sigma = estimate_noise(t, u) if sigma is None else np.broadcast_to(np.asarray(sigma, float), (u.shape[1],))
    m = t.size
    smallest = polyorder + 2 + (polyorder + 2) % 2 + 1
    smallest += 1 - smallest % 2
    candidates = sorted({int(w) | 1 for w in np.geomspace(smallest, max(smallest, m // 3), 24)})
    candidates = [w for w in candidates if w <= m]
    out = np.full(u.shape[1], candidates[0])
    for k in range(u.shape[1]):
        for w in candidates:
            r = u[:, k] - savgol_filter(u[:, k], w, polyorder, mode="interp")
            centre = float(savgol_coeffs(w, polyorder)[w // 2])
            allowed = DISCREPANCY_ALLOWANCE * sigma[k] * math.sqrt(max(1 - centre, 0.0))
            if np.sqrt(np.mean(r ** 2)) <= allowed:
                out[k] = w
            else:
                break
    return out


def savitzky_golay(t, u, window=None, polyorder: int = SG_POLYORDER, deriv: int = 1) -> np.ndarray:
    """Savitzky-Golay derivative (``deriv=0`` smooths), window per column from :func:`choose_window`.

    >>> import numpy as np
    >>> t = np.linspace(0, 10, 2001)
    >>> u = np.sin(t) + 0.01 * np.random.default_rng(0).normal(size=t.size)
    >>> float(np.sqrt(np.mean((savitzky_golay(t, u) - np.cos(t)) ** 2))) < 0.02
    True
    """
    from scipy.signal import savgol_filter

    t = check_time(t)
    u, was_1d = _as_columns(u, t)
    h = _require_uniform(t, "Savitzky-Golay")
    windows = choose_window(t, u, polyorder=polyorder) if window is None else \
        np.broadcast_to(np.asarray(window, int), (u.shape[1],))
    out = np.empty_like(u)
    for k in range(u.shape[1]):
        w = int(windows[k])
        if w > t.size or w <= polyorder:
            raise errors.DiscoveryArgumentError("window", w, f"must be > polyorder ({polyorder}) and <= {t.size}")
        out[:, k] = savgol_filter(u[:, k], w, polyorder, deriv=deriv, delta=h, mode="interp")
    return out[:, 0] if was_1d else out


def smooth(t, u, window=None, polyorder: int = SG_POLYORDER) -> np.ndarray:
    """Savitzky-Golay smoothing with the automatic window."""
    return savitzky_golay(t, u, window, polyorder, deriv=0)


# --- total variation (Chartrand) ------------------------------------------------------------------
def _tv_solve(t, f, alpha, iterations=30, eps=1e-8):
    """Minimise ``alpha * TV(v) + 0.5 ||A v - (f - f0)||^2``, ``A`` = cumulative trapezoid."""
    import scipy.sparse as sps
    from scipy.sparse.linalg import LinearOperator, cg, splu

    m = t.size
    h = np.diff(t)
    half = np.concatenate([[0.0], h / 2])   # weight of v_{i-1} and v_i in increment i

    def A(v):
        inc = np.zeros(m)
        inc[1:] = half[1:] * (v[:-1] + v[1:])
        return np.cumsum(inc)

    def AT(r):
        S = np.cumsum(r[::-1])[::-1]        # S_i = sum_{k >= i} r_k
        out = np.zeros(m)
        out[1:] += half[1:] * S[1:]
        out[:-1] += half[1:] * S[1:]
        return out

    Dm = sps.diags([-1 / h, 1 / h], [0, 1], shape=(m - 1, m), format="csr")
    target = f - f[0]
    v = np.gradient(f, t)
    ATb = AT(target)
    for _ in range(iterations):
        dv = Dm @ v
        L = Dm.T @ sps.diags(h / np.sqrt(dv ** 2 + eps)) @ Dm
        H = LinearOperator((m, m), matvec=lambda s: AT(A(s)) + alpha * (L @ s))
        g = AT(A(v)) - ATb + alpha * (L @ v)
        scale = float(np.mean(h)) ** 2 * (t[-1] - t[0])
        P = splu((alpha * L + scale * sps.eye(m)).tocsc())
        M = LinearOperator((m, m), matvec=P.solve)
        s, _ = cg(H, -g, M=M, maxiter=50, rtol=1e-6)
        v = v + s
        if np.linalg.norm(s) <= 1e-6 * max(np.linalg.norm(v), 1e-300):
            break
    return v, A(v) + f[0]


def tv_derivative(t, u, alpha=None, iterations: int = 30) -> np.ndarray:
    """Total-variation regularised derivative (Chartrand 2011), any grid.

    Minimises ``alpha * int |v'| + 0.5 * int (int_0^t v - (u - u_0))^2`` over the derivative
    ``v`` by lagged diffusivity (each iteration a preconditioned conjugate-gradient solve).
    ``alpha=None`` chooses, per column, the largest weight (on a factor-4 grid) whose
    reconstruction ``u_0 + int v`` stays within the estimated noise of the data.

    >>> import numpy as np
    >>> t = np.linspace(0, 1, 200)
    >>> u = np.abs(t - 0.5) + 0.005 * np.random.default_rng(0).normal(size=t.size)
    >>> v = tv_derivative(t, u)
    >>> bool(np.median(np.abs(v - np.sign(t - 0.5))) < 0.1)
    True
    """
    t = check_time(t)
    u, was_1d = _as_columns(u, t)
    out = np.empty_like(u)
    sigma = estimate_noise(t, u)
    for k in range(u.shape[1]):
        f = u[:, k]
        if alpha is not None:
            out[:, k] = _tv_solve(t, f, float(alpha), iterations)[0]
            continue
        span = float(t[-1] - t[0])
        a = max(sigma[k], 1e-12 * max(np.ptp(f), 1.0)) * span * 1e-3
        best = _tv_solve(t, f, a, iterations)[0]
        for _ in range(12):
            a *= 4.0
            v, rec = _tv_solve(t, f, a, iterations)
            if np.sqrt(np.mean((rec - f) ** 2)) > DISCREPANCY_ALLOWANCE * sigma[k]:
                break
            best = v
        out[:, k] = best
    return out[:, 0] if was_1d else out


# --- the automatic choice ------------------------------------------------------------------------
def derivative(t, u, method: str = "auto") -> np.ndarray:
    """First derivative of each column: ``"fd"``, ``"savgol"``, ``"tv"`` or ``"auto"``.

    ``"auto"``: finite differences of order :data:`FD_ACCURACY` when the noise they would
    amplify is below 1e-6 of the derivative, else Savitzky-Golay (TV on a non-uniform grid).
    """
    t = check_time(t)
    u, was_1d = _as_columns(u, t)
    if method == "auto":
        method = "fd" if fd_is_accurate(t, u) else ("savgol" if is_uniform(t) else "tv")
    if method == "fd":
        out = finite_difference(t, u)
    elif method == "savgol":
        out = savitzky_golay(t, u)
    elif method == "tv":
        out = tv_derivative(t, u)
    else:
        raise errors.DiscoveryArgumentError("method", method, "must be 'auto', 'fd', 'savgol' or 'tv'")
    return out[:, 0] if was_1d else out


#: finite differences are used (on clean data) when they amplify the noise to less than
#: this fraction of the derivative's size
FD_NOISE_TOLERANCE = 1e-6
#: the Euclidean norm of the 9-point, 8th-order central first-derivative weights (times h), the
#: factor by which they amplify white noise: +-4/5, +-1/5, +-4/105, +-1/280
FD_STENCIL_NORM = math.sqrt(2 * ((4 / 5) ** 2 + (1 / 5) ** 2 + (4 / 105) ** 2 + (1 / 280) ** 2))


def fd_is_accurate(t, u, sigma=None) -> bool:
    """Whether high-order finite differences of ``u`` amplify its noise to under :data:`FD_NOISE_TOLERANCE`."""
    t = np.asarray(t, dtype=float)
    u = np.asarray(u, dtype=float)
    u = u[:, None] if u.ndim == 1 else u
    sigma = estimate_noise(t, u) if sigma is None else np.asarray(sigma, dtype=float)
    h = float(np.median(np.diff(t)))
    amplified = sigma * FD_STENCIL_NORM / h
    du = np.gradient(u, t, axis=0)
    scale = np.sqrt(np.mean(du ** 2, axis=0))
    return bool(np.all(amplified <= FD_NOISE_TOLERANCE * np.where(scale > 0, scale, 1.0)))
