"""Problem ROBER (Robertson's autocatalytic chemical reaction) of the Bari IVP test set.

Sources: H. H. Robertson, "The solution of a set of reaction rate equations", in
J. Walsh (ed.), Numerical Analysis: an Introduction, Academic Press (1966) 178-182;
F. Mazzia and C. Magherini, "Test Set for Initial Value Problem Solvers, release 2.4",
Report 4/2008, Department of Mathematics, University of Bari (2008), Part II, Sect. 10:
k1 = 0.04, k2 = 3e7, k3 = 1e4, y(0) = (1, 0, 0), 0 <= t <= 1e11.
``y1 + y2 + y3`` is conserved.
"""
import symdyn as sd

from ._common import testset_reference

T_SPAN = (0.0, 1e11)


def build(*, k1=0.04, k2=3e7, k3=1e4) -> sd.Model:
    """Robertson's three-species reaction with rate constants ``k1, k2, k3``.

    >>> build().n_states
    3
    """
    m = sd.Model("rober")
    y1, y2, y3 = m.states("y1 y2 y3", init=[1.0, 0.0, 0.0])
    c1, c2, c3 = m.params("k1 k2 k3", values=[k1, k2, k3])
    m.eq(sd.D(y1), -c1 * y1 + c3 * y2 * y3)
    m.eq(sd.D(y2), c1 * y1 - c2 * y2**2 - c3 * y2 * y3)
    m.eq(sd.D(y3), c2 * y2**2)
    return m


def reference():
    """The published reference state at ``T_SPAN[1]``, as a float array."""
    return testset_reference("ROBER")
