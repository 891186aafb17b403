"""The numba side of the emitted time loops (:mod:`codegen.erk`, :mod:`codegen.rosenbrock_loop`,
:mod:`codegen.radau_loop`).

:func:`run_emitted` owns what the loops do not: the output buffers (made by
:func:`._buffers.new_outputs`, grown by :func:`._buffers.grow_outputs` whenever a loop returns
``BUFFER_FULL``, then the loop is called again), the step records of ``dense=True`` (one array,
doubled when full) and the common argument slots.  Each family's
entry (:func:`.explicit.explicit_fused_solve`, :func:`.rosenbrock.rosenbrock_fused_solve`) fills
its own slots and calls it.
"""
import numba
import numpy as np

from codegen.loop_ir import COMMON_F_SLOTS, COMMON_I_SLOTS

from . import _status as st
from ._buffers import grow2, grow_outputs, new_outputs
from ._native import call_stepper

_F = {name: i for i, name in enumerate(COMMON_F_SLOTS)}
_I = {name: i for i, name in enumerate(COMMON_I_SLOTS)}
F_T0, F_TF, F_RTOL, F_BOUND, F_HINIT, F_T, F_H = (_F[k] for k in ("t0", "tf", "rtol", "switch_bound", "h_init", "t",
                                                                   "h"))
I_NSAVE, I_CAP, I_SAVE_STEPS, I_MAX_STEPS, I_ADAPTIVE, I_RESUME, I_M, I_KEEP_DENSE, I_NREC, I_RCAP = (
    _I[k] for k in ("nsave", "cap", "save_steps", "max_steps", "adaptive", "resume", "m", "keep_dense", "nrec",
                    "rcap"))


@numba.njit(cache=True)
def run_emitted(stepper, fargs, iargs, u, p, k0, atol, saveat, save_steps, n_stages, t0, tf, rtol, switch_bound,
                h_init, adaptive, max_steps, keep_dense):
    """Run the emitted loop at ``stepper`` from ``t0`` (state ``u``, updated in place; ``k0`` is
    its work vector for the slope) with the loop's own slots of ``fargs``/``iargs`` already set;
    returns ``(status, t, ts, us, stats, h, rec)``: ``rec`` the step records of ``keep_dense``,
    rows of ``t, h, u, stages`` (``2 + n + n_stages * n`` values; no rows without it)."""
    stats = np.zeros(st.NSTATS, np.int64)
    ts, us, m, rec_t, rec_h, rec_u, rec_k = new_outputs(t0, u, saveat, save_steps, False, n_stages)
    rec = np.empty((64 if keep_dense else 0, 2 + u.shape[0] * (1 + n_stages)))
    fargs[F_T0] = t0
    fargs[F_TF] = tf
    fargs[F_RTOL] = rtol
    fargs[F_BOUND] = switch_bound
    fargs[F_HINIT] = h_init
    fargs[F_T] = t0
    iargs[I_NSAVE] = saveat.shape[0]
    iargs[I_SAVE_STEPS] = 1 if save_steps else 0
    iargs[I_MAX_STEPS] = max_steps
    iargs[I_ADAPTIVE] = 1 if adaptive else 0
    iargs[I_M] = m
    iargs[I_KEEP_DENSE] = 1 if keep_dense else 0
    while True:
        iargs[I_CAP] = ts.shape[0]
        iargs[I_RCAP] = rec.shape[0]
        status = call_stepper(stepper, fargs, iargs, u, p, k0, atol, saveat, ts, us, stats, rec)
        if status != st.BUFFER_FULL:
            break
        ts, us, rec_t, rec_h, rec_u, rec_k = grow_outputs(save_steps, False, iargs[I_M], 0, ts, us, rec_t, rec_h,
                                                          rec_u, rec_k)
        if keep_dense and iargs[I_NREC] == rec.shape[0]:
            rec = grow2(rec, iargs[I_NREC])
        iargs[I_RESUME] = 1
    m = iargs[I_M]
    return status, fargs[F_T], ts[:m], us[:m], stats, fargs[F_H], rec[:iargs[I_NREC]]


def split_records(rec, n, s_total):
    """``(rec_t, rec_h, rec_u, rec_k)`` from the record rows of :func:`run_emitted` (``s_total``
    stages of ``n`` values each), as the numba steppers return them (views of ``rec``).

    >>> import numpy as np
    >>> t, h, u, k = split_records(np.arange(12.0).reshape(2, 6), 1, 3)
    >>> t.tolist(), k.shape
    ([0.0, 6.0], (2, 3, 1))
    """
    return rec[:, 0], rec[:, 1], rec[:, 2:2 + n], rec[:, 2 + n:].reshape(rec.shape[0], s_total, n)
