"""The explicit time loop emitted as LLVM IR with a small model's right-hand side
(codegen/erk.py, symdyn/solvers/fused.py) against the numba stepper it mirrors.

The numba stepper is the one checked against exact solutions and convergence orders
(tests/test_solvers.py); ``cm.solve(..., fused=None)`` runs it.  The emitted loop follows it
statement by statement without fast-math flags, so both must give the same numbers: the same
steps, the same counters, the same status.  Orders are also measured on the emitted loop itself,
on an exact solution from tests/data/exact.json.
"""

import numpy as np
import pytest
import sympy as sp

import models
import symdyn as sd
from symdyn.solvers import EXPLICIT_METHODS, RADAU_METHODS, ROSENBROCK_METHODS, RetCode
from symdyn.solvers.fused import FUSED_MAX_N, erk_address, radau_address, rosenbrock_address

from refdata import variant
METHODS = sorted(EXPLICIT_METHODS)


@pytest.fixture(autouse=True)
def dense_lu_only(monkeypatch):
    """These tests compare bit for bit with the numba steppers: the stiff loops of small models
    with the dense LU alone, as the steppers factor (the sparse LU tried first is the subject of
    tests/test_sparse_lu.py)."""
    from symdyn.solvers import fused

    monkeypatch.setattr(fused, "SMALL_SPARSE", False)


@pytest.fixture(scope="module")
def lorenz():
    return sd.compile(models.get("lorenz").build())


def loops_for(method):
    """The tableaus whose emitted loops a solve with ``method`` may use."""
    if method == "auto":
        return [EXPLICIT_METHODS["tsit5"], EXPLICIT_METHODS["dop853"], ROSENBROCK_METHODS["rodas5p"]]
    return [EXPLICIT_METHODS.get(method) or ROSENBROCK_METHODS.get(method) or RADAU_METHODS[method]]


def build_now(cm, tab):
    """Compile ``tab``'s emitted loop for ``cm`` (a solve would at its second call)."""
    if tab.name in EXPLICIT_METHODS:
        return erk_address(cm, tab)
    return (rosenbrock_address if tab.name in ROSENBROCK_METHODS else radau_address)(cm, tab)


def both(cm, span, **kw):
    """(emitted loop, numba stepper) solutions of the same call; the loops are compiled first
    (a solve compiles them only at its second call, see test_compiled_at_the_second_solve)."""
    for tab in loops_for(kw.get("method", "auto")):
        assert build_now(cm, tab) > 0
    return cm.solve(span, **kw), cm.solve(span, fused=None, **kw)


def assert_same(a, b):
    assert a.retcode == b.retcode and a.method == b.method
    assert a.stats == b.stats
    assert a.t_reached == b.t_reached
    assert np.array_equal(a.t, b.t) and np.array_equal(a.u, b.u)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("output", ["steps", "saveat", "fixed"])
def test_emitted_loop_gives_the_numba_steppers_numbers(lorenz, method, output):
    kw = dict(method=method, rtol=1e-7, atol=1e-9)
    if output == "saveat":  # interpolated points, one exactly at a step's end (t_end), one at t0
        kw["saveat"] = np.concatenate([[0.0], np.linspace(0.013, 10.0, 41)])
    if output == "fixed":
        kw.update(adaptive=False, dt=0.01)
    a, b = both(lorenz, (0.0, 10.0), **kw)
    assert a.success and (len(a.t) == 42 if output == "saveat" else len(a.t) > 64)  # > 64: buffers grew
    assert_same(a, b)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("output", ["steps", "saveat", "fixed"])
def test_dense_output_from_the_emitted_loop(lorenz, method, output, monkeypatch):
    """dense=True: the loop records every accepted step (t, h, u and the stages, the interpolant's
    extra ones included; the record buffer grows past 64 rows), and sol(t) gives the numba
    stepper's values bit for bit."""
    from symdyn.solvers import solve as solve_mod

    kw = dict(method=method, rtol=1e-7, atol=1e-9, dense=True)
    if output == "saveat":
        kw["saveat"] = [0.0, 0.77, 5.0, 10.0]
    if output == "fixed":
        kw.update(adaptive=False, dt=0.01)
    assert build_now(lorenz, EXPLICIT_METHODS[method]) > 0
    real = solve_mod.explicit_rk_solve
    monkeypatch.setattr(solve_mod, "explicit_rk_solve", None)  # the numba stepper must not run
    a = lorenz.solve((0.0, 10.0), **kw)
    monkeypatch.setattr(solve_mod, "explicit_rk_solve", real)
    b = lorenz.solve((0.0, 10.0), fused=None, **kw)
    assert_same(a, b)
    tt = np.concatenate([np.linspace(0.0, 10.0, 997), [10.0]])
    assert np.array_equal(a(tt), b(tt))
    assert a.stats["naccept"] > 64


def test_dense_output_across_auto_switches_from_the_emitted_loops():
    """The switching auto (no analysis) with dense=True: the explicit phases' records from the
    emitted loop, the Rosenbrock phases' from the numba stepper, one sol(t) over all of them."""
    from symdyn.solvers.solve import solve_compiled

    cm = sd.compile(models.get("vdpol").build())
    for tab in loops_for("auto"):
        assert build_now(cm, tab) > 0
    a, b = (solve_compiled(cm.addresses, cm.n, (0.0, 2.0), cm.u0, cm.p0, method="auto", rtol=1e-6, atol=1e-6,
                           dense=True, fused=f) for f in (cm, None))
    assert a.method == "tsit5+rodas5p"
    assert a.segments == b.segments and a.stats == b.stats and np.array_equal(a.u, b.u)
    tt = np.linspace(0.0, 2.0, 501)
    assert np.array_equal(a(tt), b(tt))


def test_the_emitted_loop_is_used_and_only_below_the_size_limit(lorenz):
    assert erk_address(lorenz, EXPLICIT_METHODS["tsit5"]) > 0
    assert erk_address(lorenz, EXPLICIT_METHODS["tsit5"]) == erk_address(lorenz, EXPLICIT_METHODS["tsit5"])
    big = sd.compile(models.get("brusselator_1d").build())
    assert big.n >= FUSED_MAX_N and erk_address(big, EXPLICIT_METHODS["tsit5"]) == 0
    assert erk_address(object(), EXPLICIT_METHODS["tsit5"]) == 0  # not a compiled model



def exact_at(v, t_end):
    t = np.array([float(s["t"]) for s in v["samples"]])
    return float(v["samples"][int(np.flatnonzero(t == t_end)[0])]["u"][0])


@pytest.mark.parametrize("method,problem,lam,u0,t_end,steps", [
    ("tsit5", "scalar_linear_sin", -1, 1, 10.0, [80, 160, 320, 640]),
    ("dp5", "scalar_linear_sin", -1, 1, 10.0, [80, 160, 320, 640]),
    ("dop853", "semilinear_bernoulli", -10, 1, 1.0, [8, 12, 16, 24]),
])
def test_observed_order_of_the_emitted_loop(method, problem, lam, u0, t_end, steps):
    """Fixed steps on exact solutions (the cases of test_solvers.py): the theoretical order +-0.2."""
    v = variant(problem, **{"lambda": lam, "u0": u0})
    m = sd.Model(problem)
    u = m.states("u", init=float(v["u0"]))
    a = m.params("lam", float(v["lambda"]))
    m.eq(sd.D(u), a * u + (sp.sin(m.t) if problem == "scalar_linear_sin" else u**2))
    cm = sd.compile(m)
    assert erk_address(cm, EXPLICIT_METHODS[method]) > 0
    exact = exact_at(v, t_end)
    hs = [t_end / k for k in steps]
    errs = [abs(cm.solve((0.0, t_end), method=method, adaptive=False, dt=h).u[-1, 0] - exact) for h in hs]
    order = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    assert abs(order - EXPLICIT_METHODS[method].order) <= 0.2, (errs, order)


def test_failures_are_statuses_from_the_emitted_loop():
    m = sd.Model("blow")
    x = m.states("x", init=1.0)
    m.eq(sd.D(x), x**2)  # x = 1/(1-t): infinite at t = 1
    cm = sd.compile(m)
    a, b = both(cm, (0.0, 2.0), method="tsit5")
    assert_same(a, b)
    assert a.retcode in (RetCode.StepSizeTooSmall, RetCode.NonFinite) and 0.99 < a.t_reached < 1.01

    m = sd.Model("log")
    y = m.states("y", init=1.0)
    m.eq(sd.D(y), sp.log(y - 0.5))  # leaves log's domain when y < 0.5: NaN
    cm = sd.compile(m)
    a, b = both(cm, (0.0, 10.0), method="dp5")
    assert_same(a, b)
    assert a.retcode == RetCode.NonFinite

    a, b = both(cm, (0.0, 1.0), method="tsit5", u0=[0.2])  # NaN at the start: no step
    assert_same(a, b)
    assert a.retcode == RetCode.NonFinite and a.stats["nsteps"] == 0

    stiff = sd.compile(models.get("rober").build())
    a, b = both(stiff, (0.0, 100.0), method="tsit5", max_steps=3000)
    assert_same(a, b)
    assert a.retcode == RetCode.MaxSteps and a.stats["nsteps"] == 3000


def test_auto_switching_from_the_emitted_loop_matches():
    """VDPOL: the explicit phases' stiffness test stops the emitted loop at the same step."""
    from symdyn.solvers.solve import solve_compiled

    cm = sd.compile(models.get("vdpol").build())
    for tab in loops_for("auto"):
        assert build_now(cm, tab) > 0
    a, b = (solve_compiled(cm.addresses, cm.n, (0.0, 2.0), cm.u0, cm.p0, method="auto", rtol=1e-6, atol=1e-6,
                           fused=f) for f in (cm, None))  # the switching auto (no analysis)
    assert a.method == "tsit5+rodas5p"
    assert a.segments == b.segments and a.stats == b.stats and np.array_equal(a.u, b.u)


def test_object_cache_loads_the_same_code_and_skips_a_damaged_file(tmp_path, monkeypatch):
    """A module compiled with a cache key is found by a later NativeModule.load (no IR, no
    compilation) and computes the same numbers; a damaged file is ignored, never loaded."""
    import codegen
    from codegen.erk import build_erk
    from codegen.module import NativeModule, object_cache_dir
    from symdyn.errors import CodegenError
    from symdyn.solvers.explicit import explicit_fused_solve
    from symdyn.solvers.fused import spec_for

    monkeypatch.setenv("SYMDYN_CACHE_DIR", str(tmp_path))
    assert object_cache_dir() == tmp_path
    cm = sd.compile(models.get("lorenz").build())
    tab = EXPLICIT_METHODS["tsit5"]
    module, keep = codegen.build_module({"rhs": cm.programs["rhs"]}, name="cache_test")
    build_erk(module, "erk", module.get_global("rhs"), cm.n, spec_for(tab))
    assert NativeModule.load("test key", 3) is None
    first = NativeModule(module, opt_level=3, cache_key="test key")
    files = list(tmp_path.glob("*.o"))
    assert len(files) == 1
    second = NativeModule.load("test key", 3)
    assert set(second.timings) == {"load"} and second.ir is None
    with pytest.raises(CodegenError):
        second.optimised_ir()
    assert NativeModule.load("test key", 2) is None  # another optimisation level: another object

    def run(native):
        return explicit_fused_solve(native.address("erk"), cm.p0.copy(), 0.0, 5.0, cm.u0.copy(), tab.c.shape[0],
                                    np.array([5.0]), False, 1e-8, np.full(cm.n, 1e-10), 0.0, True, 100_000, 0.0)

    a, b = run(first), run(second)
    assert a[0] == b[0] == 0 and np.array_equal(a[2], b[2]) and np.array_equal(a[5], b[5])
    data = bytearray(files[0].read_bytes())
    data[100] ^= 0xFF
    files[0].write_bytes(bytes(data))
    assert NativeModule.load("test key", 3) is None


def test_compiled_at_the_second_solve_and_then_found_on_disk(tmp_path, monkeypatch):
    """A one-off solve does not pay for compiling a loop (it runs the numba stepper: the same
    numbers); the second solve of the model and method compiles it; a new process (here: a new
    compiled model of the same equations) loads it from disk at its first solve."""
    from symdyn.solvers import fused

    monkeypatch.setenv("SYMDYN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(fused, "generic_ready", lambda tab, n: True)  # (numba's stepper compiled)
    tab = EXPLICIT_METHODS["dp5"]
    cm = sd.compile(models.get("lotka_volterra").build())
    first = cm.solve((0.0, 5.0), method="dp5")
    assert not list(tmp_path.glob("*.o"))  # first solve: nothing compiled
    second = cm.solve((0.0, 5.0), method="dp5")
    assert len(list(tmp_path.glob("*.o"))) == 1
    assert np.array_equal(first.u, second.u)
    again = sd.compile(models.get("lotka_volterra").build())
    assert erk_address(again, tab, build=False) > 0  # from disk, at the first request


@pytest.mark.parametrize("method", ["dp5", "rodas5p", "radau5"])
def test_compiled_at_the_first_solve_when_the_numba_stepper_is_not(tmp_path, monkeypatch, method):
    """A fresh install: compiling the loop (and its small numba entry) is cheaper than compiling
    the generic numba stepper, so the first solve builds it."""
    from symdyn.solvers import fused

    monkeypatch.setenv("SYMDYN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(fused, "generic_ready", lambda tab, n: False)
    cm = sd.compile(models.get("vdpol").build())
    first = cm.solve((0.0, 0.5), method=method)
    assert len(list(tmp_path.glob("*.o"))) == 1
    assert np.array_equal(first.u, cm.solve((0.0, 0.5), method=method, fused=None).u)


def test_generic_ready_reads_numba_state():
    from symdyn.solvers import fused

    cm = sd.compile(models.get("lorenz").build())
    cm.solve((0.0, 1.0), method="dp5", fused=None)  # the numba stepper, compiled or loaded
    assert fused.generic_ready(EXPLICIT_METHODS["dp5"], cm.n)


@pytest.mark.parametrize("name", ["vdpol", "hires", "rober"])
@pytest.mark.parametrize("method", sorted(ROSENBROCK_METHODS) + sorted(RADAU_METHODS))
@pytest.mark.parametrize("output", ["steps", "saveat", "fixed", "dense"])
def test_emitted_stiff_loops_give_the_numba_steppers_numbers(name, method, output):
    """Rosenbrock and Radau loops, every output; with steps the buffers grow (> 64 points), so a
    call returns BUFFER_FULL and resumes -- Radau with its Jacobian and factors kept; with
    dense=True the step records grow too, and sol(t) is the numba stepper's."""
    mod = models.get(name)
    cm = sd.compile(mod.build())
    t_end = {"vdpol": 0.5, "hires": 321.8122, "rober": 40.0}[name]
    kw = dict(method=method, rtol=1e-6, atol=1e-10)
    if output == "saveat":
        kw["saveat"] = np.linspace(0.0, t_end, 17)
    if output == "fixed":
        kw.update(adaptive=False, dt=t_end / 300)
    if output == "dense":
        kw["dense"] = True
    a, b = both(cm, (0.0, t_end), **kw)
    assert_same(a, b)  # (fixed steps may fail, e.g. a singular W: then with the same status)
    assert a.success or output == "fixed", a.message
    if output == "dense":
        tt = np.linspace(0.0, t_end, 301)
        assert np.array_equal(a(tt), b(tt))
        assert a.stats["naccept"] > 64 or name != "hires"  # (HIRES: the records grew)


@pytest.mark.parametrize("method", ["rodas5p", "radau5"])
def test_stiff_loop_failures_match(method):
    m = sd.Model("log")
    y = m.states("y", init=1.0)
    m.eq(sd.D(y), sp.log(y - 0.5))  # NaN once y < 0.5
    cm = sd.compile(m)
    a, b = both(cm, (0.0, 10.0), method=method)
    assert_same(a, b)
    assert a.retcode == RetCode.NonFinite
    stiff = sd.compile(models.get("vdpol").build())
    a, b = both(stiff, (0.0, 2.0), method=method, max_steps=50)
    assert_same(a, b)
    assert a.retcode == RetCode.MaxSteps
    a, b = both(stiff, (0.0, 2.0), method=method, adaptive=False, dt=0.05)  # fixed steps far too long
    assert_same(a, b)


@pytest.mark.parametrize("method", ["rodas5p", "rodas4", "radau5", "dop853"])
def test_non_autonomous_model_gives_the_same_numbers(method):
    """u' = lambda u + sin(t): Rosenbrock's df/dt term (central difference) and the time
    arguments of every stage, in the emitted loop as in the numba stepper; and the exact
    solution of tests/data/exact.json to the tolerance asked."""
    v = variant("scalar_linear_sin", **{"lambda": -1, "u0": 1})
    m = sd.Model("linear_sin")
    u = m.states("u", init=float(v["u0"]))
    lam = m.params("lam", float(v["lambda"]))
    m.eq(sd.D(u), lam * u + sp.sin(m.t))
    cm = sd.compile(m)
    a, b = both(cm, (0.0, 10.0), method=method, rtol=1e-8, atol=1e-10, saveat=[2.5, 10.0])
    assert_same(a, b)
    t = np.array([float(s["t"]) for s in v["samples"]])
    exact = float(v["samples"][int(np.flatnonzero(t == 10.0)[0])]["u"][0])
    assert abs(a.u[-1, 0] - exact) < 1e-6


def test_threads_solving_a_new_model_at_once_get_one_loop(tmp_path, monkeypatch):
    """Eight threads ask for the same loop at once: it is compiled once (LLVM under a lock) and
    every thread's solve gives the same numbers -- no thread runs code another one freed."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("SYMDYN_CACHE_DIR", str(tmp_path))
    cm = sd.compile(models.get("lorenz").build())
    tab = EXPLICIT_METHODS["dp5"]
    with ThreadPoolExecutor(8) as pool:
        addresses = list(pool.map(lambda _: erk_address(cm, tab), range(8)))
        sols = list(pool.map(lambda _: cm.solve((0.0, 5.0), method="dp5", saveat=[5.0]), range(8)))
    assert len(set(addresses)) == 1 and addresses[0] > 0
    assert len(list(tmp_path.glob("*.o"))) == 1
    assert all(np.array_equal(s.u, sols[0].u) for s in sols)


def test_a_loop_that_cannot_be_emitted_falls_back_to_the_numba_stepper(tmp_path, monkeypatch):
    """An emitter's failure (here: a simulated CodegenError) warns once and the solves run the
    numba stepper, with its numbers; it is not retried at every solve."""
    from symdyn.errors import CodegenError
    from symdyn.solvers import fused

    monkeypatch.setenv("SYMDYN_CACHE_DIR", str(tmp_path))  # an empty cache: the loop must be built

    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise CodegenError("simulated emitter bug")

    monkeypatch.setattr(fused, "build_erk", broken)
    cm = sd.compile(models.get("lotka_volterra").build())
    ref = cm.solve((0.0, 5.0), method="dp5", fused=None)
    with pytest.warns(RuntimeWarning, match="simulated emitter bug"):
        sols = [cm.solve((0.0, 5.0), method="dp5") for _ in range(4)]
    assert len(calls) == 1
    assert all(np.array_equal(s.u, ref.u) for s in sols)


def test_sparse_lu_from_the_size_limits_and_no_loop_for_a_large_elimination():
    """Below RADAU_MAX_N (FUSED_MAX_N for Rosenbrock) the dense LU of the numba stepper; from
    there the sparse LU with static pivots (tests/test_sparse_lu.py); no emitted stiff loop when
    the elimination exceeds SPARSE_MAX_FLOPS (a dense Jacobian of 40 states: 40**3/3) or the model
    SPARSE_MAX_N states."""
    from symdyn.solvers import fused

    def chain(n, dense=False):
        m = sd.Model(f"chain{n}{dense}")
        xs = m.states(" ".join(f"x{i}" for i in range(n)), init=[1.0] * n)
        for i, x in enumerate(xs):
            coupling = sum(xs) / (10 * n) if dense else (xs[i - 1] if i else 0)
            m.eq(sd.D(x), -(i + 1) * x + coupling)
        return sd.compile(m)

    rodas, radau = ROSENBROCK_METHODS["rodas5p"], RADAU_METHODS["radau5"]
    small, medium = chain(fused.RADAU_MAX_N - 1), chain(fused.RADAU_MAX_N)  # (SMALL_SPARSE off here)
    assert fused._sparse_plan(small, radau) is None and fused._sparse_plan(small, rodas) is None
    assert fused._sparse_plan(medium, radau) is not None and fused._sparse_plan(medium, rodas) is None
    assert radau_address(medium, radau) > 0 and rosenbrock_address(medium, rodas) > 0
    big = chain(40, dense=True)
    assert fused._sparse_plan(big, rodas) is None  # 40**3/3 multiply-subtracts
    assert rosenbrock_address(big, rodas) == 0 and radau_address(big, radau) == 0
    longer = chain(fused.SPARSE_MAX_N["radau"] + 1)  # a chain: no fill, but too many states for Radau5
    assert fused._sparse_plan(longer, rodas) is not None and fused._sparse_plan(longer, radau) is None
    assert fused._sparse_plan(chain(fused.SPARSE_MAX_N["rosenbrock"] + 1), rodas) is None
