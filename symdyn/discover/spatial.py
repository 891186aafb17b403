"""Derivatives, noise level and periodicity of data sampled on a uniform grid.

Everything here works along one axis of an array ``U`` (for PDE data ``U[i, j] = u(t_i, x_j)``:
axis 0 is time, axis 1 space) and knows nothing of regression:

- :func:`grid_spacing` checks that a grid is uniform and returns its step;
- :func:`fd_weights` (Fornberg's algorithm) and :func:`fd_derivative`: central finite
  differences of any accuracy order, one-sided stencils of the same width at the ends of a
  non-periodic axis, wrap-around on a periodic one;
- :func:`spectral_derivative`: FFT differentiation of periodic data, with an optional cut-off;
- :func:`savgol_derivative`: Savitzky–Golay (local least-squares polynomial) derivatives, for
  noisy data;
- :func:`noise_level`: the standard deviation of additive white noise, from high-order
  differences (signal-free for smooth data) with a median-based estimate;
- :func:`spectral_corner`: the wavenumber above which the data's spectrum is noise;
- :func:`detect_periodic`: does the data continue smoothly across the wrap?

References: B. Fornberg, *Math. Comp.* 51 (1988) 699–706 (finite-difference weights);
A. Savitzky and M. J. E. Golay, *Anal. Chem.* 36 (1964) 1627–1639; D. A. Messenger and
D. M. Bortz, *J. Comput. Phys.* 443 (2021) 110525 (the spectral corner, Sect. 3.2).

>>> x = np.arange(64) * (2 * np.pi / 64)
>>> d = spectral_derivative(np.sin(x), x[1] - x[0], 1)
>>> bool(np.allclose(d, np.cos(x), atol=1e-12))
True
"""
from __future__ import annotations

import math

import numpy as np
from scipy.signal import savgol_filter

from .. import errors

__all__ = [
    "grid_spacing", "fd_weights", "central_radius", "fd_derivative", "spectral_derivative", "savgol_derivative",
    "noise_level", "power_spectrum", "spectral_corner", "detect_periodic", "derivative",
]

#: a grid is uniform when every step equals the mean step to this relative tolerance
UNIFORM_RTOL = 1e-6
#: orders of the differences whose scaled median gives the noise estimate (smallest wins)
NOISE_DIFF_ORDERS = (3, 4, 5, 6, 8)
#: the median of |N(0, 1)|: median(|e|) / MAD_SCALE estimates the standard deviation
MAD_SCALE = 0.6744897501960817
#: exponent of the taper applied to a non-periodic axis before its spectrum is taken
TAPER_EXPONENT = 8
#: a wavenumber is signal while the (smoothed) spectrum stays above this multiple of the noise floor
CORNER_FLOOR_FACTOR = 10.0
#: points on each side of the wrap in the periodicity test (each size that fits is tried)
WRAP_WINDOWS = (4, 8, 16)
#: interior windows the wrap is compared with
WRAP_INTERIOR_WINDOWS = 24
#: periodic when the jump/kink statistic at the wrap is at most this multiple of the interior's
WRAP_RATIO = 4.0
#: ... of the interior's, but at least of this value (the statistic's mean for smooth data + noise is 2)
WRAP_CHI2_FLOOR = 2.0


def grid_spacing(x, name: str = "x") -> float:
    """The step of the uniform, increasing grid ``x``; ``errors.NonUniformGridError`` otherwise.

    >>> grid_spacing([0.0, 0.5, 1.0, 1.5])
    0.5
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size < 2:
        raise errors.ArgumentError(f"argument {name!r} must be a 1-D grid of at least 2 points, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise errors.ArgumentError(f"argument {name!r} contains NaN or infinite values")
    steps = np.diff(x)
    h = float(steps.mean())
    if not np.all(steps > 0):
        raise errors.DiscoveryArgumentError(name, f"{x.size} points", "must be strictly increasing")
    if float(np.abs(steps / h - 1.0).max()) > UNIFORM_RTOL:
        raise errors.NonUniformGridError(name, float(steps.max() / steps.min()),
                                         "resample the data onto a uniform grid first")
    return h


def fd_weights(offsets, k: int) -> np.ndarray:
    """Weights ``w`` with ``sum_i w_i f(x + o_i h) ~ h^k f^(k)(x)`` (Fornberg 1988).

    Exact for polynomials of degree ``len(offsets) - 1``.

    >>> fd_weights([-1, 0, 1], 2).tolist()
    [1.0, -2.0, 1.0]
    >>> fd_weights([-2, -1, 0, 1, 2], 1) * 12
    array([ 1., -8.,  0.,  8., -1.])
    """
    z = np.asarray(offsets, dtype=float)
    n = z.size
    if k >= n:
        raise errors.ArgumentError(f"a derivative of order {k} needs more than {n} stencil points")
    from ._kernels import fornberg  # the one implementation (numba), shared with the ODE derivatives

    return fornberg(0.0, z, k)[:, k]


def central_radius(k: int, order: int) -> int:
    """Half-width of the central stencil of derivative ``k`` with accuracy ``order`` (even).

    >>> [central_radius(k, 2) for k in (1, 2, 3, 4)]
    [1, 1, 2, 2]
    """
    if order < 2 or order % 2:
        raise errors.ArgumentError(f"the accuracy order of a central difference must be even and >= 2, got {order}")
    return (k + 1) // 2 + order // 2 - 1


def fd_derivative(U, h: float, k: int, axis: int = -1, order: int = 4, periodic: bool = False) -> np.ndarray:
    """The ``k``-th derivative along ``axis`` by finite differences of accuracy ``order``.

    Central stencils inside; near the ends of a non-periodic axis the stencil of the same
    width is shifted inwards (one-sided, same number of points).

    >>> x = np.linspace(0.0, 1.0, 11)
    >>> bool(np.allclose(fd_derivative(x**3, 0.1, 2), 6 * x))
    True
    """
    U = np.moveaxis(np.asarray(U, dtype=float), axis, -1)
    if k == 0:
        return np.moveaxis(U.copy(), -1, axis)
    n = U.shape[-1]
    r = central_radius(k, order)
    if n < 2 * r + 1:
        raise errors.ArgumentError(f"{n} points are too few for a derivative of order {k} with accuracy {order}")
    w = fd_weights(np.arange(-r, r + 1), k) / h**k
    out = np.zeros_like(U)
    if periodic:
        for o, wo in zip(range(-r, r + 1), w):
            out += wo * np.roll(U, -o, axis=-1)
    else:
        for o, wo in zip(range(-r, r + 1), w):
            out[..., r:n - r] += wo * U[..., r + o:n - r + o]
        for i in list(range(r)) + list(range(n - r, n)):
            start = min(max(i - r, 0), n - 2 * r - 1)
            offs = np.arange(start, start + 2 * r + 1) - i
            wi = fd_weights(offs, k) / h**k
            out[..., i] = U[..., start:start + 2 * r + 1] @ wi
    return np.moveaxis(out, -1, axis)


def spectral_derivative(U, h: float, k: int, axis: int = -1, cutoff: int | None = None) -> np.ndarray:
    """The ``k``-th derivative of periodic data along ``axis`` by FFT.

    ``cutoff``: zero the modes above this wavenumber index (a sharp low-pass for noisy data).
    The Nyquist mode of an even-length odd derivative is zeroed (it has no real derivative).

    >>> x = np.arange(32) * (2 * np.pi / 32)
    >>> bool(np.allclose(spectral_derivative(np.cos(3 * x), x[1], 2), -9 * np.cos(3 * x)))
    True
    """
    U = np.asarray(U, dtype=float)
    n = U.shape[axis]
    F = np.fft.rfft(U, axis=axis)
    m = np.arange(F.shape[axis])
    kappa = 2 * np.pi * m / (n * h)
    mult = (1j * kappa) ** k
    if k % 2 and n % 2 == 0:
        mult[-1] = 0.0
    if cutoff is not None:
        mult = np.where(m <= cutoff, mult, 0.0)
    shape = [1] * U.ndim
    shape[axis] = -1
    return np.fft.irfft(F * mult.reshape(shape), n=n, axis=axis)


def savgol_derivative(U, h: float, k: int, axis: int = -1, window: int = 11, polyorder: int | None = None,
                      periodic: bool = False) -> np.ndarray:
    """The ``k``-th derivative by a Savitzky–Golay filter (local least-squares polynomials).

    ``polyorder`` defaults to ``k + 2`` (at least 3); ``window`` is made odd and larger than it.

    >>> x = np.linspace(0.0, 1.0, 41)
    >>> bool(np.allclose(savgol_derivative(x**2, x[1], 1), 2 * x))
    True
    """
    if polyorder is None:
        polyorder = max(k + 2, 3)
    window = max(int(window), polyorder + 2)
    window += 1 - window % 2
    return savgol_filter(np.asarray(U, dtype=float), window, polyorder, deriv=k, delta=h, axis=axis,
                         mode="wrap" if periodic else "interp")


def noise_level(U, axes=None) -> float:
    """The standard deviation of additive white noise in ``U`` (0 for exactly smooth data).

    For each axis and each order ``d`` in :data:`NOISE_DIFF_ORDERS`, the ``d``-th difference
    of white noise of variance s^2 has variance ``s^2 C(2d, d)``; a smooth signal contributes
    ``~(kh)^d`` and vanishes for large ``d``.  The median of ``|difference|`` (robust to the few
    places where the signal is rough) is scaled to a standard deviation; the smallest
    estimate over orders and axes is returned (every estimate is the noise plus some signal).

    >>> rng = np.random.default_rng(0)
    >>> x = np.linspace(0, 1, 400)
    >>> U = np.sin(2 * np.pi * x)[None, :] * np.ones((50, 1)) + 0.01 * rng.standard_normal((50, 400))
    >>> round(noise_level(U), 3)
    0.01
    """
    U = np.asarray(U, dtype=float)
    axes = range(U.ndim) if axes is None else axes
    best = math.inf
    for axis in axes:
        n = U.shape[axis]
        for d in NOISE_DIFF_ORDERS:
            if n <= d + 4:
                continue
            D = np.diff(U, n=d, axis=axis)
            s = float(np.median(np.abs(D))) / MAD_SCALE / math.sqrt(math.comb(2 * d, d))
            best = min(best, s)
    return 0.0 if best is math.inf else best


def power_spectrum(U, axis: int, periodic: bool) -> np.ndarray:
    """The mean (over the other axes) of ``|FFT|^2`` along ``axis``, index 0..n//2.

    A non-periodic axis is tapered first by the smooth window ``(1 - s^2)^TAPER_EXPONENT``
    (``s`` from -1 to 1 across the axis), so that the jump and kinks at the ends do not leak
    into high wavenumbers; the normalisation keeps white noise of variance ``s^2`` at
    ``s^2`` per mode either way.
    """
    V = np.moveaxis(np.asarray(U, dtype=float), axis, -1)
    n = V.shape[-1]
    if periodic:
        w = np.ones(n)
    else:
        s = np.linspace(-1.0, 1.0, n)
        w = (1.0 - s**2) ** TAPER_EXPONENT
        V = (V - V.mean(axis=-1, keepdims=True)) * w
    P = np.abs(np.fft.rfft(V, axis=-1)) ** 2 / float(np.sum(w**2))
    return P.reshape(-1, P.shape[-1]).mean(axis=0)


def spectral_corner(U, axis: int, periodic: bool, sigma: float | None = None) -> float:
    """The wavenumber (as a fraction of Nyquist, in (0, 1]) above which ``U`` is noise.

    The noise floor is ``sigma^2`` per mode (white noise; ``sigma`` from :func:`noise_level`
    unless given); the corner is the largest wavenumber whose spectrum, smoothed over a few
    neighbours, still exceeds :data:`CORNER_FLOOR_FACTOR` times the floor.  Clean data
    give 1 (all of the spectrum is signal).

    >>> rng = np.random.default_rng(1)
    >>> x = np.arange(256) * (2 * np.pi / 256)
    >>> U = np.sin(np.arange(1, 40)[:, None] * 0 + 5 * x) + 0.05 * rng.standard_normal((39, 256))
    >>> 0.03 < spectral_corner(U, 1, True) < 0.2
    True
    """
    if sigma is None:
        sigma = noise_level(U)
    P = power_spectrum(U, axis, periodic)
    nk = P.size
    width = max(1, nk // 32)
    Ps = np.convolve(P, np.ones(2 * width + 1) / (2 * width + 1), mode="same")
    floor = sigma**2
    above = np.nonzero(Ps[1:] > CORNER_FLOOR_FACTOR * floor)[0]
    if floor == 0.0 or above.size == 0:
        return 1.0 if floor == 0.0 else 1.0 / (nk - 1)
    return float(min(1.0, (above[-1] + 1) / (nk - 1)))


def _break_statistic(V: np.ndarray, sigma: float) -> float:
    """Mean over rows of the chi-square of a jump and a kink between the two halves of ``V``.

    Along the last axis of ``V`` (even length ``2w``), a cubic plus a step and a ramp
    starting at the midpoint is fitted per row; the step and ramp coefficients, weighed by
    their covariance under white noise of standard deviation ``sigma``, give a chi-square
    with 2 degrees of freedom (mean 2 for smooth data plus noise).
    """
    n = V.shape[-1]
    s = (np.arange(n) - (n - 1) / 2) / (n / 2)
    right = (s > 0).astype(float)
    A = np.column_stack([np.ones(n), s, s**2, s**3, right, s * right])
    pinv = np.linalg.pinv(A)
    coef = V.reshape(-1, n) @ pinv[4:].T
    cov = (pinv[4:] @ pinv[4:].T) * max(sigma, 1e-300) ** 2
    chi2 = np.einsum("ri,ij,rj->r", coef, np.linalg.inv(cov), coef)
    return float(chi2.mean())


def detect_periodic(U, axis: int = -1, sigma: float | None = None) -> bool:
    """Whether the data continue smoothly from the last point of ``axis`` to the first.

    A cubic with a jump and a kink at the wrap is fitted to the ``w`` points on each side of
    it (as if the grid continued periodically), ``w`` in :data:`WRAP_WINDOWS`; the jump and
    kink, measured against the noise ``sigma`` (chi-square), are compared with the same
    statistic at interior points.  Periodic when the wrap looks like the interior (at most
    :data:`WRAP_RATIO` times its largest value) for every window.

    >>> x = np.arange(100) / 100
    >>> U = np.sin(2 * np.pi * x)[None, :] * np.ones((3, 1))
    >>> detect_periodic(U), detect_periodic(U[:, :80])
    (True, False)
    """
    V = np.moveaxis(np.asarray(U, dtype=float), axis, -1)
    n = V.shape[-1]
    if sigma is None:
        sigma = noise_level(V)
    sigma = max(sigma, 1e-14 * float(np.abs(V).max()), 1e-300)
    windows = [w for w in WRAP_WINDOWS if 4 * w <= n]
    if not windows:
        return False
    for w in windows:
        wrap = _break_statistic(np.concatenate([V[..., -w:], V[..., :w]], axis=-1), sigma)
        starts = np.linspace(0, n - 2 * w, min(WRAP_INTERIOR_WINDOWS, n - 2 * w + 1)).astype(int)
        interior = max(_break_statistic(V[..., s:s + 2 * w], sigma) for s in starts)
        if wrap > WRAP_RATIO * max(interior, WRAP_CHI2_FLOOR):
            return False
    return True


def derivative(U, h: float, k: int, axis: int, *, periodic: bool, method: str = "auto",
               sigma: float = 0.0, order: int = 8) -> np.ndarray:
    """The ``k``-th derivative along ``axis`` by ``method``.

    ``"spectral"`` (periodic only), ``"fd"`` (central differences of accuracy ``order``),
    ``"savgol"`` (window growing with the noise-to-signal ratio) or ``"auto"``: spectral on a
    periodic axis (cut off at the spectral corner when ``sigma > 0``), finite differences
    on clean non-periodic data, Savitzky–Golay on noisy ones.
    """
    if method == "auto":
        method = "spectral" if periodic else ("fd" if sigma == 0.0 else "savgol")
    if method == "spectral":
        if not periodic:
            raise errors.ArgumentError("spectral derivatives need periodic data (periodic=True)")
        cutoff = None
        if sigma > 0:
            n = np.shape(U)[axis]
            cutoff = max(1, int(spectral_corner(U, axis, True, sigma) * (n // 2)))
        return spectral_derivative(U, h, k, axis, cutoff)
    if method == "fd":
        return fd_derivative(U, h, k, axis, order=order, periodic=periodic)
    if method == "savgol":
        n = np.shape(U)[axis]
        corner = spectral_corner(U, axis, periodic, sigma) if sigma > 0 else 1.0
        window = int(min(n // 2, max(2 * k + 5, round(4.0 / max(corner, 1e-3)))))
        return savgol_derivative(U, h, k, axis, window=window, periodic=periodic)
    raise errors.ArgumentError(f"unknown derivative method {method!r}; use 'auto', 'spectral', 'fd' or 'savgol'")
