"""The expression visitor: SymPy expressions -> llvmlite IR values.

One ``_emit_<ClassName>`` method per SymPy node class, found along the class's MRO (as
SymPy's printers do), the table of known functions in :mod:`codegen.mathlib`, and a
typed error naming any unsupported node.  Values are memoised per expression, so a
subtree shared inside one function is emitted once.

The emitter only appends instructions at the builder's position and looks symbols up
in a table it is given, so the same visitor will serve loop bodies (a loop binds the
table's symbols to values loaded at the loop index).

>>> import llvmlite.ir as ir, sympy as sp
>>> from codegen.signatures import FUNCTION_TYPE
>>> module = ir.Module("doc"); fn = ir.Function(module, FUNCTION_TYPE, "f")
>>> b = ir.IRBuilder(fn.append_basic_block())
>>> x = sp.Symbol("x")
>>> v = Emitter(b, module, {x: fn.args[0]}).emit(sp.sin(x) + 1)
>>> str(v.type)
'double'
"""
from __future__ import annotations

import llvmlite.ir as ir
import sympy as sp

from symdyn.errors import UnsupportedNodeError

from .mathlib import FUNCTIONS
from .signatures import DOUBLE

_RELATIONAL_OPS = {
    "StrictLessThan": ("<", True),
    "LessThan": ("<=", True),
    "StrictGreaterThan": (">", True),
    "GreaterThan": (">=", True),
    "Equality": ("==", True),
    "Unequality": ("!=", False),  # unordered: NaN != x is true, as in numpy
}


def _const(x: float) -> ir.Constant:
    return ir.Constant(DOUBLE, float(x))


class Emitter:
    """Emit the IR computing SymPy expressions at the position of ``builder``.

    ``values`` maps each free symbol to an ``ir.Value`` of type double; ``where`` names
    the function (for error messages); ``fastmath`` marks float instructions ``fast``
    (off by default: results then equal numpy's to rounding).
    """

    def __init__(self, builder: ir.IRBuilder, module: ir.Module, values: dict, where: str = "",
                 fastmath: bool = False, loaders: dict | None = None):
        self.b = builder
        self.module = module
        self.values = dict(values)
        # symbol -> function emitting its value on first use (state loads: a function
        # using 3 of 20000 states loads 3)
        self.loaders = loaders or {}
        self.where = where
        self.flags = ("fast",) if fastmath else ()
        self._memo: dict = {}
        self._cond_memo: dict = {}

    # --- entry points ---------------------------------------------------------------
    def emit(self, expr) -> ir.Value:
        """The double value of ``expr``."""
        hit = self._memo.get(expr)
        if hit is None:
            hit = self._dispatch(expr, "_emit_")
            self._memo[expr] = hit
        return hit

    def bind(self, symbol, value: ir.Value) -> None:
        """Make ``symbol`` stand for ``value`` in later expressions (temporaries, loop indices)."""
        self.values[symbol] = value
        self._memo[symbol] = value

    def condition(self, expr) -> ir.Value:
        """The i1 value of a boolean expression (relational, And/Or/Not, true/false)."""
        hit = self._cond_memo.get(expr)
        if hit is None:
            hit = self._dispatch(expr, "_cond_")
            self._cond_memo[expr] = hit
        return hit

    def _dispatch(self, expr, prefix):
        for cls in type(expr).__mro__:
            method = getattr(self, prefix + cls.__name__, None)
            if method is not None:
                return method(expr)
        raise UnsupportedNodeError(expr, self.where or "an expression")

    # --- atoms ----------------------------------------------------------------------------
    def _emit_Symbol(self, expr):
        value = self.values.get(expr)
        if value is None:
            loader = self.loaders.get(expr)
            if loader is None:
                raise UnsupportedNodeError(expr, f"{self.where} (unbound symbol)")
            value = self.values[expr] = loader()
        return value

    def _emit_Number(self, expr):
        return _const(float(expr))

    def _emit_NumberSymbol(self, expr):  # pi, E, ... if constant folding did not run
        return _const(float(expr))

    def _emit_ComplexInfinity(self, expr):
        raise UnsupportedNodeError(expr, f"{self.where} (a division by zero in the equations)")

    # --- arithmetic ---------------------------------------------------------------------------
    def _fadd(self, a, b):
        return self.b.fadd(a, b, flags=self.flags)

    def _fmul(self, a, b):
        return self.b.fmul(a, b, flags=self.flags)

    def _fdiv(self, a, b):
        return self.b.fdiv(a, b, flags=self.flags)

    def _emit_Add(self, expr):
        acc = None
        for term in expr.args:
            negated = _negated(term)
            if negated is not None and acc is not None:
                acc = self.b.fsub(acc, self.emit(negated), flags=self.flags)
                continue
            v = self.emit(term)
            acc = v if acc is None else self._fadd(acc, v)
        return acc

    def _emit_Mul(self, expr):
        # numerator / denominator, as SymPy's printers write it: a*b/(c*d)
        sign, num, den = 1.0, [], []
        for f in expr.args:
            if f.is_Number and f in (sp.S.NegativeOne,):
                sign = -sign
            elif f.is_Pow and f.exp.is_Number and f.exp.is_negative:
                den.append(f.base if f.exp == -1 else sp.Pow(f.base, -f.exp, evaluate=False))
            else:
                num.append(f)
        value = None
        for f in num:
            v = self.emit(f)
            value = v if value is None else self._fmul(value, v)
        if den:
            d = None
            for f in den:
                v = self.emit(f)
                d = v if d is None else self._fmul(d, v)
            value = self._fdiv(_const(1.0) if value is None else value, d)
        if value is None:
            value = _const(1.0)
        if sign < 0:
            value = self.b.fneg(value, flags=self.flags)
        return value

    def _emit_Pow(self, expr):
        base, exp = expr.args
        if exp == -1:
            return self._fdiv(_const(1.0), self.emit(base))
        if exp == sp.S.Half:
            return self._intrinsic("llvm.sqrt", [self.emit(base)])
        if exp == -sp.S.Half:
            # sqrt(-0.0) is -0.0; adding +0.0 makes it +0.0 so the result is +inf like pow(-0.0, -0.5)
            root = self._intrinsic("llvm.sqrt", [self.emit(base)])
            return self._fdiv(_const(1.0), self.b.fadd(root, _const(0.0), flags=self.flags))
        if exp == 1:
            return self.emit(base)
        return self._intrinsic("llvm.pow", [self.emit(base), self.emit(exp)])

    def _emit_exp(self, expr):  # also covers E**x, which SymPy writes as exp(x)
        return self._call_table("exp", expr)

    # --- functions --------------------------------------------------------------------------
    def _emit_Function(self, expr):
        name = type(expr).__name__
        if name not in FUNCTIONS:
            raise UnsupportedNodeError(expr, self.where or "an expression")
        return self._call_table(name, expr)

    def _call_table(self, name, expr):
        kind, symbol = FUNCTIONS[name]
        args = [self.emit(a) for a in expr.args]
        if kind == "intrinsic":
            return self._intrinsic(symbol, args)
        fn = self.module.globals.get(symbol)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(DOUBLE, [DOUBLE] * len(args)), symbol)
        return self.b.call(fn, args)

    def _intrinsic(self, name, args):
        fnty = ir.FunctionType(DOUBLE, [DOUBLE] * len(args))
        fn = self.module.declare_intrinsic(name, [DOUBLE], fnty)
        return self.b.call(fn, args, fastmath=self.flags)

    def _fold(self, intrinsic, expr):
        acc = self.emit(expr.args[0])
        for a in expr.args[1:]:
            acc = self._intrinsic(intrinsic, [acc, self.emit(a)])
        return acc

    def _emit_Min(self, expr):  # NaN-propagating, like numpy.minimum
        return self._fold("llvm.minimum", expr)

    def _emit_Max(self, expr):
        return self._fold("llvm.maximum", expr)

    def _emit_sign(self, expr):
        x = self.emit(expr.args[0])
        pos = self.b.fcmp_ordered(">", x, _const(0.0))
        neg = self.b.fcmp_ordered("<", x, _const(0.0))
        zero_or_nan = self._fmul(x, _const(0.0))  # 0 stays 0, NaN stays NaN
        return self.b.select(pos, _const(1.0), self.b.select(neg, _const(-1.0), zero_or_nan))

    def _emit_Heaviside(self, expr):
        x = self.emit(expr.args[0])
        h0 = self.emit(expr.args[1]) if len(expr.args) > 1 else _const(0.5)
        pos = self.b.fcmp_ordered(">", x, _const(0.0))
        neg = self.b.fcmp_ordered("<", x, _const(0.0))
        zero = self.b.fcmp_ordered("==", x, _const(0.0))
        nan = _const(float("nan"))
        return self.b.select(pos, _const(1.0), self.b.select(neg, _const(0.0), self.b.select(zero, h0, nan)))

    def _emit_Piecewise(self, expr):
        # every branch is evaluated (straight-line code); no condition true -> NaN, as SymPy
        result = _const(float("nan"))
        for value, cond in reversed(expr.args):
            if cond is sp.true:
                result = self.emit(value)
            elif cond is sp.false:
                continue
            else:
                result = self.b.select(self.condition(cond), self.emit(value), result)
        return result

    # --- conditions ------------------------------------------------------------------------------
    def _cond_Relational(self, expr):
        name = type(expr).__name__
        if name not in _RELATIONAL_OPS:
            raise UnsupportedNodeError(expr, self.where or "a condition")
        op, ordered = _RELATIONAL_OPS[name]
        lhs, rhs = self.emit(expr.lhs), self.emit(expr.rhs)
        cmp = self.b.fcmp_ordered if ordered else self.b.fcmp_unordered
        return cmp(op, lhs, rhs)

    def _cond_BooleanTrue(self, expr):
        return ir.Constant(ir.IntType(1), 1)

    def _cond_BooleanFalse(self, expr):
        return ir.Constant(ir.IntType(1), 0)

    def _cond_And(self, expr):
        acc = self.condition(expr.args[0])
        for a in expr.args[1:]:
            acc = self.b.and_(acc, self.condition(a))
        return acc

    def _cond_Or(self, expr):
        acc = self.condition(expr.args[0])
        for a in expr.args[1:]:
            acc = self.b.or_(acc, self.condition(a))
        return acc

    def _cond_Not(self, expr):
        return self.b.not_(self.condition(expr.args[0]))


def _negated(term):
    """``x`` if ``term`` is ``-x`` (a product with coefficient -1), else None."""
    if term.is_Mul and term.args and term.args[0] == sp.S.NegativeOne:
        rest = term.args[1:]
        return rest[0] if len(rest) == 1 else sp.Mul(*rest, evaluate=False)
    return None


def unsupported_nodes(expr):
    """The first node of ``expr`` the emitter cannot compile, or None.

    Used to name the equation at fault before any code is generated.

    >>> import sympy as sp
    >>> x = sp.Symbol("x")
    >>> unsupported_nodes(sp.gamma(x) + 1)
    gamma(x)
    """
    for node in sp.preorder_traversal(expr):
        if node.is_Atom or isinstance(node, (sp.Add, sp.Mul, sp.Pow, sp.Piecewise, sp.Min, sp.Max,
                                              sp.sign, sp.Heaviside, sp.exp)):
            if isinstance(node, sp.core.numbers.ComplexInfinity) or (
                node.is_Atom and not (node.is_Symbol or node.is_Number or node.is_NumberSymbol
                                      or isinstance(node, (sp.logic.boolalg.BooleanAtom,)))
            ):
                return node
            continue
        if isinstance(node, sp.Function):
            if type(node).__name__ not in FUNCTIONS:
                return node
            continue
        if isinstance(node, (sp.core.relational.Relational, sp.And, sp.Or, sp.Not,
                             sp.functions.elementary.piecewise.ExprCondPair)):
            if isinstance(node, sp.core.relational.Relational) and type(node).__name__ not in _RELATIONAL_OPS:
                return node
            continue
        return node
    return None
