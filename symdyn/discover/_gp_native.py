"""Candidate expressions compiled in batches by symdyn's LLVM codegen, fitted natively.

**One module per batch.**  Every candidate structure of a batch becomes one native
function with the ordinary generated-function signature (:mod:`codegen.signatures`)

    void c<k>(double t, const double *X, const double *p, double *out)

evaluating the candidate on all ``N`` samples in one call: the samples are the rows of
``X`` (row-major, ``n_vars`` per row) and the function is a :class:`symdyn.passes.Program`
holding one :class:`symdyn.passes.Loop` -- the same loop construct method-of-lines
stencils use, anchored at ``i*n_vars`` for sample ``i``.  The candidate's numeric
constants are the parameters ``p``, so fitting them never recompiles.

**Fitting.**  :func:`fit_batch` (numba, ``prange`` over candidates, so both cores work)
calls the functions through their addresses and fits each candidate
``y ~ a + b*f(X; c)``: the linear scale ``(a, b)`` in closed form for any ``c`` (variable
projection: Golub & Pereyra, SIAM J. Numer. Anal. 10 (1973) 413; linear scaling in GP:
Keijzer, EuroGP 2003) and the inner constants ``c`` by Levenberg-Marquardt on the
projected residual with a forward-difference Jacobian.

**Measured** (2 cores, 200 samples, trees of ~10 nodes): building the SymPy/IR of a batch
and JIT-compiling it at LLVM ``-O0`` costs about 0.5 ms per candidate plus 5 ms per module;
``-O2`` costs ~7 ms per candidate for code only ~1.6x faster, so :data:`OPT_LEVEL` is 0.
A compiled candidate evaluates 200 samples in ~2 us, against ~5-30 us for numpy (one
array operation per node) -- and a constant fit needs 20-60 evaluations.  See
``docs/discover_gp.md`` for the whole table.
"""
from __future__ import annotations

import time

import numba
import numpy as np
import sympy as sp

import codegen

from ..passes import Loop, Program
from ..solvers._native import call_native
from ._gp_tree import CONST, to_sympy_raw

#: LLVM optimisation level of candidate modules (see the module docstring for why 0)
OPT_LEVEL = 0

#: forward-difference step relative to max(|c|, 1)
FD_STEP = 1.5e-8

#: a candidate whose output varies less than this (relative variance) is a constant
CONST_RTOL = 1e-20

_T = sp.Symbol("t")


class _Name(sp.Symbol):
    """A symbol printed by its name without SymPy's printer (codegen names IR values by
    ``str(symbol)``; the printer's set-up costs ~0.15 ms, a third of building a small candidate)."""

    def __str__(self):
        return self.name

    __repr__ = __str__


def _symbols(prefix, n):
    return tuple(_Name(f"{prefix}{i}") for i in range(n))


class CandidateBatch:
    """Structures compiled into one native module, evaluated on one sample set.

    ``addresses[k]`` evaluates ``structures[k]`` on the ``n_samples`` rows of the data the
    batch was built for; ``timings`` holds the seconds spent building the programs
    (SymPy, unevaluated), building the IR and in LLVM (parse, JIT).
    """

    def __init__(self, structures, n_vars: int, n_samples: int, opt_level: int = OPT_LEVEL):
        t0 = time.perf_counter()
        xs = _symbols("x", n_vars)
        n_const = max((sum(1 for tok in s if tok == CONST) for s in structures), default=0)
        cs = _symbols("c", n_const)
        positions = np.arange(n_samples, dtype=np.int64)
        programs = {}
        for k, tokens in enumerate(structures):
            m = sum(1 for tok in tokens if tok == CONST)
            body = Program(_T, xs, cs[:m], (), (to_sympy_raw(tokens, xs, cs),))
            loop = Loop(body, tuple(range(n_vars)), n_samples, 0, n_vars, positions, label=f"candidate {k}")
            programs[f"c{k}"] = Program(_T, (), cs[:m], (), (), (), (), (loop,))
        t1 = time.perf_counter()
        module, keepalive = codegen.build_module(programs, name="gp_batch")
        t2 = time.perf_counter()
        self.native = codegen.NativeModule(module, opt_level)
        self.native.keepalive = keepalive
        self.addresses = np.array([self.native.address(f"c{k}") for k in range(len(structures))], dtype=np.int64)
        t3 = time.perf_counter()
        self.structures = list(structures)
        self.n_samples = n_samples
        self.timings = {"programs": t1 - t0, "ir": t2 - t1, "llvm": t3 - t2, "total": t3 - t0}


# --- native kernels ---------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _project(f, y, ym, syy):
    """Best ``(a, b)`` of ``y ~ a + b f`` and the sum of squared residuals (inf if ``f`` is not finite)."""
    n = f.shape[0]
    fm = 0.0
    for i in range(n):
        fm += f[i]
    fm /= n
    if not np.isfinite(fm):
        return 0.0, 0.0, np.inf
    sff = 0.0
    sfy = 0.0
    for i in range(n):
        d = f[i] - fm
        sff += d * d
        sfy += d * (y[i] - ym)
    if not np.isfinite(sff):
        return 0.0, 0.0, np.inf
    if sff <= CONST_RTOL * n * fm * fm or sff == 0.0:
        return ym, 0.0, syy  # a constant: only the mean is explained
    b = sfy / sff
    a = ym - b * fm
    sse = 0.0
    for i in range(n):
        r = y[i] - a - b * f[i]
        sse += r * r
    return a, b, sse


@numba.njit(cache=True, nogil=True)
def _residual(f, y, a, b, r):
    for i in range(f.shape[0]):
        r[i] = y[i] - a - b * f[i]


@numba.njit(cache=True, nogil=True)
def _solve_small(A, g, lam, delta):
    """Solve ``(A + lam*diag(A)) delta = -g`` by Gaussian elimination; False if singular."""
    m = A.shape[0]
    M = np.empty((m, m + 1))
    dmax = 0.0
    for i in range(m):
        dmax = max(dmax, A[i, i])
    for i in range(m):
        for j in range(m):
            M[i, j] = A[i, j]
        M[i, i] += lam * A[i, i] + 1e-12 * dmax + 1e-300
        M[i, m] = -g[i]
    for col in range(m):
        piv = col
        for i in range(col + 1, m):
            if abs(M[i, col]) > abs(M[piv, col]):
                piv = i
        if M[piv, col] == 0.0 or not np.isfinite(M[piv, col]):
            return False
        if piv != col:
            for j in range(m + 1):
                M[col, j], M[piv, j] = M[piv, j], M[col, j]
        for i in range(col + 1, m):
            fct = M[i, col] / M[col, col]
            for j in range(col, m + 1):
                M[i, j] -= fct * M[col, j]
    for i in range(m - 1, -1, -1):
        s = M[i, m]
        for j in range(i + 1, m):
            s -= M[i, j] * delta[j]
        delta[i] = s / M[i, i]
    for i in range(m):
        if not np.isfinite(delta[i]):
            return False
    return True


@numba.njit(cache=True, nogil=True)
def fit_one(addr, X, y, c, m, iters, ym, syy):
    """Fit one compiled candidate in place (``c[:m]``); returns ``(a, b, sse, evaluations)``.

    Levenberg-Marquardt on the variable-projection residual ``r(c) = y - a(c) - b(c) f(X; c)``,
    Jacobian by forward differences, damping ``lam`` divided by 3 on success and multiplied
    by 4 on failure (Nielsen's variant without the gain ratio).
    """
    n = y.shape[0]
    f = np.empty(n)
    call_native(addr, 0.0, X, c, f)
    a, b, sse = _project(f, y, ym, syy)
    evals = 1
    if m == 0 or iters <= 0 or not np.isfinite(sse):
        return a, b, sse, evals
    r0 = np.empty(n)
    J = np.empty((n, m))
    A = np.empty((m, m))
    g = np.empty(m)
    delta = np.empty(m)
    trial = np.empty(c.shape[0])
    ft = np.empty(n)
    lam = 1e-3
    for it in range(iters):
        if sse <= 1e-30 * syy:
            break
        _residual(f, y, a, b, r0)
        ok = True
        for j in range(m):
            cj = c[j]
            h = FD_STEP * max(abs(cj), 1.0)
            c[j] = cj + h
            call_native(addr, 0.0, X, c, ft)
            evals += 1
            c[j] = cj
            aj, bj, ssej = _project(ft, y, ym, syy)
            if not np.isfinite(ssej):
                ok = False
                break
            for i in range(n):
                J[i, j] = ((y[i] - aj - bj * ft[i]) - r0[i]) / h
        if not ok:
            break
        for p in range(m):
            s = 0.0
            for i in range(n):
                s += J[i, p] * r0[i]
            g[p] = s
            for q in range(p, m):
                s = 0.0
                for i in range(n):
                    s += J[i, p] * J[i, q]
                A[p, q] = s
                A[q, p] = s
        improved = False
        for attempt in range(8):
            if not _solve_small(A, g, lam, delta):
                lam *= 4.0
                continue
            for j in range(c.shape[0]):
                trial[j] = c[j]
            for j in range(m):
                trial[j] = c[j] + delta[j]
            call_native(addr, 0.0, X, trial, ft)
            evals += 1
            at, bt, sset = _project(ft, y, ym, syy)
            if sset < sse:
                gain = (sse - sset) / sse
                for j in range(m):
                    c[j] = trial[j]
                for i in range(n):
                    f[i] = ft[i]
                a, b, sse = at, bt, sset
                lam = max(lam / 3.0, 1e-12)
                improved = gain > 1e-12
                break
            lam *= 4.0
        if not improved:
            break
    return a, b, sse, evals


@numba.njit(cache=True, nogil=True, parallel=True)
def fit_batch(addresses, X, y, C, n_consts, iters, out):
    """Fit every candidate of a batch; ``out[k] = (a, b, sse, evaluations)``; ``C[k]`` updated in place."""
    n = y.shape[0]
    ym = 0.0
    for i in range(n):
        ym += y[i]
    ym /= n
    syy = 0.0
    for i in range(n):
        syy += (y[i] - ym) ** 2
    for k in numba.prange(addresses.shape[0]):
        row = C[k]
        a, b, sse, evals = fit_one(addresses[k], X, y, row, n_consts[k], iters, ym, syy)
        out[k, 0] = a
        out[k, 1] = b
        out[k, 2] = sse
        out[k, 3] = evals


@numba.njit(cache=True, nogil=True)
def evaluate_batch(addresses, X, C, out):
    """``out[k] = f_k(X; C[k])`` for every candidate (``out`` is (K, N))."""
    for k in range(addresses.shape[0]):
        call_native(addresses[k], 0.0, X, C[k], out[k])


def fit(batch: CandidateBatch, X_flat, y, consts: np.ndarray, n_consts: np.ndarray, iters: int):
    """Fit a compiled batch: ``(C, a, b, sse, evaluations, seconds)`` with ``C`` the fitted constants."""
    t0 = time.perf_counter()
    C = np.array(consts, dtype=np.float64, order="C")  # a copy: fitted in place
    out = np.empty((len(batch.addresses), 4))
    fit_batch(batch.addresses, X_flat, y, C, n_consts.astype(np.int64), int(iters), out)
    return C, out[:, 0], out[:, 1], out[:, 2], out[:, 3].astype(np.int64), time.perf_counter() - t0
