"""Integer and half-integer powers become multiplications, divisions and square roots."""
from __future__ import annotations

import sympy as sp

from .lower import Program
from .rebuild import postorder, rebuild

#: exponents above this stay calls to pow (binary powering would lose accuracy)
MAX_EXPANDED_EXPONENT = 64


def _mul(a, b):
    return sp.Mul(a, b, evaluate=False)


def _positive_power(base, n: int):
    """``base**n`` by binary powering; repeated factors are the same object, so CSE shares them."""
    result, square = None, base
    while n:
        if n & 1:
            result = square if result is None else _mul(result, square)
        n >>= 1
        if n:
            square = _mul(square, square)
    return result


def power_to_products(base, exponent):
    """The multiplication form of ``base**exponent``, or None where pow must stay.

    ``x**2 -> x*x``, ``x**-1 -> 1/x``, ``x**(1/2) -> sqrt(x)``, and ``x**(5/2) -> x*x*sqrt(x)``
    when SymPy knows ``x >= 0``.  For a base of unknown sign other half-integer powers stay
    calls to ``pow``: ``x*x*sqrt(x)`` differs from C's ``pow`` (and numpy) at ``x = -0.0``
    and ``x = -inf`` (``pow(-0.0, -0.5) = +inf`` but ``1/sqrt(-0.0) = -inf``).

    >>> import sympy as sp
    >>> x = sp.Symbol("x")
    >>> power_to_products(x, sp.Integer(-3))
    1/(x*(x*x))
    """
    if not exponent.is_Number:
        return None
    twice = exponent * 2
    if not (twice.is_Integer or (twice.is_Float and float(twice).is_integer())):
        return None
    twice = int(twice)
    if twice == 0 or abs(twice) > 2 * MAX_EXPANDED_EXPONENT:
        return None
    if twice % 2 and twice != 1 and not base.is_nonnegative:
        return None
    whole, half = divmod(abs(twice), 2)
    parts = []
    if whole:
        parts.append(_positive_power(base, whole))
    if half:
        parts.append(sp.Pow(base, sp.S.Half, evaluate=False))
    value = parts[0] if len(parts) == 1 else _mul(parts[0], parts[1])
    if twice < 0:
        value = sp.Pow(value, -1, evaluate=False)
    return value


def expand_powers(program: Program) -> Program:
    """Rewrite every ``x**n`` (integer or half-integer ``n``) in a program as products.

    The result keeps ``Pow(e, -1)`` (a division), ``Pow(e, 1/2)`` (a square root) and
    non-integer powers, which the code generator emits as ``1/e``, ``sqrt(e)`` and
    ``pow``.

    >>> import sympy as sp
    >>> x, t = sp.symbols("x t")
    >>> p = Program(t, (x,), (), (), (x**3 + x**-2,))
    >>> print(expand_powers(p))
    out[0] = x*(x*x) + 1/(x*x)
    """
    roots = [e for _, e in program.assignments] + list(program.outputs)
    order, _ = postorder(roots)
    new: dict = {}
    for node in order:
        if not node.args:
            new[node] = node
            continue
        args = tuple(new[a] for a in node.args)
        if node.is_Pow:
            expanded = power_to_products(args[0], args[1])
            if expanded is not None:
                new[node] = expanded
                continue
        new[node] = node if args == node.args else rebuild(node, args)
    assignments = [(tmp, new[e]) for tmp, e in program.assignments]
    return program.with_body(assignments, [new[e] for e in program.outputs])
