"""Problem OREGO (the Oregonator, Belousov-Zhabotinskii reaction) of the Bari IVP test set.

Sources: R. J. Field, E. Koros and R. M. Noyes, J. Am. Chem. Soc. 94 (1972) 8649-8664;
R. J. Field and R. M. Noyes, J. Chem. Phys. 60 (1974) 1877-1884;
F. Mazzia and C. Magherini, "Test Set for Initial Value Problem Solvers, release 2.4",
Report 4/2008, Department of Mathematics, University of Bari (2008), Part II, Sect. 9:
s = 77.27, w = 0.161, q = 8.375e-6, y(0) = (1, 2, 3), 0 <= t <= 360.
"""
import symdyn as sd

from ._common import testset_reference

T_SPAN = (0.0, 360.0)


def build(*, s=77.27, w=0.161, q=8.375e-6) -> sd.Model:
    """The three-variable Oregonator with constants ``s, w, q``.

    >>> build().n_states
    3
    """
    m = sd.Model("orego")
    y1, y2, y3 = m.states("y1 y2 y3", init=[1.0, 2.0, 3.0])
    s_, w_, q_ = m.params("s w q", values=[s, w, q])
    m.eq(sd.D(y1), s_ * (y2 - y1 * y2 + y1 - q_ * y1**2))
    m.eq(sd.D(y2), (-y2 - y1 * y2 + y3) / s_)
    m.eq(sd.D(y3), w_ * (y1 - y3))
    return m


def reference():
    """The published reference state at ``T_SPAN[1]``, as a float array."""
    return testset_reference("OREGO")
