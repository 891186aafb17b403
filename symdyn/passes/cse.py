"""Common subexpressions shared across every output of a program, in linear time."""
from __future__ import annotations

import sympy as sp

from .lower import Program
from .rebuild import postorder, rebuild


def cse(program: Program, prefix: str = "_c") -> Program:
    """Give every subtree used more than once its own temporary.

    This is hash-consing over the expression DAG of all outputs together (all components
    of the right-hand side, or all Jacobian entries), so it is linear in the size of the
    program and scales to 10^4+ equations; unlike ``sympy.cse`` it does not look for
    partial sums or products (LLVM's own value numbering sees the rest).

    >>> import sympy as sp
    >>> x, y, t = sp.symbols("x y t")
    >>> p = Program(t, (x, y), (), (), (sp.sin(x * y) + 1, sp.sin(x * y) * y))
    >>> print(cse(p))
    _c0 = sin(x*y)
    out[0] = _c0 + 1
    out[1] = _c0*y
    """
    if program.assignments:
        raise ValueError("cse runs on a program without assignments (run it once, last)")
    order, counts = postorder(program.outputs)
    new: dict = {}
    assignments = []
    for node in order:
        if not node.args:
            new[node] = node
            continue
        args = tuple(new[a] for a in node.args)
        value = node if args == node.args else rebuild(node, args)
        # shared, and a value (not a condition pair or a boolean)
        if counts[node] > 1 and isinstance(node, sp.Expr):
            tmp = sp.Symbol(f"{prefix}{len(assignments)}")
            assignments.append((tmp, value))
            value = tmp
        new[node] = value
    return program.with_body(assignments, [new[e] for e in program.outputs])
