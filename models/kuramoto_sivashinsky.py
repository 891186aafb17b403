"""The Kuramoto–Sivashinsky equation on a periodic grid (method of lines, finite differences).

Source: A.-K. Kassam and L. N. Trefethen, "Fourth-order time-stepping for stiff PDEs",
SIAM J. Sci. Comput. 26(4) (2005) 1214–1233, program ``kursiv.m``; the setup is problem
``kuramoto_sivashinsky_kassam_trefethen`` of ``tests/data/exact.json`` (no exact solution):

    u_t = -u u_x - u_xx - u_xxxx,   x in [0, 32 pi] periodic,   u(x, 0) = cos(x/16) (1 + sin(x/16)),

on the grid x_j = 32 pi j / N, j = 1..N (N = 128), 0 <= t <= 150.  Kassam and Trefethen
discretise in Fourier space; the DSL has no FFT, so here the states u1..uN are the grid
values and the derivatives are second-order central differences (h = L/N, indices mod N):

    u_xx   ~ (u_{j-1} - 2 u_j + u_{j+1}) / h^2,
    u_xxxx ~ (u_{j-2} - 4 u_{j-1} + 6 u_j - 4 u_{j+1} + u_{j+2}) / h^4,
    u u_x = (u^2)_x / 2 ~ (u_{j+1}^2 - u_{j-1}^2) / (4 h)      (conservative form).

The linear part is the circulant stencil ``a2 u_{j-2} + a1 u_{j-1} + a0 u_j + a1 u_{j+1} +
a2 u_{j+2}`` with the numeric coefficients ``a0 = 2/h^2 - 6/h^4``, ``a1 = 4/h^4 - 1/h^2``,
``a2 = -1/h^4`` (the same in every row, wrapping around at the ends); the nonlinear term
is the only state-dependent coefficient.  Both parts conserve the mean exactly:
``sum_j du_j/dt = 0``.  The model has no parameters (the equation has none).  Rows
3..N-2 are one family of identical equations (native loop); the four rows next to the
wrap-around are written out.

>>> m = build(N=16)
>>> m.n_states, m.param_names
(16, [])
"""
import math

import sympy as sp

import symdyn as sd

from ._common import check_grid_size, state_tuple

T_SPAN = (0.0, 150.0)

#: Kassam & Trefethen's domain length 32 pi
LENGTH = 32 * math.pi


def grid(N: int = 128, L: float = LENGTH):
    """The grid ``x_j = L j / N``, j = 1..N, of the states ``u1..uN`` (a list of floats).

    >>> grid(4, 4.0)
    [1.0, 2.0, 3.0, 4.0]
    """
    N = check_grid_size(N)
    return [L * j / N for j in range(1, N + 1)]


def initial_values(x):
    """Kassam & Trefethen's ``u0 = cos(x/16) (1 + sin(x/16))`` at the points ``x``."""
    return [math.cos(xi / 16) * (1 + math.sin(xi / 16)) for xi in x]


def stencil(N: int = 128, L: float = LENGTH):
    """``(a0, a1, a2, b)``: the linear coefficients of offsets 0, +-1, +-2 and ``b = 1/(4h)``.

    >>> a0, a1, a2, b = stencil(4, 4.0)        # h = 1
    >>> (a0, a1, a2, b)
    (-4.0, 3.0, -1.0, 0.25)
    """
    h = L / check_grid_size(N)
    c2, c4 = 1 / h**2, 1 / h**4
    return 2 * c2 - 6 * c4, 4 * c4 - c2, -c4, 1 / (4 * h)


def build(*, N=128, L=LENGTH) -> sd.Model:
    """The Kuramoto–Sivashinsky equation on ``N`` periodic grid points of ``[0, L]``.

    ``N >= 5`` (the five-point stencil must not wrap onto itself).  ``L`` changes the
    domain; the initial state stays ``cos(x/16)(1 + sin(x/16))``.

    >>> build().n_states
    128
    """
    N = check_grid_size(N, minimum=5)
    if not (L > 0 and math.isfinite(L)):
        raise ValueError(f"L must be a positive length, got {L!r}")
    m = sd.Model(f"kuramoto_sivashinsky_N{N}")
    u = state_tuple(m, "u", initial_values(grid(N, L)))
    a0, a1, a2, b = (sp.Float(c) for c in stencil(N, L))
    minus_b = -b
    squares = [sp.Pow(ui, 2) for ui in u]
    for j in range(N):
        um2, um1, up1, up2 = (u[(j + k) % N] for k in (-2, -1, 1, 2))
        # one n-ary Add of products: no Float * Add to distribute (that costs 3x the build time)
        m.eq(sd.D(u[j]), sp.Add(
            sp.Mul(a2, um2), sp.Mul(a1, um1), sp.Mul(a0, u[j]), sp.Mul(a1, up1), sp.Mul(a2, up2),
            sp.Mul(b, squares[j - 1]), sp.Mul(minus_b, squares[(j + 1) % N]),  # -(u_{j+1}^2 - u_{j-1}^2)/(4h)
        ))
    return m
