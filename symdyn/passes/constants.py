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
    Rationals stay exact (the code generator rounds them once).  Evaluation is in real
    arithmetic, as the compiled code's would be: a subtree with a non-real intermediate
    value (``acos(2)``, ``cosh(acos(pi))``) folds to NaN, not to what complex arithmetic
    makes of it.  Subtrees holding ``I`` are left alone (the compiler refuses them by name).

    >>> import sympy as sp
    >>> x = sp.Symbol("x")
    >>> fold_constant_subtrees(sp.sqrt(2) * x + sp.pi)
    1.4142135623730951*x + 3.1415926535897931
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

    if not _needs_folding(expr, is_const):
        return expr  # the common case for big models: one cheap traversal, no rebuilding
    memo: dict = {}

    def fold(e):
        hit = memo.get(e)
        if hit is not None:
            return hit
        if e.is_Atom:
            out = _to_double(e.evalf(_EVAL_DIGITS)) if e.is_NumberSymbol else e
        elif is_const(e):
            value = _real_value(e) if isinstance(e, sp.Expr) and not e.has(sp.I) else None
            out = e if value is None else value
        elif isinstance(e, (sp.Add, sp.Mul)):
            # 3*sqrt(2)*x is Mul(3, sqrt(2), x): fold the constant factors together, rounding once
            consts = [a for a in e.args if is_const(a)]
            if len(consts) > 1:
                rest = [fold(a) for a in e.args if not is_const(a)]
                out = e.func(fold(e.func(*consts)), *rest)
            else:
                args = [fold(a) for a in e.args]
                out = e.func(*args) if any(a is not b for a, b in zip(args, e.args)) else e
        else:
            args = [fold(a) for a in e.args]
            out = e.func(*args) if any(a is not b for a, b in zip(args, e.args)) else e
        memo[e] = out
        return out

    return fold(expr)


def _needs_folding(expr, is_const) -> bool:
    """Whether ``expr`` has a NumberSymbol, a non-atomic constant subtree, or a sum/product with
    two or more constant terms (iterative: deep expressions do not hit the recursion limit)."""
    stack = [expr]
    while stack:
        e = stack.pop()
        if e.is_Atom:
            if e.is_NumberSymbol:
                return True
            continue
        if is_const(e):
            return True
        if isinstance(e, (sp.Add, sp.Mul)) and sum(1 for a in e.args if is_const(a)) > 1:
            return True
        stack.extend(e.args)
    return False


def _to_double(value) -> sp.Float:
    """The double nearest a high-precision real number, held exactly as a 53-bit Float."""
    return sp.Float(float(value), 17)  # exact: a double fits in 17 digits; prints round-trip


def _real_value(e):
    """``e`` (symbol-free, no ``I``) as a Rational, a double-valued Float, +-oo or NaN; None
    if SymPy cannot evaluate it.  NaN when any intermediate value is not real, as in C."""
    for sub in sp.preorder_traversal(e):
        if isinstance(sub, sp.Expr) and not sub.is_Atom:
            v = sub.evalf(15)
            if v.is_Number and v.is_real is False or v.has(sp.I) or v is sp.zoo:
                return sp.nan
    value = e.evalf(_EVAL_DIGITS)
    if value.is_Rational or value in (sp.oo, -sp.oo, sp.nan):
        return value
    if value.is_Number and value.is_real:
        return _to_double(value)
    return None


def fold_constants(model: Model) -> Model:
    """Fold the constant subtrees of every equation (see :func:`fold_constant_subtrees`).

    >>> import symdyn as sd, sympy as sp
    >>> m = sd.Model("m"); x = m.states("x", init=1.0)
    >>> m.eq(sd.D(x), -sp.sqrt(4 * sp.pi) * x)
    >>> fold_constants(m).equations
    {x: -3.5449077018110322*x}
    """
    equations = {s: fold_constant_subtrees(e) for s, e in model.equations.items()}
    return model.replace(equations=equations)
