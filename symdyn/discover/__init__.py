"""Discovery of governing equations from data: sparse regression on symbolic libraries.

``sd.discover(t, U, names=[...])`` returns a :class:`DiscoveryResult` whose ``model`` is an
``sd.Model`` (compile and solve it like any other).  The pieces are usable on their own:
:mod:`.regression` (STLSQ, SR3, the threshold path and its selection), :mod:`.library`
(candidate terms as SymPy expressions, evaluated by compiled code), :mod:`.derivatives`
(finite differences, Savitzky-Golay, total variation, noise estimate) and :mod:`.weak`
(the weak form, no derivatives of noisy data).  ``sd.discover(..., pde=True, x=grid)``
hands over to :mod:`symdyn.discover.pde`; :func:`gp_discover` (genetic programming,
:mod:`.gp`) finds terms outside any library.
"""
import sys
import types

from .api import discover
from .derivatives import derivative, estimate_noise, finite_difference, savitzky_golay, smooth, tv_derivative
from .library import Library, custom, exponential, polynomial, rational, trigonometric
from .regression import SparseFit, fit_sparse, sr3, stlsq
from .result import Coefficient, DiscoveryResult, Score

__all__ = [
    "Coefficient", "DiscoveryResult", "GPDiscovery", "Library", "Score", "SparseFit", "custom", "derivative", "discover",
    "estimate_noise", "exponential", "finite_difference", "fit_sparse", "gp_discover", "gp_regress", "polynomial", "rational", "savitzky_golay",
    "smooth", "sr3", "stlsq", "trigonometric", "tv_derivative",
]


_LAZY = {"GPDiscovery", "gp_discover", "gp_regress"}


def __getattr__(name):
    # the GP modules load numba: only when asked for, so that ``import symdyn`` stays light
    if name in _LAZY:
        from . import gp
        return getattr(gp, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """``symdyn.discover`` is this package *and* callable as :func:`discover`: ``sd.discover(t, U)``
    works, and so do ``import symdyn.discover.api`` and ``symdyn.discover.gp_discover`` (a plain
    function exported as ``symdyn.discover`` would hide the package's modules)."""

    def __call__(self, *args, **kwargs):
        return discover(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
