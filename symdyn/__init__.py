"""symdyn: a symbolic-numeric modeling compiler for ODEs.

Public names: :class:`Model`, :class:`D`, :func:`compile`, :func:`trace`, :func:`solve`,
:func:`analyze`, :func:`discover`, :class:`CompiledModel`, and :mod:`symdyn.errors`.

>>> import symdyn as sd
>>> m = sd.Model("decay"); x = m.states("x", init=1.0); k = m.params("k", values=2.0)
>>> m.eq(sd.D(x), -k * x)
>>> cm = sd.compile(m)
>>> float(cm.rhs(0.0, cm.u0)[0])
-2.0
"""
from . import errors
from .analysis import analyze
from .compiled import CompiledModel, compile, solve
from .model import D, Model
from .tracing import trace

__all__ = ["CompiledModel", "D", "Model", "analyze", "compile", "discover", "errors", "solve", "trace"]
__version__ = "0.1.0"


def __getattr__(name):
    # ``sd.discover`` (the package, callable as ``discover(t, U, ...)``) is imported on first use:
    # 20 ms that solving a model does not need
    if name == "discover":
        import importlib

        return importlib.import_module(".discover", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
