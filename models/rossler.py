"""The Rössler attractor.

Source: O. E. Rössler, "An equation for continuous chaos", Phys. Lett. A 57 (1976) 397-398,
with the constants a = b = 0.2, c = 5.7 of the chaotic band attractor.  The initial state
(1, 1, 0) and ``T_SPAN`` are ours (a few dozen turns around the attractor); the discovery
tests and benchmark use it as a system whose constant term ``b`` matters only where ``z``
is small.
"""
import symdyn as sd

T_SPAN = (0.0, 60.0)


def build(*, a=0.2, b=0.2, c=5.7) -> sd.Model:
    """``x' = -y - z``, ``y' = x + a y``, ``z' = b + z (x - c)``.

    >>> build().n_states
    3
    """
    m = sd.Model("rossler")
    x, y, z = m.states("x y z", init=[1.0, 1.0, 0.0])
    pa, pb, pc = m.params("a b c", values=[a, b, c])
    m.eq(sd.D(x), -y - z)
    m.eq(sd.D(y), x + pa * y)
    m.eq(sd.D(z), pb + z * (x - pc))
    return m
