"""``discover_pde(t, x, U, names)``: an evolution PDE ``u_t = f(u, u_x, u_xx, ...)`` from data, as a model.

``U[i, j] = u(t_i, x_j)`` on uniform grids ``t`` and ``x``.  One configuration for every
system -- nothing here is tuned per system:

1. **Noise and periodicity.** The noise level comes from high-order differences of the data
   (:func:`.spatial.noise_level`); whether ``x`` is periodic from the data's continuation
   across the wrap (:func:`.spatial.detect_periodic`), unless ``periodic=`` says.
2. **Library.** ``1`` and the conservative terms ``d^k(u^p) / p`` for ``p = 1..degree`` (3)
   and ``k = 0..max_order`` (4): ``u, u^2, u^3, u_x, u u_x, u^2 u_x, u_xx, u u_xx + u_x^2, ...``
   (the PDE-FIND products ``u^(p-1) u_x`` are in it exactly; ``u u_xx`` as the conservative
   combination ``(u^2)_xx / 2``).  Every term is a SymPy expression in ``u, u_x, u_xx, ...``.
3. **Formulation.** Noisy data (relative noise above :data:`CLEAN_NOISE`): the weak form
   (:mod:`.weak_pde`), space-time test functions sized from the data's spectrum, every
   derivative moved onto them; then a second pass with the time test function shortened
   to pass the first fit's fastest rate at the spatial cut-off, so that the noise sits in
   ``u_t`` and not in the terms (:func:`.weak_pde.rate_limited_half_width`).  Clean data: the derivative form too -- ``u_t`` by 8th-order
   finite differences, ``u_x ..`` spectrally (periodic) or by 8th-order finite differences,
   products by the chain rule (no aliasing) -- and of the two the one whose chosen model
   scores better under the sparsity rule (residual floored at 1e-6, a penalty per term).
   Clean data are not always a PDE solution at every wavenumber: a simulation's own
   discretisation error sits at the highest ones, which the weak form filters out.
4. **Sparsity.** :func:`~symdyn.discover.regression.fit_sparse` (whole STLSQ path on the
   column-scaled system, the ``"knee"`` rule), the same call as for ODEs.
5. **Uncertainty.** Block bootstrap over time slices of the rows: mean and std per coefficient.
6. **Model.** A method-of-lines discretisation on the data's grid (:func:`mol_model`):
   conservative central differences of accuracy ``stencil_order`` (4), periodic, or
   Dirichlet with the outer columns prescribed from the data (fitted as polynomials in
   time); every interior row is the same equation at shifted indices, so the compiler
   emits one loop.  The coefficients are the model's parameters.
7. **Score.** Relative residual on all rows and on the last :data:`HOLDOUT` of the time
   span (refitted on the rest), and the compiled model simulated over that last part from
   the data at its start, compared with the data (both denoised along ``x`` when noisy).

>>> import numpy as np
>>> x = np.arange(64) * (2 * np.pi / 64); t = np.linspace(0.0, 1.0, 101)
>>> U = sum(np.exp(-0.1 * k**2 * t)[:, None] * np.sin(k * x + k) for k in (1, 2, 3))   # u_t = 0.1 u_xx
>>> res = discover_pde(t, x, U, ["u"], simulate=False)
>>> {k: round(v, 8) for k, v in res.coefficient_table.items()}
{('u', 'u_xx'): 0.1}
"""
from __future__ import annotations

import keyword
import math
import time
from dataclasses import dataclass

import numpy as np
import sympy as sp

from .. import errors
from ..model import TIME_NAME, D, Model, _split_names
from . import regression, spatial, weak_pde
from .regression import fit_sparse, relative_residual
from .result import Coefficient, DiscoveryResult, Score, valid_time

__all__ = ["PDETerm", "PDELibrary", "pde_library", "derivative_system", "mol_model", "denoise", "discover_pde",
           "CLEAN_NOISE", "DEFAULT_DEGREE", "DEFAULT_MAX_ORDER", "STENCIL_ORDER"]

#: polynomial degree of the library (powers of u)
DEFAULT_DEGREE = 3
#: highest spatial derivative in the library
DEFAULT_MAX_ORDER = 4
#: relative noise (std of the noise / std of the data) below which the data count as clean
CLEAN_NOISE = 1e-6
#: accuracy of the finite differences of the derivative formulation
FD_ORDER = 8
#: accuracy of the central differences in the returned model
STENCIL_ORDER = 4
#: number of bootstrap refits
BOOTSTRAP = 50
#: fraction of the time span held out for the score
HOLDOUT = 0.2
#: regression rows needed per candidate term
ROWS_PER_TERM = 4
#: boundary data: largest polynomial degree in time
BOUNDARY_MAX_DEGREE = 12
#: boundary data: a polynomial fits when its residual is at most this multiple of the noise
BOUNDARY_NOISE_FACTOR = 1.5
#: tolerances of the re-simulation
RESIM_RTOL = 1e-6
RESIM_ATOL = 1e-8


# --- the library --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PDETerm:
    """The candidate term ``d^order/dx^order (u^power) / power`` (``power = 0``: the constant 1).

    ``expression(u_syms)`` is its expansion in ``u_syms = [u, u_x, u_xx, ...]``.

    >>> u = sp.symbols("u u_x u_xx", real=True)
    >>> PDETerm(2, 1).expression(u), PDETerm(2, 2).expression(u)
    (u*u_x, u*u_xx + u_x**2)
    """

    power: int
    order: int

    def expression(self, u_syms) -> sp.Expr:
        if self.power == 0:
            return sp.Integer(1)
        # d/dx by the chain rule on the symbols (d u_(j)/dx = u_(j+1)); SymPy's Derivative/subs
        # route gave the same expressions 5x slower, uncached (0.1 s per library)
        expr = u_syms[0] ** self.power
        for _ in range(self.order):
            expr = sp.expand(sum(sp.diff(expr, u_syms[j]) * u_syms[j + 1] for j in range(len(u_syms) - 1)))
        if self.order > 0:
            expr = expr / self.power
        return sp.expand(expr)

    def param_name(self, field: str) -> str:
        """The model parameter of this term's coefficient: ``c_1``, ``c_u``, ``c_u_xx``, ``c_u2_x``."""
        if self.power == 0:
            return "c_1"
        base = field if self.power == 1 else f"{field}{self.power}"
        return f"c_{base}" + (f"_{'x' * self.order}" if self.order else "")


def derivative_symbols(field: str, max_order: int) -> list:
    """``[u, u_x, u_xx, ...]`` for the field name ``u``."""
    return [sp.Symbol(field if k == 0 else f"{field}_{'x' * k}", real=True) for k in range(max_order + 1)]


class PDELibrary:
    """The candidate terms of a PDE: ``terms`` (:class:`PDETerm`), ``exprs`` (SymPy), ``names``.

    >>> lib = pde_library("u", degree=2, max_order=2)
    >>> lib.names
    ['1', 'u', 'u**2', 'u_x', 'u*u_x', 'u_xx', 'u*u_xx + u_x**2']
    """

    def __init__(self, field: str, terms):
        self.field = field
        self.terms = list(terms)
        self.max_order = max([tm.order for tm in self.terms] + [0])
        self.symbols = derivative_symbols(field, self.max_order)
        self.exprs = [tm.expression(self.symbols) for tm in self.terms]
        self.names = [str(e) for e in self.exprs]

    def __len__(self):
        return len(self.terms)

    def __repr__(self):
        return f"PDELibrary({self.field!r}: {', '.join(self.names)})"


def pde_library(field: str, degree: int = DEFAULT_DEGREE, max_order: int = DEFAULT_MAX_ORDER,
                constant: bool = True) -> PDELibrary:
    """``1`` (if ``constant``), then ``d^k(u^p)/p`` for ``k = 0..max_order``, ``p = 1..degree``."""
    if int(degree) != degree or degree < 1:
        raise errors.DiscoveryArgumentError("degree", degree, "must be an integer >= 1")
    if int(max_order) != max_order or max_order < 0:
        raise errors.DiscoveryArgumentError("max_order", max_order, "must be an integer >= 0")
    terms = [PDETerm(0, 0)] if constant else []
    terms += [PDETerm(p, k) for k in range(int(max_order) + 1) for p in range(1, int(degree) + 1)]
    return PDELibrary(field, terms)


# --- inputs --------------------------------------------------------------------------------------
def _field_name(names) -> str:
    if names is None:
        return "u"
    names = _split_names(names)
    if len(names) != 1:
        raise errors.DiscoveryArgumentError("names", names, "must be one field name (U is one field on the grid)")
    nm = names[0]
    if not nm.isidentifier() or keyword.iskeyword(nm) or nm == TIME_NAME or "_" in nm:
        raise errors.DiscoveryArgumentError("names", nm, "must be a Python identifier without '_', other than 't'")
    return nm


def _check_inputs(t, x, U):
    from .derivatives import real_array

    U, t, x = real_array(U, "U"), real_array(t, "t"), real_array(x, "x")
    if t.ndim != 1 or x.ndim != 1:
        bad = "t" if t.ndim != 1 else "x"
        raise errors.DiscoveryArgumentError(bad, (t if bad == "t" else x).shape, "must be a 1-d grid")
    if U.shape != (t.size, x.size):
        raise errors.DiscoveryArgumentError("U", U.shape, f"must have shape (len(t), len(x)) = ({t.size}, {x.size})")
    if not np.all(np.isfinite(U)):
        raise errors.NonFiniteDataError("U", tuple(int(i) for i in np.argwhere(~np.isfinite(U))[0]))
    for name, g, need in (("t", t, 2 * FD_ORDER + 1), ("x", x, 2 * FD_ORDER + 1)):
        if g.size < need:
            raise errors.TooFewSamplesError(name, g.size, need, "for the derivative stencils and test functions")
    ht = spatial.grid_spacing(t, "t")
    hx = spatial.grid_spacing(x, "x")
    return t, x, np.ascontiguousarray(U), ht, hx


# --- the derivative (strong) formulation ----------------------------------------------------------
def derivative_system(t, x, U, lib: PDELibrary, periodic: bool, sigma: float = 0.0, method: str = "auto"):
    """``(Theta, b, time_index)``: ``u_t`` and the library at the grid points away from the edges.

    ``u_t`` by 8th-order finite differences in time (Savitzky–Golay when ``sigma > 0``);
    ``u_x, u_xx, ...`` by :func:`.spatial.derivative` (``method``), and each term as the
    polynomial in them that :class:`PDETerm` gives (the chain rule: differentiating ``u^2``
    on the grid would alias its doubled bandwidth).  Rows within the stencils' reach of a
    non-periodic edge are dropped.
    """
    ht, hx = t[1] - t[0], x[1] - x[0]
    tmethod = "fd" if sigma == 0.0 else "savgol"
    Ut = spatial.derivative(U, ht, 1, 0, periodic=False, method=tmethod, sigma=sigma, order=FD_ORDER)
    derivs = [U] + [spatial.derivative(U, hx, k, 1, periodic=periodic, method=method, sigma=sigma, order=FD_ORDER)
                    for k in range(1, lib.max_order + 1)]
    cols = []
    for expr in lib.exprs:
        f = sp.lambdify(lib.symbols, expr, "numpy")
        cols.append(np.broadcast_to(np.asarray(f(*derivs), dtype=float), U.shape))
    et = FD_ORDER // 2
    ex = 0 if periodic else spatial.central_radius(max(lib.max_order, 1), FD_ORDER)
    sl = (slice(et, U.shape[0] - et), slice(ex, U.shape[1] - ex))
    Theta = np.column_stack([c[sl].ravel() for c in cols])
    b = Ut[sl].ravel()
    n_x = U.shape[1] - 2 * ex
    time_index = np.repeat(np.arange(et, U.shape[0] - et), n_x)
    return Theta, b, time_index


def _weak_system(t, x, U, lib, periodic, sigma, mt=None, mx=None):
    terms = [(tm.power, tm.order) for tm in lib.terms]
    Theta, b, tf = weak_pde.weak_system(U, t[1] - t[0], x[1] - x[0], terms, periodic, sigma, mt=mt, mx=mx)
    # d^k(u^p)/p: the 1/p of the library's normalisation
    scale = np.array([1.0 / tm.power if tm.power > 0 and tm.order > 0 else 1.0 for tm in lib.terms])
    Theta = Theta * scale
    n_cx = tf.Vx[0].shape[0]
    centres_t = np.argmax(tf.Vt[0], axis=1)  # the bump peaks at its centre
    time_index = np.repeat(centres_t, n_cx)
    return Theta, b, time_index, tf


# --- the fits --------------------------------------------------------------------------------
def _checked_rows(Theta, lib):
    need = ROWS_PER_TERM * len(lib)
    if Theta.shape[0] < need:
        raise errors.TooFewSamplesError("U", Theta.shape[0], need,
                                        f"{ROWS_PER_TERM} regression rows per candidate term ({len(lib)} terms)")


def _record(Theta, b, tix, fit, **info):
    coef = fit.coef[:, 0]
    return dict(Theta=Theta, b=b, time_index=tix, fit=fit, coef=coef, active=fit.active[:, 0],
                residual=relative_residual(Theta, b, coef), **info)


def _fit_derivative(t, x, U, lib, periodic, sigma, derivative, method, selection):
    Theta, b, tix = derivative_system(t, x, U, lib, periodic, sigma, derivative)
    _checked_rows(Theta, lib)
    return _record(Theta, b, tix, fit_sparse(Theta, b, lib.names, method=method, selection=selection))


def _fit_weak(t, x, U, lib, periodic, sigma, method, selection, reasons):
    """The weak-form fit; with noise, in two passes (see :func:`.weak_pde.rate_limited_half_width`).

    The second pass shortens the time test function until it passes the first fit's fastest
    rate at the spatial cut-off, so that the noise sits in ``u_t``'s side of the regression.
    """
    ht, hx = t[1] - t[0], x[1] - x[0]
    Theta, b, tix, tf = _weak_system(t, x, U, lib, periodic, sigma)
    _checked_rows(Theta, lib)
    fit = fit_sparse(Theta, b, lib.names, method=method, selection=selection)
    if sigma > 0:
        rate = _pde_rate(lib, fit.coef[:, 0], U, weak_pde.cutoff_wavenumber(tf.mx, tf.px, hx))
        mt = weak_pde.rate_limited_half_width(rate, ht, tf.pt)
        if mt < tf.mt:
            reasons.append(f"time half-width cut from {tf.mt} to {mt} samples so that the time test function "
                           f"passes the rate {rate:.3g} of the first fit's PDE at the spatial cut-off: the noise "
                           f"is then in u_t's side of the regression, not in the terms (errors in the "
                           f"regressors let high derivatives fit the noise of low ones)")
            Theta, b, tix, tf = _weak_system(t, x, U, lib, periodic, sigma, mt=mt, mx=tf.mx)
            _checked_rows(Theta, lib)
            fit = fit_sparse(Theta, b, lib.names, method=method, selection=selection)
    return _record(Theta, b, tix, fit, test_functions=tf)


# --- regression helpers -------------------------------------------------------------------------
def _bootstrap(Theta, b, active, time_index, rng, n_boot):
    """Refits of the chosen terms on resampled time slices (rows sharing a time stay together)."""
    p = Theta.shape[1]
    mean, std = np.zeros(p), np.zeros(p)
    if n_boot <= 1 or not active.any():
        return mean, std
    slices = np.unique(time_index)
    groups = [np.flatnonzero(time_index == s) for s in slices]
    vals = []
    for _ in range(int(n_boot)):
        pick = rng.integers(0, len(groups), size=len(groups))
        idx = np.concatenate([groups[i] for i in pick])
        vals.append(np.linalg.lstsq(Theta[idx][:, active], b[idx], rcond=None)[0])
    vals = np.array(vals)
    mean[active] = vals.mean(axis=0)
    std[active] = vals.std(axis=0, ddof=1)
    return mean, std


def _pde_rate(lib, coef, U, kappa):
    """The fastest rate of the linearised PDE at wavenumber ``kappa``: ``sum |c| |u|^(p-1) kappa^k``."""
    umax = float(np.percentile(np.abs(U), 99))
    rate = 0.0
    for tm, c in zip(lib.terms, coef):
        if c != 0 and tm.power > 0:
            rate += abs(c) * umax ** (tm.power - 1) * kappa**tm.order
    return rate


def _knee_score(residual: float, n_terms: int) -> float:
    """The score of :func:`fit_sparse`'s ``"knee"`` rule, to compare the two formulations' models."""
    return math.log(max(residual, regression.ERROR_FLOOR)) + regression.KNEE_PENALTY * n_terms



# --- the model -----------------------------------------------------------------------------------
def _boundary_polynomial(t, values, sigma, scale):
    """A polynomial in time (SymPy, in ``m.t``) through ``values``: the lowest degree that fits to the noise."""
    tc = 0.5 * (t[0] + t[-1])
    half = 0.5 * (t[-1] - t[0]) or 1.0
    s = (t - tc) / half
    allowed = BOUNDARY_NOISE_FACTOR * max(sigma, 1e-12 * scale)
    cheb = None
    for deg in range(0, min(BOUNDARY_MAX_DEGREE, t.size - 1) + 1):
        cheb = np.polynomial.Chebyshev.fit(s, values, deg, domain=[-1, 1])
        if np.sqrt(np.mean((cheb(s) - values) ** 2)) <= allowed:
            break
    coef = cheb.convert(kind=np.polynomial.Polynomial).coef
    coef = np.where(np.abs(coef) > 1e-14 * max(scale, 1e-300), coef, 0.0)
    return coef, tc, half


def _boundary_expr(coef, tc, half, tsym):
    s = (tsym - sp.Float(tc)) / sp.Float(half) if len(coef) > 1 else sp.Integer(0)
    expr = sp.Integer(0)
    for c in coef[::-1]:  # Horner
        expr = expr * s + sp.Float(float(c))
    return expr


def mol_model(lib: PDELibrary, coef, x, *, periodic: bool, init, name: str = "discovered_pde",
              stencil_order: int = STENCIL_ORDER, boundary=None) -> tuple:
    """The method-of-lines model of ``u_t = sum_j coef_j term_j`` on the grid ``x``.

    Each term ``d^k(u^p)/p`` becomes the central difference of accuracy ``stencil_order``
    applied to the grid values of ``u^p`` (conservative form, as in ``models/burgers.py``),
    its coefficient a parameter (:meth:`PDETerm.param_name`).  Periodic: states
    ``u1..uN`` for every column, indices wrap.  Otherwise the ``r`` outer columns on each
    side (``r`` = the widest stencil's half-width) are boundary data, ``boundary[i]`` an
    expression in ``m.t`` for each of them (``{column: expr}``), and the states are
    ``u{r+1}..u{N-r}`` (1-based data columns).  Returns ``(model, state_columns)``.

    >>> lib = pde_library("u", degree=2, max_order=2)
    >>> coef = np.zeros(len(lib)); coef[lib.names.index("u*u_x")] = -1.0; coef[lib.names.index("u_xx")] = 0.1
    >>> m, cols = mol_model(lib, coef, np.linspace(0, 1, 11)[:-1], periodic=True, init=np.zeros(10))
    >>> m.param_names, m.n_states
    (['c_u2_x', 'c_u_xx'], 10)
    """
    x = np.asarray(x, dtype=float)
    N = x.size
    h = float(x[1] - x[0])
    coef = np.asarray(coef, dtype=float)
    active = [j for j in range(len(lib)) if coef[j] != 0.0]
    orders = [lib.terms[j].order for j in active]
    r = max([spatial.central_radius(k, stencil_order) for k in orders if k > 0] + [0])
    if periodic:
        if N < 2 * r + 1:
            raise errors.TooFewSamplesError("x", N, 2 * r + 1, "for the model's stencils on a periodic grid")
        columns = list(range(N))
    else:
        if N < 2 * r + 1:
            raise errors.TooFewSamplesError("x", N, 2 * r + 1, "for the model's stencils and boundary columns")
        columns = list(range(r, N - r))
    m = Model(name)
    init = np.asarray(init, dtype=float)
    snames = [f"{lib.field}{j + 1}" for j in columns]
    syms = m.states(snames, init=[float(init[j]) for j in columns])
    syms = (syms,) if len(snames) == 1 else tuple(syms)
    params = {}
    for j in active:
        pname = lib.terms[j].param_name(lib.field)
        params[j] = m.params(pname, values=float(coef[j]))
    value = {}  # data column -> expression of u there
    for c, s in zip(columns, syms):
        value[c] = s
    if not periodic:
        for c in list(range(r)) + list(range(N - r, N)):
            value[c] = boundary[c]
    powers = {}

    def power(c, p):
        key = (c, p)
        if key not in powers:
            powers[key] = value[c] if p == 1 else sp.Pow(value[c], p)
        return powers[key]

    stencils = {}
    for j in active:
        tm = lib.terms[j]
        if tm.order > 0 and tm.order not in stencils:
            rk = spatial.central_radius(tm.order, stencil_order)
            w = spatial.fd_weights(np.arange(-rk, rk + 1), tm.order) / h**tm.order
            stencils[tm.order] = [(o, float(wo)) for o, wo in zip(range(-rk, rk + 1), w) if wo != 0.0]
    for c, s in zip(columns, syms):
        parts = []
        for j in active:
            tm = lib.terms[j]
            cj = params[j]
            if tm.power == 0:
                parts.append(cj)
            elif tm.order == 0:
                parts.append(sp.Mul(cj, power(c, tm.power)))
            else:
                for o, w in stencils[tm.order]:
                    cc = (c + o) % N if periodic else c + o
                    parts.append(sp.Mul(sp.Float(w / tm.power), cj, power(cc, tm.power)))
        m.eq(D(s), sp.Add(*parts))
    return m, columns


def denoise(U, periodic: bool, sigma: float) -> np.ndarray:
    """``U`` (rows = snapshots) with the noise filtered out along ``x``: the modes above the
    spectral corner removed (periodic), or Savitzky–Golay (cubic, window from the corner)."""
    U = np.atleast_2d(np.asarray(U, dtype=float))
    if sigma <= 0:
        return U.copy()
    n = U.shape[1]
    corner = spatial.spectral_corner(U, 1, periodic, sigma)
    if periodic:
        cutoff = max(1, int(corner * (n // 2)))
        F = np.fft.rfft(U, axis=1)
        F[:, cutoff + 1:] = 0.0
        return np.fft.irfft(F, n=n, axis=1)
    window = int(min(n // 2, max(7, round(4.0 / max(corner, 1e-3)))))
    return spatial.savgol_derivative(U, 1.0, 0, 1, window=window, polyorder=3)


def _resimulate(model, t, U, columns, field, score, sigma, periodic):
    """Simulate the compiled model over the held-out part of the span from the data there.

    With noisy data the start state and the reference are the data denoised along ``x``
    (:func:`denoise`), so the score measures the model, not the noise of one snapshot.
    """
    from ..compiled import compile

    ref = denoise(U, periodic, sigma) if sigma > 0 else U
    score.resim_reference = "the data denoised along x" if sigma > 0 else "the data"
    cut = t[0] + (1 - HOLDOUT) * (t[-1] - t[0])
    i0 = min(int(np.searchsorted(t, cut)), t.size - 2)
    span = (float(t[i0]), float(t[-1]))
    score.resim_span = span
    try:
        cm = compile(model)
        sol = cm.solve(span, u0=np.ascontiguousarray(ref[i0, columns]), saveat=t[i0:], rtol=RESIM_RTOL,
                       atol=RESIM_ATOL, max_steps=200_000)
    except errors.SymdynError as exc:
        score.resim_message = str(exc)
        score.resim_error = {field: float("nan")}
        return None
    score.resim_success = bool(sol.success)
    score.resim_message = "ok" if sol.success else sol.message
    if not sol.success or sol.u.shape[0] != t.size - i0:
        score.resim_error = {field: float("nan")}
        return None
    data = ref[i0:, columns]
    std = float(np.std(ref[:, columns])) or 1.0
    err2 = np.mean(((sol.u - data) / std) ** 2, axis=1)
    score.resim_error = {field: float(np.sqrt(np.mean(err2)))}
    score.resim_valid_time = valid_time(t[i0:], err2)
    return sol


# --- the entry point -----------------------------------------------------------------------------
def discover_pde(t, x, U, names=None, *, degree: int = DEFAULT_DEGREE, max_order: int = DEFAULT_MAX_ORDER,
                 constant: bool = True, periodic=None, formulation: str = "auto", derivative: str = "auto",
                 method: str = "stlsq", selection: str = "auto", stencil_order: int = STENCIL_ORDER,
                 bootstrap: int = BOOTSTRAP, seed: int = 0, simulate: bool = True,
                 name: str = "discovered_pde") -> DiscoveryResult:
    """Discover ``u_t = f(u, u_x, ..)`` from ``U[i, j] = u(t[i], x[j])``; returns a :class:`DiscoveryResult`.

    - ``names``: the field's name (``["u"]``); ``degree``, ``max_order``, ``constant``: the
      library (:func:`pde_library`); ``periodic``: ``None`` detects it from the data;
    - ``formulation``: ``"auto"``, ``"derivative"`` or ``"weak"``; ``derivative``: how the
      derivative formulation differentiates in space (``"auto"``, ``"spectral"``, ``"fd"``,
      ``"savgol"``); ``method``/``selection``: as for :func:`~symdyn.discover.fit_sparse`;
    - ``stencil_order``: accuracy of the model's central differences; ``bootstrap``,
      ``seed``: the uncertainty refits; ``simulate``: compile and re-simulate for the score.

    ``res.equations`` is ``{u: f}`` in the symbols ``u, u_x, u_xx, ...``; ``res.model`` the
    method-of-lines model (``res.details["state_columns"]``: the data column of each state).
    """
    if formulation not in ("auto", "derivative", "weak"):
        raise errors.DiscoveryArgumentError("formulation", formulation, "must be 'auto', 'derivative' or 'weak'")
    if int(stencil_order) != stencil_order or stencil_order < 2 or stencil_order % 2:
        raise errors.DiscoveryArgumentError("stencil_order", stencil_order, "must be an even integer >= 2")
    timings = {}
    t_start = time.perf_counter()
    field = _field_name(names)
    t, x, U, ht, hx = _check_inputs(t, x, U)
    lib = pde_library(field, degree, max_order, constant)
    reasons = []

    # noise, periodicity, formulation
    sigma = spatial.noise_level(U)
    std = float(np.std(U)) or 1.0
    rel = sigma / std
    if periodic is None:
        periodic = spatial.detect_periodic(U, axis=1, sigma=sigma)
        reasons.append(f"x is {'periodic' if periodic else 'not periodic'} (detected from the data's continuation "
                       "across the ends of the grid)")
    else:
        periodic = bool(periodic)
        reasons.append(f"x is {'periodic' if periodic else 'not periodic'} (as given)")
    clean = rel <= CLEAN_NOISE
    if formulation == "auto":
        candidates = ["derivative", "weak"] if clean else ["weak"]
        why = ("clean, so both formulations are fitted and the one whose model scores better under the sparsity "
               "rule is kept" if clean else "the weak formulation is used (no derivatives of the data)")
        reasons.append(f"estimated noise {100 * rel:.2g}% of the data's std: {why}")
    else:
        candidates = [formulation]
        reasons.append(f"estimated noise {100 * rel:.2g}% of the data's std; the {formulation} formulation was "
                       "requested")
    sigma_used = 0.0 if clean else sigma
    timings["noise"] = time.perf_counter() - t_start

    fits = {}
    for form in candidates:
        t0 = time.perf_counter()
        if form == "derivative":
            fits[form] = _fit_derivative(t, x, U, lib, periodic, sigma_used, derivative, method, selection)
        else:
            fits[form] = _fit_weak(t, x, U, lib, periodic, sigma_used, method, selection, reasons)
        timings[f"fit_{form}"] = time.perf_counter() - t0
    form = min(fits, key=lambda f: _knee_score(fits[f]["residual"], int(fits[f]["active"].sum())))
    if len(fits) > 1:
        reasons.append("chosen models: " + ", ".join(f"{f} {int(v['active'].sum())} terms, relative residual "
                                                      f"{v['residual']:.3g}" for f, v in fits.items()) +
                       f"; the {form} formulation is kept (the better score of the sparsity rule)")
    chosen = fits[form]
    Theta, b, tix, fit, coef, active = (chosen[k] for k in ("Theta", "b", "time_index", "fit", "coef", "active"))
    if form == "weak":
        reasons.append("weak form: " + chosen["test_functions"].describe())
    else:
        dm = derivative if derivative != "auto" else ("spectral" if periodic else "fd" if clean else "savgol")
        tm = f"{FD_ORDER}th-order finite differences" if clean else "Savitzky-Golay"
        reasons.append(f"derivative form: u_t by {tm}, space derivatives by {dm} differentiation, products by "
                       "the chain rule")
    reasons.append(f"D({field}): " + fit.reasons[0].split(": ", 1)[1])
    if not active.any():
        raise errors.NoModelFoundError(field, "the sparsity selection kept no term; " + fit.reasons[0])

    # uncertainty
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    mean, sd = _bootstrap(Theta, b, active, tix, rng, bootstrap)
    coefficients = [Coefficient(field, lib.names[j], float(coef[j]), float(mean[j]), float(sd[j]))
                    for j in range(len(lib)) if active[j]]
    timings["bootstrap"] = time.perf_counter() - t0

    # scores
    t0 = time.perf_counter()
    residual = {field: chosen["residual"]}
    cut = t[0] + (1 - HOLDOUT) * (t[-1] - t[0])
    held = t[tix] >= cut
    train = ~held
    if held.any() and train.sum() > active.sum():
        c = np.zeros(len(lib))
        c[active] = np.linalg.lstsq(Theta[train][:, active], b[train], rcond=None)[0]
        heldout = {field: relative_residual(Theta[held], b[held], c)}
    else:
        heldout = {field: residual[field]}
    score = Score(residual, heldout)

    # the model
    u0 = denoise(U[0], periodic, sigma_used)[0]
    boundary, boundary_info = None, {}
    if not periodic:
        r = max([spatial.central_radius(lib.terms[j].order, stencil_order)
                 for j in np.flatnonzero(active) if lib.terms[j].order > 0] + [0])
        tsym = sp.Symbol(TIME_NAME, real=True)
        boundary = {}
        for cidx in list(range(r)) + list(range(U.shape[1] - r, U.shape[1])):
            pc, tc, half = _boundary_polynomial(t, U[:, cidx], sigma_used, std)
            boundary[cidx] = _boundary_expr(pc, tc, half, tsym)
            boundary_info[cidx] = len(pc) - 1
            u0[cidx] = float(np.polynomial.Polynomial(pc)((t[0] - tc) / half))
        if boundary:
            reasons.append(f"Dirichlet data: the outer {r} column(s) on each side follow the data, as polynomials in t "
                           f"of degree {', '.join(str(d) for d in boundary_info.values())}")
    model, columns = mol_model(lib, coef, x, periodic=periodic, init=u0, name=name, stencil_order=stencil_order,
                               boundary=boundary)
    reasons.append(f"model: method of lines on the data's {x.size}-point grid, central differences of order "
                   f"{stencil_order}, {'periodic' if periodic else 'Dirichlet'}; {model.n_states} states")
    equations = {lib.symbols[0]: sp.Add(*[sp.Float(float(coef[j]), 17) * lib.exprs[j]
                                          for j in range(len(lib)) if active[j]])}
    timings["model"] = time.perf_counter() - t0
    sol = None
    if simulate:
        t0 = time.perf_counter()
        sol = _resimulate(model, t, U, columns, field, score, sigma_used, periodic)
        timings["simulate"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    details = {"Theta": Theta, "b": b, "time_index": tix, "heldout": held, "periodic": periodic,
               "sigma": sigma, "state_columns": columns, "fits": {f: v["fit"] for f, v in fits.items()},
               "residuals": {f: v["residual"] for f, v in fits.items()}, "solution": sol, "u0": u0,
               "t_span": (float(t[0]), float(t[-1]))}  # the span of the data (boundary values fitted there)
    if "test_functions" in chosen:
        details["test_functions"] = chosen["test_functions"]
    return DiscoveryResult(model, equations, coefficients, score, lib, fit, form, {field: rel}, reasons,
                           timings, details)
