#!/usr/bin/env python
"""Cramer-Rao bound of Lorenz's coefficients for the discovery benchmark's data, fitted in segments.

Usage::

    python benchmarks/crb_discover.py            # prints the table, writes results/crb_discover.json

The data are those of ``bench_discover.py`` and the tests (``models/_datasets.py``: Lorenz on
t in [0, 20], samples every 0.002, Gaussian noise of 5% of each state's standard deviation).  The
model is the true one written with its seven coefficients as parameters; the trajectory is cut
into segments of length ``T_s``, each with its own start state as an unknown (as the
multiple-shooting refinement of ``symdyn/discover/shooting.py`` fits it).  The Fisher
information of the coefficients, with the start states eliminated segment by segment, is

    F = sum_k [S_ck^T W S_ck - S_ck^T W S_xk (S_xk^T W S_xk)^-1 S_xk^T W S_ck]

with ``S_ck``, ``S_xk`` the sensitivities of segment k's samples to the coefficients and to its
start state (variational equations, scipy DOP853 at rtol 1e-10) and ``W`` the inverse noise
variances.  The bound is ``sqrt(diag(F^-1))``, here relative to each coefficient: no unbiased
estimator that fits segments of that length can do better on average.  The script depends on
scipy only (not on symdyn's solvers), so it checks the refinement from outside.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.integrate import solve_ivp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from models._datasets import ode_data  # noqa: E402

NOISE = 0.05
SEGMENTS = (0.25, 0.5, 1.0, 2.0)
#: x' = c0 x + c1 y;  y' = c2 x + c3 x z + c4 y;  z' = c5 x y + c6 z
NAMES = ("D(x): x", "D(x): y", "D(y): x", "D(y): x*z", "D(y): y", "D(z): x*y", "D(z): z")
THETA = np.array([-10.0, 10.0, 28.0, -1.0, -1.0, 1.0, -8.0 / 3.0])


def _f(u):
    x, y, z = u
    c = THETA
    return np.array([c[0] * x + c[1] * y, c[2] * x + c[3] * x * z + c[4] * y, c[5] * x * y + c[6] * z])


def _jac(u):
    x, y, z = u
    c = THETA
    return np.array([[c[0], c[1], 0.0], [c[2] + c[3] * z, c[4], c[3] * x], [c[5] * y, c[5] * x, c[6]]])


def _dfdc(u):
    x, y, z = u
    out = np.zeros((3, 7))
    out[0, 0], out[0, 1], out[1, 2], out[1, 3], out[1, 4], out[2, 5], out[2, 6] = x, y, x, x * z, y, x * y, z
    return out


def _variational(_, w):
    u, S = w[:3], w[3:].reshape(3, 10)
    dS = _jac(u) @ S
    dS[:, :7] += _dfdc(u)
    return np.concatenate([_f(u), dS.ravel()])


def bound(t, U, weights, segment):
    """Relative Cramer-Rao standard deviations of the seven coefficients for segments of ``segment``."""
    dt = t[1] - t[0]
    per = int(round(segment / dt))
    F = np.zeros((7, 7))
    for a in range(0, t.size - 1, per):
        b = min(a + per, t.size - 1)
        ts = t[a:b + 1]
        S0 = np.zeros((3, 10))
        S0[:, 7:] = np.eye(3)
        sol = solve_ivp(_variational, (ts[0], ts[-1]), np.concatenate([U[a], S0.ravel()]), t_eval=ts,
                        rtol=1e-10, atol=1e-12, method="DOP853")
        S = sol.y[3:].reshape(3, 10, -1)
        A = sum(weights[s] * S[s] @ S[s].T for s in range(3))
        Acc, Acx, Axx = A[:7, :7], A[:7, 7:], A[7:, 7:]
        F += Acc - Acx @ np.linalg.solve(Axx, Acx.T)
    return np.sqrt(np.diag(np.linalg.inv(F))) / np.abs(THETA)


def main():
    t0 = time.perf_counter()
    _, t, U = ode_data("lorenz")
    sigma = NOISE * U.std(axis=0)
    weights = 1.0 / sigma ** 2
    rows = {f"{s:g}": bound(t, U, weights, s).tolist() for s in SEGMENTS}
    print(f"Lorenz, t in [0, {t[-1]:g}], {t.size} samples, noise {100 * NOISE:g}% of each state's std:")
    print("relative Cramer-Rao standard deviation (%) of each coefficient, by segment length\n")
    print("| segment | " + " | ".join(NAMES) + " |")
    print("|---:|" + "---:|" * len(NAMES))
    for s, vals in rows.items():
        print(f"| {s} | " + " | ".join(f"{100 * v:.3f}" for v in vals) + " |")
    out = HERE / "results" / "crb_discover.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"system": "lorenz", "noise": NOISE, "samples": int(t.size), "names": NAMES,
                               "relative_std": rows, "seconds": time.perf_counter() - t0}, indent=1))
    print(f"\nwrote {out} ({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
