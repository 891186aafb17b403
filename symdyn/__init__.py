"""symdyn: a symbolic-numeric modeling compiler for ODEs.

Public names: :class:`Model`, :class:`D`, :func:`compile`, :func:`trace`.

>>> import symdyn as sd
>>> m = sd.Model("decay"); x = m.states("x", init=1.0); k = m.params("k", values=2.0)
>>> m.eq(sd.D(x), -k * x)
>>> cm = sd.compile(m)
>>> float(cm.rhs(0.0, cm.u0)[0])
-2.0
"""
from . import errors
from .model import D, Model

__all__ = ["D", "Model", "compile", "errors", "trace"]
__version__ = "0.1.0"


def __getattr__(name):  # keep `import symdyn` light: codegen loads on first use
    if name == "compile":
        from .compiled import compile
        return compile
    if name == "trace":
        from .trace import trace
        return trace
    if name == "CompiledModel":
        from .compiled import CompiledModel
        return CompiledModel
    raise AttributeError(f"module 'symdyn' has no attribute {name!r}")
