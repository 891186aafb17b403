"""Tests of the symplectic composition methods (symdyn/solvers/symplectic.py).

Kepler's exact solution, eccentricity and invariants come from tests/data/exact.json (problem
``kepler``), the model from ``models/kepler.py``; the harmonic oscillator is built here with the
DSL (its solution is cos/sin).  Orders are the slope of log(error) against log(dt) at fixed
steps, compared with theory (+-0.2).
"""
import json
import math
import pathlib

import numpy as np
import pytest

import symdyn as sd
from models import kepler
from symdyn.solvers import _status, solve_compiled
from symdyn.solvers.errors import OptionError
from symdyn.solvers.symplectic import (
    SYMPLECTIC_METHODS,
    VERLET,
    YOSHIDA4,
    CompositionMethod,
    choose_dt,
    symplectic_solve,
)
from symdyn.solvers.tableaus import TableauError

DATA = json.loads((pathlib.Path(__file__).parent / "data" / "exact.json").read_text())
KEPLER = {p["id"]: p for p in DATA["problems"]}["kepler"]
ORDERS = {"verlet": 2, "yoshida4": 4}
Q, V = np.array([0, 1]), np.array([2, 3])  # kepler: q1 q2 p1 p2


def kepler_variant(e):
    for v in KEPLER["variants"]:
        if float(v["e"]) == e:
            return v
    raise LookupError(e)


E = float(KEPLER["variants"][0]["e"])  # 0.6, the json's first setup (also the model's default)


@pytest.fixture(scope="module")
def kepler_cm():
    return sd.compile(kepler.build(e=E))


@pytest.fixture(scope="module")
def oscillator_cm():
    m = sd.Model("oscillator")
    x, v = m.states("x v", init=[1.0, 0.0])
    w = m.params("w", values=2.0)
    m.eq(sd.D(x), v)
    m.eq(sd.D(v), -w**2 * x)
    return sd.compile(m)


def energy(U):
    """Kepler's H = |p|^2/2 - 1/|q| for rows (q1, q2, p1, p2)."""
    return 0.5 * (U[:, 2] ** 2 + U[:, 3] ** 2) - 1.0 / np.hypot(U[:, 0], U[:, 1])


def slope(dts, errs):
    return np.polyfit(np.log(dts), np.log(errs), 1)[0]


def test_methods_are_checked_data():
    assert VERLET.force_evaluations == 1 and YOSHIDA4.force_evaluations == 3
    g = np.array(YOSHIDA4.gamma)
    assert abs(g.sum() - 1) < 1e-14 and abs((g**3).sum()) < 1e-14
    with pytest.raises(TableauError, match="sum of drifts"):
        CompositionMethod.from_verlet_composition("bad", (0.5, 0.2, 0.5), 2, "")
    with pytest.raises(TableauError, match="palindromic"):
        CompositionMethod.from_verlet_composition("bad", (0.5, 0.4, 0.1), 2, "")
    with pytest.raises(TableauError, match="sum gamma\\^3"):  # consistent but not order 4
        CompositionMethod.from_verlet_composition("bad", (0.4, 0.2, 0.4), 4, "")
    with pytest.raises(TableauError, match="palindromic"):  # kick-drift-kick with unequal kicks
        CompositionMethod("bad", np.array([0.0, 1.0]), np.array([0.3, 0.7]), 1, "")
    with pytest.raises(TableauError, match="sum of kicks"):
        CompositionMethod("bad", np.array([0.0, 1.0]), np.array([0.5, 0.4]), 1, "")


@pytest.mark.parametrize("method", sorted(SYMPLECTIC_METHODS))
def test_order_harmonic_oscillator(oscillator_cm, method):
    cm = oscillator_cm
    w = float(cm.p0[0])
    T = 10.0
    exact = np.array([math.cos(w * T), -w * math.sin(w * T)])
    Ns = [400, 800, 1600, 3200]
    errs = []
    for N in Ns:
        status, t, u, ts, us, stats = symplectic_solve(cm.addresses["rhs"], cm.p0, 0.0, T, cm.u0, [0], [1], T / N,
                                                       [T], method)
        assert status == _status.SUCCESS and t == T
        errs.append(np.abs(us[-1] - exact).max())
    assert abs(slope(T / np.array(Ns), errs) - ORDERS[method]) < 0.2, errs


@pytest.mark.parametrize("method", sorted(SYMPLECTIC_METHODS))
def test_order_kepler(kepler_cm, method):
    cm = kepler_cm
    sample = next(s for s in kepler_variant(E)["samples"] if float(s["t"]) == 10.0)
    exact = np.array([float(x) for x in sample["q1,q2,p1,p2"]])
    T = 10.0
    Ns = [1000, 2000, 4000, 8000]
    errs = []
    for N in Ns:
        status, t, u, ts, us, stats = symplectic_solve(cm.addresses["rhs"], np.zeros(1), 0.0, T, cm.u0, Q, V, T / N,
                                                       None, method)
        assert status == _status.SUCCESS and len(ts) == N + 1 and ts[-1] == T
        assert stats[_status.NFEV] == 1 + N * SYMPLECTIC_METHODS[method].force_evaluations
        errs.append(np.abs(u - exact).max())
    assert abs(slope(T / np.array(Ns), errs) - ORDERS[method]) < 0.2, errs


def test_energy_bounded_over_1e5_steps(kepler_cm):
    """max |H - H0| over the last tenth of 10^5 steps is no larger than over the first tenth
    (no secular drift), and small; an explicit Runge-Kutta method at the same step drifts."""
    cm = kepler_cm
    H0 = float(kepler_variant(E)["H_exact"])
    L0 = float(kepler_variant(E)["L_exact"])
    dt, nsteps = 0.01, 100_000
    T = dt * nsteps
    bound = {"verlet": 1e-3, "yoshida4": 2e-6}
    for method in ("verlet", "yoshida4"):
        status, t, u, ts, us, stats = symplectic_solve(cm.addresses["rhs"], np.zeros(1), 0.0, T, cm.u0, Q, V, dt,
                                                       None, method)
        assert status == _status.SUCCESS and len(ts) == nsteps + 1
        dH = np.abs(energy(us) - H0)
        k = nsteps // 10
        first, last = dH[:k].max(), dH[-k:].max()
        assert last <= 1.05 * first and last < bound[method], (method, first, last)
        # angular momentum is a quadratic invariant: conserved to round-off by both methods
        L = us[:, 0] * us[:, 3] - us[:, 1] * us[:, 2]
        assert np.abs(L - L0).max() < 1e-10
    rk = solve_compiled(cm.addresses, 4, (0.0, T), cm.u0, np.zeros(1), method="tsit5", adaptive=False, dt=dt,
                        max_steps=2 * nsteps)
    dH = np.abs(energy(rk.u) - H0)
    assert dH[-k:].max() > 3 * dH[:k].max()  # the drift the symplectic methods do not have


@pytest.mark.parametrize("method", sorted(SYMPLECTIC_METHODS))
def test_reversible(kepler_cm, method):
    cm = kepler_cm
    N, dt = 2000, 0.01
    rhs = cm.addresses["rhs"]
    _, _, u, _, _, _ = symplectic_solve(rhs, np.zeros(1), 0.0, N * dt, cm.u0, Q, V, dt, [N * dt], method)
    u[V] *= -1
    _, _, back, _, _, _ = symplectic_solve(rhs, np.zeros(1), 0.0, N * dt, u, Q, V, dt, [N * dt], method)
    back[V] *= -1
    assert np.abs(back - cm.u0).max() < 1e-10


def test_saveat_side_steps_keep_the_grid(kepler_cm):
    """Output times off the grid do not change the trajectory; they have the method's accuracy."""
    cm = kepler_cm
    rhs = cm.addresses["rhs"]
    samples = kepler_variant(E)["samples"]
    times = np.array([float(s["t"]) for s in samples if float(s["t"]) <= 10.0])
    exact = np.array([[float(x) for x in s["q1,q2,p1,p2"]] for s in samples if float(s["t"]) <= 10.0])
    dt = 10.0 / 4000
    plain = symplectic_solve(rhs, np.zeros(1), 0.0, 10.0, cm.u0, Q, V, dt, [10.0], "yoshida4")
    withsave = symplectic_solve(rhs, np.zeros(1), 0.0, 10.0, cm.u0, Q, V, dt, times, "yoshida4")
    assert np.array_equal(plain[2], withsave[2])  # bit-identical end state
    assert np.array_equal(withsave[3], times)
    assert np.abs(withsave[4] - exact).max() < 1e-6  # the global error of yoshida4 at this dt


def test_default_dt(kepler_cm):
    cm = kepler_cm
    rhs = cm.addresses["rhs"]
    dt = choose_dt(rhs, np.zeros(1), 0.0, 10.0, cm.u0, Q, V)
    # at the pericentre r = 1 - e the radial frequency is about sqrt(2/r^3)
    r = 1 - E
    assert 0.5 < dt / (2 * math.pi / (100 * math.sqrt(2 / r**3))) < 2
    assert abs(10.0 / dt - round(10.0 / dt)) < 1e-9  # a whole number of steps
    status, t, u, ts, us, stats = symplectic_solve(rhs, np.zeros(1), 0.0, 10.0, cm.u0, Q, V, None, [10.0])
    assert status == _status.SUCCESS and abs(energy(us)[0] - float(kepler_variant(E)["H_exact"])) < 1e-5


def test_bad_structure_refused(kepler_cm, oscillator_cm):
    rhs = kepler_cm.addresses["rhs"]
    with pytest.raises(OptionError, match="q' = v"):  # q and v swapped
        symplectic_solve(rhs, np.zeros(1), 0.0, 1.0, kepler_cm.u0, V, Q, 0.01, None)
    with pytest.raises(OptionError, match="cover"):
        symplectic_solve(rhs, np.zeros(1), 0.0, 1.0, kepler_cm.u0, [0, 1], [2, 2], 0.01, None)
    damped = sd.Model("damped")
    x, v = damped.states("x v", init=[1.0, 0.0])
    damped.eq(sd.D(x), v)
    damped.eq(sd.D(v), -x - 0.1 * v)
    cm = sd.compile(damped)
    with pytest.raises(OptionError, match="depends on the velocities"):
        symplectic_solve(cm.addresses["rhs"], np.zeros(1), 0.0, 1.0, cm.u0, [0], [1], 0.01, None)


def test_failures_return_a_status(kepler_cm, oscillator_cm):
    """NaN forces (Kepler at q = 0) end with NonFinite, too many steps with MaxSteps."""
    cm = kepler_cm
    status, t, u, ts, us, stats = symplectic_solve(cm.addresses["rhs"], np.zeros(1), 0.0, 1.0,
                                                   np.array([0.0, 0.0, 1.0, 0.0]), Q, V, 0.1, None, check=False)
    assert status == _status.NON_FINITE and t == 0.0
    cm = oscillator_cm
    status, t, u, ts, us, stats = symplectic_solve(cm.addresses["rhs"], cm.p0, 0.0, 1.0, cm.u0, [0], [1], 0.01, None,
                                                   "verlet", max_steps=20)
    assert status == _status.MAX_STEPS and abs(t - 0.2) < 1e-12 and len(ts) == 21
