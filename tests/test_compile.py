"""``sd.compile`` against an independent reference: ``sympy.lambdify`` (numpy).

The reference side never uses symdyn's passes: observed quantities are substituted
here by plain ``xreplace``, the Jacobian is ``sympy.Matrix(rhs).jacobian(states)``.

How values are compared (``assert_matches``): elementwise,

    |compiled - reference| <= RTOL * M,        RTOL = 1e-12,

where ``M`` is the *magnitude of the terms* of that output: the same expression
evaluated with every sum replaced by the sum of the absolute values of its terms
(and every product by the product of the magnitudes of its factors).  ``M >= |value|``
always, and ``M`` is large exactly where a sum cancels, so rounding differences of
order 1 ulp of the intermediate terms (e.g. a different summation order) cannot cause
a false failure, while any wrong coefficient or term can.  Where ``M == 0`` both sides
must be exactly 0.
"""
import ctypes
import time

import numpy as np
import pytest
import scipy.sparse as sps
import sympy as sp

import symdyn as sd
from models import NAMES, get

RTOL = 1e-12
FD_RTOL = 1e-6
#: models whose states are concentrations: random states are drawn positive
POSITIVE = {"rober", "orego", "hires", "pollu", "brusselator_1d"}
N_RANDOM = 4

#: method-of-lines models: small grids (the SymPy reference Jacobian is quadratic in N); 64+ states use loops
GRIDS = {
    "brusselator_1d": [{"N": 8}, {"N": 50}], "kuramoto_sivashinsky": [{"N": 8}, {"N": 64}],
    "allen_cahn": [{"N": 9}, {"N": 70}], "burgers": [{"N": 9}, {"N": 70}], "gray_scott_1d": [{"N": 6}, {"N": 40}],
    "klein_gordon": [{"N": 6}, {"N": 40}], "hochbruck_ostermann": [{"N": 9}],
}
CASES = [(name, {}) for name in NAMES if name not in GRIDS]
CASES += [(name, kw) for name, kws in GRIDS.items() for kw in kws]
IDS = [name + "".join(f"-{k}{v}" for k, v in kw.items()) for name, kw in CASES]

C_FN = ctypes.CFUNCTYPE(None, ctypes.c_double, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


# --- the reference ---------------------------------------------------------------------
def substituted(model):
    """The right-hand sides with observed quantities replaced (until none is left)."""
    obs = model.observed_exprs
    out = []
    for e in model.rhs:
        for _ in range(len(obs) + 1):
            new = e.xreplace(obs)
            if new == e:
                break
            e = new
        out.append(e)
    return out


def magnitude(e):
    """``e`` with every sum replaced by the sum of absolute values of its terms."""
    if e.is_Add:
        return sp.Add(*[magnitude(a) for a in e.args])
    if e.is_Mul:
        return sp.Mul(*[magnitude(a) for a in e.args])
    if e.is_Pow and e.exp.is_Integer and e.exp > 0:
        return magnitude(e.base) ** e.exp
    return sp.Abs(e)


def almost_everywhere(d):
    """Derivatives of steps (DiracDelta, d floor/dx, d ceiling/dx) are 0 almost everywhere."""
    d = d.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero)
    return d.replace(
        lambda e: isinstance(e, sp.Derivative) and isinstance(e.expr, (sp.floor, sp.ceiling)),
        lambda e: sp.S.Zero,
    )


class Reference:
    """lambdify'd right-hand side and Jacobian of a model, with their term magnitudes."""

    def __init__(self, model):
        self.model = model
        self.states = model.state_symbols
        self.args = [model.t] + self.states + model.param_symbols
        self.exprs = substituted(model)
        self.f = self._lambdify(self.exprs)
        self.fmag = self._lambdify([magnitude(e) for e in self.exprs])
        J = sp.Matrix(self.exprs).jacobian(self.states).applyfunc(almost_everywhere)
        n = len(self.states)
        self.nonzero = [(i, j) for i in range(n) for j in range(n) if J[i, j] != 0]
        entries = [J[i, j] for i, j in self.nonzero]
        self.fj = self._lambdify(entries)
        self.fjmag = self._lambdify([magnitude(e) for e in entries])

    def _lambdify(self, exprs):
        f = sp.lambdify(self.args, exprs, modules="numpy", dummify=True)
        return lambda t, u, p: np.array(
            np.broadcast_arrays(*f(t, *u, *p)) if exprs else [], dtype=float
        ).reshape(len(exprs))

    def rhs(self, t, u, p):
        return self.f(t, u, p), self.fmag(t, u, p)

    def jac(self, t, u, p):
        n = len(self.states)
        J, M = np.zeros((n, n)), np.zeros((n, n))
        if self.nonzero:
            rows, cols = np.array(self.nonzero).T
            J[rows, cols] = self.fj(t, u, p)
            M[rows, cols] = self.fjmag(t, u, p)
        return J, M


def assert_matches(actual, desired, mag, what=""):
    """See the module docstring."""
    actual, desired, mag = np.asarray(actual), np.asarray(desired), np.asarray(mag)
    assert actual.shape == desired.shape, what
    assert np.all(np.isfinite(desired)), f"{what}: the reference is not finite"
    assert np.all(mag >= np.abs(desired) * (1 - 1e-14)), what
    err = np.abs(actual - desired)
    bad = err > RTOL * mag
    if bad.any():
        k = np.flatnonzero(bad.ravel())[0]
        pytest.fail(
            f"{what}: {bad.sum()} entries differ; first at flat index {k}: compiled "
            f"{actual.ravel()[k]!r}, reference {desired.ravel()[k]!r}, term magnitude {mag.ravel()[k]!r}"
        )


# --- fixtures -----------------------------------------------------------------------------
_CACHE: dict = {}


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def case(request):
    name, kw = request.param
    key = (name, tuple(sorted(kw.items())))
    if key not in _CACHE:
        model = get(name).build(**kw)
        _CACHE[key] = (name, model, sd.compile(model), Reference(model))
    return _CACHE[key]


def p_of(cm):
    return cm.p0 if cm.n_params else np.zeros(0)


def random_states(name, cm, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(N_RANDOM):
        if name in POSITIVE:
            scale = np.maximum(np.abs(cm.u0), 0.1)
            out.append(scale * rng.uniform(0.05, 3.0, cm.n))
        else:
            out.append(cm.u0 + rng.normal(0.0, 3.0, cm.n))
    return out


def points(name, cm, seed=1234):
    """(t, u) pairs: the initial state, then random states at random times."""
    rng = np.random.default_rng(seed + 1)
    return [(0.0, cm.u0)] + [(float(rng.uniform(0, 10)), u) for u in random_states(name, cm, seed)]


# --- the models of models/ ------------------------------------------------------------------
def test_rhs_matches_lambdify(case):
    name, model, cm, ref = case
    p = p_of(cm)
    for t, u in points(name, cm):
        got = cm.rhs(t, u)
        assert got.shape == (cm.n,) and got.dtype == np.float64
        assert_matches(got, *ref.rhs(t, u, p), what=f"{name} rhs at t={t}")


def test_jac_matches_symbolic_jacobian(case):
    name, model, cm, ref = case
    p = p_of(cm)
    for t, u in points(name, cm):
        got = cm.jac(t, u)
        assert got.shape == (cm.n, cm.n) and got.dtype == np.float64
        assert_matches(got, *ref.jac(t, u, p), what=f"{name} jac at t={t}")


def test_jac_matches_finite_differences(case):
    """Central differences of cm.rhs, checked row-wise: |J_fd - J| <= 1e-6 * max_j |J_ij|."""
    name, model, cm, ref = case
    for t, u in points(name, cm, seed=99)[:3]:
        J = cm.jac(t, u)
        fd = np.empty_like(J)
        for j in range(cm.n):
            h = 1e-6 * max(abs(u[j]), 1e-3)
            up, um = u.copy(), u.copy()
            up[j] += h
            um[j] -= h
            fd[:, j] = (cm.rhs(t, up) - cm.rhs(t, um)) / (up[j] - um[j])
        row_scale = np.max(np.abs(J), axis=1, keepdims=True)
        err = np.abs(fd - J)
        assert np.all(err <= FD_RTOL * row_scale + 1e-300), (
            f"{name}: worst relative deviation {np.max(err / np.maximum(row_scale, 1e-300)):.3g}"
        )


def test_jac_sparse_pattern_and_values(case):
    name, model, cm, ref = case
    for t, u in points(name, cm)[:3]:
        S = cm.jac_sparse(t, u)
        assert isinstance(S, sps.csc_matrix) and S.format == "csc"
        assert S.shape == (cm.n, cm.n)
        S.check_format(full_check=True)
        rows = S.indices
        cols = np.repeat(np.arange(cm.n), np.diff(S.indptr))
        assert sorted(zip(rows.tolist(), cols.tolist())) == sorted(ref.nonzero)
        assert len(set(zip(rows.tolist(), cols.tolist()))) == S.nnz  # no duplicates
        np.testing.assert_array_equal(S.toarray(), cm.jac(t, u))
        np.testing.assert_array_equal(cm.jac_values(t, u), S.data)


def test_params_array_and_dict_agree(case):
    name, model, cm, ref = case
    if not cm.n_params:
        np.testing.assert_array_equal(cm.rhs(0.0, cm.u0, {}), cm.rhs(0.0, cm.u0))
        np.testing.assert_array_equal(cm.rhs(0.0, cm.u0, np.zeros(0)), cm.rhs(0.0, cm.u0))
        return
    rng = np.random.default_rng(7)
    p = cm.p0 * rng.uniform(0.5, 2.0, cm.n_params)
    pd = dict(zip(cm.param_names, p.tolist()))
    for t, u in points(name, cm)[:2]:
        a, d = cm.rhs(t, u, p), cm.rhs(t, u, pd)
        np.testing.assert_array_equal(a, d)
        np.testing.assert_array_equal(cm.jac(t, u, p), cm.jac(t, u, pd))
        np.testing.assert_array_equal(cm.jac_sparse(t, u, p).toarray(), cm.jac(t, u, pd))
        assert_matches(a, *ref.rhs(t, u, p), what=f"{name} rhs with new params")
        assert_matches(cm.jac(t, u, p), *ref.jac(t, u, p), what=f"{name} jac with new params")
        # a partial dict changes only the given parameter
        first = cm.param_names[0]
        partial = cm.p0.copy()
        partial[0] = p[0]
        np.testing.assert_array_equal(cm.rhs(t, u, {first: p[0]}), cm.rhs(t, u, partial))
    # the default is p0, as an array, a list and an empty dict
    np.testing.assert_array_equal(cm.rhs(0.0, cm.u0), cm.rhs(0.0, cm.u0, cm.p0))
    np.testing.assert_array_equal(cm.rhs(0.0, cm.u0), cm.rhs(0.0, cm.u0, cm.p0.tolist()))
    np.testing.assert_array_equal(cm.rhs(0.0, cm.u0), cm.rhs(0.0, cm.u0, {}))


def test_addresses_via_ctypes(case):
    name, model, cm, ref = case
    assert {"rhs", "jac", "jac_csc"} <= set(cm.addresses)
    p = np.ascontiguousarray(p_of(cm) if cm.n_params else np.zeros(1))
    for t, u in points(name, cm)[:3]:
        u = np.ascontiguousarray(u, dtype=np.float64)
        out = np.full(cm.n, np.nan)
        C_FN(cm.addresses["rhs"])(t, u.ctypes.data, p.ctypes.data, out.ctypes.data)
        np.testing.assert_array_equal(out, cm.rhs(t, u))
        dense = np.full(cm.n * cm.n, np.nan)  # every entry must be written, zeros included
        C_FN(cm.addresses["jac"])(t, u.ctypes.data, p.ctypes.data, dense.ctypes.data)
        np.testing.assert_array_equal(dense.reshape((cm.n, cm.n), order="F"), cm.jac(t, u))
        vals = np.full(cm.jac_pattern.nnz, np.nan)
        C_FN(cm.addresses["jac_csc"])(t, u.ctypes.data, p.ctypes.data, vals.ctypes.data)
        np.testing.assert_array_equal(vals, cm.jac_sparse(t, u).data)


def test_out_argument_and_purity(case):
    """``out=`` is written in place; inputs are not modified; repeated calls agree."""
    name, model, cm, ref = case
    t, u = points(name, cm)[1]
    u_before = u.copy()
    out = np.full(cm.n, np.nan)
    res = cm.rhs(t, u, out=out)
    assert res is out
    np.testing.assert_array_equal(out, cm.rhs(t, u))
    np.testing.assert_array_equal(u, u_before)
    np.testing.assert_array_equal(cm.jac(t, u), cm.jac(t, u))


def test_observed_substituted_in_compiled_model(case):
    name, model, cm, ref = case
    allowed = set(model.state_symbols) | set(model.param_symbols) | {model.t}
    for e in cm.model.rhs:
        assert e.free_symbols <= allowed


def test_ir_contains_define(case):
    name, model, cm, ref = case
    ir = cm.ir()
    assert isinstance(ir, str) and "define" in ir


# --- hand-written models -------------------------------------------------------------------
def check_against_reference(model, pts, cm=None):
    cm = sd.compile(model) if cm is None else cm
    ref = Reference(model)
    p = p_of(cm)
    for t, u in pts:
        u = np.asarray(u, dtype=float)
        assert_matches(cm.rhs(t, u), *ref.rhs(t, u, p), what=f"rhs at t={t}, u={u}")
        assert_matches(cm.jac(t, u), *ref.jac(t, u, p), what=f"jac at t={t}, u={u}")
    return cm, ref


def test_observed_chain_is_substituted():
    m = sd.Model("obs")
    x, y = m.states("x y", init=[1.0, 2.0])
    k = m.params("k", values=0.3)
    a = m.observed("a", x * y)
    b = m.observed("b", a + sp.sin(x))
    c = m.observed("c", b**2 - k * a)
    m.eq(sd.D(x), -c)
    m.eq(sd.D(y), a - b + c * y)
    cm, _ = check_against_reference(m, [(0.0, [1.0, 2.0]), (1.0, [-0.5, 0.7]), (2.0, [3.0, -1.5])])
    for e in cm.model.rhs:
        assert not (e.free_symbols & {a, b, c})
    xv, yv, kv = 0.4, -1.3, 0.3
    av = xv * yv
    bv = av + np.sin(xv)
    cv = bv**2 - kv * av
    np.testing.assert_allclose(cm.rhs(0.0, [xv, yv]), [-cv, av - bv + cv * yv], rtol=1e-14)


def test_time_dependent_forcing():
    m = sd.Model("forced")
    x, v = m.states("x v", init=[0.0, 1.0])
    w, A = m.params("w A", values=[2.0, 0.5])
    m.eq(sd.D(x), v)
    m.eq(sd.D(v), -x + A * sp.cos(w * m.t) + sp.Piecewise((m.t, m.t < 1), (1, True)) * x * v)
    cm, _ = check_against_reference(m, [(t, [0.3, -0.2]) for t in (0.0, 0.5, 1.0, 2.5, -3.0)])
    for t in (0.0, 0.7, 3.0):
        r = cm.rhs(t, [0.0, 0.0])
        assert r[1] == pytest.approx(0.5 * np.cos(2 * t), rel=1e-15, abs=0)
    assert cm.rhs(0.0, [0.0, 0.0])[1] != cm.rhs(1.0, [0.0, 0.0])[1]


def test_every_supported_function_value_and_jacobian():
    """One model using the whole table; rhs and Jacobian against lambdify inside the domains."""
    m = sd.Model("table")
    x, y, z = m.states("x y z", init=[0.3, 0.6, 1.7])
    a = m.params("a", values=1.5)
    f = [
        sp.exp(x) + sp.log(z) + sp.sin(x * y) + sp.cos(y) + sp.tan(x) - sp.sinh(y) + sp.cosh(x) * sp.tanh(y),
        sp.asin(x) + sp.acos(y) + sp.atan(z) + sp.atan2(y, x - 1) + sp.asinh(x) + sp.acosh(z) * sp.atanh(y),
        sp.erf(x) + sp.erfc(y) * sp.sqrt(z) + sp.Abs(x - y) + z**a + x**3 - y**-2 + z**sp.Rational(5, 2)
        + sp.floor(z) * x + sp.ceiling(z) * y + sp.sign(x - y) * z + sp.Heaviside(y - x) * x
        + sp.Piecewise((x**2, x > y), (y * z, z < 2), (-x, True)),
    ]
    for s, e in zip((x, y, z), f):
        m.eq(sd.D(s), e)
    rng = np.random.default_rng(3)
    pts = [(0.0, [0.3, 0.6, 1.7])] + [
        (0.0, [rng.uniform(-0.9, 0.9), rng.uniform(-0.9, 0.9), rng.uniform(1.1, 3.0)]) for _ in range(10)
    ]
    check_against_reference(m, pts)


def test_min_max_value_and_jacobian():
    m = sd.Model("minmax")
    x, y = m.states("x y", init=[0.3, 0.6])
    m.eq(sd.D(x), sp.Min(x, y) * x + sp.Max(x, 2 * y, sp.Rational(1, 3)))
    m.eq(sd.D(y), sp.Max(x, y) - sp.Min(y, 1))
    check_against_reference(m, [(0.0, [0.3, 0.6]), (0.0, [1.5, -0.2]), (0.0, [-2.0, 3.0])])


def test_loop_families_in_a_large_model():
    """A model large enough for the loop lowering, with irregular ends and wrap-around."""
    n = 120
    m = sd.Model("ring")
    xs = m.states([f"x{i}" for i in range(n)], init=[float(np.sin(i)) for i in range(n)])
    k, c = m.params("k c", values=[0.5, 2.0])
    for i in range(n):
        if i % 40 == 7:
            rhs = sp.cos(xs[i])
        else:
            rhs = -k * xs[i] + c * sp.sin(xs[i - 1]) * xs[(i + 1) % n] ** 2 + xs[(i + 3) % n] / 7
        m.eq(sd.D(xs[i]), rhs)
    rng = np.random.default_rng(11)
    cm, ref = check_against_reference(m, [(0.0, m.init)] + [(0.0, rng.normal(0, 1.5, n)) for _ in range(2)])
    rows, cols = cm.jac_pattern.indices, np.repeat(np.arange(n), np.diff(cm.jac_pattern.indptr))
    assert sorted(zip(rows.tolist(), cols.tolist())) == sorted(ref.nonzero)


def test_compile_options():
    m = get("lorenz").build()
    base = sd.compile(m)
    u = np.array([1.0, -2.0, 3.0])
    for opt in (0, 1, 3):
        np.testing.assert_array_equal(sd.compile(m, opt_level=opt).rhs(0.0, u), base.rhs(0.0, u))
    nojac = sd.compile(m, jacobian=False)
    np.testing.assert_array_equal(nojac.rhs(0.0, u), base.rhs(0.0, u))
    with pytest.raises(sd.errors.ArgumentError):
        nojac.jac(0.0, u)


def test_rewrite_pipeline_handles_ten_thousand_equations():
    """A guard, not a benchmark: rewriting + lowering 10^4 equations stays far from quadratic."""
    from symdyn.passes import compile_programs, rewrite

    n = 10_000
    m = sd.Model("big")
    xs = m.states([f"x{i}" for i in range(n)], init=[1.0] * n)
    k = m.params("k", values=0.5)
    e = m.observed("e", k * 2)
    for i in range(n):
        m.eq(sd.D(xs[i]), -e * xs[i] + sp.sqrt(2) * xs[i - 1] * xs[(i + 1) % n] ** 2)
    t0 = time.perf_counter()
    rewritten = rewrite(m)
    programs, pattern = compile_programs(rewritten)
    elapsed = time.perf_counter() - t0
    assert elapsed < 60, f"rewriting 10^4 equations took {elapsed:.1f} s"
    assert len(rewritten.rhs) == n
    assert not any(e in r.free_symbols for r in rewritten.rhs[:100])
    assert pattern.nnz == 3 * n
    assert set(programs) == {"rhs", "jac"}
