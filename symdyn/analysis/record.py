"""The :class:`Analysis` record: what :func:`symdyn.analyze` found, and what follows from it.

>>> import symdyn as sd
>>> m = sd.Model("decay"); x = m.states("x", init=1.0); m.eq(sd.D(x), -3 * x + x**2)
>>> a = sd.analyze(m)
>>> a.L.toarray().tolist(), a.N, a.L_structure
([[-3.0]], [x**2], 'diagonal')
>>> print(a.nonlinear_model())
Model('decay_N': 1 states, 0 parameters, 0 observed)
  D(x) = x**2
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sps
import sympy as sp

from .. import errors
from ..model import D, Model
from .split import Split
from .stiffness import Spectrum


@dataclass(frozen=True)
class Sample:
    """The eigenvalue facts at one sampled ``(t, u)``: the Jacobian's :class:`Spectrum`, the
    solution ``rate``, the stiffness ``ratio`` and, for a semilinear model, ``rho(J_N)``
    (``nonlinear_radius``) and ``rho(L)`` at ``t`` (``linear_radius``)."""

    t: float
    label: str
    jacobian: Spectrum
    rate: float
    ratio: float
    nonlinear_radius: float | None = None
    linear_radius: float | None = None


@dataclass(eq=False)
class Analysis:
    """The structure of a model and the integrator it calls for; see ``docs/analysis.md``.

    Main attributes: ``sparsity`` (CSC pattern of the Jacobian, ones), ``semilinear``,
    ``L`` (``scipy.sparse.csc_matrix``, or the expression ``a(t)`` when ``L_structure ==
    'scalar(t)'``), ``N`` (one expression per state: ``L u + N == rhs``), ``L_structure``,
    ``L_eigenvalues``, ``stiff``, ``stiffness_ratio``, ``linear_dominates``, ``hamiltonian``,
    ``q_indices``, ``v_indices``, ``recommended``, ``reasons``; ``print(a)`` reports.
    """

    model: Model
    compiled: object
    state_names: list
    n: int
    sparsity: sps.csc_matrix
    split: Split
    params: dict  # {name: value} the analysis used
    rtol: float
    t_span: tuple | None
    window: tuple
    # linear part
    semilinear: bool
    L: object
    L_structure: str | None
    bandwidths: tuple | None
    L_eigenvalues: np.ndarray | None
    L_first_column: np.ndarray | None
    L_spectrum: Spectrum | None
    scalar_gain: float | None
    # stiffness
    samples: list
    stiffness_threshold: float
    stiffness_ratio: float
    decay_rate: float
    solution_rate: float
    stiff: bool
    # second-order structure
    second_order: bool
    hamiltonian: bool
    q_indices: list
    v_indices: list
    max_frequency: float | None
    # the nonlinear part (semilinear models only)
    nonlinear_radius: float | None = None
    nonlinear_stiffness_ratio: float | None = None
    nonlinear_stiff: bool | None = None
    L_radius: float | None = None
    dominance: float | None = None
    linear_dominates: bool = False
    # outcome
    recommended: str = ""
    reasons: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)

    @property
    def rhs(self) -> list:
        """The right-hand sides analysed: the rewritten model's (``compiled.model.rhs``), the
        ones ``L u + N`` reproduces."""
        return self.compiled.model.rhs

    @property
    def N(self) -> list:
        """The nonlinear part, one SymPy expression per state (parameters kept symbolic)."""
        return self.split.N

    @property
    def L_symbolic(self) -> sp.SparseMatrix:
        """``L`` with symbolic coefficients (parameters kept): ``L_symbolic u + N == rhs`` exactly."""
        return self.split.symbolic_L()

    @property
    def family(self) -> str:
        """The family of the recommended method: explicit, implicit, exponential or symplectic."""
        from .choose import METHODS

        return METHODS[self.recommended]

    def nonlinear_model(self) -> Model:
        """A :class:`~symdyn.Model` with the same states, parameters (at the analysed values) and
        initial values whose equations are ``N`` (to compile ``N`` natively).

        >>> import symdyn as sd
        >>> m = sd.Model("m"); x = m.states("x", init=1.0); m.eq(sd.D(x), -x + m.t)
        >>> sd.analyze(m).nonlinear_model().equations
        {x: t}
        """
        if not self.semilinear:
            raise errors.NotSemilinearError(self.model.name, "nonlinear part N separate from L")
        m = Model(f"{self.model.name}_N")
        states = m.states(self.state_names, init=self.model.init)
        states = states if isinstance(states, tuple) else (states,)
        names = self.model.param_names
        if names:
            m.params(names, values=[self.params[k] for k in names])
        for s, e in zip(states, self.N):
            m.eq(D(s), e)
        return m

    def linear_operator(self) -> dict:
        """The numeric data an exponential solver needs.

        ``{"kind": L_structure, "matrix": L (csc; a dense ndarray for 'dense'; None for
        'scalar(t)'), "eigenvalues": exact eigenvalues or None (circulant: ``L = F^-1 diag(lam)
        F`` with ``F`` = ``numpy.fft.fft``), "first_column": for a circulant, "bandwidths":
        (kl, ku), "scalar": a(t) (SymPy, parameter values substituted) or None, "scalar_integral":
        an antiderivative of a(t) when SymPy finds one for a polynomial a, else None, "t": the
        time symbol}``.

        >>> import symdyn as sd
        >>> m = sd.Model("m"); x = m.states("x", init=1.0); m.eq(sd.D(x), -2 * m.t * x + 1)
        >>> op = sd.analyze(m).linear_operator()
        >>> op["kind"], op["scalar"], op["scalar_integral"]
        ('scalar(t)', -2*t, -t**2)
        """
        if not self.semilinear:
            raise errors.NotSemilinearError(self.model.name, "linear operator")
        scalar = integral = None
        matrix = None
        t = self.split.t
        if self.L_structure == "scalar(t)":
            scalar = self.L
            if scalar.is_polynomial(t):
                integral = sp.integrate(scalar, t)
        else:
            matrix = self.L.toarray() if self.L_structure == "dense" else self.L
        return {
            "kind": self.L_structure, "matrix": matrix, "eigenvalues": self.L_eigenvalues,
            "first_column": self.L_first_column, "bandwidths": self.bandwidths, "scalar": scalar,
            "scalar_integral": integral, "t": t,
        }

    def __str__(self) -> str:
        from .report import report

        return report(self)

    def __repr__(self) -> str:
        return (f"Analysis({self.model.name!r}: n={self.n}, recommended={self.recommended!r}, "
                f"L={self.L_structure}, stiff={self.stiff}, hamiltonian={self.hamiltonian})")

