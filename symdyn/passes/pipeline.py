"""The rewrite pipeline, as visible lists of passes."""
from __future__ import annotations

from ..model import Model
from .constants import fold_constants
from .cse import cse
from .lower import lower
from .powers import expand_powers
from .substitute import substitute_observed

#: Model -> Model passes, in order
MODEL_PASSES = [substitute_observed, fold_constants]

#: Program -> Program passes, in order, applied to every function's program
PROGRAM_PASSES = [expand_powers, cse]


def rewrite(model: Model, passes=None) -> Model:
    """Validate ``model`` and apply the model passes in order.

    >>> import symdyn as sd, sympy as sp
    >>> m = sd.Model("m"); x = m.states("x", init=1.0); m.eq(sd.D(x), sp.sqrt(2) * x)
    >>> rewrite(m).equations
    {x: 1.414213562373095*x}
    """
    model.validate()
    for p in MODEL_PASSES if passes is None else passes:
        model = p(model)
    return model


def compile_programs(model: Model, jacobian: bool = True, passes=None):
    """Lower a rewritten model and run the program passes on each function.

    Returns ``(programs, pattern)`` as :func:`~symdyn.passes.lower.lower` does.

    >>> import symdyn as sd
    >>> m = sd.Model("m"); x = m.states("x", init=1.0); m.eq(sd.D(x), -x**3)
    >>> programs, _ = compile_programs(rewrite(m))
    >>> print(programs["jac"])
    out[0] = -3*x*x
    """
    programs, pattern = lower(model, jacobian=jacobian)
    for p in PROGRAM_PASSES if passes is None else passes:
        programs = {name: p(prog) for name, prog in programs.items()}
    return programs, pattern
