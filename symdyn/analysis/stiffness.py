"""Eigenvalue estimates and the operational definition of stiffness.

**Stiffness, as symdyn measures it**, over a time span ``T`` at tolerance ``rtol``, from the
eigenvalues ``lambda`` of the Jacobian at a state:

- ``decay`` = max ``|lambda|`` over ``Re lambda < 0``: the fastest decaying mode.  It bounds
  an explicit method's step, ``h <= EXPLICIT_STABILITY / decay``, for the whole span.
- ``rate`` = the rate the solution must be *resolved* at, the largest contribution of a mode:
  ``|lambda|`` for a mode that does not decay (growth, oscillation), and
  ``|lambda| min(1, ln(1/rtol) / (|Re lambda| T))`` for a decaying one — it needs resolving
  only while it is above the tolerance, a fraction ``ln(1/rtol) / (|Re lambda| T)`` of the
  span; at least ``1/T``.
- the **stiffness ratio** ``decay / rate``.

An explicit method of order ``p = EXPLICIT_ORDER`` takes steps ``h ~ ACCURACY_STEP *
rtol**(1/p) / rate`` for accuracy and ``h <= EXPLICIT_STABILITY / decay`` for stability, so
stability, not accuracy, sets its step when

    stiffness ratio > stiffness_threshold(rtol) = EXPLICIT_STABILITY / ACCURACY_STEP * rtol**(-1/p)

(37 at ``rtol = 1e-6``, 9.3 at ``1e-3``, 233 at ``1e-10``): that is what ``stiff`` means.
The constants are Tsit5's, measured: ``h * decay = 3.5`` where its steps are limited by
stability (Kuramoto--Sivashinsky, Allen--Cahn, Burgers, Brusselator), and ``h * rate /
rtol**(1/5)`` between 1.5 (Kuramoto--Sivashinsky at rtol 1e-7..1e-9) and 10 (Lorenz 4.2,
Lotka--Volterra 5.6, Kepler 9.6) where accuracy limits them; the smallest is taken, so a
problem is called stiff only when stability limits the step for all of them.  A
damped oscillator followed over many periods is not stiff (its mode stays active), a fast
transient that dies out early is.  Eigenvalues are exact (dense, ``numpy.linalg.eigvals``)
up to :data:`DENSE_EIG_MAX` states.  Beyond, the :data:`ARNOLDI_K` eigenvalues of largest
magnitude come from ARPACK (``scipy.sparse.linalg.eigs``, relative accuracy
:data:`ARNOLDI_TOL`, a seeded start vector; milliseconds for ``10^4`` states): ``radius`` is
theirs, ``decay`` the largest ``|lambda|`` among them with ``Re lambda < -ARNOLDI_REAL *
|lambda|`` (a decaying mode smaller than the dominant undamped ones is missed); Gershgorin
bounds (``O(nnz)``) are the fallback when ARPACK does not converge.  Without all the
eigenvalues, ``rate`` is ``max(1/T, min(decay, ln(1/rtol)/T), ||f(u0)|| / ||u0||)``, the
last being the relative rate of change of the solution at the initial state.

Example
-------
>>> import numpy as np
>>> s = spectrum(np.array([[-1000.0, 0.0], [0.0, -1.0]]))
>>> s.decay, round(s.rate(span=100.0, rtol=1e-6), 3), round(stiffness_threshold(1e-6), 1)
(1000.0, 0.138, 37.0)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sps

#: dense eigenvalues up to this many states; bounds beyond
DENSE_EIG_MAX = 200
#: eigenvalues with |lambda| (or |Re lambda|) below this fraction of the spectral radius count as zero
SPECTRAL_TOL = 1e-9
#: spectral radii alone (of J_N, of dF/dq) by dense eigenvalues up to this size, by ARPACK beyond
RADIUS_DENSE_MAX = 64
#: eigenvalues of largest magnitude computed by ARPACK for large matrices
ARNOLDI_K = 6
#: their relative accuracy
ARNOLDI_TOL = 1e-3
#: ARPACK restarts at most this often (clustered spectra of equal magnitude may never converge:
#: then whatever converged, or Gershgorin)
ARNOLDI_MAXITER = 100
#: ... and a mode counts as decaying when Re lambda < -ARNOLDI_REAL |lambda| (above their accuracy)
ARNOLDI_REAL = 1e-2
#: h * |lambda| at which the explicit yardstick method (Tsit5) becomes unstable, measured
EXPLICIT_STABILITY = 3.5
#: h * rate / rtol**(1/order) of its accuracy-limited steps (the smallest measured, see above)
ACCURACY_STEP = 1.5
#: the order of that method
EXPLICIT_ORDER = 5


def stiffness_threshold(rtol: float) -> float:
    """The stiffness ratio above which stability, not accuracy, limits an explicit step.

    >>> round(stiffness_threshold(1e-3), 1)
    9.3
    """
    return EXPLICIT_STABILITY / ACCURACY_STEP * rtol ** (-1.0 / EXPLICIT_ORDER)


@dataclass(frozen=True)
class Spectrum:
    """What the eigenvalues of one matrix say (see the module docstring).

    ``radius``: max ``|lambda|``; ``decay``: max ``|lambda|`` over ``Re lambda < 0``;
    ``growth``: max ``Re lambda`` (0 if none is positive; for ``method != "dense"`` only among
    the eigenvalues found); ``method``: ``"dense"`` (all eigenvalues, ``exact``), ``"arnoldi"``
    (the few of largest magnitude) or ``"gershgorin"`` (bounds); ``eigenvalues``: those computed.
    """

    radius: float
    decay: float
    growth: float
    method: str
    eigenvalues: np.ndarray | None = field(default=None, repr=False)

    @property
    def exact(self) -> bool:
        return self.method == "dense"

    def rate(self, span: float, rtol: float, solution_rate: float = 0.0) -> float:
        """The rate the solution must be resolved at over ``span`` (see the module docstring);
        ``solution_rate`` (``||f|| / ||u||``) is used when not all eigenvalues are known.

        >>> round(from_eigenvalues([-100.0, 0.5j, -0.5j]).rate(span=10.0, rtol=1e-6), 6)  # ln(1e6)/10
        1.381551
        """
        floor = 1.0 / span
        if not self.exact:
            return max(floor, min(self.decay, math.log(1.0 / rtol) / span), solution_rate)
        lam = self.eigenvalues
        mag = np.abs(lam)
        tol = SPECTRAL_TOL * self.radius
        active = mag > tol
        if not active.any():
            return floor
        lam, mag = lam[active], mag[active]
        decaying = lam.real < -tol
        with np.errstate(divide="ignore"):
            share = np.minimum(1.0, math.log(1.0 / rtol) / (np.abs(lam.real) * span))
        contrib = np.where(decaying, mag * share, mag)
        return max(floor, float(contrib.max()))


def from_eigenvalues(lam, method: str = "dense", real_tol: float = SPECTRAL_TOL) -> Spectrum:
    """A :class:`Spectrum` from eigenvalues (all of them for ``method="dense"``).

    >>> from_eigenvalues([-4.0, -1.0, 0.5 + 2j])
    Spectrum(radius=4.0, decay=4.0, growth=0.5, method='dense')
    """
    lam = np.asarray(lam)
    if lam.size == 0:
        return Spectrum(0.0, 0.0, 0.0, method, lam)
    mag = np.abs(lam)
    radius = float(mag.max())
    neg = lam.real < -np.maximum(real_tol * mag, SPECTRAL_TOL * radius)
    decay = float(mag[neg].max()) if neg.any() else 0.0
    growth = float(max(lam.real.max(), 0.0))
    growth = growth if growth > SPECTRAL_TOL * radius else 0.0
    return Spectrum(radius, decay, growth, method, lam)


def gershgorin(J) -> Spectrum:
    """Bounds from Gershgorin's discs (rows and columns; ``O(nnz)``): ``radius``, ``decay``
    and ``growth`` are upper bounds.

    >>> import scipy.sparse as sps
    >>> g = gershgorin(sps.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(50, 50)))
    >>> g.radius, g.decay, g.growth
    (4.0, 4.0, 0.0)
    """
    J = sps.csr_matrix(J)
    d = J.diagonal()
    absJ = abs(J)
    r_rows = np.asarray(absJ.sum(axis=1)).ravel() - np.abs(d)
    r_cols = np.asarray(absJ.sum(axis=0)).ravel() - np.abs(d)
    best = None
    for r in (r_rows, r_cols):
        radius = float(np.max(np.abs(d) + r)) if len(d) else 0.0
        left = d - r < 0
        decay = float(np.max((np.abs(d) + r)[left])) if left.any() else 0.0
        growth = float(max(np.max(d + r), 0.0)) if len(d) else 0.0
        cand = (radius, decay, growth)
        best = cand if best is None else tuple(min(a, b) for a, b in zip(best, cand))
    return Spectrum(best[0], best[1], best[2], "gershgorin")


def arnoldi(J, k: int = ARNOLDI_K, seed: int = 0) -> Spectrum | None:
    """The ``k`` eigenvalues of largest magnitude by ARPACK (None if it finds none).

    >>> import scipy.sparse as sps
    >>> s = arnoldi(sps.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(1000, 1000), format="csr"))
    >>> s.method, round(s.radius, 2), round(s.decay, 2)
    ('arnoldi', 4.0, 4.0)
    """
    import scipy.sparse.linalg as spla  # ARPACK: loaded on first use (0.1 s)

    n = J.shape[0]
    k = min(k, n - 2)
    if k < 1:
        return None
    v0 = np.random.default_rng(seed).uniform(0.5, 1.5, n)
    try:
        lam = spla.eigs(J, k=k, which="LM", tol=ARNOLDI_TOL, maxiter=ARNOLDI_MAXITER, v0=v0,
                        return_eigenvectors=False)
    except spla.ArpackNoConvergence as exc:
        lam = exc.eigenvalues
    except (spla.ArpackError, ValueError):
        return None
    if lam is None or len(lam) == 0:
        return None
    return from_eigenvalues(lam, "arnoldi", ARNOLDI_REAL)


def spectrum(J, exact_max: int = DENSE_EIG_MAX, seed: int = 0) -> Spectrum:
    """All eigenvalues for ``n <= exact_max``; beyond, ARPACK's dominant ones (Gershgorin
    bounds if it fails).  ``J`` may be a dense array or a scipy.sparse matrix.

    >>> import numpy as np
    >>> spectrum(np.array([[0.0, 1.0], [-1.0, 0.0]])).growth
    0.0
    """
    n = J.shape[0]
    if n <= exact_max:
        dense = J.toarray() if sps.issparse(J) else np.asarray(J)
        return from_eigenvalues(np.linalg.eigvals(dense))
    J = sps.csr_matrix(J)
    if J.nnz == 0:
        return Spectrum(0.0, 0.0, 0.0, "gershgorin")
    return arnoldi(J, seed=seed) or gershgorin(J)


def spectral_radius(M, seed: int = 0) -> float:
    """``max |lambda|`` of ``M``: dense eigenvalues up to :data:`RADIUS_DENSE_MAX` states,
    ARPACK beyond (Gershgorin bound if it fails).

    >>> import numpy as np
    >>> round(spectral_radius(np.array([[0.0, 2.0], [-2.0, 0.0]])), 12)
    2.0
    """
    n = M.shape[0]
    if n <= RADIUS_DENSE_MAX:
        dense = M.toarray() if sps.issparse(M) else np.asarray(M)
        return float(np.abs(np.linalg.eigvals(dense)).max()) if n else 0.0
    M = sps.csr_matrix(M)
    if M.nnz == 0:
        return 0.0
    found = arnoldi(M, seed=seed)
    return found.radius if found is not None else gershgorin(M).radius
