"""Tests of `radau5` (Radau IIA, order 5, RADAU5's algorithm) and of the complex LU it uses.

Exact solutions come from tests/data/exact.json, published references of the Bari test set
through ``models.<name>.reference()``; accuracy is the test set's scd over every component, as
in tests/test_solvers_stiff.py (same tolerances).  Orders are measured at fixed steps as the
slope of log(error) against log(h) and compared with theory (+-0.2).
"""
import math

import numba
import numpy as np
import pytest

import symdyn as sd
from models import get
from symdyn.solvers import METHODS, RADAU5, RadauTableau, RetCode, TableauError, solve_compiled, solve_model
from symdyn.solvers import errors as E
from symdyn.solvers.linalg import lu_factor, lu_solve

from refdata import variant
SIG = "void(float64, CPointer(float64), CPointer(float64), CPointer(float64))"



def sample(entries, t, key="u"):
    for s in entries:
        if float(s["t"]) == t:
            return np.array([float(x) for x in s[key]])
    raise LookupError(t)


def observed_order(hs, errs):
    return np.polyfit(np.log(hs), np.log(errs), 1)[0]


def scd(u, ref):
    return -math.log10(np.max(np.abs(u - ref) / np.abs(ref)))


# --- right-hand sides and Jacobians (column-major J[col*n + row]) ------------------------------
@numba.cfunc(SIG)
def linear_sin(t, u, p, du):  # u' = lambda*u + sin(t)
    du[0] = p[0] * u[0] + math.sin(t)


@numba.cfunc(SIG)
def scalar_jac(t, u, p, J):
    J[0] = p[0]


@numba.cfunc(SIG)
def prothero_robinson(t, u, p, du):  # y' = lambda*(y - sin t) + cos t
    du[0] = p[0] * (u[0] - math.sin(t)) + math.cos(t)


@numba.cfunc(SIG)
def constant(t, u, p, du):
    du[0] = 0.0


@numba.cfunc(SIG)
def decay(t, u, p, du):
    du[0] = -u[0]


@numba.cfunc(SIG)
def nan_jac(t, u, p, J):
    J[0] = math.nan


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
LIN = {"rhs": linear_sin.address, "jac": scalar_jac.address}
PRA = {"rhs": prothero_robinson.address, "jac": scalar_jac.address}


# --- complex LU -------------------------------------------------------------------------------------
def test_complex_lu_solves_like_numpy():
    """`lu_factor`/`lu_solve` are dtype-generic: the complex system of radau5 uses them."""
    rng = np.random.default_rng(1)
    for n in (1, 2, 5, 17):
        A = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
        if n > 1:
            A[0, 0] = 0.0  # forces a row exchange
        b = rng.standard_normal(n) + 1j * rng.standard_normal(n)
        M, piv, x = A.T.copy(), np.empty(n, np.int64), b.copy()  # a copy: for n = 1, A.T is A's memory
        assert lu_factor(M, piv)
        lu_solve(M, piv, x)
        np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-10, atol=1e-12)
    # the shape radau5 factors: (alpha + i beta)/h I - J
    J = rng.standard_normal((6, 6))
    A = complex(RADAU5.alpha, RADAU5.beta) / 0.1 * np.eye(6) - J
    M, piv, x = A.T.copy(), np.empty(6, np.int64), np.ones(6, np.complex128)
    assert lu_factor(M, piv)
    lu_solve(M, piv, x)
    np.testing.assert_allclose(A @ x, np.ones(6), atol=1e-12)


def test_complex_lu_reports_singular_and_nonfinite():
    piv = np.empty(2, np.int64)
    assert not lu_factor(np.array([[1.0 + 1j, 2.0 + 2j], [1.0, 2.0]], dtype=np.complex128).T.copy(), piv)
    assert not lu_factor(np.array([[1.0, 0.0], [0.0, complex(np.nan, 0.0)]], dtype=np.complex128), piv)


# --- the tableau ------------------------------------------------------------------------------------
def test_radau_tableau_checks_itself():
    assert METHODS["radau5"] == "radau" and RADAU5.source
    RADAU5.validate()
    g0, bh = RADAU5.embedded_weights()
    assert abs(g0 + bh.sum() - 1.0) < 1e-12
    assert RADAU5.error_exponent == 4.0


def test_broken_radau_tableau_is_rejected():
    fields = dict(name="broken", order=5, embedded_order=3, A=RADAU5.A, c=RADAU5.c, T=RADAU5.T, TI=RADAU5.TI,
                  gamma=RADAU5.gamma, alpha=RADAU5.alpha, beta=RADAU5.beta, dd=RADAU5.dd, dense=RADAU5.dense,
                  dense_order=3, source="test")
    TI = RADAU5.TI.copy()
    TI[1, 2] += 1e-7  # a transcription error in one digit of radau5.f
    with pytest.raises(TableauError, match="T TI = I"):
        RadauTableau(**{**fields, "TI": TI})
    dd = RADAU5.dd.copy()
    dd[0] += 1e-6
    with pytest.raises(TableauError, match="embedded order condition"):
        RadauTableau(**{**fields, "dd": dd})
    with pytest.raises(TableauError, match="alpha"):
        RadauTableau(**{**fields, "beta": RADAU5.beta * (1 + 1e-9)})


# --- convergence order, dense output, stiff accuracy -------------------------------------------------
@pytest.mark.parametrize("problem", ["linear_sin", "prothero_robinson"])
def test_convergence_order_fixed_step(problem):
    if problem == "linear_sin":
        addresses, u0, p, tf, exact = LIN, float(LINEAR_SIN["u0"]), float(LINEAR_SIN["lambda"]), 10.0, \
            sample(LINEAR_SIN["samples"], 10.0)
        steps = [10, 20, 40, 80]
    else:
        addresses, u0, p, tf, exact = PRA, float(PR["y0"]), float(PR["lambda"]), 1.0, sample(PR["samples"], 1.0, "y")
        steps = [4, 8, 16, 32]
    hs, errs = [], []
    for k in steps:
        sol = solve_compiled(addresses, 1, (0.0, tf), [u0], [p], method="radau5", dt=tf / k, adaptive=False)
        assert sol.success, sol.message
        assert sol.stats["nsteps"] == k
        hs.append(tf / k)
        errs.append(np.abs(sol.u[-1] - exact).max())
    order = observed_order(hs, errs)
    assert abs(order - RADAU5.order) <= 0.2, (errs, order)


def test_dense_output_order():
    """The collocation polynomial: local error O(h^4) (stage order 3)."""
    hs, errs = [], []
    for h in (0.08, 0.04, 0.02):
        tt = 0.37 * h
        sol = solve_compiled(LIN, 1, (0.0, h), [1.0], [-1.0], method="radau5", dt=h, adaptive=False,
                             saveat=[tt, h], dense=True)
        exact = math.exp(-tt) * 1.5 - (-math.sin(tt) + math.cos(tt)) / 2
        hs.append(h)
        errs.append(abs(sol.u[0, 0] - exact))
        assert abs(sol(tt)[0] - sol.u[0, 0]) < 1e-15
    assert observed_order(hs, errs) >= RADAU5.dense_order + 1 - 0.2, errs


def test_stiff_prothero_robinson_is_accurate():
    """h*|lambda| = 1e5 at fixed steps, and the adaptive solve: no order reduction to useless accuracy."""
    y0, lam = float(PR_STIFF["y0"]), float(PR_STIFF["lambda"])
    exact = sample(PR_STIFF["samples"], 10.0, "y")[0]
    sol = solve_compiled(PRA, 1, (0.0, 10.0), [y0], [lam], method="radau5", dt=0.1, adaptive=False)
    assert abs(sol.u[-1, 0] - exact) < 1e-9
    for rtol in (1e-6, 1e-9):
        sol = solve_compiled(PRA, 1, (0.0, 10.0), [y0], [lam], method="radau5", rtol=rtol, atol=rtol)
        assert sol.success and abs(sol.u[-1, 0] - exact) < 20 * rtol, (rtol, sol.u[-1, 0] - exact)
        assert sol.stats["nsteps"] < 100


# --- published references -------------------------------------------------------------------------
#: atol/rtol per problem, as in tests/test_solvers_stiff.py
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
def test_reference_solutions(compiled, name):
    mod = get(name)
    ref = mod.reference()
    digits = []
    for rtol in (1e-6, 1e-8, 1e-10):
        sol = solve_model(compiled(name), mod.T_SPAN, rtol=rtol, atol=rtol * ATOL_RATIO[name], method="radau5",
                          saveat=[mod.T_SPAN[1]])
        assert sol.success, sol.message
        assert sol.stats["njev"] <= sol.stats["naccept"] and sol.stats["nlu"] <= sol.stats["nsteps"]
        digits.append(scd(sol.u[-1], ref))
    assert digits[2] >= 7.0, digits
    assert digits[0] >= 4.5, digits
    if name != "rober":  # ROBER's y1 saturates near 8 digits (see test_solvers_stiff.py)
        assert digits[0] < digits[1] < digits[2], digits


def test_jacobian_is_reused_and_dense_output_matches_saveat(compiled):
    cm = compiled("vdpol")
    ts = np.linspace(0.0, 2.0, 41)
    sol = solve_model(cm, (0.0, 2.0), rtol=1e-7, atol=1e-7, saveat=ts, dense=True, method="radau5")
    assert sol.success, sol.message
    assert sol.stats["njev"] < 0.8 * sol.stats["naccept"], sol.stats  # Jacobian reuse across steps
    np.testing.assert_array_equal(sol.t, ts)
    np.testing.assert_allclose(sol(ts), sol.u, rtol=1e-12, atol=1e-12)
    ref = solve_model(cm, (0.0, 2.0), rtol=1e-10, atol=1e-10, saveat=ts, method="rodas5p")
    assert np.max(np.abs(sol.u - ref.u) / (1e-3 + np.abs(ref.u))) < 1e-4
    steps = solve_model(cm, (0.0, 2.0), rtol=1e-7, atol=1e-7, method="radau5")  # same steps without saveat
    assert steps.stats == sol.stats and steps.t[-1] == 2.0
    np.testing.assert_array_equal(steps.u[-1], sol.u[-1])


# --- failures return a status -----------------------------------------------------------------------------
def test_singular_matrix_rejects_step_then_recovers():
    h = 0.5
    lam = RADAU5.gamma / h  # E1 = gamma/h - J is exactly singular for the first step
    sol = solve_compiled({"rhs": constant.address, "jac": scalar_jac.address}, 1, (0.0, 10.0), [1.0], [lam],
                         method="radau5", dt=h)
    assert sol.success, sol.message
    assert sol.stats["nreject"] >= 1 and sol.u_end[0] == 1.0


def test_nan_jacobian_returns_linear_solve_failed():
    # a NaN that appears later may never be seen: RADAU5 reuses J while Newton converges
    sol = solve_compiled({"rhs": decay.address, "jac": nan_jac.address}, 1, (0.0, 1.0), [1.0], [],
                         method="radau5")
    assert sol.retcode == RetCode.LinearSolveFailed
    assert sol.t_reached == 0.0 and "Jacobian" in sol.message


def test_nan_in_rhs_returns_nonfinite():
    sol = solve_compiled({"rhs": nan_after_half.address, "jac": scalar_jac.address}, 1, (0.0, 1.0), [1.0], [-1.0],
                         method="radau5")
    assert sol.retcode == RetCode.NonFinite
    assert sol.t_reached <= 0.5 + 1e-12


def test_blow_up_returns_status():
    sol = solve_compiled({"rhs": blow_up.address, "jac": blow_up_jac.address}, 1, (0.0, 2.0), [1.0], [],
                         method="radau5")
    assert sol.retcode in (RetCode.StepSizeTooSmall, RetCode.NonFinite)
    assert 0.99 < sol.t_reached < 1.01


def test_max_steps_returns_status():
    sol = solve_compiled(LIN, 1, (0.0, 10.0), [1.0], [-1.0], method="radau5", rtol=1e-12, max_steps=20)
    assert sol.retcode == RetCode.MaxSteps and sol.stats["nsteps"] == 20
    assert "max_steps=20" in sol.message


def test_radau_needs_jac_address():
    with pytest.raises(E.MissingFunctionError, match="jac"):
        solve_compiled({"rhs": decay.address}, 1, (0.0, 1.0), [1.0], [], method="radau5")
