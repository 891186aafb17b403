"""Native ODE integrators: one call from Python per solve.

The solvers take the addresses of generated native functions (``rhs``, ``jac``) and arrays;
they know nothing of SymPy.  Layout: :mod:`.tableaus` (methods as data), :mod:`.explicit`
(the generic explicit Runge--Kutta stepper), :mod:`.rosenbrock` (the generic Rosenbrock
stepper), :mod:`.radau` (Radau IIA, the algorithm of RADAU5), :mod:`.control` (tolerances,
norm, step size), :mod:`.linalg` (dense LU, real or complex),
:mod:`.solution` (Solution, RetCode), :mod:`.solve` (argument checks and the entry point),
:mod:`.errors`; :mod:`._cache` keys numba's on-disk cache of the kernels by all their sources.
See ``docs/solvers.md``.
"""
from . import _cache  # noqa: F401  (first: the cache locators must exist before any kernel is defined)
from . import errors
from .solution import DenseOutput, RetCode, Solution
from .solve import METHODS, solve_compiled, solve_model
from .tableaus import (
    DOP853, DP5, EXPLICIT_METHODS, RADAU5, RADAU_METHODS, RODAS4, RODAS5P, ROSENBROCK23, ROSENBROCK_METHODS, TSIT5,
    ExplicitRKTableau, RadauTableau, RosenbrockTableau, TableauError,
)

__all__ = [
    "solve_compiled", "solve_model", "Solution", "RetCode", "DenseOutput", "METHODS", "errors",
    "ExplicitRKTableau", "TableauError", "TSIT5", "DP5", "DOP853", "EXPLICIT_METHODS",
    "RosenbrockTableau", "RODAS5P", "RODAS4", "ROSENBROCK23", "ROSENBROCK_METHODS",
    "RadauTableau", "RADAU5", "RADAU_METHODS",
]
