"""The Python entry point: check the arguments, make one native call, wrap the result.

Every check happens here, before any native code runs, and raises an error from
:mod:`symdyn.solvers.errors` that names the argument.  Failures during the solve are
returned as a :class:`~symdyn.solvers.solution.Solution` with a ``retcode``.
"""
from __future__ import annotations

import math
import numbers
import operator
import weakref

import numpy as np

from . import _status
from .errors import (
    DTypeError,
    MissingFunctionError,
    NonFiniteValueError,
    OptionError,
    SaveatError,
    ShapeError,
    TimeSpanError,
    ToleranceError,
    UnknownMethodError,
)
from ._emitted import split_records
from .explicit import explicit_fused_dense_solve, explicit_fused_solve, explicit_rk_solve
from .fused import erk_address, needs_pivoting, radau_address, radau_work_size, rosenbrock_address
from .radau import radau_fused_solve, radau_solve
from .rosenbrock import rosenbrock_fused_solve, rosenbrock_solve
from .solution import DenseOutput, PiecewiseDense, RetCode, Solution
from .banded import DENSE_ARGS, BandPlan, band_plan
from .structured import STRUCTURED, solve_auto, solve_structured
from .tableaus import EXPLICIT_METHODS, RADAU_METHODS, ROSENBROCK_METHODS

__all__ = ["solve_compiled", "solve_model", "METHODS"]

#: Hairer's bounds on h*|lambda| above which DOPRI5 / DOP853 call a step stiff (HNW II, Sec. IV.2,
#: and the codes' IDID=-4 tests): about the edge of each method's real stability interval
STIFF_BOUNDS = {"tsit5": 3.25, "dop853": 6.1}
STIFF_BOUND = STIFF_BOUNDS["tsit5"]
#: `auto` goes back to the explicit method when h*||J|| stays below this (an explicit method is
#: stable there with room to spare: Tsit5's real stability interval is about [-3.5, 0])
NONSTIFF_BOUND = 1.0
#: the methods `auto` starts with (Tsit5; DOP853 when rtol <= AUTO_TIGHT_RTOL, where its 8th
#: order needs far fewer steps) and switches to
AUTO_EXPLICIT = "tsit5"
AUTO_EXPLICIT_TIGHT = "dop853"
AUTO_TIGHT_RTOL = 1e-7
AUTO_STIFF = "rodas5p"
#: after a stiffness signal `auto` first runs the stiff method for PROBE_STEPS steps, started at the
#: explicit method's mean step; it keeps it only if its mean step is PROBE_GAIN times longer.  A
#: Rosenbrock step costs a Jacobian, an LU and ~6 right-hand sides, so a problem that is only
#: stability-limited at the edge (Kuramoto-Sivashinsky on 128 points at rtol 1e-8: Rodas5P's steps
#: were *shorter* than DOP853's, 65 ms against 8 ms) stays explicit, while a stiff phase (ROBER,
#: VDPOL: steps 10-1000x longer) switches as before.  Deterministic: step sizes, not timings.
PROBE_STEPS = 20
PROBE_GAIN = 3.0
#: after a probe that did not pay, the explicit method runs this many steps without switching
#: (doubled after each such probe) before stiffness may trigger another probe
PROBE_BACKOFF = 200

#: every method name and its family
METHODS = {
    **{name: "explicit" for name in EXPLICIT_METHODS},
    **{name: "rosenbrock" for name in ROSENBROCK_METHODS},
    **{name: "radau" for name in RADAU_METHODS},
    **STRUCTURED,
    "auto": "auto",
}
#: the native functions each family calls (`auto` uses "jac" when present, for its stiff method)
NEEDS = {"explicit": ("rhs",), "rosenbrock": ("rhs", "jac"), "radau": ("rhs", "jac"), "auto": ("rhs",),
         "etdrk4": ("rhs",), "expms": ("rhs",), "exprb": ("rhs", "jac_csc"), "symplectic": ("rhs",)}
#: families that need the compiled model's structure (:mod:`.structured`), not only addresses
STRUCTURED_FAMILIES = frozenset(STRUCTURED.values())


# --- argument checks ----------------------------------------------------------------------------
def _float_vector(arg, x, n=None):
    """A C-contiguous float64 vector from ``x``: ndarrays must already be float64 (one that is
    1-d and C-contiguous is used as it is), lists/tuples of numbers are converted; ``n`` (if
    given) is the required length."""
    if isinstance(x, np.ndarray):
        if x.dtype != np.float64:
            raise DTypeError(arg, x.dtype)
        # the kernels never write to u0 or p: a valid array is passed as it is, no copy
        a = x if x.ndim == 1 and x.flags.c_contiguous else np.array(x, dtype=np.float64, order="C")
    else:
        try:
            a = np.array(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise DTypeError(arg, type(x).__name__) from None
    if a.ndim != 1 or (n is not None and a.shape[0] != n):
        raise ShapeError(arg, (n,) if n is not None else "(k,)", a.shape)
    return a


def _check_finite(arg, a):
    # the common case cheaply (a ufunc call costs more than a short Python loop); details on failure
    if (all(map(math.isfinite, a.tolist())) if a.size <= 32 else np.isfinite(a).all()):
        return
    bad = np.flatnonzero(~np.isfinite(a))
    raise NonFiniteValueError(arg, int(bad[0]), float(a[bad[0]]))


def _check_t_span(t_span):
    try:
        if len(t_span) != 2:
            raise ValueError
        t0, tf = float(t_span[0]), float(t_span[1])
    except (TypeError, ValueError, KeyError, IndexError):
        raise TimeSpanError(t_span, "not a pair of numbers") from None
    if not (math.isfinite(t0) and math.isfinite(tf)):
        raise TimeSpanError(t_span, "not finite")
    if tf == t0:
        raise TimeSpanError(t_span, "empty (t0 == t_end)")
    if tf < t0:
        raise TimeSpanError(t_span, "reversed (t_end < t0); backward integration is not supported")
    return t0, tf


def _check_saveat(saveat, t0, tf):
    if saveat is None:
        return np.empty(0), True
    if type(saveat) in (list, tuple) and 0 < len(saveat) <= 32 and all(type(x) is float for x in saveat):
        # fast path for a short list of floats: inside the span and strictly increasing (NaN fails
        # every comparison, so the endpoints' bounds and the order imply finite values)
        if t0 <= saveat[0] and saveat[-1] <= tf and all(a < b for a, b in zip(saveat, saveat[1:])):
            return np.array(saveat), False
    s = np.asarray(saveat)
    if s.ndim == 0:
        s = s.reshape(1)
    if s.dtype.kind not in "fiu" or s.ndim != 1 or s.size == 0:
        raise SaveatError(f"must be a non-empty 1-d sequence of times, got shape {s.shape} dtype {s.dtype}")
    s = np.array(s, dtype=np.float64)  # a copy: the output times must not change under the solver
    # fast path: finite, inside the span and strictly increasing (then every point is inside)
    if s.size == 1:
        if t0 <= s[0] <= tf:
            return s, False
    elif (s[0] >= t0 and s[-1] <= tf and (s[1:] > s[:-1]).all()
            and math.isfinite(s[0]) and math.isfinite(s[-1])):
        return s, False
    if not np.all(np.isfinite(s)):
        raise SaveatError("contains non-finite times")
    if s[0] < t0 or s[-1] > tf or np.any(s < t0) or np.any(s > tf):
        raise SaveatError(f"times must lie in t_span [{t0!r}, {tf!r}]; got [{s.min()!r}, {s.max()!r}]")
    if np.any(np.diff(s) <= 0):
        i = int(np.flatnonzero(np.diff(s) <= 0)[0])
        raise SaveatError(f"times must be strictly increasing; saveat[{i}]={s[i]!r} >= saveat[{i + 1}]={s[i + 1]!r}")
    return np.ascontiguousarray(s), False


_EPS = float(np.finfo(float).eps)


_ATOL_VECTORS = {}


def _atol_vector(n, atol):
    """``np.full(n, atol)``, made once per (n, atol) (the kernels never write to it; a few
    microseconds per solve of a small model otherwise)."""
    key = (n, atol)
    a = _ATOL_VECTORS.get(key)
    if a is None:
        if len(_ATOL_VECTORS) >= 64:
            _ATOL_VECTORS.clear()
        a = _ATOL_VECTORS[key] = np.full(n, atol)
    return a


def _check_tolerances(rtol, atol, n):
    if type(rtol) is float and type(atol) is float and 10 * _EPS <= rtol < math.inf and 0.0 <= atol < math.inf:
        return rtol, _atol_vector(n, atol)  # fast path: plain floats, valid
    if not isinstance(rtol, numbers.Real) or not np.isfinite(rtol) or rtol <= 0:
        raise ToleranceError("rtol", rtol, "must be a finite number > 0")
    if rtol < 10 * np.finfo(float).eps:
        raise ToleranceError("rtol", rtol, f"is below 10*machine epsilon ({10 * np.finfo(float).eps:.2g}); float64 cannot deliver it")
    if isinstance(atol, numbers.Real):
        a = np.full(n, float(atol))
    else:
        a = _float_vector("atol", atol, n)
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ToleranceError("atol", atol, "must be finite and >= 0 (a number or one entry per state)")
    return float(rtol), a


def _check_addresses(addresses, family, method):
    if not hasattr(addresses, "get"):
        raise OptionError("addresses", addresses, "must be a dict like {'rhs': int, 'jac': int}")
    for name in NEEDS[family]:
        a = addresses.get(name)
        if type(a) is int and a > 0:  # the common case, without the slower ABC checks below
            continue
        if a is None:
            raise MissingFunctionError(name, method, addresses.keys())
        if not isinstance(a, numbers.Integral) or isinstance(a, bool) or a <= 0:
            raise OptionError(f"addresses[{name!r}]", a, "must be a positive integer function address")


def _check_int(arg, x, lo):
    try:
        v = operator.index(x)
    except TypeError:
        raise OptionError(arg, x, "must be an integer") from None
    if v < lo:
        raise OptionError(arg, x, f"must be >= {lo}")
    return v


# --- the solve ------------------------------------------------------------------------------------
def _run(tab, family, addresses, p, t0, tf, u0, saveat, save_steps, dense, rtol, atol, h0, adaptive,
         max_steps, switch_bound, autonomous, band=None, fused=None):
    """One native call: integrate with one method from t0 until tf (or a switch signal).

    ``fused`` (a compiled model) selects, on a small model, the time loop emitted with the
    model's functions (:mod:`.fused`) when one is available (not for a band plan)."""
    if family == "explicit":
        stepper = erk_address(fused, tab, build=False) if fused is not None else 0
        if stepper and dense:
            code, t, u, ts, us, counters, h, rec = explicit_fused_dense_solve(
                stepper, p, t0, tf, u0, tab.c.shape[0], saveat, save_steps, rtol, atol, h0, adaptive, max_steps,
                switch_bound)
            return (code, t, u, ts, us, counters, *split_records(rec, u.shape[0], tab.c.shape[0]), h)
        if stepper:
            code, t, u, ts, us, counters, h = explicit_fused_solve(
                stepper, p, t0, tf, u0, tab.c.shape[0], saveat, save_steps, rtol, atol, h0, adaptive, max_steps,
                switch_bound)
            return code, t, u, ts, us, counters, None, None, None, None, h
        return explicit_rk_solve(
            addresses["rhs"], p, t0, tf, u0, *tab.native_args(), tab.fsal, tab.order, tab.error_exponent,
            tab.pi_beta, saveat, save_steps, dense, rtol, atol, h0, adaptive, max_steps, switch_bound)
    jac = addresses["jac_csc"] if band is not None else addresses["jac"]
    band_args = band.native_args() if band is not None else DENSE_ARGS
    if family == "radau":
        stepper = radau_address(fused, tab, build=False) if fused is not None and band is None else 0
        if stepper:
            code, t, u, ts, us, counters, h, rec = radau_fused_solve(
                stepper, radau_work_size(fused), p, t0, tf, u0, tab.c.shape[0], saveat, save_steps, rtol, atol, h0,
                adaptive, max_steps, dense)
            if code != _status.NEEDS_PIVOTING:
                return (code, t, u, ts, us, counters, *_records(rec, dense, u.shape[0], tab.c.shape[0]), h)
            needs_pivoting(fused, tab)  # the sparse LU's static pivots failed: this solve again, with pivoting
        return radau_solve(
            addresses["rhs"], jac, p, t0, tf, u0, tab.c, tab.T, tab.TI, tab.gamma, tab.alpha, tab.beta,
            tab.dd, tab.dense, tab.error_exponent, saveat, save_steps, dense, rtol, atol, h0, adaptive, max_steps,
            *band_args)
    stepper = rosenbrock_address(fused, tab, build=False) if fused is not None and band is None else 0
    if stepper:
        code, t, u, ts, us, counters, h, rec = rosenbrock_fused_solve(
            stepper, p, t0, tf, u0, tab.b.shape[0], autonomous, saveat, save_steps, rtol, atol, h0, adaptive,
            max_steps, switch_bound, dense)
        if code != _status.NEEDS_PIVOTING:
            return (code, t, u, ts, us, counters, *_records(rec, dense, u.shape[0], tab.b.shape[0]), h)
        needs_pivoting(fused, tab)  # the sparse LU's static pivots failed: this solve again, with pivoting
    return rosenbrock_solve(
        addresses["rhs"], jac, p, t0, tf, u0, tab.A, tab.C, tab.gamma, tab.c, tab.d, tab.b, tab.e,
        tab.dense, tab.error_exponent, autonomous, saveat, save_steps, dense, rtol, atol, h0, adaptive,
        max_steps, switch_bound, *band_args)


def _records(rec, dense, n, s):
    """The step records ``(rec_t, rec_h, rec_u, rec_k)`` of an emitted loop's ``rec`` rows, or
    four Nones without ``dense``."""
    return split_records(rec, n, s) if dense else (None, None, None, None)


def _tableau(name):
    return EXPLICIT_METHODS.get(name) or ROSENBROCK_METHODS.get(name) or RADAU_METHODS[name]


def solve_compiled(addresses, n, t_span, u0, p, saveat=None, rtol=1e-6, atol=1e-8, method="auto",
                   max_steps=100_000, dense=False, names=None, dt=None, adaptive=True, autonomous=False,
                   band=None, model=None, n_steps=None, fused=None):
    """Integrate ``u' = f(t, u, p)`` given as native functions; one native call per solve.

    Parameters
    ----------
    addresses : dict
        Function addresses, ``{"rhs": int, "jac": int, ...}`` (``cm.addresses``); the C
        signature is ``void f(double t, const double *u, const double *p, double *out)``;
        ``jac`` writes the dense column-major Jacobian (needed by Rosenbrock methods).
    n : int
        Number of states.
    t_span : (t0, t_end)
        Finite, ``t0 < t_end``.
    u0, p : float64 vectors
        Initial state (length ``n``) and parameters.
    saveat : sequence of times, optional
        Output times (strictly increasing, inside ``t_span``), filled by dense interpolation.
        Without it the output is ``t0`` and every accepted step.
    rtol, atol : float, float or vector
        The error of each step is measured in the weighted RMS norm with weights
        ``atol_i + rtol*|u_i|``.
    method : str
        One of :data:`METHODS`.  ``"auto"`` starts with Tsit5, switches to Rodas5P when it
        detects stiffness (if ``addresses`` has ``jac``) and back when the problem is no longer stiff.
    max_steps : int
        Bound on attempted steps; the solve returns ``RetCode.MaxSteps`` beyond it.
    dense : bool
        Keep every step's stages so that ``sol(t)`` works anywhere in the span.
    names : sequence of str, optional
        State names for ``sol["x"]``.
    dt, adaptive :
        ``dt`` is the first step (chosen automatically when None); with ``adaptive=False`` every
        step is ``dt`` (the last one shortened to end at ``t_end``) and no error is estimated.
    autonomous : bool
        True when ``f`` does not depend on ``t``: Rosenbrock methods then skip ``df/dt`` (one
        right-hand side call per Jacobian).
    model : CompiledModel, optional
        The compiled model behind ``addresses`` (``solve_model`` passes it): the exponential and
        symplectic methods (:mod:`.structured`) need its structure, and with it ``auto`` lets
        the analysis (:func:`symdyn.analyze`) pick the method (``sol.reasons`` says why).
    n_steps : int, optional
        The step budget of ``expms`` (fixed steps; without it the steps are doubled until converged).
    fused : CompiledModel, optional
        The compiled model behind ``addresses`` (``solve_model`` passes it): explicit, Rosenbrock
        and Radau methods on a small model then run a time loop emitted as LLVM IR with its
        functions (:mod:`.fused`).  Ignored unless
        ``fused.addresses["rhs"]`` is ``addresses["rhs"]``.
    band : BandPlan, optional
        Rosenbrock methods (and ``auto``'s stiff phase) then evaluate the Jacobian's CSC values
        through ``addresses["jac_csc"]`` and factor ``W`` as a band matrix after reordering
        (:mod:`.banded`); :func:`solve_model` plans this for large banded models.

    Returns
    -------
    Solution
    """
    if method not in METHODS:
        raise UnknownMethodError(method, list(METHODS))
    family = METHODS[method]
    _check_addresses(addresses, family, method)
    n = _check_int("n", n, 1)
    t0, tf = _check_t_span(t_span)
    u0 = _float_vector("u0", u0, n)
    _check_finite("u0", u0)
    p = _float_vector("p", p)
    _check_finite("p", p)
    p_model = p
    if p.size == 0:
        p = np.zeros(1)  # a valid pointer even for parameter-free models
    saveat_arr, save_steps = _check_saveat(saveat, t0, tf)
    rtol, atol_arr = _check_tolerances(rtol, atol, n)
    max_steps = _check_int("max_steps", max_steps, 1)
    if dt is not None and (not isinstance(dt, numbers.Real) or not np.isfinite(dt) or dt <= 0):
        raise OptionError("dt", dt, "must be a finite number > 0")
    if not adaptive and dt is None:
        raise OptionError("dt", dt, "adaptive=False needs a step size dt")
    if not adaptive and family == "auto":
        raise OptionError("adaptive", adaptive, "fixed steps need a named method, not 'auto'")
    if names is not None:
        if not (type(names) is tuple and len(names) == n):  # a model's own names: already checked
            names = tuple(str(x) for x in names)
        if len(names) != n:
            raise ShapeError("names", (n,), (len(names),))
    if family == "auto" and addresses.get("jac") is not None:
        _check_addresses(addresses, "rosenbrock", method)
    if family in STRUCTURED_FAMILIES:
        if model is None:
            raise OptionError("method", method, "needs the compiled model's structure: call cm.solve(...) or "
                              "solve_model(cm, ...), not solve_compiled with bare addresses")
        if dense:
            raise OptionError("dense", dense, f"{method} has no dense output sol(t); use saveat")
        if not adaptive:
            raise OptionError("adaptive", adaptive, f"{method}: give dt (fixed steps) instead")
        return solve_structured(model, method, t0, tf, u0, p_model, saveat_arr, rtol, atol_arr, max_steps, dt,
                                names, n_steps=n_steps)
    if band is not None:
        if not isinstance(band, BandPlan) or band.perm.shape[0] != n:
            raise OptionError("band", band, f"must be a BandPlan for {n} states (symdyn.solvers.banded.band_plan)")
        if family in ("rosenbrock", "radau", "auto"):
            _check_addresses({"rhs": addresses["rhs"], "jac": addresses.get("jac_csc")}, "rosenbrock", method)
    h0 = float(dt) if dt is not None else 0.0
    if fused is not None and getattr(fused, "addresses", {}).get("rhs") != addresses["rhs"]:
        fused = None
    if family == "auto" and model is not None:
        def run_switching(start, named):
            if named is not None:
                return _solve(addresses, METHODS[named], named, n, t0, tf, u0, p, saveat_arr, save_steps, rtol,
                              atol_arr, max_steps, bool(dense), names, h0, True, bool(autonomous), band,
                              fused=fused)
            return _solve(addresses, "auto", "auto", n, t0, tf, u0, p, saveat_arr, save_steps, rtol, atol_arr,
                          max_steps, bool(dense), names, h0, True, bool(autonomous), band, start, fused)
        return solve_auto(model, t0, tf, u0, p_model, saveat_arr, rtol, atol_arr, max_steps, dt, names,
                          run_switching, dense=bool(dense))
    return _solve(addresses, family, method, n, t0, tf, u0, p, saveat_arr, save_steps, rtol, atol_arr,
                  max_steps, bool(dense), names, h0, bool(adaptive), bool(autonomous), band, fused=fused)


def _solve(addresses, family, method, n, t0, tf, u0, p, saveat, save_steps, rtol, atol, max_steps, dense,
           names, h0, adaptive, autonomous, band=None, auto_start="explicit", fused=None):
    """The native calls behind :func:`solve_compiled`, on checked arguments."""
    if family != "auto":
        tab = _tableau(method)
        (code, t_end, u_end, ts, us, counters, rec_t, rec_h, rec_u, rec_k, _) = _run(
            tab, family, addresses, p, t0, tf, u0, saveat, save_steps, dense, rtol, atol, h0, adaptive,
            max_steps, 0.0, autonomous, band, fused)
        dense_output = (DenseOutput(t0, t_end, rec_t, rec_h, rec_u, rec_k, tab.dense, scale_h=family == "explicit")
                        if dense else None)
        stats = dict(zip(_status.STAT_NAMES, counters.tolist()))
        retcode = _RETCODES[code]
        return Solution(ts, us, retcode, (retcode, tab.name, t_end, tf, max_steps, family == "explicit"),
                        stats, tab.name, names=names, dense_output=dense_output, t_reached=t_end, u_end=u_end,
                        segments=[(t0, tab.name)])

    # auto: alternate explicit and Rosenbrock kernels, each stopping with STIFF / NONSTIFF
    can_switch = addresses.get("jac") is not None
    explicit_name = AUTO_EXPLICIT_TIGHT if rtol <= AUTO_TIGHT_RTOL else AUTO_EXPLICIT
    fam = "rosenbrock" if auto_start == "rosenbrock" and can_switch else "explicit"
    t, u = t0, u0
    total = None  # the counters, summed over the segments
    ts_parts, us_parts, pieces, segments = [], [], [], []
    notes = []
    steps_left = max_steps
    paused = False  # stiffness switching paused after a probe that did not pay
    probe, h_next, h_explicit, backoff = False, h0, 0.0, PROBE_BACKOFF
    while True:
        name = explicit_name if fam == "explicit" else AUTO_STIFF
        tab = _tableau(name)
        bound = (STIFF_BOUNDS[name] if can_switch and not paused else 0.0) if fam == "explicit" else NONSTIFF_BOUND
        budget = min(steps_left, PROBE_STEPS if probe else backoff if paused else steps_left)
        (code, t_end, u_end, ts, us, counters, rec_t, rec_h, rec_u, rec_k, h_last) = _run(
            tab, fam, addresses, p, t, tf, u, saveat, save_steps, dense, rtol, atol, h_next,
            True, budget, bound, autonomous, band, fused)
        if segments and save_steps:  # the segment's first point is the previous segment's last
            ts, us = ts[1:], us[1:]
        ts_parts.append(ts)
        us_parts.append(us)
        if not (segments and segments[-1][1] == tab.name):
            segments.append((t, tab.name))
        if dense:
            pieces.append(DenseOutput(t, t_end, rec_t, rec_h, rec_u, rec_k, tab.dense, scale_h=fam == "explicit"))
        total = counters if total is None else total + counters
        steps_left -= int(counters[_status.NSTEPS])
        t, u = t_end, u_end
        if not save_steps and code != _status.SUCCESS:  # a next segment starts here
            saveat = saveat[saveat > t]
        if code == _status.MAX_STEPS and steps_left > 0 and (probe or paused):
            if probe:  # the probe ran its steps: keep the stiff method only if it steps much further
                probe = False
                if h_last >= PROBE_GAIN * h_explicit:
                    h_next = h_last
                    continue
                notes.append(f"auto: at t = {t:.6g} {explicit_name} was stability-limited, but {AUTO_STIFF}'s "
                             f"steps grew only to {h_last / h_explicit:.2g}x its step (< {PROBE_GAIN:g}x: not "
                             f"worth a Jacobian and an LU per step); {explicit_name} for {backoff} steps "
                             "without stiffness switching")
                paused, fam, h_next = True, "explicit", h_explicit
            else:  # the explicit method ran its steps without switching: allow switching again
                paused, h_next, backoff = False, h_last, 2 * backoff
            continue
        probe = False
        if code not in (_status.STIFF, _status.NONSTIFF):
            break
        if steps_left <= 0:
            code = _status.MAX_STEPS
            break
        if code == _status.STIFF:
            fam, probe = "rosenbrock", True
            h_explicit = h_next = h_last
        else:
            fam, h_next = "explicit", 0.0
    used = []
    for _, name in segments:
        if name not in used:
            used.append(name)
    label = "+".join(used)
    ts = ts_parts[0] if len(ts_parts) == 1 else np.concatenate(ts_parts)
    us = us_parts[0] if len(us_parts) == 1 else np.concatenate(us_parts)
    dense_output = None
    if dense:
        dense_output = pieces[0] if len(pieces) == 1 else PiecewiseDense(pieces)
    stats = dict(zip(_status.STAT_NAMES, total.tolist()))
    retcode = _RETCODES[code]
    sol = Solution(ts, us, retcode, (retcode, label, t, tf, max_steps, fam == "explicit"), stats, label,
                   names=names, dense_output=dense_output, t_reached=t, u_end=u, segments=segments)
    sol.reasons = [f"auto (switching): {name} from t = {t_start:.6g}" for t_start, name in segments] + notes
    return sol


_RETCODES = {int(r): r for r in RetCode}
#: per compiled model: what solve_model derives from it once ({"defaults": ..., "autonomous": ...,
#: "band": ...}); weak keys, so a model's entry goes with the model
_PER_MODEL = weakref.WeakKeyDictionary()


def _per_model(cm, key, make):
    """``make(cm)``, computed once per compiled model and ``key`` (objects that cannot be weakly
    referenced are computed every time)."""
    try:
        entry = _PER_MODEL[cm]
    except KeyError:
        entry = {}
        try:
            _PER_MODEL[cm] = entry
        except TypeError:
            return make(cm)
    except TypeError:
        return make(cm)
    try:
        return entry[key]
    except KeyError:
        value = entry[key] = make(cm)
        return value


def _band_for(cm):
    """The band plan of a compiled model's Jacobian pattern, or None (computed once per model)."""
    return _per_model(cm, "band", _make_band)


def _make_band(cm):
    pattern = getattr(cm, "jac_pattern", None)
    if pattern is not None and "jac_csc" in getattr(cm, "addresses", {}):
        return band_plan(pattern, cm.n)
    return None


def _defaults(cm):
    """``(u0, p0, names)`` of a compiled model, made once (the kernels never write to them);
    None where a value is missing, so that the model's own accessors raise the named error."""
    return _per_model(cm, "defaults", _make_defaults)


def _make_defaults(cm):
    try:
        u0 = np.array(cm.u0, dtype=np.float64)
    except Exception:  # noqa: BLE001 - e.g. MissingValueError: raised again where it is used
        u0 = None
    try:
        p0 = np.array(cm.p0, dtype=np.float64)
        p0 = p0 if p0.size else None
    except Exception:  # noqa: BLE001
        p0 = None
    names = getattr(cm, "state_names", None)
    return u0, p0, tuple(names) if names is not None else None


def _is_autonomous(cm):
    """Whether the compiled model's right-hand side is free of ``t`` (computed once per model)."""
    return _per_model(cm, "autonomous", _make_autonomous)


def _make_autonomous(cm):
    try:
        model = cm.model
        return (not any(expr.has(model.t) for expr in model.rhs)
                and not any(expr.has(model.t) for expr in model.observed_exprs.values()))
    except AttributeError:
        return False


def solve_model(cm, t_span, u0=None, p=None, saveat=None, rtol=1e-6, atol=1e-8, method="auto",
                max_steps=100_000, dense=False, **options):
    """:func:`solve_compiled` for a compiled model ``cm`` (``symdyn.compile(model)``).

    ``u0`` and ``p`` default to the model's declared values and may be arrays (in
    ``cm.state_names`` / ``cm.param_names`` order) or ``{name: value}`` dicts (checked by
    ``cm.state_array`` / ``cm.params_array`` when the model has them).  Autonomy (no ``t`` in the
    equations) is detected once per model so that Rosenbrock methods skip ``df/dt``.  Other
    options (``names``, ``dt``, ``adaptive``) are passed on.
    """
    defaults = _defaults(cm)
    if u0 is None:
        u0 = defaults[0] if defaults[0] is not None else cm.u0  # (cm.u0 names the missing values)
    elif hasattr(cm, "state_array"):
        u0 = cm.state_array(u0, "u0")
    if p is None and defaults[1] is not None:
        p = defaults[1]
    elif hasattr(cm, "params_array"):
        p = cm.params_array(p)
    elif p is None:
        p = cm.p0
    names = options.pop("names", defaults[2])
    options.setdefault("autonomous", _is_autonomous(cm))
    if hasattr(cm, "source_model") and "jac_csc" in getattr(cm, "addresses", {}):
        options.setdefault("model", cm)
    if hasattr(cm, "programs"):
        options.setdefault("fused", cm)
    if "band" not in options and METHODS.get(method) in ("rosenbrock", "radau", "auto"):
        options["band"] = _band_for(cm)
    return solve_compiled(cm.addresses, cm.n, t_span, u0, p, saveat=saveat, rtol=rtol, atol=atol,
                          method=method, max_steps=max_steps, dense=dense, names=names, **options)
