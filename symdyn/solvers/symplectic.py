"""Symplectic fixed-step integrators for separable Hamiltonian systems in first-order form.

The model is ``u = (q, v)`` (index arrays ``q_idx``, ``v_idx`` into the state vector) with

    q' = v,    v' = F(q),

i.e. ``H(q, v) = |v|^2/2 + U(q)`` with ``F = -grad U`` (unit masses; a mass matrix belongs in
the model's variables).  ``F(q)`` is the model's right-hand side read at the ``v`` rows: one
``rhs`` call per force evaluation, the ``q`` rows of the result are not used.

Methods are compositions of drifts ``q += a_i dt v`` and kicks ``v += b_i dt F(q)``
(:class:`CompositionMethod`: the method is the list of ``(a_i, b_i)`` pairs, one stepper runs
them all, :func:`symplectic_kernel`).  Every drift and every kick is the exact flow of a
Hamiltonian (``|v|^2/2`` or ``U(q)``), so every composition is symplectic; a palindromic
sequence makes it symmetric, hence time-reversible.  A kick that follows a kick without an
intervening drift reuses the force (first-same-as-last): velocity Verlet costs one force
evaluation per step, Yoshida's method three.

* ``verlet``: Stormer--Verlet in velocity form (kick 1/2, drift 1, kick 1/2), order 2
  (L. Verlet, *Phys. Rev.* 159 (1967) 98; E. Hairer, C. Lubich and G. Wanner, *Geometric
  Numerical Integration*, 2nd ed., Springer 2006, Sec. I.3.1 and VI.3).
* ``yoshida4``: the triple jump ``Phi_{w1 h} o Phi_{w0 h} o Phi_{w1 h}`` of velocity Verlet
  with ``w1 = 1/(2 - 2^(1/3))``, ``w0 = -2^(1/3)/(2 - 2^(1/3))``, order 4 (H. Yoshida, "Construction
  of higher order symplectic integrators", *Phys. Lett. A* 150 (1990) 262--268, eq. (4.4)--(4.6);
  HLW Sec. II.4, eq. (4.4)).  The weights are computed from their defining conditions
  ``sum w = 1``, ``sum w^3 = 0``, not typed in.

Time grid: the steps are ``t_k = t0 + k dt`` (computed as such, no accumulated round-off); if
``tf - t0`` is not a multiple of ``dt``, the last piece is one shorter step to ``tf``.
Output: without ``saveat`` at ``t0`` and every grid point (and ``tf``); with ``saveat``, each
output time ``s`` in ``(t_k, t_{k+1})`` gets one *side step* of size ``s - t_k`` from the grid
state ``u(t_k)`` into scratch storage, so the output has the method's own accuracy and the main
trajectory stays on the uniform grid (its long-time behaviour, a nearby conserved modified
Hamiltonian, is untouched: a varying step size would destroy it).  An output time equal to a
grid point (within ``1e-12 dt``) is copied.

``dt=None`` in :func:`symplectic_solve`: ``dt = 2 pi / (STEPS_PER_PERIOD * omega)`` with
``omega^2`` the spectral radius of ``dF/dq`` at ``q0`` (power iteration on finite-difference
products, ``POWER_ITERATIONS`` steps), i.e. ``STEPS_PER_PERIOD`` steps per period of the fastest
linearised oscillation at the start; ``(tf - t0)/FREE_STEPS`` when ``dF/dq`` vanishes there.  The
step is then shrunk so that a whole number of steps spans ``[t0, tf]``.  This is a starting
guess, not an error control: orbits that later visit stiffer regions (a close pericentre) need a
smaller ``dt`` given explicitly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba
import numpy as np

from . import _status as st
from ._buffers import copy1, grow1, grow2, new_outputs
from ._native import call_native
from .control import all_finite
from .tableaus import TableauError

__all__ = ["CompositionMethod", "VERLET", "YOSHIDA4", "SYMPLECTIC_METHODS", "symplectic_solve", "symplectic_kernel",
           "choose_dt", "STEPS_PER_PERIOD"]

#: default dt: steps per period of the fastest linear oscillation at q0
STEPS_PER_PERIOD = 100
POWER_ITERATIONS = 20
#: default dt when F has no linear part at q0: this many steps across the span
FREE_STEPS = 1000
#: an output time within this fraction of dt of a grid point is taken from the grid
GRID_SNAP = 1e-12
#: relative tolerance of the identity checks of a composition
IDENTITY_RTOL = 1e-12


@dataclass(frozen=True)
class CompositionMethod:
    """A splitting method as data: stage ``i`` is the drift ``q += drift[i] dt v`` followed by
    the kick ``v += kick[i] dt F(q)``.

    Construction checks consistency (drifts and kicks each sum to one) and, when
    ``symmetric`` is claimed, that the sequence of operations (zero coefficients dropped) is a
    palindrome.  :meth:`from_verlet_composition` builds a composition of velocity Verlet steps
    with weights ``gamma`` and checks Yoshida's order conditions ``sum gamma = 1`` and, for order
    4, ``sum gamma^3 = 0``.
    """

    name: str
    drift: np.ndarray
    kick: np.ndarray
    order: int
    source: str
    symmetric: bool = True
    gamma: tuple = field(default=())

    def __post_init__(self):
        a = np.asarray(self.drift, float)
        b = np.asarray(self.kick, float)
        a.setflags(write=False)
        b.setflags(write=False)
        object.__setattr__(self, "drift", a)
        object.__setattr__(self, "kick", b)
        if a.shape != b.shape or a.ndim != 1 or a.size == 0:
            raise TableauError(self.name, f"drift {a.shape} and kick {b.shape} are equal 1-d shapes", 1.0)
        for label, x in (("sum of drifts = 1", a.sum()), ("sum of kicks = 1", b.sum())):
            if abs(x - 1.0) > IDENTITY_RTOL:
                raise TableauError(self.name, label, x - 1.0)
        if self.symmetric:
            merged = []  # the flows in order, zero coefficients dropped, adjacent equal kinds merged
            for kind, x in (op for pair in zip(a, b) for op in (("D", pair[0]), ("K", pair[1]))):
                if x == 0.0:
                    continue
                if merged and merged[-1][0] == kind:
                    merged[-1] = (kind, merged[-1][1] + x)
                else:
                    merged.append((kind, x))
            res = max((abs(x - y) if k1 == k2 else 1.0) for (k1, x), (k2, y) in zip(merged, merged[::-1]))
            if res > IDENTITY_RTOL:
                raise TableauError(self.name, "palindromic sequence of drifts and kicks (symmetry)", res)
        if self.gamma:
            g = np.asarray(self.gamma, float)
            if abs(g.sum() - 1.0) > IDENTITY_RTOL:
                raise TableauError(self.name, "sum gamma = 1", g.sum() - 1.0)
            if self.order >= 4 and abs((g**3).sum()) > IDENTITY_RTOL:
                raise TableauError(self.name, "sum gamma^3 = 0 (order 4 of a symmetric composition)", (g**3).sum())

    @classmethod
    def from_verlet_composition(cls, name, gamma, order, source):
        """``Phi_{gamma_1 dt} o ... o Phi_{gamma_s dt}`` of velocity Verlet, adjacent kicks merged."""
        g = [float(x) for x in gamma]
        drift = [0.0] + g
        kick = [g[0] / 2] + [(g[i] + g[i + 1]) / 2 for i in range(len(g) - 1)] + [g[-1] / 2]
        return cls(name, np.array(drift), np.array(kick), order, source, True, tuple(g))

    @property
    def force_evaluations(self):
        """Force evaluations per step once the first-same-as-last force is reused."""
        count, valid = 0, True  # the force at the step's start is known
        for a, b in zip(self.drift, self.kick):
            if a != 0.0:
                valid = False
            if b != 0.0 and not valid:
                count += 1
                valid = True
        return count


def _triple_jump():
    """Yoshida's weights: w1 = 1/(2 - 2^(1/3)), w0 = 1 - 2 w1, so that 2 w1^3 + w0^3 = 0."""
    cbrt2 = 2.0 ** (1.0 / 3.0)
    w1 = 1.0 / (2.0 - cbrt2)
    w0 = -cbrt2 / (2.0 - cbrt2)
    return (w1, w0, w1)


VERLET = CompositionMethod.from_verlet_composition(
    "verlet", (1.0,), 2,
    "Stormer-Verlet, velocity form; Hairer, Lubich & Wanner, Geometric Numerical Integration (2006), Sec. I.3.1")
YOSHIDA4 = CompositionMethod.from_verlet_composition(
    "yoshida4", _triple_jump(), 4,
    "H. Yoshida, Phys. Lett. A 150 (1990) 262, eq. (4.4)-(4.6); HLW (2006) Sec. II.4")
SYMPLECTIC_METHODS = {m.name: m for m in (VERLET, YOSHIDA4)}


@numba.njit(cache=True)
def _step(rhs, p, t, h, u, q_idx, v_idx, drift, kick, du, fvalid):
    """One composition step of size ``h`` in place; ``du[v_idx]`` holds F(q) when ``fvalid``.
    Returns (fvalid, number of rhs calls)."""
    nq = q_idx.shape[0]
    nfev = 0
    tq = t
    for i in range(drift.shape[0]):
        a = drift[i]
        if a != 0.0:
            ah = a * h
            for j in range(nq):
                u[q_idx[j]] += ah * u[v_idx[j]]
            tq += ah
            fvalid = False
        b = kick[i]
        if b != 0.0:
            if not fvalid:
                call_native(rhs, tq, u, p, du)
                nfev += 1
                fvalid = True
            bh = b * h
            for j in range(nq):
                u[v_idx[j]] += bh * du[v_idx[j]]
    return fvalid, nfev


@numba.njit(cache=True)
def symplectic_kernel(rhs, p, t0, tf, u0, q_idx, v_idx, drift, kick, dt, saveat, save_steps, max_steps):
    """Integrate on the grid ``t0 + k dt`` (see the module docstring).

    Returns ``(status, t, u, ts, us, stats)``: the status (:mod:`._status`), the time reached
    and the state there, the output, and the counters (``nsteps`` counts grid steps and side
    steps; ``naccept`` grid steps; no rejections).
    """
    n = u0.shape[0]
    u = u0.copy()
    du = np.empty(n)
    us_side = np.empty(n)
    du_side = np.empty(n)
    stats = np.zeros(st.NSTATS, np.int64)
    nsave = saveat.shape[0]
    ts, us, m = new_outputs(t0, u0, saveat, save_steps, False, 0, GRID_SNAP * dt)[:3]
    call_native(rhs, t0, u, p, du)
    stats[st.NFEV] += 1
    if not all_finite(du):
        return st.NON_FINITE, t0, u, ts[:m], us[:m], stats
    fvalid = True
    k = 0
    t = t0
    status = st.SUCCESS
    while t < tf:
        t_next = t0 + (k + 1) * dt
        h = dt
        if t_next > tf - GRID_SNAP * dt:  # the last (possibly shorter) step
            t_next = tf
            h = tf - t
        # output times strictly inside (t, t_next): side steps from the grid state
        if not save_steps:
            while m < nsave and saveat[m] < t_next - GRID_SNAP * dt:
                copy1(us_side, u)
                for i in range(n):
                    du_side[i] = du[i]
                _, nf = _step(rhs, p, t, saveat[m] - t, us_side, q_idx, v_idx, drift, kick, du_side, fvalid)
                stats[st.NFEV] += nf
                stats[st.NSTEPS] += 1
                ts[m] = saveat[m]
                copy1(us[m], us_side)
                m += 1
        if stats[st.NACCEPT] >= max_steps:
            status = st.MAX_STEPS
            break
        fvalid, nf = _step(rhs, p, t, h, u, q_idx, v_idx, drift, kick, du, fvalid)
        stats[st.NFEV] += nf
        stats[st.NSTEPS] += 1
        stats[st.NACCEPT] += 1
        k += 1
        t = t_next
        if not all_finite(u):
            status = st.NON_FINITE
            break
        if save_steps:
            if m == ts.shape[0]:
                ts = grow1(ts, m)
                us = grow2(us, m)
            ts[m] = t
            copy1(us[m], u)
            m += 1
        else:
            while m < nsave and saveat[m] <= t + GRID_SNAP * dt:
                ts[m] = saveat[m]
                copy1(us[m], u)
                m += 1
    return status, t, u, ts[:m], us[:m], stats


@numba.njit(cache=True)
def _rhs_eval(rhs, t, u, p, out):
    call_native(rhs, t, u, p, out)


def choose_dt(rhs_addr, p, t0, tf, u0, q_idx, v_idx):
    """The default step (see the module docstring): ``2 pi / (STEPS_PER_PERIOD * omega)``,
    ``omega^2`` the spectral radius of ``dF/dq`` at ``q0``, at most ``(tf - t0)/10``, then shrunk
    to divide ``tf - t0`` evenly."""
    u0 = np.array(u0, dtype=np.float64)
    n = u0.shape[0]
    f0 = np.empty(n)
    f1 = np.empty(n)
    _rhs_eval(rhs_addr, t0, u0, p, f0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(q_idx.shape[0])
    x /= np.linalg.norm(x)
    q0 = u0[q_idx]
    lam = 0.0
    for _ in range(POWER_ITERATIONS):
        eps = math.sqrt(np.finfo(float).eps) * max(1.0, float(np.linalg.norm(q0)))
        u1 = u0.copy()
        u1[q_idx] = q0 + eps * x
        _rhs_eval(rhs_addr, t0, u1, p, f1)
        y = (f1[v_idx] - f0[v_idx]) / eps
        lam = float(np.linalg.norm(y))
        if not math.isfinite(lam) or lam == 0.0:
            break
        x = y / lam
    span = tf - t0
    if math.isfinite(lam) and lam > 0.0:
        dt = 2.0 * math.pi / (STEPS_PER_PERIOD * math.sqrt(lam))
    else:
        dt = span / FREE_STEPS
    dt = min(dt, span / 10.0)
    return span / math.ceil(span / dt - 1e-9)


def symplectic_solve(rhs_addr, p, t0, tf, u0, q_idx, v_idx, dt, saveat, method="yoshida4", max_steps=10_000_000,
                     check=True):
    """Integrate ``q' = v, v' = F(q)`` with a symplectic composition method at fixed steps.

    Parameters
    ----------
    rhs_addr : int
        Native address of the model's right-hand side (``cm.addresses["rhs"]``); its ``v_idx``
        rows are ``F(q)``.
    p : float64 array
        Parameters (``np.zeros(1)`` for none).
    t0, tf : float
        ``t0 < tf``.
    u0 : float64 array
        Initial state.
    q_idx, v_idx : int arrays
        Positions of the coordinates and of their velocities (equal lengths, disjoint, together
        every state).
    dt : float or None
        The step; None chooses one (:func:`choose_dt`).
    saveat : array or None
        Output times (increasing, in ``[t0, tf]``), by side steps from the grid (module
        docstring); None: ``t0`` and every grid point.
    method : "yoshida4" | "verlet"
    max_steps : int
        Bound on grid steps.
    check : bool
        Verify at ``u0`` and at a perturbed state that the ``q`` rows of ``rhs`` equal ``v`` and
        that the ``v`` rows do not depend on ``v`` (two extra ``rhs`` calls); raises
        :class:`~symdyn.solvers.errors.OptionError` otherwise.

    Returns
    -------
    ``(status, t, u, ts, us, stats)`` like the other kernels (no dense records), where
    ``stats`` are the counters ``_status.STAT_NAMES``.
    """
    from .errors import OptionError, UnknownMethodError

    if method not in SYMPLECTIC_METHODS:
        raise UnknownMethodError(method, list(SYMPLECTIC_METHODS))
    meth = SYMPLECTIC_METHODS[method]
    u0 = np.array(u0, dtype=np.float64, order="C")
    n = u0.shape[0]
    p = np.ascontiguousarray(p, dtype=np.float64)
    if p.size == 0:
        p = np.zeros(1)
    q_idx = np.ascontiguousarray(q_idx, dtype=np.int64)
    v_idx = np.ascontiguousarray(v_idx, dtype=np.int64)
    if q_idx.ndim != 1 or q_idx.shape != v_idx.shape:
        raise OptionError("q_idx/v_idx", (q_idx.shape, v_idx.shape), "must be 1-d index arrays of equal length")
    both = np.concatenate([q_idx, v_idx])
    if np.any(both < 0) or np.any(both >= n) or np.unique(both).size != n:
        raise OptionError("q_idx/v_idx", (q_idx.tolist(), v_idx.tolist()),
                          f"must be disjoint and together cover the {n} states exactly once")
    if check:
        _check_separable(rhs_addr, p, t0, u0, q_idx, v_idx)
    if dt is None:
        dt = choose_dt(rhs_addr, p, t0, tf, u0, q_idx, v_idx)
    dt = float(dt)
    if not (math.isfinite(dt) and dt > 0):
        raise OptionError("dt", dt, "must be a finite number > 0")
    if saveat is None:
        saveat_arr, save_steps = np.empty(0), True
    else:
        saveat_arr, save_steps = np.ascontiguousarray(np.atleast_1d(saveat), dtype=np.float64), False
    return symplectic_kernel(int(rhs_addr), p, float(t0), float(tf), u0, q_idx, v_idx, meth.drift, meth.kick, dt,
                             saveat_arr, save_steps, int(max_steps))


def _check_separable(rhs_addr, p, t0, u0, q_idx, v_idx):
    """q' = v and dv'/dv = 0 at u0 and at a perturbed state (to rounding)."""
    from .errors import OptionError

    n = u0.shape[0]
    rng = np.random.default_rng(12345)
    ua = u0.copy()
    scale = np.maximum(np.abs(u0), 1e-3)
    ub = u0.copy()
    ub[v_idx] += 1e-3 * scale[v_idx] * rng.standard_normal(v_idx.shape[0])
    fa = np.empty(n)
    fb = np.empty(n)
    _rhs_eval(rhs_addr, t0, ua, p, fa)
    _rhs_eval(rhs_addr, t0, ub, p, fb)
    for u, f in ((ua, fa), (ub, fb)):
        bad = np.flatnonzero(np.abs(f[q_idx] - u[v_idx]) > 1e-12 * (1.0 + np.abs(u[v_idx])))
        if bad.size:
            i = int(bad[0])
            raise OptionError("q_idx/v_idx", (int(q_idx[i]), int(v_idx[i])),
                              f"the rhs of state {int(q_idx[i])} is {f[q_idx[i]]!r}, not the velocity state "
                              f"{int(v_idx[i])} = {u[v_idx[i]]!r}; symplectic methods need q' = v")
    bad = np.flatnonzero(np.abs(fa[v_idx] - fb[v_idx]) > 1e-12 * (1.0 + np.abs(fa[v_idx])))
    if bad.size:
        i = int(bad[0])
        raise OptionError("q_idx/v_idx", int(v_idx[i]),
                          f"the rhs of velocity state {int(v_idx[i])} depends on the velocities; symplectic "
                          "composition needs v' = F(q) (a separable Hamiltonian)")
