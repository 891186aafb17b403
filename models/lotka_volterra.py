"""The Lotka-Volterra predator-prey model.

Sources: A. J. Lotka, "Elements of Physical Biology", Williams & Wilkins (1925);
V. Volterra, "Fluctuations in the abundance of a species considered mathematically",
Nature 118 (1926) 558-560.  The constants alpha = 1.5, beta = 1, gamma = 3, delta = 1,
the initial state (10, 5) and the time span (0, 15) are those of the Lotka-Volterra
example in the SciPy documentation of ``scipy.integrate.solve_ivp``.
"""
import symdyn as sd

T_SPAN = (0.0, 15.0)


def build(*, alpha=1.5, beta=1.0, gamma=3.0, delta=1.0) -> sd.Model:
    """Prey ``x`` and predators ``y``: ``x' = alpha x - beta x y``, ``y' = -gamma y + delta x y``.

    >>> build().n_states
    2
    """
    m = sd.Model("lotka_volterra")
    x, y = m.states("x y", init=[10.0, 5.0])
    a, b, c, d = m.params("alpha beta gamma delta", values=[alpha, beta, gamma, delta])
    m.eq(sd.D(x), a * x - b * x * y)
    m.eq(sd.D(y), -c * y + d * x * y)
    return m
