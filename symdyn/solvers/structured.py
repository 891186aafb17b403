"""Methods that need a model's structure, not only its addresses, and ``auto`` driven by the analysis.

The exponential integrators need the split ``u' = L u + N(u, t)`` (``L`` as data, ``N`` compiled
as a model of its own); the symplectic ones need to know which states are coordinates and which
velocities.  Both come from :func:`symdyn.analyze`, so these methods are reached through
:func:`symdyn.solvers.solve_model` (``cm.solve``), not through bare addresses:

- ``etdrk4``: :func:`.exponential.etdrk4_solve` (adaptive) with ``L`` diagonal, circulant,
  block-circulant or dense;
- ``expms`` (order 2; ``expms1``/``expms2``/``expms3``): :func:`.exponential.expms_solve` for
  ``L = a(t) I``.  It takes fixed steps; with ``n_steps``/``dt`` that budget is used, otherwise the
  number of steps is doubled from :data:`EXPMS_START_STEPS` until two successive solutions agree
  within the tolerances (a global error estimate, Richardson-style);
- ``exprb32``/``exprb43``: :func:`.exprb.exprb_solve` (Krylov, any model);
- ``verlet``/``yoshida4``: :func:`.symplectic.symplectic_solve` at fixed steps; without ``dt``
  the step is halved from :func:`.symplectic.choose_dt`'s until two successive solutions agree
  within the tolerances at every output time.

``auto`` (:func:`solve_auto`): the analysis recommends a method (``a.recommended`` with
``a.reasons``); explicit and implicit recommendations run the switching ``auto`` of
:mod:`.solve` starting in the recommended family (so a wrong guess is still corrected on the
fly), the others run here.  The analysis is cached per compiled model, parameter values,
tolerance and span length.
"""
from __future__ import annotations

import math
import weakref

import numpy as np

from . import _status as st
from .errors import OptionError
from .solution import RetCode, Solution, _message

__all__ = ["STRUCTURED", "solve_structured", "solve_auto", "analysis_for"]

#: method name -> family, for the methods of this module
STRUCTURED = {
    "etdrk4": "etdrk4", "expms": "expms", "expms1": "expms", "expms2": "expms", "expms3": "expms",
    "exprb32": "exprb", "exprb43": "exprb", "verlet": "symplectic", "yoshida4": "symplectic",
}
#: expms without a step budget: start with this many steps, double until converged
EXPMS_START_STEPS = 16
#: ... at most this many; beyond, auto falls back to the switching explicit/Rosenbrock method (the
#: split's N then varies on the scale of a(t), so the exponential weights gain nothing)
EXPMS_MAX_STEPS = 4096
#: symplectic without dt: halve the step at most this many times
SYMPLECTIC_MAX_HALVINGS = 12
#: auto uses expms3 below this rtol (expms2 above: more robust with very few steps)
EXPMS3_RTOL = 1e-4
#: the theoretical orders used in the Richardson error estimates
ORDERS = {"verlet": 2, "yoshida4": 4, "expms1": 1, "expms2": 2, "expms3": 3}

_ANALYSES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_N_MODELS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def analysis_for(cm, t_span, rtol, p):
    """``sd.analyze(cm, p=p, t_span=t_span, rtol=rtol)``, cached per model (the key is the
    parameter values, ``rtol`` and the span's length)."""
    pv = p.tolist() if type(p) is np.ndarray and p.dtype == np.float64 else np.asarray(p, dtype=float).tolist()
    key = (tuple(pv), float(rtol), float(t_span[1] - t_span[0]))
    per_model = _ANALYSES.get(cm)
    if per_model is None:
        per_model = _ANALYSES[cm] = {}
    a = per_model.get(key)
    if a is None:
        from ..analysis import analyze  # (an import statement per call costs more than the lookup)

        pdict = dict(zip(cm.param_names, np.asarray(p, dtype=float).tolist())) if cm.param_names else None
        a = analyze(cm, p=pdict, t_span=(float(t_span[0]), float(t_span[1])), rtol=float(rtol))
        if len(per_model) > 16:
            per_model.clear()
        per_model[key] = a
    return a


def _nonlinear_compiled(cm, a):
    """The compiled ``N`` of the analysis ``a`` (cached per model and parameter values)."""
    from ..compiled import cached_compile

    key = tuple(sorted(a.params.items())) if getattr(a, "params", None) else ()
    per_model = _N_MODELS.setdefault(cm, {})
    cmN = per_model.get(key)
    if cmN is None:
        cmN = cached_compile(a.nonlinear_model(), jacobian=False)
        per_model[key] = cmN
    return cmN


def _weighted_error(u1, u2, rtol, atol):
    """``max over rows of RMS((u1 - u2) / (atol + rtol * max(|u1|, |u2|)))``."""
    sc = atol + rtol * np.maximum(np.abs(u1), np.abs(u2))
    return float(np.max(np.sqrt(np.mean(((u1 - u2) / sc) ** 2, axis=-1))))


def _with(sol, reasons=None, method=None):
    if reasons is not None:
        sol.reasons = list(reasons)
    if method is not None:
        sol.method = method
    return sol


def _from_tuple(res, method, tf, max_steps, names, t0):
    code, t_end, u_end, ts, us, counters = res[:6]
    stats = dict(zip(st.STAT_NAMES, (int(x) for x in counters)))
    retcode = RetCode(code)
    return Solution(ts, us, retcode, _message(retcode, method, t_end, tf, max_steps, False), stats, method,
                    names=names, t_reached=t_end, u_end=u_end, segments=[(t0, method)])


def solve_structured(cm, method, t0, tf, u0, p, saveat, rtol, atol, max_steps, dt, names, analysis=None,
                     n_steps=None):
    """Solve with one of :data:`STRUCTURED` (arguments already checked by ``solve_model``).

    >>> import symdyn as sd
    >>> m = sd.Model("osc"); q, v = m.states("q v", init=[1.0, 0.0])
    >>> m.eq(sd.D(q), v); m.eq(sd.D(v), -q)
    >>> sol = sd.compile(m).solve((0.0, 6.283185307179586), method="yoshida4", rtol=1e-8, atol=1e-10)
    >>> round(float(sol.u[-1, 0]), 6)
    1.0
    """
    family = STRUCTURED[method]
    a = analysis if analysis is not None else analysis_for(cm, (t0, tf), rtol, p)
    if family == "symplectic":
        return _symplectic(cm, method, a, t0, tf, u0, p, saveat, rtol, atol, max_steps, dt, names)
    if family == "exprb":
        from .exprb import exprb_solve

        pat = cm.jac_pattern
        res = exprb_solve(cm.addresses["rhs"], cm.addresses["jac_csc"], np.asarray(pat.indptr, np.int64),
                          np.asarray(pat.indices, np.int64), p if p.size else np.zeros(1), t0, tf, u0, rtol, atol,
                          saveat if saveat.size else None, dt, True, max_steps, method=method)
        return _from_tuple(res, method, tf, max_steps, names, t0)
    if not a.semilinear:
        raise OptionError("method", method, f"needs a semilinear model u' = L u + N(u, t); the analysis of "
                          f"{cm.name!r} found none (use 'auto', 'rodas5p' or 'exprb43')")
    op = a.linear_operator()
    cmN = _nonlinear_compiled(cm, a)
    pN = cmN.p0 if cmN.n_params else np.zeros(1)
    if family == "etdrk4":
        from .exponential import etdrk4_solve

        kind = op["kind"]
        if kind == "diagonal":
            data = np.asarray(op["eigenvalues"]).real.astype(float)
        elif kind in ("circulant", "block_circulant"):
            data = np.asarray(op["first_column"], dtype=float)
        elif kind == "scalar(t)":
            raise OptionError("method", method, "L = a(t) I depends on t: use 'expms' (or 'auto')")
        else:  # banded / sparse / dense: small enough for dense phi-functions (the analysis checks n)
            M = op["matrix"]
            data = np.asarray(M.toarray() if hasattr(M, "toarray") else M, dtype=float)
            kind = "dense"
        return etdrk4_solve(cmN.addresses["rhs"], pN, t0, tf, u0, kind, data, rtol=rtol, atol=atol,
                            saveat=saveat if saveat.size else None, dt=dt, adaptive=True, max_steps=max_steps,
                            names=names)
    return _expms(cm, method, a, op, cmN, pN, t0, tf, u0, saveat, rtol, atol, dt, names, n_steps)


def _expms(cm, method, a, op, cmN, pN, t0, tf, u0, saveat, rtol, atol, dt, names, n_steps):
    from .exponential import expms_solve

    if op["kind"] != "scalar(t)":
        raise OptionError("method", method, f"needs L = a(t) I; {cm.name!r} has L {op['kind']} (use 'etdrk4')")
    order = 2 if method == "expms" else int(method[-1])
    name = f"expms{order}"
    a_vec, A_vec, A_fn = _scalar_functions(cm, op)

    span = tf - t0
    out_t = saveat if saveat.size else None

    def run(k):
        grid = np.linspace(t0, tf, k + 1)
        if out_t is not None:  # saveat times are grid points: merge them in
            grid = np.unique(np.concatenate([grid, out_t]))
        return expms_solve(cmN.addresses["rhs"], pN, t0, tf, u0, a=a_vec, A=A_vec if A_fn else None,
                           t_grid=grid, order=order, saveat=out_t, names=names)

    if n_steps is not None or dt is not None:
        k = int(n_steps) if n_steps is not None else max(1, math.ceil(span / dt - 1e-9))
        return _with(run(k), method=name)
    k = EXPMS_START_STEPS
    prev = run(k)
    nfev = prev.stats["nfev"]
    while True:
        k *= 2
        sol = run(k)
        nfev += sol.stats["nfev"]
        if not sol.success or not prev.success:
            break
        est = _weighted_error(sol.u, prev.u, rtol, atol) / (2.0 ** ORDERS[name] - 1.0)
        if est <= 1.0:
            sol.converged = True
            break
        if k >= EXPMS_MAX_STEPS:
            break
        prev = sol
    sol.converged = getattr(sol, "converged", False)
    sol.stats["nfev_total"] = nfev
    return _with(sol, method=name)


_SCALARS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _scalar_functions(cm, op):
    """Vectorised ``a(t)`` and ``A(t)`` (antiderivative, or None) of ``L = a(t) I``; the same
    function objects for the same operator, so that the weight cache of ``expms_solve`` hits."""
    import sympy as sp

    key = (op["scalar"], op["scalar_integral"])
    per_model = _SCALARS.setdefault(cm, {})
    hit = per_model.get(key)
    if hit is None:
        t = op["t"]
        a_fn = sp.lambdify(t, op["scalar"], "numpy")
        A_fn = sp.lambdify(t, op["scalar_integral"], "numpy") if op["scalar_integral"] is not None else None

        def a_vec(ts):
            return np.broadcast_to(np.asarray(a_fn(ts), dtype=float), np.shape(ts)).copy()

        def A_vec(ts):
            return np.broadcast_to(np.asarray(A_fn(ts), dtype=float), np.shape(ts)).copy()

        hit = per_model[key] = (a_vec, A_vec, A_fn)
    return hit


def _symplectic(cm, method, a, t0, tf, u0, p, saveat, rtol, atol, max_steps, dt, names):
    from .symplectic import choose_dt, symplectic_solve

    if not a.hamiltonian:
        raise OptionError("method", method, f"needs a separable second-order system q' = v, v' = F(q); "
                          f"the analysis of {cm.name!r} found none")
    q_idx = np.asarray(a.q_indices, np.int64)
    v_idx = np.asarray(a.v_indices, np.int64)
    pp = p if p.size else np.zeros(1)
    sv = saveat if saveat.size else None

    def run(h):
        res = symplectic_solve(cm.addresses["rhs"], pp, t0, tf, u0, q_idx, v_idx, h, sv, method=method,
                               max_steps=max_steps, check=False)
        sol = _from_tuple(res, method, tf, max_steps, names, t0)
        sol.dt = h
        return sol

    if dt is not None:
        return run(float(dt))
    # global error control: halve the step until two solutions agree at every output time
    h = choose_dt(cm.addresses["rhs"], pp, t0, tf, u0, q_idx, v_idx)
    prev = run(h)
    nfev = prev.stats["nfev"]
    compare = (lambda s: s.u) if sv is not None else (lambda s: s.u[-1:])
    for _ in range(SYMPLECTIC_MAX_HALVINGS):
        h /= 2.0
        sol = run(h)
        nfev += sol.stats["nfev"]
        if not (sol.success and prev.success):
            break
        est = _weighted_error(compare(sol), compare(prev), rtol, atol) / (2.0 ** ORDERS[method] - 1.0)
        if est <= 1.0:
            break
        prev = sol
    sol.stats["nfev_total"] = nfev
    return sol


def solve_auto(cm, t0, tf, u0, p, saveat, rtol, atol, max_steps, dt, names, run_switching, dense=False):
    """``method="auto"`` for a compiled model: the analysis picks; see the module docstring.

    ``run_switching(start, method)`` runs the switching ``auto`` of :mod:`.solve` starting in the
    family ``start`` ("explicit" or "rosenbrock"), or the named implicit ``method`` when given.
    """
    a = analysis_for(cm, (t0, tf), rtol, p)
    rec = a.recommended
    extra = []
    switching = False  # the switching run says where each method took over (and why it stayed)
    if rec in STRUCTURED and not dense:
        if rec == "expms" and rtol < EXPMS3_RTOL:  # many steps anyway: the 3rd-order method needs fewer
            rec = "expms3"
            extra.append(f"rtol {rtol:g} < {EXPMS3_RTOL:g}: the 3rd-order multistep method (expms3)")
        sol = solve_structured(cm, rec, t0, tf, u0, p, saveat, rtol, atol, max_steps, dt, names, analysis=a)
        if rec.startswith("expms") and dt is None and not getattr(sol, "converged", True):
            extra.append(f"{rec} had not converged to rtol {rtol:g} with {EXPMS_MAX_STEPS} steps (N changes as "
                         "fast as a(t)): the switching explicit/Rosenbrock method instead")
            sol, switching = run_switching("explicit", None), True
    elif rec == "radau5":
        sol = run_switching(None, "radau5")
    elif rec in ("rodas5p",):
        sol, switching = run_switching("rosenbrock", None), True
    else:  # explicit recommendations (and structured ones when dense output is asked for)
        if rec in STRUCTURED:
            extra = [f"dense output (sol(t)) was asked for, which {rec} does not provide: the switching "
                     "explicit/Rosenbrock method instead"]
        sol, switching = run_switching("explicit", None), True
    return _with(sol, reasons=list(a.reasons) + extra + (list(sol.reasons) if switching else []))
