"""The result of a solve: output arrays, a return code with advice, counters, dense output."""
from __future__ import annotations

import enum

import numpy as np

from . import _status
from ..errors import UnknownNameError

__all__ = ["RetCode", "Solution", "DenseOutput", "PiecewiseDense"]


class RetCode(enum.IntEnum):
    """How a solve ended.  Anything but ``Success`` leaves ``Solution.success`` False."""

    Success = _status.SUCCESS
    MaxSteps = _status.MAX_STEPS
    StepSizeTooSmall = _status.STEP_SIZE_TOO_SMALL
    NonFinite = _status.NON_FINITE
    LinearSolveFailed = _status.LINEAR_SOLVE_FAILED


def _message(code, method, t, t_end, max_steps, explicit):
    if code == RetCode.Success:
        return f"reached t = {t_end!r}"
    where = f"stopped at t = {t:.17g} before t_end = {t_end:.17g}"
    if code == RetCode.MaxSteps:
        tip = (f"{where}: max_steps={max_steps} reached with {method}; "
               "raise max_steps or loosen rtol/atol")
        if explicit:
            tip += ("; if the problem is stiff (many tiny steps), it needs an implicit method: "
                    "method='rodas5p' (or 'auto', which switches when it detects stiffness)")
        return tip
    if code == RetCode.StepSizeTooSmall:
        return (f"{where}: the step size fell below the round-off limit with {method}; the solution "
                "may blow up (a singularity near this t) or the tolerances are too tight for float64; "
                "check the model or loosen rtol/atol")
    if code == RetCode.NonFinite:
        return (f"{where}: the right-hand side produced NaN or Inf with {method} even for tiny steps; "
                "the solution blows up or leaves the model's domain (log/sqrt of a negative, division by "
                "zero) -- check the model and the initial values")
    if code == RetCode.LinearSolveFailed:
        return (f"{where}: the Newton matrix I - h*gamma*J stayed singular with {method} even for tiny "
                "steps; check the Jacobian (NaN entries, a state with no dynamics)")
    return f"{where}: unknown status {int(code)}"


class DenseOutput:
    """Evaluate the continuous extension of every accepted step (``Solution(t)``)."""

    def __init__(self, t0, t_end, rec_t, rec_h, rec_u, rec_k, dense, scale_h=True):
        self.t0, self.t_end = t0, t_end
        self.rec_t, self.rec_h, self.rec_u, self.rec_k, self.dense = rec_t, rec_h, rec_u, rec_k, dense
        # explicit RK: u + h*sum b_i(theta) k_i; Rosenbrock increments already carry the h
        self.scale = 1.0 if not scale_h else None

    def __call__(self, t):
        t = np.asarray(t, dtype=float)
        scalar = t.ndim == 0
        tt = np.atleast_1d(t)
        if np.any(tt < self.t0) or np.any(tt > self.t_end) or not np.all(np.isfinite(tt)):
            raise ValueError(f"dense output is defined on [{self.t0!r}, {self.t_end!r}]; got t outside it")
        i = np.clip(np.searchsorted(self.rec_t, tt, side="right") - 1, 0, len(self.rec_t) - 1)
        h = self.rec_h[i]
        theta = (tt - self.rec_t[i]) / h
        powers = theta[:, None] ** np.arange(1, self.dense.shape[1] + 1)  # (m, deg)
        bt = powers @ self.dense.T  # (m, s_total)
        w = h[:, None] if self.scale is None else self.scale
        out = self.rec_u[i] + w * np.einsum("ms,msn->mn", bt, self.rec_k[i])
        return out[0] if scalar else out


class PiecewiseDense:
    """Dense output of a solve that switched methods: one :class:`DenseOutput` per segment."""

    def __init__(self, pieces):
        self.pieces = pieces
        self.t0, self.t_end = pieces[0].t0, pieces[-1].t_end
        self.starts = np.array([pc.t0 for pc in pieces])

    def __call__(self, t):
        t = np.asarray(t, dtype=float)
        scalar = t.ndim == 0
        tt = np.atleast_1d(t)
        if np.any(tt < self.t0) or np.any(tt > self.t_end) or not np.all(np.isfinite(tt)):
            raise ValueError(f"dense output is defined on [{self.t0!r}, {self.t_end!r}]; got t outside it")
        seg = np.clip(np.searchsorted(self.starts, tt, side="right") - 1, 0, len(self.pieces) - 1)
        out = np.empty((tt.size, self.pieces[0].rec_u.shape[1]))
        for k in np.unique(seg):
            sel = seg == k
            out[sel] = self.pieces[k](np.minimum(tt[sel], self.pieces[k].t_end))
        return out[0] if scalar else out


class Solution:
    """Output of :func:`symdyn.solvers.solve_compiled`.

    ``t`` (m,), ``u`` (m, n) and ``y = u.T``; ``sol["x"]`` is the trajectory of state ``x``
    when names were given.  ``success``, ``retcode`` (:class:`RetCode`), ``message`` (what
    happened and what to try), ``stats`` (nfev, njev, nsteps, naccept, nreject, nlu), ``method``
    (e.g. ``"tsit5"`` or ``"tsit5+rodas5p"``), ``t_reached``, ``u_end``.  With ``dense=True``
    ``sol(t)`` evaluates the continuous extension at any t in the span.
    """

    def __init__(self, t, u, retcode, message, stats, method, names=None, dense_output=None,
                 t_reached=None, u_end=None, segments=None):
        self.t, self.u = t, u
        self.retcode = retcode if type(retcode) is RetCode else RetCode(retcode)
        self._message = message  # a string, or the arguments of _message (formatted when read)
        self.stats = stats
        self.method = method
        self.names = names if type(names) is tuple or names is None else tuple(names)
        self._dense = dense_output
        self.t_reached = t_reached
        self.u_end = u_end
        #: [(t_start, method), ...]: where each method took over (one entry unless `auto` switched)
        self.segments = segments if segments is not None else [(float(t[0]) if len(t) else None, method)]
        #: why this method: the analysis' sentences when ``method="auto"`` chose it
        self.reasons = [f"method {method!r} was requested"]

    @property
    def message(self):
        """What happened, and what to try if the solve failed."""
        if type(self._message) is tuple:
            self._message = _message(*self._message)
        return self._message

    @message.setter
    def message(self, text):
        self._message = text

    @property
    def success(self):
        return self.retcode == RetCode.Success

    @property
    def y(self):
        return self.u.T

    def __getitem__(self, name):
        if self.names is None or name not in self.names:
            raise UnknownNameError(name, "state", self.names or ("(no names given to the solver)",))
        return self.u[:, self.names.index(name)]

    def __call__(self, t):
        if self._dense is None:
            raise RuntimeError("this solution has no dense output; solve with dense=True")
        return self._dense(t)

    def __repr__(self):
        return (f"Solution(method={self.method!r}, retcode={self.retcode.name}, points={len(self.t)}, "
                f"nsteps={self.stats.get('nsteps')})")
