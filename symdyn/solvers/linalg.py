"""Dense linear algebra for the implicit steppers, in one place: LU with partial pivoting.

``lu_factor`` works in place and reports failure (a zero or non-finite pivot) by returning
False instead of raising, so that a stepper can reject the step and shrink ``h`` (as
OrdinaryDiffEq.jl does).  Matrices are column-major like the generated Jacobian
(``M[col*n + row]`` in a flat array) -- here as 2-d arrays indexed ``M[col, row]``, which is
the same memory.  Golub & Van Loan, *Matrix Computations*, Alg. 3.4.1.
"""
import math

import numba


@numba.njit(cache=True)
def lu_factor(M, piv):
    """Factor ``P A = L U`` in place; ``A[row, col] = M[col, row]``.  Returns False if singular."""
    n = M.shape[0]
    for k in range(n):
        p = k
        big = abs(M[k, k])
        for i in range(k + 1, n):
            v = abs(M[k, i])
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
    return True


@numba.njit(cache=True)
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
    for j in range(n - 1, -1, -1):  # back substitution
        x[j] /= M[j, j]
        xj = x[j]
        if xj != 0.0:
            for i in range(j):
                x[i] -= M[j, i] * xj
