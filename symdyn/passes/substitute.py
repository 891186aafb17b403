"""Observed/alias substitution: observed quantities are replaced by their definitions."""
from __future__ import annotations

from ..model import Model


def substitute_observed(model: Model) -> Model:
    """Replace every observed symbol in the equations by its (fully expanded) definition.

    Observed quantities are resolved once each, in dependency order, so the cost is
    linear in the size of the model.  The returned model keeps the resolved observed
    map (for output), with no observed symbol left in any equation.

    >>> import symdyn as sd
    >>> m = sd.Model("m"); x = m.states("x", init=1.0)
    >>> a = m.observed("a", 2 * x); b = m.observed("b", a + 1)
    >>> m.eq(sd.D(x), b)
    >>> substitute_observed(m).equations
    {x: 2*x + 1}
    """
    observed = model.observed_exprs
    if not observed:
        return model
    resolved = {}
    for sym in model.observed_order():
        resolved[sym] = observed[sym].xreplace(resolved)
    equations = {s: e.xreplace(resolved) for s, e in model.equations.items()}
    return model.replace(equations=equations, observed=resolved)
