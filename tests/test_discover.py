"""Discovery of ODEs from data (symdyn.discover): exact terms and coefficients on simulated
data of six systems at 0%, 1% and 5% noise, the discovered models compiled and simulated
again, the building blocks (libraries, regression, derivatives, weak form) against
references, the command line, and every bad input.

Data: the true model simulated by symdyn itself (rtol 1e-10) and sampled every 0.002 (Roessler
0.005); noise is Gaussian with standard deviation = level x the standard deviation of each state.
"""
import sys

import numpy as np
import pytest
import sympy as sp

import symdyn as sd
from models import duffing
from models._datasets import ODE_SYSTEMS, ode_data, truth, with_noise
from symdyn import errors
from symdyn.cli import main
from symdyn.discover import derivatives, library, regression, weak


# --- the systems (models/, data built by models/_datasets.py as in the benchmark) -------------
SYSTEMS = ODE_SYSTEMS


def clean(system):
    return ode_data(system)


def data(system, noise, seed=0):
    model, t, U = ode_data(system)
    return model, t, with_noise(U, noise, seed)


def coefficient_error(res, true):
    found = res.coefficient_table
    return max(abs(found.get(k, 0.0) - v) / abs(v) for k, v in true.items())


# --- recovery ---------------------------------------------------------------------------------
TOLERANCE = {0.0: 1e-8, 0.01: 1e-2, 0.05: 2e-2}
RESIM_TOLERANCE = {0.0: 1e-8, 0.01: 5e-3, 0.05: 2e-2}


@pytest.mark.parametrize("noise", [0.0, 0.01, 0.05], ids=["clean", "noise1", "noise5"])
@pytest.mark.parametrize("system", list(SYSTEMS))
def test_exact_terms_and_coefficients(system, noise):
    model, t, U = data(system, noise)
    res = sd.discover(t, U, names=model.state_names)
    true = truth(model)
    assert set(res.coefficient_table) == set(true), res.report()
    assert coefficient_error(res, true) <= TOLERANCE[noise], res.report()
    assert res.formulation == ("derivative" if noise == 0 else "weak")
    # the model compiles and re-simulates: the score's own run over the held-out part ...
    assert res.score.resim_success, res.score.resim_message
    # ... and from the true initial state, against the true trajectory
    cm, cm_true = sd.compile(res.model), sd.compile(model)
    ts = np.linspace(0.0, 2.0, 101)
    got = cm.solve((0.0, 2.0), u0=cm_true.u0, saveat=ts, rtol=1e-10, atol=1e-12)
    ref = cm_true.solve((0.0, 2.0), saveat=ts, rtol=1e-10, atol=1e-12)
    assert got.success
    assert np.max(np.abs(got.u - ref.u)) <= RESIM_TOLERANCE[noise] * np.max(np.abs(ref.u))


@pytest.mark.parametrize("system", list(SYSTEMS))
def test_recovery_over_seeds_at_5_percent(system):
    model, _, _ = clean(system)
    true = truth(model)
    errs, z = [], []
    for seed in range(1, 4):
        _, t, U = data(system, 0.05, seed)
        res = sd.discover(t, U, names=model.state_names, simulate=False)
        assert set(res.coefficient_table) == set(true), (seed, res.report())
        errs.append(coefficient_error(res, true))
        z += [abs(c.value - true[(c.state, c.term)]) / c.shooting_std for c in res.coefficients]
    # the target (<= 2% at 5% noise), after the multiple-shooting refinement
    assert max(errs) <= 0.02, errs
    # the refinement's standard deviations are honest: errors of a few of them, not tens
    assert np.median(z) < 2.0 and max(z) < 5.0, z


def test_nearly_clean_data_use_the_weak_form_and_stay_exact():
    # 1e-6 noise: too much for finite differences, little enough that quadrature and
    # round-off compete with it (the standard errors are scaled up to the residual)
    model, t, U = data("lorenz", 1e-6)
    res = sd.discover(t, U, names=model.state_names, simulate=False)
    assert res.formulation == "weak"
    assert set(res.coefficient_table) == set(truth(model))
    assert coefficient_error(res, truth(model)) < 1e-5


def test_non_uniform_sample_times():
    model, t, U = clean("vdp_mu1")
    rng = np.random.default_rng(3)
    tn = np.sort(np.concatenate([[0.0, 20.0], rng.uniform(0.0, 20.0, 9000)]))
    Un = sd.compile(model).solve((0.0, 20.0), saveat=tn, rtol=1e-10, atol=1e-12).u
    res = sd.discover(tn, Un, names=model.state_names, simulate=False)           # finite differences
    assert set(res.coefficient_table) == set(truth(model)) and coefficient_error(res, truth(model)) < 1e-6
    noisy = Un + 0.01 * np.std(Un, axis=0) * rng.standard_normal(Un.shape)
    res = sd.discover(tn, noisy, names=model.state_names, simulate=False)        # weak form
    assert res.formulation == "weak" and set(res.coefficient_table) == set(truth(model))


def test_several_trajectories():
    model = duffing.build()
    cm = sd.compile(model)
    t = np.arange(0.0, 6.0 + 1e-9, 0.002)
    Us = [cm.solve((0.0, 6.0), u0=u0, saveat=t, rtol=1e-10, atol=1e-12).u for u0 in ([1.8, 0.0], [0.3, 0.5])]
    rng = np.random.default_rng(0)
    Us = [U + 0.02 * np.std(U, axis=0) * rng.standard_normal(U.shape) for U in Us]
    res = sd.discover([t, t], Us, names=["x", "v"])
    assert set(res.coefficient_table) == set(truth(model))
    assert coefficient_error(res, truth(model)) < 0.02


def test_user_library_pendulum():
    m = sd.Model("pendulum")
    th, w = m.states("theta omega", init=[2.0, 0.0])
    m.eq(sd.D(th), w)
    m.eq(sd.D(w), -9.81 * sp.sin(th) - 0.1 * w)
    t = np.arange(0.0, 15.0, 0.002)
    U = sd.compile(m).solve((0.0, 15.0), saveat=t, rtol=1e-10, atol=1e-12).u
    U = U + 0.01 * np.std(U, axis=0) * np.random.default_rng(0).standard_normal(U.shape)
    lib = library.polynomial(["theta", "omega"], 2) + library.trigonometric(["theta", "omega"])
    res = sd.discover(t, U, names=["theta", "omega"], library=lib)
    assert set(res.coefficient_table) == {("theta", "omega"), ("omega", "omega"), ("omega", "sin(theta)")}
    assert res.coefficient_table[("omega", "sin(theta)")] == pytest.approx(-9.81, rel=5e-3)
    assert res.model.equations[res.model.state_symbols[1]].has(sp.sin)


def test_result_report_and_model_file(tmp_path):
    model, t, U = data("lotka_volterra", 0.01)
    res = sd.discover(t, U, names=model.state_names)
    text = res.report()
    for piece in ("D(x) =", "D(y) =", "bootstrap", "weak form", "standard errors", "re-simulation"):
        assert piece in text, piece
    assert res.timings["total"] < 5.0
    # the model file rebuilds exactly the same equations and `symdyn run` accepts it
    path = tmp_path / "lv_found.py"
    res.write_model(path)
    namespace = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    rebuilt = namespace["build"]()
    assert [sp.srepr(e) for e in rebuilt.rhs] == [sp.srepr(e) for e in res.model.rhs]
    assert namespace["T_SPAN"] == (0.0, 15.0)
    assert main(["run", str(path), "--points", "5"]) == 0


# --- the command line ---------------------------------------------------------------------------
def test_cli_discover_writes_a_runnable_model(tmp_path, capsys):
    model, t, U = data("vdp_mu1", 0.0)
    npz = tmp_path / "vdp data.npz"
    np.savez(npz, t=t, U=U, names=np.array(["x", "y"]))
    assert main(["discover", str(npz)]) == 0
    out = capsys.readouterr().out
    assert "D(x) = 1.0*y" in out and "model written to" in out
    written = tmp_path / "vdp_data_model.py"
    assert written.is_file()
    assert main(["run", str(written), "--t1", "1", "--points", "3"]) == 0


def test_cli_discover_pde_writes_a_runnable_model(tmp_path, capsys):
    from models import burgers
    x = np.linspace(0.0, 1.0, 101)
    t = np.linspace(0.0, 1.0, 101)
    U = burgers.exact(t[:, None], x[None, :], 0.1)
    npz = tmp_path / "burgers.npz"
    np.savez(npz, t=t, x=x, U=U, names=np.array(["u"]))
    assert main(["discover", str(npz), "--out", str(tmp_path / "found.py")]) == 0
    assert "model written to" in capsys.readouterr().out
    text = (tmp_path / "found.py").read_text()
    assert "D(u) = " in text and "u_xx" in text and "T_SPAN = (0.0, 1.0)" in text  # the PDE, not 97 ODEs
    namespace = {}
    exec(compile(text, "found.py", "exec"), namespace)
    cm = sd.compile(namespace["build"]())
    sol = cm.solve(namespace["T_SPAN"], saveat=[1.0], rtol=1e-8)
    interior = sol.u[-1]                          # the states are the interior points the data determine
    assert sol.success and np.allclose(interior, U[-1, 2:-2], atol=1e-3)


@pytest.mark.parametrize("name", ["lorenz", "pollu", "kepler", "brusselator_1d"])
def test_model_source_rebuilds_library_models(name):
    """Model files keep parameters (with their values), observed quantities and every digit."""
    import models
    from symdyn.discover.result import model_source
    model = models.build(name, **({"N": 5} if name == "brusselator_1d" else {}))
    namespace = {}
    exec(compile(model_source(model, (0.0, 1.0)), name, "exec"), namespace)
    rebuilt = namespace["build"]()
    assert rebuilt.param_names == model.param_names and rebuilt.param_values == model.param_values
    assert list(map(str, rebuilt.observed_exprs)) == list(map(str, model.observed_exprs))
    a, b = sd.compile(model), sd.compile(rebuilt)
    u = a.u0 + 0.1
    assert np.array_equal(a.rhs(0.3, u), b.rhs(0.3, u))


def test_cli_discover_errors(tmp_path, capsys):
    assert main(["discover", str(tmp_path / "missing.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.npz"
    np.savez(bad, time=np.arange(3.0))
    assert main(["discover", str(bad)]) == 2
    assert "has no array 't'" in capsys.readouterr().err


# --- bad input ----------------------------------------------------------------------------------
def test_bad_input_is_named():
    t = np.linspace(0.0, 1.0, 200)
    U = np.column_stack([np.sin(t), np.cos(t)])
    with pytest.raises(errors.NonFiniteDataError) as exc:
        bad = U.copy()
        bad[17, 1] = np.nan
        sd.discover(t, bad)
    assert exc.value.arg == "U" and exc.value.index == (17, 1)
    with pytest.raises(errors.NonFiniteDataError) as exc:
        sd.discover(np.where(t > 0.5, np.inf, t), U)
    assert exc.value.arg == "t"
    with pytest.raises(errors.DiscoveryArgumentError) as exc:
        sd.discover(t[:-1], U)
    assert exc.value.arg == "U" and "(199, n)" in str(exc.value)
    with pytest.raises(errors.DiscoveryArgumentError) as exc:
        sd.discover(t, U, names=["a"])
    assert exc.value.arg == "names"
    with pytest.raises(errors.DiscoveryArgumentError) as exc:
        sd.discover(t, U, names=["a", "t"])
    assert exc.value.arg == "names"
    with pytest.raises(errors.DiscoveryArgumentError) as exc:
        sd.discover(t[::-1], U)
    assert exc.value.arg == "t" and "increasing" in str(exc.value)
    with pytest.raises(errors.TooFewSamplesError) as exc:
        sd.discover(t[:20], U[:20], degree=5)
    assert exc.value.arg == "t"
    with pytest.raises(errors.LibraryError) as exc:
        sd.discover(t, U, library=["z**2"])
    assert exc.value.term == "z**2"
    with pytest.raises(errors.LibraryError) as exc:
        library.custom(["x"], ["x + y"])
    assert "y" in str(exc.value)
    with pytest.raises(errors.DiscoveryArgumentError) as exc:
        sd.discover(t, U, formulation="spectral")
    assert exc.value.arg == "formulation"
    with pytest.raises(errors.DiscoveryArgumentError) as exc:
        sd.discover(t, U, threshold=0.1)
    assert exc.value.arg == "threshold"
    with pytest.raises(errors.DiscoveryArgumentError):
        sd.discover(t, [U, U[:10]])
    # all of them are symdyn errors and ValueErrors
    assert issubclass(errors.DiscoveryArgumentError, errors.SymdynError)
    assert issubclass(errors.NonFiniteDataError, ValueError)


@pytest.mark.parametrize("call", ["ode", "pde", "gp"])
def test_complex_or_text_data_are_refused(call):
    from symdyn.discover import gp_discover
    t = np.linspace(0.0, 1.0, 200)
    U = np.column_stack([np.sin(t), np.cos(t)]) * (1 + 1j)   # np.asarray(.., float) would drop the imaginary part
    run = {"ode": lambda: sd.discover(t, U), "pde": lambda: sd.discover(t, U, x=[0.0, 1.0], pde=True),
           "gp": lambda: gp_discover(t, U)}[call]
    with pytest.raises(errors.DiscoveryArgumentError) as exc:
        run()
    assert exc.value.arg == "U" and "real numbers" in str(exc.value)
    with pytest.raises(errors.DiscoveryArgumentError):
        sd.discover(t.astype(str), U.real)


@pytest.mark.parametrize("bad", [-1, 2.5, True, "10"])
def test_bootstrap_must_be_a_count(bad):
    t = np.linspace(0.0, 1.0, 200)
    with pytest.raises(errors.DiscoveryArgumentError) as exc:
        sd.discover(t, np.column_stack([np.sin(t), np.cos(t)]), bootstrap=bad)
    assert exc.value.arg == "bootstrap"


def test_nonuniform_grid_where_uniform_is_required():
    t = np.sort(np.random.default_rng(0).uniform(0.0, 1.0, 100))
    with pytest.raises(errors.NonUniformGridError) as exc:
        derivatives.savitzky_golay(t, np.sin(t))
    assert exc.value.arg == "t"


def test_library_term_that_overflows_is_named():
    lib = library.exponential(["x"], rates=(1,))
    with pytest.raises(errors.LibraryError) as exc:
        lib.evaluate(np.array([[1.0], [800.0]]))
    assert exc.value.term == "exp(x)" and "sample 1" in str(exc.value)


def test_pde_dispatch(monkeypatch):
    t, x = np.linspace(0, 1, 20), np.linspace(0, 1, 16)
    U = np.zeros((20, 16))
    with pytest.raises(errors.DiscoveryArgumentError) as exc:
        sd.discover(t, U, pde=True)
    assert exc.value.arg == "x"
    with pytest.raises(errors.DiscoveryArgumentError):
        sd.discover(t, U[:, :2], x=x)                      # x without pde=True
    monkeypatch.setitem(sys.modules, "symdyn.discover.pde", None)   # as if the module were absent
    with pytest.raises(NotImplementedError, match="symdyn.discover.pde"):
        sd.discover(t, U, x=x, pde=True)
    calls = []
    fake = type(sys)("symdyn.discover.pde")
    fake.discover_pde = lambda *args, **kw: calls.append((args, kw)) or "pde result"
    monkeypatch.setitem(sys.modules, "symdyn.discover.pde", fake)
    assert sd.discover(t, U, x=x, names=["u"], pde=True, max_order=3) == "pde result"
    assert calls[0][1] == {"max_order": 3} and calls[0][0][3] == ["u"]


# --- building blocks ----------------------------------------------------------------------------
def test_library_compiled_equals_sympy():
    names = ["x", "y", "z"]
    lib = (library.polynomial(names, 3) + library.trigonometric(names, (1, 2)) + library.exponential(names)
           + library.rational(names) + library.custom(names, ["x*sin(t)", "sqrt(1 + y**2)", "Abs(z)"]))
    U = np.random.default_rng(0).normal(size=(500, 3))
    t = np.linspace(0.0, 3.0, 500)
    got = lib.evaluate(U, t)
    ref = lib.evaluate_sympy(U, t)
    assert got.shape == (500, len(lib))
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-13)
    # products and unions
    assert (library.polynomial("x", 1, constant=False) * library.trigonometric("x")).names == ["x*sin(x)", "x*cos(x)"]
    assert len(library.polynomial("x y", 2) + library.polynomial("x y", 1)) == 6


def test_library_jacobian_matches_sympy():
    lib = library.polynomial("x y", 3) + library.trigonometric("x y")
    jl, index = lib.jacobian()
    U = np.random.default_rng(1).normal(size=(50, 2))
    vals = jl.evaluate(U)
    for j, term in enumerate(lib.terms):
        for k, s in enumerate(lib.symbols):
            d = sp.lambdify(lib.symbols, sp.diff(term, s))(*U.T)
            got = vals[:, index[j, k]] if index[j, k] >= 0 else 0.0
            np.testing.assert_allclose(np.broadcast_to(got, (50,)), np.broadcast_to(d, (50,)), rtol=1e-13,
                                       atol=1e-13)


def test_stlsq_and_sr3_keep_a_badly_scaled_term():
    rng = np.random.default_rng(0)
    Theta = rng.normal(size=(300, 8)) * np.array([1, 1e4, 1, 1e-4, 1, 1, 1, 1])
    y = 3e-4 * Theta[:, 1] + 2e3 * Theta[:, 3] + 0.5 * Theta[:, 6]
    for solver in (regression.stlsq, regression.sr3):
        coef = solver(Theta, y, threshold=0.05)
        assert np.flatnonzero(coef).tolist() == [1, 3, 6]
        np.testing.assert_allclose(coef[[1, 3, 6]], [3e-4, 2e3, 0.5], rtol=1e-10)


def test_fit_sparse_rules_and_path():
    rng = np.random.default_rng(2)
    Theta = rng.normal(size=(400, 10))
    Y = np.column_stack([Theta[:, 0] - 2 * Theta[:, 4], 0.3 * Theta[:, 7]])
    Y = Y + 0.01 * rng.normal(size=Y.shape)
    for rule in ("auto", "knee", "bic", "cv"):
        fit = regression.fit_sparse(Theta, Y, selection=rule)
        assert fit.terms(0) == [0, 4] and fit.terms(1) == [7], rule
        assert fit.criterion == ("knee" if rule == "auto" else rule)
    fit = regression.fit_sparse(Theta, Y, selection="aicc")          # AIC keeps a spurious term or two
    assert {0, 4} <= set(fit.terms(0)) and len(fit.terms(0)) <= 5
    # with the noise covariance (independent rows, sigma 0.01): significance
    fit = regression.fit_sparse(Theta, Y, covariance=1e-4 * Theta.T @ Theta)
    assert fit.criterion == "significance" and fit.terms(0) == [0, 4]
    assert np.all(fit.tstats[[0, 4], 0] > 100) and np.isnan(fit.tstats[1, 0])
    # the path visits every sparsity level and records the chosen point
    levels = sorted({n for _, n, _ in fit.path[0]})
    assert levels == list(range(11))
    assert fit.path[0][fit.chosen[0]][1] == 2
    with pytest.raises(errors.DiscoveryArgumentError):
        regression.fit_sparse(Theta, Y, selection="magic")
    with pytest.raises(errors.NonFiniteDataError):
        regression.fit_sparse(np.where(Theta > 3, np.nan, Theta), Y)


def test_finite_differences_and_noise_estimate():
    t = np.sort(np.concatenate([[0.0, 3.0], np.random.default_rng(0).uniform(0, 3, 600)]))
    u = np.column_stack([np.sin(2 * t), np.exp(-t)])
    du = derivatives.finite_difference(t, u)
    np.testing.assert_allclose(du, np.column_stack([2 * np.cos(2 * t), -np.exp(-t)]), atol=1e-8)
    tu = np.linspace(0, 10, 4001)
    for level in (1e-4, 1e-2):
        noisy = np.sin(tu) + level * np.random.default_rng(1).normal(size=tu.size)
        assert derivatives.estimate_noise(tu, noisy)[0] == pytest.approx(level, rel=0.1)
    assert derivatives.estimate_noise(tu, np.sin(tu))[0] < 1e-9


def test_smoothed_and_tv_derivatives():
    t = np.linspace(0, 10, 2001)
    u = np.sin(t) + 0.01 * np.random.default_rng(0).normal(size=t.size)
    rms = lambda v: float(np.sqrt(np.mean((v - np.cos(t))[50:-50] ** 2)))  # noqa: E731
    assert rms(derivatives.savitzky_golay(t, u)) < 0.02
    assert rms(derivatives.derivative(t, u)) < 0.02                 # auto: Savitzky-Golay here
    assert rms(np.gradient(u, t)) > 0.3                             # what plain differences give
    tt = np.linspace(0, 1, 300)
    ramp = np.abs(tt - 0.5) + 0.005 * np.random.default_rng(0).normal(size=tt.size)
    v = derivatives.tv_derivative(tt, ramp)
    assert np.median(np.abs(v - np.sign(tt - 0.5))) < 0.1


def test_weak_form_is_exact_for_clean_data():
    t = np.linspace(0.0, 5.0, 3001)
    u = np.column_stack([np.exp(-t), np.sin(3 * t)])
    Theta = np.column_stack([u[:, 0], np.cos(3 * t)])
    G, b = weak.weak_system(t, u, Theta, radius=0.3)
    coef = np.linalg.lstsq(G, b, rcond=None)[0]
    np.testing.assert_allclose(coef, [[-1.0, 0.0], [0.0, 3.0]], atol=1e-9)
    # the radius follows the data: noisier data, wider test functions
    sig = derivatives.estimate_noise(t, u + 0.05 * np.random.default_rng(0).normal(size=u.shape))
    assert weak.choose_radius(t, u, sig) > weak.choose_radius(t, u, [1e-8, 1e-8])


def test_sd_discover_is_callable_and_still_the_package():
    import importlib
    api = importlib.import_module("symdyn.discover.api")
    assert callable(sd.discover) and sd.discover.api is api
    assert sd.discover.gp_discover.__name__ == "gp_discover"     # (lazy: loads numba only now)
    t = np.linspace(0.0, 4.0, 801)
    U = np.column_stack([2 * np.exp(-0.5 * t), np.exp(-0.5 * t) + np.exp(-2 * t)])
    assert sd.discover(t, U, names=["x", "y"], degree=2).terms("x") == {"x"}


def test_fd_stencil_norm_is_that_of_the_fornberg_weights():
    """fd_is_accurate's noise amplification uses the norm of the stencil the derivatives use."""
    from symdyn.discover._kernels import fornberg
    half = derivatives.FD_ACCURACY // 2
    w = fornberg(0.0, np.arange(-half, half + 1.0), 1)[:, 1]
    assert derivatives.FD_STENCIL_NORM == pytest.approx(float(np.linalg.norm(w)), rel=1e-12)
