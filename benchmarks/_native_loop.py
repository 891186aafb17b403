"""A tight native loop around a generated function, for timing it without Python in the way.

``call_loop(addr, t, u, p, out, ncalls)`` calls the native function at ``addr`` (C signature
``void f(double t, const double *u, const double *p, double *out)``) ``ncalls`` times from
numba-compiled code, through :func:`symdyn.solvers._native.call_native` -- the same
intrinsic the integrators use, so the per-call cost measured here is what a solver pays.
The address is a run-time ``int64``, so the on-disk cache (``cache=True``) is valid for
every model and every process.
"""
import numba

from symdyn.solvers._native import call_native


@numba.njit(cache=True)
def call_loop(addr, t, u, p, out, ncalls):
    """Call ``f(t, u, p, out)`` at ``addr`` ``ncalls`` times; returns ``out[0]``."""
    for _ in range(ncalls):
        call_native(addr, t, u, p, out)
    return out[0]
