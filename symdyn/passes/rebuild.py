"""Rebuilding SymPy trees without re-evaluation (shared by the program passes)."""
from __future__ import annotations

import sympy as sp

_NO_EVALUATE_KW: set = set()


def rebuild(node: sp.Basic, args) -> sp.Basic:
    """``node.func(*args)`` without letting SymPy fold it back (``x*x`` stays a product).

    >>> import sympy as sp
    >>> x = sp.Symbol("x")
    >>> rebuild(sp.Mul(2, x), (x, x))
    x*x
    """
    func = node.func
    if func not in _NO_EVALUATE_KW:
        try:
            return func(*args, evaluate=False)
        except TypeError:
            _NO_EVALUATE_KW.add(func)
    return func(*args)


def postorder(roots):
    """Unique nodes of the trees ``roots`` in post-order (children first), iteratively.

    Returns ``(order, counts)`` where ``counts[node]`` is how many parents (or roots)
    reference the node, counting repeated structure once per reference.
    """
    counts: dict = {}
    order: list = []
    stack = [(r, False) for r in reversed(list(roots))]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        c = counts.get(node)
        if c is not None:
            counts[node] = c + 1
            continue
        counts[node] = 1
        if node.args:
            stack.append((node, True))
            stack.extend((a, False) for a in reversed(node.args))
        else:
            order.append(node)
    return order, counts
