"""The LLVM backend: lists of expressions -> native functions with a plain C signature.

codegen knows nothing of models or solvers.  :func:`compile_functions` takes programs
(topologically ordered assignments plus outputs, see :class:`symdyn.passes.Program`) and
returns a :class:`NativeModule` whose ``address(name)`` are functions with the
signature documented in :mod:`codegen.signatures`.

>>> import sympy as sp
>>> from symdyn.passes import Program
>>> x, t = sp.symbols("x t")
>>> nm = compile_functions({"rhs": Program(t, (x,), (), (), (sp.cos(x),))})
>>> nm.address("rhs") > 0
True
"""
import llvmlite.ir as ir

from .emit import Emitter, unsupported_nodes
from .functions import build_dense_scatter, build_function
from .module import NativeModule
from .signatures import C_SIGNATURE, CTYPES_SIGNATURE, FUNCTION_TYPE

__all__ = [
    "C_SIGNATURE", "CTYPES_SIGNATURE", "Emitter", "FUNCTION_TYPE", "NativeModule", "build_module",
    "compile_functions", "unsupported_nodes",
]


def build_module(programs: dict, dense: dict | None = None, name: str = "symdyn",
                 fastmath: bool = False):
    """The IR module holding one function per program, plus dense scatter wrappers.

    ``dense`` maps a new function name to ``(csc_function_name, positions, size)``.
    Returns ``(module, keepalive)``: the arrays the generated code points to.
    """
    module = ir.Module(name)
    keepalive: list = []
    fns = {fname: build_function(module, fname, prog, fastmath, keepalive) for fname, prog in programs.items()}
    for fname, (csc_name, positions, size) in (dense or {}).items():
        build_dense_scatter(module, fname, fns[csc_name], positions, size, keepalive)
    return module, keepalive


def compile_functions(programs: dict, dense: dict | None = None, name: str = "symdyn",
                      opt_level: int = 2, fastmath: bool = False) -> NativeModule:
    """Build and JIT-compile; see :func:`build_module` and :class:`NativeModule`."""
    module, keepalive = build_module(programs, dense, name, fastmath)
    native = NativeModule(module, opt_level)
    native.keepalive = keepalive  # the tables must live as long as the code
    return native
