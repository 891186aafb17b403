"""A semilinear parabolic test problem for exponential integrators, exact also after discretisation.

Source: M. Hochbruck and A. Ostermann, "Explicit exponential Runge–Kutta methods for
semilinear parabolic problems", SIAM J. Numer. Anal. 43(3) (2005) 1069–1090, numerical
experiments (also Acta Numerica 19 (2010) 209–286); problem
``hochbruck_ostermann_semilinear`` of ``tests/data/exact.json``:

    u_t = u_xx + 1/(1 + u^2) + Phi(x, t),   0 <= x <= 1,  0 <= t <= 1,  u(0, t) = u(1, t) = 0,
    Phi(x, t) = x(1 - x) e^t + 2 e^t - 1/(1 + x^2 (1 - x)^2 e^{2t}),

u(x, 0) = x(1 - x), exact solution ``u = x(1 - x) e^t``.

Discretisation (as in the papers): N = 200 interior points ``x_i = i/(N + 1)``, states
u1..uN, second-order central differences with u_0 = u_{N+1} = 0:

    du_i/dt = (u_{i-1} - 2 u_i + u_{i+1}) / h^2 + 1/(1 + u_i^2) + Phi(x_i, t).

Since u is quadratic in x, the difference quotient is exactly ``-2 e^t``: ``x_i(1 - x_i) e^t``
solves the semi-discrete system itself on any grid (:func:`exact`), so time-integration
errors can be measured without spatial error.  The stiff linear part is ``A_h / h^2``
(the Dirichlet Laplacian), the nonlinearity ``1/(1 + u^2) + Phi`` is smooth.  The model
has no parameters.  ``Phi(x_i, t)`` differs from row to row (its coefficients depend on
``x_i``), so the rows are not one family and the model compiles to straight-line code.

>>> m = build(N=5)
>>> m.n_states, m.param_names
(5, [])
"""
import numpy as np
import sympy as sp

import symdyn as sd

from ._common import check_grid_size, state_tuple

T_SPAN = (0.0, 1.0)


def grid(N: int = 200) -> np.ndarray:
    """The interior points ``x_i = i/(N + 1)``, i = 1..N.

    >>> grid(3).tolist()
    [0.25, 0.5, 0.75]
    """
    N = check_grid_size(N)
    return np.arange(1, N + 1) / (N + 1)


def exact(t, x):
    """``u = x (1 - x) e^t``: the solution of the PDE and of the semi-discrete system (broadcasting)."""
    x = np.asarray(x, dtype=float)
    return x * (1 - x) * np.exp(np.asarray(t, dtype=float))


def forcing(t, x):
    """``Phi(x, t) = x(1-x) e^t + 2 e^t - 1/(1 + x^2 (1-x)^2 e^{2t})`` (broadcasting)."""
    x, et = np.asarray(x, dtype=float), np.exp(np.asarray(t, dtype=float))
    g = x * (1 - x)
    return g * et + 2 * et - 1 / (1 + g**2 * et**2)


def build(*, N=200) -> sd.Model:
    """The semi-discretised problem on ``N`` interior points.

    >>> build().n_states
    200
    """
    N = check_grid_size(N, minimum=1)
    m = sd.Model(f"hochbruck_ostermann_N{N}")
    x = grid(N)
    u = state_tuple(m, "u", exact(0.0, x).tolist())
    et, e2t = sp.exp(m.t), sp.exp(2 * m.t)
    inv_h2 = sp.Float(float(N + 1) ** 2)
    minus_2c = -2 * inv_h2
    zero = sp.Integer(0)
    ue = [zero, *u, zero]
    for i in range(N):
        g = float(x[i] * (1 - x[i]))  # x_i (1 - x_i)
        phi = sp.Add(sp.Mul(sp.Float(g + 2.0), et), -1 / (1 + sp.Float(g * g) * e2t))
        lap = sp.Add(sp.Mul(inv_h2, ue[i]), sp.Mul(minus_2c, u[i]), sp.Mul(inv_h2, ue[i + 2]))
        m.eq(sd.D(u[i]), sp.Add(lap, 1 / (1 + u[i] ** 2), phi))
    return m
