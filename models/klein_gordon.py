"""Nonlinear Klein–Gordon equations (phi^4 and sine-Gordon) on a periodic grid, as a Hamiltonian system.

Sources: the potentials and initial states of ``amangkurat`` (S. H. S. Herho, an idealised
(1+1)-D nonlinear Klein–Gordon solver, https://pypi.org/project/amangkurat/ , MIT
licence), and T. Dauxois and M. Peyrard, "Physics of Solitons", Cambridge University
Press (2006), chapters 7–8 (sine-Gordon kinks and breathers; phi^4 kinks):

    q_tt = q_xx - V'(q),
    phi^4:       V = (lam/4) (q^2 - vev^2)^2,   V'(q) = lam q (q^2 - vev^2)   (lam = vev = 1: -q + q^3),
    sine-Gordon: V = 1 - cos q,                 V'(q) = sin q,

on the periodic interval [-L/2, L/2) with N points x_j = -L/2 + j h, h = L/N.  The
first-order form has the states q1..qN then v1..vN,

    dq_j/dt = v_j,   dv_j/dt = (q_{j-1} - 2 q_j + q_{j+1}) / h^2 - V'(q_j)   (indices mod N),

a separable Hamiltonian system: ``H = h sum_j [v_j^2/2 + (q_{j+1} - q_j)^2/(2 h^2) + V(q_j)]``
(:func:`energy`), ``dq/dt = dH/dv / h``, ``dv/dt = -dH/dq / h``; the block ``d(dv/dt)/dq``
is symmetric.  The q rows are one family and the v rows 2..N-1 another (native loops).

Initial states (``potential`` selects):

- ``"phi4"``: a kink–antikink pair at ``-x0`` and ``+x0`` approaching each other at speed
  ``speed``: ``q = vev [tanh(g (x + x0)) - tanh(g (x - x0)) - 1]``, ``g = gamma kappa``,
  ``kappa = vev sqrt(lam/2)``, ``gamma = 1/sqrt(1 - speed^2)``, with the velocity field of
  the two Lorentz-boosted kinks; the vacuum between them is +vev, outside -vev.
  Defaults L = 60, x0 = 10, speed = 0.3: they collide near t = 33 and T_SPAN = (0, 60).
  Parameters ``lam vev``.
- ``"sine_gordon"``: the breather ``q = 4 arctan(sqrt(1 - w^2)/w sin(w t)/cosh(sqrt(1 - w^2) x))``
  of frequency ``omega`` = w (default 0.5), an exact solution of the PDE on the line
  (:func:`breather`; on the periodic grid exact up to O(h^2) and ``exp(-sqrt(1 - w^2) L/2)``).
  No parameters.

>>> m = build(N=8)
>>> m.n_states, m.param_names
(16, ['lam', 'vev'])
"""
import math

import numpy as np
import sympy as sp

import symdyn as sd

from ._common import check_grid_size, merge_params, state_tuple

T_SPAN = (0.0, 60.0)

POTENTIALS = ("phi4", "sine_gordon")
#: physical parameters per potential
PARAMS = {"phi4": {"lam": 1.0, "vev": 1.0}, "sine_gordon": {}}
#: initial-state keywords per potential
INITIAL = {"phi4": {"x0": 10.0, "speed": 0.3}, "sine_gordon": {"omega": 0.5}}
LENGTH = 60.0


def grid(N: int = 256, L: float = LENGTH) -> np.ndarray:
    """The periodic grid ``x_j = -L/2 + j L/N``, j = 0..N-1.

    >>> grid(4, 4.0).tolist()
    [-2.0, -1.0, 0.0, 1.0]
    """
    N = check_grid_size(N)
    return -L / 2 + L * np.arange(N) / N


def breather(t, x, omega: float = INITIAL["sine_gordon"]["omega"]):
    """``(q, q_t)`` of the sine-Gordon breather of frequency ``omega`` (0 < omega < 1)."""
    t, x = np.asarray(t, dtype=float), np.asarray(x, dtype=float)
    k = math.sqrt(1 - omega**2)
    a = k / omega * np.sin(omega * t) / np.cosh(k * x)
    q = 4 * np.arctan(a)
    qt = 4 / (1 + a**2) * (k * np.cos(omega * t) / np.cosh(k * x))
    return q, qt


def kink_antikink(x, x0=INITIAL["phi4"]["x0"], speed=INITIAL["phi4"]["speed"], lam=1.0, vev=1.0):
    """``(q, q_t)`` at t = 0 of a phi^4 kink at ``-x0`` and an antikink at ``+x0`` moving together."""
    x = np.asarray(x, dtype=float)
    g = vev * math.sqrt(lam / 2) / math.sqrt(1 - speed**2)
    left, right = g * (x + x0), g * (x - x0)
    q = vev * (np.tanh(left) - np.tanh(right) - 1)
    qt = -vev * g * speed * (1 / np.cosh(left) ** 2 + 1 / np.cosh(right) ** 2)
    return q, qt


def potential_and_force(potential: str, q, lam=1.0, vev=1.0):
    """``(V(q), V'(q))`` (numpy or SymPy arguments)."""
    if potential == "phi4":
        return lam / 4 * (q**2 - vev**2) ** 2, lam * q * (q**2 - vev**2)
    if potential == "sine_gordon":
        mod = sp if isinstance(q, sp.Basic) else np
        return 1 - mod.cos(q), mod.sin(q)
    raise ValueError(f"potential must be one of {POTENTIALS}, got {potential!r}")


def energy(w, L: float = LENGTH, potential: str = "phi4", **params) -> float:
    """The discrete Hamiltonian ``H`` of the state ``w = (q, v)`` (conserved by the flow)."""
    w = np.asarray(w, dtype=float)
    N = w.size // 2
    q, v = w[:N], w[N:]
    h = L / N
    V, _ = potential_and_force(potential, q, **params)
    return float(h * np.sum(v**2 / 2 + (np.roll(q, -1) - q) ** 2 / (2 * h**2) + V))


def build(*, N=256, L=LENGTH, potential="phi4", **params) -> sd.Model:
    """The Klein–Gordon field on ``N`` periodic points of ``[-L/2, L/2)`` (2N states ``q.. v..``).

    Keywords: the parameters of the potential (phi4: ``lam vev``) and of the initial
    state (phi4: ``x0 speed``; sine_gordon: ``omega``).

    >>> build(potential="sine_gordon", N=64, omega=0.8).param_names
    []
    """
    if potential not in POTENTIALS:
        raise ValueError(f"potential must be one of {POTENTIALS}, got {potential!r}")
    N = check_grid_size(N, minimum=3)
    if not (L > 0 and math.isfinite(L)):
        raise ValueError(f"L must be a positive length, got {L!r}")
    p = merge_params({**PARAMS[potential], **INITIAL[potential]}, params)
    x = grid(N, L)
    if potential == "phi4":
        if not 0 <= p["speed"] < 1:
            raise ValueError(f"speed must satisfy 0 <= speed < 1, got {p['speed']!r}")
        q0, v0 = kink_antikink(x, p["x0"], p["speed"], p["lam"], p["vev"])
    else:
        if not 0 < p["omega"] < 1:
            raise ValueError(f"omega must satisfy 0 < omega < 1, got {p['omega']!r}")
        q0, v0 = breather(0.0, x, p["omega"])
    m = sd.Model(f"klein_gordon_{potential}_N{N}")
    q = state_tuple(m, "q", q0.tolist())
    v = state_tuple(m, "v", v0.tolist())
    names = list(PARAMS[potential])
    syms = m.params(names, values=[p[k] for k in names]) if names else ()
    syms = syms if isinstance(syms, tuple) else (syms,)
    inv_h2 = sp.Float(float(N / L) ** 2)
    minus_2c = -2 * inv_h2
    for j in range(N):
        m.eq(sd.D(q[j]), v[j])
    for j in range(N):
        _, force = potential_and_force(potential, q[j], *syms)
        lap = sp.Add(sp.Mul(inv_h2, q[j - 1]), sp.Mul(minus_2c, q[j]), sp.Mul(inv_h2, q[(j + 1) % N]))
        m.eq(sd.D(v[j]), sp.Add(lap, -force))
    return m
