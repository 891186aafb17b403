"""``compile(model) -> CompiledModel``: all code generation happens here.

A :class:`CompiledModel` owns its native module (one JIT engine) and offers the
functions both to Python (``rhs``, ``jac``, ``jac_sparse``, with every argument
checked before any native call) and to native code (``addresses``, with the C
signature documented in :mod:`codegen.signatures`).

>>> import symdyn as sd
>>> m = sd.Model("m"); x, y = m.states("x y", init=[1.0, 2.0]); a = m.params("a", values=3.0)
>>> m.eq(sd.D(x), a * y); m.eq(sd.D(y), -x)
>>> cm = sd.compile(m)
>>> cm.rhs(0.0, cm.u0).tolist()
[6.0, -1.0]
>>> cm.jac(0.0, cm.u0, {"a": 1.0}).tolist()
[[0.0, 1.0], [-1.0, 0.0]]
"""
from __future__ import annotations

import ctypes
import numbers
import time

import numpy as np
import scipy.sparse as sps

import codegen

from . import errors
from .model import Model
from .passes import compile_programs, rewrite

_DOUBLE_P = ctypes.c_void_p
#: symdyn.solvers.solve_model, imported on the first solve (numba loads then, not on import)
_solve_model = None


def _check_array(value, name: str, n: int) -> np.ndarray:
    """A float64, contiguous, 1-D array of length ``n`` or a named error; lists are converted."""
    if isinstance(value, np.ndarray):
        arr = value
        if arr.dtype != np.float64:
            raise errors.DTypeError(name, arr.dtype)
        if arr.shape != (n,):
            raise errors.ShapeError(name, (n,), arr.shape)
        if not arr.flags.c_contiguous:
            raise errors.LayoutError(name)
        return arr
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise errors.ArgumentError(f"argument {name!r} must be an array of {n} numbers, got {value!r}") from None
    if arr.shape != (n,):
        raise errors.ShapeError(name, (n,), arr.shape)
    return np.ascontiguousarray(arr)


def _check_time(t) -> float:
    """``t`` as a float, or a named error (arrays, strings and complex numbers are refused)."""
    if isinstance(t, (bool, np.bool_)) or not isinstance(t, numbers.Real):
        if not (isinstance(t, np.ndarray) and t.shape == () and t.dtype.kind in "fiu"):
            raise errors.ArgumentError(f"argument 't' must be a real number, got {t!r}")
    return float(t)


class CompiledModel:
    """A model compiled to native code.  Build it with :func:`compile`.

    Attributes: ``n``, ``state_names``, ``param_names``, ``u0``, ``p0``, ``model`` (the
    rewritten model), ``programs`` (what was compiled), ``jac_pattern`` (CSC pattern),
    ``addresses`` (native function addresses), ``timings`` (seconds per stage).
    """

    def __init__(self, model: Model, rewritten: Model, programs: dict, pattern, native, timings,
                 fastmath: bool = False):
        self.model = rewritten
        self.fastmath = fastmath  # how the functions were compiled (the emitted loops compile them again)
        self.source_model = model
        self.name = model.name
        self.programs = programs
        self.jac_pattern = pattern
        self.native = native
        self.timings = timings
        self.state_names = model.state_names
        self.param_names = model.param_names
        self.n = model.n_states
        self.n_params = len(self.param_names)
        self._init = model.init
        self._pvals = model.param_values
        self.addresses = {name: native.address(name) for name in ("rhs", "jac_csc", "jac")
                          if name in programs or name == "jac" and "jac_csc" in programs}
        self._fns = {k: codegen.CTYPES_SIGNATURE(a) for k, a in self.addresses.items()}
        self._empty = np.zeros(1)  # a valid pointer for models without parameters
        # default parameters, checked once; read-only so the cached pointer stays valid
        self._p_default = None
        if all(v is not None for v in self._pvals):
            self._p_default = np.array(self._pvals if self._pvals else [0.0], dtype=np.float64)
            self._p_default.flags.writeable = False
            self._p_default_ptr = self._p_default.ctypes.data

    # --- defaults ---------------------------------------------------------------------
    @property
    def u0(self) -> np.ndarray:
        """The declared initial state (a new array each time)."""
        missing = [n for n, v in zip(self.state_names, self._init) if v is None]
        if missing:
            raise errors.MissingValueError(missing, "initial value of state")
        return np.array(self._init, dtype=np.float64)

    @property
    def p0(self) -> np.ndarray:
        """The declared parameter values (a new array each time)."""
        missing = [n for n, v in zip(self.param_names, self._pvals) if v is None]
        if missing:
            raise errors.MissingValueError(missing, "parameter")
        return np.array(self._pvals, dtype=np.float64)

    # --- argument checking -----------------------------------------------------------------
    def params_array(self, p=None) -> np.ndarray:
        """``p`` (None, an array in ``param_names`` order, or ``{name: value}``) as a checked array."""
        if p is None:
            return self.p0 if self.n_params else self._empty
        if isinstance(p, dict):
            arr = np.array([np.nan if v is None else v for v in self._pvals], dtype=np.float64)
            index = {name: k for k, name in enumerate(self.param_names)}
            for name, value in p.items():
                if name not in index:
                    raise errors.UnknownNameError(name, "parameter", self.param_names)
                if isinstance(value, (bool, np.bool_, str, bytes)) or not isinstance(value, numbers.Real):
                    raise errors.ArgumentError(
                        f"parameter {name!r} in p must be a real number, got {value!r}")
                arr[index[name]] = value
            missing = [n for n, v in zip(self.param_names, arr) if np.isnan(v)]
            if missing:
                raise errors.MissingValueError(missing, "parameter")
            return arr if self.n_params else self._empty
        arr = _check_array(p, "p", self.n_params)
        return arr if self.n_params else self._empty

    def state_array(self, u, name: str = "u") -> np.ndarray:
        """``u`` (an array in ``state_names`` order, or ``{name: value}``) as a checked array."""
        if isinstance(u, dict):
            arr = self.u0 if all(v is not None for v in self._init) else np.full(self.n, np.nan)
            index = {s: k for k, s in enumerate(self.state_names)}
            for key, value in u.items():
                if key not in index:
                    raise errors.UnknownNameError(key, "state", self.state_names)
                if isinstance(value, (bool, np.bool_, str, bytes)) or not isinstance(value, numbers.Real):
                    raise errors.ArgumentError(f"state {key!r} in {name} must be a real number, got {value!r}")
                arr[index[key]] = value
            return arr
        return _check_array(u, name, self.n)

    def _call(self, fn: str, t, u, p, out):
        if not (type(u) is np.ndarray and u.dtype == np.float64 and u.shape == (self.n,)
                and u.flags.c_contiguous):
            u = self.state_array(u)  # converts lists, raises named errors for the rest
        if p is None and self._p_default is not None:
            p_ptr = self._p_default_ptr
        else:
            p_ptr = self.params_array(p).ctypes.data
        if type(t) is not float:
            t = _check_time(t)
        self._fns[fn](t, u.ctypes.data, p_ptr, out.ctypes.data)
        return out

    # --- the compiled functions -----------------------------------------------------------
    def rhs(self, t, u, p=None, out=None) -> np.ndarray:
        """``f(t, u, p)`` as an array of shape ``(n,)`` (written into ``out`` if given)."""
        if out is None:
            out = np.empty(self.n)
        else:
            if not isinstance(out, np.ndarray):
                raise errors.ArgumentError(f"argument 'out' must be a numpy array, got {type(out).__name__}")
            _check_array(out, "out", self.n)
            if not out.flags.writeable:
                raise errors.ArgumentError("argument 'out' is read-only")
            if np.may_share_memory(out, u):  # the generated code reads u after writing out
                u = np.array(u, dtype=np.float64)
        return self._call("rhs", t, u, p, out)

    def _require_jac(self):
        if "jac_csc" not in self._fns:
            raise errors.ArgumentError("this model was compiled with jacobian=False")

    def jac(self, t, u, p=None) -> np.ndarray:
        """The dense Jacobian ``J[i, j] = d f_i / d u_j``, shape ``(n, n)``."""
        self._require_jac()
        out = np.empty(self.n * self.n)
        self._call("jac", t, u, p, out)
        return out.reshape((self.n, self.n), order="F")

    def jac_values(self, t, u, p=None) -> np.ndarray:
        """The Jacobian's structural nonzeros in CSC order (see ``jac_pattern``)."""
        self._require_jac()
        return self._call("jac_csc", t, u, p, np.empty(self.jac_pattern.nnz))

    def jac_sparse(self, t, u, p=None) -> sps.csc_matrix:
        """The Jacobian as ``scipy.sparse.csc_matrix`` with the symbolic sparsity pattern."""
        vals = self.jac_values(t, u, p)
        pat = self.jac_pattern
        return sps.csc_matrix((vals, pat.indices.copy(), pat.indptr.copy()), shape=(self.n, self.n))

    # --- solving -------------------------------------------------------------------------------
    def solve(self, t_span, u0=None, p=None, **options):
        """Integrate from ``t_span[0]`` to ``t_span[1]`` natively; see :func:`symdyn.solvers.solve_model`.

        >>> import symdyn as sd
        >>> m = sd.Model("m"); x = m.states("x", init=1.0); m.eq(sd.D(x), -x)
        >>> sol = sd.compile(m).solve((0.0, 1.0), rtol=1e-10, atol=1e-12)
        >>> round(float(sol.u[-1, 0]), 8)
        0.36787944
        """
        global _solve_model
        if _solve_model is None:
            from .solvers import solve_model as _solve_model  # numba loads on first solve, not on import
        return _solve_model(self, t_span, u0=u0, p=p, **options)

    # --- inspection --------------------------------------------------------------------------
    def ir(self, optimised: bool = False) -> str:
        """The LLVM IR of every function (as generated, or after optimisation)."""
        return self.native.optimised_ir() if optimised else self.native.ir

    def assembly(self) -> str:
        """The native assembly of every function."""
        return self.native.assembly()

    def __repr__(self):
        return f"CompiledModel({self.name!r}: n={self.n}, params={self.n_params})"


_CACHE: dict = {}
_CACHE_SIZE = 32


def _fingerprint(model: Model):
    """A hashable key equal for models with the same equations, names and values."""
    return (
        model.name, tuple(model.state_symbols), tuple(model.param_symbols), tuple(model.init),
        tuple(model.param_values), tuple(model.equations.items()), tuple(model.observed_exprs.items()),
    )


def cached_compile(model: Model, **options) -> "CompiledModel":
    """:func:`compile`, reusing the result for a model with identical equations (in-process).

    >>> import symdyn as sd
    >>> m = sd.Model("m"); x = m.states("x", init=1.0); m.eq(sd.D(x), -x)
    >>> cached_compile(m) is cached_compile(m)
    True
    """
    key = (_fingerprint(model), tuple(sorted(options.items())))
    cm = _CACHE.get(key)
    if cm is None:
        cm = compile(model, **options)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = cm
    return cm


def solve(model, t_span, u0=None, p=None, **options):
    """Compile ``model`` (cached) and solve it; see :meth:`CompiledModel.solve`.

    >>> import symdyn as sd
    >>> m = sd.Model("m"); x = m.states("x", init=1.0); m.eq(sd.D(x), 1)
    >>> round(float(sd.solve(m, (0.0, 2.0)).u[-1, 0]), 12)
    3.0
    """
    cm = model if isinstance(model, CompiledModel) else cached_compile(model)
    return cm.solve(t_span, u0=u0, p=p, **options)


def _check_supported(programs: dict) -> None:
    """Name the equation holding a node the code generator cannot compile."""
    for prog in programs.values():
        pieces = [(prog.labels, prog.outputs)] + [(lp.body.labels, lp.body.outputs) for lp in prog.loops]
        for labels, outputs in pieces:
            for label, expr in zip(labels, outputs):
                node = codegen.unsupported_nodes(expr)
                if node is not None:
                    raise errors.UnsupportedNodeError(node, f"{label} = {expr}")


def compile(model: Model, *, jacobian: bool = True, opt_level: int = 2, fastmath: bool = False) -> CompiledModel:
    """Rewrite, lower and JIT-compile ``model``.

    ``jacobian=False`` skips the Jacobian; ``opt_level`` is LLVM's (0-3); ``fastmath``
    lets LLVM reassociate floating-point arithmetic (results then differ from numpy's
    by more than rounding: off by default).

    >>> import symdyn as sd
    >>> m = sd.Model("m"); x = m.states("x", init=2.0); m.eq(sd.D(x), -x**2)
    >>> sd.compile(m).jac(0.0, [2.0]).tolist()
    [[-4.0]]
    """
    if not isinstance(model, Model):
        raise errors.ArgumentError(f"compile() takes an sd.Model, got {type(model).__name__}")
    timings = {}
    t0 = time.perf_counter()
    rewritten = rewrite(model)
    t1 = time.perf_counter()
    try:
        programs, pattern = compile_programs(rewritten, jacobian=jacobian, check=_check_supported)
    except errors.DifferentiationError:
        # a function SymPy cannot differentiate is usually one we cannot compile either: say that
        for state, expr in rewritten.equations.items():
            node = codegen.unsupported_nodes(expr)
            if node is not None:
                raise errors.UnsupportedNodeError(node, f"D({state}) = {expr}") from None
        raise
    t2 = time.perf_counter()
    fn_programs = {"rhs": programs["rhs"]}
    dense = None
    if jacobian:
        fn_programs["jac_csc"] = programs["jac"]
        dense = {"jac": ("jac_csc", pattern.dense_positions(), model.n_states ** 2)}
    native = codegen.compile_functions(fn_programs, dense, name=model.name, opt_level=opt_level,
                                       fastmath=fastmath)
    t3 = time.perf_counter()
    timings.update(rewrite=t1 - t0, lower=t2 - t1, codegen=t3 - t2, **native.timings)
    return CompiledModel(model, rewritten, fn_programs, pattern, native, timings, fastmath)
