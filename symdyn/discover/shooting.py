"""Multiple shooting: the chosen terms' coefficients fitted to the trajectories themselves.

The weak form (:mod:`.weak`) selects the terms and gives coefficients from integrals of the data
over short windows.  With noisy data those windows hold little information on a small term next
to large ones (Lorenz's ``-y`` in ``D(y) = 28 x - x z - y``: at 5% noise the weak form's error on
it was 1.1% median and 4.5% worst over 20 seeds).  The trajectories hold more: the Cramer-Rao
bound of that coefficient, for the same data fitted segment by segment, falls from 2.1% at
segments of 0.25 time units to 0.65% at 2 (``benchmarks/crb_discover.py``).

So the model with the chosen terms is fitted to the data as an output-error problem (maximum
likelihood for Gaussian noise): the trajectory is cut into segments, each with its own start
state as unknown, and the coefficients and start states minimise

    sum over samples and states of ((u_data - u_model) / sigma)^2

by Levenberg-Marquardt (Gauss-Newton steps with damping), the sensitivities coming from the
variational equations, compiled with the model as one system.  The start states enter each
segment only, so the normal equations are solved by eliminating them segment by segment (a
Schur complement: cost linear in the number of segments).  This is the multiple shooting of
H. G. Bock (1981) and, for chaotic data, E. Baake, M. Baake, H. G. Bock and K. M. Briggs,
"Fitting ordinary differential equations to chaotic data", Phys. Rev. A 45 (1992) 5524-5529.

**Segments.** Long segments carry more information but, where trajectories diverge (chaos),
a long segment's least-squares surface has many minima.  A segment therefore ends where the
sensitivity of the model's trajectory to its start state has grown :data:`GROWTH_BOUND` times
(RMS of the entries of ``du/du0`` over the states), measured with the start coefficients:
about 2.5 time units on Lorenz (8 segments in 20), 12 on Rossler.  Fixed 4-unit segments on
Lorenz ended in a wrong minimum (23% error) on one seed of 20; at a bound of 10 the worst of 20
seeds was 1.3%.

The refined coefficients are kept only if every solve succeeded and the weighted residual
fell; otherwise the weak-form coefficients stay, and the reason says why.

>>> import numpy as np, sympy as sp
>>> from symdyn.discover.library import custom
>>> t = np.linspace(0.0, 4.0, 401)
>>> u = 2.0 * np.exp(-0.7 * t)[:, None]
>>> lib = custom("x", ["x"])
>>> out = refine([t], [u], [np.array([1e-3])], lib, np.array([[-0.65]]))
>>> round(float(out.coef[0, 0]), 6), out.accepted
(-0.7, True)
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from .. import errors
from . import derivatives as deriv

#: a segment ends where the sensitivity to its start state has grown this many times
GROWTH_BOUND = 10.0
#: at least this many samples per segment (a shorter remainder joins the previous segment)
MIN_SEGMENT = 8
#: a segment is probed over at most this fraction of its trajectory
PROBE_FRACTION = 0.25
#: Levenberg-Marquardt iterations at most, and the relative decrease of the residual that ends them
MAX_ITERATIONS = 20
REL_DECREASE = 1e-9
#: damping: first value, and how often it may be raised within one iteration
DAMPING_START = 1e-3
DAMPING_TRIES = 8
#: the variational system has n + n (P + n) states; beyond this many the refinement is skipped
MAX_STATES = 600
#: tolerances of the segment solves
RTOL, ATOL = 1e-9, 1e-10
#: steps of one segment solve at most (a stiff model fails fast and keeps its weak-form coefficients)
MAX_STEPS = 20_000


@dataclass
class Refinement:
    """What :func:`refine` did: the coefficients (refined, or the given ones if not
    ``accepted``), the weighted residual per degree of freedom before and after, the number of
    segments and iterations, the time, ``reason`` (one sentence), and when accepted the
    covariance of the refitted coefficients (in :func:`variational_model`'s ``pairs`` order) and
    their standard deviations laid out like ``coef`` (NaN for the terms not chosen)."""

    coef: np.ndarray
    accepted: bool
    reason: str
    chi2_start: float = math.nan
    chi2: float = math.nan
    segments: int = 0
    iterations: int = 0
    seconds: float = 0.0
    covariance: np.ndarray | None = field(default=None, repr=False)
    std: np.ndarray | None = field(default=None, repr=False)


def variational_model(lib, active):
    """``(model, pairs)``: a :class:`~symdyn.Model` of ``u' = f(u; c)`` with the library terms
    ``active[j, k]`` (coefficients ``c0, c1, ...`` in ``pairs`` order ``(j, k)``) and the
    sensitivities ``s{k}_{r} = du_k/dq_r`` to the ``P`` coefficients and then the ``n`` start
    values: ``s' = (df/du) s + df/dq``."""
    from ..model import D, Model

    from .library import TIME

    n = len(lib.symbols)
    P = int(active.sum())
    m = Model("variational")
    xs = m.states([f"x{i}" for i in range(n)], init=[0.0] * n)
    xs = (xs,) if n == 1 else tuple(xs)
    cs = m.params([f"c{q}" for q in range(P)], values=[0.0] * P)
    cs = (cs,) if P == 1 else tuple(cs)
    sub = dict(zip(lib.symbols, xs))
    sub[TIME] = m.t
    f = [sp.Integer(0)] * n
    pairs = []
    for k in range(n):
        for j, term in enumerate(lib.terms):
            if active[j, k]:
                f[k] = f[k] + cs[len(pairs)] * term.xreplace(sub)
                pairs.append((j, k))
    Q = P + n
    S = [[m.states(f"s{k}_{r}", init=0.0) for r in range(Q)] for k in range(n)]
    for k in range(n):
        m.eq(D(xs[k]), f[k])
    Jx = [[sp.diff(f[k], xs[l]) for l in range(n)] for k in range(n)]
    for k in range(n):
        for r in range(Q):
            rhs = sp.Add(*[Jx[k][l] * S[l][r] for l in range(n) if Jx[k][l] != 0])
            if r < P:
                rhs = rhs + sp.diff(f[k], cs[r])
            m.eq(D(S[k][r]), rhs)
    return m, pairs


class _Problem:
    """The segments and the compiled variational system of one refinement."""

    def __init__(self, cm, n, P):
        self.cm, self.n, self.P, self.Q = cm, n, P, P + n
        self.S0 = np.zeros((n, self.Q))
        self.S0[:, P:] = np.eye(n)
        self.segments = []  # (t, U, 1/sigma)

    def solve(self, t, x0, theta):
        """The model and its sensitivities from ``x0`` at ``t[0]`` at the times ``t``: (m, n + n Q)."""
        u0 = np.concatenate([x0, self.S0.ravel()])
        sol = self.cm.solve((float(t[0]), float(t[-1])), u0=u0, p=theta, saveat=t, rtol=RTOL, atol=ATOL,
                            method="dop853", max_steps=MAX_STEPS)
        if not sol.success or not np.all(np.isfinite(sol.u)):
            raise _SolveFailed(sol.message if not sol.success else "non-finite values")
        return sol.u

    def cut(self, t, U, w, start, theta):
        """Segments of one trajectory, each ending where the sensitivity has grown GROWTH_BOUND times."""
        n, P = self.n, self.P
        m = t.size
        cap = max(int(PROBE_FRACTION * m), MIN_SEGMENT)
        x0s = []
        a = 0
        while a < m - 1:
            b = min(a + cap, m - 1)
            u = self.solve(t[a:b + 1], start[a], theta)
            Sx = u[:, n:].reshape(-1, n, self.Q)[:, :, P:]
            growth = np.sqrt(np.sum(Sx ** 2, axis=(1, 2)) / n)
            over = np.flatnonzero(growth > GROWTH_BOUND)
            e = a + (int(over[0]) if over.size else b - a)
            e = min(max(e, a + MIN_SEGMENT), m - 1)
            if m - 1 - e < MIN_SEGMENT:
                e = m - 1
            self.segments.append((t[a:e + 1], U[a:e + 1], w))
            x0s.append(np.array(start[a], dtype=float))
            a = e
        return x0s

    def residuals(self, theta, x0s):
        """Per segment ``(r, S)``: weighted residuals (m, n) and sensitivities (m, n, Q); and the sum of r^2."""
        out, cost = [], 0.0
        for (t, U, w), x0 in zip(self.segments, x0s):
            u = self.solve(t, x0, theta)
            r = (U - u[:, :self.n]) * w
            out.append((r, u[:, self.n:].reshape(-1, self.n, self.Q)))
            cost += float(np.sum(r * r))
        return out, cost

    def normal_equations(self, res):
        """Per segment ``(A, g)`` = ``(S^T S, S^T r)`` of the weighted residuals ``res``, and the
        coefficients' block summed over the segments ``(A_cc, g_c)``."""
        P = self.P
        blocks = []
        Acc = np.zeros((P, P))
        gc = np.zeros(P)
        for (r, S), (_, _, w) in zip(res, self.segments):
            Sf = (S * w[None, :, None]).reshape(-1, self.Q)
            A = Sf.T @ Sf
            g = Sf.T @ r.reshape(-1)
            blocks.append((A, g))
            Acc += A[:P, :P]
            gc += g[:P]
        return blocks, Acc, gc

    def step(self, normal, mu):
        """The Gauss-Newton step damped by ``mu`` (Levenberg-Marquardt, diagonal scaling):
        ``(d_theta, [d_x0])``, the start states eliminated segment by segment (Schur complement);
        ``mu = 0``: also the undamped reduced matrix, whose inverse is the covariance."""
        P = self.P
        blocks, Acc, gc = normal
        M = Acc + mu * np.diag(np.maximum(np.diag(Acc), 1e-300))
        rhs = gc.copy()
        parts = []
        for A, g in blocks:
            Axx = A[P:, P:]
            Axt = A[P:, :P]
            K = np.linalg.solve(Axx + mu * np.diag(np.maximum(np.diag(Axx), 1e-300)), np.column_stack([Axt, g[P:]]))
            M -= Axt.T @ K[:, :P]
            rhs -= Axt.T @ K[:, P]
            parts.append(K)
        dth = np.linalg.solve(M, rhs)
        return dth, [K[:, P] - K[:, :P] @ dth for K in parts], M


class _SolveFailed(Exception):
    pass


def refine(ts, Us, sigmas, lib, coef) -> Refinement:
    """Refit the nonzero coefficients ``coef`` (terms x equations) of the library ``lib`` to the
    trajectories ``Us`` (sampled at ``ts``, noise ``sigmas`` per state) by multiple shooting; see
    the module docstring.  Never raises for a failed refinement: :attr:`Refinement.accepted` is
    False and the given coefficients are returned."""
    from ..compiled import compile

    t_start = time.perf_counter()
    coef = np.asarray(coef, dtype=float)
    active = coef != 0
    n, P = coef.shape[1], int(active.sum())

    def keep(reason, **kw):
        return Refinement(coef.copy(), False, reason, seconds=time.perf_counter() - t_start, **kw)

    if P == 0:
        return keep("no terms to refit")
    if n + n * (P + n) > MAX_STATES:
        return keep(f"not refined by multiple shooting: its variational system would have {n + n * (P + n)} "
                    f"states (> {MAX_STATES})")
    if any(not np.all(np.asarray(s, dtype=float) > 0) for s in sigmas):
        return keep("not refined by multiple shooting: a state has no estimated noise to weight it")
    try:
        model, pairs = variational_model(lib, active)
        prob = _Problem(compile(model), n, P)
    except errors.SymdynError as exc:
        return keep(f"not refined by multiple shooting: the variational system did not compile ({exc})")
    theta = np.array([coef[j, k] for j, k in pairs])
    try:
        x0s = []
        for t, U, s in zip(ts, Us, sigmas):
            t = np.asarray(t, dtype=float)
            if deriv.is_uniform(t) and t.size > 4 * deriv.SG_POLYORDER:
                start = deriv.smooth(t, U, window=deriv.choose_window(t, U, s))
            else:
                start = U
            x0s += prob.cut(t, np.asarray(U, dtype=float), 1.0 / np.asarray(s, dtype=float), start, theta)
        res, cost = prob.residuals(theta, x0s)
    except _SolveFailed as exc:
        return keep(f"not refined by multiple shooting: a segment solve with the weak-form coefficients failed ({exc})")
    dof = max(sum(seg[1].size for seg in prob.segments) - P - n * len(prob.segments), 1)
    chi2_start = cost / dof
    mu = DAMPING_START
    it = 0
    try:
        for it in range(1, MAX_ITERATIONS + 1):
            decrease = None
            normal = prob.normal_equations(res)  # one linearisation, several damping factors
            for _ in range(DAMPING_TRIES):
                dth, dxs, _ = prob.step(normal, mu)
                th_new = theta + dth
                x_new = [x + d for x, d in zip(x0s, dxs)]
                try:
                    res_new, cost_new = prob.residuals(th_new, x_new)
                except _SolveFailed:
                    cost_new = math.inf
                if cost_new < cost:
                    decrease = (cost - cost_new) / cost
                    theta, x0s, res, cost = th_new, x_new, res_new, cost_new
                    mu = max(mu / 3.0, 1e-12)
                    break
                mu *= 4.0
            if decrease is None or decrease < REL_DECREASE:
                break
    except np.linalg.LinAlgError as exc:
        return keep(f"not refined by multiple shooting: singular normal equations ({exc})", chi2_start=chi2_start,
                    segments=len(prob.segments))
    chi2 = cost / dof
    if not chi2 < chi2_start:
        return keep("not refined by multiple shooting: no step lowered the weighted residual",
                    chi2_start=chi2_start, chi2=chi2, segments=len(prob.segments), iterations=it)
    out = coef.copy()
    std = np.full(coef.shape, math.nan)
    try:  # the covariance at the solution: the undamped reduced matrix, scaled by the residual
        cov = np.linalg.inv(prob.step(prob.normal_equations(res), 0.0)[2]) * chi2
    except np.linalg.LinAlgError:
        cov = None
    for q, (j, k) in enumerate(pairs):
        out[j, k] = theta[q]
        if cov is not None and cov[q, q] >= 0:
            std[j, k] = math.sqrt(cov[q, q])
    moved = float(np.max(np.abs(out[active] - coef[active]) / np.abs(coef[active])))
    reason = (f"coefficients refined by multiple shooting: {len(prob.segments)} segments (each ends where the "
              f"sensitivity to its start state has grown {GROWTH_BOUND:g}x), {it} Levenberg-Marquardt "
              f"iteration{'s' * (it != 1)}; weighted residual per degree of freedom {chi2_start:.3g} -> {chi2:.3g}; "
              f"coefficients moved by at most {100 * moved:.2g}%")
    return Refinement(out, True, reason, chi2_start, chi2, len(prob.segments), it,
                      time.perf_counter() - t_start, cov, std)
