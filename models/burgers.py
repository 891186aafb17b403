"""The viscous Burgers equation with homogeneous Dirichlet data and its exact Cole–Hopf solution.

Source: problem ``burgers_cole_hopf_sin`` of ``tests/data/exact.json``; J. D. Cole,
Quart. Appl. Math. 9 (1951) 225–236 (the Cole–Hopf transformation and the series):

    u_t + u u_x = nu u_xx,   0 <= x <= 1,   u(0, t) = u(1, t) = 0,   u(x, 0) = sin(pi x),

nu = 0.1 (the JSON's value; smaller viscosities such as 0.01 work with finer grids).
With ``z = 1/(2 pi nu)`` the exact solution is the quotient of Bessel series

    u = 4 pi nu sum_n n I_n(z) e^{-n^2 pi^2 nu t} sin(n pi x)
        / (I_0(z) + 2 sum_n I_n(z) e^{-n^2 pi^2 nu t} cos(n pi x)).

Discretisation: N interior points ``x_i = i/(N + 1)``, states u1..uN, u_0 = u_{N+1} = 0,
second-order central differences with the convective term in conservative form:

    du_i/dt = -(u_{i+1}^2 - u_{i-1}^2) / (4 h) + nu (u_{i-1} - 2 u_i + u_{i+1}) / h^2.

Rows 2..N-1 are one family (native loop); ``nu`` is the only parameter.

:func:`exact_series` sums the JSON's series (``scipy.special.ive``, exponentially scaled
Bessel functions).  For small ``nu`` its denominator falls to ``~exp(-2z)`` of its terms
near x = 1 at small t and the sum cancels catastrophically (1e-12 at nu = 0.03, useless
at 0.01).  :func:`exact` therefore evaluates the Cole–Hopf integral instead, which is
accurate to rounding for any ``nu`` (checked against the series and the JSON's samples
in the tests): the odd 2-periodic extension of ``sin(pi x)`` solved on the whole line,
``theta`` the heat kernel applied to ``exp(-(1 - cos(pi xi))/(2 pi nu))``; after
``xi = x - sqrt(4 nu t) eta`` and an integration by parts of the numerator,

    u(x, t) = int sin(pi xi) w(eta) d eta / int w(eta) d eta,
    w = exp(-eta^2 - (1 - cos(pi xi))/(2 pi nu)),

a weighted mean of the initial data (no cancellation; |u| <= 1), integrated by the
trapezoidal rule, spectrally accurate for this smooth, rapidly decaying integrand.

>>> m = build(N=7)
>>> m.param_names, m.n_states
(['nu'], 7)
"""
import math

import numpy as np
import sympy as sp
from scipy.special import ive

import symdyn as sd

from ._common import check_grid_size, exact_entry, exact_number, merge_params, state_tuple

T_SPAN = (0.0, 2.0)

PROBLEM = "burgers_cole_hopf_sin"
#: the viscosity of the JSON problem
NU = exact_number(exact_entry(PROBLEM)["parameters"]["nu"])
#: trapezoidal steps per standard deviation of the integrand's narrowest feature
QUAD_STEPS_PER_WIDTH = 8
#: the integrand is cut where it has fallen below exp(-QUAD_CUTOFF) of its maximum
QUAD_CUTOFF = 45.0


def grid(N: int = 99) -> np.ndarray:
    """The interior points ``x_i = i/(N + 1)``, i = 1..N, of the states u1..uN.

    >>> grid(3).tolist()
    [0.25, 0.5, 0.75]
    """
    N = check_grid_size(N)
    return np.arange(1, N + 1) / (N + 1)


def exact_series(t, x, nu: float = NU):
    """The JSON's Bessel series: accurate to ~1e-13 for ``nu >= 0.05``, not for small ``nu``."""
    t, x = np.broadcast_arrays(np.asarray(t, dtype=float), np.asarray(x, dtype=float))
    z = 1.0 / (2.0 * math.pi * nu)
    n_max = int(math.ceil(z + 12.0 * math.sqrt(z) + 40.0))  # I_n(z)/I_0(z) < 1e-20 beyond
    n = np.arange(1, n_max + 1).reshape((-1,) + (1,) * t.ndim)
    weights = ive(n, z) * np.exp(-(n * math.pi) ** 2 * nu * t)  # I_n(z) e^{-z} e^{-n^2 pi^2 nu t}
    num = 4.0 * math.pi * nu * np.sum(n * weights * np.sin(n * math.pi * x), axis=0)
    den = ive(0, z) + 2.0 * np.sum(weights * np.cos(n * math.pi * x), axis=0)
    return num / den


def exact_quadrature(t, x, nu: float = NU):
    """The Cole–Hopf integral, a weighted mean of ``sin(pi xi)`` (see the module docstring)."""
    t, x = np.broadcast_arrays(np.asarray(t, dtype=float), np.asarray(x, dtype=float))
    out = np.empty(t.shape)
    z2 = 1.0 / (math.pi * nu)  # max of (1 - cos)/(2 pi nu)
    half_width = math.sqrt(z2 + QUAD_CUTOFF)
    for k in np.ndindex(t.shape):
        tk, xk = float(t[k]), float(x[k])
        if tk == 0.0:
            out[k] = math.sin(math.pi * xk)
            continue
        # the exponent's curvature in eta is at most 2 + 2 pi t: resolve that width
        step = 1.0 / (QUAD_STEPS_PER_WIDTH * math.sqrt(2.0 + 2.0 * math.pi * tk))
        eta = np.linspace(-half_width, half_width, 2 * int(math.ceil(half_width / step)) + 1)
        xi = xk - math.sqrt(4.0 * nu * tk) * eta
        phi = -eta**2 - (1.0 - np.cos(math.pi * xi)) * (z2 / 2.0)
        w = np.exp(phi - phi.max())
        out[k] = np.sum(w * np.sin(math.pi * xi)) / np.sum(w)  # trapezoid: end weights ~ 0
    return out


def exact(t, x, nu: float = NU):
    """The exact solution at times ``t`` and points ``x`` (numpy broadcasting), for any ``nu > 0``.

    >>> round(float(exact(0.0, 0.5)), 15), abs(float(exact(1.0, 1.0))) < 1e-15   # u(1, t) = 0
    (1.0, True)
    """
    return exact_quadrature(t, x, nu)


def build(*, N=99, **params) -> sd.Model:
    """Burgers' equation on ``N`` interior points of ``[0, 1]`` (N = 99: h = 0.01).

    Keyword ``nu`` overrides the viscosity.

    >>> build().n_states
    99
    """
    N = check_grid_size(N, minimum=1)
    p = merge_params({"nu": NU}, params)
    m = sd.Model(f"burgers_N{N}")
    u = state_tuple(m, "u", np.sin(math.pi * grid(N)).tolist())
    nu = m.params("nu", values=p["nu"])
    inv_h2 = sp.Float(float((N + 1) ** 2))
    b = sp.Float((N + 1) / 4.0)  # 1/(4h)
    zero = sp.Integer(0)
    ue = [zero, *u, zero]
    sq = [sp.Pow(v, 2) for v in ue]
    for i in range(N):
        lap = sp.Add(ue[i], sp.Mul(-2, u[i]), ue[i + 2])
        flux = sp.Add(sp.Mul(b, sq[i]), sp.Mul(-b, sq[i + 2]))  # -(u_{i+1}^2 - u_{i-1}^2)/(4h)
        m.eq(sd.D(u[i]), sp.Add(flux, sp.Mul(nu, inv_h2, lap)))
    return m
