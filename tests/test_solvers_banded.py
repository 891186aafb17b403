"""Banded LU and the band path of the Rosenbrock kernel (large method-of-lines models)."""
import numpy as np
import pytest
import scipy.sparse as sps

import symdyn as sd
from models import get
from symdyn.solvers import solve_model
from symdyn.solvers.banded import band_plan
from symdyn.solvers.errors import OptionError
from symdyn.solvers.linalg import band_lu_factor, band_lu_solve


def _band_storage(M, kl, ku):
    n = M.shape[0]
    AB = np.zeros((n, 2 * kl + ku + 1), M.dtype)
    for i, j in zip(*np.nonzero(M)):
        AB[j, kl + ku + i - j] = M[i, j]
    return AB


@pytest.mark.parametrize("n, kl, ku", [(1, 0, 0), (7, 1, 1), (60, 3, 2), (40, 0, 4), (40, 5, 0), (25, 24, 24)])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_band_lu_solves_like_dense(n, kl, ku, dtype):
    rng = np.random.default_rng(n + kl + 10 * ku)
    M = np.zeros((n, n), dtype)
    for i in range(n):
        for j in range(max(0, i - kl), min(n, i + ku + 1)):
            M[i, j] = rng.normal() + (0.5j * rng.normal() if dtype is np.complex128 else 0)
    M += 0.5 * np.eye(n)  # well conditioned, but small diagonal: pivoting happens
    AB = _band_storage(M, kl, ku)
    piv = np.zeros(n, np.int64)
    assert band_lu_factor(AB, kl, ku, piv)
    b = rng.normal(size=n).astype(dtype)
    x = b.copy()
    band_lu_solve(AB, kl, ku, piv, x)
    # backward stable like the dense LU: a small residual relative to |M| |x| (random triangular
    # band matrices can be very ill-conditioned, so the forward error is not the test)
    assert np.linalg.norm(M @ x - b) <= 1e-13 * np.linalg.norm(M, 1) * np.linalg.norm(x)


def test_band_lu_reports_singular_and_nan():
    M = np.diag([1.0, 0.0, 2.0])
    piv = np.zeros(3, np.int64)
    assert not band_lu_factor(_band_storage(M, 1, 1), 1, 1, piv)
    M = np.diag([1.0, np.nan, 2.0])
    assert not band_lu_factor(_band_storage(M, 1, 1), 1, 1, piv)


def test_plan_reorders_brusselator_to_a_narrow_band():
    cm = sd.compile(get("brusselator_1d").build(N=200))
    plan = band_plan(cm.jac_pattern, cm.n)
    assert plan is not None and plan.kl <= 3 and plan.ku <= 3  # u1..uN, v1..vN: bandwidth N before
    assert band_plan(cm.jac_pattern, cm.n) is not None
    assert band_plan(sps.csc_matrix(np.ones((60, 60))), 60) is None  # dense: no band
    assert band_plan(sps.identity(10, format="csc"), 10) is None  # small: dense LU


@pytest.mark.parametrize("method", ["rodas5p", "rosenbrock23", "radau5", "auto"])
def test_band_path_matches_dense_path(method):
    cm = sd.compile(get("brusselator_1d").build(N=60))
    kw = dict(rtol=1e-6, atol=1e-8, saveat=np.linspace(0, 10, 6), method=method)
    banded = solve_model(cm, (0.0, 10.0), **kw)
    dense = solve_model(cm, (0.0, 10.0), band=None, **kw)
    assert banded.success and dense.success
    assert banded.stats == dense.stats
    np.testing.assert_allclose(banded.u, dense.u, rtol=1e-9, atol=1e-12)


def test_band_option_is_checked():
    cm = sd.compile(get("brusselator_1d").build(N=60))
    with pytest.raises(OptionError, match="band"):
        solve_model(cm, (0.0, 1.0), method="rodas5p", band="yes")
