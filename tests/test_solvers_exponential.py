"""Tests of the exponential integrators: phi-functions, ETDRK4 and the exponential multistep EXPMS.

phi-functions against mpmath at 50 digits; ETDRK4 and EXPMS against the exact solutions of
tests/data/exact.json (values read from the json, never retyped), observed orders at fixed steps
(slope of log error against log h, within +-0.2 of theory), the circulant (FFT) path against the
dense path, adaptive ETDRK4 on a finite-difference Kuramoto--Sivashinsky problem against a
reference computed (and cross-checked) by symdyn's dop853 and rodas5p, failure statuses and
bad input.
"""
import json
import math

import mpmath as mp
import numpy as np
import pytest
import scipy.linalg
import sympy as sp

import symdyn as sd
from symdyn.solvers import RetCode
from symdyn.solvers import errors as E
from symdyn.solvers._fft import EIG, EIGR, FULL, RFFT, make_plan, spectrum_length, to_real, to_spec
from symdyn.solvers.exponential import _coeffs, etdrk4_solve, expms_solve, expms_weights
from symdyn.solvers.phi import phi, phi_all, phi_matrix

from refdata import PROBLEMS, variant



def sample(entries, t, key="u"):
    for s in entries:
        if float(s["t"]) == t:
            return np.array([float(x) for x in s[key]])
    raise LookupError(t)


def lambert_matrix():
    """A of 'linear3_lambert', parsed from the json's equation text."""
    text = PROBLEMS["linear3_lambert"]["equations"][1]
    assert text.startswith("A = ")
    return np.array(json.loads(text[4:]), dtype=float)


def observed_order(hs, errs):
    return np.polyfit(np.log(hs), np.log(errs), 1)[0]


def compiled(name, states, init, rhs_of, params=None):
    """sd.compile of a model with the given states; ``rhs_of(m, xs, ps)`` returns the equations."""
    m = sd.Model(name)
    xs = m.states(states, init=init)
    xs = xs if isinstance(xs, tuple) else (xs,)
    ps = ()
    if params:
        ps = m.params(list(params), values=list(params.values()))
        ps = ps if isinstance(ps, tuple) else (ps,)
    for x, rhs in zip(xs, rhs_of(m, xs, ps)):
        m.eq(sd.D(x), rhs)
    return sd.compile(m)


# --- phi-functions -----------------------------------------------------------------------------------
mp.mp.dps = 40


def mp_phi(k, z):
    z = mp.mpc(z)
    if abs(z) < 0.5:  # Taylor series, to 1e-45
        term = acc = 1 / mp.factorial(k)
        j = 0
        while abs(term) > mp.mpf("1e-45") * abs(acc):
            j += 1
            term = term * z / (j + k)
            acc += term
        return acc
    r = mp.exp(z)
    for j in range(1, k + 1):
        r = (r - 1 / mp.factorial(j - 1)) / z
    return r


def z_grid():
    mags = np.concatenate([np.logspace(-12, -3, 10), np.logspace(-2, 4, 31)])
    angles = np.linspace(0, 2 * np.pi, 13)[:-1] + 0.1
    zs = (mags[:, None] * np.exp(1j * angles)[None, :]).ravel()
    zs = np.concatenate([zs, 1j * mags, -1j * mags, -mags + 0j, 2j * np.pi * np.arange(1, 4) + 1e-9])
    return zs[zs.real < 700]  # beyond, exp overflows


def test_phi_complex_matches_mpmath():
    zs = z_grid()
    P = phi_all(zs)
    worst = np.zeros(5)
    for i, z in enumerate(zs):
        for k in range(5):
            ex = mp_phi(k, complex(z))
            if abs(ex) < 1e-300:  # phi_0 = exp underflows below ~ -745
                continue
            worst[k] = max(worst[k], float(abs(mp.mpc(P[k, i]) - ex) / abs(ex)))
    assert np.all(worst < 1e-13), worst


def test_phi_real_matches_mpmath_tiny_and_large_negative():
    mags = np.concatenate([np.logspace(-12, -2, 21), np.logspace(-2, 4, 61)])
    xs = np.concatenate([mags[mags <= 700], -mags, [0.0, -1.0, 1.0, -1e4, 700.0]])  # exp(> 709) overflows
    P = phi_all(xs)
    assert P.dtype == np.float64
    for k in range(5):
        worst = 0.0
        for i, x in enumerate(xs):
            ex = mp_phi(k, x).real
            if abs(ex) < 1e-300:
                continue
            worst = max(worst, float(abs(P[k, i] - ex) / abs(ex)))
        assert worst < 1e-13, (k, worst)
    # the scalar entry point and the limits at 0
    assert phi(0, 0.0) == 1.0 and phi(1, 0.0) == 1.0 and phi(4, 0.0) == pytest.approx(1 / 24, rel=1e-15)
    assert phi(1, 1e-10 + 0j) == pytest.approx(1 + 0.5e-10, rel=1e-15)


def test_phi_matrix_block_exponential():
    A = lambert_matrix()
    for h in (1e-3, 0.1, 2.0):
        P = phi_matrix(h * A)
        # the recurrence phi_{k-1}(X) = X phi_k(X) + I/(k-1)!, and phi_0 = expm
        assert np.allclose(P[0], scipy.linalg.expm(h * A), rtol=1e-13, atol=1e-15)
        for k in range(1, 5):
            lhs = h * A @ P[k] + np.eye(3) / math.factorial(k - 1)
            assert np.abs(lhs - P[k - 1]).max() <= 1e-13 * max(1.0, np.abs(P[k - 1]).max())
    d = np.array([-1e4, -3.0, 1e-9, 0.5])
    P = phi_matrix(np.diag(d))
    for k in range(5):
        assert np.allclose(np.diag(P[k]), phi(k, d), rtol=1e-13, atol=0)


def test_kernel_coefficients_match_phi_functions():
    # the native ETDRK4 coefficients (a faster evaluation: two transcendental calls per mode)
    rng = np.random.default_rng(0)
    mag = np.logspace(-8, 4, 300)
    lam = np.concatenate([-mag, mag[mag < 300], mag * np.exp(2j * np.pi * rng.uniform(size=mag.size)), 1j * mag])
    lam = lam[lam.real < 300].astype(complex)
    for h in (1.0, 0.37):
        got = [np.empty(lam.size, complex) for _ in range(7)]
        _coeffs(lam, h, *got, np.empty(5), np.empty(5, complex))
        P, Ph = phi_all(h * lam), phi_all(h * lam / 2, 1)
        ref = [P[0], Ph[0], h / 2 * Ph[1], h * (P[1] - 3 * P[2] + 4 * P[3]), 2 * h * (P[2] - 2 * P[3]),
               h * (-P[2] + 4 * P[3]), h * (6 * P[4] - 3 * P[3] + P[2] / 2)]
        # relative to the size of the terms combined (F1 and W cancel for large |z| and near 0)
        scale = [np.abs(P[0]), np.abs(Ph[0]), h * np.abs(Ph[1])] + [h * np.abs(P[1])] * 4
        for g, r, sc in zip(got, ref, scale):
            assert np.all(np.abs(g - r) <= 4e-14 * np.maximum(sc, 1e-300)), np.max(np.abs(g - r) / sc)


def test_fft_plans_match_numpy():
    rng = np.random.default_rng(0)
    for n in (1, 2, 6, 60, 63, 64, 128, 1000):
        for layout in ((RFFT, FULL) if n % 2 == 0 else (FULL,)):
            plan = make_plan(n, layout)
            x = rng.standard_normal(n)
            spec = np.empty(spectrum_length(n, layout), complex)
            to_spec(plan, x, spec)
            ref = np.fft.rfft(x) if layout == RFFT else np.fft.fft(x)
            assert np.abs(spec - ref).max() <= 1e-14 * n * np.abs(ref).max()
            back = np.empty(n)
            to_real(plan, ref, back)
            assert np.abs(back - x).max() <= 1e-14 * n


def test_eigenbasis_plans_real_and_complex():
    """EIGR (symmetric L, real orthogonal V, dgemv) and EIG (complex V, zgemv) give the same spectra."""
    rng = np.random.default_rng(1)
    for n in (1, 5, 40):
        A = rng.standard_normal((n, n))
        S = A + A.T
        lam, V = np.linalg.eigh(S)
        real = make_plan(n, EIGR, V, np.ascontiguousarray(V.T))
        cplx = make_plan(n, EIG, V.astype(complex), V.T.astype(complex))
        x = rng.standard_normal(n)
        a, b = np.empty(n, complex), np.empty(n, complex)
        to_spec(real, x, a)
        to_spec(cplx, x, b)
        assert np.abs(a - V.T @ x).max() <= 1e-14 * n * np.abs(x).max()
        assert np.abs(a - b).max() <= 1e-14 * n * np.abs(x).max() and not a.imag.any()
        back = np.empty(n)
        to_real(real, a, back)
        assert np.abs(back - x).max() <= 1e-14 * n * np.abs(x).max()
        assert np.allclose(V @ np.diag(lam) @ V.T, S, rtol=0, atol=1e-13 * np.abs(S).max())


# --- ETDRK4 on problems with exact solutions ----------------------------------------------------------
@pytest.fixture(scope="module")
def sin_model():
    return compiled("forcing_sin", "u", 1.0, lambda m, xs, ps: [sp.sin(m.t)])


@pytest.fixture(scope="module")
def bernoulli_model():
    return compiled("bernoulli_N", "u", 1.0, lambda m, xs, ps: [xs[0] ** 2])


@pytest.fixture(scope="module")
def zero_model():
    return compiled("zero3", "a b c", [1.0, 0.0, -1.0], lambda m, xs, ps: [0 * x for x in xs])


def test_exact_when_N_is_zero_dense_and_diagonal(zero_model):
    prob = PROBLEMS["linear3_lambert"]
    A = lambert_matrix()
    assert prob["initial_condition"] == "u(0) = (1, 0, -1)"
    u0 = np.array([1.0, 0.0, -1.0])
    for t_end in (0.01, 0.1, 1.0):
        ex = sample(prob["samples"], t_end)
        one = etdrk4_solve(zero_model.addresses["rhs"], [], 0.0, t_end, u0, "dense", A, adaptive=False,
                           dt=t_end, saveat=[t_end])
        ada = etdrk4_solve(zero_model.addresses["rhs"], [], 0.0, t_end, u0, "dense", A, saveat=[t_end])
        for sol in (one, ada):
            assert sol.success
            assert np.abs(sol.u[-1] - ex).max() <= 1e-13 * np.abs(ex).max() + 1e-16
    # diagonal L: exp(t lambda) u0 in one step
    d = np.array([-1e4, -2.0, 0.5])
    sol = etdrk4_solve(zero_model.addresses["rhs"], [], 0.0, 3.0, u0, "diagonal", d, adaptive=False, dt=3.0)
    assert np.allclose(sol.u[-1], np.exp(3 * d) * u0, rtol=1e-14, atol=0)


@pytest.mark.parametrize("lam,u0", [(-1.0, 1.0), (-1e4, 1.0), (-1e4, 0.0), (2.0, 1.0)])
def test_scalar_linear_sin(sin_model, lam, u0):
    v = variant("scalar_linear_sin", **{"lambda": lam, "u0": u0})
    ts = [float(s["t"]) for s in v["samples"]]
    ex = np.array([sample(v["samples"], t)[0] for t in ts])
    errs, hs = [], [0.2, 0.1, 0.05, 0.025]
    for dt in hs:
        sol = etdrk4_solve(sin_model.addresses["rhs"], [], 0.0, ts[-1], [u0], "diagonal", [lam], adaptive=False,
                           dt=dt, saveat=ts)
        assert sol.success and np.allclose(sol.t, ts)
        errs.append(np.abs(sol.u[:, 0] - ex) / np.abs(ex))
    errs = np.array(errs)
    if lam == -1.0:  # at t_end (a step end; the other times are interpolated)
        assert abs(observed_order(hs, errs[:, -1]) - 4) < 0.2, errs
    else:  # the linear part is exact: stiff or growing, the error is that of the quadrature of sin(t)
        assert errs.max() < 2e-4 and errs[-1].max() < 1e-7, errs
    for rtol in (1e-6, 1e-9):
        atol = rtol * 1e-3
        sol = etdrk4_solve(sin_model.addresses["rhs"], [], 0.0, ts[-1], [u0], "diagonal", [lam], rtol=rtol,
                           atol=atol, saveat=ts)
        assert sol.success
        assert np.all(np.abs(sol.u[:, 0] - ex) < 30 * (atol + rtol * np.abs(ex).max())), (sol.u[:, 0] - ex)


def test_bernoulli_order_4_at_fixed_steps(bernoulli_model):
    v = variant("semilinear_bernoulli", **{"lambda": -10, "u0": 1})
    ex = sample(v["samples"], 1.0)[0]
    hs = [0.1, 0.05, 0.025, 0.0125]
    errs = []
    for dt in hs:
        sol = etdrk4_solve(bernoulli_model.addresses["rhs"], [], 0.0, 1.0, [1.0], "diagonal", [-10.0],
                           adaptive=False, dt=dt, saveat=[1.0])
        errs.append(abs(sol.u[-1, 0] - ex) / abs(ex))
    assert abs(observed_order(hs, errs) - 4) < 0.2, errs
    # the continuous extension, at t = 0.1 = 30% into a step, converges with order > 3
    ex_mid = sample(v["samples"], 0.1)[0]
    hs = [0.1 / (k + 0.3) for k in (1, 2, 4, 8)]
    errs = []
    for dt in hs:
        sol = etdrk4_solve(bernoulli_model.addresses["rhs"], [], 0.0, 1.0, [1.0], "diagonal", [-10.0],
                           adaptive=False, dt=dt, saveat=[0.1])
        errs.append(abs(sol.u[0, 0] - ex_mid))
    assert observed_order(hs, errs) > 3.0, errs


def test_bernoulli_adaptive_error_follows_rtol(bernoulli_model):
    for lam, u0 in ((-10.0, 1.0), (-1.0, 0.5)):
        v = variant("semilinear_bernoulli", **{"lambda": lam, "u0": u0})
        ts = [0.01, 0.1, 1.0]
        ex = np.array([sample(v["samples"], t)[0] for t in ts])
        prev = None
        for rtol in (1e-5, 1e-8, 1e-11):
            sol = etdrk4_solve(bernoulli_model.addresses["rhs"], [], 0.0, 1.0, [u0], "diagonal", [lam], rtol=rtol,
                               atol=1e-16, saveat=ts)
            err = np.max(np.abs(sol.u[:, 0] - ex) / np.abs(ex))
            assert sol.success and err < 30 * rtol, (lam, rtol, err)
            if prev is not None:
                assert err < prev
            prev = err


def test_linear2_nonnormal_forced_dense_paths():
    prob = PROBLEMS["linear2_nonnormal_forced"]
    A = np.array(prob["parameters"]["A"], dtype=float)
    cm = compiled("nn_forcing", "u1 u2", [1.0, 2.0], lambda m, xs, ps: [sp.sin(m.t), sp.cos(m.t)])
    ts = [float(s["t"]) for s in prob["samples"]]
    ex = np.array([sample(prob["samples"], t) for t in ts])
    hs = [0.2, 0.1, 0.05]
    errs = []
    for dt in hs:  # phi-matrices, steps also ending on the saveat points (0.001 is off the lattice)
        sol = etdrk4_solve(cm.addresses["rhs"], [], 0.0, 10.0, [1.0, 2.0], "dense", A, adaptive=False, dt=dt,
                           saveat=ts)
        assert np.allclose(sol.t, ts)
        errs.append(np.abs(sol.u - ex).max())
    assert abs(observed_order(hs, errs) - 4) < 0.3, errs
    for rtol in (1e-6, 1e-10):  # adaptive: the eigenbasis of A
        sol = etdrk4_solve(cm.addresses["rhs"], [], 0.0, 10.0, [1.0, 2.0], "dense", A, rtol=rtol, atol=rtol,
                           saveat=ts)
        assert sol.success and np.abs(sol.u - ex).max() < 30 * rtol


def ho_setup(n):
    """Hochbruck--Ostermann: u_t = u_xx + 1/(1+u^2) + Phi(x, t), Dirichlet, n interior points."""
    prob = PROBLEMS["hochbruck_ostermann_semilinear"]
    assert "x(1-x) e^t + 2 e^t - 1/(1 + x^2 (1-x)^2 e^(2t))" in prob["parameters"]["Phi(x,t)"]
    x = np.arange(1, n + 1) / (n + 1)

    def rhs(m, us, ps):
        et = sp.exp(m.t)
        return [1 / (1 + u**2) + xi * (1 - xi) * et + 2 * et - 1 / (1 + xi**2 * (1 - xi)**2 * et**2)
                for u, xi in zip(us, (float(v) for v in x))]
    cm = compiled(f"ho_{n}", [f"u{i}" for i in range(n)], list(x * (1 - x)), rhs)
    L = (np.diag(-2.0 * np.ones(n)) + np.diag(np.ones(n - 1), 1) + np.diag(np.ones(n - 1), -1)) * (n + 1) ** 2
    for s in prob["samples"]:  # the exact solution x(1-x)e^t, checked against the json's samples
        xs, ts = float(s["x"]), float(s["t"])
        assert xs * (1 - xs) * math.exp(ts) == pytest.approx(float(s["u"]), rel=1e-14)
    return cm, L, x * (1 - x), x * (1 - x) * math.e


def test_hochbruck_ostermann_fixed_and_adaptive():
    cm, L, u0, ex = ho_setup(40)
    hs = [0.1, 0.05, 0.025, 0.0125]
    errs = []
    for dt in hs:
        sol = etdrk4_solve(cm.addresses["rhs"], [], 0.0, 1.0, u0, "dense", L, adaptive=False, dt=dt, saveat=[1.0])
        errs.append(np.abs(sol.u[-1] - ex).max())
    # order reduction of Cox--Matthews ETDRK4 on parabolic problems (Hochbruck & Ostermann 2005): between 2 and 4
    assert 2.0 < observed_order(hs, errs) < 4.2 and errs[-1] < 2e-8, errs
    prev = None
    for rtol in (1e-5, 1e-8):
        sol = etdrk4_solve(cm.addresses["rhs"], [], 0.0, 1.0, u0, "dense", L, rtol=rtol, atol=rtol, saveat=[1.0])
        err = np.abs(sol.u[-1] - ex).max()
        assert sol.success and err < 10 * rtol
        assert prev is None or err < prev / 100
        prev = err


# --- circulant L: Kuramoto--Sivashinsky by finite differences ----------------------------------------
def ks_fd(N, Lx=32 * math.pi):
    """u_t = -(u^2/2)_x - u_xx - u_xxxx on [0, Lx) periodic, second-order central differences.

    Returns (compiled full RHS, compiled N, first column of the circulant L, u0).
    """
    dx = Lx / N
    x = np.arange(N) * dx
    u0 = np.cos(x / 16) * (1 + np.sin(x / 16))
    c = np.zeros(N)
    c[[0, 1, -1]] += np.array([2.0, -1.0, -1.0]) / dx**2  # -u_xx
    c[[0, 1, -1, 2, -2]] += np.array([-6.0, 4.0, 4.0, -1.0, -1.0]) / dx**4  # -u_xxxx

    def nonlinear(u, i):
        return -(u[(i + 1) % N] ** 2 - u[(i - 1) % N] ** 2) / (4 * dx)

    def full(m, u, ps):
        return [nonlinear(u, i) + sum(float(c[(i - j) % N]) * u[j] for j in ((i - 2) % N, (i - 1) % N, i,
                                                                             (i + 1) % N, (i + 2) % N))
                for i in range(N)]
    names = [f"u{i}" for i in range(N)]
    cf = compiled(f"ks_full_{N}", names, list(u0), full)
    cn = compiled(f"ks_N_{N}", names, list(u0), lambda m, u, ps: [nonlinear(u, i) for i in range(N)])
    return cf, cn, c, u0


@pytest.mark.parametrize("N", [64, 60])
def test_circulant_matches_dense(N):
    cf, cn, c, u0 = ks_fd(N)
    Lmat = scipy.linalg.circulant(c)
    assert np.abs(Lmat @ u0 + cn.rhs(0.0, u0) - cf.rhs(0.0, u0)).max() < 1e-12  # the split is exact
    ts = [2.5, 5.0]
    a = etdrk4_solve(cn.addresses["rhs"], [], 0.0, 5.0, u0, "circulant", c, adaptive=False, dt=0.1, saveat=ts)
    b = etdrk4_solve(cn.addresses["rhs"], [], 0.0, 5.0, u0, "dense", Lmat, adaptive=False, dt=0.1, saveat=ts)
    assert a.success and b.success
    assert np.abs(a.u - b.u).max() < 1e-12 * np.abs(b.u).max()
    # adaptive: circulant (FFT) and dense (eigenbasis) take the same steps
    a = etdrk4_solve(cn.addresses["rhs"], [], 0.0, 5.0, u0, "circulant", c, rtol=1e-8, atol=1e-8, saveat=ts)
    b = etdrk4_solve(cn.addresses["rhs"], [], 0.0, 5.0, u0, "dense", Lmat, rtol=1e-8, atol=1e-8, saveat=ts)
    assert a.stats["nsteps"] == b.stats["nsteps"]
    assert np.abs(a.u - b.u).max() < 1e-11 * np.abs(b.u).max()
    ref = cf.solve((0.0, 5.0), method="dop853", rtol=1e-12, atol=1e-12, saveat=ts)
    assert np.abs(a.u - ref.u).max() < 1e-6


def test_kuramoto_sivashinsky_adaptive_vs_reference():
    cf, cn, c, u0 = ks_fd(128)
    ts = np.linspace(0.0, 30.0, 7)
    ref = cf.solve((0.0, 30.0), method="dop853", rtol=1e-13, atol=1e-13, saveat=ts)
    ref2 = cf.solve((0.0, 30.0), method="rodas5p", rtol=1e-11, atol=1e-11, saveat=ts)
    scale = np.abs(ref.u).max()
    assert ref.success and ref2.success
    assert np.abs(ref.u - ref2.u).max() < 1e-9 * scale  # the reference converged: two methods agree
    prev = None
    for rtol in (1e-5, 1e-7):
        sol = etdrk4_solve(cn.addresses["rhs"], [], 0.0, 30.0, u0, "circulant", c, rtol=rtol, atol=rtol, saveat=ts)
        err = np.abs(sol.u - ref.u).max() / scale
        assert sol.success and err < 30 * rtol, (rtol, err)
        assert prev is None or err < prev / 30
        prev = err
        assert sol.stats["nfev"] == 4 * sol.stats["nsteps"] + 2  # FSAL: 4 per step, + first stage + h0


# --- EXPMS on the probability-flow ODE ---------------------------------------------------------------
def pf_setup():
    """The VP probability-flow ODE with Gaussian data, split as in DEIS: a(t) = -beta(t)/2 (the
    drift) and N = -beta/2 * score = beta/2 (x - alpha mu)/sigma^2; variants with s = 0.5."""
    prob = PROBLEMS["pf_ode_vp_gaussian"]
    par = prob["parameters"]
    assert par["beta(t)"] == "beta_min + t*(beta_max - beta_min)"
    assert par["alpha(t)"].startswith("exp(-(beta_max - beta_min)*t^2/4 - beta_min*t/2)")
    assert par["sigma(t)^2"].startswith("1 - alpha(t)^2 + alpha(t)^2 * s^2")
    b0, b1 = float(par["beta_min"]), float(par["beta_max"])
    vs = [v for v in prob["variants"] if float(v["s"]) == 0.5]
    params = {"beta_min": b0, "beta_max": b1}
    params.update({f"mu{i}": float(v["mu"]) for i, v in enumerate(vs)})
    params.update({f"s{i}": float(v["s"]) for i, v in enumerate(vs)})

    def rhs(m, xs, ps):
        t = m.t
        bmin, bmax = ps[0], ps[1]
        beta = bmin + t * (bmax - bmin)
        al = sp.exp(-(bmax - bmin) * t**2 / 4 - bmin * t / 2)
        out = []
        for i, x in enumerate(xs):
            mu, s = ps[2 + i], ps[2 + len(xs) + i]
            out.append(beta / 2 * (x - al * mu) / (1 - al**2 + al**2 * s**2))
        return out
    x1 = np.array([float(v["x(1)"]) for v in vs])
    cm = compiled("pf_score", [f"x{i}" for i in range(len(vs))], list(x1), rhs, params)
    x0 = np.array([sample(v["samples"], 0.0, "x")[0] for v in vs])
    ca = compiled("pf_drift", "z", 0.0, lambda m, xs, ps: [-(ps[0] + m.t * (ps[1] - ps[0])) / 2], {"b0": b0, "b1": b1})
    return cm, ca, x1, x0, b0, b1


def test_expms_orders_on_pf_ode():
    cm, ca, x1, x0, b0, b1 = pf_setup()

    def a(t):
        return -(b0 + t * (b1 - b0)) / 2
    ns = [80, 160, 320, 640]
    for order in (1, 2, 3):
        errs = []
        for n in ns:
            sol = expms_solve(cm.addresses["rhs"], cm.p0, 1.0, 0.0, x1, a, n_steps=n, order=order, saveat=[0.0])
            assert sol.success and sol.t[-1] == 0.0 and sol.stats["nfev"] == n
            errs.append(np.abs(sol.u[-1] - x0).max())
        assert abs(observed_order(1.0 / np.array(ns), errs) - order) < 0.2, (order, errs)


def test_expms_weights_native_callable_exact_agree():
    cm, ca, x1, x0, b0, b1 = pf_setup()
    grid = np.concatenate([np.linspace(1.0, 0.2, 5), [0.1, 0.03, 0.0]])  # non-uniform, backwards

    def a(t):
        return -(b0 + t * (b1 - b0)) / 2

    def A(t):
        return -(b0 * t + (b1 - b0) * t**2 / 2) / 2
    ref = expms_weights(grid, 3, a, A=A)
    for got in (expms_weights(grid, 3, a), expms_weights(grid, 3, a_addr=ca.addresses["rhs"], a_p=ca.p0)):
        for r, g in zip(ref, got):
            assert np.abs(r - g).max() <= 1e-13 * np.abs(r).max()
    # constant a: closed form (phi-functions) against the quadrature, also when stiff (a h = -50)
    for c in (-0.7, -500.0):
        g = np.array([0.0, 0.1, 0.25, 0.3, 0.4])
        exact = expms_weights(g, 3, c)
        quad = expms_weights(g, 3, lambda t: np.full_like(t, c))
        for r, q in zip(exact, quad):
            assert np.abs(r - q).max() <= 1e-13 * np.abs(r).max()
    # the weights are exact on polynomials of degree < order: N = 1, t, t^2 for u' = -u + N
    g = np.linspace(0.0, 1.0, 6)
    Ew, W, Wc = expms_weights(g, 3, -1.0)
    for i in range(2, 5):
        f = (g[i - 2:i + 1] ** 2)[::-1]  # t^2 at t_i, t_{i-1}, t_{i-2}
        exact = mp.quad(lambda s: mp.exp(-(g[i + 1] - s)) * s**2, [g[i], g[i + 1]])
        assert float(W[i] @ f) == pytest.approx(float(exact), rel=1e-13)


# --- failures and bad input ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nan_model():  # N leaves its domain at t = 0.5
    return compiled("nan_after_half", "u v", [1.0, 1.0], lambda m, xs, ps: [sp.sqrt(0.5 - m.t), -xs[1]])


def test_nan_in_N_returns_nonfinite(nan_model):
    addr = nan_model.addresses["rhs"]
    u0 = [1.0, 1.0]
    for kind, data in (("diagonal", [-1.0, -2.0]), ("circulant", [-2.0, 1.0]), ("dense", [[-1.0, 0.0], [0.0, -2.0]])):
        for kw in ({}, {"adaptive": False, "dt": 0.1}):
            sol = etdrk4_solve(addr, [], 0.0, 1.0, u0, kind, data, **kw)
            assert sol.retcode == RetCode.NonFinite and not sol.success, (kind, kw, sol.retcode)
            assert 0.3 <= sol.t_reached <= 0.5 and np.all(np.isfinite(sol.u_end))
            assert "NaN" in sol.message
    sol = expms_solve(addr, [], 0.0, 1.0, u0, -1.0, n_steps=10, order=2)
    assert sol.retcode == RetCode.NonFinite and sol.t_reached == pytest.approx(0.5)


def test_max_steps(bernoulli_model):
    sol = etdrk4_solve(bernoulli_model.addresses["rhs"], [], 0.0, 1.0, [1.0], "diagonal", [-10.0], rtol=1e-10,
                       max_steps=5)
    assert sol.retcode == RetCode.MaxSteps and sol.stats["nsteps"] == 5 and "max_steps" in sol.message


GOOD = dict(n_addr=None, p=[], t0=0.0, tf=1.0, u0=[1.0, 2.0], L_kind="diagonal", L_data=[-1.0, -2.0])


@pytest.mark.parametrize("change,error", [
    ({"L_data": [-1.0]}, E.ShapeError),
    ({"L_kind": "dense", "L_data": [-1.0, -2.0]}, E.ShapeError),
    ({"L_kind": "circulant", "L_data": np.array([1, 2])}, E.DTypeError),
    ({"L_data": [-1.0, float("nan")]}, E.NonFiniteValueError),
    ({"L_kind": "banded"}, E.OptionError),
    ({"L_kind": "dense", "L_data": [[-1.0, 1.0], [0.0, -1.0]]}, E.OptionError),  # Jordan block, adaptive
    ({"u0": np.array([1.0, 2.0], dtype=np.float32)}, E.DTypeError),
    ({"u0": [1.0, float("inf")]}, E.NonFiniteValueError),
    ({"t0": 1.0, "tf": 0.0}, E.TimeSpanError),
    ({"rtol": -1.0}, E.ToleranceError),
    ({"atol": [1e-8]}, E.ShapeError),
    ({"saveat": [2.0]}, E.SaveatError),
    ({"adaptive": False}, E.OptionError),
    ({"dt": -0.1}, E.OptionError),
    ({"max_steps": 0}, E.OptionError),
    ({"n_addr": 0}, E.OptionError),
    ({"names": ["a"]}, E.ShapeError),
])
def test_etdrk4_bad_input_raises(bernoulli_model, change, error):
    args = dict(GOOD, n_addr=bernoulli_model.addresses["rhs"])
    args.update(change)
    with pytest.raises(error):
        etdrk4_solve(**args)


@pytest.mark.parametrize("change,error", [
    ({"order": 4}, E.OptionError),
    ({"n_steps": 10, "t_grid": [0.0, 1.0]}, E.OptionError),
    ({"n_steps": None}, E.OptionError),
    ({"n_steps": None, "t_grid": [0.0, 0.7, 0.5, 1.0]}, E.OptionError),
    ({"n_steps": None, "t_grid": [0.0, 0.5, 0.9]}, E.OptionError),
    ({"saveat": [0.55]}, E.SaveatError),
    ({"a_addr": 12345}, E.OptionError),  # both a and a_addr
    ({"a": "x"}, E.OptionError),
    ({"names": ["a", "b"]}, E.ShapeError),
    ({"t0": 1.0, "tf": 1.0}, E.OptionError),
])
def test_expms_bad_input_raises(bernoulli_model, change, error):
    args = dict(n_addr=bernoulli_model.addresses["rhs"], p=[], t0=0.0, tf=1.0, u0=[1.0], a=-1.0, n_steps=10)
    args.update(change)
    with pytest.raises(error):
        expms_solve(**args)
