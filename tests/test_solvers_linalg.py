"""Dense LU of symdyn.solvers.linalg against numpy, and its failure report."""
import numpy as np

from symdyn.solvers.linalg import lu_factor, lu_solve


def col_major(A):
    """The 2-d array the solvers use, M[col, row] = A[row, col], as a copy (for n = 1, A.T would
    share A's memory, and the factorisation overwrites it)."""
    return A.T.copy()


def test_lu_solves_like_numpy():
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 17):
        A = rng.standard_normal((n, n))
        if n > 1:
            A[0, 0] = 0.0  # forces a row exchange
        b = rng.standard_normal(n)
        M, piv, x = col_major(A), np.empty(n, np.int64), b.copy()
        assert lu_factor(M, piv)
        lu_solve(M, piv, x)
        np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-10, atol=1e-12)


def test_singular_and_nonfinite_matrices_are_reported():
    piv = np.empty(3, np.int64)
    assert not lu_factor(col_major(np.array([[1.0, 2, 3], [2, 4, 6], [0, 0, 1]])), piv)
    assert not lu_factor(col_major(np.array([[1.0, 0, 0], [0, np.nan, 0], [0, 0, 1]])), piv)
