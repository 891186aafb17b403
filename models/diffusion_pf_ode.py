"""The probability-flow ODE of a variance-preserving diffusion model, for Gaussian data.

Source: Y. Song, J. Sohl-Dickstein, D. P. Kingma, A. Kumar, S. Ermon and B. Poole,
"Score-Based Generative Modeling through Stochastic Differential Equations", ICLR 2021
(VP SDE eq. 11, probability-flow ODE eq. 13, linear schedule beta_min = 0.1,
beta_max = 20); problem ``pf_ode_vp_gaussian`` of ``tests/data/exact.json``, which gives
the ODE in the diffusion time t,

    dx/dt = -(1/2) beta(t) [x + score_t(x)],   score_t(x) = -(x - alpha(t) mu) / sigma(t)^2,
    beta(t) = beta_min + t (beta_max - beta_min),
    alpha(t) = exp(-(beta_max - beta_min) t^2/4 - beta_min t/2),
    sigma(t)^2 = 1 - alpha(t)^2 + alpha(t)^2 s^2,

for data x0 ~ N(mu, s^2) in each of d components, and its exact solution: the affine flow
map ``x(t) = alpha(t) mu + sigma(t)/sigma(1) (x(1) - alpha(1) mu)``.

Sampling integrates from t = 1 (noise) back to t = 0 (data).  symdyn's solvers go
forward, so the model's independent variable is the **reverse time** ``tau = 1 - t``:

    dx_i/dtau = (1/2) beta(1 - tau) [x_i + score_i],   0 <= tau <= 1  (T_SPAN),

with the initial state x(t = 1) = ``x_start`` and the end state the data sample.  For
Gaussian data ``x + score`` is affine in x, and the equations are written regrouped,

    dx_i/dtau = a(tau) x_i + b(tau),   a = (1/2) beta (1 - 1/sigma^2),   b = (1/2) beta alpha mu / sigma^2,

the same ``a`` for every component: the linear part is ``a(tau) I``, a scalar function of
time times the identity.  (Written as ``x + score``, x would cancel against
``x/sigma^2`` near t = 1, where sigma^2 -> 1, and the small Jacobian ``a`` could not be
recovered from the right-hand side by finite differences.)  ``a`` reaches
``(1/2) beta_min (1 - 1/s^2)`` at tau = 1, e.g. -500 for s = 0.01 (stiff).  Parameters
``beta_min beta_max mu s`` (defaults from the JSON); ``beta alpha sigma2 a b`` are
observed quantities.  The default ``d = 2`` starts from the two JSON variants with
mu = 2, s = 1/2: x(1) = (1, -1.5).

``mixture=[(w, mean, std), ...]`` replaces the Gaussian by a Gaussian mixture with
isotropic components ``N(mean, std^2 I)`` (``mean`` a number or d numbers).  Its
diffused density is the mixture of ``N(alpha mean_k, sigma_k^2 I)``,
``sigma_k^2 = 1 - alpha^2 + alpha^2 std_k^2``, and the score is exact,

    score = sum_k r_k(x) (-(x - alpha mean_k) / sigma_k^2),
    r_k = 1 / (1 + sum_{j != k} exp(l_j - l_k)),
    l_k = log w_k - (d/2) log sigma_k^2 - |x - alpha mean_k|^2 / (2 sigma_k^2),

(the responsibilities as a softmax that cannot overflow into NaN), but the flow has no
closed form.  Its parameters are ``w<k> s<k> mu<k>_<i>``.

>>> m = build()
>>> m.state_names, m.param_names
(['x1', 'x2'], ['beta_min', 'beta_max', 'mu', 's'])
"""

import numpy as np
import sympy as sp

import symdyn as sd

from ._common import exact_entry, exact_number, merge_params, state_tuple

#: in the model's reverse time tau = 1 - t: from noise (t = 1) to data (t = 0)
T_SPAN = (0.0, 1.0)

PROBLEM = "pf_ode_vp_gaussian"
_ENTRY = exact_entry(PROBLEM)
_FIRST = _ENTRY["variants"][0]
#: the schedule and the data of the first JSON variant
DEFAULTS = {
    "beta_min": exact_number(_ENTRY["parameters"]["beta_min"]),
    "beta_max": exact_number(_ENTRY["parameters"]["beta_max"]),
    "mu": exact_number(_FIRST["mu"]),
    "s": exact_number(_FIRST["s"]),
}
#: x(1) of the JSON variants with the data of the first one: the default initial state
X_START = tuple(
    exact_number(v["x(1)"]) for v in _ENTRY["variants"] if (v["mu"], v["s"]) == (_FIRST["mu"], _FIRST["s"])
)


def alpha(t, beta_min=DEFAULTS["beta_min"], beta_max=DEFAULTS["beta_max"]):
    """``alpha(t) = exp(-(1/2) int_0^t beta)`` in the diffusion time ``t``."""
    t = np.asarray(t, dtype=float)
    return np.exp(-(beta_max - beta_min) * t**2 / 4 - beta_min * t / 2)


def sigma(t, s=DEFAULTS["s"], beta_min=DEFAULTS["beta_min"], beta_max=DEFAULTS["beta_max"]):
    """The standard deviation of the diffused data, ``sqrt(1 - alpha^2 + alpha^2 s^2)``."""
    a2 = alpha(t, beta_min, beta_max) ** 2
    return np.sqrt(1 - a2 + a2 * s**2)


def exact(tau, x_start=X_START, mu=DEFAULTS["mu"], s=DEFAULTS["s"],
          beta_min=DEFAULTS["beta_min"], beta_max=DEFAULTS["beta_max"]):
    """The exact state at the model's time ``tau`` (diffusion time ``1 - tau``), Gaussian data.

    Returns an array of shape ``shape(tau) + (d,)``.

    >>> np.allclose(exact(0.0), X_START)
    True
    """
    t = 1.0 - np.asarray(tau, dtype=float)[..., None]
    x_start = np.asarray(x_start, dtype=float)
    a1, s1 = alpha(1.0, beta_min, beta_max), sigma(1.0, s, beta_min, beta_max)
    return alpha(t, beta_min, beta_max) * mu + sigma(t, s, beta_min, beta_max) / s1 * (x_start - a1 * mu)


def _start(d, x_start):
    if x_start is None:
        return [X_START[i % len(X_START)] for i in range(d)]
    x_start = [float(v) for v in np.atleast_1d(x_start)]
    if len(x_start) != d:
        raise ValueError(f"x_start has {len(x_start)} values for d = {d} components")
    return x_start


def build(*, d=2, x_start=None, mixture=None, **params) -> sd.Model:
    """The PF-ODE in ``d`` dimensions in reverse time, started at ``x_start`` (default: the JSON's).

    Keywords ``beta_min beta_max`` (and ``mu s`` without ``mixture``) override the parameters.

    >>> build(d=3).n_states
    3
    """
    if isinstance(d, bool) or int(d) != d or d < 1:
        raise ValueError(f"d must be a positive integer, got {d!r}")
    d = int(d)
    defaults = {k: DEFAULTS[k] for k in ("beta_min", "beta_max")}
    if mixture is None:
        defaults.update(mu=DEFAULTS["mu"], s=DEFAULTS["s"])
    p = merge_params(defaults, params)
    m = sd.Model(f"diffusion_pf_ode_d{d}" + ("_mixture" if mixture is not None else ""))
    x = state_tuple(m, "x", _start(d, x_start))
    bmin, bmax = m.params("beta_min beta_max", values=[p["beta_min"], p["beta_max"]])
    t = 1 - m.t  # the diffusion time
    beta = m.observed("beta", bmin + t * (bmax - bmin))
    alpha_t = m.observed("alpha", sp.exp(-(bmax - bmin) * t**2 / 4 - bmin * t / 2))
    half_beta = beta / 2
    if mixture is None:
        mu, s = m.params("mu s", values=[p["mu"], p["s"]])
        sigma2 = m.observed("sigma2", 1 - alpha_t**2 + alpha_t**2 * s**2)
        # (beta/2)(x + score) = a x + b, regrouped so that x does not cancel against x/sigma2
        a = m.observed("a", half_beta * (1 - 1 / sigma2))
        b = m.observed("b", half_beta * alpha_t * mu / sigma2)
        for xi in x:
            m.eq(sd.D(xi), a * xi + b)
        return m
    for xi, sc in zip(x, _mixture_score(m, x, alpha_t, mixture)):
        m.eq(sd.D(xi), half_beta * (xi + sc))
    return m


def _mixture_score(m, x, alpha_t, mixture):
    """The exact score of a diffused isotropic Gaussian mixture (observed ``r<k>``, ``sigma2_<k>``)."""
    d, comps = len(x), list(mixture)
    if not comps:
        raise ValueError("mixture needs at least one component (w, mean, std)")
    means, sig2, logs = [], [], []
    for k, comp in enumerate(comps, start=1):
        try:
            w, mean, std = comp
        except (TypeError, ValueError):
            raise ValueError(f"mixture component {k} must be (weight, mean, std), got {comp!r}") from None
        mean = [float(v) for v in np.broadcast_to(np.asarray(mean, dtype=float), (d,))]
        if not (w > 0 and std > 0):
            raise ValueError(f"mixture component {k}: weight and std must be positive, got {w!r}, {std!r}")
        wk, sk = m.params(f"w{k} s{k}", values=[float(w), float(std)])
        mk = m.params([f"mu{k}_{i}" for i in range(1, d + 1)], values=mean)
        mk = mk if isinstance(mk, tuple) else (mk,)
        s2 = m.observed(f"sigma2_{k}", 1 - alpha_t**2 + alpha_t**2 * sk**2)
        dist2 = sp.Add(*[(xi - alpha_t * mi) ** 2 for xi, mi in zip(x, mk)])
        means.append(mk)
        sig2.append(s2)
        logs.append(m.observed(f"l{k}", sp.log(wk) - sp.Rational(d, 2) * sp.log(s2) - dist2 / (2 * s2)))
    resp = [
        m.observed(f"r{k + 1}", 1 / (1 + sp.Add(*[sp.exp(lj - lk) for j, lj in enumerate(logs) if j != k])))
        for k, lk in enumerate(logs)
    ] if len(comps) > 1 else [sp.Integer(1)]
    return [
        sp.Add(*[-r * (xi - alpha_t * mk[i]) / s2 for r, mk, s2 in zip(resp, means, sig2)])
        for i, xi in enumerate(x)
    ]
