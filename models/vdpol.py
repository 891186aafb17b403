"""Problem VDPOL (stiff van der Pol oscillator) of the Bari IVP test set.

Source: F. Mazzia and C. Magherini, "Test Set for Initial Value Problem Solvers,
release 2.4", Report 4/2008, Department of Mathematics, University of Bari (2008),
Part II, Sect. 8, file ``vdpol.f``: the scaled form ``y1' = y2``,
``y2' = ((1 - y1^2) y2 - y1)/eps`` with eps = 1e-6, y(0) = (2, 0), 0 <= t <= 2.
(The report's other variant, ``vdpolm.f`` with mu = 1e3 on [0, 2000], is the same
trajectory under t -> t/mu, y2 -> mu y2.)
"""
import symdyn as sd

from ._common import testset_reference

T_SPAN = (0.0, 2.0)


def build(*, eps=1e-6) -> sd.Model:
    """The van der Pol oscillator in the test set's scaling, stiffness parameter ``eps``.

    >>> build().n_states
    2
    """
    m = sd.Model("vdpol")
    y1, y2 = m.states("y1 y2", init=[2.0, 0.0])
    e = m.params("eps", values=eps)
    m.eq(sd.D(y1), y2)
    m.eq(sd.D(y2), ((1 - y1**2) * y2 - y1) / e)
    return m


def reference():
    """The published reference state at ``T_SPAN[1]`` (eps = 1e-6), as a float array."""
    return testset_reference("VDPOL", "vdpol_eps1e-6_T2")
