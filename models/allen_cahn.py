"""The bistable (Nagumo / Allen–Cahn type) reaction–diffusion equation with an exact travelling front.

Source: problem ``allen_cahn_nagumo_wave`` of ``tests/data/exact.json``, the classical
Huxley/Nagumo travelling wave (J. D. Murray, "Mathematical Biology I", 3rd ed., Springer
(2002), Sect. 13.5):

    u_t = u_xx + u (1 - u) (u - a),   -L <= x <= L,   a = 1/4, L = 20,

with the exact solution ``u(x, t) = 1 / (1 + exp(-(x - c t)/sqrt(2)))``,
``c = sqrt(2) (a - 1/2)`` (for a < 1/2 the state u = 1 invades: c < 0), initial values
``u(x, 0)`` and Dirichlet data ``u(-L, t)``, ``u(L, t)`` taken from it.  With
``v = 2u - 1`` it is an Allen–Cahn equation with a tilted double well (see the JSON).

Discretisation: N interior points ``x_i = -L + 2 L i/(N + 1)``, i = 1..N, states u1..uN,
second-order central differences

    du_i/dt = (u_{i-1} - 2 u_i + u_{i+1}) / h^2 + u_i (1 - u_i) (u_i - a),

with ``u_0``, ``u_{N+1}`` the exact boundary values, written in the equations as
functions of ``t`` and the parameter ``a``.  The semi-discretisation error is
``(h^2/12) u_xxxx + O(h^4)``.  ``a`` is the only parameter; the defaults of ``a`` and
``L`` are read from the JSON, as are the values :func:`exact` is tested against.

>>> m = build(N=9)
>>> m.param_names, m.n_states
(['a'], 9)
"""
import math

import numpy as np
import sympy as sp
from scipy.special import expit

import symdyn as sd

from ._common import check_grid_size, exact_entry, exact_number, merge_params, state_tuple

T_SPAN = (0.0, 10.0)

PROBLEM = "allen_cahn_nagumo_wave"
#: a (the unstable zero of the cubic) and the half-width L of the domain, from the JSON
A = exact_number(exact_entry(PROBLEM)["parameters"]["a"])
L_HALF = exact_number(exact_entry(PROBLEM)["parameters"]["L"])


def speed(a: float = A) -> float:
    """The front speed ``c = sqrt(2) (a - 1/2)``."""
    return math.sqrt(2.0) * (a - 0.5)


def exact(t, x, a: float = A):
    """The exact travelling front ``1 / (1 + exp(-(x - c t)/sqrt(2)))`` (numpy broadcasting).

    >>> float(exact(0.0, 0.0))
    0.5
    """
    x = np.asarray(x, dtype=float)
    return expit((x - speed(a) * np.asarray(t, dtype=float)) / math.sqrt(2.0))


def grid(N: int = 199, L: float = L_HALF) -> np.ndarray:
    """The interior points ``x_i = -L + 2 L i/(N + 1)``, i = 1..N, of the states u1..uN.

    >>> grid(3, 2.0).tolist()
    [-1.0, 0.0, 1.0]
    """
    N = check_grid_size(N)
    return -L + 2.0 * L * np.arange(1, N + 1) / (N + 1)


def _front(x, t, a):
    """The exact solution as a SymPy expression of ``t`` and the parameter ``a``."""
    return 1 / (1 + sp.exp(-(x - sp.sqrt(2) * (a - sp.Rational(1, 2)) * t) / sp.sqrt(2)))


def build(*, N=199, L=L_HALF, **params) -> sd.Model:
    """The front on ``N`` interior points of ``[-L, L]`` (``h = 2L/(N+1)``; N = 199: h = 0.2).

    Keyword ``a`` overrides the parameter (the boundary data follow it).

    >>> build().n_states
    199
    """
    N = check_grid_size(N, minimum=1)
    if not (L > 0 and math.isfinite(L)):
        raise ValueError(f"L must be a positive length, got {L!r}")
    p = merge_params({"a": A}, params)
    m = sd.Model(f"allen_cahn_N{N}")
    x = grid(N, L)
    u = state_tuple(m, "u", exact(0.0, x, p["a"]).tolist())
    a = m.params("a", values=p["a"])
    c = sp.Float((N + 1) ** 2 / (2.0 * L) ** 2)  # 1/h^2
    ue = [_front(sp.Float(-L), m.t, a), *u, _front(sp.Float(L), m.t, a)]
    minus_2c, minus_a = -2 * c, -a
    for i in range(N):
        diffusion = sp.Add(sp.Mul(c, ue[i]), sp.Mul(minus_2c, u[i]), sp.Mul(c, ue[i + 2]))
        reaction = sp.Mul(u[i], sp.Add(1, -u[i]), sp.Add(u[i], minus_a))
        m.eq(sd.D(u[i]), sp.Add(diffusion, reaction))
    return m
