"""The simple pendulum, optionally damped: ``theta'' = -(g / length) sin(theta) - damping theta'``.

Source: any text on classical mechanics, e.g. L. D. Landau and E. M. Lifshitz, "Mechanics",
3rd ed., Pergamon (1976), Sect. 5.  Started at theta = 2 (rad, beyond the small-angle regime,
so ``sin(theta)`` cannot be replaced by ``theta``) and at rest.  The discovery tests and
benchmark use it as a system outside any polynomial library (genetic programming finds
``sin(theta)``).
"""
import sympy as sp

import symdyn as sd

T_SPAN = (0.0, 15.0)


def build(*, g=9.81, length=2.0, damping=0.0, theta0=2.0) -> sd.Model:
    """States ``theta`` (angle from the downward vertical) and ``omega = theta'``.

    >>> build().state_names
    ['theta', 'omega']
    """
    m = sd.Model("pendulum")
    theta, omega = m.states("theta omega", init=[float(theta0), 0.0])
    pg, pl, pc = m.params("g length damping", values=[g, length, damping])
    m.eq(sd.D(theta), omega)
    m.eq(sd.D(omega), -(pg / pl) * sp.sin(theta) - pc * omega)
    return m
