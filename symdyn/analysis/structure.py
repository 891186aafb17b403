"""The structure of the linear part ``L``: diagonal, circulant, banded, sparse or dense.

Every test is one pass over the nonzeros (``O(nnz)``).  Labels, checked in this order:

- ``"diagonal"``: every nonzero on the diagonal; eigenvalues = the diagonal.
- ``"circulant"``: every row is the first row shifted cyclically, values equal to
  :data:`CIRCULANT_RTOL` (periodic stencils).  Eigenvalues ``lam = numpy.fft.fft(c)`` with
  ``c = L[:, 0]`` the first column, so that ``L = F^-1 diag(lam) F`` with ``F`` the DFT of
  ``numpy.fft.fft``: ``L @ u == numpy.fft.ifft(lam * numpy.fft.fft(u))``.
- ``"block_circulant"``: ``blockdiag(C_1, ..., C_b)`` with equal circulant blocks (several
  species on one periodic grid); eigenvalues the blocks' FFTs, concatenated.
- ``"dense"``: at least :data:`DENSE_FRACTION` of the entries are nonzero.
- ``"banded"``: lower and upper bandwidths ``kl + ku + 1 <= BANDED_FRACTION * n``.
- ``"sparse"``: anything else.

Example
-------
>>> import numpy as np, scipy.sparse as sps
>>> L = sps.csc_matrix(np.array([[-2., 1, 0, 1], [1, -2, 1, 0], [0, 1, -2, 1], [1, 0, 1, -2]]))
>>> s = classify(L)
>>> s.label, np.round(s.eigenvalues.real, 12).tolist()
('circulant', [0.0, -2.0, -4.0, -2.0])
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sps

#: values of a circulant's diagonals must agree to this relative tolerance
CIRCULANT_RTOL = 1e-12
#: a matrix with at least this fraction of nonzero entries is dense
DENSE_FRACTION = 0.25
#: a matrix whose band (kl + ku + 1) is at most this fraction of n is banded
BANDED_FRACTION = 0.25

STRUCTURES = ("diagonal", "circulant", "block_circulant", "banded", "sparse", "dense", "scalar(t)")
#: block-circulant detection tries up to this many equal diagonal blocks (species on one grid)
MAX_BLOCKS = 8


@dataclass(frozen=True)
class Structure:
    """``label`` (one of :data:`STRUCTURES`), bandwidths ``(kl, ku)``, and for diagonal and
    circulant matrices the exact ``eigenvalues`` (``first_column`` for a circulant)."""

    label: str
    bandwidths: tuple
    eigenvalues: np.ndarray | None = None
    first_column: np.ndarray | None = None


def bandwidths(L) -> tuple:
    """``(kl, ku)``: the largest ``i - j`` and ``j - i`` over the nonzeros ``L[i, j]``.

    >>> import scipy.sparse as sps
    >>> bandwidths(sps.diags([1.0, 2.0, 3.0], [-2, 0, 1], shape=(5, 5)))
    (2, 1)
    """
    coo = sps.coo_matrix(L)
    if coo.nnz == 0:
        return 0, 0
    d = coo.row.astype(np.int64) - coo.col.astype(np.int64)
    return int(max(d.max(), 0)), int(max(-d.min(), 0))


def circulant_column(L) -> np.ndarray | None:
    """The first column ``c`` if ``L`` is circulant (``L[i, j] = c[(i - j) mod n]``), else None.

    >>> import numpy as np, scipy.sparse as sps
    >>> circulant_column(sps.csc_matrix(np.array([[1., 2, 3], [3, 1, 2], [2, 3, 1]]))).tolist()
    [1.0, 3.0, 2.0]
    """
    coo = sps.coo_matrix(L)
    n = coo.shape[0]
    coo.sum_duplicates()
    if coo.nnz == 0 or coo.nnz % n:
        return None
    offset = (coo.row.astype(np.int64) - coo.col.astype(np.int64)) % n  # c index of each entry
    order = np.lexsort((coo.row, offset))
    offset, rows, vals = offset[order], coo.row[order], coo.data[order]
    k = coo.nnz // n  # number of nonzero diagonals: each must hold all n rows
    offs = offset.reshape(k, n)
    if not (offs == offs[:, :1]).all() or not (rows.reshape(k, n) == np.arange(n)).all():
        return None
    v = vals.reshape(k, n)
    scale = np.abs(v).max()
    if not np.all(np.abs(v - v[:, :1]) <= CIRCULANT_RTOL * scale):
        return None
    c = np.zeros(n)
    c[offs[:, 0]] = v[:, 0]
    return c


def block_circulant_columns(L) -> np.ndarray | None:
    """``C`` of shape ``(b, m)`` if ``L = blockdiag(C_1, ..., C_b)`` with ``b`` (2 to
    :data:`MAX_BLOCKS`) equal circulant blocks, ``C[k]`` the first column of block ``k``; else
    None.  Reaction--diffusion systems on a periodic grid (Gray--Scott: ``u1..uN, v1..vN``) have
    this form: each species' Laplacian is a circulant block.

    >>> import scipy.sparse as sps
    >>> lap = sps.diags([1.0, -2.0, 1.0, 1.0, 1.0], [-1, 0, 1, 3, -3], shape=(4, 4))
    >>> block_circulant_columns(sps.block_diag([lap, 2 * lap])).tolist()
    [[-2.0, 1.0, 0.0, 1.0], [-4.0, 2.0, 0.0, 2.0]]
    """
    L = sps.csc_matrix(L)
    n = L.shape[0]
    coo = L.tocoo()
    for b in range(2, MAX_BLOCKS + 1):
        if n % b or n // b < 3:
            continue
        m = n // b
        if np.any(coo.row // m != coo.col // m):
            continue
        cols = []
        for k in range(b):
            block = L[k * m:(k + 1) * m, k * m:(k + 1) * m]
            c = np.zeros(m) if block.nnz == 0 else circulant_column(block)
            if c is None:
                break
            cols.append(c)
        else:
            return np.array(cols)
    return None


def classify(L) -> Structure:
    """The :class:`Structure` of a square sparse matrix (see the module docstring).

    >>> import scipy.sparse as sps
    >>> classify(sps.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(20, 20))).label
    'banded'
    """
    L = sps.csc_matrix(L)
    n = L.shape[0]
    kl, ku = bandwidths(L)
    if kl == 0 and ku == 0:
        return Structure("diagonal", (0, 0), L.diagonal().astype(float))
    c = circulant_column(L) if n >= 3 else None
    if c is not None:
        return Structure("circulant", (kl, ku), np.fft.fft(c), c)
    C = block_circulant_columns(L)
    if C is not None:
        return Structure("block_circulant", (kl, ku), np.concatenate([np.fft.fft(c) for c in C]), C)
    if L.nnz >= DENSE_FRACTION * n * n:
        return Structure("dense", (kl, ku))
    if kl + ku + 1 <= BANDED_FRACTION * n:
        return Structure("banded", (kl, ku))
    return Structure("sparse", (kl, ku))
