"""Tests of the stiff solvers (Rosenbrock methods) and of `auto` switching.

Exact solutions come from tests/data/exact.json, published reference solutions of the Bari
test set from tests/data/ivp_testset.json (through ``models.<name>.reference()``), with
accuracy measured as the json's scd (significant correct digits, every component counts for
ROBER, HIRES, VDPOL, OREGO and POLLU).  Orders are measured at fixed steps as the slope of
log(error) against log(h) and compared with theory (+-0.2).
"""
import json
import math
import pathlib
import time

import numba
import numpy as np
import pytest

import symdyn as sd
from models import get
from symdyn.solvers import (
    RODAS5P,
    ROSENBROCK_METHODS,
    RetCode,
    RosenbrockTableau,
    TableauError,
    solve_compiled,
    solve_model,
)
from symdyn.solvers import errors as E

from refdata import PROBLEMS, variant
TESTSET = json.loads((pathlib.Path(__file__).parent / "data" / "ivp_testset.json").read_text())["problems"]
SIG = "void(float64, CPointer(float64), CPointer(float64), CPointer(float64))"



def sample(entries, t, key="u"):
    """The exact value at time t from a list of {"t": ..., key: [...]} samples."""
    for s in entries:
        if float(s["t"]) == t:
            return np.array([float(x) for x in s[key]])
    raise LookupError(t)


def observed_order(hs, errs):
    return np.polyfit(np.log(hs), np.log(errs), 1)[0]


def scd(u, ref):
    """-log10 of the max relative error: the test set's 'significant correct digits'."""
    return -math.log10(np.max(np.abs(u - ref) / np.abs(ref)))


# --- right-hand sides and Jacobians (column-major J[col*n + row]) ------------------------------
@numba.cfunc(SIG)
def linear_sin(t, u, p, du):  # u' = lambda*u + sin(t)
    du[0] = p[0] * u[0] + math.sin(t)


@numba.cfunc(SIG)
def scalar_jac(t, u, p, J):  # d/du of lambda*u + g(t)
    J[0] = p[0]


@numba.cfunc(SIG)
def prothero_robinson(t, u, p, du):  # y' = lambda*(y - sin t) + cos t
    du[0] = p[0] * (u[0] - math.sin(t)) + math.cos(t)


@numba.cfunc(SIG)
def nonnormal(t, u, p, du):  # linear2_nonnormal_forced
    du[0] = -u[0] + 999.0 * u[1] + math.sin(t)
    du[1] = -1000.0 * u[1] + math.cos(t)


@numba.cfunc(SIG)
def nonnormal_jac(t, u, p, J):
    J[0] = -1.0
    J[1] = 0.0
    J[2] = 999.0
    J[3] = -1000.0


@numba.cfunc(SIG)
def constant(t, u, p, du):  # u' = 0
    du[0] = 0.0


@numba.cfunc(SIG)
def nan_jac_after_half(t, u, p, J):  # a Jacobian that breaks at t = 0.5
    J[0] = -1.0 if t <= 0.5 else math.nan


@numba.cfunc(SIG)
def decay(t, u, p, du):
    du[0] = -u[0]


@numba.cfunc(SIG)
def nan_after_half(t, u, p, du):
    du[0] = -u[0] if t <= 0.5 else math.nan


@numba.cfunc(SIG)
def blow_up(t, u, p, du):
    du[0] = u[0] * u[0]


@numba.cfunc(SIG)
def blow_up_jac(t, u, p, J):
    J[0] = 2.0 * u[0]


LINEAR_SIN = variant("scalar_linear_sin", **{"lambda": -1, "u0": 1})
PR = variant("prothero_robinson", **{"lambda": -10, "y0": 1})
PR_STIFF = variant("prothero_robinson", **{"lambda": -1e6, "y0": 0})
NONNORMAL = PROBLEMS["linear2_nonnormal_forced"]

ORDER_PROBLEMS = {
    # name: (addresses, u0, p, t_end, exact u(t_end))
    "linear_sin": ({"rhs": linear_sin.address, "jac": scalar_jac.address}, [float(LINEAR_SIN["u0"])],
                   [float(LINEAR_SIN["lambda"])], 10.0, sample(LINEAR_SIN["samples"], 10.0)),
    "prothero_robinson": ({"rhs": prothero_robinson.address, "jac": scalar_jac.address}, [float(PR["y0"])],
                          [float(PR["lambda"])], 1.0, sample(PR["samples"], 1.0, "y")),
    "nonnormal": ({"rhs": nonnormal.address, "jac": nonnormal_jac.address}, [1.0, 2.0], [], 1.0,
                  sample(NONNORMAL["samples"], 1.0)),
    "nonnormal_start": ({"rhs": nonnormal.address, "jac": nonnormal_jac.address}, [1.0, 2.0], [], 0.001,
                        sample(NONNORMAL["samples"], 0.001)),
}
ORDER_CASES = [
    ("rodas5p", "linear_sin", [40, 80, 160]),
    ("rodas5p", "prothero_robinson", [10, 20, 40, 80]),
    ("rodas5p", "nonnormal_start", [1, 2, 4]),  # inside the exp(-1000 t) transient; later it is exact
    ("rodas4", "linear_sin", [10, 20, 40, 80]),
    ("rodas4", "nonnormal", [10, 20, 40, 80]),
    ("rosenbrock23", "linear_sin", [10, 20, 40, 80]),
    ("rosenbrock23", "nonnormal", [10, 20, 40, 80]),
]


# --- tableaus -------------------------------------------------------------------------------------
def test_rosenbrock_tableaus_cite_sources_and_check_themselves():
    for tab in ROSENBROCK_METHODS.values():
        assert tab.source and tab.A.shape == (tab.stages, tab.stages)
        tab.validate()
        alpha, G, b, bhat = tab.classical()
        assert abs(b.sum() - 1) < 1e-12 and abs(bhat.sum() - 1) < 1e-12


def test_broken_rosenbrock_tableau_is_rejected():
    fields = dict(name="broken", order=5, embedded_order=4, gamma=RODAS5P.gamma, A=RODAS5P.A, C=RODAS5P.C,
                  c=RODAS5P.c, d=RODAS5P.d, b=RODAS5P.b, e=RODAS5P.e, dense=RODAS5P.dense, dense_order=4,
                  source="test")
    C = RODAS5P.C.copy()
    C[4, 2] += 1e-6  # a transcription error in C moves the sums d_i = sum_j Gamma_ij
    with pytest.raises(TableauError, match=r"d\[4\]"):
        RosenbrockTableau(**{**fields, "C": C})
    b = RODAS5P.b.copy()
    b[3] += 1e-6  # a wrong weight breaks the order conditions (and the dense output at theta=1)
    with pytest.raises(TableauError, match="order condition"):
        RosenbrockTableau(**{**fields, "b": b})


# --- convergence order at fixed steps ----------------------------------------------------------------
@pytest.mark.parametrize("method,problem,steps", ORDER_CASES)
def test_convergence_order_fixed_step(method, problem, steps):
    addresses, u0, p, tf, exact = ORDER_PROBLEMS[problem]
    hs, errs = [], []
    for k in steps:
        sol = solve_compiled(addresses, len(u0), (0.0, tf), u0, p, method=method, dt=tf / k, adaptive=False)
        assert sol.success, sol.message
        assert sol.stats["nsteps"] == k and sol.stats["nlu"] == k
        hs.append(tf / k)
        errs.append(np.abs(sol.u[-1] - exact).max())
    order = observed_order(hs, errs)
    assert abs(order - ROSENBROCK_METHODS[method].order) <= 0.2, (errs, order)


def test_rodas5p_is_accurate_on_stiff_prothero_robinson():
    """h*|lambda| = 1e5: no order collapse to useless accuracy (Rodas5P is built for this)."""
    addresses = {"rhs": prothero_robinson.address, "jac": scalar_jac.address}
    sol = solve_compiled(addresses, 1, (0.0, 10.0), [float(PR_STIFF["y0"])], [float(PR_STIFF["lambda"])],
                         method="rodas5p", dt=0.1, adaptive=False)
    assert abs(sol.u[-1, 0] - sample(PR_STIFF["samples"], 10.0, "y")[0]) < 1e-9


@pytest.mark.parametrize("method", sorted(ROSENBROCK_METHODS))
def test_dense_output_order(method):
    tab = ROSENBROCK_METHODS[method]
    addresses = {"rhs": linear_sin.address, "jac": scalar_jac.address}
    hs, errs = [], []
    for h in (0.2, 0.1, 0.05):
        tt = 0.37 * h
        sol = solve_compiled(addresses, 1, (0.0, h), [1.0], [-1.0], method=method, dt=h, adaptive=False,
                             saveat=[tt, h], dense=True)
        exact = math.exp(-tt) * 1.5 - (-math.sin(tt) + math.cos(tt)) / 2
        hs.append(h)
        errs.append(abs(sol.u[0, 0] - exact))
        assert abs(sol(tt)[0] - sol.u[0, 0]) < 1e-15
    assert observed_order(hs, errs) >= tab.dense_order + 1 - 0.2, errs


# --- published references -------------------------------------------------------------------------
#: atol/rtol per problem: the tiny components (ROBER y2 ~ 8e-14, POLLU y16 ~ 4e-18) count in scd
ATOL_RATIO = {"rober": 1e-14, "hires": 1e-4, "vdpol": 1.0, "orego": 1e-6, "pollu": 1e-12}


@pytest.fixture(scope="module")
def compiled():
    cache = {}

    def get_cm(name):
        if name not in cache:
            cache[name] = sd.compile(get(name).build())
        return cache[name]

    return get_cm


@pytest.mark.parametrize("name", list(ATOL_RATIO))
def test_reference_solutions_rodas5p(compiled, name):
    mod = get(name)
    cm = compiled(name)
    ref = mod.reference()
    digits = []
    for rtol in (1e-6, 1e-8, 1e-10):
        sol = solve_model(cm, mod.T_SPAN, rtol=rtol, atol=rtol * ATOL_RATIO[name], method="rodas5p",
                          saveat=[mod.T_SPAN[1]])
        assert sol.success, sol.message
        digits.append(scd(sol.u[-1], ref))
    assert digits[0] < digits[1] <= digits[2] + 0.1, digits  # ROBER's y1 saturates near 8 digits
    assert digits[2] >= 7.0, digits
    assert digits[0] >= 4.5, digits


@pytest.mark.parametrize("method", ["rodas4", "rosenbrock23", "auto"])
def test_reference_hires_other_methods(compiled, method):
    mod = get("hires")
    ref = mod.reference()
    digits = []
    for rtol in (1e-5, 1e-8):
        sol = solve_model(compiled("hires"), mod.T_SPAN, rtol=rtol, atol=rtol * 1e-4, method=method)
        assert sol.success, sol.message
        digits.append(scd(sol.u_end, ref))
    assert digits[1] > digits[0] + 1.5 and digits[1] >= 6, digits


def test_testset_components_all_count():
    """The scd above uses every component; the json says so for each problem."""
    for key in ("ROBER", "HIRES", "VDPOL", "OREGO", "POLLU"):
        notes = " ".join(TESTSET[key]["accuracy_notes"])
        assert "scd uses all" in notes or "scd uses both" in notes, (key, notes)


# --- auto ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,span", [("rober", (0.0, 1e5)), ("vdpol", None)])
def test_auto_switches_to_stiff_method(compiled, name, span):
    """Bare addresses (no model to analyse): auto detects stiffness on the fly and switches."""
    mod = get(name)
    cm = compiled(name)
    sol = solve_compiled(cm.addresses, cm.n, span or mod.T_SPAN, cm.u0, cm.p0, rtol=1e-6, atol=1e-10)
    assert sol.success, sol.message
    assert sol.method.startswith("tsit5+rodas5p"), sol.method
    assert sol.reasons[0].startswith("auto (switching): tsit5")
    assert sol.stats["nsteps"] < 5000
    if span is None:
        assert scd(sol.u_end, mod.reference()) > 4.5


@pytest.mark.parametrize("name", ["lorenz", "kepler"])
def test_auto_stays_explicit_on_nonstiff(compiled, name):
    mod = get(name)
    cm = compiled(name)
    sol = solve_compiled(cm.addresses, cm.n, mod.T_SPAN, cm.u0, cm.p0, rtol=1e-8, atol=1e-10)
    assert sol.success, sol.message
    assert sol.method == "dop853" and sol.stats["njev"] == 0  # rtol <= 1e-7: the 8th-order method


def test_auto_dense_output_across_switch(compiled):
    cm = compiled("vdpol")
    ts = np.linspace(0.0, 2.0, 41)
    sol = solve_compiled(cm.addresses, cm.n, (0.0, 2.0), cm.u0, cm.p0, rtol=1e-7, atol=1e-7, saveat=ts, dense=True)
    assert "+" in sol.method and len(sol.segments) >= 2
    np.testing.assert_array_equal(sol.t, ts)
    np.testing.assert_allclose(sol(ts), sol.u, rtol=1e-12, atol=1e-12)
    ref = solve_model(cm, (0.0, 2.0), rtol=1e-10, atol=1e-10, saveat=ts, method="rodas5p")
    assert np.max(np.abs(sol.u - ref.u) / (1e-3 + np.abs(ref.u))) < 1e-3
    steps = solve_model(cm, (0.0, 2.0), rtol=1e-7, atol=1e-7)  # every step: no repeated switch points
    assert np.all(np.diff(steps.t) > 0) and steps.t[-1] == 2.0


# --- solve_model conveniences ---------------------------------------------------------------------
def test_solve_model_accepts_dicts_and_is_cheap(compiled):
    cm = compiled("rober")
    a = solve_model(cm, (0.0, 40.0), method="rodas5p", rtol=1e-8, atol=1e-12)
    b = solve_model(cm, (0.0, 40.0), u0={"y1": 1.0}, p={"k1": 0.04}, method="rodas5p", rtol=1e-8, atol=1e-12)
    np.testing.assert_array_equal(a.u, b.u)
    c = solve_model(cm, (0.0, 40.0), p={"k1": 0.08}, method="rodas5p", rtol=1e-8, atol=1e-12)
    assert c.u_end[0] < a.u_end[0]
    assert np.sum(a.u_end) == pytest.approx(1.0, abs=1e-12)  # the conserved sum
    with pytest.raises(sd.errors.UnknownNameError):
        solve_model(cm, (0.0, 1.0), p={"k9": 1.0})
    best = min(_timed(lambda: solve_model(cm, (0.0, 1e-9), method="rodas5p")) for _ in range(20))
    assert best < 2e-3  # Python overhead of a solve (a single step) stays well under a millisecond or so


def _timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


# --- failures return a status -----------------------------------------------------------------------------
def test_singular_matrix_rejects_step_then_recovers():
    h = 0.5
    c = 1.0 / (h * RODAS5P.gamma)  # W = I/(h gamma) - J is exactly singular for the first step
    sol = solve_compiled({"rhs": constant.address, "jac": scalar_jac.address}, 1, (0.0, 10.0), [1.0], [c],
                         method="rodas5p", dt=h)
    assert sol.success, sol.message
    assert sol.stats["nreject"] >= 1 and sol.u_end[0] == 1.0


def test_persistently_singular_matrix_returns_linear_solve_failed():
    sol = solve_compiled({"rhs": decay.address, "jac": nan_jac_after_half.address}, 1, (0.0, 1.0), [1.0], [],
                         method="rodas5p")
    assert sol.retcode == RetCode.LinearSolveFailed
    assert 0.5 < sol.t_reached < 1.0 and "Jacobian" in sol.message  # J(t > 0.5) is NaN


def test_nan_in_rhs_returns_nonfinite():
    sol = solve_compiled({"rhs": nan_after_half.address, "jac": nan_jac_after_half.address}, 1, (0.0, 1.0),
                         [1.0], [], method="rodas4")
    assert sol.retcode in (RetCode.NonFinite, RetCode.LinearSolveFailed)
    assert sol.t_reached <= 0.5 + 1e-12


def test_blow_up_returns_status():
    sol = solve_compiled({"rhs": blow_up.address, "jac": blow_up_jac.address}, 1, (0.0, 2.0), [1.0], [],
                         method="rodas5p")
    assert sol.retcode in (RetCode.StepSizeTooSmall, RetCode.NonFinite)
    assert 0.99 < sol.t_reached < 1.01


def test_max_steps_returns_status():
    sol = solve_compiled({"rhs": linear_sin.address, "jac": scalar_jac.address}, 1, (0.0, 10.0), [1.0], [-1.0],
                         method="rosenbrock23", rtol=1e-10, max_steps=50)
    assert sol.retcode == RetCode.MaxSteps and sol.stats["nsteps"] == 50


def test_rosenbrock_needs_jac_address():
    with pytest.raises(E.MissingFunctionError, match="jac"):
        solve_compiled({"rhs": decay.address}, 1, (0.0, 1.0), [1.0], [], method="rodas5p")
    sol = solve_compiled({"rhs": decay.address}, 1, (0.0, 1.0), [1.0], [], method="auto")  # auto: explicit only
    assert sol.success and sol.method == "tsit5"
    with pytest.raises(E.OptionError):
        solve_compiled({"rhs": decay.address}, 1, (0.0, 1.0), [1.0], [], method="auto", dt=0.1, adaptive=False)


@pytest.mark.parametrize("keep_dense", [False, True])
@pytest.mark.parametrize("method", ["rodas5p", "rodas4", "rosenbrock23"])
def test_both_stage_sum_orders_give_the_same_numbers(method, keep_dense):
    """Rosenbrock kernels sum the stages component-outer below 16 states and stage-outer from 16 on
    (as the explicit kernel): the same sums in the same order, so the two variants agree to the bit."""
    from symdyn.solvers import _status as st, rosenbrock
    from symdyn.solvers.banded import DENSE_ARGS
    from symdyn.solvers.tableaus import ROSENBROCK_METHODS
    tab = ROSENBROCK_METHODS[method]
    cm = sd.compile(get("brusselator_1d").build(N=12))  # 24 states
    n = cm.n
    u0 = np.asarray(cm.u0, dtype=float)
    p = np.asarray(cm.p0, dtype=float) if cm.n_params else np.zeros(1)
    args = (cm.addresses["rhs"], cm.addresses["jac"], p, 0.0, 5.0, u0, tab.A, tab.C, tab.gamma, tab.c, tab.d,
            tab.b, tab.e, tab.dense, tab.error_exponent, False, np.linspace(0.5, 5.0, 10), False, keep_dense, 1e-7,
            np.full(n, 1e-9), 0.0, True, 100_000, 0.0, *DENSE_ARGS)
    a = rosenbrock._solve_component_outer(*args)
    b = rosenbrock._solve_stage_outer(*args)
    assert a[0] == b[0] == st.SUCCESS and a[5][st.NACCEPT] == b[5][st.NACCEPT] > 10
    np.testing.assert_array_equal(a[4], b[4])
    np.testing.assert_array_equal(a[9], b[9])  # the stages kept for dense output
    assert (a[9].shape[0] > 10) == keep_dense
