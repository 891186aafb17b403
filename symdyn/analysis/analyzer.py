"""``analyze(model) -> Analysis``: look at the equations and pick the integrator.

Stages (each timed in ``a.timings``): compilation (:func:`symdyn.compiled.cached_compile`,
skipped for a :class:`~symdyn.CompiledModel` with a Jacobian; it validates the model and
rewrites it: observed quantities substituted, constant subtrees folded), the semilinear
split of the rewritten equations ``cm.model.rhs`` (:mod:`.split`, symbolic, linear in the
number of equations), the structure of ``L`` (:mod:`.structure`), eigenvalue estimates of
``L``, of the Jacobian and of the nonlinear part's Jacobian ``J_N = J - L`` at the initial
state and at ``samples`` perturbed states (:mod:`.stiffness`; dense eigenvalue problems on
one BLAS thread, :mod:`._blas`), the second-order structure (:mod:`.hamiltonian`), and the
decision (:mod:`.choose`).

Sampled states: ``u0`` at ``t0``, and ``samples`` perturbed states: a component is
multiplied by ``1 + SAMPLE_SPREAD * xi`` (``xi`` uniform in ``[-1, 1]``), and a component
that starts at (nearly) zero — below ``ZERO_FRACTION * max|u0|`` — becomes
``SAMPLE_SPREAD * max|u0| * xi`` with ``xi`` in ``[0, 1]`` (such components are usually
nonnegative quantities, e.g. concentrations, that grow later: HIRES's stiffness appears
only once its species 6 is formed).  Sample times are spread over the window (``t_span``, or
``DEFAULT_WINDOW``) when the model depends on ``t``.  The random generator is seeded
(``seed``): the analysis is deterministic.

>>> import symdyn as sd
>>> m = sd.Model("m"); x, y = m.states("x y", init=[1.0, 0.0])
>>> m.eq(sd.D(x), -1000 * x + y**2); m.eq(sd.D(y), -y)
>>> a = analyze(m, t_span=(0.0, 10.0))
>>> a.recommended, a.L_structure, a.stiff
('etdrk4', 'diagonal', True)
"""
from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sps
import sympy as sp

from .. import errors
from ..compiled import CompiledModel, cached_compile
from ..model import Model
from ._blas import single_thread
from .choose import LINEAR_DOMINANCE, NONLINEAR_MARGIN, choose
from .hamiltonian import is_symmetric, second_order_pairs
from .record import Analysis, Sample
from .split import _parameter_map, semilinear_split
from .stiffness import DENSE_EIG_MAX, from_eigenvalues, spectral_radius, spectrum, stiffness_threshold
from .structure import classify

#: perturbed states sampled besides the initial state
SAMPLES = 3
#: relative size of the perturbations
SAMPLE_SPREAD = 0.1
#: components below this fraction of max|u0| count as zero (perturbed on the scale of max|u0|)
ZERO_FRACTION = 1e-3
#: the time window when no t_span is given (time sampling and the integral of a(t))
DEFAULT_WINDOW = (0.0, 1.0)
#: points of the trapezoidal rule for the integral of |a(t)|
GAIN_POINTS = 257


def _check_args(t_span, rtol, samples):
    if t_span is not None:
        try:
            t0, t1 = (float(v) for v in t_span)
        except (TypeError, ValueError):
            raise errors.AnalysisArgumentError("t_span", t_span, "give two numbers (t0, t1)") from None
        if not (math.isfinite(t0) and math.isfinite(t1) and t1 > t0):
            raise errors.AnalysisArgumentError("t_span", t_span, "need finite t0 < t1")
        t_span = (t0, t1)
    if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real) or not 0 < rtol < 1:
        raise errors.AnalysisArgumentError("rtol", rtol, "need a number with 0 < rtol < 1")
    if isinstance(samples, bool) or not isinstance(samples, numbers.Integral) or samples < 0:
        raise errors.AnalysisArgumentError("samples", samples, "need a nonnegative integer")
    return t_span, float(rtol), int(samples)


def _first_nonfinite(J, names):
    if sps.issparse(J):
        coo = J.tocoo()
        k = int(np.flatnonzero(~np.isfinite(coo.data))[0])
        i, j, v = coo.row[k], coo.col[k], coo.data[k]
    else:
        i, j = np.argwhere(~np.isfinite(J))[0]
        v = J[i, j]
    return f"dD({names[i]})/d{names[j]}", v


def _ratio(num: float, den: float, zero: float = 0.0) -> float:
    """``num / den``, inf for ``den == 0 < num``, ``zero`` for ``0 / 0``."""
    if den > 0:
        return num / den
    return math.inf if num > 0 else zero


def _finite(x) -> bool:
    return bool(np.all(np.isfinite(x.data if sps.issparse(x) else x)))


def _sample_points(u0, t_span, window, n_samples, autonomous, seed):
    t0 = t_span[0] if t_span else window[0]
    points = [(t0, u0, "u0")]
    rng = np.random.default_rng(seed)
    big = float(np.abs(u0).max()) if u0.size else 0.0
    big = big if big > 0 else 1.0
    zero = np.abs(u0) < ZERO_FRACTION * big
    scale = np.where(zero, big, np.abs(u0))
    for k in range(n_samples):
        xi = rng.uniform(-1.0, 1.0, u0.size)
        xi = np.where(zero, np.abs(xi), xi)
        t = t0 if autonomous else window[0] + (window[1] - window[0]) * (k + 1) / n_samples
        points.append((t, u0 + SAMPLE_SPREAD * scale * xi, f"sample {k + 1}"))
    return points


def _scalar_gain(a_expr, t, window) -> float:
    ts = np.linspace(window[0], window[1], GAIN_POINTS)
    fn = sp.lambdify(t, a_expr, "numpy")
    vals = np.abs(np.broadcast_to(np.asarray(fn(ts), dtype=float), ts.shape))
    return float(np.sum((vals[1:] + vals[:-1]) * np.diff(ts)) / 2)


@dataclass
class _Linear:
    """The numeric linear part: ``L`` (matrix or a(t)), its structure and spectrum."""

    L: object
    structure: str | None = None
    bands: tuple | None = None
    eigenvalues: np.ndarray | None = None
    first_column: np.ndarray | None = None
    spectrum: object = None
    gain: float | None = None
    a_fn: object = None


def _linear_part(split, t, window, seed) -> _Linear:
    if split.kind == "constant":
        L = split.matrix()
        st = classify(L)
        spec = from_eigenvalues(st.eigenvalues) if st.eigenvalues is not None else spectrum(L, seed=seed)
        return _Linear(L, st.label, st.bandwidths, spec.eigenvalues if spec.exact else None, st.first_column, spec)
    if split.kind == "scalar(t)":
        a = split.scalar
        return _Linear(a, "scalar(t)", gain=_scalar_gain(a, t, window), a_fn=sp.lambdify(t, a, "math"))
    return _Linear(split.matrix())


def _sample_spectra(cm, pvec, split, lin, points, span, rtol, seed):
    """A :class:`Sample` and the Jacobian at every sampled point whose Jacobian is finite."""
    n, names = cm.n, cm.state_names
    dense = n <= DENSE_EIG_MAX
    L_dense = lin.L.toarray() if split.kind == "constant" and dense else None
    u0_rate = 0.0  # without all eigenvalues: the relative rate of change at the initial state
    if not dense:
        t0, u0, _ = points[0]
        f0 = cm.rhs(t0, u0, pvec)
        if np.all(np.isfinite(f0)):
            u0_rate = float(np.linalg.norm(f0) / max(np.linalg.norm(u0), 1e-300))
    found, jacobians = [], []
    for tk, uk, label in points:
        J = cm.jac(tk, uk, pvec) if dense else cm.jac_sparse(tk, uk, pvec)
        if not _finite(J):
            if label == "u0":
                entry, value = _first_nonfinite(J, names)
                raise errors.NonFiniteJacobianError(entry, value, f"the initial state (t = {tk:g})")
            continue
        S = spectrum(J, seed=seed)
        rate = S.rate(span, rtol, u0_rate)
        nl_radius = lin_radius = None
        if split.kind == "constant":
            nl_radius, lin_radius = spectral_radius(J - (L_dense if dense else lin.L), seed), lin.spectrum.radius
        elif split.kind == "scalar(t)":
            a_t = float(lin.a_fn(tk))
            shift = a_t * (np.eye(n) if dense else sps.identity(n, format="csr"))
            nl_radius, lin_radius = spectral_radius(J - shift, seed), abs(a_t)
        found.append(Sample(tk, label, S, rate, _ratio(S.decay, rate), nl_radius, lin_radius))
        jacobians.append(J)
    return found, jacobians


def _zero_parameters_removed(model, pmap):
    """``model`` with the parameters whose value is 0 replaced by 0, in the equations that use them:
    a zero damping coefficient makes a pendulum separable.  (Only zeros: they are what removes a
    dependence, and substituting every value into 10^4 equations costs SymPy seconds.)"""
    zeros = {sym: sp.S.Zero for sym, value in pmap.items() if float(value) == 0.0}
    if not zeros:
        return model
    eqs = {s: (e.xreplace(zeros) if e.free_symbols & zeros.keys() else e) for s, e in model.equations.items()}
    return model.replace(equations=eqs)


def _second_order(model, jacobians, seed):
    """``(q, v, hamiltonian, max_frequency)``; ``q == []`` when not second order."""
    pairs = second_order_pairs(model)
    if not pairs:
        return [], [], False, None
    q, v = pairs
    hamiltonian = all(is_symmetric(J, q, v) for J in jacobians)
    J0 = jacobians[0]
    B = sps.csr_matrix(J0)[v][:, q] if sps.issparse(J0) else J0[np.ix_(v, q)]
    return q, v, hamiltonian, math.sqrt(spectral_radius(B, seed))


def analyze(model, *, p=None, t_span=None, rtol: float = 1e-6, samples: int = SAMPLES,
            seed: int = 0) -> Analysis:
    """The structure analysis of ``model`` (an :class:`~symdyn.Model` or a
    :class:`~symdyn.CompiledModel`) and the integrator it recommends.

    ``p``: parameter values (``{name: value}`` or an array) overriding the model's; ``L``
    and every estimate are evaluated there.  ``t_span``: the time span of interest (its
    length enters the stiffness ratio; default ``DEFAULT_WINDOW``, a unit span).  ``rtol``:
    the tolerance the solve will use (it sets the stiffness threshold and the explicit
    method).  ``samples``: perturbed states sampled besides ``u0``.  ``seed``: of the
    sampling.  See ``docs/analysis.md``.

    >>> import symdyn as sd
    >>> m = sd.Model("vdp"); x, y = m.states("x y", init=[2.0, 0.0]); mu = m.params("mu", values=1e3)
    >>> m.eq(sd.D(x), y); m.eq(sd.D(y), mu * ((1 - x**2) * y - x))
    >>> a = sd.analyze(m, t_span=(0.0, 1.0))
    >>> a.recommended, a.stiff, a.semilinear
    ('radau5', True, True)
    """
    t_span, rtol, samples = _check_args(t_span, rtol, samples)
    if isinstance(model, CompiledModel):
        source = model.source_model
        cm = model if "jac_csc" in model.addresses else None
    elif isinstance(model, Model):
        source, cm = model, None
    else:
        raise errors.AnalysisArgumentError("model", type(model).__name__,
                                           "expected an sd.Model or sd.CompiledModel")
    timings = {}
    start = clock = time.perf_counter()
    if cm is None:  # validates and rewrites the model (observed substituted, constants folded)
        cm = cached_compile(source)
    timings["compile"] = time.perf_counter() - clock

    clock = time.perf_counter()
    rewritten = cm.model
    pmap = _parameter_map(rewritten, p)
    split = semilinear_split(rewritten, pmap, prepared=True)
    timings["split"] = time.perf_counter() - clock

    n = cm.n
    params = {s.name: float(v) for s, v in pmap.items()}
    pvec = np.array([params[k] for k in cm.param_names], dtype=float) if cm.n_params else None
    pat = cm.jac_pattern
    sparsity = sps.csc_matrix((np.ones(pat.nnz), pat.indices.copy(), pat.indptr.copy()), shape=(n, n))
    window = t_span if t_span else DEFAULT_WINDOW

    with single_thread():
        clock = time.perf_counter()
        lin = _linear_part(split, rewritten.t, window, seed)
        timings["structure"] = time.perf_counter() - clock

        clock = time.perf_counter()
        points = _sample_points(cm.u0, t_span, window, samples, split.autonomous, seed)
        found, jacobians = _sample_spectra(cm, pvec, split, lin, points, window[1] - window[0], rtol, seed)
        timings["spectra"] = time.perf_counter() - clock

        clock = time.perf_counter()
        q, v, hamiltonian, max_freq = _second_order(_zero_parameters_removed(rewritten, pmap), jacobians, seed)
        timings["hamiltonian"] = time.perf_counter() - clock

    threshold = stiffness_threshold(rtol)
    worst = max(found, key=lambda s: s.ratio)
    semilinear = split.kind != "none"
    nl = {}
    if semilinear:
        nl_ratio = max(_ratio(s.nonlinear_radius, s.rate) for s in found)
        dominance = min(_ratio(s.linear_radius, s.nonlinear_radius, zero=math.inf) for s in found)
        nl = dict(nonlinear_radius=max(s.nonlinear_radius for s in found), nonlinear_stiffness_ratio=nl_ratio,
                  nonlinear_stiff=nl_ratio > NONLINEAR_MARGIN * threshold,
                  L_radius=max(s.linear_radius for s in found), dominance=dominance,
                  linear_dominates=dominance >= LINEAR_DOMINANCE)
    a = Analysis(
        model=source, compiled=cm, state_names=cm.state_names, n=n, sparsity=sparsity, split=split,
        params=params, rtol=rtol, t_span=t_span, window=window, semilinear=semilinear, L=lin.L,
        L_structure=lin.structure, bandwidths=lin.bands, L_eigenvalues=lin.eigenvalues,
        L_first_column=lin.first_column, L_spectrum=lin.spectrum, scalar_gain=lin.gain, samples=found,
        stiffness_threshold=threshold, stiffness_ratio=worst.ratio, decay_rate=worst.jacobian.decay,
        solution_rate=worst.rate, stiff=worst.ratio > threshold, second_order=bool(q), hamiltonian=hamiltonian,
        q_indices=q, v_indices=v, max_frequency=max_freq, **nl,
    )
    clock = time.perf_counter()
    a.recommended, a.reasons = choose(a)
    timings["choose"] = time.perf_counter() - clock
    timings["total"] = time.perf_counter() - start
    a.timings = timings
    return a
