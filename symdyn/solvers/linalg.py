"""Dense linear algebra for the implicit steppers, in one place: LU with partial pivoting.

``lu_factor`` works in place and reports failure (a zero or non-finite pivot) by returning
False instead of raising, so that a stepper can reject the step and shrink ``h`` (as
OrdinaryDiffEq.jl does).  Matrices are column-major like the generated Jacobian
(``M[col*n + row]`` in a flat array) -- here as 2-d arrays indexed ``M[col, row]``, which is
the same memory.  Golub & Van Loan, *Matrix Computations*, Alg. 3.4.1.
"""
import math

import numba


@numba.njit(cache=True, inline="always")
def _cabs1(z):
    """``|Re z| + |Im z|``: the pivot size of LAPACK's izamax (``abs`` of a complex number is a
    ``hypot`` call, measured at 5% of a Radau5 solve); ``|z|`` for real ``z``."""
    return abs(z.real) + abs(z.imag)


@numba.njit(cache=True, _nrt=False)  # no refcounting: 2 atomic ops per array argument and call
def lu_factor(M, piv):
    """Factor ``P A = L U`` in place; ``A[row, col] = M[col, row]``.  Returns False if singular.

    The unit lower triangle of ``L`` below the diagonal, ``U`` above it, and on the diagonal the
    *reciprocals* of ``U``'s diagonal (what :func:`lu_solve` needs)."""
    n = M.shape[0]
    for k in range(n):
        p = k
        big = _cabs1(M[k, k])
        for i in range(k + 1, n):
            v = _cabs1(M[k, i])
            if v > big:
                big = v
                p = i
        piv[k] = p
        if big == 0.0 or not math.isfinite(big):
            return False
        if p != k:
            for j in range(n):
                tmp = M[j, k]
                M[j, k] = M[j, p]
                M[j, p] = tmp
        inv = 1.0 / M[k, k]
        for i in range(k + 1, n):
            M[k, i] *= inv
        for j in range(k + 1, n):
            mkj = M[j, k]
            if mkj != 0.0:
                for i in range(k + 1, n):
                    M[j, i] -= M[k, i] * mkj
        M[k, k] = inv  # the reciprocal of the pivot: lu_solve multiplies (a division is ~4x dearer)
    return True


@numba.njit(cache=True, _nrt=False)  # no refcounting: 2 atomic ops per array argument and call
def lu_solve(M, piv, x):
    """Solve ``A y = x`` in place with the factors from :func:`lu_factor`."""
    n = M.shape[0]
    for k in range(n):
        p = piv[k]
        if p != k:
            tmp = x[k]
            x[k] = x[p]
            x[p] = tmp
    for j in range(n):  # forward substitution, unit lower triangle, column-oriented
        xj = x[j]
        if xj != 0.0:
            for i in range(j + 1, n):
                x[i] -= M[j, i] * xj
    for j in range(n - 1, -1, -1):  # back substitution (the diagonal holds the pivots' reciprocals)
        x[j] *= M[j, j]
        xj = x[j]
        if xj != 0.0:
            for i in range(j):
                x[i] -= M[j, i] * xj


# --- banded LU (for large models whose Jacobian is banded after reordering) ----------------------
@numba.njit(cache=True, _nrt=False)  # no refcounting: 2 atomic ops per array argument and call
def band_lu_factor(AB, kl, ku, piv):
    """Factor a band matrix ``P A = L U`` in place with partial pivoting (LAPACK's DGBTF2).

    ``AB[j, kv + i - j] = A[i, j]`` with ``kv = kl + ku`` (column ``j`` contiguous; the first
    ``kl`` slots of each column take the fill-in of row interchanges and must start at zero).
    Returns False if a pivot is zero or not finite.  Real or complex.
    """
    n = AB.shape[0]
    kv = kl + ku
    ju = 0
    for j in range(n):
        km = min(kl, n - 1 - j)
        p = 0
        big = _cabs1(AB[j, kv])
        for r in range(1, km + 1):
            v = _cabs1(AB[j, kv + r])
            if v > big:
                big = v
                p = r
        piv[j] = j + p
        if big == 0.0 or not math.isfinite(big):
            return False
        ju = max(ju, min(j + ku + p, n - 1))
        if p != 0:  # swap rows j and j+p in columns j..ju
            for col in range(j, ju + 1):
                a = kv + j - col
                tmp = AB[col, a]
                AB[col, a] = AB[col, a + p]
                AB[col, a + p] = tmp
        inv = 1.0 / AB[j, kv]
        for r in range(1, km + 1):
            AB[j, kv + r] *= inv
        for col in range(j + 1, ju + 1):
            x = AB[col, kv + j - col]
            if x != 0.0:
                base = kv + j - col
                for r in range(1, km + 1):
                    AB[col, base + r] -= AB[j, kv + r] * x
    return True


@numba.njit(cache=True, _nrt=False)  # no refcounting: 2 atomic ops per array argument and call
def band_lu_solve(AB, kl, ku, piv, x):
    """Solve ``A y = x`` in place with the factors from :func:`band_lu_factor`."""
    n = AB.shape[0]
    kv = kl + ku
    for j in range(n):
        km = min(kl, n - 1 - j)
        p = piv[j]
        if p != j:
            tmp = x[j]
            x[j] = x[p]
            x[p] = tmp
        xj = x[j]
        if xj != 0.0:
            for r in range(1, km + 1):
                x[j + r] -= AB[j, kv + r] * xj
    for j in range(n - 1, -1, -1):
        x[j] /= AB[j, kv]
        xj = x[j]
        if xj != 0.0:
            for i in range(max(0, j - kv), j):
                x[i] -= AB[j, kv + i - j] * xj


@numba.njit(cache=True, _nrt=False)  # no refcounting: 2 atomic ops per array argument and call
def band_assemble(ABf, vals, pos, dpos, shift):
    """``W = shift I - J`` into flat band storage: ``J``'s CSC values ``vals`` land at ``pos``,
    the diagonal at ``dpos`` (see :func:`symdyn.solvers.banded.band_plan`)."""
    for k in range(ABf.shape[0]):
        ABf[k] = 0.0
    for k in range(vals.shape[0]):
        ABf[pos[k]] = -vals[k]
    for k in range(dpos.shape[0]):
        ABf[dpos[k]] += shift


@numba.njit(cache=True, _nrt=False)  # no refcounting: 2 atomic ops per array argument and call
def perm_band_solve(AB, kl, ku, piv, perm, x, work):
    """Solve ``W y = x`` in place for the reordered band factors of ``W`` (``perm[i]`` is the
    original index of reordered unknown ``i``); ``work`` has ``x``'s length and dtype."""
    for k in range(perm.shape[0]):
        work[k] = x[perm[k]]
    band_lu_solve(AB, kl, ku, piv, work)
    for k in range(perm.shape[0]):
        x[perm[k]] = work[k]
