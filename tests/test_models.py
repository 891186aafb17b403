"""The models in ``models/`` against their sources.

The model side is evaluated with ``sympy.lambdify`` (observed quantities substituted),
never with ``symdyn.compile``.  The reference side is independent: for the Bari
test-set problems and Kepler it evaluates the equation strings of
``tests/data/ivp_testset.json`` / ``tests/data/exact.json`` (which are Python arithmetic
once ``^`` is read as ``**``); for the others it is a short numpy function.
"""
import json
import math
import re
import time
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import models
from models import brusselator_1d, hires, kepler, lorenz, lotka_volterra, orego, pollu, rober, vdpol

DATA = Path(__file__).parent / "data"
TESTSET = json.loads((DATA / "ivp_testset.json").read_text())["problems"]
EXACT = {p["id"]: p for p in json.loads((DATA / "exact.json").read_text())["problems"]}

#: model module -> (test-set problem, variant)
TESTSET_MODELS = {
    vdpol: ("VDPOL", "vdpol_eps1e-6_T2"),
    rober: ("ROBER", None),
    orego: ("OREGO", None),
    hires: ("HIRES", None),
    pollu: ("POLLU", None),
}
#: the report's spelling of HIRES's constants -> the model's parameter names
HIRES_NAMES = {"k+": "k_plus", "k-": "k_minus", "k*": "k_star"}

RTOL = 1e-12


def assert_close(actual, desired, atol=0.0):
    """Componentwise ``|actual - desired| <= atol + RTOL |desired|``."""
    np.testing.assert_allclose(actual, desired, rtol=RTOL, atol=atol)


# --- the model side: lambdify, no compiler ---------------------------------------------
def model_rhs(m):
    """``f(u, p, t)`` of model ``m`` by ``sympy.lambdify``, observed quantities substituted."""
    resolved = {}
    for sym in m.observed_order():
        resolved[sym] = m.observed_exprs[sym].xreplace(resolved)
    exprs = [e.xreplace(resolved) for e in m.rhs]
    assert not any(e.free_symbols & set(resolved) for e in exprs)
    f = sp.lambdify([*m.state_symbols, *m.param_symbols, m.t], exprs, "numpy")
    return lambda u, p, t=0.0: np.array(f(*u, *p, t), dtype=float)


# --- the reference side: the JSON's equation text ------------------------------------------
def parse_equations(lines):
    """``[(lhs, code), ...]`` from strings like ``"f1 = k1*y1"`` or ``"q1' = p1, q2' = p2"``."""
    out = []
    for line in lines:
        for part in line.split(","):
            lhs, rhs = part.split("=")
            code = compile(rhs.strip().replace("^", "**"), lhs, "eval")
            out.append((lhs.strip().rstrip("'"), code))
    return out


def eval_equations(equations, env, chain=False):
    """``{lhs: value}`` of parsed equations in ``env``; with ``chain`` each value joins ``env``.

    Auxiliary quantities chain (r2 may use r1); right-hand sides must not, as
    ``y1' = ...`` would overwrite the state ``y1``.
    """
    env, out = dict(env), {}
    for name, code in equations:
        out[name] = eval(code, {"__builtins__": {}, "sqrt": np.sqrt}, env)  # noqa: S307 - test data
        if chain:
            env[name] = out[name]
    return out


def bari_entry(module):
    """``(problem, variant-or-problem)`` dicts of a test-set model."""
    name, variant = TESTSET_MODELS[module]
    problem = TESTSET[name]
    return problem, (problem["variants"][variant] if variant else problem)


def bari_params(module):
    """``{model parameter name: value}`` as the test set gives them."""
    problem, entry = bari_entry(module)
    params = dict(entry.get("parameters", problem.get("parameters", {})))
    note = params.pop("note", "")
    if not params:  # HIRES: constants only listed in the note, as "k1=1.71,..."
        pairs = re.findall(r"([\w+\-*]+)=([0-9.e\-]+)", note)
        params = {HIRES_NAMES.get(k, k): v for k, v in pairs}
    return {k: float(v) for k, v in params.items()}


def bari_rhs(module, u, params):
    """The test set's ``f(u)`` for a model, evaluated from the equation strings."""
    problem, entry = bari_entry(module)
    eqs = problem["equations"]
    aux = parse_equations(eqs.get("auxiliary", []))
    comps = parse_equations(entry.get("components") or eqs["components"])
    names = [f"y{i}" for i in range(1, len(u) + 1)]
    assert [n.replace("f", "y") for n, _ in comps] == names
    env = {**dict(zip(names, u)), **params}
    env.update(eval_equations(aux, env, chain=True))
    return np.array(list(eval_equations(comps, env).values()), dtype=float)


def states(m, rng, count=2, low=0.1, high=2.0):
    """The initial state of ``m`` and ``count`` random states."""
    randoms = [rng.uniform(low, high, m.n_states) for _ in range(count)]
    return [np.array(m.init, dtype=float), *randoms]


# --- the Bari test-set problems --------------------------------------------------------------
@pytest.mark.parametrize("module", TESTSET_MODELS, ids=lambda mod: mod.__name__)
def test_testset_sizes_values_and_span(module):
    problem, entry = bari_entry(module)
    m = module.build().validate()
    assert m.n_states == problem["dimension"]
    assert m.state_names == [f"y{i}" for i in range(1, problem["dimension"] + 1)]
    params = bari_params(module)
    assert m.param_names == list(params)
    assert m.param_values == list(params.values())
    assert m.init == [float(v) for v in problem["initial_values"]["y0"]]
    assert module.T_SPAN == tuple(entry.get("time_interval") or problem["time_interval"])


@pytest.mark.parametrize("module", TESTSET_MODELS, ids=lambda mod: mod.__name__)
def test_testset_reference_is_the_published_one(module):
    problem, entry = bari_entry(module)
    ref = module.reference()
    published = entry["reference_solution"]
    assert published["t"] == module.T_SPAN[1]
    assert ref.shape == (problem["dimension"],)
    assert ref.tolist() == [float(v) for v in published["values"]]


@pytest.mark.parametrize("module", TESTSET_MODELS, ids=lambda mod: mod.__name__)
def test_bari_rhs_matches_the_report(module):
    m = module.build()
    f = model_rhs(m)
    params = bari_params(module)
    for u in states(m, np.random.default_rng(1)):
        assert_close(f(u, m.param_values), bari_rhs(module, u, params))


@pytest.mark.parametrize("module", [vdpol, rober, orego, pollu], ids=lambda mod: mod.__name__)
def test_testset_parameter_overrides(module):
    rng = np.random.default_rng(2)
    params = {k: v * rng.uniform(0.5, 2.0) for k, v in bari_params(module).items()}
    m = module.build(**params)
    assert m.param_values == list(params.values())
    u = rng.uniform(0.1, 2.0, m.n_states)
    assert_close(model_rhs(m)(u, m.param_values), bari_rhs(module, u, params))


def test_hires_constants_are_the_rates_of_the_printed_coefficients():
    """Changing k1 moves exactly the printed 1.71 coefficients (of y1, y3, y5 in f1..f6)."""
    m0, m1 = hires.build(), hires.build(k1=1.71 + 1.0)
    u = np.random.default_rng(3).uniform(0.1, 2.0, 8)
    delta = model_rhs(m1)(u, m1.param_values) - model_rhs(m0)(u, m0.param_values)
    expected = np.array([-u[0], u[0], -u[2], u[2], -u[4], u[4], 0.0, 0.0])
    assert_close(delta, expected, atol=1e-12)


def test_rober_conserves_mass():
    assert sp.expand(sum(rober.build().rhs)) == 0


def test_unknown_parameter_is_rejected():
    with pytest.raises(TypeError, match="k26"):
        pollu.build(k26=1.0)
    with pytest.raises(TypeError):
        lorenz.build(sigmaa=1.0)


# --- Kepler: exact.json -------------------------------------------------------------------------
def test_kepler_rhs_matches_exact_json():
    spec = EXACT["kepler"]
    m = kepler.build().validate()
    assert m.state_names == ["q1", "q2", "p1", "p2"] and m.param_names == []
    eqs = parse_equations(spec["equations"])
    assert [n for n, _ in eqs] == m.state_names
    f = model_rhs(m)
    for u in states(m, np.random.default_rng(4), low=0.5, high=1.5):
        expected = list(eval_equations(eqs, dict(zip(m.state_names, u))).values())
        assert_close(f(u, []), expected)


@pytest.mark.parametrize("e", [0.6, 0.9])
def test_kepler_initial_state_is_the_exact_solution_after_one_period(e):
    variant = next(v for v in EXACT["kepler"]["variants"] if float(v["e"]) == e)
    sample = next(s for s in variant["samples"] if abs(float(s["t"]) - 2 * math.pi) < 1e-12)
    m = kepler.build(e=e)
    assert kepler.build().init == kepler.build(e=0.6).init
    exact = [float(x) for x in sample["q1,q2,p1,p2"]]
    np.testing.assert_allclose(m.init, exact, rtol=1e-14, atol=1e-14)
    q1, q2, p1, p2 = m.init
    energy = (p1**2 + p2**2) / 2 - 1 / math.hypot(q1, q2)
    assert energy == pytest.approx(float(variant["H_exact"]), rel=1e-14)
    assert kepler.T_SPAN == (0.0, 2 * math.pi)


# --- models without a JSON entry: numpy references ---------------------------------------
def lorenz_np(u, p):
    x, y, z = u
    sigma, rho, beta = p
    return np.array([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])


def lotka_volterra_np(u, p):
    x, y = u
    alpha, beta, gamma, delta = p
    return np.array([alpha * x - beta * x * y, -gamma * y + delta * x * y])


def brusselator_np(w, p):
    """Hairer & Wanner II, eq. (IV.1.6'), with u = 1, v = 3 at both ends."""
    A, B, alpha = p
    n = len(w) // 2
    u, v = w[:n], w[n:]
    c = alpha * (n + 1) ** 2
    up, vp = np.concatenate([[1.0], u, [1.0]]), np.concatenate([[3.0], v, [3.0]])
    du = A + u**2 * v - (B + 1) * u + c * (up[:-2] - 2 * u + up[2:])
    dv = B * u - u**2 * v + c * (vp[:-2] - 2 * v + vp[2:])
    return np.concatenate([du, dv])


@pytest.mark.parametrize(
    "module, reference, names, values, init",
    [
        (lorenz, lorenz_np, ["sigma", "rho", "beta"], [10.0, 28.0, 8 / 3], [1.0, 0.0, 0.0]),
        (lotka_volterra, lotka_volterra_np, ["alpha", "beta", "gamma", "delta"],
         [1.5, 1.0, 3.0, 1.0], [10.0, 5.0]),
    ],
    ids=["lorenz", "lotka_volterra"],
)
def test_small_models(module, reference, names, values, init):
    m = module.build().validate()
    assert m.param_names == names and m.param_values == values and m.init == init
    f = model_rhs(m)
    rng = np.random.default_rng(5)
    for u in states(m, rng):
        assert_close(f(u, values), reference(u, values))
    other = list(rng.uniform(0.5, 2.0, len(values)))
    m2 = module.build(**dict(zip(names, other)))
    u = rng.uniform(0.1, 2.0, m.n_states)
    assert_close(model_rhs(m2)(u, m2.param_values), reference(u, other))


@pytest.mark.parametrize("N", [1, 5, 32])
def test_brusselator_matches_numpy(N):
    m = brusselator_1d.build(N=N).validate()
    assert brusselator_1d.build().n_states == 64
    assert m.n_states == 2 * N
    assert m.state_names == [f"u{i}" for i in range(1, N + 1)] + [f"v{i}" for i in range(1, N + 1)]
    assert m.param_names == ["A", "B", "alpha"] and m.param_values == [1.0, 3.0, 1 / 50]
    x = np.arange(1, N + 1) / (N + 1)
    u0 = np.concatenate([1 + np.sin(2 * np.pi * x), np.full(N, 3.0)])
    np.testing.assert_allclose(m.init, u0, rtol=1e-15)
    f = model_rhs(m)
    rng = np.random.default_rng(6)
    for w in states(m, rng, low=0.5, high=3.5):
        assert_close(f(w, m.param_values), brusselator_np(w, m.param_values), atol=1e-12)
    p = [2.0, 5.0, 0.1]
    w = rng.uniform(0.5, 3.5, 2 * N)
    assert_close(f(w, p), brusselator_np(w, p), atol=1e-12)


def test_brusselator_builds_large_grids_quickly():
    start = time.perf_counter()
    m = brusselator_1d.build(N=10_000)
    elapsed = time.perf_counter() - start
    assert m.n_states == 20_000 and len(m.rhs) == 20_000
    assert elapsed < 30.0, f"building N=10000 took {elapsed:.1f} s (should be a few seconds)"


# --- the package ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", models.NAMES)
def test_every_model_is_documented_and_builds(name):
    module = models.get(name)
    assert module.__doc__ and module.build.__doc__
    t0, t1 = module.T_SPAN
    assert t0 < t1
    m = models.build(name)
    m.validate()
    assert all(v is not None for v in m.init + m.param_values)


def test_docs_list_every_model():
    text = (Path(__file__).parents[1] / "docs" / "models.md").read_text()
    for name in models.NAMES:
        assert f"`{name}`" in text
