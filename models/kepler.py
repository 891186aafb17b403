"""The Kepler problem (two-body problem in the plane, Hamiltonian ``|p|^2/2 - 1/|q|``).

Source: E. Hairer, C. Lubich and G. Wanner, "Geometric Numerical Integration", 2nd ed.,
Springer (2006), Sect. I.2.3, with eccentricity e = 0.6 and the initial state
``q = (1 - e, 0)``, ``p = (0, sqrt((1 + e)/(1 - e)))`` as in ``tests/data/exact.json``
(problem ``kepler``).  The orbit has period ``2 pi``, energy ``-1/2`` and angular momentum
``sqrt(1 - e^2)``; ``T_SPAN`` is one period, after which the exact state is the initial one.
"""
import math

import sympy as sp

import symdyn as sd

T_SPAN = (0.0, 2 * math.pi)


def build(*, e=0.6) -> sd.Model:
    """The Kepler problem started at the pericentre of an orbit of eccentricity ``e`` (0 <= e < 1).

    ``e`` sets the initial state only; the model has no parameters.

    >>> build().n_states
    4
    """
    if not 0.0 <= e < 1.0:
        raise ValueError(f"eccentricity e must satisfy 0 <= e < 1, got {e!r}")
    m = sd.Model("kepler")
    q1, q2, p1, p2 = m.states(
        "q1 q2 p1 p2", init=[1.0 - e, 0.0, 0.0, math.sqrt((1.0 + e) / (1.0 - e))]
    )
    r3 = m.observed("r3", (q1**2 + q2**2) ** sp.Rational(3, 2))  # |q|^3
    m.eq(sd.D(q1), p1)
    m.eq(sd.D(q2), p2)
    m.eq(sd.D(p1), -q1 / r3)
    m.eq(sd.D(p2), -q2 / r3)
    return m
