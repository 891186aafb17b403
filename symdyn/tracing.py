"""``trace(f, n_states, n_params)``: a numeric Python function becomes a Model.

``f(u, p, t)`` is called once with symbolic stand-ins for ``u``, ``p`` and ``t`` (as
Symbolics.jl traces Julia code).  Arithmetic and numpy ufuncs (``np.sin``, ``np.exp``,
``np.sqrt``, ``np.maximum``, ``np.where``, ...) on the stand-ins build SymPy
expressions; anything that needs a concrete value — an ``if`` on the state, ``float()``,
``math.sin`` — raises :class:`~symdyn.errors.BranchOnStateError` or
:class:`~symdyn.errors.TraceError` naming what happened.

>>> import numpy as np, symdyn as sd
>>> def f(u, p, t):
...     x, v = u
...     return [v, -p[0] * np.sin(x)]
>>> m = sd.trace(f, 2, 1, names=["x", "v"], param_names=["g"], init=[1.0, 0.0], param_values=[9.81])
>>> m.equations
{x: v, v: -g*sin(x)}
"""
from __future__ import annotations

import numbers

import numpy as np
import sympy as sp

from . import errors
from .model import D, Model


def _unwrap(x):
    if isinstance(x, Traced):
        return x.expr
    if isinstance(x, (numbers.Number, np.number)) and not isinstance(x, (bool, np.bool_)):
        return sp.Float(float(x)) if isinstance(x, (float, np.floating)) else sp.Integer(int(x))
    if isinstance(x, (bool, np.bool_)):
        return sp.true if x else sp.false
    if isinstance(x, sp.Basic):
        return x
    raise errors.TraceError(f"cannot trace an operation on {type(x).__name__} {x!r}")


def _wrap(e):
    return Traced(e)


def _as_object_array(x):
    """``x`` as an object array; a Traced scalar goes in a 0-d array so numpy will not dispatch on it."""
    if isinstance(x, Traced):
        a = np.empty((), dtype=object)
        a[()] = x
        return a
    return np.asarray(x, dtype=object)


_UNARY = {
    "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "arcsin": sp.asin, "arccos": sp.acos,
    "arctan": sp.atan, "sinh": sp.sinh, "cosh": sp.cosh, "tanh": sp.tanh, "arcsinh": sp.asinh,
    "arccosh": sp.acosh, "arctanh": sp.atanh, "exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt,
    "absolute": sp.Abs, "fabs": sp.Abs, "floor": sp.floor, "ceil": sp.ceiling, "sign": sp.sign,
    "negative": lambda a: -a, "positive": lambda a: a, "square": lambda a: a**2,
    "reciprocal": lambda a: 1 / a, "exp2": lambda a: 2**a, "log2": lambda a: sp.log(a) / sp.log(2),
    "log10": lambda a: sp.log(a) / sp.log(10), "expm1": lambda a: sp.exp(a) - 1,
    "log1p": lambda a: sp.log(1 + a), "cbrt": lambda a: sp.sign(a) * sp.Abs(a) ** sp.Rational(1, 3),
}
_BINARY = {
    "add": lambda a, b: a + b, "subtract": lambda a, b: a - b, "multiply": lambda a, b: a * b,
    "divide": lambda a, b: a / b, "true_divide": lambda a, b: a / b, "power": lambda a, b: a**b,
    "float_power": lambda a, b: a**b, "arctan2": sp.atan2, "maximum": sp.Max, "minimum": sp.Min,
    "fmax": sp.Max, "fmin": sp.Min, "heaviside": sp.Heaviside, "hypot": lambda a, b: sp.sqrt(a**2 + b**2),
    "less": sp.Lt, "less_equal": sp.Le, "greater": sp.Gt, "greater_equal": sp.Ge,
    "equal": sp.Eq, "not_equal": sp.Ne, "logical_and": sp.And, "logical_or": sp.Or,
}


class Traced(np.lib.mixins.NDArrayOperatorsMixin):
    """A symbolic stand-in for a number while a function is traced.

    Arithmetic operators come from numpy's operator mixin, so they route through
    :meth:`__array_ufunc__` exactly as numpy ufunc calls do.
    """

    __slots__ = ("expr",)
    __array_priority__ = 100

    def __init__(self, expr):
        self.expr = expr

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs.get("out") is not None:
            raise errors.TraceError(f"cannot trace numpy.{ufunc.__name__}.{method} (only plain calls)")
        if any(isinstance(x, np.ndarray) and x.ndim > 0 for x in inputs):
            # elementwise over an array operand: numpy's object loop calls us per element
            arrays = [_as_object_array(x) for x in inputs]
            return np.frompyfunc(lambda *a: ufunc(*a), len(inputs), 1)(*arrays)
        name = ufunc.__name__
        args = [_unwrap(x) for x in inputs]
        if len(args) == 1 and name in _UNARY:
            return _wrap(_UNARY[name](args[0]))
        if len(args) == 2 and name in _BINARY:
            return _wrap(_BINARY[name](*args))
        if name == "logical_not":
            return _wrap(sp.Not(args[0]))
        raise errors.TraceError(f"numpy.{name} is not supported in traced functions")

    def __array_function__(self, func, types, args, kwargs):
        if func is np.where and len(args) == 3:
            cond, a, b = args
            if any(isinstance(x, np.ndarray) and x.ndim > 0 for x in args):
                return np.frompyfunc(lambda c, x, y: np.where(c, x, y), 3, 1)(*[_as_object_array(x) for x in args])
            return _wrap(sp.Piecewise((_unwrap(a), _unwrap(cond)), (_unwrap(b), True)))
        if func in (np.clip,) and len(args) == 3:
            x, lo, hi = (_unwrap(v) for v in args)
            return _wrap(sp.Min(sp.Max(x, lo), hi))
        if func in (np.abs, np.absolute):
            return _wrap(sp.Abs(_unwrap(args[0])))
        raise errors.TraceError(f"numpy.{func.__name__} is not supported on traced values")

    # element-style methods: numpy's object-array loops call these (np.sin(obj_array))
    def sin(self): return _wrap(sp.sin(self.expr))
    def cos(self): return _wrap(sp.cos(self.expr))
    def tan(self): return _wrap(sp.tan(self.expr))
    def exp(self): return _wrap(sp.exp(self.expr))
    def log(self): return _wrap(sp.log(self.expr))
    def sqrt(self): return _wrap(sp.sqrt(self.expr))
    def arctan(self): return _wrap(sp.atan(self.expr))
    def arcsin(self): return _wrap(sp.asin(self.expr))
    def arccos(self): return _wrap(sp.acos(self.expr))
    def sinh(self): return _wrap(sp.sinh(self.expr))
    def cosh(self): return _wrap(sp.cosh(self.expr))
    def tanh(self): return _wrap(sp.tanh(self.expr))

    def __abs__(self):
        return _wrap(sp.Abs(self.expr))

    def __bool__(self):
        raise errors.BranchOnStateError(self.expr)

    def __float__(self):
        raise errors.TraceError(
            f"the traced function needs a number for {self.expr} (float(), math.*, or a Python "
            "library call): use numpy functions, which symdyn traces"
        )

    __int__ = __index__ = __float__

    def __repr__(self):
        return f"Traced({self.expr})"


def trace(f, n_states: int, n_params: int = 0, *, names=None, param_names=None, init=None,
          param_values=None, name=None) -> Model:
    """Call ``f(u, p, t)`` on symbolic stand-ins and return the model it describes.

    ``f`` returns a sequence of ``n_states`` derivatives.  ``names`` default to
    ``x0, x1, ...`` and ``param_names`` to ``p0, p1, ...``.

    >>> import numpy as np, symdyn as sd
    >>> m = sd.trace(lambda u, p, t: -u + np.sin(t), 1, init=[0.0])
    >>> m.equations
    {x0: -x0 + sin(t)}
    """
    n_states, n_params = int(n_states), int(n_params)
    if n_states < 1:
        raise errors.ArgumentError(f"trace needs n_states >= 1, got {n_states}")
    names = list(names) if names is not None else [f"x{i}" for i in range(n_states)]
    param_names = list(param_names) if param_names is not None else [f"p{i}" for i in range(n_params)]
    if len(names) != n_states:
        raise errors.ArgumentError(f"names has {len(names)} entries for {n_states} states")
    if len(param_names) != n_params:
        raise errors.ArgumentError(f"param_names has {len(param_names)} entries for {n_params} parameters")
    m = Model(name or getattr(f, "__name__", "traced").strip("<>"))
    states = m.states(names, init=init)
    states = (states,) if n_states == 1 else states
    params = m.params(param_names, values=param_values) if n_params else ()
    params = (params,) if n_params == 1 else params
    u = np.array([Traced(s) for s in states], dtype=object)
    p = np.array([Traced(s) for s in params], dtype=object)
    out = f(u, p, Traced(m.t))
    try:
        out = list(out)
    except TypeError:
        raise errors.TraceError(f"the traced function must return a sequence of {n_states} values, got {out!r}") from None
    if len(out) != n_states:
        raise errors.TraceError(f"the traced function returned {len(out)} values for {n_states} states")
    for s, value in zip(states, out):
        m.eq(D(s), _unwrap(value))
    return m
