"""Krylov approximation of phi-function--vector products, with time-stepping (``phipm``).

Exponential integrators need linear combinations

    w(t) = phi_0(tA) b_0 + t phi_1(tA) b_1 + t^2 phi_2(tA) b_2 + ... + t^p phi_p(tA) b_p,

``phi_0(z) = e^z``, ``phi_{k+1}(z) = (phi_k(z) - 1/k!)/z``, for a large sparse ``A`` (here the
Jacobian in CSC form) and a few vectors ``b_k``.  :func:`phipm` computes them with the algorithm
of J. Niesen and W. M. Wright, "Algorithm 919: A Krylov subspace algorithm for evaluating the
phi-functions appearing in exponential integrators", *ACM Trans. Math. Softw.* 38(3) (2012),
article 22:

* ``w`` solves ``w' = A w + sum_k t^(k-1)/(k-1)! b_k``, ``w(0) = b_0``, so it can be advanced in
  substeps ``t_j -> t_j + tau``: with ``w_0 = w(t_j)`` and
  ``w_k = A w_{k-1} + sum_{i=0}^{p-k} t_j^i/i! b_{k+i}`` (k = 1..p; ``p`` products with ``A``),
  ``w(t_j + tau) = sum_{k<p} tau^k/k! w_k + tau^p phi_p(tau A) w_p``;
* ``phi_p(tau A) w_p ~ beta V_m phi_p(tau H_m) e_1`` from ``m`` steps of Arnoldi (modified
  Gram--Schmidt) started with ``w_p = beta v_1``.  ``phi_p(tau H_m) e_1`` and ``phi_{p+1}(tau H_m) e_1``
  are columns of the exponential of the augmented matrix ``[[tau H_m, e_1, 0], [0, 0, I], [0, 0, 0]]``
  of size ``m + p + 1`` (Saad 1992; Sidje, Expokit, 1998), computed by :func:`expm_small`
  (diagonal Pade approximant of degree 6 with scaling and squaring, as Expokit's ``padm``);
* the a-posteriori error of a substep is Saad's leading term
  ``tau^p * beta * tau * |e_m^T phi_{p+1}(tau H_m) e_1| * ||h_{m+1,m} v_{m+1}||``, measured in the
  caller's weighted RMS norm (weights ``1/sc_i``) and required to be at most ``ktol * tau / T``
  (error per unit time, so the total stays below ``ktol``);
* the Krylov dimension adapts: the error is checked at ``m = 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, ...``
  (about 25 % apart; from 3/4 of the dimension the previous substep -- or, through ``hint``, the
  previous call of the same kind -- needed) and Arnoldi stops at the first ``m`` that meets the
  tolerance; at the largest dimension ``m_max`` the substep ``tau`` shrinks instead (only the
  small exponential is recomputed: the Krylov basis does not depend on ``tau``), by ``0.9 ratio^(-1/m)`` clamped to
  ``[TAU_SHRINK_MIN, 0.9]``, where ``ratio`` is error over tolerance.  After an accepted substep
  the next ``tau`` grows by at most ``TAU_GROW_MAX``.  Output times inside ``(0, T]`` are hit
  exactly by shortening the substep that would pass them.

No allocation happens in :func:`phipm`: the caller passes the workspace made by
:func:`krylov_workspace` once per solve.  The matrix is ``A = J`` given by the values ``vals`` of a
CSC pattern (``indptr``, ``indices``) times a scalar ``scale`` (so that ``hJ`` or ``-J`` need no copy).
"""
import math
from fractions import Fraction

import numba
import numpy as np

__all__ = ["phipm", "expm_small", "csc_matvec", "csc_norm1", "krylov_workspace", "phi_products",
           "KRYLOV_OK", "KRYLOV_NONFINITE", "KRYLOV_TOO_MANY_SUBSTEPS", "KSTAT_NAMES"]

#: status codes of :func:`phipm`
KRYLOV_OK = 0
KRYLOV_NONFINITE = 1
KRYLOV_TOO_MANY_SUBSTEPS = 2

#: counters of the Krylov work (an int64 array of this length, accumulated by :func:`phipm`)
KSTAT_NAMES = ("nmatvec", "nphi", "nsubstep", "max_krylov_dim", "nexpm")
KS_MATVEC, KS_PHI, KS_SUBSTEP, KS_MAXDIM, KS_EXPM = 0, 1, 2, 3, 4

#: the scaled matrix of the Pade approximant has ||X||_inf <= PADE_THETA (Expokit's choice)
PADE_THETA = 0.5
PADE_DEGREE = 6
#: coefficients c_k = (2q-k)! q! / ((2q)! k! (q-k)!) of the diagonal Pade approximant of degree q
PADE_COEFFS = np.array([
    float(Fraction(math.factorial(2 * PADE_DEGREE - k) * math.factorial(PADE_DEGREE),
                   math.factorial(2 * PADE_DEGREE) * math.factorial(k) * math.factorial(PADE_DEGREE - k)))
    for k in range(PADE_DEGREE + 1)
])
#: Arnoldi stops (happy breakdown) when h_{j+1,j} <= BREAKDOWN * ||A||_1
BREAKDOWN = 1e-14
#: bounds of the substep changes
TAU_SHRINK_MIN = 0.1
TAU_GROW_MAX = 5.0
#: tau factor after a non-finite small exponential (overflow of exp(tau H))
TAU_NONFINITE = 0.1
#: a phi-call gives up (status KRYLOV_TOO_MANY_SUBSTEPS) beyond this many substeps or tau retries
MAX_SUBSTEPS = 5000
MAX_TAU_TRIES = 100
#: number of small work matrices in the workspace
_NSMALL = 7


@numba.njit(cache=True)
def krylov_workspace(n, m_max, p_max):
    """Work arrays for :func:`phipm`: ``(V, H, Wk, vec, S, ipiv)`` for dimension ``n``, Krylov
    dimension up to ``m_max`` and phi-functions up to ``phi_{p_max}``."""
    m_max = max(1, min(m_max, n))
    kmax = m_max + p_max + 1
    return (np.zeros((m_max + 1, n)), np.zeros((m_max + 1, m_max)), np.zeros((p_max + 1, n)),
            np.zeros((3, n)), np.zeros((_NSMALL, kmax, kmax)), np.zeros(kmax, np.int64))


@numba.njit(cache=True)
def csc_matvec(vals, indptr, indices, scale, x, y):
    """``y = scale * J x`` for ``J`` in CSC form (values ``vals``)."""
    n = x.shape[0]
    for i in range(n):
        y[i] = 0.0
    for j in range(n):
        xj = scale * x[j]
        if xj != 0.0:
            for k in range(indptr[j], indptr[j + 1]):
                y[indices[k]] += vals[k] * xj


@numba.njit(cache=True)
def csc_norm1(vals, indptr):
    """``||J||_1`` (the largest column sum of absolute values)."""
    best = 0.0
    for j in range(indptr.shape[0] - 1):
        acc = 0.0
        for k in range(indptr[j], indptr[j + 1]):
            acc += abs(vals[k])
        if not acc <= best:  # also propagates NaN
            best = acc
    return best


@numba.njit(cache=True)
def _matmul(A, B, C, K):
    """C[:K, :K] = A[:K, :K] @ B[:K, :K] (row-major, C distinct from A and B)."""
    for i in range(K):
        for j in range(K):
            C[i, j] = 0.0
        for k in range(K):
            a = A[i, k]
            if a != 0.0:
                for j in range(K):
                    C[i, j] += a * B[k, j]


@numba.njit(cache=True)
def expm_small(M, K, S, ipiv):
    """``exp(M[:K, :K])`` into ``S[0, :K, :K]``; ``S`` holds ``_NSMALL`` work matrices.

    Diagonal Pade approximant of degree 6 after scaling by ``2^-s`` so that
    ``||M||_inf / 2^s <= PADE_THETA``, then ``s`` squarings (Sidje, Expokit ``padm``; Higham,
    *Functions of Matrices*, Sec. 10.3).  Returns False if the result is not finite.
    """
    E, X, X2, X4, T1, U, V = S[0], S[1], S[2], S[3], S[4], S[5], S[6]
    nrm = 0.0
    for i in range(K):
        acc = 0.0
        for j in range(K):
            acc += abs(M[i, j])
        nrm = max(nrm, acc)
    if not math.isfinite(nrm):
        return False
    s = 0
    if nrm > PADE_THETA:
        s = int(math.ceil(math.log2(nrm / PADE_THETA)))
    scl = 0.5**s
    for i in range(K):
        for j in range(K):
            X[i, j] = M[i, j] * scl
    c = PADE_COEFFS
    _matmul(X, X, X2, K)
    _matmul(X2, X2, X4, K)
    _matmul(X4, X2, T1, K)  # X^6
    # V = c0 I + c2 X^2 + c4 X^4 + c6 X^6;  T1 = c1 I + c3 X^2 + c5 X^4, then U = X T1
    for i in range(K):
        for j in range(K):
            V[i, j] = c[2] * X2[i, j] + c[4] * X4[i, j] + c[6] * T1[i, j]
            T1[i, j] = c[3] * X2[i, j] + c[5] * X4[i, j]
        V[i, i] += c[0]
        T1[i, i] += c[1]
    _matmul(X, T1, U, K)
    # solve (V - U) E = (V + U): LU with partial pivoting of V - U in X, right-hand sides in E
    for i in range(K):
        for j in range(K):
            X[i, j] = V[i, j] - U[i, j]
            E[i, j] = V[i, j] + U[i, j]
    for k in range(K):
        piv = k
        big = abs(X[k, k])
        for i in range(k + 1, K):
            if abs(X[i, k]) > big:
                big = abs(X[i, k])
                piv = i
        ipiv[k] = piv
        if big == 0.0 or not math.isfinite(big):
            return False
        if piv != k:
            for j in range(K):
                tmp = X[k, j]
                X[k, j] = X[piv, j]
                X[piv, j] = tmp
                tmp = E[k, j]
                E[k, j] = E[piv, j]
                E[piv, j] = tmp
        inv = 1.0 / X[k, k]
        for i in range(k + 1, K):
            f = X[i, k] * inv
            if f != 0.0:
                for j in range(k + 1, K):
                    X[i, j] -= f * X[k, j]
                for j in range(K):
                    E[i, j] -= f * E[k, j]
    for k in range(K - 1, -1, -1):
        inv = 1.0 / X[k, k]
        for j in range(K):
            acc = E[k, j]
            for i in range(k + 1, K):
                acc -= X[k, i] * E[i, j]
            E[k, j] = acc * inv
    for _ in range(s):
        _matmul(E, E, X2, K)
        for i in range(K):
            for j in range(K):
                E[i, j] = X2[i, j]
    for i in range(K):
        for j in range(K):
            if not math.isfinite(E[i, j]):
                return False
    return True


@numba.njit(cache=True)
def _wnorm(x, sc):
    """Weighted RMS norm ``sqrt(mean((x_i / sc_i)^2))``."""
    acc = 0.0
    for i in range(x.shape[0]):
        r = x[i] / sc[i]
        acc += r * r
    return math.sqrt(acc / x.shape[0])


@numba.njit(cache=True)
def _small_phi(H, m, p, tau, S, ipiv):
    """exp of the augmented matrix [[tau H_m, e_1, 0], [0, 0, I_p], [0, 0, 0]] (size m+p+1) into
    S[0]; column m+p-1 holds phi_p(tau H_m) e_1, column m+p holds phi_{p+1}(tau H_m) e_1."""
    K = m + p + 1
    M = S[4]  # expm_small copies M into its own X before using S[4]
    for i in range(K):
        for j in range(K):
            M[i, j] = 0.0
    for i in range(m):
        for j in range(m):
            M[i, j] = tau * H[i, j]
    M[0, m] = 1.0
    for i in range(p):
        M[m + i, m + i + 1] = 1.0
    return expm_small(M, K, S, ipiv)


@numba.njit(cache=True)
def phipm(vals, indptr, indices, scale, anorm, Bv, p, b0_zero, tout, nout, outs, sc, ktol, m_max,
          V, H, Wk, vec, S, ipiv, kstats, hint):
    """``w(t) = sum_{k=0}^{p} t^k phi_k(t A) Bv[k]`` at ``t = tout[0] < ... < tout[nout-1]``
    (all > 0) into ``outs[0..nout-1]``; ``A = scale * J`` (CSC values ``vals``), ``anorm``
    ``= ||A||_1`` (for the breakdown test).  See the module docstring.

    ``p >= 1``; ``b0_zero`` says ``Bv[0]`` is zero (saves a product); ``sc`` are the weights of
    the error norm, ``ktol`` the tolerance in it over the whole interval ``[0, tout[nout-1]]``;
    ``m_max`` bounds the Krylov dimension (at most ``V.shape[0] - 1``).  ``hint`` (two floats,
    in/out) carries the Krylov dimension and the proposed substep of the last substep from one
    call to the next of the same kind (zeros: no hint); the first substep starts checking the
    error at 3/4 of that dimension (always with the whole interval as the first substep: a
    small carried-over substep would lock in small dimensions).  Returns a ``KRYLOV_*`` status; ``kstats``
    accumulates the counters :data:`KSTAT_NAMES`.
    """
    n = Bv.shape[1]
    m_max = max(1, min(m_max, V.shape[0] - 1, n))
    T = tout[nout - 1]
    w = Wk[0]
    wnew = vec[0]
    tmp = vec[1]
    x = vec[2]
    if b0_zero:
        for i in range(n):
            w[i] = 0.0
    else:
        for i in range(n):
            w[i] = Bv[0, i]
    wzero = b0_zero
    kstats[KS_PHI] += 1
    t = 0.0
    tau_free = T  # the proposed substep, before shortening to the next output time
    iout = 0
    nsub = 0
    m_last = int(hint[0])
    while iout < nout:
        nsub += 1
        if nsub > MAX_SUBSTEPS:
            return KRYLOV_TOO_MANY_SUBSTEPS
        kstats[KS_SUBSTEP] += 1
        target = tout[iout]
        tau = min(tau_free, target - t)
        clipped = tau < tau_free  # shortened to reach an output time (not by the error)
        # w_k = A w_{k-1} + sum_{i=0}^{p-k} t^i/i! b_{k+i},  k = 1..p
        prevzero = wzero
        for k in range(1, p + 1):
            for i in range(n):
                tmp[i] = Bv[k, i]
            if t != 0.0:
                fac = 1.0
                for j in range(1, p - k + 1):
                    fac *= t / j
                    for i in range(n):
                        tmp[i] += fac * Bv[k + j, i]
            wk = Wk[k]
            if prevzero:
                for i in range(n):
                    wk[i] = tmp[i]
            else:
                csc_matvec(vals, indptr, indices, scale, Wk[k - 1], wk)
                kstats[KS_MATVEC] += 1
                for i in range(n):
                    wk[i] += tmp[i]
            if prevzero:
                for i in range(n):
                    if wk[i] != 0.0:
                        prevzero = False
                        break
        beta = 0.0
        for i in range(n):
            beta += Wk[p, i] * Wk[p, i]
        beta = math.sqrt(beta)
        if not math.isfinite(beta):
            return KRYLOV_NONFINITE
        m = 0
        ratio = 0.0
        if beta == 0.0:  # no Krylov part: the Taylor-like sum is exact
            tau = target - t
        else:
            for i in range(n):
                V[0, i] = Wk[p, i] / beta
            j = 0
            # start checking near the dimension the previous substep needed
            next_check = max(1, m_last - m_last // 4)
            breakdown = False
            tries = 0
            accepted = False
            resnorm = 0.0
            while not accepted:
                if j < m_max and not breakdown:
                    # one Arnoldi step: x = A v_j, orthogonalise against v_0..v_j
                    csc_matvec(vals, indptr, indices, scale, V[j], x)
                    kstats[KS_MATVEC] += 1
                    for i in range(j + 1):
                        hij = 0.0
                        vi = V[i]
                        for r in range(n):
                            hij += vi[r] * x[r]
                        H[i, j] = hij
                        for r in range(n):
                            x[r] -= hij * vi[r]
                    hnext = 0.0
                    for r in range(n):
                        hnext += x[r] * x[r]
                    hnext = math.sqrt(hnext)
                    if not math.isfinite(hnext):
                        return KRYLOV_NONFINITE
                    H[j + 1, j] = hnext
                    resnorm = _wnorm(x, sc)  # ||h_{j+1,j} v_{j+1}|| in the caller's norm
                    j += 1
                    if hnext <= BREAKDOWN * anorm or hnext == 0.0:
                        breakdown = True
                    else:
                        inv = 1.0 / hnext
                        vj = V[j]
                        for r in range(n):
                            vj[r] = x[r] * inv
                    if j < next_check and j < m_max and not breakdown:
                        continue
                    next_check = j + max(1, j // 4)
                m = j
                while True:
                    kstats[KS_EXPM] += 1
                    ok = _small_phi(H, m, p, tau, S, ipiv)
                    if not ok:
                        tries += 1
                        if tries > MAX_TAU_TRIES:
                            return KRYLOV_NONFINITE
                        tau *= TAU_NONFINITE
                        clipped = False
                        continue
                    E = S[0]
                    tp = tau**p
                    err = tp * beta * tau * abs(E[m - 1, m + p]) * resnorm
                    ratio = err / (ktol * tau / T)
                    if ratio <= 1.0 or breakdown and resnorm == 0.0:
                        accepted = True
                        break
                    if j < m_max and not breakdown:
                        break  # enlarge the Krylov space first
                    tries += 1
                    if tries > MAX_TAU_TRIES:
                        return KRYLOV_TOO_MANY_SUBSTEPS
                    tau *= min(0.9, max(TAU_SHRINK_MIN, 0.9 * ratio ** (-1.0 / m)))
                    clipped = False
        # w(t + tau) = sum_{k<p} tau^k/k! w_k + tau^p beta V_m phi_p(tau H_m) e_1
        for i in range(n):
            wnew[i] = Wk[0, i]
        fac = 1.0
        for k in range(1, p):
            fac *= tau / k
            for i in range(n):
                wnew[i] += fac * Wk[k, i]
        if m > 0:
            E = S[0]
            tp = tau**p * beta
            for r in range(m):
                cr = tp * E[r, m + p - 1]
                if cr != 0.0:
                    vr = V[r]
                    for i in range(n):
                        wnew[i] += cr * vr[i]
            if m > kstats[KS_MAXDIM]:
                kstats[KS_MAXDIM] = m
            m_last = m
        for i in range(n):
            w[i] = wnew[i]
        wzero = False
        if tau >= target - t:
            t = target
            for i in range(n):
                outs[iout, i] = w[i]
            iout += 1
        else:
            t += tau
        # the next substep
        if ratio > 0.0 and m > 0:
            grow = min(TAU_GROW_MAX, 0.9 * ratio ** (-1.0 / m))
        else:
            grow = TAU_GROW_MAX
        proposal = tau * max(grow, TAU_SHRINK_MIN)
        tau_free = max(tau_free, proposal) if clipped else proposal
        if tau_free <= 0.0 or not math.isfinite(tau_free):
            tau_free = T
    hint[0] = m_last
    hint[1] = tau_free
    return KRYLOV_OK


def phi_products(A, B, times, tol=1e-12, m_max=30, weights=None):
    """``sum_k t^k phi_k(t A) B[k]`` for every ``t`` in ``times`` (increasing, > 0) by :func:`phipm`.

    ``A``: a scipy.sparse matrix (or dense array), ``B``: ``(p+1, n)`` rows ``b_0..b_p``
    (``p >= 1``), ``tol``: the Krylov tolerance in the RMS norm with weights ``1/weights``
    (default: all ones, an absolute RMS tolerance).  Returns ``(W, kstats, status)`` with ``W``
    of shape ``(len(times), n)`` and ``kstats`` a dict of :data:`KSTAT_NAMES`.
    """
    import scipy.sparse as sps

    Acsc = sps.csc_matrix(A)
    Acsc.sort_indices()
    n = Acsc.shape[0]
    B = np.ascontiguousarray(B, dtype=np.float64)
    if B.ndim != 2 or B.shape[1] != n or B.shape[0] < 2:
        raise ValueError(f"B must have shape (p+1, {n}) with p >= 1, got {B.shape}")
    p = B.shape[0] - 1
    times = np.ascontiguousarray(np.atleast_1d(times), dtype=np.float64)
    if np.any(times <= 0) or np.any(np.diff(times) <= 0):
        raise ValueError("times must be positive and strictly increasing")
    sc = np.ones(n) if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
    vals = np.ascontiguousarray(Acsc.data, dtype=np.float64)
    indptr = Acsc.indptr.astype(np.int64)
    indices = Acsc.indices.astype(np.int64)
    V, H, Wk, vec, S, ipiv = krylov_workspace(n, m_max, p)
    outs = np.zeros((times.shape[0], n))
    kstats = np.zeros(len(KSTAT_NAMES), np.int64)
    anorm = csc_norm1(vals, indptr)
    b0_zero = not np.any(B[0])
    status = phipm(vals, indptr, indices, 1.0, anorm, B, p, b0_zero, times, times.shape[0], outs, sc,
                   float(tol), V.shape[0] - 1, V, H, Wk, vec, S, ipiv, kstats, np.zeros(2))
    return outs, dict(zip(KSTAT_NAMES, (int(k) for k in kstats))), int(status)
