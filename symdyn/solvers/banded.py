"""Banded linear algebra for large stiff models: choosing a row/column order and a band layout.

A method-of-lines Jacobian is sparse and, after reverse Cuthill--McKee reordering, banded with a
small bandwidth (the Brusselator's ``u1..uN, v1..vN`` ordering has bandwidth ``N``; interleaved it
has 2).  :func:`band_plan` computes, once per sparsity pattern, the permutation, the bandwidths
and where each structural nonzero of the CSC values lands in the band storage of
``W = I/(h gamma) - J`` (:func:`.linalg.band_lu_factor`'s layout), or returns None when a
dense LU is cheaper.  The Rosenbrock kernel then evaluates only the CSC values (``jac_csc``),
scatters them and factors in ``O(n kl (kl + ku))`` instead of ``O(n^3)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BandPlan", "band_plan", "BAND_MIN_N"]

#: below this many states a dense LU is as fast and simpler
BAND_MIN_N = 48
#: use the band solver when its factorisation needs fewer than this fraction of the dense flops
BAND_MAX_COST = 0.25


@dataclass(frozen=True)
class BandPlan:
    """Where the CSC values of ``J`` go in the band storage of the reordered ``W``.

    ``perm[i]`` is the original index of reordered row/column ``i``; ``pos[k]`` the flat band
    position of CSC value ``k``; ``dpos[i]`` that of the diagonal entry ``i``; ``rows[k]`` the
    original row of value ``k`` (for row sums).
    """

    kl: int
    ku: int
    perm: np.ndarray
    pos: np.ndarray
    dpos: np.ndarray
    rows: np.ndarray

    def native_args(self):
        """The trailing arguments of :func:`.rosenbrock.rosenbrock_solve`."""
        return self.kl, self.ku, self.perm, self.pos, self.dpos, self.rows


#: the arguments that select the dense path
DENSE_ARGS = (-1, 0, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))


def band_plan(pattern, n: int, force: bool = False) -> BandPlan | None:
    """A :class:`BandPlan` for the CSC ``pattern`` (``indptr``, ``indices``) of an ``n x n``
    Jacobian, or None when a dense LU is cheaper (``force=True`` always plans).

    >>> import scipy.sparse as sps
    >>> plan = band_plan(sps.diags([1.0, 1.0, 1.0], [-1, 0, 1], shape=(100, 100)).tocsc(), 100)
    >>> (plan.kl, plan.ku)
    (1, 1)
    """
    if n < BAND_MIN_N and not force:
        return None
    import scipy.sparse as sps  # csgraph: 0.06-0.1 s of import, which small models need not pay
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    indptr = np.asarray(pattern.indptr, dtype=np.int64)
    indices = np.asarray(pattern.indices, dtype=np.int64)
    nnz = indices.shape[0]
    cols = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    S = sps.csr_matrix((np.ones(nnz), (indices, cols)), shape=(n, n))
    S = (S + S.T + sps.identity(n, format="csr")).tocsr()
    perm = np.asarray(reverse_cuthill_mckee(S, symmetric_mode=True), dtype=np.int64)
    inv = np.empty(n, np.int64)
    inv[perm] = np.arange(n, dtype=np.int64)
    new_r, new_c = inv[indices], inv[cols]
    kl = int(max(0, (new_r - new_c).max(initial=0)))
    ku = int(max(0, (new_c - new_r).max(initial=0)))
    if not force and n * kl * (kl + ku + 1) > BAND_MAX_COST * n**3 / 3.0:
        return None
    ldab = 2 * kl + ku + 1
    kv = kl + ku
    pos = new_c * ldab + kv + new_r - new_c
    diag = np.arange(n, dtype=np.int64)
    dpos = diag * ldab + kv
    return BandPlan(kl, ku, perm, pos.astype(np.int64), dpos.astype(np.int64), indices.copy())
