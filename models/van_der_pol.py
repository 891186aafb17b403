"""The Van der Pol oscillator in its unscaled (Liénard-free) form, for moderate ``mu``.

Source: B. van der Pol, "On relaxation-oscillations", Phil. Mag. 2 (1926) 978-992:
``x'' - mu (1 - x^2) x' + x = 0`` written as a first-order system.  This is the non-stiff
form used by the discovery tests and benchmark (mu = 1 and 5, as in the SINDy literature);
the stiff, rescaled variant of the Bari IVP test set is :mod:`models.vdpol`.
"""
import symdyn as sd

T_SPAN = (0.0, 20.0)


def build(*, mu=1.0) -> sd.Model:
    """``x' = y``, ``y' = mu (1 - x^2) y - x``, started at (2, 0).

    >>> build(mu=5.0).param_values
    [5.0]
    """
    m = sd.Model("van_der_pol")
    x, y = m.states("x y", init=[2.0, 0.0])
    pmu = m.params("mu", values=[mu])
    m.eq(sd.D(x), y)
    m.eq(sd.D(y), pmu * (1 - x**2) * y - x)
    return m
