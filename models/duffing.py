"""The unforced, damped Duffing oscillator with a double-well potential.

Source: G. Duffing, "Erzwungene Schwingungen bei veränderlicher Eigenfrequenz und ihre
technische Bedeutung", Vieweg, Braunschweig (1918); the form
``x'' + delta x' + alpha x + beta x^3 = 0`` and the double-well constants alpha = -1, beta = 1
follow J. Guckenheimer and P. Holmes, "Nonlinear Oscillations, Dynamical Systems, and
Bifurcations of Vector Fields", Springer (1983), Sect. 2.2.  The damping delta = 0.2 and the
initial state (1.8, 0) (above the barrier, so the orbit visits both wells before settling in
one) are ours.
"""
import symdyn as sd

T_SPAN = (0.0, 20.0)


def build(*, delta=0.2, alpha=-1.0, beta=1.0) -> sd.Model:
    """``x' = v``, ``v' = -delta v - alpha x - beta x^3``.

    >>> build().state_names
    ['x', 'v']
    """
    m = sd.Model("duffing")
    x, v = m.states("x v", init=[1.8, 0.0])
    d, a, b = m.params("delta alpha beta", values=[delta, alpha, beta])
    m.eq(sd.D(x), v)
    m.eq(sd.D(v), -d * v - a * x - b * x**3)
    return m
