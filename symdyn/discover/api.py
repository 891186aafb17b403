"""``sd.discover(t, U, names=[...])``: governing equations from trajectories, as a model.

One configuration for every system -- nothing here is tuned per system:

1. **Noise.** The noise on every state is estimated from the data
   (:func:`~symdyn.discover.derivatives.estimate_noise`).
2. **Formulation.** If high-order finite differences would amplify that noise to less than
   1e-6 of the derivative (clean, densely sampled data), the derivatives are taken by
   8th-order finite differences and each sample is one regression row.  Otherwise the weak
   form is used (:mod:`~symdyn.discover.weak`): each test function is one row, no data
   are differentiated, and the test functions' radius follows the data's spectrum.
3. **Library.** Polynomials in the states to ``degree`` (3) unless a library is given
   (a :class:`~symdyn.discover.library.Library` or a list of SymPy expressions / strings),
   evaluated by compiled code.
4. **Sparsity.** :func:`~symdyn.discover.regression.fit_sparse`: the whole STLSQ threshold
   path on the column-scaled system, one point chosen per equation by the ``"knee"`` rule.
5. **Uncertainty.** The chosen terms are refitted on :data:`BOOTSTRAP` block-bootstrap
   resamples of the rows: mean and standard deviation per coefficient.
6. **Scores.** The residual on the last :data:`HOLDOUT` of each trajectory with coefficients
   fitted on the rest, and the compiled model simulated from the data over that part.

With ``pde=True`` (and ``x=grid``) the call is handed to
:func:`symdyn.discover.pde.discover_pde`.
"""
from __future__ import annotations

import keyword
import math
import time

import numpy as np
import scipy.sparse as sps
import sympy as sp

from .. import errors
from ..analysis._blas import single_thread
from ..model import TIME_NAME, D, Model, _split_names
from . import derivatives as deriv
from . import shooting, weak
from .library import Library, custom, default_library, state_symbols
from .regression import SparseFit, fit_sparse, relative_residual
from .result import Coefficient, DiscoveryResult, Score, valid_time

#: polynomial degree of the default library
DEFAULT_DEGREE = 3

#: number of bootstrap refits for the coefficient uncertainty
BOOTSTRAP = 50

#: fraction at the end of each trajectory held out for the scores
HOLDOUT = 0.2

#: samples dropped at each end in the derivative formulation (one-sided stencils)
EDGE = deriv.FD_ACCURACY // 2

#: regression rows needed per candidate term
ROWS_PER_TERM = 2

#: at most this many rounds of (whiten with the current model, select terms) in the weak form
IRLS_ROUNDS = 3

#: relative model error assumed besides the noise (see ``_whiten``)
MODEL_ERROR_FLOOR = 1e-6

#: the re-simulation of noisy data starts where every state is this many noise levels from zero
START_MARGIN = 3.0



# --- input handling ---------------------------------------------------------------------------
def _trajectories(t, U):
    """``t``, ``U`` as lists of checked arrays (one entry per trajectory)."""
    many = isinstance(U, (list, tuple)) and len(U) > 0 and np.ndim(U[0]) == 2
    if many:
        if not isinstance(t, (list, tuple)):
            t = [t] * len(U)
        if len(t) != len(U):
            raise errors.DiscoveryArgumentError("t", f"{len(t)} time arrays",
                                                f"must match the {len(U)} trajectories in U")
        ts, Us = list(t), list(U)
    else:
        ts, Us = [t], [U]
    out_t, out_U = [], []
    for k, (ti, Ui) in enumerate(zip(ts, Us)):
        tname = "t" if len(ts) == 1 else f"t[{k}]"
        uname = "U" if len(Us) == 1 else f"U[{k}]"
        ti = deriv.real_array(ti, tname)
        Ui = deriv.real_array(Ui, uname)
        if Ui.ndim == 1:
            Ui = Ui[:, None]
        if ti.ndim != 1:
            raise errors.DiscoveryArgumentError(tname, ti.shape, "must be 1-d (the sample times)")
        if Ui.ndim != 2 or Ui.shape[0] != ti.size:
            raise errors.DiscoveryArgumentError(
                uname, Ui.shape, f"must have shape (len({tname}), n_states) = ({ti.size}, n)")
        if not np.all(np.isfinite(Ui)):
            raise errors.NonFiniteDataError(uname, tuple(int(i) for i in np.argwhere(~np.isfinite(Ui))[0]))
        deriv.check_time(ti, tname, min_samples=3)
        out_t.append(ti)
        out_U.append(np.ascontiguousarray(Ui))
    n = out_U[0].shape[1]
    for k, Ui in enumerate(out_U):
        if Ui.shape[1] != n:
            raise errors.DiscoveryArgumentError(f"U[{k}]", Ui.shape, f"must have {n} columns like U[0]")
    return out_t, out_U


def _state_names(names, n):
    if names is None:
        return [f"x{k + 1}" for k in range(n)]
    names = _split_names(names)
    if len(names) != n:
        raise errors.DiscoveryArgumentError("names", names, f"must name each of the {n} columns of U")
    for nm in names:
        if not nm.isidentifier() or keyword.iskeyword(nm) or nm == TIME_NAME:
            raise errors.DiscoveryArgumentError("names", nm, "must be Python identifiers other than 't'")
    if len(set(names)) != n:
        raise errors.DiscoveryArgumentError("names", names, "has a name twice")
    return names


def _library(library, names, degree):
    syms = state_symbols(names)
    if library is None:
        return default_library(syms, degree)
    if isinstance(library, Library):
        extra = [s.name for s in library.symbols if s.name not in names]
        if extra:
            raise errors.DiscoveryArgumentError("library", extra, f"uses symbols that are not states {names}")
        return Library(syms, library.terms)
    if isinstance(library, (list, tuple)):
        return custom(syms, library)
    raise errors.DiscoveryArgumentError("library", type(library).__name__,
                                        "must be a Library, a list of SymPy expressions/strings, or None")


# --- the regression system ---------------------------------------------------------------------
class _Block:
    """The regression rows of one trajectory (and what the weights need to be recomputed)."""

    def __init__(self, t, U, sigma, Theta, Y, held, V=None, dV=None, radius=None):
        self.t, self.U, self.sigma = t, U, sigma
        self.Theta, self.Y, self.held = Theta, Y, held
        self.V, self.dV, self.radius = V, dV, radius
        self.jac_values = None


def _blocks(ts, Us, lib, formulation, sigmas):
    blocks = []
    for ti, Ui, si in zip(ts, Us, sigmas):
        Th = lib.evaluate(Ui, ti)
        cut = ti[0] + (1 - HOLDOUT) * (ti[-1] - ti[0])
        if formulation == "derivative":
            dU = deriv.finite_difference(ti, Ui)
            sl = slice(EDGE, ti.size - EDGE)
            blocks.append(_Block(ti, Ui, si, Th[sl], dU[sl], ti[sl] >= cut))
        else:
            r = weak.choose_radius(ti, Ui, si)
            V, dV, centres = weak.bump_functions(ti, r)
            blocks.append(_Block(ti, Ui, si, np.asarray(V @ Th), -np.asarray(dV @ Ui), centres - r >= cut,
                                 V, dV, r))
    return blocks


def _whiten(blocks, lib, coef, e):
    """The weak-form rows of equation ``e`` whitened by their propagated noise: ``(Theta_w, y_w)``.

    Row ``k`` of equation ``e`` has the residual ``sum_i V_ki f_e(u_i) + dV_ki u_ie``; noise
    ``eps_is`` on state ``s`` moves it by ``(L_s)_ki eps_is`` with ``L_s = V diag(df_e/du_s) +
    [s = e] dV`` (to first order; the Jacobian of the current model comes from the library's
    symbolic derivatives, evaluated by compiled code).  The rows' covariance
    ``Sigma = sum_s sigma_s^2 L_s L_s^T`` is banded (test functions overlap only their
    neighbours); with its banded Cholesky factor ``C``, ``C^-1 Theta`` and ``C^-1 y`` have
    independent unit-variance noise: generalised least squares, as in WENDy (D. M. Bortz,
    D. A. Messenger and V. Dukic, Bull. Math. Biol. 85 (2023) 110).  A floor of
    :data:`MODEL_ERROR_FLOOR` x rms(y) per row stands for what the noise model leaves out
    (quadrature, round-off), so nearly clean data are not over-trusted.
    """
    import scipy.linalg as sla

    jlib, index = lib.jacobian()
    Tw, yw = [], []
    for blk in blocks:
        if blk.jac_values is None:
            blk.jac_values = jlib.evaluate(blk.U, blk.t) if len(jlib) else np.zeros((blk.t.size, 0))
        Sigma = None
        for s in range(blk.U.shape[1]):
            cols = index[:, s]
            use = (cols >= 0) & (coef[:, e] != 0)
            J = blk.jac_values[:, cols[use]] @ coef[use, e] if use.any() else np.zeros(blk.t.size)
            L = blk.V.multiply(J[None, :]).tocsr()
            if s == e:
                L = (L + blk.dV).tocsr()
            part = (blk.sigma[s] ** 2) * (L @ L.T)
            Sigma = part if Sigma is None else Sigma + part
        K = blk.V.shape[0]
        y = blk.Y[:, e]
        floor = (MODEL_ERROR_FLOOR * float(np.sqrt(np.mean(y ** 2)))) ** 2
        Sigma = (Sigma + floor * sps.identity(K)).tocoo()
        band = int(np.max(np.abs(Sigma.row - Sigma.col))) if Sigma.nnz else 0
        low = Sigma.row >= Sigma.col
        ab = np.zeros((band + 1, K))
        ab[(Sigma.row - Sigma.col)[low], Sigma.col[low]] = Sigma.data[low]
        try:
            cb = sla.cholesky_banded(ab, lower=True)
        except np.linalg.LinAlgError:
            ab[0] += 1e-10 * float(np.max(ab[0]))
            cb = sla.cholesky_banded(ab, lower=True)
        rhs = np.column_stack([blk.Theta, y])
        # solve C z = rhs, C lower banded with `band` sub-diagonals
        z = sla.solve_banded((band, 0), cb, rhs)
        Tw.append(z[:, :-1])
        yw.append(z[:, -1])
    return np.vstack(Tw), np.concatenate(yw)


def _bootstrap(systems, active, rng, n_boot):
    """Block-bootstrap refits of the chosen terms on each equation's (whitened) rows: (mean, std)."""
    mean = np.zeros(active.shape)
    std = np.zeros(active.shape)
    if n_boot <= 1:
        return mean, std
    for k, (A, b) in enumerate(systems):
        sup = active[:, k]
        if not sup.any():
            continue
        m = A.shape[0]
        block = max(1, int(round(math.sqrt(m))))
        n_blocks = int(math.ceil(m / block))
        AS = A[:, sup]
        vals = []
        for _ in range(n_boot):
            starts = rng.integers(0, max(m - block, 0) + 1, size=n_blocks)
            idx = (starts[:, None] + np.arange(block)[None, :]).ravel()[:m]
            vals.append(np.linalg.lstsq(AS[idx], b[idx], rcond=None)[0])
        vals = np.array(vals)
        mean[sup, k] = vals.mean(axis=0)
        std[sup, k] = vals.std(axis=0, ddof=1)
    return mean, std


def _merge(fits, names):
    """One :class:`SparseFit` from single-column fits."""
    return SparseFit(np.hstack([f.coef for f in fits]), np.hstack([f.active for f in fits]),
                     [f.path[0] for f in fits], [f.chosen[0] for f in fits], fits[0].criterion,
                     [f.reasons[0] for f in fits], list(names), np.concatenate([f.errors for f in fits]),
                     np.hstack([f.tstats for f in fits]))


def _build_model(name, names, lib, coef, init):
    m = Model(name)
    syms = m.states(names, init=[float(v) for v in init])
    syms = (syms,) if len(names) == 1 else syms
    lib_to_model = dict(zip(lib.symbols, syms))
    lib_to_model[sp.Symbol(TIME_NAME, real=True)] = m.t
    equations = {}
    for k, s in enumerate(syms):
        rhs = sp.Integer(0)
        for j, term in enumerate(lib.terms):
            if coef[j, k] != 0:
                rhs += sp.Float(float(coef[j, k])) * term.xreplace(lib_to_model)  # the exact double
        m.eq(D(s), rhs)
        equations[s] = rhs
    return m, equations


def _resimulate(model, ts, Us, sigmas, names, score, smooth_data):
    """Simulate the compiled model over the held-out part of the longest trajectory.

    With noisy data (``smooth_data``) the start state and the reference are the data smoothed
    by Savitzky-Golay (automatic window; uniform grids), so the score measures the model, not
    the noise of one sample; and the start is the first sample of the held-out part (within
    its first half) at which no state is within :data:`START_MARGIN` noise levels of zero: a
    noisy state near zero can have the wrong sign, and a positive system (populations) then
    blows up.
    """
    from ..compiled import compile

    k = int(np.argmax([ti[-1] - ti[0] for ti in ts]))
    ti, Ui, si = ts[k], Us[k], sigmas[k]
    if smooth_data and deriv.is_uniform(ti) and ti.size > 4 * deriv.SG_POLYORDER:
        Ui = deriv.smooth(ti, Ui, window=deriv.choose_window(ti, Ui, si))  # (the noise is known)
        score.resim_reference = "the data smoothed by Savitzky-Golay"
    else:
        score.resim_reference = "the data"
    cut = ti[0] + (1 - HOLDOUT) * (ti[-1] - ti[0])
    i0 = int(np.searchsorted(ti, cut))
    i0 = min(i0, ti.size - 2)
    if smooth_data:
        half = int(np.searchsorted(ti, cut + HOLDOUT / 2 * (ti[-1] - ti[0])))
        clear = np.flatnonzero(np.all(np.abs(Ui[i0:half]) >= START_MARGIN * si, axis=1))
        if clear.size:
            i0 += int(clear[0])
    span = (float(ti[i0]), float(ti[-1]))
    score.resim_span = span
    try:
        cm = compile(model)
        sol = cm.solve(span, u0=np.ascontiguousarray(Ui[i0]), saveat=ti[i0:], rtol=1e-8, atol=1e-10,
                       max_steps=200_000)
    except errors.SymdynError as exc:
        score.resim_message = str(exc)
        return
    score.resim_success = bool(sol.success)
    score.resim_message = sol.message if not sol.success else "ok"
    if not sol.success:
        score.resim_error = {nm: float("nan") for nm in names}
        return
    std = np.std(Ui, axis=0)
    std = np.where(std > 0, std, 1.0)
    err = (sol.u - Ui[i0:]) / std
    score.resim_error = {nm: float(np.sqrt(np.mean(err[:, j] ** 2))) for j, nm in enumerate(names)}
    score.resim_valid_time = valid_time(ti[i0:], np.mean(err ** 2, axis=1))


# --- the entry point ------------------------------------------------------------------------------
def discover(t, U, names=None, *, library=None, degree: int = DEFAULT_DEGREE, method: str = "stlsq",
             selection: str = "auto", formulation: str = "auto", bootstrap: int = BOOTSTRAP,
             seed: int = 0, simulate: bool = True, name: str = "discovered", x=None, pde: bool = False,
             shooting: bool = True, **options) -> DiscoveryResult:
    """Discover ``D(u) = f(u)`` from samples ``U`` (len(t), n) at times ``t``; returns a :class:`DiscoveryResult`.

    - ``names``: the state names (default ``x1 .. xn``); ``library``: a
      :class:`~symdyn.discover.library.Library` or a list of terms (default: polynomials to
      ``degree``); ``method``: ``"stlsq"`` or ``"sr3"``; ``selection``: the sparsity rule
      (``"auto"`` = ``"knee"``, see :func:`~symdyn.discover.regression.fit_sparse`);
      ``formulation``: ``"auto"``, ``"derivative"`` or ``"weak"``.
    - Several trajectories: ``t`` and ``U`` as lists (``t`` may be one array shared by all).
    - ``bootstrap``: refits for the coefficient uncertainty; ``seed``: their random generator;
      ``simulate``: compile and re-simulate the model for the score.
    - ``shooting``: with noisy data (weak form), refit the chosen terms' coefficients to the
      trajectories by multiple shooting (:mod:`~symdyn.discover.shooting`).
    - ``pde=True`` with ``x=grid``: ``U`` is (len(t), len(x)) and the call goes to
      :func:`symdyn.discover.pde.discover_pde` with the remaining ``options``.

    >>> import numpy as np, symdyn as sd
    >>> t = np.linspace(0, 4, 801)
    >>> U = np.column_stack([2 * np.exp(-0.5 * t), np.exp(-0.5 * t) + np.exp(-2 * t)])
    >>> res = sd.discover(t, U, names=["x", "y"], degree=2)       # x' = -x/2, y' = 3x/4 - 2y
    >>> {k: round(v, 9) for k, v in res.coefficient_table.items()}
    {('x', 'x'): -0.5, ('y', 'x'): 0.75, ('y', 'y'): -2.0}
    """
    if pde:
        return _dispatch_pde(t, x, U, names, options)
    with single_thread():  # small dense problems: BLAS threads cost far more than they save
        return _discover(t, U, names, library, degree, method, selection, formulation, bootstrap, seed,
                         simulate, name, x, options, shooting)


def _discover(t, U, names, library, degree, method, selection, formulation, bootstrap, seed, simulate, name, x,
              options, shooting_refine=True):
    if x is not None:
        raise errors.DiscoveryArgumentError("x", "grid", "is only used with pde=True")
    if options:
        raise errors.DiscoveryArgumentError(next(iter(options)), options[next(iter(options))],
                                            "is not an option of discover() for ODEs")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise errors.DiscoveryArgumentError("bootstrap", bootstrap, "must be an integer >= 0 (number of refits)")
    if formulation not in ("auto", "derivative", "weak"):
        raise errors.DiscoveryArgumentError("formulation", formulation, "must be 'auto', 'derivative' or 'weak'")
    if not isinstance(shooting_refine, (bool, np.bool_)):
        raise errors.DiscoveryArgumentError("shooting", shooting_refine, "must be True or False")
    timings = {}
    t_start = time.perf_counter()
    ts, Us = _trajectories(t, U)
    n = Us[0].shape[1]
    names = _state_names(names, n)
    lib = _library(library, names, degree)
    if len(lib) == 0:
        raise errors.DiscoveryArgumentError("library", "[]", "has no terms")
    reasons = []

    # noise and formulation
    sigmas = [deriv.estimate_noise(ti, Ui) for ti, Ui in zip(ts, Us)]
    stds = np.std(np.vstack(Us), axis=0)
    rel = np.max([s / np.where(stds > 0, stds, 1.0) for s in sigmas], axis=0)
    noise = dict(zip(names, map(float, rel)))
    if formulation == "auto":
        clean = all(deriv.fd_is_accurate(ti, Ui, si) for ti, Ui, si in zip(ts, Us, sigmas))
        formulation = "derivative" if clean else "weak"
        why = ("finite differences would amplify it to under "
               f"{deriv.FD_NOISE_TOLERANCE:g} of the derivative" if clean else
               "too much to differentiate the data accurately")
        reasons.append(f"estimated noise {', '.join(f'{k} {100 * v:.2g}%' for k, v in noise.items())} of each "
                       f"state's std: {why}, so the {formulation} formulation is used")
    else:
        reasons.append(f"the {formulation} formulation was requested")
    if formulation == "derivative":
        for ti in ts:
            if ti.size < deriv.FD_ACCURACY + 1 + 2 * EDGE:
                raise errors.TooFewSamplesError("t", ti.size, deriv.FD_ACCURACY + 1 + 2 * EDGE,
                                                "for the finite-difference stencils")
        reasons.append(f"derivatives by {deriv.FD_ACCURACY}th-order finite differences (Fornberg weights on "
                       f"the sample times), {EDGE} samples dropped at each end")
    else:
        for ti in ts:
            if ti.size < 4 * weak.MIN_POINTS:
                raise errors.TooFewSamplesError("t", ti.size, 4 * weak.MIN_POINTS, "for the weak form's test functions")
    timings["noise"] = time.perf_counter() - t_start

    # regression system
    t0 = time.perf_counter()
    blocks = _blocks(ts, Us, lib, formulation, sigmas)
    Theta = np.vstack([b.Theta for b in blocks])
    Y = np.vstack([b.Y for b in blocks])
    held = np.concatenate([b.held for b in blocks])
    need = ROWS_PER_TERM * len(lib)
    if Theta.shape[0] < need:
        if formulation == "weak":
            raise errors.TooFewSamplesError(
                "t", Theta.shape[0], need,
                f"{ROWS_PER_TERM} per candidate term ({len(lib)} terms); the test functions' "
                f"radius ({', '.join(f'{b.radius:.3g}' for b in blocks)}) follows the data's spectrum, which is "
                "slow compared with the record or mostly noise",
                "give a longer record, several trajectories, or a smaller library (lower degree)",
                "test functions (regression rows)")
        raise errors.TooFewSamplesError("t", Theta.shape[0], need,
                                        f"{ROWS_PER_TERM} regression rows per candidate term ({len(lib)} terms)",
                                        "give more samples or a smaller library (lower degree)", "regression rows")
    if formulation == "weak":
        reasons.append(
            f"weak form: {Theta.shape[0]} test functions (bumps (1 - s^2)^{weak.BUMP_DEGREE}) of radius "
            f"{', '.join(f'{b.radius:.4g}' for b in blocks)} (time units), {weak.RADIUS_FACTOR:g} / the frequency "
            "where the data's spectrum meets the noise")
    timings["system"] = time.perf_counter() - t0

    # sparse regression (weak form: generalised least squares with the propagated noise,
    # repeated with the new model's Jacobian until the terms settle)
    t0 = time.perf_counter()
    # (the weak form's first fit only gives the Jacobian for the noise model: no local search)
    fit = fit_sparse(Theta, Y, lib.names, method=method, selection=selection, refine=formulation != "weak")
    systems = [(Theta, Y[:, e]) for e in range(Y.shape[1])]
    rounds = 0
    if formulation == "weak":
        for rounds in range(1, IRLS_ROUNDS + 1):
            systems = [_whiten(blocks, lib, fit.coef, e) for e in range(Y.shape[1])]
            cols = [fit_sparse(Tw, yw, lib.names, method=method, selection=selection, covariance=Tw.T @ Tw)
                    for Tw, yw in systems]
            new = _merge(cols, lib.names)
            settled = np.array_equal(new.active, fit.active)
            fit = new
            if settled:
                break
        reasons.append(f"generalised least squares: rows whitened by the covariance of their noise (the estimated "
                       f"noise propagated through the test functions and the fitted model's Jacobian); terms "
                       f"settled after {rounds} round{'s' * (rounds != 1)}")
    coef = fit.coef
    if not fit.active.any():
        raise errors.NoModelFoundError(", ".join(names), "no candidate term explains the data beyond the "
                                       f"estimated noise ({fit.reasons[0].split(': ', 1)[1]}); the data may be "
                                       "constant, pure noise, or need other library terms")
    for k, nm in enumerate(names):
        reasons.append(f"D({nm}): " + fit.reasons[k].split(": ", 1)[1])
    timings["regression"] = time.perf_counter() - t0
    shoot_std = np.full(coef.shape, np.nan)
    if formulation == "weak" and shooting_refine:
        # noisy data: the chosen terms' coefficients fitted to the trajectories (multiple shooting)
        t0 = time.perf_counter()
        refinement = shooting.refine(ts, Us, sigmas, lib, fit.coef)
        reasons.append(refinement.reason)
        if refinement.accepted:
            coef = refinement.coef
            shoot_std = refinement.std
        timings["shooting"] = time.perf_counter() - t0

    # uncertainty
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    mean, std = _bootstrap(systems, fit.active, rng, int(bootstrap))
    coefficients = [Coefficient(nm, lib.names[j], float(coef[j, k]), float(mean[j, k]), float(std[j, k]),
                                float(shoot_std[j, k]))
                    for k, nm in enumerate(names) for j in range(len(lib)) if fit.active[j, k]]
    timings["bootstrap"] = time.perf_counter() - t0

    # scores
    t0 = time.perf_counter()
    residual = {nm: relative_residual(Theta, Y[:, k], coef[:, k]) for k, nm in enumerate(names)}
    heldout = {}
    train = ~held
    for k, nm in enumerate(names):
        sup = fit.active[:, k]
        if held.any() and train.sum() > sup.sum() and sup.any():
            c = np.zeros(len(lib))
            Aw, yw = systems[k]
            c[sup] = np.linalg.lstsq(Aw[train][:, sup], yw[train], rcond=None)[0]
            heldout[nm] = relative_residual(Theta[held], Y[held, k], c)
        else:
            heldout[nm] = residual[nm] if not held.any() else relative_residual(Theta[held], Y[held, k], coef[:, k])
    score = Score(residual, heldout)
    if formulation == "weak":
        for k, nm in enumerate(names):
            Aw, yw = systems[k]
            score.noise_ratio[nm] = float(np.sum((yw - Aw @ coef[:, k]) ** 2) / max(len(yw) - fit.active[:, k].sum(), 1))
    model, equations = _build_model(name, names, lib, coef, Us[0][0])
    timings["scores"] = time.perf_counter() - t0
    if simulate:
        t0 = time.perf_counter()
        _resimulate(model, ts, Us, sigmas, names, score, smooth_data=formulation == "weak")
        timings["simulate"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    details = {"Theta": Theta, "Y": Y, "systems": systems, "heldout": held,
               "t_span": (float(min(ti[0] for ti in ts)), float(max(ti[-1] for ti in ts))),
               "radius": [b.radius for b in blocks] if formulation == "weak" else None}
    return DiscoveryResult(model, equations, coefficients, score, lib, fit, formulation, noise, reasons,
                           timings, details)


def _dispatch_pde(t, x, U, names, options):
    if x is None:
        raise errors.DiscoveryArgumentError("x", None, "is needed with pde=True (the spatial grid)")
    try:
        from .pde import discover_pde
    except ImportError as exc:
        missing = getattr(exc, "name", None) == f"{__package__}.pde" or "discover_pde" in str(exc)
        if missing:
            raise NotImplementedError(f"PDE discovery needs {__package__}.pde.discover_pde, which this "
                                      "installation does not have") from exc
        raise
    return discover_pde(t, x, U, names, **options)
