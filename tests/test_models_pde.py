"""The method-of-lines models (issue 4) and the diffusion PF-ODE against independent references.

- compiled right-hand sides against ``sympy.lambdify`` of the model (no compiler), and the
  model against a numpy transcription of the scheme in its docstring (stencils, periodic
  wrap-around, boundary data);
- the exact solutions of ``tests/data/exact.json``: the module's ``exact`` against the
  JSON's sampled values (read here, never retyped), and the residual of the
  semi-discretisation at the exact solution, ``d/dt u(x_i, t) - f_i(u(x, t), t)``, which
  must shrink like ``h^2`` (or vanish, for Hochbruck–Ostermann and the PF-ODE);
- structure: one family of identical interior equations (native loops), a circulant
  linear part (Kuramoto–Sivashinsky), conserved quantities (mean, energy).
"""
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import models
import symdyn as sd
from models import (
    allen_cahn, burgers, diffusion_pf_ode, gray_scott_1d, hochbruck_ostermann, klein_gordon,
    kuramoto_sivashinsky,
)
from symdyn.passes import find_families

DATA = Path(__file__).parent / "data"
EXACT = {p["id"]: p for p in json.loads((DATA / "exact.json").read_text())["problems"]}

#: module -> build keywords of a small instance
MODULES = {
    kuramoto_sivashinsky: {"N": 8},
    allen_cahn: {"N": 5},
    burgers: {"N": 5},
    gray_scott_1d: {"N": 6},
    diffusion_pf_ode: {"d": 1},
    klein_gordon: {"N": 6},
    hochbruck_ostermann: {"N": 4},
}
#: extra variants compiled and checked against lambdify
VARIANTS = [
    (kuramoto_sivashinsky, {"N": 512}),
    (diffusion_pf_ode, {"d": 3, "mixture": [(0.3, -1.0, 0.2), (0.7, [2.0, 1.0, 0.0], 0.5)]}),
    (klein_gordon, {"potential": "sine_gordon"}),
    (burgers, {"N": 40, "nu": 0.01}),
]


def model_rhs(m):
    """``f(u, p, t)`` of model ``m`` by ``sympy.lambdify``, observed quantities substituted."""
    resolved = {}
    for sym in m.observed_order():
        resolved[sym] = m.observed_exprs[sym].xreplace(resolved)
    exprs = [e.xreplace(resolved) for e in m.rhs]
    f = sp.lambdify([m.state_symbols, m.param_symbols, m.t], exprs, "numpy")
    return lambda u, p, t=0.0: np.array(f(list(u), list(p), t), dtype=float)


def assert_rhs_close(actual, desired, rtol=1e-12, scale=None):
    """``|actual - desired| <= rtol * scale`` componentwise.

    ``scale`` is the size of the terms that cancel in a stencil (default: ``max |desired|``),
    e.g. ``|J| |u| + |f|``: a difference quotient of O(1) values is O(1) but rounds like 1/h^2.
    """
    scale = np.abs(desired).max() if scale is None else scale
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * np.max(scale))


def d_dt(fun, t, dt=1e-3):
    """Fourth-order central difference of ``fun`` at ``t``."""
    return (fun(t - 2 * dt) - 8 * fun(t - dt) + 8 * fun(t + dt) - fun(t + 2 * dt)) / (12 * dt)


def observed_order(errors, hs):
    return np.polyfit(np.log(hs), np.log(errors), 1)[0]


# --- every model: builds, compiles, compiled rhs == lambdify ------------------------------------
CASES = [(mod, kw) for mod, kw in MODULES.items()] + [(mod, {}) for mod in MODULES] + VARIANTS


@pytest.mark.parametrize("module, kwargs", CASES, ids=[f"{m.__name__[7:]}-{k}"[:60] for m, k in CASES])
def test_compiled_rhs_matches_lambdify(module, kwargs):
    m = module.build(**kwargs).validate()
    cm = sd.compile(m)
    f = model_rhs(m)
    rng = np.random.default_rng(7)
    t0, t1 = module.T_SPAN
    for u in [np.array(m.init, dtype=float), *(rng.uniform(-1.0, 1.5, m.n_states) for _ in range(2))]:
        t = t0 + (t1 - t0) * rng.uniform()
        expected = f(u, m.param_values, t)
        assert_rhs_close(cm.rhs(t, u), expected, scale=np.abs(cm.jac(t, u)) @ np.abs(u) + np.abs(expected))
    p = np.array(m.param_values) * rng.uniform(0.8, 1.25, len(m.param_values))
    expected = f(u, p, 0.3)
    assert_rhs_close(cm.rhs(0.3, u, p), expected, scale=np.abs(cm.jac(0.3, u, p)) @ np.abs(u) + np.abs(expected))


@pytest.mark.parametrize("module", [kuramoto_sivashinsky, gray_scott_1d, klein_gordon],
                         ids=lambda mod: mod.__name__[7:])
def test_jacobian_loops_match_finite_differences(module):
    """At 64+ states the Jacobian is emitted as loops: check it against the compiled rhs."""
    m = module.build(N=64)
    cm = sd.compile(m)
    assert any(p.loops for p in cm.programs["jac_csc"])
    u = np.random.default_rng(8).uniform(0.2, 1.0, m.n_states)
    J = cm.jac(0.5, u)
    eps = 1e-6
    fd = np.column_stack([(cm.rhs(0.5, u + eps * e) - cm.rhs(0.5, u - eps * e)) / (2 * eps)
                          for e in np.eye(m.n_states)])
    np.testing.assert_allclose(J, fd, atol=1e-6 * np.abs(J).max())
    assert np.array_equal(cm.jac_sparse(0.5, u).toarray(), J)


@pytest.mark.parametrize("module", list(MODULES), ids=lambda mod: mod.__name__[7:])
def test_registered_documented_and_overrides_checked(module):
    name = module.__name__.split(".")[-1]
    assert name in models.NAMES
    assert models.NAMES.index(name) > models.NAMES.index("brusselator_1d")
    assert f"`{name}`" in (Path(__file__).parents[1] / "docs" / "models.md").read_text()
    assert module.__doc__ and module.build.__doc__
    with pytest.raises(TypeError):
        module.build(no_such_parameter=1.0)


@pytest.mark.parametrize(
    "module, kwargs, expected",
    [
        (kuramoto_sivashinsky, {}, [(2, 124)]),
        (allen_cahn, {}, [(1, 197)]),
        (burgers, {}, [(1, 97)]),
        (gray_scott_1d, {}, [(1, 254), (257, 254)]),
        (klein_gordon, {}, [(0, 256), (257, 254)]),
    ],
    ids=["kuramoto_sivashinsky", "allen_cahn", "burgers", "gray_scott_1d", "klein_gordon"],
)
def test_interior_rows_are_one_family(module, kwargs, expected):
    """Every interior row has the same template: the compiler emits one native loop per family."""
    families, scalar = find_families(module.build(**kwargs))
    assert [(f[3][0], len(f[3])) for f in families] == expected


def test_kuramoto_sivashinsky_512_builds_and_compiles_fast():
    start = time.perf_counter()
    cm = sd.compile(kuramoto_sivashinsky.build(N=512))
    elapsed = time.perf_counter() - start
    assert cm.n == 512
    assert elapsed < 4.0, f"N=512 took {elapsed:.2f} s to build and compile (about 0.7 s expected)"


# --- Kuramoto–Sivashinsky -----------------------------------------------------------------------
def ks_numpy(u, L=32 * np.pi):
    h = L / u.size
    up1, um1, up2, um2 = (np.roll(u, s) for s in (-1, 1, -2, 2))
    uxx = (um1 - 2 * u + up1) / h**2
    uxxxx = (um2 - 4 * um1 + 6 * u - 4 * up1 + up2) / h**4
    return -(up1**2 - um1**2) / (4 * h) - uxx - uxxxx


@pytest.mark.parametrize("N", [5, 16, 128])
def test_kuramoto_sivashinsky_stencil_and_setup(N):
    spec = EXACT["kuramoto_sivashinsky_kassam_trefethen"]
    m = kuramoto_sivashinsky.build(N=N)
    assert m.n_states == N and m.param_names == []
    assert kuramoto_sivashinsky.T_SPAN == (0.0, spec["published_setup"]["t_max"])
    x = 32 * np.pi * np.arange(1, N + 1) / N  # x_j = 32 pi j/N, j = 1..N, as published
    np.testing.assert_allclose(kuramoto_sivashinsky.grid(N), x, rtol=1e-15)
    np.testing.assert_allclose(m.init, np.cos(x / 16) * (1 + np.sin(x / 16)), rtol=1e-14, atol=1e-15)
    f = model_rhs(m)
    for u in np.random.default_rng(9).uniform(-2, 2, (3, N)):
        assert_rhs_close(f(u, []), ks_numpy(u))
        assert abs(f(u, []).sum()) <= 1e-12 * np.abs(ks_numpy(u)).max() * N  # the mean is conserved
    assert kuramoto_sivashinsky.build().n_states == spec["published_setup"]["N"]


def test_kuramoto_sivashinsky_linear_part_is_circulant():
    N = 64
    cm = sd.compile(kuramoto_sivashinsky.build(N=N))
    J0 = cm.jac(0.0, np.zeros(N))
    a0, a1, a2, b = kuramoto_sivashinsky.stencil(N)
    first = np.zeros(N)
    first[[0, 1, -1, 2, -2]] = [a0, a1, a1, a2, a2]
    circulant = np.array([np.roll(first, i) for i in range(N)])
    assert np.array_equal(J0, circulant)  # exactly: the same numbers in every row, wrapped
    u = np.random.default_rng(10).uniform(-1, 1, N)
    nonlinear = cm.jac(0.0, u) - J0
    expected = np.zeros((N, N))
    for i in range(N):
        expected[i, (i + 1) % N] = -2 * b * u[(i + 1) % N]
        expected[i, (i - 1) % N] = 2 * b * u[(i - 1) % N]
    np.testing.assert_allclose(nonlinear, expected, rtol=1e-12, atol=1e-12)


def test_kuramoto_sivashinsky_solve_conserves_the_mean():
    cm = sd.compile(kuramoto_sivashinsky.build(N=64))
    sol = cm.solve((0.0, 20.0), rtol=1e-8, atol=1e-10)
    assert sol.success
    assert abs(sol.u[-1].mean() - sol.u[0].mean()) < 1e-12


# --- Allen–Cahn / Nagumo front --------------------------------------------------------------------
def test_allen_cahn_exact_matches_json():
    spec = EXACT["allen_cahn_nagumo_wave"]
    assert allen_cahn.A == float(spec["parameters"]["a"])
    assert allen_cahn.speed() == pytest.approx(float(spec["checks"]["c"]), rel=1e-15)
    for s in spec["samples"]:
        got = allen_cahn.exact(float(s["t"]), float(s["x"]))
        assert got == pytest.approx(float(s["u"]), rel=1e-14)


def allen_cahn_numpy(u, t, a, L):
    N = u.size
    h = 2 * L / (N + 1)
    ue = np.concatenate([allen_cahn.exact(t, [-L], a), u, allen_cahn.exact(t, [L], a)])
    return (ue[:-2] - 2 * u + ue[2:]) / h**2 + u * (1 - u) * (u - a)


@pytest.mark.parametrize("N", [1, 4, 199])
def test_allen_cahn_stencil_and_boundary_data(N):
    m = allen_cahn.build(N=N)
    L = allen_cahn.L_HALF
    x = allen_cahn.grid(N)
    assert x[0] - (-L) == pytest.approx(L - x[-1]) and x.size == N
    np.testing.assert_allclose(np.diff(allen_cahn.grid(N, L)), 2 * L / (N + 1), rtol=1e-12)
    np.testing.assert_allclose(m.init, allen_cahn.exact(0.0, x), rtol=1e-15)
    f = model_rhs(m)
    rng = np.random.default_rng(11)
    for t in (0.0, 3.7):
        u = rng.uniform(0, 1, N)
        assert_rhs_close(f(u, [allen_cahn.A], t), allen_cahn_numpy(u, t, allen_cahn.A, L))
        assert_rhs_close(f(u, [0.4], t), allen_cahn_numpy(u, t, 0.4, L))


def test_allen_cahn_semidiscrete_residual_is_second_order():
    t = 5.0
    hs, res = [], []
    for N in (49, 99, 199):
        m = allen_cahn.build(N=N)
        x = allen_cahn.grid(N)
        f = model_rhs(m)
        r = d_dt(lambda s: allen_cahn.exact(s, x), t) - f(allen_cahn.exact(t, x), m.param_values, t)
        hs.append(x[1] - x[0])
        res.append(np.abs(r).max())
    assert res[-1] < 2e-4
    assert observed_order(res, hs) == pytest.approx(2.0, abs=0.05)


# --- Burgers (Cole–Hopf) -------------------------------------------------------------------------
def test_burgers_exact_matches_json_series_and_samples():
    spec = EXACT["burgers_cole_hopf_sin"]
    assert burgers.NU == float(spec["parameters"]["nu"])
    for s in spec["samples"]:
        t, x, u = float(s["t"]), float(s["x"]), float(s["u"])
        assert burgers.exact(t, x) == pytest.approx(u, rel=1e-13)
        assert burgers.exact_series(t, x) == pytest.approx(u, rel=1e-13)
    x = np.linspace(0, 1, 21)
    for t in (0.0, 0.01, 0.3, 1.5):
        np.testing.assert_allclose(burgers.exact(t, x), burgers.exact_series(t, x), rtol=0, atol=1e-14)
    np.testing.assert_allclose(burgers.exact(0.0, x, 0.01), np.sin(np.pi * x), atol=1e-15)


def test_burgers_exact_small_viscosity_is_converged_and_bounded():
    x = np.linspace(0, 1, 51)
    u = burgers.exact(0.5, x, 0.01)
    assert np.all(np.abs(u) <= 1) and abs(u[0]) < 1e-14 and abs(u[-1]) < 1e-14
    steps = burgers.QUAD_STEPS_PER_WIDTH
    try:
        burgers.QUAD_STEPS_PER_WIDTH = 4 * steps
        finer = burgers.exact(0.5, x, 0.01)
    finally:
        burgers.QUAD_STEPS_PER_WIDTH = steps
    np.testing.assert_allclose(u, finer, atol=1e-14)


def burgers_numpy(u, nu):
    h = 1 / (u.size + 1)
    ue = np.concatenate([[0.0], u, [0.0]])
    return -(ue[2:] ** 2 - ue[:-2] ** 2) / (4 * h) + nu * (ue[:-2] - 2 * u + ue[2:]) / h**2


@pytest.mark.parametrize("N", [1, 3, 99])
def test_burgers_stencil_and_dirichlet_boundaries(N):
    m = burgers.build(N=N)
    x = burgers.grid(N)
    np.testing.assert_allclose(x, np.arange(1, N + 1) / (N + 1))
    np.testing.assert_allclose(m.init, np.sin(np.pi * x), rtol=1e-15)
    f = model_rhs(m)
    rng = np.random.default_rng(12)
    u = rng.uniform(-1, 1, N)
    assert_rhs_close(f(u, [burgers.NU]), burgers_numpy(u, burgers.NU))
    assert_rhs_close(f(u, [0.01]), burgers_numpy(u, 0.01))


@pytest.mark.parametrize("nu, Ns", [(burgers.NU, (39, 79, 159)), (0.01, (319, 639))])
def test_burgers_semidiscrete_residual_is_second_order(nu, Ns):
    """At nu = 0.01 the front at t = 0.5 needs h < 0.005 before the residual is asymptotic."""
    t = 0.5
    hs, res = [], []
    for N in Ns:
        m = burgers.build(N=N, nu=nu)
        x = burgers.grid(N)
        f = model_rhs(m)
        r = d_dt(lambda s: burgers.exact(s, x, nu), t) - f(burgers.exact(t, x, nu), [nu])
        hs.append(1 / (N + 1))
        res.append(np.abs(r).max())
    assert observed_order(res, hs) == pytest.approx(2.0, abs=0.15)


def test_burgers_small_viscosity_solve_converges_to_exact():
    errs = []
    for N in (99, 199):
        cm = sd.compile(burgers.build(N=N, nu=0.01))
        sol = cm.solve((0.0, 0.5), rtol=1e-9, atol=1e-11, saveat=[0.5])
        assert sol.success
        errs.append(np.abs(sol.u[-1] - burgers.exact(0.5, burgers.grid(N), 0.01)).max())
    assert errs[1] < 5e-3 and errs[0] / errs[1] == pytest.approx(4.0, rel=0.15)


# --- Gray–Scott -----------------------------------------------------------------------------------
def gray_scott_numpy(w, p, L=2.5):
    Du, Dv, F, k = p
    N = w.size // 2
    u, v = w[:N], w[N:]
    h = L / N
    lap = lambda y: (np.roll(y, 1) - 2 * y + np.roll(y, -1)) / h**2  # noqa: E731
    return np.concatenate([Du * lap(u) - u * v**2 + F * (1 - u), Dv * lap(v) + u * v**2 - (F + k) * v])


@pytest.mark.parametrize("N", [3, 10, 256])
def test_gray_scott_periodic_stencil(N):
    m = gray_scott_1d.build(N=N)
    assert m.param_names == ["Du", "Dv", "F", "k"] and m.param_values == [2e-5, 1e-5, 0.04, 0.06]
    assert m.state_names == [f"u{i}" for i in range(1, N + 1)] + [f"v{i}" for i in range(1, N + 1)]
    f = model_rhs(m)
    rng = np.random.default_rng(13)
    w = rng.uniform(0, 1, 2 * N)
    assert_rhs_close(f(w, m.param_values), gray_scott_numpy(w, m.param_values))
    p = [1e-3, 4e-4, 0.03, 0.055]
    assert_rhs_close(f(w, p), gray_scott_numpy(w, p))


def test_gray_scott_initial_perturbation_and_pulse_splitting():
    m = gray_scott_1d.build()
    u0, v0 = np.array(m.init[:256]), np.array(m.init[256:])
    inside = v0 > 0
    assert 19 <= inside.sum() <= 21 and np.all(u0[inside] == 0.5) and np.all(v0[inside] == 0.25)
    assert np.all(u0[~inside] == 1.0)
    sol = sd.compile(m).solve(gray_scott_1d.T_SPAN, rtol=1e-6, atol=1e-9, saveat=[600.0, 2000.0])
    assert sol.success
    v = sol.u[:, 256:]
    peaks = [int(np.sum((vi > np.roll(vi, 1)) & (vi >= np.roll(vi, -1)) & (vi > 0.1))) for vi in v]
    assert peaks[0] >= 2 and peaks[1] > peaks[0]


# --- diffusion PF-ODE ---------------------------------------------------------------------------------
PF = EXACT["pf_ode_vp_gaussian"]


def pf_numpy(x, tau, beta_min, beta_max, mu, s):
    """The JSON's dx/dt, turned into d/dtau with t = 1 - tau."""
    t = 1 - tau
    beta = beta_min + t * (beta_max - beta_min)
    alpha = np.exp(-(beta_max - beta_min) * t**2 / 4 - beta_min * t / 2)
    sigma2 = 1 - alpha**2 + alpha**2 * s**2
    return -(-0.5 * beta * (x - (x - alpha * mu) / sigma2))


def pf_variant_args(v):
    return dict(mu=float(v["mu"]), s=float(v["s"]))


def test_pf_ode_defaults_and_rhs_match_json():
    params = PF["parameters"]
    m = diffusion_pf_ode.build()
    first = PF["variants"][0]
    assert m.param_values == [float(params["beta_min"]), float(params["beta_max"]),
                              float(first["mu"]), float(first["s"])]
    same_data = [v for v in PF["variants"] if (v["mu"], v["s"]) == (first["mu"], first["s"])]
    assert m.init == [float(v["x(1)"]) for v in same_data]
    f = model_rhs(m)
    rng = np.random.default_rng(14)
    for tau in (0.0, 0.37, 1.0):
        x = rng.normal(size=2)
        assert_rhs_close(f(x, m.param_values, tau), pf_numpy(x, tau, *m.param_values))


def test_pf_ode_linear_part_is_a_scalar_times_identity():
    cm = sd.compile(diffusion_pf_ode.build(d=4))
    rng = np.random.default_rng(15)
    for tau in (0.1, 0.99):
        J = cm.jac(tau, rng.normal(size=4))
        assert np.array_equal(J, J[0, 0] * np.eye(4))


@pytest.mark.parametrize("k", range(len(PF["variants"])))
def test_pf_ode_exact_matches_json_samples(k):
    v = PF["variants"][k]
    args = pf_variant_args(v)
    x1 = [float(v["x(1)"])]
    for s in v["samples"]:
        t = float(s["t"])
        assert diffusion_pf_ode.alpha(t) == pytest.approx(float(s["alpha"]), rel=1e-14)
        assert diffusion_pf_ode.sigma(t, args["s"]) == pytest.approx(float(s["sigma"]), rel=1e-14)
        got = diffusion_pf_ode.exact(1 - t, x1, **args)
        np.testing.assert_allclose(got, [float(s["x"][0])], rtol=1e-13)


@pytest.mark.parametrize("k", range(len(PF["variants"])))
def test_pf_ode_exact_solves_the_ode(k):
    v = PF["variants"][k]
    args = pf_variant_args(v)
    x1 = [float(v["x(1)"])]
    m = diffusion_pf_ode.build(d=1, x_start=x1, **args)
    f = model_rhs(m)
    for tau in np.linspace(0.05, 0.95, 7):
        lhs = d_dt(lambda s: diffusion_pf_ode.exact(s, x1, **args), tau, dt=2e-4)
        rhs = f(diffusion_pf_ode.exact(tau, x1, **args), m.param_values, tau)
        np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("k", range(len(PF["variants"])))
def test_pf_ode_rodas5p_solve_matches_exact(k):
    v = PF["variants"][k]
    args = pf_variant_args(v)
    x1 = [float(v["x(1)"])]
    cm = sd.compile(diffusion_pf_ode.build(d=1, x_start=x1, **args))
    taus = sorted(1 - float(s["t"]) for s in v["samples"])[1:]  # tau = 0 is the start
    sol = cm.solve(diffusion_pf_ode.T_SPAN, method="rodas5p", rtol=1e-10, atol=1e-12, saveat=taus)
    assert sol.success
    np.testing.assert_allclose(sol.u[:, 0], diffusion_pf_ode.exact(np.array(taus), x1, **args)[:, 0],
                               rtol=1e-7, atol=1e-7)
    data = next(s for s in v["samples"] if float(s["t"]) == 0.0)
    assert sol.u[-1, 0] == pytest.approx(float(data["x"][0]), rel=1e-7)


def mixture_score_numpy(x, tau, comps, beta_min=0.1, beta_max=20.0):
    """The score as the gradient of log p_tau (central differences of a numpy log-density)."""
    t = 1 - tau
    alpha = np.exp(-(beta_max - beta_min) * t**2 / 4 - beta_min * t / 2)

    def log_p(y):
        dens = 0.0
        for w, mean, std in comps:
            s2 = 1 - alpha**2 + alpha**2 * std**2
            dist2 = np.sum((y - alpha * np.asarray(mean)) ** 2)
            dens += w * np.exp(-dist2 / (2 * s2)) / (2 * np.pi * s2) ** (y.size / 2)
        return np.log(dens)

    eps = 1e-5
    return np.array([(log_p(x + eps * e) - log_p(x - eps * e)) / (2 * eps) for e in np.eye(x.size)])


def test_pf_ode_mixture_score_is_the_gradient_of_the_log_density():
    comps = [(0.3, [-1.0, -1.0], 0.2), (0.7, [2.0, 1.0], 0.5)]
    m = diffusion_pf_ode.build(mixture=comps)
    f = model_rhs(m)
    rng = np.random.default_rng(16)
    for tau in (0.2, 0.8):
        t = 1 - tau
        beta = 0.1 + t * (20.0 - 0.1)
        x = rng.normal(size=2)
        score = 2 * f(x, m.param_values, tau) / beta - x
        np.testing.assert_allclose(score, mixture_score_numpy(x, tau, comps), rtol=1e-7, atol=1e-8)
    # one component is the Gaussian model; far from every mean the responsibilities stay finite
    one = model_rhs(diffusion_pf_ode.build(d=2, mixture=[(1.0, 2.0, 0.5)]))
    gauss = model_rhs(diffusion_pf_ode.build(d=2))
    x = rng.normal(size=2)
    p_one = [0.1, 20.0, 1.0, 0.5, 2.0, 2.0]
    assert_rhs_close(one(x, p_one, 0.4), gauss(x, [0.1, 20.0, 2.0, 0.5], 0.4))
    with np.errstate(over="ignore"):  # exp(l_j - l_k) = inf gives r_k = 0, not NaN
        assert np.all(np.isfinite(f(np.array([60.0, -40.0]), m.param_values, 0.999)))


# --- Klein–Gordon -----------------------------------------------------------------------------------
def klein_gordon_numpy(w, L, force):
    N = w.size // 2
    q, v = w[:N], w[N:]
    h = L / N
    return np.concatenate([v, (np.roll(q, 1) - 2 * q + np.roll(q, -1)) / h**2 - force(q)])


@pytest.mark.parametrize("potential", klein_gordon.POTENTIALS)
@pytest.mark.parametrize("N", [3, 32])
def test_klein_gordon_periodic_stencil_and_hamiltonian_structure(potential, N):
    m = klein_gordon.build(N=N, potential=potential)
    assert m.state_names[:N] == [f"q{i}" for i in range(1, N + 1)]
    f = model_rhs(m)
    lam, vev = 1.3, 0.8
    force = {"phi4": lambda q: lam * q * (q**2 - vev**2), "sine_gordon": np.sin}[potential]
    p = [lam, vev] if potential == "phi4" else []
    w = np.random.default_rng(17).uniform(-2, 2, 2 * N)
    assert_rhs_close(f(w, p), klein_gordon_numpy(w, klein_gordon.LENGTH, force))
    J = sd.compile(m).jac(0.0, w)
    assert np.array_equal(J[:N, :N], np.zeros((N, N))) and np.array_equal(J[:N, N:], np.eye(N))
    assert np.array_equal(J[N:, N:], np.zeros((N, N)))
    np.testing.assert_allclose(J[N:, :N], J[N:, :N].T, rtol=1e-15)  # -Hessian of the potential energy


def test_klein_gordon_initial_states():
    x = klein_gordon.grid(256)
    q0, v0 = klein_gordon.kink_antikink(x)
    m = klein_gordon.build()
    np.testing.assert_allclose(m.init, np.concatenate([q0, v0]))
    assert q0[0] == pytest.approx(-1.0, abs=1e-12) and q0[128] == pytest.approx(1.0, abs=1e-5)  # x = -L/2, 0
    assert np.all(v0 <= 0)  # the +1 bubble between them shrinks
    sg = klein_gordon.build(potential="sine_gordon")
    assert sg.init[:256] == [0.0] * 256 and max(sg.init[256:]) == pytest.approx(4 * math.sqrt(0.75))
    with pytest.raises(TypeError):
        klein_gordon.build(potential="sine_gordon", lam=1.0)
    with pytest.raises(ValueError, match="potential"):
        klein_gordon.build(potential="phi6")


def test_klein_gordon_breather_residual_is_second_order():
    t, omega = 2.0, 0.5
    hs, res = [], []
    for N in (128, 256, 512):
        m = klein_gordon.build(N=N, potential="sine_gordon", omega=omega)
        x = klein_gordon.grid(N)
        f = model_rhs(m)
        q, qt = klein_gordon.breather(t, x, omega)
        qtt = d_dt(lambda s: klein_gordon.breather(s, x, omega)[1], t)
        r = np.concatenate([qt, qtt]) - f(np.concatenate([q, qt]), [], t)
        assert np.abs(r[:N]).max() == 0.0
        hs.append(klein_gordon.LENGTH / N)
        res.append(np.abs(r[N:]).max())
    assert observed_order(res, hs) == pytest.approx(2.0, abs=0.05)


def test_klein_gordon_solve_conserves_energy():
    m = klein_gordon.build(N=128)
    sol = sd.compile(m).solve((0.0, 5.0), method="dop853", rtol=1e-10, atol=1e-12)
    assert sol.success
    e0, e1 = klein_gordon.energy(sol.u[0]), klein_gordon.energy(sol.u[-1])
    assert abs(e1 / e0 - 1) < 1e-9


# --- Hochbruck–Ostermann ------------------------------------------------------------------------------
HO = EXACT["hochbruck_ostermann_semilinear"]


def test_hochbruck_ostermann_exact_and_forcing_match_json():
    for s in HO["samples"]:
        t, x = float(s["t"]), float(s["x"])
        assert hochbruck_ostermann.exact(t, x) == pytest.approx(float(s["u"]), rel=1e-15)
        assert hochbruck_ostermann.forcing(t, x) == pytest.approx(float(s["Phi"]), rel=1e-14)


@pytest.mark.parametrize("N", [1, 7, 200])
def test_hochbruck_ostermann_exact_solves_the_semidiscrete_system(N):
    m = hochbruck_ostermann.build(N=N)
    x = hochbruck_ostermann.grid(N)
    np.testing.assert_allclose(m.init, x * (1 - x), rtol=1e-15)
    cm = sd.compile(m)
    f = model_rhs(m)
    for t in (0.0, 0.5, 1.0):
        u = hochbruck_ostermann.exact(t, x)  # u_t = u
        scale = (N + 1) ** 2 * np.abs(u).max()  # size of the cancelling stencil terms
        np.testing.assert_allclose(cm.rhs(t, u), u, rtol=0, atol=2e-15 * scale)
        np.testing.assert_allclose(f(u, [], t), u, rtol=0, atol=2e-15 * scale)
    w = np.random.default_rng(18).uniform(0, 1, N)
    h = 1 / (N + 1)
    we = np.concatenate([[0.0], w, [0.0]])
    reference = (we[:-2] - 2 * w + we[2:]) / h**2 + 1 / (1 + w**2) + hochbruck_ostermann.forcing(0.3, x)
    assert_rhs_close(f(w, [], 0.3), reference)


def test_hochbruck_ostermann_rodas5p_solve_matches_exact():
    cm = sd.compile(hochbruck_ostermann.build())
    sol = cm.solve(hochbruck_ostermann.T_SPAN, method="rodas5p", rtol=1e-10, atol=1e-12)
    assert sol.success
    exact = hochbruck_ostermann.exact(1.0, hochbruck_ostermann.grid(200))
    np.testing.assert_allclose(sol.u[-1], exact, rtol=1e-8, atol=1e-10)
