#!/usr/bin/env python
"""Structure benchmark: the methods ``sd.analyze`` picks (exponential, implicit, explicit) at equal accuracy.

Usage::

    python benchmarks/bench_structure.py [--quick] [--out benchmarks/results/structure.json]
                                         [--plots benchmarks/results] [--parts ks,pf,ac,gs,analysis]
                                         [--no-first-solve] [--blas-threads 1] [--strict]

Everything is measured in one process (the fresh-process first solves in child processes):
steady time = median of repeated solves after a warm-up call, the tools of one tolerance (or one
step size) alternating; the warm-up call's time is kept as ``first_s`` (for ``auto`` it includes
the structure analysis and compiling ``N``), and the time to a first solve in a fresh process is
measured separately.  Errors are against references shown converged by two or more methods; a
reference's own uncertainty ``delta`` (the largest disagreement of the checks) sets a floor
``3 delta`` below which errors are not compared.

1. **Kuramoto-Sivashinsky** (``models/kuramoto_sivashinsky.py``, second-order finite differences,
   N = 128 and 512 points, t = 30 and t = 150): work-precision sweeps (rtol = atol 1e-3 .. 1e-9, to
   1e-11 at t = 150) of symdyn ``auto`` (what the analysis chose), ``etdrk4``, ``rodas5p``, ``radau5``,
   ``dop853``; scipy ``solve_ivp`` BDF and Radau with the RHS as ``cm.rhs`` and the analytic sparse
   Jacobian ``cm.jac_sparse`` (and, at rtol 1e-6 only, with finite differences on
   ``jac_sparsity`` = ``cm.jac_pattern``); a hand-written numpy ETDRK4 (Kassam & Trefethen's
   ``kursiv.m``: ``np.fft.rfft``, contour-integral coefficients) of the *same* finite-difference
   operator, and symdyn's ETDRK4 kernel at the same fixed steps (``etdrk4_solve(adaptive=False)``).
   Error = ``max|u - ref| / max|ref|`` at t_end.  The issue's target ("KS to t = 150 at 1e-6: auto
   >= 10x faster than the best of scipy BDF/Radau with a sparse Jacobian and of symdyn's implicit
   methods, and within 1.5x of a hand-written numpy ETDRK4 at equal accuracy") is evaluated with
   the times at error 1e-6 interpolated (log-log) along each tool's work-precision front.
2. **Diffusion PF-ODE** (``models/diffusion_pf_ode.py``, Gaussian data, exact solution): error at
   tau = 1 against the number of function evaluations (5 .. 160) for ``expms1/2/3`` (uniform grid,
   ``n_steps = NFE``; also a grid uniform in log-SNR through ``expms_solve``), explicit Euler and
   Heun (numpy, ``cm.rhs``) and fixed-step Tsit5 at (about) the same NFE; fitted slopes; the stiff
   variant s = 0.01; ``auto`` and adaptive Tsit5.
3. **Allen-Cahn** (``models/allen_cahn.py``, N = 199, t = 10, exact front) and **Gray-Scott**
   (``models/gray_scott_1d.py``, N = 256, t = 2000): ``auto``, ``etdrk4``, ``exprb43`` against
   ``rodas5p``, ``radau5`` and ``tsit5`` at equal accuracy.
4. ``sd.analyze`` on every model of ``models.NAMES``: recommended method, family, stiffness ratio,
   structure of L, times.

Work-precision plots go to ``--plots`` as PNG.  ``--quick`` takes a few minutes; the full run
about 9 minutes on a shared 2-core machine (measured: 547 s).  BLAS is limited to ``--blas-threads`` threads
(default 1; 0 = leave the environment alone): on a loaded 2-core machine multi-threaded OpenBLAS
makes a 199x199 ``numpy.linalg.eig`` 8x slower, which the dense-L ETDRK4 (Allen-Cahn) pays per solve.
"""
from __future__ import annotations

import os
import sys

import _blas_threads  # first: it limits BLAS threads before numpy is imported

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(ROOT), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from bench_solvers import fmt_time, loadavg, table, time_at_error, timed_rounds  # noqa: E402

DEFAULT_OUT = HERE / "results" / "structure.json"
DEFAULT_OUT_QUICK = HERE / "results" / "structure_quick.json"
DEFAULT_PLOTS = HERE / "results"
MAX_STEPS = 20_000_000

#: the issue's KS target
KS_TARGET_ERR = 1e-6
KS_TARGET_SPEEDUP = 10.0
KS_TARGET_NUMPY = 1.5
#: an error is compared only when it is at least this many times the reference's uncertainty
FLOOR_FACTOR = 3.0

SWEEP = {
    "full": (1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9),
    "quick": (1e-3, 1e-6, 1e-8),
}
#: extra tolerances at t = 150 (the target error 1e-6 needs rtol ~1e-10 .. 1e-11 there)
KS_EXTRA_T150 = {"full": (3e-10, 1e-10, 3e-11, 1e-11), "quick": (1e-10, 1e-11)}
#: fixed steps of the numpy ETDRK4 (and of symdyn's kernel at fixed steps)
KS_H = {
    ("full", 30.0): (1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64),
    ("full", 150.0): (1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256),
    ("quick", 30.0): (1 / 4, 1 / 16, 1 / 64),
    ("quick", 150.0): (1 / 8, 1 / 32, 1 / 128, 1 / 256),
}
#: error levels of the equal-accuracy tables
EQ_ERRORS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)
PF_NFE = {"full": (5, 10, 20, 40, 80, 160), "quick": (5, 10, 20, 40)}


# ----------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------
def rel_max(u, ref) -> float:
    u = np.asarray(u, dtype=float)
    if u.shape != ref.shape or not np.all(np.isfinite(u)):
        return float("inf")
    return float(np.max(np.abs(u - ref)) / np.max(np.abs(ref)))


def fmt_err(e):
    if e is None:
        return "-"
    if not math.isfinite(e):
        return "inf"
    return f"{e:.1e}"


def fmt_s(s):
    return fmt_time(s) if s is not None else "-"


class Timer:
    """Time repeated calls of several tools (median of the repeats) by ``bench_solvers.timed_rounds``:
    the tools in a random order each round, every timed call right after an untimed one of the same
    tool, the garbage collector off while timing.  On this virtual machine the first call after other work
    runs 2-10x slower; with a fixed order, and with ``auto`` given fewer repeats (its first call
    includes the analysis), that penalty had made ``auto`` 1.5x slower than ``dop853`` taking the
    same steps.  The number of repeats comes from a second (warm) call, not from the first."""

    def __init__(self, quick: bool):
        self.quick = quick
        self.budget = 0.08 if quick else 0.3       # seconds of repeats per tool and point
        self.min_reps, self.max_reps = 3, (9 if quick else 21)
        self.one_shot = 0.5 if quick else 1.5      # slower than this: a single timed repeat
        self.slow = 1.5 if quick else 5.0          # slower than this: not run at tighter settings

    def run(self, entries):
        """``entries``: dicts with ``run`` (-> ``(u, info)``), ``err`` (u -> error), ``rec`` (filled)."""
        live = []
        for e in entries:
            rec = e["rec"]
            t0 = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    u, info = e["run"]()
            except Exception as exc:  # noqa: BLE001  (a failing tool must not stop the benchmark)
                u, info = None, {"ok": False, "message": f"{type(exc).__name__}: {exc}"[:300]}
            first = time.perf_counter() - t0
            rec.update(info)
            rec["first_s"] = first
            err = e["err"](u) if u is not None else float("inf")
            rec["error"] = err
            if not info.get("ok") or not math.isfinite(err):
                rec["ok"] = False
                continue
            if first > self.slow:   # very slow: the warm-up call is the only measurement
                rec.update(time_s=first, time_min_s=first, repeats=0)
                continue
            if first > self.one_shot:
                reps = 1
            else:
                t0 = time.perf_counter()
                self._call(e)
                warm = time.perf_counter() - t0
                reps = max(self.min_reps, min(self.max_reps, int(self.budget / 2 / max(warm, 1e-7))))
            live.append((e, reps))
        all_times = timed_rounds([(lambda e=e: self._call(e)) for e, _ in live], [reps for _, reps in live])
        for (e, _), times in zip(live, all_times):
            e["rec"].update(time_s=statistics.median(times), time_min_s=min(times), repeats=len(times))
        return [e["rec"] for e in entries]

    @staticmethod
    def _call(e):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            e["run"]()


def front_time(records, tool, target, floor=0.0, key="time_s"):
    """(time, kind) of ``tool`` at error ``target`` along its work-precision front (see
    bench_solvers.time_at_error).  Errors below ``floor`` (the reference's own uncertainty times
    FLOOR_FACTOR) are not resolved by the reference: they count as ``floor`` (conservative).
    ``key``: ``time_s`` (median of the repeats) or ``time_min_s``."""
    pts = [(r[key], max(r["error"], floor)) for r in records
           if r["tool"] == tool and r.get("ok") and key in r]
    return time_at_error(pts, target)


def fmt_front(t, kind):
    if t is None:
        return "-"
    if kind == "never":
        return f">{fmt_time(t)} (n)"
    if kind == "bound":
        return f"<={fmt_time(t)}"
    return fmt_time(t)


# ----------------------------------------------------------------------------------------------
# symdyn / scipy tools
# ----------------------------------------------------------------------------------------------
def symdyn_run(cm, T, method, rtol, **kw):
    def run():
        sol = cm.solve((0.0, T), method=method, rtol=rtol, atol=rtol, saveat=[T], max_steps=MAX_STEPS, **kw)
        st = sol.stats
        return sol.u[-1], {"ok": bool(sol.success), "nfev": int(st.get("nfev_total", st["nfev"])),
                           "nsteps": int(st["nsteps"]), "nlu": int(st.get("nlu", 0)), "method_used": sol.method,
                           "message": None if sol.success else str(sol.message)[:200]}
    return run


def scipy_run(cm, T, method, rtol, jac_mode, pattern):
    from scipy.integrate import solve_ivp
    if jac_mode == "jac":
        kw = {"jac": lambda t, u: cm.jac_sparse(t, u)}
    else:
        kw = {"jac_sparsity": pattern}
    u0 = np.array(cm.u0, dtype=float)

    def run():
        sol = solve_ivp(cm.rhs, (0.0, T), u0, method=method, rtol=rtol, atol=rtol, t_eval=[T], **kw)
        return sol.y[:, -1], {"ok": bool(sol.success), "nfev": int(sol.nfev), "njev": int(sol.njev),
                              "nlu": int(sol.nlu), "message": None if sol.success else str(sol.message)[:200]}
    return run


def sparsity_matrix(cm):
    import scipy.sparse as sps
    pat = cm.jac_pattern
    return sps.csc_matrix((np.ones(pat.nnz), np.asarray(pat.indices), np.asarray(pat.indptr)), shape=(cm.n, cm.n))


# ----------------------------------------------------------------------------------------------
# 1. Kuramoto-Sivashinsky
# ----------------------------------------------------------------------------------------------
def kt_coefficients(lam, h, M=32):
    """Kassam & Trefethen's ETDRK4 coefficients by the contour integral (kursiv.m): M points on the
    upper half of the unit circle around each h*lam (lam real), real part of the mean."""
    r = np.exp(1j * np.pi * (np.arange(1, M + 1) - 0.5) / M)
    LR = h * lam[:, None] + r[None, :]
    E = np.exp(h * lam)
    E2 = np.exp(h * lam / 2)
    Q = h * np.real(np.mean((np.exp(LR / 2) - 1) / LR, axis=1))
    eLR = np.exp(LR)
    f1 = h * np.real(np.mean((-4 - LR + eLR * (4 - 3 * LR + LR**2)) / LR**3, axis=1))
    f2 = h * np.real(np.mean((2 + LR + eLR * (-2 + LR)) / LR**3, axis=1))
    f3 = h * np.real(np.mean((-4 - 3 * LR - LR**2 + eLR * (4 - LR)) / LR**3, axis=1))
    return E, E2, Q, f1, f2, f3


def numpy_etdrk4(lam, g, u0, T, h):
    """Fixed-step ETDRK4 of ``u' = L u + N(u)`` in Fourier space, ``L`` circulant with (real)
    eigenvalues ``lam`` (rfft ordering) and ``N(u)^ = g * rfft(u^2)``; coefficients included."""
    n = u0.shape[0]
    nsteps = int(round(T / h))
    if abs(nsteps * h - T) > 1e-9 * T:
        raise ValueError(f"T = {T} is not a multiple of h = {h}")
    E, E2, Q, f1, f2, f3 = kt_coefficients(lam, h)
    rfft, irfft = np.fft.rfft, np.fft.irfft
    v = rfft(u0)
    for _ in range(nsteps):
        Nv = g * rfft(irfft(v, n) ** 2)
        a = E2 * v + Q * Nv
        Na = g * rfft(irfft(a, n) ** 2)
        b = E2 * v + Q * Na
        Nb = g * rfft(irfft(b, n) ** 2)
        c = E2 * a + Q * (2 * Nb - Nv)
        Nc = g * rfft(irfft(c, n) ** 2)
        v = E * v + Nv * f1 + 2 * (Na + Nb) * f2 + Nc * f3
    return irfft(v, n), nsteps


class KS:
    """One KS discretisation: the compiled model, the analysis, the numpy operator, references."""

    def __init__(self, N: int):
        import models
        import symdyn as sd
        self.N = N
        self.mod = models.get("kuramoto_sivashinsky")
        t0 = time.perf_counter()
        self.model = self.mod.build(N=N)
        t1 = time.perf_counter()
        self.cm = sd.compile(self.model)
        t2 = time.perf_counter()
        self.analysis = sd.analyze(self.cm, t_span=(0.0, 150.0), rtol=1e-6)
        t3 = time.perf_counter()
        self.cmN = sd.compile(self.analysis.nonlinear_model(), jacobian=False)
        t4 = time.perf_counter()
        self.times = {"build_s": t1 - t0, "compile_s": t2 - t1, "analyze_s": t3 - t2, "compile_N_s": t4 - t3}
        self.u0 = np.array(self.cm.u0, dtype=float)
        # the finite-difference operator, written here from the stencil (not from the analysis)
        a0, a1, a2, b = self.mod.stencil(N)
        c = np.zeros(N)
        c[0], c[1], c[-1], c[2], c[-2] = a0, a1, a1, a2, a2
        self.c = c
        op = self.analysis.linear_operator()
        self.c_analysis_diff = float(np.max(np.abs(np.asarray(op["first_column"], dtype=float) - c)))
        self.lam = np.fft.rfft(c).real                    # eigenvalues of the circulant (rfft half)
        dx = self.mod.LENGTH / N
        theta = 2 * np.pi * np.arange(N // 2 + 1) / N
        # -(u_{j+1}^2 - u_{j-1}^2)/(4 dx): shift by +-1 is e^{+-i theta} in numpy's DFT
        self.g = -1j * np.sin(theta) / (2 * dx)
        f_np = np.fft.irfft(self.lam * np.fft.rfft(self.u0), N) + np.fft.irfft(self.g * np.fft.rfft(self.u0**2), N)
        f_cm = self.cm.rhs(0.0, self.u0)
        #: the FFT evaluation of L u + N(u) against the compiled stencil (round-off of the stencil)
        self.rhs_consistency = float(np.max(np.abs(f_np - f_cm)) / np.max(np.abs(f_cm)))
        self.pattern = sparsity_matrix(self.cm)
        self.refs, self.ref_info = {}, {}

    def compute_references(self, quick: bool):
        """Reference at t = 30 and 150: symdyn rodas5p at rtol = atol = 1e-13 (1e-12 quick);
        checks: radau5 at 1e-14 (1e-13), etdrk4 (FFT-evaluated L) at 1e-13 (1e-12), and, N = 128,
        full run, scipy DOP853 at 1e-13 (independent code)."""
        from scipy.integrate import solve_ivp
        tight = 1e-12 if quick else 1e-13
        cm, Ts = self.cm, [30.0, 150.0]
        t0 = time.perf_counter()
        ref = cm.solve((0.0, 150.0), method="rodas5p", rtol=tight, atol=tight, saveat=Ts, max_steps=MAX_STEPS)
        assert ref.success, ref.message
        secs = {f"symdyn rodas5p rtol {tight:g} (reference)": time.perf_counter() - t0}
        checks = {}
        for name, method, tol in (("symdyn radau5", "radau5", tight / 10), ("symdyn etdrk4", "etdrk4", tight)):
            t0 = time.perf_counter()
            s = cm.solve((0.0, 150.0), method=method, rtol=tol, atol=tol, saveat=Ts, max_steps=MAX_STEPS)
            key = f"{name} rtol {tol:g}"
            secs[key] = time.perf_counter() - t0
            checks[key] = s.u if s.success else None
        if self.N <= 128 and not quick:
            t0 = time.perf_counter()
            s = solve_ivp(cm.rhs, (0.0, 150.0), self.u0, method="DOP853", rtol=1e-13, atol=1e-13, t_eval=Ts)
            key = "scipy DOP853 rtol 1e-13"
            secs[key] = time.perf_counter() - t0
            checks[key] = s.y.T if s.success else None
        for k, T in enumerate(Ts):
            self.refs[T] = ref.u[k]
            agreement = {key: (rel_max(u[k], ref.u[k]) if u is not None else float("inf")) for key, u in checks.items()}
            delta = max(agreement.values())
            self.ref_info[T] = {"reference": f"symdyn rodas5p rtol = atol = {tight:g}", "agreement": agreement,
                                "delta": delta, "floor": FLOOR_FACTOR * delta, "seconds": secs}


def ks_tools(pb: KS):
    """(name, kind, make(setting, T) -> run) of the adaptive tools."""
    cm = pb.cm
    tools = []
    for m in ("auto", "etdrk4", "rodas5p", "radau5", "dop853"):
        tools.append((f"symdyn {m}", "symdyn", (lambda m: lambda rtol, T: symdyn_run(cm, T, m, rtol))(m)))
    for m in ("BDF", "Radau"):
        tools.append((f"scipy {m} (sparse jac)", "scipy",
                      (lambda m: lambda rtol, T: scipy_run(cm, T, m, rtol, "jac", pb.pattern))(m)))
        tools.append((f"scipy {m} (jac_sparsity)", "scipy-fd",
                      (lambda m: lambda rtol, T: scipy_run(cm, T, m, rtol, "sparsity", pb.pattern))(m)))
    return tools


def ks_fixed_tools(pb: KS):
    from symdyn.solvers.exponential import etdrk4_solve
    cmN = pb.cmN
    pN = np.asarray(cmN.p0, dtype=float) if cmN.n_params else np.zeros(1)

    def numpy_make(h, T):
        def run():
            u, nsteps = numpy_etdrk4(pb.lam, pb.g, pb.u0, T, h)
            return u, {"ok": bool(np.all(np.isfinite(u))), "nfev": 4 * nsteps, "nsteps": nsteps}
        return run

    def symdyn_make(h, T):
        def run():
            sol = etdrk4_solve(cmN.addresses["rhs"], pN, 0.0, T, pb.u0, "circulant", pb.c, dt=h, adaptive=False,
                               saveat=[T], max_steps=MAX_STEPS)
            return sol.u[-1], {"ok": bool(sol.success), "nfev": int(sol.stats["nfev"]),
                               "nsteps": int(sol.stats["nsteps"])}
        return run
    return [("numpy ETDRK4 (K-T, fixed h)", "numpy", numpy_make), ("symdyn etdrk4 fixed h", "symdyn-fixed", symdyn_make)]


def ks_sweep(pb: KS, T: float, mode: str, timer: Timer, dead: dict, predicted: dict):
    """``dead``: tools not run any more at this T; ``predicted``: tool -> the loosest rtol at which
    it is predicted too slow (from its time at t = 30)."""
    recs = []
    rtols = list(SWEEP[mode]) + (list(KS_EXTRA_T150[mode]) if T == 150.0 else [])
    ref = pb.refs[T]
    err = lambda u: rel_max(u, ref)  # noqa: E731
    tools = ks_tools(pb)
    for rtol in rtols:
        t_pt = time.perf_counter()
        entries = []
        for name, kind, make in tools:
            base = {"problem": f"ks_N{pb.N}_T{T:g}", "tool": name, "kind": kind, "rtol": rtol}
            if kind == "scipy-fd" and rtol != 1e-6:
                continue   # finite-difference Jacobians: one tolerance only (slow at N = 512)
            if name == "symdyn dop853" and pb.N > 128 and rtol not in (1e-3, 1e-6, 1e-9):
                continue   # stability-limited at N = 512: the time does not depend on rtol
            if name in dead:
                recs.append({**base, "skipped": dead[name]})
                continue
            if name in predicted and rtol <= predicted[name][0]:
                recs.append({**base, "skipped": predicted[name][1]})
                continue
            entries.append({"run": make(rtol, T), "err": err, "rec": dict(base)})
        out = timer.run(entries)
        for r in out:
            if not r.get("ok"):
                dead[r["tool"]] = f"failed at rtol {rtol:g}: {r.get('message')}"
            elif r["first_s"] > timer.slow:
                dead[r["tool"]] = f"slower than {timer.slow:g} s at rtol {rtol:g} ({r['first_s']:.1f} s)"
        recs += out
        print(f"    rtol {rtol:g}: {len(out)} tools, {time.perf_counter() - t_pt:.1f} s", flush=True)
    # t = 150: tools that have not reached the target error yet continue to tighter tolerances
    # (down to 1e-13), when the reference resolves the target at all
    floor = pb.ref_info[T]["floor"]
    if T == 150.0 and KS_TARGET_ERR >= floor:
        def reached(tool):
            return any(r["tool"] == tool and r.get("ok") and max(r["error"], floor) <= KS_TARGET_ERR for r in recs)
        rtol = rtols[-1]
        while rtol > 1.5e-13:
            rtol /= 10
            todo = [(n, k, m) for n, k, m in tools if k in ("symdyn", "scipy") and n not in dead and not reached(n)
                    and n != "symdyn dop853"]
            if not todo:
                break
            t_pt = time.perf_counter()
            entries = [{"run": m(rtol, T), "err": err,
                        "rec": {"problem": f"ks_N{pb.N}_T{T:g}", "tool": n, "kind": k, "rtol": rtol, "extension": True}}
                       for n, k, m in todo]
            out = timer.run(entries)
            for r in out:
                if not r.get("ok"):
                    dead[r["tool"]] = f"failed at rtol {rtol:g}: {r.get('message')}"
                elif r["first_s"] > timer.slow:
                    dead[r["tool"]] = f"slower than {timer.slow:g} s at rtol {rtol:g} ({r['first_s']:.1f} s)"
            recs += out
            print(f"    rtol {rtol:g} (extension until error {KS_TARGET_ERR:g}): {', '.join(n for n, _, _ in todo)}, "
                  f"{time.perf_counter() - t_pt:.1f} s", flush=True)
    # fixed steps: numpy ETDRK4 and symdyn's kernel, alternating per h
    hs = list(KS_H[(mode, T)])
    if T == 150.0 and KS_TARGET_ERR >= floor:
        while hs[-1] > 1 / 1024 + 1e-15:
            hs.append(hs[-1] / 2)   # only run while the target is not reached (below)
    for h in hs:
        if h < KS_H[(mode, T)][-1] and any(r.get("ok") and r["tool"] == NUMPY_TOOL and max(r["error"], floor)
                                           <= KS_TARGET_ERR for r in recs):
            break
        t_pt = time.perf_counter()
        entries = []
        for name, kind, make in ks_fixed_tools(pb):
            base = {"problem": f"ks_N{pb.N}_T{T:g}", "tool": name, "kind": kind, "h": h}
            if name in dead:
                recs.append({**base, "skipped": dead[name]})
                continue
            entries.append({"run": make(h, T), "err": err, "rec": dict(base)})
        out = timer.run(entries)
        for r in out:
            if r.get("ok") and r["first_s"] > 2 * timer.slow:
                dead[r["tool"]] = f"slower than {2 * timer.slow:g} s at h {h:g}"
        recs += out
        print(f"    h {h:g}: {time.perf_counter() - t_pt:.1f} s", flush=True)
    return recs


def ks_tables(recs, pb: KS, T: float):
    info = pb.ref_info[T]
    floor = info["floor"]
    rows = []
    for r in recs:
        setting = f"rtol {r['rtol']:g}" if "rtol" in r else f"h {r['h']:g}"
        if "skipped" in r:
            continue
        if not r.get("ok"):
            rows.append([r["tool"], setting, "FAILED", "-", "-", "-", "-", str(r.get("message"))[:40]])
            continue
        mark = "" if r["error"] >= floor else " *"
        name = r["tool"] + (f" [{r['method_used']}]" if r["tool"] == "symdyn auto" else "")
        rows.append([name, setting, fmt_time(r["time_s"]), fmt_time(r["first_s"]), fmt_err(r["error"]) + mark,
                     r.get("nfev", "-"), r.get("nsteps", "-"), r["repeats"]])
    wp = table(["tool", "setting", "steady", "first", "error", "nfev", "steps", "reps"], rows)
    tools = []
    for r in recs:
        if r["tool"] not in tools:
            tools.append(r["tool"])
    levels = [e for e in EQ_ERRORS if e >= floor]
    eq_rows = []
    for tool in tools:
        cells = [fmt_front(*front_time(recs, tool, e, floor)) for e in levels]
        eq_rows.append([tool] + cells)
    eq = table(["tool \\ time at error"] + [f"{e:g}" for e in levels], eq_rows)
    return wp, eq


#: the peers of the target: scipy with the analytic sparse Jacobian and symdyn's implicit methods
#: (the finite-difference jac_sparsity variants are slower per step and measured at rtol 1e-6 only)
TARGET_PEERS = ("scipy BDF (sparse jac)", "scipy Radau (sparse jac)", "symdyn rodas5p", "symdyn radau5")
NUMPY_TOOL = "numpy ETDRK4 (K-T, fixed h)"


def _qual(num_kind, den_kind):
    """Qualifier of a ratio of two front times: '=' both interpolated, '>=' a lower bound (numerator
    never reached the error: its tightest time is a lower bound; or the denominator's time is an
    upper bound), '<=' an upper bound, '?' neither."""
    lo = (num_kind == "never") or (den_kind == "bound")
    hi = (num_kind == "bound") or (den_kind == "never")
    return "?" if (lo and hi) else (">=" if lo else ("<=" if hi else "="))


def nice_level(x):
    """The smallest of 1, 2, 5 x 10^k that is >= x."""
    k = math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        if m * 10**k >= x * (1 - 1e-12):
            return m * 10**k
    return 10 ** (k + 1)


def target_eval(recs, floor, target, key="time_s"):
    """Every tool of the target at error ``target`` and the verdicts of auto and etdrk4."""
    res = {"target_error": target, "time_key": key}

    def at(tool):
        t, kind = front_time(recs, tool, target, floor, key)
        return {"time_s": t, "kind": kind}
    res["auto"] = at("symdyn auto")
    res["auto_methods"] = sorted({str(r.get("method_used")) for r in recs if r["tool"] == "symdyn auto" and r.get("ok")})
    res["etdrk4"] = at("symdyn etdrk4")
    res["implicit"] = {tool: at(tool) for tool in TARGET_PEERS}
    res["numpy"] = at(NUMPY_TOOL)
    reach = [(v["time_s"], k) for k, v in res["implicit"].items() if v["time_s"] is not None and v["kind"] != "never"]
    res["best_implicit"] = min(reach)[1] if reach else None
    res["best_implicit_time_s"] = min(reach)[0] if reach else None

    def verdict(sym):
        s = res[sym]
        if s["time_s"] is None or s["kind"] == "never":
            return {"status": "FAIL", "detail": f"{sym} did not reach {target:g} in the sweep"}
        ratios = {}
        for peer, v in res["implicit"].items():
            if v["time_s"] is not None:
                ratios[peer] = (v["time_s"] / s["time_s"], _qual(v["kind"], s["kind"]))
        fails = [p for p, (r, q) in ratios.items() if r < KS_TARGET_SPEEDUP and q in ("=", "<=")]
        passes = [p for p, (r, q) in ratios.items() if r >= KS_TARGET_SPEEDUP and q in ("=", ">=")]
        sp_status = "FAIL" if fails else ("PASS" if len(passes) == len(ratios) and ratios else "UNDETERMINED")
        n = res["numpy"]
        if n["time_s"] is None:
            vs_np, np_q, np_status = None, "?", "UNDETERMINED"
        else:
            vs_np, np_q = s["time_s"] / n["time_s"], _qual(s["kind"], n["kind"])
            np_status = ("PASS" if vs_np <= KS_TARGET_NUMPY and np_q in ("=", "<=") else
                         "FAIL" if vs_np > KS_TARGET_NUMPY and np_q in ("=", ">=") else "UNDETERMINED")
        sts = (sp_status, np_status)
        status = "FAIL" if "FAIL" in sts else ("PASS" if sts == ("PASS", "PASS") else "UNDETERMINED")
        best = res["best_implicit"]
        return {"status": status, "speedup_status": sp_status, "numpy_status": np_status,
                "ratios": {p: {"ratio": r, "qual": q} for p, (r, q) in ratios.items()},
                "speedup_vs_best": (ratios[best][0] if best else None), "vs_numpy": vs_np, "vs_numpy_qual": np_q}
    res["verdict_auto"] = verdict("auto")
    res["verdict_etdrk4"] = verdict("etdrk4")
    return res


def ks_target(recs, pb: KS, T: float, target=KS_TARGET_ERR):
    """The issue's target at error ``target`` (t = 150; also evaluated at t = 30 for information).
    When the reference cannot resolve ``target``, the verdict is NOT VERIFIABLE and the same
    comparison is made at the smallest error it resolves (1, 2 or 5 x 10^k above the floor)."""
    info = pb.ref_info[T]
    floor = info["floor"]
    verifiable = target >= floor
    res = {"N": pb.N, "T": T, "reference_delta": info["delta"], "floor": floor, "verifiable": verifiable}
    res.update(target_eval(recs, floor, target))
    # robustness on a noisy machine: the same with the fastest repeat instead of the median
    rob = target_eval(recs, floor, target, key="time_min_s")
    res["with_min_times"] = {sym: {"status": rob[f"verdict_{sym}"]["status"],
                                   "ratios": rob[f"verdict_{sym}"].get("ratios"),
                                   "vs_numpy": rob[f"verdict_{sym}"].get("vs_numpy")} for sym in ("auto", "etdrk4")}
    if not verifiable:
        for key in ("verdict_auto", "verdict_etdrk4"):
            res[key]["measured_status"] = res[key]["status"]
            res[key]["status"] = "NOT VERIFIABLE"
        res["at_resolvable_error"] = target_eval(recs, floor, nice_level(floor))
    return res


def _fmt_eval(ev, indent="    ") -> list:
    tgt = ev["target_error"]
    lines = []
    impl = ", ".join(f"{k} {fmt_front(v['time_s'], v['kind'])}" for k, v in ev["implicit"].items())
    lines.append(f"{indent}implicit at {tgt:g}: {impl}; best reaching it: {ev['best_implicit']}")
    lines.append(f"{indent}numpy ETDRK4 at {tgt:g}: {fmt_front(ev['numpy']['time_s'], ev['numpy']['kind'])}")
    for sym in ("auto", "etdrk4"):
        v = ev[f"verdict_{sym}"]
        s = ev[sym]
        extra = f" (auto used: {', '.join(ev['auto_methods'])})" if sym == "auto" else ""
        if "speedup_status" not in v:
            lines.append(f"{indent}{v['status']}: symdyn {sym}: {v['detail']}{extra}")
            continue
        q = lambda x: "" if x == "=" else x  # noqa: E731
        rat = ", ".join(f"{p} {q(d['qual'])}{d['ratio']:.2f}x" for p, d in v["ratios"].items())
        np_txt = f"{q(v['vs_numpy_qual'])}{v['vs_numpy']:.3g}x" if v["vs_numpy"] is not None else "-"
        st = v["status"] + (f" (measured: {v['measured_status']})" if "measured_status" in v else "")
        lines.append(f"{indent}{st}: symdyn {sym} {fmt_front(s['time_s'], s['kind'])}{extra}: peer time / {sym} time = "
                     f"{rat} (need >= {KS_TARGET_SPEEDUP:g}x for all: {v['speedup_status']}); {sym} / numpy ETDRK4 = "
                     f"{np_txt} (need <= {KS_TARGET_NUMPY:g}x: {v['numpy_status']})")
    return lines


def fmt_target(res) -> str:
    tgt = res["target_error"]
    lines = [f"KS N={res['N']} t={res['T']:g} at error {tgt:g} (reference uncertainty {res['reference_delta']:.1e}; "
             f"errors below {res['floor']:.1e} count as that: {tgt:g} is "
             f"{'verifiable' if res['verifiable'] else 'NOT verifiable'})"]
    lines += _fmt_eval(res)
    if res["verifiable"]:
        for sym in ("auto", "etdrk4"):
            w = res["with_min_times"][sym]
            if w.get("ratios"):
                rat = ", ".join(f"{p} {'' if d['qual'] == '=' else d['qual']}{d['ratio']:.2f}x" for p, d in w["ratios"].items())
                lines.append(f"    (with the fastest repeat instead of the median: {sym} {w['status']}: {rat}; "
                             f"vs numpy {w['vs_numpy']:.3g}x)")
    if "at_resolvable_error" in res:
        lines.append(f"    instead, at the smallest resolvable error {res['at_resolvable_error']['target_error']:g}:")
        lines += _fmt_eval(res["at_resolvable_error"], indent="      ")
    return "\n".join(lines)


def plot_ks(recs, pb: KS, outdir: Path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    markers = "osD^v<>pP*Xh"
    tools = []   # one colour and marker per tool in both panels
    for r in recs:
        if r["tool"] not in tools:
            tools.append(r["tool"])
    colors = plt.cm.tab20(np.linspace(0, 1, 20))
    for ax, T in zip(axes, (30.0, 150.0)):
        rr = [r for r in recs if r["problem"] == f"ks_N{pb.N}_T{T:g}"]
        for k, tool in enumerate(tools):
            # in the order of the setting (rtol or h decreasing): the path a user takes
            pts = [(-r.get("rtol", r.get("h", 0.0)), r["error"], r["time_s"]) for r in rr
                   if r["tool"] == tool and r.get("ok") and "time_s" in r]
            if not pts:
                continue
            pts.sort()
            sym = tool.startswith("symdyn")
            ax.loglog([p[1] for p in pts], [p[2] * 1e3 for p in pts], marker=markers[k % len(markers)],
                      color=colors[(2 * k) % 20 if k < 10 else (2 * k + 1) % 20],
                      linestyle="-" if sym else "--", linewidth=2.0 if sym else 1.2, markersize=5, label=tool)
        floor = pb.ref_info[T]["floor"]
        ax.axvspan(1e-16, floor, color="grey", alpha=0.15)
        ax.axvline(KS_TARGET_ERR, color="k", linestyle=":", linewidth=1)
        ax.set_xlim(left=max(floor / 30, 1e-13))
        ax.set_xlabel("relative max error at t_end")
        ax.set_ylabel("steady solve time [ms]")
        ax.set_title(f"KS N={pb.N}, t in [0, {T:g}] (grey: below 3x reference uncertainty;\n"
                     f"dotted: the target error {KS_TARGET_ERR:g}; points joined in order of rtol / h)", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path = outdir / f"structure_wp_ks_N{pb.N}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


def bench_ks(mode, timer, plots, Ns):
    print("\n== 1. Kuramoto-Sivashinsky (finite differences, periodic, [0, 32 pi))", flush=True)
    out = {"problems": {}, "records": [], "targets": []}
    for N in Ns:
        t_n = time.perf_counter()
        pb = KS(N)
        a = pb.analysis
        print(f"\n-- N = {N}: build {pb.times['build_s']:.2f} s, compile {pb.times['compile_s']:.2f} s, analyze "
              f"{pb.times['analyze_s']:.2f} s, compile N {pb.times['compile_N_s']:.2f} s; analysis (t_span 150, "
              f"rtol 1e-6): {a.recommended}, L {a.L_structure}, stiffness ratio {a.stiffness_ratio:.3g}", flush=True)
        print(f"   numpy operator = analysis' first column: max diff {pb.c_analysis_diff:.1e}; FFT-evaluated "
              f"L u + N(u) vs compiled stencil rhs at u0: {pb.rhs_consistency:.1e} (relative)", flush=True)
        t0 = time.perf_counter()
        pb.compute_references(mode == "quick")
        print(f"   references ({time.perf_counter() - t0:.1f} s):", flush=True)
        for T in (30.0, 150.0):
            inf = pb.ref_info[T]
            print(f"     t={T:g}: {inf['reference']}; agreement: "
                  + ", ".join(f"{k} {v:.1e}" for k, v in inf["agreement"].items())
                  + f" -> uncertainty {inf['delta']:.1e}, errors compared above {inf['floor']:.1e}", flush=True)
        pmeta = {"N": N, "times": pb.times, "analysis": {"recommended": a.recommended, "L_structure": a.L_structure,
                                                         "stiffness_ratio": float(a.stiffness_ratio),
                                                         "reasons": list(a.reasons)},
                 "numpy_operator_vs_analysis": pb.c_analysis_diff, "rhs_fft_vs_stencil": pb.rhs_consistency,
                 "references": {f"{T:g}": pb.ref_info[T] for T in (30.0, 150.0)}, "load_before": loadavg()}
        predicted, skipped = {}, {}
        recs_n = []
        for T in (30.0, 150.0):
            print(f"   t = {T:g}:", flush=True)
            dead = {}
            recs = ks_sweep(pb, T, mode, timer, dead, predicted)
            recs_n += recs
            skipped[f"{T:g}"] = {**dead, **{k: v[1] for k, v in predicted.items()}}
            if T == 30.0:
                # t = 150 costs about 5x t = 30: a tool predicted slower than 2x the slow limit there is
                # not run at that tolerance and tighter ones
                for r in recs:
                    if r.get("ok") and "rtol" in r and r["first_s"] * 5 > 2 * timer.slow:
                        prev = predicted.get(r["tool"])
                        if prev is None or r["rtol"] > prev[0]:
                            predicted[r["tool"]] = (r["rtol"], f"predicted > {2 * timer.slow:g} s at t = 150 from "
                                                               f"{r['first_s']:.2f} s at t = 30, rtol {r['rtol']:g}")
                    elif "rtol" in r and not r.get("ok") and "skipped" not in r:
                        predicted.setdefault(r["tool"], (r["rtol"], f"failed at t = 30, rtol {r['rtol']:g}"))
            wp, eq = ks_tables(recs, pb, T)
            print(f"\nKS N={N}, t in [0, {T:g}]: work-precision (rtol = atol; * = error below the reference floor "
                  f"{pb.ref_info[T]['floor']:.1e}, not compared)")
            print(wp)
            print(f"\nKS N={N}, t={T:g}: steady time at equal error (interpolated along each front; <= bound: "
                  f"cheapest point already better; (n): never reached, tightest time)")
            print(eq)
            for tgt_T in (T,):
                res = ks_target(recs, pb, tgt_T)
                res["is_issue_target"] = T == 150.0
                out["targets"].append(res)
                print("\n" + ("TARGET " if T == 150.0 else "(information, t = 30) ") + fmt_target(res), flush=True)
        out["records"] += recs_n
        pmeta["load_after"] = loadavg()
        pmeta["wall_s"] = time.perf_counter() - t_n
        pmeta["skipped"] = skipped
        if plots:
            pmeta["plot"] = plot_ks(recs_n, pb, plots)
            print(f"   plot: {pmeta['plot']}")
        out["problems"][f"N{N}"] = pmeta
    return out


# ----------------------------------------------------------------------------------------------
# 2. Diffusion PF-ODE
# ----------------------------------------------------------------------------------------------
def euler_heun(cm, u0, n_steps, heun: bool):
    f = cm.rhs
    u = np.array(u0, dtype=float)
    h = 1.0 / n_steps
    for i in range(n_steps):
        t = i * h
        k1 = f(t, u)
        if heun:
            k2 = f(t + h, u + h * k1)
            u = u + 0.5 * h * (k1 + k2)
        else:
            u = u + h * k1
    return u


def logsnr_grid(mod, s, nfe):
    """tau grid (model time, 0..1) uniform in log-SNR lambda(t) = log(alpha/sigma) of diffusion time t = 1 - tau."""
    t = np.linspace(0.0, 1.0, 20001)
    lam = np.log(mod.alpha(t) / mod.sigma(t, s=s))      # decreasing in t
    targets = np.linspace(lam[-1], lam[0], nfe + 1)      # from t = 1 (tau = 0) to t = 0 (tau = 1)
    tt = np.interp(targets, lam[::-1], t[::-1])
    tau = 1.0 - tt
    tau[0], tau[-1] = 0.0, 1.0
    return tau


def fit_slope(nfe, err, lo, hi):
    pts = [(n, e) for n, e in zip(nfe, err) if lo <= n <= hi and e is not None and math.isfinite(e) and e > 0]
    if len(pts) < 2:
        return None
    x = np.log([p[0] for p in pts])
    y = np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


def bench_pf(mode, timer, plots):
    import sympy as sp

    import models
    import symdyn as sd
    from symdyn.solvers.exponential import expms_solve
    print("\n== 2. Diffusion PF-ODE (VP SDE, linear schedule, Gaussian data N(2, s^2), d = 2, tau in [0, 1])", flush=True)
    mod = models.get("diffusion_pf_ode")
    nfes = PF_NFE[mode]
    out = {"variants": {}, "records": []}
    for s in (0.5, 0.01):
        t0 = time.perf_counter()
        cm = sd.compile(mod.build(s=s))
        a = sd.analyze(cm, t_span=(0.0, 1.0), rtol=1e-6)
        op = a.linear_operator()
        cmN = sd.compile(a.nonlinear_model(), jacobian=False)
        pN = np.asarray(cmN.p0, dtype=float) if cmN.n_params else np.zeros(1)
        a_fn = sp.lambdify(op["t"], op["scalar"], "numpy")
        a_vec = lambda ts: np.broadcast_to(np.asarray(a_fn(ts), dtype=float), np.shape(ts)).copy()  # noqa: E731
        A_exact = lambda tau: (np.log(mod.sigma(1.0 - np.asarray(tau, dtype=float), s=s))  # noqa: E731
                               - np.log(mod.sigma(1.0, s=s)))
        exact = np.asarray(mod.exact(1.0, s=s), dtype=float)
        setup = time.perf_counter() - t0
        err = lambda u: float(np.max(np.abs(np.asarray(u) - exact)))  # noqa: E731
        var = f"s={s:g}"
        print(f"\n-- {var}: analysis: {a.recommended}, L {a.L_structure} = a(t) I, antiderivative "
              f"{'found' if op['scalar_integral'] is not None else 'not found (nested quadrature)'}, stiffness ratio "
              f"{a.stiffness_ratio:.3g}; exact x(tau=1) = {exact.round(6).tolist()} (setup {setup:.2f} s)", flush=True)
        recs = []
        for nfe in nfes:
            entries = []
            base = {"problem": f"pf_{var}", "nfe_budget": nfe}
            for order in (1, 2, 3):
                m = f"expms{order}"
                entries.append({"run": (lambda m, nfe: lambda: _pf_solve(cm, m, nfe))(m, nfe), "err": err,
                                "rec": {**base, "tool": f"symdyn {m} (uniform t, cm.solve)"}})
                entries.append({"run": (lambda order, grid: lambda: _pf_logsnr(expms_solve, cmN, pN, cm, a_vec, A_exact,
                                                                                grid, order))(order, logsnr_grid(mod, s, nfe)),
                                "err": err, "rec": {**base, "tool": f"expms{order} (log-SNR grid, expms_solve)"}})
            entries.append({"run": (lambda nfe: lambda: (euler_heun(cm, cm.u0, nfe, False), {"ok": True, "nfev": nfe}))(nfe),
                            "err": err, "rec": {**base, "tool": "Euler (numpy, cm.rhs)"}})
            if nfe >= 2:
                k = nfe // 2
                entries.append({"run": (lambda k: lambda: (euler_heun(cm, cm.u0, k, True), {"ok": True, "nfev": 2 * k}))(k),
                                "err": err, "rec": {**base, "tool": "Heun (numpy, cm.rhs)"}})
            k = (nfe - 1) // 6
            if k >= 1:
                entries.append({"run": (lambda k: lambda: _pf_tsit5_fixed(cm, k))(k), "err": err,
                                "rec": {**base, "tool": "symdyn tsit5 fixed dt"}})
            recs += timer.run(entries)
        # adaptive: auto and tsit5
        entries = []
        auto_tols = (1e-3, 1e-6)
        for tol in auto_tols:
            for m in ("auto", "tsit5", "dop853"):
                entries.append({"run": (lambda m, tol: lambda: _pf_adaptive(cm, m, tol))(m, tol), "err": err,
                                "rec": {"problem": f"pf_{var}", "tool": f"symdyn {m} (adaptive)", "rtol": tol}})
        if s < 0.1 and mode == "quick":
            entries = [e for e in entries if not (e["rec"]["tool"].startswith("symdyn auto") and e["rec"]["rtol"] < 1e-4)]
        recs += timer.run(entries)
        out["records"] += recs
        # tables
        tools = []
        for r in recs:
            if "nfe_budget" in r and r["tool"] not in tools:
                tools.append(r["tool"])
        rows, slopes = [], {}
        for tool in tools:
            rr = {r["nfe_budget"]: r for r in recs if r["tool"] == tool and "nfe_budget" in r}
            cells = []
            for nfe in nfes:
                r = rr.get(nfe)
                if r is None:
                    cells.append("-")
                elif not r.get("ok"):
                    cells.append("FAIL")
                else:
                    nf = r.get("nfev")
                    cells.append(fmt_err(r["error"]) + (f" ({nf})" if nf is not None and nf != nfe else ""))
            xs = [rr[n].get("nfev", n) for n in nfes if n in rr and rr[n].get("ok")]
            es = [rr[n]["error"] for n in nfes if n in rr and rr[n].get("ok")]
            s1 = fit_slope(xs, es, 10, 40)
            s2 = fit_slope(xs, es, 40, 170)
            slopes[tool] = {"10-40": s1, "40-160": s2}
            t_med = [rr[n]["time_s"] for n in nfes if n in rr and rr[n].get("ok") and "time_s" in rr[n]]
            rows.append([tool] + cells + [f"{s1:.2f}" if s1 is not None else "-",
                                          f"{s2:.2f}" if s2 is not None else "-",
                                          fmt_time(statistics.median(t_med)) if t_med else "-"])
        print(f"\nPF-ODE {var}: max abs error at tau = 1 by NFE (actual NFE in parentheses when it differs); "
              f"slope of log error vs log NFE")
        print(table(["method \\ NFE"] + [str(n) for n in nfes] + ["slope 10-40", "slope 40-160", "median time"], rows))
        rows = []
        for r in recs:
            if "rtol" in r:
                if not r.get("ok"):
                    rows.append([r["tool"], f"{r['rtol']:g}", "FAILED", "-", "-", "-"])
                    continue
                rows.append([r["tool"] + (f" [{r.get('method_used')}]" if "auto" in r["tool"] else ""), f"{r['rtol']:g}",
                             fmt_err(r["error"]), r.get("nfev", "-"), fmt_time(r["time_s"]), fmt_time(r["first_s"])])
        print(f"\nPF-ODE {var}: adaptive (auto's nfev counts every doubling: nfev_total)")
        print(table(["tool", "rtol = atol", "error", "nfev", "steady", "first"], rows))
        # the expectation: the error falls with the method's order (uniform grid, asymptotic range)
        rng = "40-160" if mode == "full" else "10-40"
        checks = {}
        for order in (1, 2, 3):
            sl = slopes.get(f"symdyn expms{order} (uniform t, cm.solve)", {}).get(rng)
            ok = sl is not None and sl <= -(order - 0.3)
            checks[f"expms{order}"] = {"slope": sl, "range": rng, "expected": -order, "status": "PASS" if ok else "FAIL"}
        print(f"   order check (uniform grid, NFE {rng}; PASS if slope <= -(order - 0.3)): "
              + ", ".join(f"{k} {v['slope']:.2f} (expected {v['expected']}): {v['status']}" if v["slope"] is not None
                          else f"{k} -: FAIL" for k, v in checks.items()))
        out["variants"][var] = {"order_checks": checks}
        out["variants"][var].update({"s": s, "exact": exact.tolist(), "recommended": a.recommended,
                                "L_structure": a.L_structure, "stiffness_ratio": float(a.stiffness_ratio),
                                "antiderivative_found": op["scalar_integral"] is not None, "slopes": slopes,
                                "reasons": list(a.reasons)})
    if plots:
        out["plot"] = plot_pf(out, plots, nfes)
        print(f"   plot: {out['plot']}")
    return out


def _pf_solve(cm, method, nfe):
    sol = cm.solve((0.0, 1.0), method=method, n_steps=nfe, saveat=[1.0])
    return sol.u[-1], {"ok": bool(sol.success), "nfev": int(sol.stats["nfev"])}


def _pf_logsnr(expms_solve, cmN, pN, cm, a_vec, A_exact, grid, order):
    sol = expms_solve(cmN.addresses["rhs"], pN, 0.0, 1.0, cm.u0, a=a_vec, A=A_exact, t_grid=grid, order=order)
    return sol.u[-1], {"ok": bool(sol.success), "nfev": int(sol.stats["nfev"])}


def _pf_tsit5_fixed(cm, k):
    sol = cm.solve((0.0, 1.0), method="tsit5", adaptive=False, dt=1.0 / k, saveat=[1.0])
    return sol.u[-1], {"ok": bool(sol.success), "nfev": int(sol.stats["nfev"])}


def _pf_adaptive(cm, method, tol):
    sol = cm.solve((0.0, 1.0), method=method, rtol=tol, atol=tol, saveat=[1.0], max_steps=MAX_STEPS)
    st = sol.stats
    return sol.u[-1], {"ok": bool(sol.success), "nfev": int(st.get("nfev_total", st["nfev"])),
                       "method_used": sol.method}


def plot_pf(out, outdir, nfes):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    markers = "osD^v<>pP*Xh"
    for ax, (var, meta) in zip(axes, out["variants"].items()):
        rr = [r for r in out["records"] if r["problem"] == f"pf_{var}" and "nfe_budget" in r and r.get("ok")]
        tools = []
        for r in rr:
            if r["tool"] not in tools:
                tools.append(r["tool"])
        for k, tool in enumerate(tools):
            pts = sorted((r.get("nfev") or r["nfe_budget"], r["error"]) for r in rr if r["tool"] == tool)
            ax.loglog([p[0] for p in pts], [max(p[1], 1e-16) for p in pts], marker=markers[k % len(markers)],
                      linestyle="-" if "expms" in tool else "--", label=tool)
        for r in out["records"]:
            if r["problem"] == f"pf_{var}" and "rtol" in r and r.get("ok") and r["tool"].startswith("symdyn auto"):
                ax.plot([r["nfev"]], [r["error"]], "k*", markersize=10)
        ax.set_xlabel("function evaluations (N or rhs)")
        ax.set_ylabel("max abs error at tau = 1")
        ax.set_title(f"PF-ODE {var} (black stars: auto, nfev incl. doublings)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path = outdir / "structure_pf_ode.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


# ----------------------------------------------------------------------------------------------
# 3. Allen-Cahn and Gray-Scott
# ----------------------------------------------------------------------------------------------
RD_TOOLS = ("auto", "etdrk4", "exprb43", "rodas5p", "radau5", "tsit5")


def bench_rd(name, mode, timer, plots):
    import models
    import symdyn as sd
    mod = models.get(name)
    T = float(mod.T_SPAN[1])
    t0 = time.perf_counter()
    model = mod.build()
    cm = sd.compile(model)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    a = sd.analyze(cm, t_span=(0.0, T), rtol=1e-6)
    analyze_s = time.perf_counter() - t0
    print(f"\n-- {name}: n = {cm.n}, t in [0, {T:g}], build+compile {compile_s:.2f} s, analyze {analyze_s:.2f} s: "
          f"{a.recommended}, L {a.L_structure}, stiffness ratio {a.stiffness_ratio:.3g}", flush=True)
    # references: rodas5p, radau5 and etdrk4 at tight tolerances
    tight = 1e-11 if mode == "quick" else 1e-12
    t0 = time.perf_counter()
    ref_sol = cm.solve((0.0, T), method="rodas5p", rtol=tight, atol=tight, saveat=[T], max_steps=MAX_STEPS)
    assert ref_sol.success, ref_sol.message
    ref = ref_sol.u[-1]
    agreement = {}
    for m, tol in (("radau5", tight / 10), ("etdrk4", tight)):
        s = cm.solve((0.0, T), method=m, rtol=tol, atol=tol, saveat=[T], max_steps=MAX_STEPS)
        agreement[f"symdyn {m} rtol {tol:g}"] = rel_max(s.u[-1], ref) if s.success else float("inf")
    delta = max(agreement.values())
    floor = FLOOR_FACTOR * delta
    info = {"reference": f"symdyn rodas5p rtol = atol = {tight:g}", "agreement": agreement, "delta": delta,
            "floor": floor, "seconds": time.perf_counter() - t0}
    print(f"   reference: {info['reference']}; agreement: " + ", ".join(f"{k} {v:.1e}" for k, v in agreement.items())
          + f" -> errors compared above {floor:.1e}", flush=True)
    op = a.linear_operator()
    if op["kind"] not in ("diagonal", "circulant", "block_circulant", "scalar(t)"):
        # etdrk4 with a dense L: what etdrk4_solve computes in Python on every call
        M = op["matrix"]
        L = np.asarray(M.toarray() if hasattr(M, "toarray") else M, dtype=float)
        ts = []
        for _ in range(5):
            t1 = time.perf_counter()
            lam, V = np.linalg.eig(L)
            np.linalg.cond(V)
            np.linalg.inv(V)
            ts.append(time.perf_counter() - t1)
        info["dense_L_setup_per_solve_s"] = statistics.median(ts)
        print(f"   L is {op['kind']} ({L.shape[0]}x{L.shape[0]}): etdrk4 computes eig(L), cond(V), inv(V) on every "
              f"solve: {statistics.median(ts) * 1e3:.1f} ms (median of 5, BLAS threads "
              f"{os.environ.get('OPENBLAS_NUM_THREADS')})", flush=True)
    if name == "allen_cahn":
        x = mod.grid()
        disc = float(np.max(np.abs(ref - mod.exact(T, x))))
        info["discretisation_error_vs_exact_front"] = disc
        print(f"   space discretisation error (reference vs the exact front at t = {T:g}): {disc:.1e} (max abs): "
              f"time-integration errors far below it do not improve the PDE solution", flush=True)
    err = lambda u: rel_max(u, ref)  # noqa: E731
    recs, dead = [], {}
    for rtol in SWEEP[mode]:
        t_pt = time.perf_counter()
        entries = []
        for m in RD_TOOLS:
            base = {"problem": name, "tool": f"symdyn {m}", "rtol": rtol}
            if base["tool"] in dead:
                recs.append({**base, "skipped": dead[base["tool"]]})
                continue
            entries.append({"run": symdyn_run(cm, T, m, rtol), "err": err, "rec": base})
        out = timer.run(entries)
        for r in out:
            if not r.get("ok"):
                dead[r["tool"]] = f"failed at rtol {rtol:g}: {r.get('message')}"
            elif r["first_s"] > timer.slow:
                dead[r["tool"]] = f"slower than {timer.slow:g} s at rtol {rtol:g}"
        recs += out
        print(f"    rtol {rtol:g}: {time.perf_counter() - t_pt:.1f} s", flush=True)
    rows = []
    for r in recs:
        if "skipped" in r:
            continue
        if not r.get("ok"):
            rows.append([r["tool"], f"{r['rtol']:g}", "FAILED", "-", "-", "-", "-", str(r.get("message"))[:40]])
            continue
        nm = r["tool"] + (f" [{r['method_used']}]" if r["tool"] == "symdyn auto" else "")
        rows.append([nm, f"{r['rtol']:g}", fmt_time(r["time_s"]), fmt_time(r["first_s"]),
                     fmt_err(r["error"]) + ("" if r["error"] >= floor else " *"), r.get("nfev", "-"),
                     r.get("nsteps", "-"), r["repeats"]])
    print(f"\n{name}, t in [0, {T:g}]: work-precision (rtol = atol; * = below the reference floor {floor:.1e})")
    print(table(["tool", "rtol", "steady", "first", "error", "nfev", "steps", "reps"], rows))
    levels = [e for e in EQ_ERRORS if e >= floor]
    eq_rows = []
    for m in RD_TOOLS:
        eq_rows.append([f"symdyn {m}"] + [fmt_front(*front_time(recs, f"symdyn {m}", e, floor)) for e in levels])
    print(f"\n{name}: steady time at equal error")
    print(table(["tool \\ time at error"] + [f"{e:g}" for e in levels], eq_rows))
    # exponential vs implicit at equal error: ratio (implicit best / exponential best) per level
    ratios = {}
    for e in levels:
        expo = [front_time(recs, f"symdyn {m}", e, floor) for m in ("etdrk4", "exprb43")]
        impl = [front_time(recs, f"symdyn {m}", e, floor) for m in ("rodas5p", "radau5")]
        expo = [t for t, k in expo if t is not None and k != "never"]
        impl = [t for t, k in impl if t is not None and k != "never"]
        if expo and impl:
            ratios[f"{e:g}"] = min(impl) / min(expo)
    print("   best implicit time / best exponential time at equal error: "
          + ", ".join(f"{k}: {v:.2f}" for k, v in ratios.items()))
    meta = {"n": cm.n, "T": T, "compile_s": compile_s, "analyze_s": analyze_s, "recommended": a.recommended,
            "L_structure": a.L_structure, "stiffness_ratio": float(a.stiffness_ratio), "reasons": list(a.reasons),
            "reference": info, "implicit_over_exponential": ratios, "skipped": dead, "load_after": loadavg()}
    if plots:
        meta["plot"] = plot_rd(recs, name, T, floor, plots)
        print(f"   plot: {meta['plot']}")
    return {"meta": meta, "records": recs}


def plot_rd(recs, name, T, floor, outdir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    markers = "osD^v<>pP*Xh"
    for k, m in enumerate(RD_TOOLS):
        pts = sorted((-r["rtol"], r["error"], r["time_s"]) for r in recs
                     if r["tool"] == f"symdyn {m}" and r.get("ok") and "time_s" in r)
        if pts:
            ax.loglog([p[1] for p in pts], [p[2] * 1e3 for p in pts], marker=markers[k], label=f"symdyn {m}")
    ax.axvspan(1e-16, max(floor, 1e-16), color="grey", alpha=0.15)
    ax.set_xlim(left=max(floor / 30, 1e-13))
    ax.set_xlabel("relative max error at t_end")
    ax.set_ylabel("steady solve time [ms]")
    ax.set_title(f"{name}, t in [0, {T:g}], rtol = atol 1e-3..1e-9 (grey: below 3x reference uncertainty)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = outdir / f"structure_wp_{name}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


# ----------------------------------------------------------------------------------------------
# 4. sd.analyze on every model
# ----------------------------------------------------------------------------------------------
def bench_analysis():
    import models
    import symdyn as sd
    print("\n== 4. sd.analyze on every model (default build, t_span = T_SPAN, rtol 1e-6)", flush=True)
    rows, out = [], []
    for name in models.NAMES:
        mod = models.get(name)
        try:
            t0 = time.perf_counter()
            model = mod.build()
            t1 = time.perf_counter()
            cm = sd.compile(model)
            t2 = time.perf_counter()
            a = sd.analyze(cm, t_span=tuple(mod.T_SPAN), rtol=1e-6)
            t3 = time.perf_counter()
            sd.analyze(cm, t_span=tuple(mod.T_SPAN), rtol=1e-6)
            t4 = time.perf_counter()
        except Exception as exc:  # noqa: BLE001
            rows.append([name, "-", "ERROR", str(exc)[:60], "-", "-", "-", "-", "-"])
            out.append({"model": name, "error": f"{type(exc).__name__}: {exc}"})
            continue
        rec = {"model": name, "n": cm.n, "recommended": a.recommended, "family": a.family, "stiff": bool(a.stiff),
               "stiffness_ratio": float(a.stiffness_ratio), "L_structure": a.L_structure,
               "build_s": t1 - t0, "compile_s": t2 - t1, "analyze_s": t3 - t2, "analyze_again_s": t4 - t3,
               "reasons": list(a.reasons)}
        out.append(rec)
        rows.append([name, cm.n, a.recommended, a.family, f"{a.stiffness_ratio:.3g}", a.L_structure,
                     f"{t2 - t1:.3f}", f"{t3 - t2:.3f}", f"{t4 - t3:.3f}"])
    print(table(["model", "n", "recommended", "family", "stiffness ratio", "L structure", "compile s", "analyze s",
                 "again s"], rows))
    return out


# ----------------------------------------------------------------------------------------------
# first solve in a fresh process
# ----------------------------------------------------------------------------------------------
def child_first_solve() -> None:
    t0 = time.perf_counter()
    import symdyn as sd
    import symdyn.compiled  # noqa: F401
    t1 = time.perf_counter()
    import models
    model = models.get("kuramoto_sivashinsky").build(N=128)
    t2 = time.perf_counter()
    cm = sd.compile(model)
    t3 = time.perf_counter()
    sol = cm.solve((0.0, 150.0), rtol=1e-6, atol=1e-6, saveat=[150.0])
    t4 = time.perf_counter()
    cm.solve((0.0, 150.0), rtol=1e-6, atol=1e-6, saveat=[150.0])
    t5 = time.perf_counter()
    cm.solve((0.0, 150.0), method="rodas5p", rtol=1e-6, atol=1e-6, saveat=[150.0])
    t6 = time.perf_counter()
    cm.solve((0.0, 150.0), method="rodas5p", rtol=1e-6, atol=1e-6, saveat=[150.0])
    t7 = time.perf_counter()
    print("@@RESULT@@" + json.dumps({
        "import_s": t1 - t0, "build_s": t2 - t1, "compile_s": t3 - t2, "first_auto_solve_s": t4 - t3,
        "second_auto_solve_s": t5 - t4, "first_rodas5p_solve_s": t6 - t5, "second_rodas5p_solve_s": t7 - t6,
        "total_to_first_auto_s": t4 - t0, "method": sol.method, "success": bool(sol.success)}))


def run_first_solve(cache_dir: str | None) -> dict:
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-first-solve"]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT), env=env, timeout=900)
    except subprocess.TimeoutExpired:
        return {"error": "timeout (900 s)"}
    wall = time.perf_counter() - t0
    for line in proc.stdout.splitlines():
        if line.startswith("@@RESULT@@"):
            res = json.loads(line[len("@@RESULT@@"):])
            res["process_wall_s"] = wall
            return res
    return {"error": proc.stderr[-2000:], "process_wall_s": wall}


def bench_first_solve(cold: bool) -> dict:
    print("\n== time to a first solve in a fresh process: import, build and compile KS N=128, cm.solve((0, 150)) "
          "with auto (analysis + compiling N + ETDRK4), then rodas5p", flush=True)
    out = {"warm": run_first_solve(None)}
    if cold:
        with tempfile.TemporaryDirectory(prefix="symdyn_numba_cache_") as d:
            out["cold"] = run_first_solve(d)
    for kind, r in out.items():
        if "error" in r:
            print(f"  {kind}: ERROR {r['error'][-400:]}")
        else:
            print(f"  {kind:4s} numba cache: to first auto solve {r['total_to_first_auto_s']:.2f} s = import "
                  f"{r['import_s']:.2f} + build {r['build_s']:.3f} + compile {r['compile_s']:.3f} + first auto solve "
                  f"{r['first_auto_solve_s']:.3f} ({r['method']}; second {r['second_auto_solve_s'] * 1e3:.1f} ms); first "
                  f"rodas5p {r['first_rodas5p_solve_s']:.3f} s (second {r['second_rodas5p_solve_s'] * 1e3:.1f} ms); "
                  f"process wall {r['process_wall_s']:.1f} s", flush=True)
    return out


# ----------------------------------------------------------------------------------------------
def machine_meta(args, mode):
    from bench_solvers import machine_info
    meta = machine_info()
    meta.update({"mode": mode, "blas_threads_env": _blas_threads.environment(),
                 "parts": args.parts, "floor_factor": FLOOR_FACTOR})
    try:
        import scipy
        meta["scipy"] = scipy.__version__
    except ImportError:
        pass
    return meta


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short sweeps and timing budgets (a few minutes)")
    ap.add_argument("--parts", type=str, default="ks,pf,ac,gs,analysis", help="comma-separated: ks,pf,ac,gs,analysis")
    ap.add_argument("--ks-n", type=str, default="128,512", help="KS grid sizes")
    ap.add_argument("--out", type=Path, default=None, help="JSON output (default results/structure.json, "
                                                            "structure_quick.json with --quick)")
    ap.add_argument("--plots", type=str, default=str(DEFAULT_PLOTS), help="directory of the PNG plots ('' = none)")
    ap.add_argument("--no-first-solve", action="store_true", help="skip the fresh-process measurements")
    ap.add_argument("--blas-threads", type=str, default="1", help="BLAS threads (0 = leave the environment alone)")
    ap.add_argument("--strict", action="store_true", help="exit status 1 if the KS target FAILs")
    ap.add_argument("--child-first-solve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_first_solve:
        child_first_solve()
        return 0
    mode = "quick" if args.quick else "full"
    out_path = args.out or (DEFAULT_OUT_QUICK if args.quick else DEFAULT_OUT)
    plots = Path(args.plots) if args.plots.strip() else None
    if plots:
        plots.mkdir(parents=True, exist_ok=True)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    args.parts = parts
    timer = Timer(args.quick)
    t_start = time.perf_counter()
    result = {"meta": {"load_start": loadavg()}}
    result["meta"].update(machine_meta(args, mode))
    print(f"symdyn structure benchmark ({mode}); load average {loadavg()}; BLAS threads "
          f"{os.environ.get('OPENBLAS_NUM_THREADS')}", flush=True)
    if not args.no_first_solve:
        result["first_solve"] = bench_first_solve(cold=not args.quick)
    sections = {}
    if "ks" in parts:
        sections["ks"] = bench_ks(mode, timer, plots, [int(x) for x in args.ks_n.split(",")])
        result["meta"]["load_after_ks"] = loadavg()
    if "pf" in parts:
        sections["pf_ode"] = bench_pf(mode, timer, plots)
        result["meta"]["load_after_pf"] = loadavg()
    rd = {}
    if "ac" in parts or "gs" in parts:
        print("\n== 3. Reaction-diffusion: exponential vs implicit vs explicit", flush=True)
    if "ac" in parts:
        rd["allen_cahn"] = bench_rd("allen_cahn", mode, timer, plots)
    if "gs" in parts:
        rd["gray_scott_1d"] = bench_rd("gray_scott_1d", mode, timer, plots)
    if rd:
        sections["reaction_diffusion"] = rd
        result["meta"]["load_after_rd"] = loadavg()
    if "analysis" in parts:
        sections["analysis"] = bench_analysis()
    result.update(sections)
    targets = sections.get("ks", {}).get("targets", [])
    print("\n== targets (the issue's: KS to t = 150 at 1e-6 relative error)")
    for res in targets:
        if res.get("is_issue_target"):
            print(fmt_target(res))
    result["meta"]["git_commit_at_end"] = machine_meta(args, mode).get("git_commit")
    result["meta"]["load_end"] = loadavg()
    result["meta"]["wall_s"] = time.perf_counter() - t_start
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1, default=float) + "\n", encoding="utf-8")
    print(f"\nwrote {out_path} ({result['meta']['wall_s']:.0f} s; load average at start {result['meta']['load_start']}, "
          f"end {result['meta']['load_end']})")
    if args.strict and any(r.get("is_issue_target") and r["verdict_auto"]["status"] != "PASS" for r in targets):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
