"""Benchmark and test models written in the symdyn DSL, one module per model.

Every module has a docstring citing its source, ``build(**params) -> symdyn.Model``
(keywords override the physical constants; the defaults are the published values)
and ``T_SPAN = (t0, t1)``.  The problems of the Bari IVP test set also have
``reference()``, the published end state, read from ``tests/data/ivp_testset.json``;
the problems of ``tests/data/exact.json`` have ``exact(...)``, their exact solution.

>>> import models
>>> models.build("lorenz").n_states
3
"""
from importlib import import_module

#: the model modules, in the order of ``docs/models.md``
NAMES = (
    "lorenz", "lotka_volterra", "kepler", "vdpol", "rober", "orego", "hires", "pollu",
    "brusselator_1d", "kuramoto_sivashinsky", "allen_cahn", "burgers", "gray_scott_1d",
    "diffusion_pf_ode", "klein_gordon", "hochbruck_ostermann",
    "van_der_pol", "rossler", "duffing", "pendulum",
)


def get(name: str):
    """Return the module of the model called ``name`` (one of :data:`NAMES`)."""
    if name not in NAMES:
        raise KeyError(f"no model {name!r}; known models: {', '.join(NAMES)}")
    return import_module(f"{__name__}.{name}")


def build(name: str, **params):
    """Build the model ``name`` with ``params`` overriding its default constants."""
    return get(name).build(**params)
