"""The data of the discovery tests and benchmark, built in one place so that both use the same.

ODE systems of the model library simulated at rtol 1e-10 and sampled uniformly; Burgers from
its exact (Cole-Hopf) solution; Kuramoto-Sivashinsky from a 4096-point run subsampled to 128
points.  Noise is Gaussian: ``level`` x the standard deviation of each state (ODEs) or of all
the data (PDEs), from ``np.random.default_rng(seed)``.

>>> model, t, U = ode_data("lotka_volterra")
>>> U.shape
(7501, 2)
"""
import functools

import numpy as np

#: name -> (model module, build() keywords, record length, sample step)
ODE_SYSTEMS = {
    "lorenz": ("lorenz", {}, 20.0, 0.002),
    "lotka_volterra": ("lotka_volterra", {}, 15.0, 0.002),
    "vdp_mu1": ("van_der_pol", {"mu": 1.0}, 20.0, 0.002),
    "vdp_mu5": ("van_der_pol", {"mu": 5.0}, 30.0, 0.002),
    "rossler": ("rossler", {}, 60.0, 0.005),
    "duffing": ("duffing", {}, 20.0, 0.002),
}
BURGERS_NU = 0.1


@functools.lru_cache(maxsize=None)
def ode_data(system):
    """``(model, t, U)``: the system of :data:`ODE_SYSTEMS` simulated at its sample times (cached)."""
    import models
    import symdyn as sd
    module, params, T, dt = ODE_SYSTEMS[system]
    model = models.get(module).build(**params)
    t = np.arange(0.0, T + dt / 2, dt)
    sol = sd.compile(model).solve((0.0, T), saveat=t, rtol=1e-10, atol=1e-12)
    assert sol.success, sol.message
    return model, t, sol.u


def with_noise(U, level, seed, per_state=True):
    """``U`` plus Gaussian noise of ``level`` x the std of each column (``per_state``) or of all of ``U``."""
    rng = np.random.default_rng(seed)
    scale = np.std(U, axis=0) if per_state else np.std(U)
    return U + level * scale * rng.standard_normal(U.shape)


def truth(model):
    """``{(state, term): coefficient}`` of ``model`` with its parameter values, terms printed as the
    polynomial library prints them (``"x*z"``)."""
    import sympy as sp
    values = dict(zip(model.param_symbols, model.param_values))
    out = {}
    for state, rhs in model.equations.items():
        for term, c in sp.expand(rhs.xreplace(values)).as_coefficients_dict().items():
            out[(state.name, str(term))] = float(c)
    return out


@functools.lru_cache(maxsize=None)
def burgers_data():
    """``(t, x, U)``: the exact viscous Burgers solution (nu = 0.1) on 101 x 101 points of [0, 1]^2."""
    from models import burgers
    x = np.linspace(0.0, 1.0, 101)
    t = np.linspace(0.0, 1.0, 101)
    return t, x, burgers.exact(t[:, None], x[None, :], BURGERS_NU)


@functools.lru_cache(maxsize=None)
def ks_data(n_fine=4096, n=128):
    """``(t, x, U)``: Kuramoto-Sivashinsky to t = 100 (251 samples), run on ``n_fine`` points and kept on ``n``."""
    import symdyn as sd
    from models import kuramoto_sivashinsky
    cm = sd.compile(kuramoto_sivashinsky.build(N=n_fine))
    t = np.linspace(0.0, 100.0, 251)
    sol = cm.solve((0.0, 100.0), saveat=t, method="etdrk4", rtol=1e-9)
    assert sol.success, sol.message
    step = n_fine // n
    return t, np.array(kuramoto_sivashinsky.grid(n)), sol.u[:, step - 1::step]
