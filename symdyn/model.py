"""The model DSL: states, parameters, observed quantities and equations ``D(x) = f``.

A :class:`Model` is plain symbolic data on top of SymPy; it knows nothing of code
generation.  Checks that can be made when a line is written (names, duplicate
equations, values) are made there; checks that need the whole model (every state has
an equation, every symbol is defined) are made by :meth:`Model.validate`, which
:func:`symdyn.compile` calls.

Example
-------
>>> import symdyn as sd
>>> m = sd.Model("decay")
>>> x = m.states("x", init=1.0)
>>> k = m.params("k", values=0.5)
>>> m.eq(sd.D(x), -k * x)
>>> m.equations
{x: -k*x}
"""
from __future__ import annotations

import keyword
import math
import numbers
from dataclasses import dataclass

import numpy as np
import sympy as sp

from . import errors

#: the name of the independent variable in every model
TIME_NAME = "t"


@dataclass(frozen=True)
class D:
    """The time derivative of a state, the left-hand side of an equation.

    >>> import symdyn as sd
    >>> m = sd.Model("m"); x = m.states("x", init=0.0)
    >>> m.eq(sd.D(x), 1)
    """

    state: sp.Expr

    def __repr__(self):
        return f"D({self.state})"


def _split_names(names) -> list[str]:
    if isinstance(names, str):
        return names.replace(",", " ").split()
    return [str(n) for n in names]


def _check_value(name, value, kind):
    """A finite real number, or an error naming ``name``."""
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise errors.InvalidValueError(name, value, f"the {kind} value must be a real number")
    try:
        value = float(value)
    except OverflowError:
        raise errors.InvalidValueError(name, value, f"the {kind} value is too large for a double") from None
    except (TypeError, ValueError):
        raise errors.InvalidValueError(name, value, f"the {kind} value must be a real number") from None
    if not math.isfinite(value):
        raise errors.InvalidValueError(name, value, f"the {kind} value must be finite")
    return value


class Model:
    """A named system of ordinary differential equations ``D(x) = f(x, p, t)``.

    Declare states with :meth:`states`, parameters with :meth:`params`, named
    intermediate quantities with :meth:`observed`, and equations with :meth:`eq`.
    ``m.t`` is the independent variable.

    >>> import symdyn as sd
    >>> m = sd.Model("lorenz")
    >>> x, y, z = m.states("x y z", init=[1.0, 0.0, 0.0])
    >>> sigma, rho, beta = m.params("sigma rho beta", values=[10.0, 28.0, 8 / 3])
    >>> m.eq(sd.D(x), sigma * (y - x))
    >>> m.eq(sd.D(y), x * (rho - z) - y)
    >>> m.eq(sd.D(z), x * y - beta * z)
    >>> m.n_states
    3
    """

    def __init__(self, name: str = "model"):
        self.name = str(name)
        self.t = sp.Symbol(TIME_NAME, real=True)
        self._kind: dict[str, str] = {TIME_NAME: "the independent variable"}
        self._states: list[sp.Symbol] = []
        self._init: dict[sp.Symbol, float | None] = {}
        self._params: list[sp.Symbol] = []
        self._pvals: dict[sp.Symbol, float | None] = {}
        self._observed: dict[sp.Symbol, sp.Expr] = {}
        self._eqs: dict[sp.Symbol, sp.Expr] = {}

    # --- declarations -------------------------------------------------------------
    def _declare(self, name: str, kind: str) -> sp.Symbol:
        if not name.isidentifier() or keyword.iskeyword(name):
            raise errors.InvalidNameError(name, "names must be Python identifiers")
        if name in self._kind:
            raise errors.DuplicateNameError(name, self._kind[name], kind)
        self._kind[name] = kind
        return sp.Symbol(name, real=True)  # real: d|x|/dx = sign(x), sqrt(x**2) = |x|

    def _declare_many(self, names, values, kind):
        names = _split_names(names)
        if not names:
            raise errors.InvalidNameError("", f"no {kind} names given")
        if values is None:
            values = [None] * len(names)
        elif isinstance(values, (numbers.Number, sp.Number, str, bytes)) or (
            hasattr(values, "ndim") and getattr(values, "ndim") == 0
        ):
            values = [values] * len(names) if len(names) == 1 else None
            if values is None:
                raise errors.InvalidValueError(
                    names[0], "scalar", f"give one value per {kind} ({len(names)} names)"
                )
        else:
            values = list(values)
            if len(values) != len(names):
                raise errors.InvalidValueError(
                    ", ".join(names), values, f"{len(names)} {kind}s but {len(values)} values"
                )
        checked = [None if v is None else _check_value(n, v, kind) for n, v in zip(names, values)]
        syms = [self._declare(n, kind) for n in names]
        return syms, checked

    def states(self, names, init=None):
        """Declare states; returns one symbol for one name, else a tuple.

        ``init`` is one number per name (or a single number for a single name).

        >>> import symdyn as sd
        >>> m = sd.Model("m")
        >>> x, y = m.states("x y", init=[1.0, 2.0])
        """
        syms, vals = self._declare_many(names, init, "state")
        for s, v in zip(syms, vals):
            self._states.append(s)
            self._init[s] = v
        return syms[0] if len(syms) == 1 else tuple(syms)

    def params(self, names, values=None):
        """Declare parameters; returns one symbol for one name, else a tuple.

        >>> import symdyn as sd
        >>> m = sd.Model("m")
        >>> a, b = m.params("a b", values=[1.0, 2.0])
        """
        syms, vals = self._declare_many(names, values, "parameter")
        for s, v in zip(syms, vals):
            self._params.append(s)
            self._pvals[s] = v
        return syms[0] if len(syms) == 1 else tuple(syms)

    def observed(self, name: str, expr) -> sp.Symbol:
        """Name a quantity computed from states, parameters and time.

        It may be used in equations and is substituted away before code generation.

        >>> import symdyn as sd
        >>> m = sd.Model("m"); x = m.states("x", init=1.0)
        >>> e = m.observed("e", x**2 / 2)
        >>> m.eq(sd.D(x), -e)
        """
        expr = self._sympify(expr, f"observed {name}")
        sym = self._declare(str(name), "observed quantity")
        self._observed[sym] = expr
        return sym

    def eq(self, lhs, rhs) -> None:
        """Add the equation ``D(state) = rhs``.

        >>> import symdyn as sd
        >>> m = sd.Model("m"); x = m.states("x", init=1.0)
        >>> m.eq(sd.D(x), -x)
        """
        if not isinstance(lhs, D):
            raise errors.NotAStateError(lhs, rhs) if not isinstance(lhs, sp.Basic) else \
                errors.ModelError(f"left-hand side of an equation must be sd.D(state), got {lhs!r}")
        target = lhs.state
        if not (isinstance(target, sp.Symbol) and target in self._init):
            raise errors.NotAStateError(target, rhs)
        rhs = self._sympify(rhs, f"D({target})")
        if target in self._eqs:
            raise errors.DuplicateEquationError(target, self._eqs[target], rhs)
        self._eqs[target] = rhs

    @staticmethod
    def _sympify(expr, where):
        try:
            out = sp.sympify(expr, strict=True)
        except (sp.SympifyError, TypeError) as exc:
            raise errors.ModelError(f"{where}: cannot use {expr!r} ({type(expr).__name__}) as an expression") from exc
        if isinstance(out, (sp.logic.boolalg.Boolean, sp.core.relational.Relational)) and not isinstance(out, sp.Expr):
            raise errors.ModelError(f"{where}: {out} is a condition, not a value (use sp.Piecewise)")
        return out

    # --- read access -----------------------------------------------------------------
    @property
    def state_symbols(self) -> list[sp.Symbol]:
        return list(self._states)

    @property
    def param_symbols(self) -> list[sp.Symbol]:
        return list(self._params)

    @property
    def state_names(self) -> list[str]:
        return [s.name for s in self._states]

    @property
    def param_names(self) -> list[str]:
        return [s.name for s in self._params]

    @property
    def n_states(self) -> int:
        return len(self._states)

    @property
    def observed_exprs(self) -> dict:
        return dict(self._observed)

    @property
    def equations(self) -> dict:
        """``{state: rhs}`` in state order (states without an equation are left out)."""
        return {s: self._eqs[s] for s in self._states if s in self._eqs}

    @property
    def rhs(self) -> list[sp.Expr]:
        """The right-hand sides in state order (after :meth:`validate` every state has one)."""
        return [self._eqs[s] for s in self._states]

    @property
    def init(self) -> list[float | None]:
        return [self._init[s] for s in self._states]

    @property
    def param_values(self) -> list[float | None]:
        return [self._pvals[s] for s in self._params]

    # --- whole-model checks --------------------------------------------------------------
    def validate(self) -> "Model":
        """Check that the model is a closed ODE system; returns the model.

        Raises :class:`~symdyn.errors.MissingEquationError` or
        :class:`~symdyn.errors.UndefinedSymbolError` naming the culprit.
        """
        if not self._states:
            raise errors.ModelError(f"model {self.name!r} has no states")
        for s in self._states:
            if s not in self._eqs:
                raise errors.MissingEquationError(s)
        known = set(self._states) | set(self._params) | set(self._observed) | {self.t}
        for sym, expr in self._observed.items():
            for f in expr.free_symbols - known:
                raise errors.UndefinedSymbolError(f, f"observed {sym} = {expr}", self._kind.get(str(f)))
        for s in self._states:
            expr = self._eqs[s]
            for f in expr.free_symbols - known:
                raise errors.UndefinedSymbolError(f, f"D({s}) = {expr}", self._kind.get(str(f)))
            if expr.has(sp.Derivative) or expr.atoms(sp.core.function.AppliedUndef):
                raise errors.ModelError(
                    f"D({s}) = {expr}: unknown functions or derivatives are not ODE right-hand sides"
                )
        self.observed_order()  # raises on cycles
        return self

    def observed_order(self) -> list[sp.Symbol]:
        """Observed symbols ordered so that each comes after those it uses."""
        order, state = [], {}

        def visit(sym, path):
            if state.get(sym) == "done":
                return
            if state.get(sym) == "active":
                cycle = path[path.index(sym):] + [sym]
                raise errors.CyclicObservedError(cycle)
            state[sym] = "active"
            for dep in self._observed[sym].free_symbols:
                if dep in self._observed:
                    visit(dep, path + [sym])
            state[sym] = "done"
            order.append(sym)

        for sym in self._observed:
            visit(sym, [])
        return order

    # --- copies for passes ----------------------------------------------------------------
    def replace(self, *, equations=None, observed=None, name=None) -> "Model":
        """A copy with new right-hand sides ``{state: rhs}`` and/or observed map.

        Passes use this to return a new model instead of mutating their input.
        """
        new = Model.__new__(Model)
        new.__dict__.update(self.__dict__)
        new.name = self.name if name is None else name
        new._kind = dict(self._kind)
        new._init = dict(self._init)
        new._pvals = dict(self._pvals)
        new._states = list(self._states)
        new._params = list(self._params)
        new._eqs = dict(self._eqs) if equations is None else dict(equations)
        new._observed = dict(self._observed) if observed is None else dict(observed)
        return new

    def __repr__(self):
        return (
            f"Model({self.name!r}: {len(self._states)} states, {len(self._params)} parameters, "
            f"{len(self._observed)} observed)"
        )

    def __str__(self):
        lines = [repr(self)]
        for s in self._states:
            lines.append(f"  D({s}) = {self._eqs.get(s, '?')}")
        for o, e in self._observed.items():
            lines.append(f"  {o} := {e}")
        return "\n".join(lines)
