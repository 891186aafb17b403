"""Rewrite passes: each a function from model to model, or from program to program.

The pipeline is the visible list in :mod:`symdyn.passes.pipeline`:

1. model passes (``Model -> Model``): :func:`substitute_observed`, :func:`fold_constants`;
2. lowering (``Model -> {name: Program}``): :func:`lower` derives the sparse symbolic
   Jacobian and gathers the outputs of every function a compiled model needs;
3. program passes (``Program -> Program``): :func:`expand_powers`, :func:`cse`.

>>> import symdyn as sd
>>> from symdyn.passes import rewrite
>>> m = sd.Model("m"); x = m.states("x", init=1.0); e = m.observed("e", x**2)
>>> m.eq(sd.D(x), -e)
>>> rewrite(m).equations
{x: -x**2}
"""
from .constants import fold_constants
from .cse import cse
from .lower import Loop, Program, find_families, lower
from .pipeline import MODEL_PASSES, PROGRAM_PASSES, compile_programs, rewrite
from .powers import expand_powers
from .substitute import substitute_observed

__all__ = [
    "Loop", "MODEL_PASSES", "PROGRAM_PASSES", "Program", "find_families", "compile_programs", "cse", "expand_powers",
    "fold_constants", "lower", "rewrite", "substitute_observed",
]
