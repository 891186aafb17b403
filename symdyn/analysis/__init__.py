"""Structure analysis: look at the equations and pick the integrator.

``analyze(model) -> Analysis`` (:mod:`.analyzer`) finds the Jacobian's sparsity, the
semilinear split ``f = L u + N(u, t)`` (:mod:`.split`), the structure of ``L``
(:mod:`.structure`), eigenvalue estimates and stiffness (:mod:`.stiffness`), separable
second-order (Hamiltonian) structure (:mod:`.hamiltonian`), and recommends a method with
the reasons (:mod:`.choose`, whose names the solver side maps).  The record is
:class:`.record.Analysis`; ``print(a)`` is :mod:`.report`.  See ``docs/analysis.md``.

>>> import symdyn as sd
>>> m = sd.Model("lorenz"); x, y, z = m.states("x y z", init=[1.0, 0.0, 0.0])
>>> m.eq(sd.D(x), 10 * (y - x)); m.eq(sd.D(y), x * (28 - z) - y); m.eq(sd.D(z), x * y - 8 * z / 3)
>>> sd.analyze(m, t_span=(0.0, 100.0)).recommended
'tsit5'
"""
from .analyzer import analyze
from .choose import EXPLICIT, EXPONENTIAL, IMPLICIT, METHODS, SYMPLECTIC
from .record import Analysis, Sample
from .split import Split, linear_terms, semilinear_split
from .stiffness import Spectrum, spectrum, stiffness_threshold
from .structure import STRUCTURES, Structure, classify

__all__ = [
    "Analysis", "EXPLICIT", "EXPONENTIAL", "IMPLICIT", "METHODS", "SYMPLECTIC", "STRUCTURES", "Sample",
    "Spectrum", "Split", "Structure", "analyze", "classify", "linear_terms", "semilinear_split", "spectrum",
    "stiffness_threshold",
]
