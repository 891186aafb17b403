"""The unrolled sparse LU with static pivots (codegen/sparse_lu_ir.py) and the emitted stiff loops
that use it (POLLU, 20 states).

The LU is emitted into a small function of its own and checked against numpy on random patterns,
real and complex: the residual of the solve, the plan's fill against a dense elimination in the
same pivot order, and the branches for a singular, a non-finite and an unstable matrix.  The
loops are checked against the numba steppers (partial pivoting: the same method, rounding apart)
and against the published POLLU reference; a model whose matrices need row interchanges hands
the solve to the numba stepper.  Below those sizes (HIRES, ROBER) the sparse LU is tried first
and the dense LU with partial pivoting factors what fails the threshold test, in the same loop.
"""
import ctypes

import llvmlite.ir as ir
import numpy as np
import pytest
import scipy.sparse as sparse
import sympy as sp

import models
import symdyn as sd
from codegen.loop_ir import LoopEmitter, iconst
from codegen.lu_ir import ComplexField, RealField
from codegen.module import NativeModule
from codegen.signatures import DOUBLE, I64
from codegen.sparse_lu_ir import THRESHOLD, plan_sparse_lu, sparse_lu_factor, sparse_lu_solve
from symdyn.solvers import RADAU_METHODS, ROSENBROCK_METHODS, RetCode
from symdyn.solvers import fused

OK, SINGULAR, UNSTABLE = 0, 1, 2


def emit_lu(n, indptr, indices, complex_=False):
    """A native ``lu(A_re, A_im, x_re, x_im, f_re, f_im) -> code`` factoring the column-major
    ``n x n`` matrix (its pattern: ``indptr``/``indices`` and the diagonal) and solving in ``x``."""
    m = ir.Module("splu_test")
    P = DOUBLE.as_pointer()
    fn = ir.Function(m, ir.FunctionType(I64, [P] * 6), "lu")
    E = LoopEmitter(m, fn)
    plan = plan_sparse_lu(n, indptr, indices)
    a_re, a_im, x_re, x_im, f_re, f_im = fn.args
    if complex_:
        F = ComplexField(E)
        value = lambda r, c: (E.ld(a_re, c * n + r), E.ld(a_im, c * n + r))  # noqa: E731
        slot = lambda k: (E.at(f_re, k), E.at(f_im, k))  # noqa: E731
        xs = lambda k: (E.at(x_re, k), E.at(x_im, k))  # noqa: E731
    else:
        F = RealField(E)
        value = lambda r, c: E.ld(a_re, c * n + r)  # noqa: E731
        slot = lambda k: E.at(f_re, k)  # noqa: E731
        xs = lambda k: E.at(x_re, k)  # noqa: E731
    singular, unstable = E.block("singular"), E.block("unstable")
    sparse_lu_factor(E, F, plan, value, slot, singular, unstable)
    sparse_lu_solve(E, F, plan, slot, xs)
    E.b.ret(iconst(OK))
    for blk, code in ((singular, SINGULAR), (unstable, UNSTABLE)):
        E.b.position_at_end(blk)
        E.b.ret(iconst(code))
    native = NativeModule(m, opt_level=2)
    call = ctypes.CFUNCTYPE(ctypes.c_int64, *[ctypes.c_void_p] * 6)(native.address("lu"))

    def solve(A, rhs):
        A = np.asarray(A, dtype=complex)
        cols = [np.ascontiguousarray(part.T).ravel() for part in (A.real, A.imag)]
        x = [np.array(np.real(rhs), dtype=float), np.array(np.imag(rhs), dtype=float)]
        factors = [np.zeros(plan.size), np.zeros(plan.size)]
        code = call(*[v.ctypes.data for v in (*cols, *x, *factors)])
        return code, (x[0] + 1j * x[1] if complex_ else x[0])

    solve.keep = native
    return plan, solve


def random_pattern(rng, n):
    S = sparse.random(n, n, density=float(rng.uniform(0.05, 0.4)), random_state=int(rng.integers(2**31)),
                      format="csc")
    S.sort_indices()
    return S


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("complex_", [False, True])
def test_sparse_lu_solves_diagonally_dominant_systems(seed, complex_):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 22))
    S = random_pattern(rng, n)
    A = S.toarray() * rng.uniform(-1, 1)
    if complex_:
        A = A + 1j * S.toarray() * rng.uniform(-1, 1)
    A = A + np.diag(2.0 + np.abs(A).sum(axis=0))  # column-dominant: every threshold test passes
    plan, solve = emit_lu(n, S.indptr, S.indices, complex_)
    rhs = rng.standard_normal(n) + (1j * rng.standard_normal(n) if complex_ else 0.0)
    code, x = solve(A, rhs)
    assert code == OK
    assert np.abs(A @ x - rhs).max() < 1e-12 * max(1.0, np.abs(rhs).max())


@pytest.mark.parametrize("seed", range(20))
def test_plan_holds_every_entry_of_the_factors(seed):
    """The plan's L and U patterns (fill included) against a dense elimination in its order."""
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 30))
    S = random_pattern(rng, n)
    plan = plan_sparse_lu(n, S.indptr, S.indices)
    assert sorted(plan.order) == list(range(n))
    B = np.abs(S.toarray()) + np.eye(n) * n  # positive entries: no cancellation hides a fill
    P = list(plan.order)
    B = B[np.ix_(P, P)]
    for k in range(n):
        B[k + 1:, k] /= B[k, k]
        B[k + 1:, k + 1:] -= np.outer(B[k + 1:, k], B[k, k + 1:])
    pos = {p: i for i, p in enumerate(P)}
    for k in P:
        later = [i for i in range(n) if pos[i] > pos[k]]
        assert set(plan.lower[k]) == {i for i in later if B[pos[i], pos[k]] != 0.0}
        assert set(plan.upper[k]) == {j for j in later if B[pos[k], pos[j]] != 0.0}
    assert plan.flops == sum(len(plan.lower[k]) * len(plan.upper[k]) for k in P)


def test_markowitz_order_avoids_the_fill_of_an_arrow():
    """An arrow with its dense row and column first: in the natural order it fills the whole
    matrix; the Markowitz order takes the dense pivot among the last two and fills nothing."""
    n = 12
    dense = np.eye(n)
    dense[0, :] = dense[:, 0] = 1.0
    S = sparse.csc_matrix(dense)
    plan = plan_sparse_lu(n, S.indptr, S.indices)
    assert plan.order.index(0) >= n - 2 and plan.flops == n - 1 and plan.size == 3 * n - 2


def test_singular_nonfinite_and_unstable_branches():
    S = sparse.csc_matrix(np.ones((2, 2)))
    _, solve = emit_lu(2, S.indptr, S.indices)
    assert solve(np.array([[4.0, 1.0], [1.0, 3.0]]), np.ones(2))[0] == OK
    assert solve(np.array([[0.0, 1.0], [0.0, 1.0]]), np.ones(2))[0] == SINGULAR  # a zero column
    assert solve(np.array([[np.nan, 1.0], [1.0, 1.0]]), np.ones(2))[0] == SINGULAR
    assert solve(np.array([[1.0, 1.0], [np.inf, 1.0]]), np.ones(2))[0] == SINGULAR
    small = THRESHOLD / 2  # the pivot against its column: fails the threshold test
    assert solve(np.array([[small, 1.0], [1.0, 1.0]]), np.ones(2))[0] == UNSTABLE
    code, x = solve(np.array([[2 * THRESHOLD, 1.0], [1.0, 1.0]]), np.array([1.0, 2.0]))
    assert code == OK and np.allclose(np.array([[2 * THRESHOLD, 1.0], [1.0, 1.0]]) @ x, [1.0, 2.0])


# --- the emitted stiff loops of a 20-state model --------------------------------------------------
POLLU_METHODS = sorted(ROSENBROCK_METHODS) + sorted(RADAU_METHODS)


@pytest.fixture(scope="module")
def pollu():
    return sd.compile(models.get("pollu").build())


def address(cm, method):
    tab = ROSENBROCK_METHODS.get(method) or RADAU_METHODS[method]
    get = fused.rosenbrock_address if method in ROSENBROCK_METHODS else fused.radau_address
    return get(cm, tab)


@pytest.mark.parametrize("method", POLLU_METHODS)
@pytest.mark.parametrize("output", ["steps", "saveat", "dense"])
def test_pollu_sparse_loops_agree_with_the_numba_steppers(pollu, method, output):
    """The same method with a different LU (static sparse pivots against partial pivoting): the
    same number of steps, and the rounding differences, amplified by the step-size control, stay
    far below the tolerance (measured: at most 5e-9 of the span in t, 1e-8 of each component's
    scale in u)."""
    assert pollu.n >= fused.FUSED_MAX_N and address(pollu, method) > 0
    kw = dict(method=method, rtol=1e-6, atol=1e-18)
    if output == "saveat":
        kw["saveat"] = np.linspace(0.0, 60.0, 13)
    if output == "dense":
        kw["dense"] = True
    a, b = pollu.solve((0.0, 60.0), **kw), pollu.solve((0.0, 60.0), fused=None, **kw)
    if output == "dense":
        tt = np.linspace(0.0, 60.0, 241)
        assert np.all(np.abs(a(tt) - b(tt)) <= 1e-7 * np.abs(b.u).max(axis=0))
    assert a.success and a.retcode == b.retcode and a.method == b.method
    assert a.stats == b.stats
    assert np.abs(a.t - b.t).max() <= 1e-7 * 60.0
    assert np.all(np.abs(a.u - b.u) <= 1e-7 * np.abs(b.u).max(axis=0))


@pytest.mark.parametrize("method", ["rodas5p", "radau5"])
def test_pollu_sparse_loops_reach_the_reference(pollu, method):
    from test_solvers_stiff import scd

    mod = models.get("pollu")
    assert address(pollu, method) > 0
    sol = pollu.solve(mod.T_SPAN, method=method, rtol=1e-10, atol=1e-22, saveat=[mod.T_SPAN[1]])
    assert sol.success and scd(sol.u[-1], mod.reference()) >= 7.0


def coupled_oscillators(k):
    """``k`` stiff van der Pol oscillators in a ring (2k states): ``x' = y``,
    ``y' = mu ((1 - x^2) y - x) + coupling``.  W's pivot column holds ``h gamma mu (2 x y + 1)``
    against a diagonal near 1: the static pivots fail, row interchanges are needed."""
    m = sd.Model(f"vdp_ring{k}")
    xs = m.states(" ".join(f"x{i}" for i in range(k)), init=[2.0] * k)
    ys = m.states(" ".join(f"y{i}" for i in range(k)), init=[0.0] * k)
    mu = m.params("mu", 1e3)
    for i in range(k):
        m.eq(sd.D(xs[i]), ys[i])
        m.eq(sd.D(ys[i]), mu * ((1 - xs[i] ** 2) * ys[i] - xs[i]) + sp.Rational(1, 10) * (xs[i - 1] - xs[i]))
    return sd.compile(m)


@pytest.mark.parametrize("method", ["rodas5p", "radau5"])
def test_matrices_that_need_pivoting_go_to_the_numba_stepper(method):
    cm = coupled_oscillators(8)
    assert cm.n >= fused.FUSED_MAX_N and address(cm, method) > 0
    kw = dict(method=method, rtol=1e-6, atol=1e-8, saveat=[0.5, 1.0])
    ref = cm.solve((0.0, 1.0), fused=None, **kw)
    sol = cm.solve((0.0, 1.0), **kw)  # the loop stops with NEEDS_PIVOTING; the numba stepper solves
    assert sol.success and sol.stats == ref.stats and np.array_equal(sol.u, ref.u)
    assert address(cm, method) == 0  # and runs that method from now on
    assert len(fused._RETIRED[cm]) == 1  # (the loop's code stays loaded while the model lives: a
    # thread that fetched its address before may still be running it)
    assert np.array_equal(cm.solve((0.0, 1.0), **kw).u, ref.u)


# --- small models: the sparse LU first, the dense LU behind it --------------------------------------
@pytest.mark.parametrize("name,t_end", [("hires", 321.8122), ("rober", 40.0)])
@pytest.mark.parametrize("method", ["rodas5p", "rodas4", "radau5"])
def test_small_models_try_the_sparse_lu_first(name, t_end, method):
    cm = sd.compile(models.get(name).build())
    tab = ROSENBROCK_METHODS.get(method) or RADAU_METHODS[method]
    assert cm.n < fused.FUSED_MAX_N and fused._sparse_plan(cm, tab) is not None
    assert address(cm, method) > 0
    kw = dict(method=method, rtol=1e-6, atol=1e-10, saveat=np.linspace(0.0, t_end, 9))
    a, b = cm.solve((0.0, t_end), **kw), cm.solve((0.0, t_end), fused=None, **kw)
    assert a.success and a.stats == b.stats
    assert np.all(np.abs(a.u - b.u) <= 1e-9 * np.abs(b.u).max(axis=0))


def test_a_dense_jacobian_keeps_the_dense_lu():
    cm = sd.compile(models.get("vdpol").build())  # 2 x 2, full: the pattern shortens nothing
    assert fused._sparse_plan(cm, ROSENBROCK_METHODS["rodas5p"]) is None


@pytest.mark.parametrize("method", ["rodas5p", "radau5"])
def test_small_model_needing_pivots_falls_back_inside_the_loop(method):
    """Two stiff van der Pol oscillators (4 states, a block-diagonal pattern): in the fast phases W
    fails the threshold test and the loop factors it with partial pivoting; it stays in use."""
    cm = coupled_oscillators(2)
    tab = ROSENBROCK_METHODS.get(method) or RADAU_METHODS[method]
    assert fused._sparse_plan(cm, tab) is not None and address(cm, method) > 0
    kw = dict(method=method, rtol=1e-6, atol=1e-8, saveat=np.linspace(0.0, 3.0, 7))
    a, b = cm.solve((0.0, 3.0), **kw), cm.solve((0.0, 3.0), fused=None, **kw)
    assert a.success and a.stats["nsteps"] == b.stats["nsteps"]
    assert np.all(np.abs(a.u - b.u) <= 1e-6 * np.abs(b.u).max(axis=0))
    assert address(cm, method) > 0


@pytest.mark.parametrize("method", ["rodas5p", "radau5"])
def test_sparse_loop_failures_are_the_numba_steppers_statuses(pollu, method):
    assert address(pollu, method) > 0
    kw = dict(method=method, rtol=1e-6, atol=1e-18, max_steps=20)
    a, b = pollu.solve((0.0, 60.0), **kw), pollu.solve((0.0, 60.0), fused=None, **kw)
    assert a.retcode == b.retcode == RetCode.MaxSteps and a.stats == b.stats
    m = sd.Model("log_chain")  # 16 states, a NaN once x0 < 0.5
    xs = m.states(" ".join(f"x{i}" for i in range(16)), init=[1.0] * 16)
    m.eq(sd.D(xs[0]), sp.log(xs[0] - 0.5))
    for i in range(1, 16):
        m.eq(sd.D(xs[i]), xs[i - 1] - xs[i])
    cm = sd.compile(m)
    assert address(cm, method) > 0
    a, b = cm.solve((0.0, 10.0), method=method), cm.solve((0.0, 10.0), fused=None, method=method)
    assert a.retcode == b.retcode == RetCode.NonFinite
    assert abs(a.t_reached - b.t_reached) <= 1e-9


def random_stiff_model(seed):
    """A random sparse model: 3-24 states, decay rates from 0.1 to 1e4, 0-3 couplings per equation,
    linear or bilinear, each saturating."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 25))
    m = sd.Model(f"random_stiff{seed}")
    xs = m.states(" ".join(f"x{i}" for i in range(n)), init=list(rng.uniform(0.2, 2.0, n)))
    for i in range(n):
        e = -10 ** rng.uniform(-1, 4) * xs[i]
        for j in rng.choice(n, size=int(rng.integers(0, 4)), replace=True):
            c = rng.uniform(-1, 1) * 10 ** rng.uniform(-1, 3)
            e += c * xs[j] * (1 if rng.uniform() < 0.5 else xs[i]) / (1 + xs[j] ** 2)
        m.eq(sd.D(xs[i]), e)
    return sd.compile(m)


@pytest.mark.parametrize("seed", range(8))
def test_random_sparse_models_agree_with_the_numba_steppers(seed):
    """Whatever the pattern and whichever path the loop takes (sparse LU, the dense LU behind it,
    or the hand-over to the numba stepper), the numbers are the method's (seeds 0-99 offline, both
    methods: all within 1e-5 of the numba steppers; 13 of the 120 loops of seeds 40-99 handed
    over)."""
    cm = random_stiff_model(seed)
    for method in ("rodas5p", "radau5"):
        assert address(cm, method) > 0
        kw = dict(method=method, rtol=1e-7, atol=1e-9, saveat=[0.5, 1.0])
        a, b = cm.solve((0.0, 1.0), **kw), cm.solve((0.0, 1.0), fused=None, **kw)
        assert a.success and b.success and a.stats["nsteps"] == b.stats["nsteps"], (a.message, b.message)
        assert np.abs(a.u - b.u).max() <= 1e-6 * max(1.0, np.abs(b.u).max())
