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

#: outputs per chunk: common subexpressions are shared within a chunk, and each chunk
#: becomes one native function, which keeps LLVM's compile time linear in model size
CHUNK_SIZE = 1024


def rewrite(model: Model, passes=None) -> Model:
    """Validate ``model`` and apply the model passes in order.

    >>> import symdyn as sd, sympy as sp
    >>> m = sd.Model("m"); x = m.states("x", init=1.0); m.eq(sd.D(x), sp.sqrt(2) * x)
    >>> rewrite(m).equations
    {x: 1.4142135623730951*x}
    """
    model.validate()
    for p in MODEL_PASSES if passes is None else passes:
        model = p(model)
    return model


def compile_programs(model: Model, jacobian: bool = True, passes=None, check=None,
                     chunk_size: int = CHUNK_SIZE):
    """Lower a rewritten model, split each function into chunks, run the program passes.

    Returns ``(programs, pattern)`` where ``programs[name]`` is a list of chunks;
    ``check(programs)``, if given, sees the lowered programs before any rewriting
    (the compiler uses it to name an equation it cannot compile).

    >>> import symdyn as sd
    >>> m = sd.Model("m"); x = m.states("x", init=1.0); m.eq(sd.D(x), -x**3)
    >>> programs, _ = compile_programs(rewrite(m))
    >>> print(programs["jac"][0])
    out[0] = -3*x*x
    """
    programs, pattern = lower(model, jacobian=jacobian)
    if check is not None:
        check(programs)
    return {name: rewrite_program(prog, passes, chunk_size) for name, prog in programs.items()}, pattern


def rewrite_program(program, passes=None, chunk_size: int = CHUNK_SIZE) -> list:
    """``program`` split into chunks of at most ``chunk_size`` outputs, each run through the
    program passes (:data:`PROGRAM_PASSES` unless ``passes`` is given).

    >>> import sympy as sp
    >>> from symdyn.passes.lower import Program
    >>> x = sp.Symbol("x", real=True)
    >>> [str(c) for c in rewrite_program(Program(sp.Symbol("t"), (x,), (), (), (x**2,), ("f",)))]
    ['out[0] = x*x']
    """
    chunks = program.split(chunk_size)
    for p in PROGRAM_PASSES if passes is None else passes:
        chunks = [apply_pass(p, c) for c in chunks]
    return chunks


def apply_pass(program_pass, program):
    """Run a program pass on a program and on the body of each of its loops."""
    program = program_pass(program)
    if program.loops:
        program = program.with_loops([lp.with_body(program_pass(lp.body)) for lp in program.loops])
    return program
