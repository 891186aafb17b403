"""The Lorenz system.

Source: E. N. Lorenz, "Deterministic nonperiodic flow", J. Atmos. Sci. 20 (1963)
130-141, eq. (25)-(27), with the classical constants sigma = 10, rho = 28 (Lorenz's r),
beta = 8/3 (Lorenz's b).  Initial state (1, 0, 0); the time span is a common
benchmark choice, not from the paper.
"""
import symdyn as sd

T_SPAN = (0.0, 100.0)


def build(*, sigma=10.0, rho=28.0, beta=8 / 3) -> sd.Model:
    """The Lorenz system ``x' = sigma (y - x)``, ``y' = x (rho - z) - y``, ``z' = x y - beta z``.

    >>> build().n_states
    3
    """
    m = sd.Model("lorenz")
    x, y, z = m.states("x y z", init=[1.0, 0.0, 0.0])
    s, r, b = m.params("sigma rho beta", values=[sigma, rho, beta])
    m.eq(sd.D(x), s * (y - x))
    m.eq(sd.D(y), x * (r - z) - y)
    m.eq(sd.D(z), x * y - b * z)
    return m
