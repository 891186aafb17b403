"""The one-dimensional Brusselator with diffusion, discretised by the method of lines.

Source: E. Hairer and G. Wanner, "Solving Ordinary Differential Equations II", 2nd ed.,
Springer (1996), Sect. IV.1, eq. (1.6) and (1.6'):

    u_t = A + u^2 v - (B + 1) u + alpha u_xx,    v_t = B u - u^2 v + alpha v_xx,

0 <= x <= 1, A = 1, B = 3, alpha = 1/50, Dirichlet data u = 1, v = 3 at x = 0 and x = 1,
u(x, 0) = 1 + sin(2 pi x), v(x, 0) = 3, 0 <= t <= 10.  Second-order central differences
on the N interior points x_i = i/(N + 1) give 2N equations; the states are u1..uN then
v1..vN (not interleaved).
"""
import math

import sympy as sp

import symdyn as sd

T_SPAN = (0.0, 10.0)


def build(*, N=32, A=1.0, B=3.0, alpha=1 / 50, u_bc=1.0, v_bc=3.0) -> sd.Model:
    """The semi-discretised Brusselator on ``N`` interior grid points (2N states).

    ``A``, ``B`` and ``alpha`` are model parameters; the boundary values ``u_bc`` and
    ``v_bc`` are numeric constants in the equations of the end points.  Construction is
    linear in ``N`` (no simplification), so large grids build quickly.

    >>> build(N=4).n_states
    8
    """
    if int(N) != N or N < 1:
        raise ValueError(f"N must be a positive integer, got {N!r}")
    N = int(N)
    m = sd.Model(f"brusselator_1d_N{N}")
    x = [i / (N + 1) for i in range(1, N + 1)]
    u0 = [1 + math.sin(2 * math.pi * xi) for xi in x]
    u = _as_tuple(m.states([f"u{i}" for i in range(1, N + 1)], init=u0))
    v = _as_tuple(m.states([f"v{i}" for i in range(1, N + 1)], init=[3.0] * N))
    a, b, al = m.params("A B alpha", values=[A, B, alpha])
    c = al * (N + 1) ** 2  # alpha / dx^2
    minus_b1 = -(b + 1)
    ue = [sp.Float(u_bc), *u, sp.Float(u_bc)]  # padded with the boundary values
    ve = [sp.Float(v_bc), *v, sp.Float(v_bc)]
    # n-ary Add/Mul: one flatten per node instead of one per binary operator (2x faster)
    reaction = [sp.Mul(sp.Pow(ui, 2), vi) for ui, vi in zip(u, v)]  # u^2 v
    for i in range(N):
        lap = sp.Add(ue[i], sp.Mul(-2, u[i]), ue[i + 2])
        m.eq(sd.D(u[i]), sp.Add(a, reaction[i], sp.Mul(minus_b1, u[i]), sp.Mul(c, lap)))
    for i in range(N):
        lap = sp.Add(ve[i], sp.Mul(-2, v[i]), ve[i + 2])
        m.eq(sd.D(v[i]), sp.Add(sp.Mul(b, u[i]), -reaction[i], sp.Mul(c, lap)))
    return m


def _as_tuple(symbols):
    """``Model.states`` returns a bare symbol for one name; make it a tuple."""
    return symbols if isinstance(symbols, tuple) else (symbols,)
