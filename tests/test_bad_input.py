"""Bad input raises its specific error from ``symdyn.errors``, naming the culprit.

Every check asserts the exception class and that the culprit's name appears in the
message.  Calls with wrong arrays never reach native code (no interpreter crash).
"""
import math
import mmap
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sympy as sp

import symdyn as sd
from symdyn import errors as E


def small(name="m"):
    m = sd.Model(name)
    x, y = m.states("x y", init=[1.0, 2.0])
    k = m.params("k", values=3.0)
    return m, x, y, k


@pytest.fixture(scope="module")
def cm():
    m, x, y, k = small()
    m.eq(sd.D(x), -k * x)
    m.eq(sd.D(y), x * y)
    return sd.compile(m)


def raises(exc, culprit, fn, *args, **kwargs):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    assert isinstance(info.value, E.SymdynError)
    if culprit is not None:
        assert str(culprit) in str(info.value), str(info.value)
    return info.value


# --- the model ----------------------------------------------------------------------------------
def test_missing_equation():
    m, x, y, k = small()
    m.eq(sd.D(x), -x)
    err = raises(E.MissingEquationError, "'y'", sd.compile, m)
    assert err.state == "y"


def test_duplicate_equation():
    m, x, y, k = small()
    m.eq(sd.D(x), -x)
    err = raises(E.DuplicateEquationError, "'x'", m.eq, sd.D(x), x**2)
    assert err.state == "x"
    assert "x**2" in str(err)


@pytest.mark.parametrize("target", ["param", "observed", "power", "number", "time", "foreign"])
def test_equation_for_a_non_state(target):
    m, x, y, k = small()
    o = m.observed("o", 2 * x)
    lhs = {"param": k, "observed": o, "power": x**2, "number": sp.Integer(2), "time": m.t,
           "foreign": sp.Symbol("z", real=True)}[target]
    raises(E.NotAStateError, str(lhs), m.eq, sd.D(lhs), x)


def test_undefined_symbol():
    m, x, y, k = small()
    z = sp.Symbol("zz", real=True)
    m.eq(sd.D(x), -z * x)
    m.eq(sd.D(y), x)
    err = raises(E.UndefinedSymbolError, "'zz'", sd.compile, m)
    assert err.symbol == "zz" and "D(x)" in str(err)


def test_user_symbol_with_the_name_of_a_state():
    """sympy.Symbol('x') (no assumptions) is not the model's real x."""
    m, x, y, k = small()
    m.eq(sd.D(x), -sp.Symbol("x"))
    m.eq(sd.D(y), x)
    err = raises(E.UndefinedSymbolError, "'x'", sd.compile, m)
    assert "state" in str(err)  # the hint names the kind of the model's own x


def test_user_symbol_named_t_is_not_time():
    m, x, y, k = small()
    m.eq(sd.D(x), sp.Symbol("t"))
    m.eq(sd.D(y), x)
    raises(E.UndefinedSymbolError, "'t'", sd.compile, m)


def test_undefined_symbol_in_observed():
    m, x, y, k = small()
    o = m.observed("o", x + sp.Symbol("w", real=True))
    m.eq(sd.D(x), o)
    m.eq(sd.D(y), x)
    raises(E.UndefinedSymbolError, "'w'", sd.compile, m)


@pytest.mark.parametrize("kind", ["state", "param", "observed", "time"])
def test_duplicate_name(kind):
    m, x, y, k = small()
    declare = {"state": lambda: m.states("k"), "param": lambda: m.params("x"),
               "observed": lambda: m.observed("y", x), "time": lambda: m.states("t")}[kind]
    raises(E.DuplicateNameError, {"state": "'k'", "param": "'x'", "observed": "'y'", "time": "'t'"}[kind], declare)


@pytest.mark.parametrize("name", ["1x", "a-b", "class", "lambda", "x.y", "x[0]", "a+b"])
def test_invalid_names(name):
    m = sd.Model("m")
    raises(E.InvalidNameError, name, m.states, [name])
    raises(E.InvalidNameError, name, m.params, [name])
    raises(E.InvalidNameError, name, m.observed, name, 1)


def test_no_names():
    raises(E.InvalidNameError, None, sd.Model("m").states, "")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float64("nan"), sp.nan, sp.oo,
                                   "abc", None.__class__, 1 + 2j, sp.I, sp.Symbol("q"), [1.0]])
def test_invalid_init_and_param_values(value):
    m = sd.Model("m")
    raises(E.InvalidValueError, "'x'", m.states, "x", init=[value])
    raises(E.InvalidValueError, "'k'", m.params, "k", values=[value])


def test_wrong_number_of_values():
    m = sd.Model("m")
    raises(E.InvalidValueError, None, m.states, "x y", init=[1.0])
    raises(E.InvalidValueError, None, m.states, "x y", init=1.0)
    raises(E.InvalidValueError, None, m.params, "a b c", values=[1.0, 2.0])


def test_huge_integer_value():
    raises(E.InvalidValueError, "'k'", sd.Model("m").params, "k", values=10**400)


def test_string_of_values_is_not_a_sequence():
    raises(E.InvalidValueError, None, sd.Model("m").states, "a b c", init="123")


def test_bool_value_rejected():
    raises(E.InvalidValueError, "'k'", sd.Model("m").params, "k", values=True)


def test_cyclic_observed():
    m, x, y, k = small()
    b_sym = sp.Symbol("b", real=True)  # b is used before it is declared
    a = m.observed("a", b_sym + x)
    b = m.observed("b", 2 * a)
    assert b == b_sym
    m.eq(sd.D(x), a)
    m.eq(sd.D(y), b)
    err = raises(E.CyclicObservedError, "a", sd.compile, m)
    assert set(err.names) >= {"a", "b"}


def test_self_referencing_observed():
    m, x, y, k = small()
    a = m.observed("a", sp.Symbol("a", real=True) * x)
    m.eq(sd.D(x), a)
    m.eq(sd.D(y), x)
    raises(E.CyclicObservedError, "a", sd.compile, m)


def test_equation_is_a_condition():
    m, x, y, k = small()
    with pytest.raises(E.ModelError):
        m.eq(sd.D(x), x > 1)


def test_empty_model():
    with pytest.raises(E.ModelError):
        sd.compile(sd.Model("empty"))


# --- unsupported nodes -----------------------------------------------------------------------------
@pytest.mark.parametrize("func", [sp.gamma, sp.loggamma, sp.besselj.__new__, sp.Mod, sp.LambertW])
def test_unsupported_function(func):
    m, x, y, k = small()
    if func is sp.besselj.__new__:
        expr = sp.besselj(0, x)
    elif func is sp.Mod:
        expr = sp.Mod(x, 2)
    else:
        expr = func(x)
    m.eq(sd.D(x), -x)
    m.eq(sd.D(y), expr + 1)
    for jac in (True, False):
        err = raises(E.UnsupportedNodeError, type(expr).__name__, sd.compile, m, jacobian=jac)
        assert "D(y)" in str(err), str(err)


def test_zeta_without_jacobian():
    m, x, y, k = small()
    m.eq(sd.D(x), -x)
    m.eq(sd.D(y), sp.zeta(x))
    err = raises(E.UnsupportedNodeError, "zeta", sd.compile, m, jacobian=False)
    assert "D(y)" in str(err)


def test_zeta_with_jacobian():
    m, x, y, k = small()
    m.eq(sd.D(x), -x)
    m.eq(sd.D(y), sp.zeta(x))
    err = raises(E.UnsupportedNodeError, "zeta", sd.compile, m)
    assert "D(y)" in str(err)


@pytest.mark.parametrize("expr", ["I*x", "x + I", "exp(I*x)", "sqrt(-2)*x"])
def test_complex_constant(expr):
    m, x, y, k = small()
    m.eq(sd.D(x), sp.sympify(expr, locals={"x": x}))
    m.eq(sd.D(y), x)
    err = raises(E.UnsupportedNodeError, "I", sd.compile, m)
    assert "D(x)" in str(err)


def test_unsupported_in_observed_names_the_equation():
    m, x, y, k = small()
    o = m.observed("o", sp.gamma(y))
    m.eq(sd.D(x), -x)
    m.eq(sd.D(y), o)
    err = raises(E.UnsupportedNodeError, "gamma", sd.compile, m)
    assert "D(y)" in str(err)


@pytest.mark.parametrize("thing", ["model", None, 3, sd.Model, object()])
def test_compile_of_a_non_model(thing):
    raises(E.ArgumentError, type(thing).__name__, sd.compile, thing)


# --- calling compiled functions ------------------------------------------------------------------
CALLS = ["rhs", "jac", "jac_sparse", "jac_values"]


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("u", [[1.0], [1.0, 2.0, 3.0], np.ones(3), np.ones((2, 1)), np.ones((1, 2)), 1.0])
def test_u_of_wrong_shape(cm, call, u):
    raises(E.ShapeError, "'u'", getattr(cm, call), 0.0, u)


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("p", [[], [1.0, 2.0], np.ones(2), np.ones((1, 1))])
def test_p_of_wrong_shape(cm, call, p):
    raises(E.ShapeError, "'p'", getattr(cm, call), 0.0, cm.u0, p)


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float32, np.complex128, ">f8", object, bool])
def test_wrong_dtype(cm, call, dtype):
    raises(E.DTypeError, "'u'", getattr(cm, call), 0.0, np.ones(2, dtype=dtype))
    raises(E.DTypeError, "'p'", getattr(cm, call), 0.0, cm.u0, np.ones(1, dtype=dtype))


@pytest.mark.parametrize("call", CALLS)
def test_non_contiguous(cm, call):
    raises(E.LayoutError, "'u'", getattr(cm, call), 0.0, np.ones(4)[::2])
    raises(E.LayoutError, "'u'", getattr(cm, call), 0.0, np.ones((2, 2))[:, 0])
    # (the model has one parameter, and numpy calls every 1-element view contiguous)


def test_unknown_names_in_dicts(cm):
    raises(E.UnknownNameError, "'kk'", cm.rhs, 0.0, cm.u0, {"kk": 1.0})
    raises(E.UnknownNameError, "'kk'", cm.jac, 0.0, cm.u0, {"k": 1.0, "kk": 1.0})
    raises(E.UnknownNameError, "'z'", cm.rhs, 0.0, {"z": 1.0})
    with pytest.raises(KeyError):  # UnknownNameError is also a KeyError
        cm.rhs(0.0, cm.u0, {"x": 1.0})  # a state is not a parameter


def test_non_numeric_list(cm):
    raises(E.ArgumentError, "'u'", cm.rhs, 0.0, ["a", "b"])
    raises(E.ArgumentError, "'p'", cm.rhs, 0.0, cm.u0, ["abc"])


@pytest.mark.parametrize("out", [np.zeros(1), np.zeros(3), np.zeros((2, 1)), np.zeros(0)])
def test_out_of_wrong_size(cm, out):
    raises(E.ShapeError, "'out'", cm.rhs, 0.0, cm.u0, out=out)


def test_out_wrong_dtype_and_layout(cm):
    raises(E.DTypeError, "'out'", cm.rhs, 0.0, cm.u0, out=np.zeros(2, dtype=np.float32))
    raises(E.LayoutError, "'out'", cm.rhs, 0.0, cm.u0, out=np.zeros(4)[::2])


def test_out_list(cm):
    raises(E.ArgumentError, "'out'", cm.rhs, 0.0, cm.u0, out=[0.0, 0.0])


def test_out_read_only(cm):
    out = np.zeros(2)
    out.setflags(write=False)
    raises(E.ArgumentError, "'out'", cm.rhs, 0.0, cm.u0, out=out)


def test_out_read_only_memory_does_not_crash_the_interpreter():
    code = textwrap.dedent("""
        import mmap, numpy as np, symdyn as sd
        m = sd.Model("m"); x = m.states("x", init=1.0); m.eq(sd.D(x), -x)
        cm = sd.compile(m, jacobian=False)
        buf = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ)
        out = np.frombuffer(buf, dtype=np.float64, count=1)
        try:
            cm.rhs(0.0, [1.0], out=out)
        except sd.errors.SymdynError:
            print("raised")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=str(__import__("pathlib").Path(__file__).parents[1]))
    assert proc.returncode == 0, f"interpreter died with return code {proc.returncode}"
    assert "raised" in proc.stdout


@pytest.mark.parametrize("t", [np.array([0.0, 1.0]), "now", 1j])
def test_bad_time(cm, t):
    with pytest.raises(E.ArgumentError):
        cm.rhs(t, cm.u0)


@pytest.mark.parametrize("value", ["abc", 1 + 2j])
def test_bad_value_in_p_dict(cm, value):
    raises(E.ArgumentError, "'k'", cm.rhs, 0.0, cm.u0, {"k": value})


def test_bad_calls_leave_the_model_usable(cm):
    """After every kind of bad call, a good call still gives the right numbers."""
    for bad in ([1.0], np.ones(2, dtype=int), np.ones(4)[::2]):
        with pytest.raises(E.ArgumentError):
            cm.rhs(0.0, bad)
    np.testing.assert_array_equal(cm.rhs(0.0, [1.0, 2.0]), [-3.0, 2.0])


def test_missing_values():
    m = sd.Model("m")
    x = m.states("x")
    k = m.params("k")
    m.eq(sd.D(x), -k * x)
    cm = sd.compile(m)
    raises(E.MissingValueError, "'x'", lambda: cm.u0)
    raises(E.MissingValueError, "'k'", cm.rhs, 0.0, [1.0])
    raises(E.MissingValueError, "'k'", cm.rhs, 0.0, [1.0], {})
    np.testing.assert_array_equal(cm.rhs(0.0, [1.0], {"k": 2.0}), [-2.0])


def test_jac_of_a_model_compiled_without_jacobian():
    m, x, y, k = small()
    m.eq(sd.D(x), -x)
    m.eq(sd.D(y), x)
    cm = sd.compile(m, jacobian=False)
    for call in ("jac", "jac_sparse", "jac_values"):
        with pytest.raises(E.ArgumentError):
            getattr(cm, call)(0.0, cm.u0)


def test_error_hierarchy():
    assert issubclass(E.ShapeError, E.ArgumentError) and issubclass(E.ArgumentError, ValueError)
    assert issubclass(E.UnknownNameError, KeyError)
    for cls in (E.MissingEquationError, E.DuplicateEquationError, E.NotAStateError, E.UndefinedSymbolError,
                E.DuplicateNameError, E.InvalidNameError, E.InvalidValueError, E.CyclicObservedError):
        assert issubclass(cls, E.ModelError) and issubclass(cls, E.SymdynError)
    assert issubclass(E.UnsupportedNodeError, E.CodegenError)


def test_out_aliasing_u_is_rejected_or_correct():
    n = 1100
    m = sd.Model("irregular")
    xs = m.states([f"x{i}" for i in range(n)], init=[float(np.sin(i)) for i in range(n)])
    for i in range(n):  # irregular, so no loop families: straight-line code in chunks
        m.eq(sd.D(xs[i]), sp.cos(xs[i]) * (xs[i - 1] if i % 3 else 1) + xs[(i * 7) % n])
    cm = sd.compile(m, jacobian=False)
    u = cm.u0
    expected = cm.rhs(0.0, u.copy())
    try:
        cm.rhs(0.0, u, out=u)
    except E.ArgumentError:
        return
    np.testing.assert_array_equal(u, expected)


def test_non_contiguous_params():
    m = sd.Model("m")
    x = m.states("x", init=1.0)
    a, b = m.params("a b", values=[1.0, 2.0])
    m.eq(sd.D(x), -a * b * x)
    cm = sd.compile(m)
    raises(E.LayoutError, "'p'", cm.rhs, 0.0, cm.u0, np.ones(4)[::2])
    raises(E.LayoutError, "'p'", cm.jac, 0.0, cm.u0, np.ones((2, 2))[:, 1])
