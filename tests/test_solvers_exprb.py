"""Tests of the exponential Rosenbrock methods (symdyn/solvers/exprb.py) and of the Krylov
phi-function products they use (symdyn/solvers/krylov.py).

Problems, exact solutions and samples come from tests/data/exact.json (never retyped): closed
forms are parsed from the json's strings and checked against its samples before use.  Models
are built with the DSL and compiled with ``sd.compile``; the solvers get the ``rhs`` and
``jac_csc`` addresses and the CSC pattern.  Orders are measured at fixed steps as the slope of
log(error) against log(h) and compared with theory (+-0.2); the Krylov tolerance is set well
below the errors measured.
"""
import ast
import json
import math
import pathlib
import re

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sps
import sympy as sp
from sympy.parsing.sympy_parser import (
    convert_xor,
    implicit_multiplication_application,
    parse_expr,
    standard_transformations,
)

import symdyn as sd
from symdyn.solvers import _status
from symdyn.solvers.exprb import EXPRB32, EXPRB43, EXPRB_METHODS, HERMITE_DENSE, ExpRosenbrockTableau, exprb_solve
from symdyn.solvers.krylov import phi_products
from symdyn.solvers.solution import DenseOutput
from symdyn.solvers.tableaus import TableauError

DATA = json.loads((pathlib.Path(__file__).parent / "data" / "exact.json").read_text())
PROBLEMS = {p["id"]: p for p in DATA["problems"]}
ORDERS = {"exprb32": 3, "exprb43": 4}
X, T = sp.symbols("x t")
_TRANSFORMS = standard_transformations + (implicit_multiplication_application, convert_xor)


def parse(text, **names):
    """A SymPy expression from the json's notation (``x(1-x) e^t``, ``lambda``)."""
    text = re.sub(r"\blambda\b", "lam", text)
    return parse_expr(text, local_dict={"x": X, "t": T, "e": sp.E, **names}, transformations=_TRANSFORMS)


def slope(hs, errs):
    return np.polyfit(np.log(hs), np.log(errs), 1)[0]


def run(cm, t_end, h=None, method="exprb32", adaptive=False, rtol=1e-10, atol=1e-12, saveat=None, **kw):
    pat = cm.jac_pattern
    return exprb_solve(cm.addresses["rhs"], cm.addresses["jac_csc"], pat.indptr, pat.indices, cm.p0, 0.0, t_end,
                       cm.u0, rtol, atol, saveat, h, adaptive, 200_000, method, **kw)


# --- models from the json ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def hochbruck_ostermann():
    """u_t = u_xx + 1/(1 + u^2) + Phi(x, t) on 199 interior points (h = 1/200), Dirichlet 0."""
    prob = PROBLEMS["hochbruck_ostermann_semilinear"]
    phi = parse(prob["parameters"]["Phi(x,t)"].split("  (")[0])
    exact = parse(re.match(r"u\(x,t\) = (\S+?)\.\s", prob["exact_solution"]).group(1))
    for s in prob["samples"]:  # the parsed closed forms reproduce the json's samples
        at = {X: sp.Rational(s["x"]), T: sp.Rational(s["t"])}
        assert abs(float(exact.subs(at)) - float(s["u"])) < 1e-14
        assert abs(float(phi.subs(at)) - float(s["Phi"])) < 1e-13
    N = 199
    xs = [sp.Rational(i, N + 1) for i in range(1, N + 1)]
    m = sd.Model("hochbruck_ostermann")
    u = m.states([f"u{i}" for i in range(N)], init=[float(exact.subs({X: xi, T: 0})) for xi in xs])
    ue = [sp.Integer(0), *u, sp.Integer(0)]
    for i in range(N):
        lap = (N + 1) ** 2 * (ue[i] - 2 * ue[i + 1] + ue[i + 2])
        m.eq(sd.D(u[i]), lap + 1 / (1 + u[i] ** 2) + phi.subs({X: xs[i], T: m.t}))
    exact_at_1 = np.array([float(exact.subs({X: xi, T: 1})) for xi in xs])
    return sd.compile(m), exact_at_1


@pytest.fixture(scope="module")
def bernoulli():
    prob = PROBLEMS["semilinear_bernoulli"]
    var = next(v for v in prob["variants"] if float(v["lambda"]) == -10)
    lam_value, u0 = float(var["lambda"]), float(var["u0"])
    lam, u0s = sp.symbols("lam u0")
    formula = parse(prob["exact_solution"].split("=", 1)[1].split(",")[0], lam=lam, u0=u0s)
    exact = sp.lambdify(T, formula.subs({lam: lam_value, u0s: u0}))
    for s in var["samples"]:
        assert abs(exact(float(s["t"])) - float(s["u"][0])) <= 1e-13 * abs(float(s["u"][0]))
    m = sd.Model("bernoulli")
    x = m.states("x", init=u0)
    lp = m.params("lam", values=lam_value)
    m.eq(sd.D(x), parse(prob["equations"][0].split("=", 1)[1], u=x, lam=lp))
    return sd.compile(m), exact, var


@pytest.fixture(scope="module")
def linear2():
    """u' = A u + b(t), non-normal and stiff (eigenvalues -1, -1000), forced: non-autonomous."""
    prob = PROBLEMS["linear2_nonnormal_forced"]
    A, b = prob["parameters"]["A"], prob["parameters"]["b(t)"]
    u0 = [float(x) for x in re.findall(r"[-\d.]+", prob["initial_condition"].split("=", 1)[1])]
    m = sd.Model("linear2")
    u = m.states(["u1", "u2"], init=u0)
    for i in range(2):
        m.eq(sd.D(u[i]), sum(sp.Integer(A[i][j]) * u[j] for j in range(2)) + parse(b[i]).subs(T, m.t))
    exact = [sp.lambdify(T, parse(prob["exact_solution"][k])) for k in ("u1(t)", "u2(t)")]
    for s in prob["samples"]:
        for k in range(2):
            assert abs(exact[k](float(s["t"])) - float(s["u"][k])) < 1e-12
    return sd.compile(m), lambda t: np.array([f(t) for f in exact]), prob


@pytest.fixture(scope="module")
def lambert():
    prob = PROBLEMS["linear3_lambert"]
    A = ast.literal_eval(prob["equations"][1].split("=", 1)[1].strip())
    u0 = [float(x) for x in re.findall(r"[-\d.]+", prob["initial_condition"].split("=", 1)[1])]
    m = sd.Model("lambert")
    u = m.states(["u1", "u2", "u3"], init=u0)
    for i in range(3):
        m.eq(sd.D(u[i]), sum(sp.Integer(A[i][j]) * u[j] for j in range(3)))
    return sd.compile(m), prob


def allen_cahn(N, eps=0.01):
    """u_t = eps u_xx + u - u^3 on [-1, 1], u(-1) = -1, u(1) = 1, u0 = 0.53 x + 0.47 sin(-1.5 pi x),
    second-order differences on N interior points (Trefethen, Spectral Methods in MATLAB, p34)."""
    x = np.linspace(-1.0, 1.0, N + 2)[1:-1]
    m = sd.Model(f"allen_cahn_{N}")
    u = m.states([f"u{i}" for i in range(N)], init=list(0.53 * x + 0.47 * np.sin(-1.5 * np.pi * x)))
    e = m.params("eps", values=eps)
    c = e * ((N + 1) / 2) ** 2
    ue = [sp.Integer(-1), *u, sp.Integer(1)]
    for i in range(N):
        m.eq(sd.D(u[i]), c * (ue[i] - 2 * ue[i + 1] + ue[i + 2]) + u[i] - u[i] ** 3)
    return m


# --- methods as data ------------------------------------------------------------------------------
def test_tableaus_check_themselves():
    assert set(EXPRB_METHODS) == {"exprb32", "exprb43"}
    assert EXPRB32.reuse_stage == 1 and EXPRB43.reuse_stage == 2
    B = EXPRB43.B.copy()
    B[1, 4] = -47.0  # a transcription error breaks sum_j b_j c_j^3 = 6 phi_4
    with pytest.raises(TableauError, match="sum_j b_j"):
        ExpRosenbrockTableau("bad", EXPRB43.c, EXPRB43.A, B, EXPRB43.E, 4, 3, "")
    E = EXPRB32.E.copy()
    E[1, 3] = 1.0  # b_hat = phi_3 is not of order 3: claiming it must fail
    with pytest.raises(TableauError, match="b_hat"):
        ExpRosenbrockTableau("bad", EXPRB32.c, EXPRB32.A, EXPRB32.B, E, 3, 3, "")
    with pytest.raises(TableauError, match="stage 0"):
        B = EXPRB32.B.copy()
        B[0, 3] = 1.0
        ExpRosenbrockTableau("bad", EXPRB32.c, EXPRB32.A, B, EXPRB32.E, 3, 2, "")


# --- Krylov phi-products against a dense reference --------------------------------------------
def _dense_reference(A, B, t):
    """sum_k t^k phi_k(tA) b_k = [I 0] expm(t [[A, W], [0, K]]) [b_0; e_p] (Al-Mohy & Higham 2011)."""
    n, p = A.shape[0], B.shape[0] - 1
    M = np.zeros((n + p, n + p))
    M[:n, :n] = A.toarray()
    for k in range(1, p + 1):
        M[:n, n + p - k] = B[k]
    for i in range(p - 1):
        M[n + i, n + i + 1] = 1.0
    v = np.zeros(n + p)
    v[:n] = B[0]
    v[-1] = 1.0
    return (sla.expm(t * M) @ v)[:n]


@pytest.mark.parametrize("kind", ["nonnormal", "laplacian"])
@pytest.mark.parametrize("norm", [1.0, 10.0, 100.0, 1000.0])
def test_phi_products_match_dense_expm(kind, norm):
    rng = np.random.default_rng(int(norm) + (kind == "laplacian"))
    n = 80  # (dense expm of a larger matrix is slow with threaded BLAS on small machines)
    if kind == "nonnormal":  # random sparse, diagonally dominant with negative diagonal: stable
        S = sps.random(n, n, density=4 / n, random_state=rng, data_rvs=rng.standard_normal)
        d = np.asarray(abs(S).sum(axis=1)).ravel() + rng.uniform(0.1, 1.0, n)
        A = (S - sps.diags(d)).tocsc()
    else:
        A = sps.diags([np.ones(n - 1), -2.0 * np.ones(n), np.ones(n - 1)], [-1, 0, 1]).tocsc()
    A = A * (norm / sps.linalg.norm(A, 1))  # ||h A||_1 = norm at h = 1
    times = np.array([0.25, 1.0])
    for p in (1, 2, 4):
        B = rng.standard_normal((p + 1, n))
        W, kstats, status = phi_products(A, B, times, tol=1e-13)
        assert status == 0
        for i, t in enumerate(times):
            ref = _dense_reference(A, B, t)
            assert np.linalg.norm(W[i] - ref) <= 1e-10 * np.linalg.norm(ref), (p, t, kstats)
    if norm >= 1000:
        assert kstats["nsubstep"] > 2 and kstats["max_krylov_dim"] == 30  # time-stepping was needed


# --- observed orders ------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["exprb32", "exprb43"])
def test_order_hochbruck_ostermann(hochbruck_ostermann, method):
    """The stiff semilinear parabolic problem of Hochbruck & Ostermann: full order, no reduction."""
    cm, exact = hochbruck_ostermann
    hs = {"exprb32": [1 / 8, 1 / 16, 1 / 32], "exprb43": [1 / 16, 1 / 32, 1 / 64]}[method]
    errs = []
    for h in hs:
        status, t, u, *_ = run(cm, 1.0, h, method, rtol=1e-11, atol=1e-13)
        assert status == _status.SUCCESS and t == 1.0
        errs.append(np.abs(u - exact).max())
    assert abs(slope(hs, errs) - ORDERS[method]) < 0.2, errs


@pytest.mark.parametrize("method", ["exprb32", "exprb43"])
def test_order_bernoulli(bernoulli, method):
    cm, exact, _ = bernoulli
    hs = [0.05, 0.025, 0.0125, 0.00625]
    errs = []
    for h in hs:
        status, t, u, *_ = run(cm, 1.0, h, method, rtol=1e-13, atol=1e-16, autonomous=True)
        errs.append(abs(u[0] - exact(1.0)))
    assert abs(slope(hs, errs) - ORDERS[method]) < 0.2, errs


@pytest.mark.parametrize("method", ["exprb32", "exprb43"])
def test_order_linear2_nonnormal_forced(linear2, method):
    """Non-autonomous (df/dt by differences): exact for the linear part, the order from b(t)."""
    cm, exact, prob = linear2
    sample = next(s for s in prob["samples"] if float(s["t"]) == 1.0)
    ref = np.array([float(x) for x in sample["u"]])
    hs = [0.1, 0.05, 0.025, 0.0125]
    errs = []
    for h in hs:
        status, t, u, *_ = run(cm, 1.0, h, method, rtol=1e-13, atol=1e-15)
        errs.append(np.abs(u - ref).max())
    assert abs(slope(hs, errs) - ORDERS[method]) < 0.2, errs


@pytest.mark.parametrize("method", ["exprb32", "exprb43"])
def test_linear_autonomous_problem_is_exact(lambert, method):
    """For u' = A u every D_j vanishes: each step is exp(hA) u up to the Krylov tolerance, so
    the adaptive solve takes few and large steps."""
    cm, prob = lambert
    times = np.array([float(s["t"]) for s in prob["samples"]])
    ref = np.array([[float(x) for x in s["u"]] for s in prob["samples"]])
    status, t, u, ts, us, stats, *_ = run(cm, float(times[-1]), method=method, adaptive=True, rtol=1e-10,
                                          atol=1e-12, saveat=times, autonomous=True)
    assert status == _status.SUCCESS and np.array_equal(ts, times)
    assert np.abs(us - ref).max() < 1e-10
    assert stats[_status.NACCEPT] <= 12


# --- adaptive ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def allen_cahn_200():
    cm = sd.compile(allen_cahn(200))
    ref = cm.solve((0.0, 5.0), method="rodas5p", rtol=1e-11, atol=1e-11, saveat=[1.0, 2.5, 5.0])
    assert ref.success
    return cm, ref


@pytest.mark.parametrize("method", ["exprb32", "exprb43"])
def test_adaptive_allen_cahn_agrees_with_rodas5p(allen_cahn_200, method):
    cm, ref = allen_cahn_200
    errs = []
    for rtol in (1e-6, 1e-8):
        status, t, u, ts, us, stats, rec_t, rec_h, rec_u, rec_k, kstats = run(
            cm, 5.0, method=method, adaptive=True, rtol=rtol, atol=rtol, saveat=ref.t, autonomous=True, dense=True)
        assert status == _status.SUCCESS and np.array_equal(ts, ref.t)
        errs.append(np.abs(us - ref.u).max())
        assert errs[-1] < 20 * rtol, errs
        # Hermite dense records work with the solvers' DenseOutput
        dense = DenseOutput(0.0, t, rec_t, rec_h, rec_u, rec_k, HERMITE_DENSE, scale_h=False)
        assert np.abs(dense(ref.t) - ref.u).max() < 100 * rtol
        assert np.abs(dense(rec_t[1:]) - rec_u[1:]).max() == 0.0  # interpolates the steps
    assert errs[1] < errs[0] / 10


def test_saveat_does_not_change_the_steps(bernoulli):
    cm, exact, var = bernoulli
    times = np.array([float(s["t"]) for s in var["samples"] if float(s["t"]) <= 1.0])
    plain = run(cm, 1.0, method="exprb43", adaptive=True, rtol=1e-8, atol=1e-12, autonomous=True)
    saved = run(cm, 1.0, method="exprb43", adaptive=True, rtol=1e-8, atol=1e-12, saveat=times, autonomous=True)
    assert plain[5][_status.NACCEPT] == saved[5][_status.NACCEPT]
    assert abs(plain[2][0] - saved[2][0]) < 1e-12
    # the continuous extension meets the tolerance at the json's sample times
    got = saved[4][:, 0]
    want = np.array([exact(t) for t in times])
    assert np.all(np.abs(got - want) <= 1e-12 + 1e-7 * np.abs(want))


def test_failures_return_a_status(bernoulli):
    cm, exact, _ = bernoulli
    # the solution blows up at t = log(1 + lambda/u0)/lambda for u0 > -lambda
    status, t, *_ = exprb_solve(cm.addresses["rhs"], cm.addresses["jac_csc"], cm.jac_pattern.indptr,
                                cm.jac_pattern.indices, cm.p0, 0.0, 1.0, np.array([20.0]), 1e-6, 1e-8, None, None,
                                True, 100_000, "exprb32", autonomous=True)
    assert status in (_status.STEP_SIZE_TOO_SMALL, _status.NON_FINITE) and t < math.log(2.0) / 10.0 + 1e-6
    status, t, *_ = run(cm, 1.0, method="exprb32", adaptive=True, rtol=1e-10, atol=1e-12, autonomous=True)
    assert status == _status.SUCCESS
    pat = cm.jac_pattern
    status, t, *_ = exprb_solve(cm.addresses["rhs"], cm.addresses["jac_csc"], pat.indptr, pat.indices, cm.p0, 0.0,
                                1.0, cm.u0, 1e-10, 1e-12, None, None, True, 5, "exprb32", autonomous=True)
    assert status == _status.MAX_STEPS and t < 1.0
