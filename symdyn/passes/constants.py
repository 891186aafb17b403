"""Constant folding: every subtree free of symbols becomes one floating-point number."""
from __future__ import annotations

import sympy as sp

from ..model import Model

#: digits used to evaluate constant subtrees before rounding to double
_EVAL_DIGITS = 30


def fold_constant_subtrees(expr: sp.Expr) -> sp.Expr:
    """Evaluate maximal symbol-free subtrees (``sqrt(2)``, ``pi/4``, ``exp(1)``) to Floats.

    Evaluation uses 30 digits and one final rounding, so a folded constant is the
    correctly rounded double of the exact value (better than evaluating it in floats).
    Rationals stay exact (the code generator rounds them once).

    >>> import sympy as sp
    >>> x = sp.Symbol("x")
    >>> fold_constant_subtrees(sp.sqrt(2) * x + sp.pi)
    1.414213562373095*x + 3.1415926535897932
    """
    constant: dict = {}

    def is_const(e):
        hit = constant.get(e)
        if hit is None:
            if e.is_Symbol:
                hit = False
            elif e.is_Atom:
                hit = True
            else:
                hit = all([is_const(a) for a in e.args])
            constant[e] = hit
        return hit

    replace = {}
    stack = [expr]
    while stack:
        e = stack.pop()
        if e.is_Atom:
            if e.is_NumberSymbol:
                replace[e] = sp.Float(e.evalf(_EVAL_DIGITS), 17)
            continue
        if is_const(e):
            if isinstance(e, sp.Expr):
                value = e.evalf(_EVAL_DIGITS)
                if value.is_Number and not value.is_Rational:
                    replace[e] = sp.Float(value, 17)
                elif value.is_Rational:
                    replace[e] = value
            continue
        stack.extend(e.args)
    return expr.xreplace(replace) if replace else expr


def fold_constants(model: Model) -> Model:
    """Fold the constant subtrees of every equation (see :func:`fold_constant_subtrees`).

    >>> import symdyn as sd, sympy as sp
    >>> m = sd.Model("m"); x = m.states("x", init=1.0)
    >>> m.eq(sd.D(x), -sp.sqrt(4 * sp.pi) * x)
    >>> fold_constants(m).equations
    {x: -3.5449077018110321*x}
    """
    equations = {s: fold_constant_subtrees(e) for s, e in model.equations.items()}
    return model.replace(equations=equations)
