"""Sparse regression: which few columns of a library ``Theta`` explain ``y``.

Two solvers share one convention, and :func:`fit_sparse` chooses the sparsity level.

**Scaling.** Every solver works on the *scaled* problem: each column of ``Theta`` divided
by its Euclidean norm and ``y`` divided by its norm.  A scaled coefficient

    xi_j = c_j * ||Theta[:, j]|| / ||y||

is the share of ``y``'s norm that term ``j`` carries, a dimensionless number that does
not depend on the units of the state or on how large a monomial happens to be (``x**3``
of a state near 20 is 8000, ``x`` itself 20).  Thresholds always apply to ``|xi_j|``, so a
badly scaled but important term survives; coefficients are always *returned* in the
units of the unscaled problem, refitted by least squares on the chosen support (no
shrinkage bias).

- :func:`stlsq`: sequentially thresholded least squares (Brunton, Proctor & Kutz, PNAS 113
  (2016) 3932), optionally with a ridge term.
- :func:`sr3`: sparse relaxed regularised regression with the l0 penalty (Zheng, Askham,
  Brunton, Kutz & Aravkin, IEEE Access 7 (2019) 1404), followed by a least-squares refit.
- :func:`fit_sparse`: candidate supports per column of ``Y`` (the solver's whole threshold
  path, backward elimination, forward selection), one chosen automatically by a fixed
  rule -- ``"knee"`` without a noise model, ``"significance"`` with one (see
  :data:`SELECTION_RULES`) -- and polished by a local search of single-term moves; never a
  per-system knob.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> Theta = rng.normal(size=(200, 6)) * [1, 10, 100, 1e-3, 1, 1]
>>> y = 2.0 * Theta[:, 1] - 500.0 * Theta[:, 3]          # a small column, a large coefficient
>>> fit = fit_sparse(Theta, y)
>>> np.flatnonzero(fit.active[:, 0]).tolist()
[1, 3]
>>> np.allclose(fit.coef[[1, 3], 0], [2.0, -500.0])
True
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import errors
from ..analysis._blas import single_thread

#: the rule :func:`fit_sparse` uses when ``selection="auto"`` and no noise covariance is given
DEFAULT_SELECTION = "knee"

#: "knee": a larger model is chosen only if each extra term cuts the relative residual by
#: at least this factor (log-residual + KNEE_PENALTY * terms is minimised)
KNEE_PENALTY = math.log(1.1)

#: "knee": relative residuals below this are all "exact" (clean data: what is left is
#: derivative round-off and truncation, which spurious terms must not be rewarded for fitting)
ERROR_FLOOR = 1e-6

#: local search: at most this many single-term moves (drop, add, swap) per library term
LOCAL_SEARCH_ROUNDS = 2

#: "cv": number of contiguous folds
CV_FOLDS = 5

#: "significance": a coefficient must be this many standard errors from zero
SIGNIFICANCE = 5.0

#: the selection rules :func:`fit_sparse` knows
SELECTION_RULES = ("knee", "significance", "aicc", "bic", "cv")


# --- helpers ---------------------------------------------------------------------------------
def _as_2d(y, name):
    y = np.asarray(y, dtype=float)
    if y.ndim == 1:
        return y[:, None], True
    if y.ndim != 2:
        raise errors.DiscoveryArgumentError(name, y.shape, "must be a 1-d or 2-d array")
    return y, False


def _check_system(Theta, Y):
    Theta = np.asarray(Theta, dtype=float)
    if Theta.ndim != 2:
        raise errors.DiscoveryArgumentError("Theta", Theta.shape, "must be a 2-d array (samples, terms)")
    Y, was_1d = _as_2d(Y, "y")
    if Y.shape[0] != Theta.shape[0]:
        raise errors.DiscoveryArgumentError(
            "y", Y.shape, f"must have one row per row of Theta ({Theta.shape[0]} rows)")
    for name, arr in (("Theta", Theta), ("y", Y)):
        if not np.all(np.isfinite(arr)):
            bad = np.argwhere(~np.isfinite(arr))[0]
            raise errors.NonFiniteDataError(name, tuple(int(i) for i in bad))
    return Theta, Y, was_1d


def column_norms(Theta: np.ndarray) -> np.ndarray:
    """Euclidean norm of each column; a zero column gets norm 1 (and can never be chosen)."""
    norms = np.linalg.norm(Theta, axis=0)
    return np.where(norms > 0, norms, 1.0)


def _lstsq(A, y, alpha=0.0):
    """Least squares (ridge when ``alpha > 0``) on the columns of ``A``; QR-accurate for clean data."""
    if A.shape[1] == 0:
        return np.zeros((0,) + y.shape[1:])
    if alpha > 0:
        A = np.vstack([A, math.sqrt(alpha) * np.eye(A.shape[1])])
        y = np.concatenate([y, np.zeros((A.shape[1],) + y.shape[1:])])
    return np.linalg.lstsq(A, y, rcond=None)[0]


def _stlsq_scaled(A, b, threshold, alpha, max_iter, support=None):
    """STLSQ on a scaled problem (unit-norm columns, unit-norm ``b``); returns scaled coefficients."""
    p = A.shape[1]
    active = np.ones(p, dtype=bool) if support is None else support.copy()
    xi = np.zeros(p)
    for _ in range(max(1, int(max_iter))):
        xi = np.zeros(p)
        xi[active] = _lstsq(A[:, active], b, alpha)
        new = active & (np.abs(xi) >= threshold)
        if np.array_equal(new, active):
            break
        active = new
    xi[~active] = 0.0
    if alpha > 0 and active.any():  # debias: the returned coefficients are a plain refit
        xi[active] = _lstsq(A[:, active], b)
    return xi


# --- the solvers -------------------------------------------------------------------------------
def stlsq(Theta, y, threshold: float, alpha: float = 0.0, max_iter: int = 20) -> np.ndarray:
    """Sequentially thresholded least squares (Brunton, Proctor & Kutz 2016).

    Fits ``y ~ Theta @ coef``, repeatedly dropping every term whose *scaled* coefficient
    ``|coef_j| * ||Theta[:, j]|| / ||y||`` is below ``threshold`` and refitting the rest,
    until the support stops changing (at most ``max_iter`` rounds).  ``alpha > 0`` adds a
    ridge penalty (on the scaled problem) while thresholding; the returned coefficients
    are a plain least-squares refit on the final support, in unscaled units.

    ``y`` of shape ``(m,)`` gives ``coef`` of shape ``(p,)``; ``(m, k)`` gives ``(p, k)``
    (each column fitted on its own).

    >>> import numpy as np
    >>> Theta = np.column_stack([np.ones(50), np.linspace(0, 1, 50), np.linspace(0, 1, 50) ** 2])
    >>> y = 3.0 * Theta[:, 1] + 1e-9 * Theta[:, 2]
    >>> stlsq(Theta, y, threshold=1e-3).round(6).tolist()
    [0.0, 3.0, 0.0]
    """
    return _fit_columns(Theta, y, lambda R, c: _stlsq_scaled(R, c, threshold, alpha, max_iter))


def _fit_columns(Theta, y, solve):
    """``solve(R, c)`` (a scaled-system solver) for each column of ``y``, unscaled: the coefficients."""
    Theta, Y, was_1d = _check_system(Theta, y)
    s = column_norms(Theta)
    A = Theta / s
    coef = np.zeros((Theta.shape[1], Y.shape[1]))
    for k in range(Y.shape[1]):
        ny = np.linalg.norm(Y[:, k])
        if ny == 0:
            continue
        R, c, _ = _reduce(A, Y[:, k] / ny)
        coef[:, k] = solve(R, c) * ny / s
    return coef[:, 0] if was_1d else coef


def _sr3_scaled(A, b, threshold, nu, max_iter, tol, w0=None):
    """SR3 with the l0 penalty on a scaled problem; returns scaled, refitted coefficients."""
    p = A.shape[1]
    # xi-update: (A^T A + I/nu) xi = A^T b + w/nu, factored once (Cholesky)
    H = A.T @ A + np.eye(p) / nu
    L = np.linalg.cholesky(H)
    Atb = A.T @ b
    w = np.zeros(p) if w0 is None else w0.copy()
    if w0 is None:
        w = _lstsq(A, b)
        w[np.abs(w) < threshold] = 0.0
    for _ in range(max(1, int(max_iter))):
        rhs = Atb + w / nu
        xi = np.linalg.solve(L.T, np.linalg.solve(L, rhs))
        # prox of lambda*||w||_0 with weight 1/(2 nu): hard threshold at sqrt(2 lambda nu);
        # lambda is set so that this level equals `threshold`
        w_new = np.where(np.abs(xi) >= threshold, xi, 0.0)
        change = np.linalg.norm(w_new - w) / max(np.linalg.norm(w_new), 1e-300)
        w = w_new
        if change < tol:
            break
    active = w != 0
    out = np.zeros(p)
    out[active] = _lstsq(A[:, active], b)
    return out


def sr3(Theta, y, threshold: float, nu: float = 1.0, max_iter: int = 100, tol: float = 1e-8) -> np.ndarray:
    """Sparse relaxed regularised regression, l0 penalty (Zheng et al., IEEE Access 2019).

    Minimises ``0.5 ||y - A xi||^2 + lambda ||w||_0 + ||xi - w||^2 / (2 nu)`` on the scaled
    problem (unit-norm columns and ``y``) by alternating the exact ``xi``-update with the
    proximal step of the l0 penalty, a hard threshold of ``w`` at ``sqrt(2 lambda nu)``;
    ``lambda`` is chosen so that this level is ``threshold``, the same scaled-coefficient
    threshold as :func:`stlsq`.  Stops when ``w`` changes by less than ``tol`` (relative)
    or after ``max_iter`` rounds; the returned coefficients are a least-squares refit on
    the support of ``w``, in unscaled units.

    >>> import numpy as np
    >>> Theta = np.column_stack([np.ones(50), np.linspace(0, 1, 50), np.linspace(0, 1, 50) ** 2])
    >>> sr3(Theta, 3.0 * Theta[:, 1] - 0.5 * Theta[:, 2], threshold=1e-3).round(12).tolist()
    [0.0, 3.0, -0.5]
    """
    if not nu > 0:
        raise errors.DiscoveryArgumentError("nu", nu, "must be positive")
    return _fit_columns(Theta, y, lambda R, c: _sr3_scaled(R, c, threshold, nu, max_iter, tol))


# --- the path and its selection ----------------------------------------------------------------
@dataclass
class SparseFit:
    """The result of :func:`fit_sparse`.

    - ``coef``: ``(p, k)`` coefficients in the units of the unscaled problem;
    - ``active``: ``(p, k)`` bool, the chosen terms;
    - ``path``: one list per column of ``Y`` of ``(threshold, n_terms, error)`` along the
      threshold path, sparsest last; ``error`` is the relative residual
      ``||y - Theta c|| / ||y||`` of the refitted model at that point;
    - ``chosen``: one index per column into its ``path``;
    - ``criterion``: the selection rule used (see :data:`SELECTION_RULES`);
    - ``reasons``: sentences saying what was chosen and why;
    - ``names``: the term names (if given), ``errors``: the chosen relative residual per column;
    - ``tstats``: ``(p, k)`` ``|coefficient| / standard error`` of the chosen terms (NaN elsewhere,
      and everywhere without a noise covariance).
    """

    coef: np.ndarray
    active: np.ndarray
    path: list
    chosen: list
    criterion: str
    reasons: list = field(default_factory=list)
    names: list | None = None
    errors: np.ndarray | None = None
    tstats: np.ndarray | None = None

    def terms(self, column: int = 0) -> list:
        """Names (or indices) of the chosen terms of one column."""
        idx = np.flatnonzero(self.active[:, column]).tolist()
        return [self.names[i] for i in idx] if self.names is not None else idx


def _path_supports(A, b, method, alpha, max_iter, cov=None):
    """Candidate supports: the solver's threshold path, backward elimination, forward selection.

    ``A`` has unit-norm columns (or is the ``R`` of their QR factorisation, ``b`` then being
    ``Q^T b``).  The threshold path starts from the full least-squares fit; the next
    threshold is set just above the smallest active scaled coefficient, so each step
    removes at least one term (at most ``p`` solver runs).  Thresholding can jump over
    sparsity levels when terms are nearly collinear (``rho x - x z`` in Lorenz), so backward
    elimination -- drop the smallest scaled coefficient, refit, repeat -- and forward
    selection -- add the term that cuts the residual most -- add one support of every size.
    With a noise covariance ``cov`` (see :func:`_tstats`) a second elimination drops the
    least significant term (smallest ``|t|``).  Returns ``[(threshold, support)]`` with
    distinct supports, largest first; the threshold is that of the solver path, the scaled
    coefficient at which an elimination dropped the last term, or NaN (forward selection).
    """
    p = A.shape[1]
    support = np.ones(p, dtype=bool)
    threshold = 0.0
    out = []
    for _ in range(4 * p + 8):  # each step normally removes a term; SR3's relaxed variable may not
        if method == "stlsq":
            xi = _stlsq_scaled(A, b, threshold, alpha, max_iter, support)
        else:
            xi = _sr3_scaled(A, b, threshold, 1.0, max(max_iter, 100), 1e-8)
        new = xi != 0
        if not new.any():
            break
        if out and np.array_equal(new, out[-1][1]):  # no progress: raise the threshold geometrically
            threshold *= 1.5
            continue
        out.append((threshold, new.copy()))
        support = new
        threshold = float(np.min(np.abs(xi[new]))) * (1 + 1e-9)
    support = np.ones(p, dtype=bool)
    dropped_at = 0.0
    while support.any():
        out.append((dropped_at, support.copy()))
        xi = np.zeros(p)
        xi[support] = _lstsq(A[:, support], b, alpha)
        k = int(np.flatnonzero(support)[np.argmin(np.abs(xi[support]))])
        dropped_at = float(abs(xi[k])) * (1 + 1e-9)
        support[k] = False
    support = np.zeros(p, dtype=bool)
    G, g, total = A.T @ A, A.T @ b, float(b @ b)
    for _ in range(min(p, A.shape[0])):  # forward selection: add the term that cuts the residual most
        best_k, best_r = -1, np.inf
        for k in np.flatnonzero(~support):
            support[k] = True
            r = _gram_error(G, g, total, support)
            support[k] = False
            if r < best_r:
                best_k, best_r = k, r
        support[best_k] = True
        out.append((float("nan"), support.copy()))
    if cov is not None:
        support = np.ones(p, dtype=bool)
        while support.any():
            out.append((0.0, support.copy()))
            xi, tvals = _tstats(A, b, cov, support)
            idx = np.flatnonzero(support)
            support[idx[np.argmin(tvals[idx])]] = False
    out.append((max(threshold, dropped_at), np.zeros(p, dtype=bool)))
    seen, path = set(), []
    for th, sup in out:
        key = sup.tobytes()
        if key not in seen:
            seen.add(key)
            path.append((th, sup))
    path.sort(key=lambda item: -int(item[1].sum()))
    return path


def _reduce(A, b):
    """``(R, c, rest)`` with ``||b - A x||^2 = ||c - R x||^2 + rest`` for every ``x`` (economic QR).

    Every least-squares fit along a path then costs ``O(p^3)`` instead of ``O(m p^2)``.
    """
    if A.shape[0] <= A.shape[1]:
        return A, b, 0.0
    Q, R = np.linalg.qr(A)
    c = Q.T @ b
    rest = max(float(b @ b) - float(c @ c), 0.0)
    return R, c, rest


def _gram_error(G, g, total, support):
    """Relative residual of the least-squares fit on ``support`` from the Gram matrix ``G = A^T A``,
    ``g = A^T b`` and ``total = ||b||^2``: ``O(k^3)`` with no ``m``; accurate to about 1e-8
    relative (the subtraction), which is all the searches that use it need."""
    if not support.any():
        return math.sqrt(max(total, 0.0))
    GS = G[np.ix_(support, support)]
    gS = g[support]
    try:
        xi = np.linalg.solve(GS, gS)
    except np.linalg.LinAlgError:
        xi = np.linalg.lstsq(GS, gS, rcond=None)[0]
    return math.sqrt(max(total - float(gS @ xi), 0.0))


def _refit_error(R, c, rest, support):
    xi = np.zeros(R.shape[1])
    if support.any():
        xi[support] = _lstsq(R[:, support], c)
    r = c - R @ xi
    return xi, math.sqrt(float(r @ r) + rest)


def _tstats(R, c, cov, support):
    """Least-squares coefficients on ``support`` and their ``|t| = |xi| / sd``.

    ``cov`` is ``Cov(A^T e)`` for the noise ``e`` of the (scaled) right-hand side, so the
    coefficients' covariance is the sandwich ``G^-1 cov_SS G^-1`` with ``G = A_S^T A_S =
    R_S^T R_S`` -- correct for rows whose noise is correlated (overlapping test functions).
    """
    p = R.shape[1]
    xi = np.zeros(p)
    t = np.full(p, np.inf)
    if not support.any():
        return xi, t
    RS = R[:, support]
    xi[support] = _lstsq(RS, c)
    Ginv = np.linalg.pinv(RS.T @ RS)
    cov_xi = Ginv @ cov[np.ix_(support, support)] @ Ginv
    sd = np.sqrt(np.maximum(np.diag(cov_xi), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        t[support] = np.where(sd > 0, np.abs(xi[support]) / sd, np.inf)
    return xi, t


def _cv_error(A, b, support, folds):
    """Relative residual over contiguous held-out blocks (each fitted on the other blocks)."""
    m = A.shape[0]
    edges = np.linspace(0, m, folds + 1).astype(int)
    sq, tot = 0.0, 0.0
    for i in range(folds):
        test = np.zeros(m, dtype=bool)
        test[edges[i]:edges[i + 1]] = True
        xi = np.zeros(A.shape[1])
        if support.any():
            xi[support] = _lstsq(A[~test][:, support], b[~test])
        sq += float(np.sum((b[test] - A[test] @ xi) ** 2))
        tot += float(np.sum(b[test] ** 2))
    return math.sqrt(sq / tot) if tot > 0 else 0.0


def _scores(rule, errs, n, m, min_t=None, unit=None):
    """The criterion of ``rule`` for each candidate (lower is better; inf = not admissible)."""
    errs = np.asarray(errs, dtype=float)
    n = np.asarray(n, dtype=float)
    if rule in ("significance", "significance_free"):
        score = errs ** 2 / unit + SIGNIFICANCE ** 2 * n
        if rule == "significance_free":
            return score
        return np.where(np.asarray(min_t, dtype=float) >= SIGNIFICANCE, score, np.inf)
    if rule == "knee":
        return np.log(np.maximum(errs, ERROR_FLOOR)) + KNEE_PENALTY * n
    rss = np.maximum(errs, 1e-300) ** 2
    if rule == "aicc":
        return m * np.log(rss / m) + 2 * n + 2 * n * (n + 1) / np.maximum(m - n - 1, 1.0)
    if rule == "bic":
        return m * np.log(rss / m) + n * math.log(m)
    raise errors.DiscoveryArgumentError("selection", rule, f"must be 'auto' or one of {SELECTION_RULES}")


_WHY = {
    "significance": lambda: (f"among the models whose every coefficient is at least {SIGNIFICANCE:g} standard "
                             f"errors (propagated noise) from zero, it minimises RSS / noise unit + "
                             f"{SIGNIFICANCE ** 2:g} x terms"),
    "knee": lambda: (f"it minimises log(relative residual, floored at {ERROR_FLOOR:g}) + {KNEE_PENALTY:.3f} x "
                     f"terms: each extra term must cut the residual by "
                     f"{100 * (1 - math.exp(-KNEE_PENALTY)):.0f}% or more"),
    "aicc": lambda: "it minimises AICc = m log(RSS/m) + 2k + 2k(k+1)/(m-k-1)",
    "bic": lambda: "it minimises BIC = m log(RSS/m) + k log m",
}


def _select(errs, n_terms, m, rule, cv_errs=None, min_t=None, unit=None):
    """Index of the chosen point and the sentence saying why."""
    n = np.asarray(n_terms, dtype=float)
    if rule == "cv":
        cv = np.asarray(cv_errs, dtype=float)
        best = float(np.min(cv))
        ok = np.flatnonzero(cv <= best * 1.05 + ERROR_FLOOR)
        k = int(ok[np.argmin(n[ok])])
        return k, (f"it is the sparsest model whose {CV_FOLDS}-fold held-out residual ({cv[k]:.3g}) is "
                   f"within 5% of the best ({best:.3g})")
    score = _scores(rule, errs, n, m, min_t, unit)
    if not np.any(np.isfinite(score)):
        return int(np.argmin(n)), f"no term is {SIGNIFICANCE:g} standard errors away from zero"
    return int(np.argmin(score)), _WHY[rule]()


def _evaluate(R, c, rest, cov, support):
    """(scaled coefficients, relative residual, smallest |t| or None) of the refit on ``support``."""
    xi, err = _refit_error(R, c, rest, support)
    if cov is None:
        return xi, err, None
    t = _tstats(R, c, cov, support)[1]
    return xi, err, (float(np.min(t[support])) if support.any() else np.inf)


def _local_search(R, c, rest, cov, support, rule, m, unit, max_rounds=None):
    """Improve ``support`` by single moves -- drop a term, add one, swap one for another -- while
    the criterion improves (best move first).  Paths are greedy; when terms are nearly collinear
    (``y`` and ``y z`` in Lorenz) a path can take the wrong one and never return, and a swap
    or two put it right.  The moves follow the criterion without the significance filter (a
    swap may pass through a model with one weak term on the way to a better one); the best
    admissible model met is returned, with the number of moves that led to it."""
    free_rule = "significance_free" if rule == "significance" else rule
    max_rounds = LOCAL_SEARCH_ROUNDS * R.shape[1] if max_rounds is None else max_rounds
    G, g, total = R.T @ R, R.T @ c, float(c @ c) + rest

    def free_score(sup):
        err = _gram_error(G, g, total, sup)
        return float(_scores(free_rule, [err], [int(sup.sum())], m, None, unit)[0])

    def admissible(sup):
        if rule != "significance" or not sup.any():
            return True
        return float(np.min(_tstats(R, c, cov, sup)[1][sup])) >= SIGNIFICANCE

    current = support.copy()
    current_score = free_score(current)
    best, best_score, best_moves = None, np.inf, 0
    if admissible(current):
        best, best_score = current.copy(), current_score
    for moves in range(1, max_rounds + 1):
        top, top_score = None, current_score - 1e-9 * max(1.0, abs(current_score))
        for cand in _moves(current):
            sc = free_score(cand)
            if sc < top_score:
                top, top_score = cand, sc
        if top is None:
            break
        current, current_score = top, top_score
        if current_score < best_score and admissible(current):
            best, best_score, best_moves = current.copy(), current_score, moves
    if best is None:
        return support.copy(), 0
    return best, best_moves


def _moves(support):
    """Every support one move from ``support``: a term dropped, a term added, or one swapped for another."""
    inside, outside = np.flatnonzero(support), np.flatnonzero(~support)
    for i in inside:
        cand = support.copy()
        cand[i] = False
        yield cand
    for j in outside:
        cand = support.copy()
        cand[j] = True
        yield cand
        for i in inside:
            swap = cand.copy()
            swap[i] = False
            yield swap


def _admissible_score(R, c, rest, cov, support, rule, m, unit):
    _, err, tmin = _evaluate(R, c, rest, cov, support)
    return float(_scores(rule, [err], [support.sum()], m, [tmin] if cov is not None else None, unit)[0])


def _improve(R, c, rest, cov, rule, m, unit, j, why, sup_path, errs, nts, fits, tvals, min_t):
    """Local search from the chosen candidate and from the empty model; the best result joins
    the candidates (and is chosen) if it beats the choice.  Returns ``(index, why)``."""
    p = R.shape[1]
    best_score = _admissible_score(R, c, rest, cov, fits[j] != 0, rule, m, unit)
    best, origin = None, None
    for start, label in ((fits[j] != 0, "the best candidate of the paths"), (np.zeros(p, dtype=bool),
                                                                            "the empty model")):
        cand, moves = _local_search(R, c, rest, cov, start, rule, m, unit)
        if not moves:
            continue
        sc = _admissible_score(R, c, rest, cov, cand, rule, m, unit)
        if sc < best_score - 1e-9 * max(1.0, abs(best_score)):
            best, best_score, origin = cand, sc, f"{moves} single-term moves from {label}"
    if best is None:
        return j, why
    xi, err, tmin = _evaluate(R, c, rest, cov, best)
    sup_path.append((float("nan"), best))
    errs.append(err)
    nts.append(int(best.sum()))
    fits.append(xi)
    if cov is not None:
        tvals.append(_tstats(R, c, cov, best)[1])
        min_t.append(tmin)
    return len(fits) - 1, why + f" (found by a local search: {origin})"


def relative_residual(Theta, y, coef) -> float:
    """``||y - Theta coef|| / ||y||`` (0 for ``y = 0``).

    >>> relative_residual(np.eye(2), np.array([3.0, 4.0]), np.array([3.0, 0.0]))
    0.8
    """
    ny = float(np.linalg.norm(y))
    return float(np.linalg.norm(y - Theta @ coef) / ny) if ny > 0 else 0.0


def fit_sparse(Theta, Y, names=None, *, method: str = "stlsq", selection: str = "auto", weights=None,
               alpha: float = 0.0, max_iter: int = 20, covariance=None, refine: bool = True) -> SparseFit:
    """Sparse regression of each column of ``Y`` on the library ``Theta``, sparsity chosen automatically.

    ``Theta`` is ``(m, p)`` (one column per candidate term), ``Y`` is ``(m, k)`` or ``(m,)``
    (one column per equation), ``names`` optional term names, ``weights`` optional
    non-negative row weights (rows are multiplied by ``sqrt(weights)``).

    For each column of ``Y`` the columns of ``Theta`` are scaled to unit norm (and ``y``
    too) and candidate supports are collected: the whole threshold path of ``method``
    (``"stlsq"`` or ``"sr3"``) -- from the full least-squares fit, each step raising the
    threshold just above the smallest surviving scaled coefficient -- and backward
    elimination (drop the smallest scaled coefficient, refit), so every sparsity level is
    visited.  Each support is refitted by least squares, and one is chosen by ``selection``:

    - ``"auto"``: ``"significance"`` when the noise ``covariance`` is known, else ``"knee"``;
    - ``"knee"``: minimise ``log(max(E, 1e-6)) + log(1.1) * n`` where ``E`` is the relative
      residual and ``n`` the number of terms.  A larger model wins only if each extra term
      cuts the residual by about 10% or more, a scale-free rule for data whose noise is
      unknown or negligible: on clean data the residual of the true model is derivative
      round-off and truncation (the floor stops spurious terms being rewarded for fitting it);
    - ``"significance"`` (needs ``covariance``): among the models whose every coefficient is
      at least ``T =`` :data:`SIGNIFICANCE` standard errors from zero (standard errors from
      the propagated noise, a sandwich covariance valid for correlated rows), the one
      minimising ``RSS / u + T^2 n`` (Mallows' Cp with the penalty that makes it agree with
      the t-test for an orthogonal term), ``u`` the median noise variance of a single
      column's projection.  Spurious terms are insignificant; a set of collinear terms
      that imitates one true term (on a closed orbit, as in Lotka-Volterra) must fit
      better by ``T^2`` noise units per extra term; a term that matters only where the
      data are small (the constant of Roessler's ``z``) is kept as long as the data
      determine it, however little it cuts the relative residual;
    - ``"aicc"``, ``"bic"``: information criteria, every row counted as independent (smoothed
      derivatives and overlapping test functions are not: they then over-fit);
    - ``"cv"``: the sparsest model within 5% of the best residual over ``5`` contiguous
      held-out blocks.

    With ``refine`` (the default) the chosen support is then improved by a local search of
    single-term moves (drop, add, swap), started from it and from the empty model, with the
    same criterion: greedy paths can take the wrong one of two nearly collinear terms.

    ``covariance``: ``(p, p)`` or one per column ``(k, p, p)``, the covariance of
    ``Theta_w^T e`` where ``Theta_w`` is ``Theta`` with rows weighted and ``e`` the (weighted)
    noise of the column of ``Y``.  If the full library leaves more residual than that noise
    explains (model error, quadrature, round-off dominate on nearly clean data), the
    covariance is scaled up to match the residual, never down.

    >>> import numpy as np
    >>> x = np.linspace(-2, 2, 100)
    >>> Theta = np.column_stack([np.ones_like(x), x, x**2, x**3])
    >>> fit = fit_sparse(Theta, np.column_stack([1 - x**3, 2 * x]), names=["1", "x", "x^2", "x^3"])
    >>> fit.terms(0), fit.terms(1)
    (['1', 'x^3'], ['x'])
    """
    with single_thread():  # tall-skinny QR and small solves: BLAS threads cost 100x on a busy machine
        return _fit_sparse(Theta, Y, names, method, selection, weights, alpha, max_iter, covariance, refine)


def _fit_sparse(Theta, Y, names, method, selection, weights, alpha, max_iter, covariance, refine):
    Theta, Y, _ = _check_system(Theta, Y)
    m, p = Theta.shape
    if names is not None:
        names = [str(nm) for nm in names]
        if len(names) != p:
            raise errors.DiscoveryArgumentError("names", len(names), f"must name each of the {p} columns of Theta")
    if method not in ("stlsq", "sr3"):
        raise errors.DiscoveryArgumentError("method", method, "must be 'stlsq' or 'sr3'")
    if selection == "auto":
        rule = "significance" if covariance is not None else DEFAULT_SELECTION
    else:
        rule = selection
    if rule not in SELECTION_RULES:
        raise errors.DiscoveryArgumentError("selection", selection, f"must be 'auto' or one of {SELECTION_RULES}")
    if rule == "significance" and covariance is None:
        raise errors.DiscoveryArgumentError("covariance", None, "is needed by selection='significance'")
    if covariance is not None:
        covariance = np.asarray(covariance, dtype=float)
        if covariance.shape == (p, p):
            covariance = np.broadcast_to(covariance, (Y.shape[1], p, p))
        if covariance.shape != (Y.shape[1], p, p) or not np.all(np.isfinite(covariance)):
            raise errors.DiscoveryArgumentError("covariance", covariance.shape,
                                                f"must be finite, of shape ({p}, {p}) or ({Y.shape[1]}, {p}, {p})")
    if weights is not None:
        weights = np.asarray(weights, dtype=float)
        if weights.shape != (m,) or np.any(~np.isfinite(weights)) or np.any(weights < 0):
            raise errors.DiscoveryArgumentError("weights", weights.shape,
                                                f"must be {m} finite non-negative numbers")
        sw = np.sqrt(weights)
        Theta = Theta * sw[:, None]
        Y = Y * sw[:, None]
    s = column_norms(Theta)
    A = Theta / s
    k_out = Y.shape[1]
    coef = np.zeros((p, k_out))
    active = np.zeros((p, k_out), dtype=bool)
    paths, chosen, reasons, errs_out = [], [], [], np.zeros(k_out)
    tstats = np.full((p, k_out), np.nan)
    for k in range(k_out):
        ny = float(np.linalg.norm(Y[:, k]))
        label = f"column {k}"
        if ny == 0:
            paths.append([(0.0, 0, 0.0)])
            chosen.append(0)
            reasons.append(f"{label}: y is identically zero, no terms")
            continue
        b = Y[:, k] / ny
        R, c, rest = _reduce(A, b)
        cov = None if covariance is None else covariance[k] / np.outer(s, s) / ny ** 2
        inflation = 1.0
        if cov is not None and m > p:
            # more residual than the stated noise explains (model error, quadrature, round-off):
            # trust the residual of the full library instead, never less than the stated noise
            full = np.ones(p, dtype=bool)
            rss_full = _refit_error(R, c, rest, full)[1] ** 2
            inflation = max(1.0, rss_full / float(np.median(np.diag(cov))) / (m - p))
            cov = cov * inflation
        sup_path = _path_supports(R, c, method, alpha, max_iter, cov)
        errs, nts, fits, min_t, tvals = [], [], [], [], []
        for th, sup in sup_path:
            xi, r = _refit_error(R, c, rest, sup)
            errs.append(r)
            nts.append(int(sup.sum()))
            fits.append(xi)
            if cov is not None:
                tv = _tstats(R, c, cov, sup)[1]
                tvals.append(tv)
                min_t.append(float(np.min(tv[sup])) if sup.any() else np.inf)
        cv = [_cv_error(A, b, sup, CV_FOLDS) for _, sup in sup_path] if rule == "cv" else None
        unit = float(np.median(np.diag(cov))) if cov is not None else None
        j, why = _select(errs, nts, m, rule, cv, min_t, unit)
        if refine and rule != "cv":
            j, why = _improve(R, c, rest, cov, rule, m, unit, j, why, sup_path, errs, nts, fits, tvals, min_t)
        coef[:, k] = fits[j] * ny / s
        active[:, k] = fits[j] != 0
        errs_out[k] = errs[j]
        if tvals:
            tstats[:, k] = np.where(active[:, k], tvals[j], np.nan)
        paths.append([(float(th), n, float(e)) for (th, _), n, e in zip(sup_path, nts, errs)])
        chosen.append(j)
        note = (f"; the residual is {inflation:.3g} times what the stated noise explains, so the "
                f"standard errors were scaled up to match it" if inflation > 1.5 else "")
        reasons.append(f"{label}: {nts[j]} of {p} terms (relative residual {errs[j]:.3g}; "
                       f"{len(sup_path)} candidate models); chosen because {why}{note}")
    return SparseFit(coef, active, paths, chosen, rule, reasons, names, errs_out, tstats)
