"""Tests of symdyn.solvers against exact solutions (tests/data/exact.json).

Right-hand sides are numba cfuncs with the code generator's C signature
``void f(double t, const double *u, const double *p, double *out)``; parameters and reference
values come from the json (never retyped).  Orders are measured at fixed step sizes as the
slope of log(error) against log(h) and compared with theory (+-0.2).
"""
import ast
import math
import pathlib
import time

import numba
import numpy as np
import pytest

from symdyn.errors import ArgumentError, DTypeError, ShapeError, UnknownNameError
from symdyn.solvers import (
    EXPLICIT_METHODS,
    DP5,
    ExplicitRKTableau,
    RetCode,
    TableauError,
    solve_compiled,
)
from symdyn.solvers import errors as E

from refdata import PROBLEMS, variant
SIG = "void(float64, CPointer(float64), CPointer(float64), CPointer(float64))"



def samples(entries, key="u"):
    """(times, values) arrays from a list of {"t": ..., "u": [...]} samples."""
    t = np.array([float(s["t"]) for s in entries])
    u = np.array([[float(x) for x in s[key]] for s in entries])
    return t, u


# --- right-hand sides -------------------------------------------------------------------------
@numba.cfunc(SIG)
def linear_sin(t, u, p, du):  # u' = lambda*u + sin(t)
    du[0] = p[0] * u[0] + math.sin(t)


@numba.cfunc(SIG)
def bernoulli(t, u, p, du):  # u' = lambda*u + u^2
    du[0] = p[0] * u[0] + u[0] * u[0]


@numba.cfunc(SIG)
def linear3(t, u, p, du):  # u' = A u, A row-major in p
    for i in range(3):
        du[i] = p[3 * i] * u[0] + p[3 * i + 1] * u[1] + p[3 * i + 2] * u[2]


@numba.cfunc(SIG)
def prothero_robinson(t, u, p, du):  # y' = lambda*(y - sin t) + cos t
    du[0] = p[0] * (u[0] - math.sin(t)) + math.cos(t)


@numba.cfunc(SIG)
def blow_up(t, u, p, du):  # u' = u^2, u(0) = 1: u = 1/(1-t) is infinite at t = 1
    du[0] = u[0] * u[0]


@numba.cfunc(SIG)
def nan_after_half(t, u, p, du):  # a model that leaves its domain at t = 0.5
    du[0] = math.sqrt(0.5 - t) if t <= 0.5 else math.nan


@numba.cfunc(SIG)
def lorenz(t, u, p, du):
    du[0] = p[0] * (u[1] - u[0])
    du[1] = u[0] * (p[1] - u[2]) - u[1]
    du[2] = u[0] * u[1] - p[2] * u[2]


def lambert_matrix():
    eq = PROBLEMS["linear3_lambert"]["equations"][1]  # "A = [[...]]"
    return np.array(ast.literal_eval(eq.split("=", 1)[1].strip()), dtype=float)


LINEAR_SIN = variant("scalar_linear_sin", **{"lambda": -1, "u0": 1})
BERNOULLI = variant("semilinear_bernoulli", **{"lambda": -10, "u0": 1})
LAMBERT = PROBLEMS["linear3_lambert"]


def observed_order(hs, errs):
    return np.polyfit(np.log(hs), np.log(errs), 1)[0]


# --- tableaus ---------------------------------------------------------------------------------
def test_tableaus_cite_sources_and_have_consistent_shapes():
    for tab in EXPLICIT_METHODS.values():
        assert tab.source and tab.A.shape == (tab.s_total, tab.s_total) and tab.dense.shape[0] == tab.s_total


def test_broken_tableau_is_rejected():
    A = DP5.A.copy()
    A[3, 1] += 1e-6  # a transcription error: row 3 no longer sums to c[3]
    with pytest.raises(TableauError, match="row 3"):
        ExplicitRKTableau(name="broken", order=5, embedded_order=4, A=A, c=DP5.c, b=DP5.b, e=DP5.e,
                          dense=DP5.dense, dense_order=4, fsal=True, source="test", error_exponent=5.0)
    b = DP5.b.copy()
    b[2] += 1e-6
    b[3] -= 1e-6  # still sums to one, but breaks the higher order conditions
    with pytest.raises(TableauError, match="order condition"):
        ExplicitRKTableau(name="broken", order=5, embedded_order=4, A=DP5.A, c=DP5.c, b=b, e=DP5.e,
                          dense=DP5.dense, dense_order=4, fsal=False, source="test", error_exponent=5.0)


# --- convergence order at fixed steps -----------------------------------------------------------
# (problem, method, step counts) chosen so that errors stay well above round-off
ORDER_CASES = [
    ("tsit5", "linear_sin", [80, 160, 320, 640]),
    ("dp5", "linear_sin", [80, 160, 320, 640]),
    ("dp5", "bernoulli_slow", [10, 20, 40, 80]),
    ("dop853", "bernoulli", [8, 12, 16, 24]),
]


def problem_setup(name):
    """(rhs address, u0, p, t_end, exact u(t_end)) for the fixed-step order tests."""
    if name == "linear_sin":  # on [0, 10]: Tsit5's tiny 5th-order error constant needs long runs
        t, u = samples(LINEAR_SIN["samples"])
        i = int(np.flatnonzero(t == 10.0)[0])
        return linear_sin.address, [float(LINEAR_SIN["u0"])], [float(LINEAR_SIN["lambda"])], 10.0, u[i]
    if name == "bernoulli":
        t, u = samples(BERNOULLI["samples"])
        i = int(np.flatnonzero(t == 1.0)[0])
        return bernoulli.address, [float(BERNOULLI["u0"])], [float(BERNOULLI["lambda"])], 1.0, u[i]
    if name == "bernoulli_slow":
        v = variant("semilinear_bernoulli", **{"lambda": -1, "u0": 0.5})
        t, u = samples(v["samples"])
        i = int(np.flatnonzero(t == 5.0)[0])
        return bernoulli.address, [float(v["u0"])], [float(v["lambda"])], 5.0, u[i]
    if name == "lambert":
        t, u = samples(LAMBERT["samples"])
        i = int(np.flatnonzero(t == 1.0)[0])
        return linear3.address, [1.0, 0.0, -1.0], lambert_matrix().ravel(), 1.0, u[i]
    raise KeyError(name)


@pytest.mark.parametrize("method,problem,steps", ORDER_CASES)
def test_convergence_order_fixed_step(method, problem, steps):
    addr, u0, p, tf, exact = problem_setup(problem)
    hs, errs = [], []
    for k in steps:
        sol = solve_compiled({"rhs": addr}, len(u0), (0.0, tf), u0, p, method=method, dt=tf / k, adaptive=False)
        assert sol.success, sol.message
        assert sol.stats["nsteps"] == k
        hs.append(tf / k)
        errs.append(np.abs(sol.u[-1] - exact).max())
    order = observed_order(hs, errs)
    assert abs(order - EXPLICIT_METHODS[method].order) <= 0.2, (errs, order)


@pytest.mark.parametrize("method", ["tsit5", "dp5", "dop853"])
def test_dense_output_order(method):
    """Interpolated values between steps converge with the order of the continuous extension
    (local error h^(dense_order+1))."""
    tab = EXPLICIT_METHODS[method]
    t, u = samples(LINEAR_SIN["samples"])
    # one step of size h from the exact state at t=0; compare the interpolant at theta=0.37
    hs, errs = [], []
    for h in (0.4, 0.2, 0.1):
        sol = solve_compiled({"rhs": linear_sin.address}, 1, (0.0, h), [1.0], [-1.0], method=method,
                             dt=h, adaptive=False, saveat=[0.37 * h, h], dense=True)
        lam, u0 = -1.0, 1.0
        tt = 0.37 * h
        exact = math.exp(lam * tt) * (u0 + 1 / (1 + lam**2)) - (lam * math.sin(tt) + math.cos(tt)) / (1 + lam**2)
        hs.append(h)
        errs.append(abs(sol.u[0, 0] - exact))
        assert abs(sol(tt)[0] - sol.u[0, 0]) < 1e-15  # sol(t) and saveat use the same interpolant
    order = observed_order(hs, errs)
    assert order >= tab.dense_order + 1 - 0.2, (errs, order)


def test_exact_formula_used_above_matches_json():
    t, u = samples(LINEAR_SIN["samples"])
    lam, u0 = float(LINEAR_SIN["lambda"]), float(LINEAR_SIN["u0"])
    f = np.exp(lam * t) * (u0 + 1 / (1 + lam**2)) - (lam * np.sin(t) + np.cos(t)) / (1 + lam**2)
    np.testing.assert_allclose(f, u[:, 0], rtol=1e-14)


# --- adaptive accuracy --------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["tsit5", "dp5", "dop853", "auto"])
def test_adaptive_error_shrinks_with_rtol(method):
    t, u = samples(LAMBERT["samples"])
    errs = []
    for rtol in (1e-4, 1e-7, 1e-10):
        sol = solve_compiled({"rhs": linear3.address}, 3, (0.0, 1.0), [1.0, 0.0, -1.0], lambert_matrix().ravel(),
                             saveat=t, rtol=rtol, atol=rtol * 1e-3, method=method)
        assert sol.success, sol.message
        np.testing.assert_array_equal(sol.t, t)
        errs.append(np.abs(sol.u - u).max())
        assert errs[-1] < 1000 * rtol, (rtol, errs)
    assert errs[0] > errs[1] > errs[2]
    assert errs[0] / errs[2] > 1e3


def test_saveat_and_every_step_output_agree():
    t, u = samples(BERNOULLI["samples"])
    addr, p = bernoulli.address, [float(BERNOULLI["lambda"])]
    a = solve_compiled({"rhs": addr}, 1, (0.0, 5.0), [1.0], p, rtol=1e-9, atol=1e-12, method="tsit5")
    b = solve_compiled({"rhs": addr}, 1, (0.0, 5.0), [1.0], p, rtol=1e-9, atol=1e-12, method="tsit5", saveat=a.t)
    assert a.t[0] == 0.0 and a.t[-1] == 5.0 and len(a.t) == a.stats["naccept"] + 1
    np.testing.assert_allclose(b.u, a.u, rtol=0, atol=1e-14)  # output does not change the steps
    c = solve_compiled({"rhs": addr}, 1, (0.0, 5.0), [1.0], p, rtol=1e-9, atol=1e-12, method="tsit5", saveat=t)
    np.testing.assert_allclose(c.u, u, rtol=1e-6, atol=1e-11)


def test_dense_solution_call_and_names():
    sol = solve_compiled({"rhs": lorenz.address}, 3, (0.0, 1.0), [1.0, 0.0, 0.0], [10.0, 28.0, 8 / 3],
                         rtol=1e-10, atol=1e-12, method="dop853", dense=True, names=["x", "y", "z"],
                         saveat=np.linspace(0.0, 1.0, 7))
    np.testing.assert_allclose(sol(sol.t), sol.u, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(sol["y"], sol.u[:, 1])
    assert sol.y.shape == (3, 7)
    with pytest.raises(UnknownNameError):
        sol["w"]
    with pytest.raises(ValueError):
        sol(1.5)
    assert set(sol.stats) == {"nfev", "njev", "nsteps", "naccept", "nreject", "nlu"}


def test_lorenz_reference_two_methods_agree():
    p = [10.0, 28.0, 8 / 3]
    a = solve_compiled({"rhs": lorenz.address}, 3, (0.0, 10.0), [1.0, 0.0, 0.0], p, rtol=1e-12, atol=1e-14,
                       method="dop853", saveat=[10.0])
    b = solve_compiled({"rhs": lorenz.address}, 3, (0.0, 10.0), [1.0, 0.0, 0.0], p, rtol=1e-12, atol=1e-14,
                       method="tsit5", saveat=[10.0])
    c = solve_compiled({"rhs": lorenz.address}, 3, (0.0, 10.0), [1.0, 0.0, 0.0], p, rtol=1e-8, atol=1e-10,
                       method="dop853", saveat=[10.0])
    assert np.abs(a.u - b.u).max() / np.abs(a.u).max() < 1e-9
    assert np.abs(c.u - a.u).max() / np.abs(a.u).max() < 1e-6


# --- failures return a status, in bounded time ---------------------------------------------------
def test_blow_up_stops_with_status():
    t = time.perf_counter()
    sol = solve_compiled({"rhs": blow_up.address}, 1, (0.0, 2.0), [1.0], [], method="tsit5")
    assert time.perf_counter() - t < 5
    assert not sol.success
    assert sol.retcode in (RetCode.StepSizeTooSmall, RetCode.NonFinite)
    assert 0.99 < sol.t_reached < 1.01  # u = 1/(1-t) is beyond float range within round-off of t = 1
    assert "t = " in sol.message


def test_nan_in_rhs_returns_nonfinite():
    sol = solve_compiled({"rhs": nan_after_half.address}, 1, (0.0, 1.0), [0.0], [], method="dp5")
    assert sol.retcode == RetCode.NonFinite
    assert sol.t_reached <= 0.5 and "NaN" in sol.message


def test_nan_at_start_returns_nonfinite():
    sol = solve_compiled({"rhs": nan_after_half.address}, 1, (0.6, 1.0), [0.0], [], method="tsit5")
    assert sol.retcode == RetCode.NonFinite and sol.stats["nsteps"] == 0


def test_stiff_problem_on_explicit_method_hits_max_steps():
    v = variant("prothero_robinson", **{"lambda": -1e6, "y0": 0})
    t = time.perf_counter()
    sol = solve_compiled({"rhs": prothero_robinson.address}, 1, (0.0, 10.0), [float(v["y0"])],
                         [float(v["lambda"])], method="tsit5", max_steps=5000)
    assert time.perf_counter() - t < 5
    assert sol.retcode == RetCode.MaxSteps and sol.stats["nsteps"] == 5000
    assert "max_steps" in sol.message and "implicit" in sol.message


# --- bad input raises before any native call --------------------------------------------------------
GOOD = dict(addresses={"rhs": 1}, n=1, t_span=(0.0, 1.0), u0=np.array([1.0]), p=np.array([1.0]))


@pytest.mark.parametrize("change,error", [
    (dict(t_span=(1.0, 0.0)), E.TimeSpanError),
    (dict(t_span=(1.0, 1.0)), E.TimeSpanError),
    (dict(t_span=(0.0, math.inf)), E.TimeSpanError),
    (dict(t_span=(0.0,)), E.TimeSpanError),
    (dict(u0=np.array([math.nan])), E.NonFiniteValueError),
    (dict(u0=np.array([1.0, 2.0])), ShapeError),
    (dict(u0=np.array([[1.0]])), ShapeError),
    (dict(u0=np.array([1], dtype=np.int64)), DTypeError),
    (dict(u0=np.array([1.0], dtype=np.float32)), DTypeError),
    (dict(p=np.array([math.inf])), E.NonFiniteValueError),
    (dict(rtol=0.0), E.ToleranceError),
    (dict(rtol=-1e-6), E.ToleranceError),
    (dict(rtol=math.nan), E.ToleranceError),
    (dict(atol=-1.0), E.ToleranceError),
    (dict(atol=np.array([1e-8, 1e-8])), ShapeError),
    (dict(saveat=[0.5, 2.0]), E.SaveatError),
    (dict(saveat=[-0.5]), E.SaveatError),
    (dict(saveat=[0.5, 0.2]), E.SaveatError),
    (dict(saveat=[0.5, 0.5]), E.SaveatError),
    (dict(saveat=[]), E.SaveatError),
    (dict(method="rk4000"), E.UnknownMethodError),
    (dict(addresses={}), E.MissingFunctionError),
    (dict(addresses={"rhs": "0x1"}), E.OptionError),
    (dict(max_steps=0), E.OptionError),
    (dict(dt=-0.1), E.OptionError),
    (dict(adaptive=False), E.OptionError),
    (dict(names=["x", "y"]), ShapeError),
])
def test_bad_input_raises_specific_error(change, error):
    # the address 1 would crash if called: raising first is the point
    with pytest.raises(error) as info:
        solve_compiled(**{**GOOD, **change})
    assert isinstance(info.value, ArgumentError)
    assert str(info.value)


def test_docs_example_runs():
    import re
    text = (pathlib.Path(__file__).parents[1] / "docs" / "solvers.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    exec(compile(code, "docs/solvers.md", "exec"), {})


@pytest.mark.parametrize("method", ["auto", "tsit5", "dop853", "rodas5p", "radau5"])
def test_solve_leaves_the_callers_arrays_alone(method):
    """u0, p and saveat are handed to the kernels without copies when valid: they must come back unchanged,
    and the solution must not alias them."""
    import symdyn as sd
    from models import lotka_volterra
    cm = sd.compile(lotka_volterra.build())
    u0, p, saveat = cm.u0.copy(), cm.p0.copy(), np.array([0.5, 1.0])
    keep = (u0.copy(), p.copy(), saveat.copy())
    sol = cm.solve((0.0, 1.0), u0=u0, p=p, saveat=saveat, method=method)
    assert sol.success
    for before, after in zip(keep, (u0, p, saveat)):
        assert np.array_equal(before, after)
    sol.u[:] = 0.0
    sol.u_end[:] = 0.0
    assert np.array_equal(u0, keep[0]) and np.array_equal(cm.u0, keep[0])
    again = cm.solve((0.0, 1.0), saveat=saveat, method=method)    # the cached defaults are intact too
    assert np.array_equal(again.u[-1], cm.solve((0.0, 1.0), u0=keep[0], saveat=saveat, method=method).u[-1])


@pytest.mark.parametrize("method, name", [("dop853", "lorenz"), ("tsit5", "lorenz"), ("rodas5p", "vdpol"),
                                          ("radau5", "vdpol"), ("auto", "vdpol")])
def test_output_buffers_grow_across_many_steps(method, name):
    """Every accepted step saved and recorded for sol(t): hundreds of steps, far beyond the first
    buffers (64), so the kernels stop, have them grown, and go on (the time loops never rebind arrays)."""
    import symdyn as sd
    import models
    cm = sd.compile(models.build(name))
    span = (0.0, 20.0) if name == "lorenz" else (0.0, 2.0)
    sol = cm.solve(span, method=method, rtol=1e-8, atol=1e-8, dense=True)
    assert sol.success and sol.stats["naccept"] > 200
    assert sol.t.shape[0] == sol.stats["naccept"] + 1 and np.all(np.diff(sol.t) > 0)
    ts = np.linspace(span[0], span[1], 37)
    at = cm.solve(span, method=method, rtol=1e-8, atol=1e-8, saveat=ts)
    assert np.allclose(sol(ts), at.u, rtol=1e-5, atol=1e-6 * np.max(np.abs(at.u)))
    assert np.array_equal(sol.u[-1], at.u[-1])      # the same steps, with or without recording


def test_kernel_cache_is_keyed_by_all_kernel_sources():
    """numba checks a cached function against its own file only; symdyn's locators give every kernel
    the hash of all kernel files, so a change to a helper (linalg.py) recompiles its callers."""
    from symdyn.solvers import _cache
    from symdyn.solvers.radau import radau_solve
    assert _cache.REGISTERED
    assert type(radau_solve._cache._impl._locator).__name__.startswith("Symdyn")
    assert radau_solve._cache._impl._locator.get_source_stamp() == _cache.sources_stamp()
    names = {p.name for p in _cache.KERNEL_FILES}
    assert {"linalg.py", "radau.py", "explicit.py", "_kernels.py", "_gp_native.py"} <= names
    # the emitted loops' argument layouts: their numba entries bake the slot indices in
    assert {"loop_ir.py", "erk.py", "rosenbrock_loop.py", "radau_loop.py", "_emitted.py"} <= names


@numba.cfunc(SIG)
def lorenz_chain(t, u, p, du):  # 8 weakly coupled Lorenz systems: 24 states (n = int(p[3]) / 3 copies)
    m = int(p[3])
    for c in range(0, m, 3):
        x, y, z = u[c], u[c + 1], u[c + 2]
        du[c] = p[0] * (y - x) + 0.01 * u[(c + 3) % m]
        du[c + 1] = x * (p[1] - z) - y
        du[c + 2] = x * y - p[2] * z


@pytest.mark.parametrize("method", sorted(EXPLICIT_METHODS))
@pytest.mark.parametrize("saveat", [None, "points", "dense"])
def test_both_stage_sum_orders_give_the_same_numbers(method, saveat):
    """Small models sum the stages component-outer, large ones stage-outer (explicit.STAGE_OUTER_N):
    the same sums in the same order, so the two compiled kernels agree to the last bit."""
    from symdyn.solvers import _status as st, explicit
    tab = EXPLICIT_METHODS[method]
    n = 24
    assert explicit.stage_outer_for(n) and not explicit.stage_outer_for(3)
    u0 = np.array([1.0 + 0.1 * i for i in range(n)])
    p = np.array([10.0, 28.0, 8 / 3, float(n)])
    pts = np.linspace(0.0, 2.0, 9) if saveat == "points" else np.zeros(0)
    args = (lorenz_chain.address, p, 0.0, 2.0, u0, *tab.native_args(), tab.fsal, tab.order, tab.error_exponent,
            tab.pi_beta, pts, saveat != "points", saveat == "dense", 1e-8, np.full(n, 1e-10), 0.0, True, 100_000,
            0.0)
    a = explicit._solve_component_outer(*args)
    b = explicit._solve_stage_outer(*args)
    assert a[0] == b[0] == st.SUCCESS and a[5][st.NACCEPT] == b[5][st.NACCEPT] > 20
    for k in (3, 4, 9):  # output times, output states, dense-output stages (the extra ones included)
        np.testing.assert_array_equal(a[k], b[k])
    assert (a[9].shape[0] > 20) == (saveat == "dense")
