"""What :func:`symdyn.discover` returns: a model, its equations, coefficients with
uncertainty, scores and a report.

>>> import sympy as sp
>>> from symdyn.discover.result import Coefficient
>>> c = Coefficient("x", "y", 10.0, 10.001, 0.002)
>>> str(c)
'D(x): y  10 (bootstrap 10.001 +- 0.002)'
"""
from __future__ import annotations

import math

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ..model import Model


#: a re-simulation "stays with the data" while its RMS error since the start (over states and
#: samples, each state divided by its std) is below this
VALID_TOLERANCE = 0.1


def valid_time(t, err2) -> float:
    """How long from ``t[0]`` the running RMS of ``err2`` (the mean square error at each time
    ``t``, in units of the data's std) stays below :data:`VALID_TOLERANCE`.

    >>> valid_time(np.arange(4.0), np.array([0.0, 0.0, 0.003, 1.0]))  # running RMS 0, 0, 0.03, 0.5
    3.0
    """
    running = np.sqrt(np.cumsum(err2) / np.arange(1, err2.size + 1))
    bad = np.flatnonzero(running > VALID_TOLERANCE)
    return float((t[bad[0]] if bad.size else t[-1]) - t[0])


@dataclass(frozen=True)
class Coefficient:
    """One discovered coefficient: equation ``D(state)``, library term, fitted value, the mean
    and standard deviation over the bootstrap refits of the regression, and (noisy data refined
    by multiple shooting) the standard deviation from that fit's Gauss-Newton covariance."""

    state: str
    term: str
    value: float
    mean: float
    std: float
    shooting_std: float = math.nan

    def __str__(self):
        text = f"D({self.state}): {self.term}  {self.value:.6g} (bootstrap {self.mean:.6g} +- {self.std:.2g}"
        if math.isfinite(self.shooting_std):
            text += f"; shooting +- {self.shooting_std:.2g}"
        return text + ")"


@dataclass
class Score:
    """Fit quality.

    - ``residual``: per equation, relative residual ``||b - G xi|| / ||b||`` of the regression
      on all rows;
    - ``heldout_residual``: per equation, the same on the held-out rows (the last part of each
      trajectory) with coefficients fitted on the other rows only;
    - ``resim_error``: per state, RMS difference between the data and the compiled model
      simulated from the data at the start of the held-out part, over that part, divided by
      the state's standard deviation (NaN if the simulation failed);
    - ``resim_valid_time``: how long, from the start of the held-out part, the RMS difference
      since the start (each state divided by its standard deviation) stays below
      :data:`VALID_TOLERANCE` (10%);
    - ``resim_success``: the solver reached the end; ``resim_message``: what it said;
      ``resim_reference``: what the simulation was compared with (noisy data are smoothed first);
    - ``noise_ratio``: per equation (weak form), the residual's mean square in units of the
      propagated noise: about 1 when the model explains everything but the noise.
    """

    residual: dict
    heldout_residual: dict
    resim_error: dict = field(default_factory=dict)
    resim_valid_time: float = float("nan")
    resim_span: tuple = ()
    resim_success: bool = False
    resim_message: str = "not simulated"
    resim_reference: str = "the data"
    noise_ratio: dict = field(default_factory=dict)

    def __str__(self):
        fmt = lambda d: ", ".join(f"{k} {v:.3g}" for k, v in d.items())  # noqa: E731
        lines = [f"regression residual (relative): {fmt(self.residual)}",
                 f"held-out residual (relative):   {fmt(self.heldout_residual)}"]
        if self.noise_ratio:
            lines.append(f"residual / propagated noise (1 = only noise left): {fmt(self.noise_ratio)}")
        if self.resim_span:
            t0, t1 = self.resim_span
            if self.resim_success:
                lines.append(f"re-simulation over the held-out span [{t0:.4g}, {t1:.4g}] from the state of "
                             f"{self.resim_reference} at {t0:.4g}: RMS error / std {fmt(self.resim_error)}; "
                             f"RMS error since the start below {100 * VALID_TOLERANCE:g}% of the std for "
                             f"{self.resim_valid_time:.4g} time units")
            else:
                lines.append(f"re-simulation over [{t0:.4g}, {t1:.4g}] failed: {self.resim_message}")
        return "\n".join(lines)


@dataclass
class DiscoveryResult:
    """The outcome of :func:`symdyn.discover`.

    - ``model``: an ``sd.Model`` with the discovered equations (numbers as coefficients),
      initial state = the first sample; compile and solve it like any other;
    - ``equations``: ``{state symbol: right-hand side}`` (SymPy);
    - ``coefficients``: a list of :class:`Coefficient` (value, bootstrap mean and std);
    - ``score``: a :class:`Score`;
    - ``library``: the candidate terms; ``fit``: the :class:`~symdyn.discover.SparseFit`;
    - ``formulation``: ``"derivative"`` or ``"weak"``; ``noise``: relative noise per state;
    - ``reasons``: sentences on every automatic choice; ``timings``: seconds per stage.
    """

    model: Model
    equations: dict
    coefficients: list
    score: Score
    library: object
    fit: object
    formulation: str
    noise: dict
    reasons: list
    timings: dict
    details: dict = field(default_factory=dict)

    @property
    def coefficient_table(self) -> dict:
        """``{(state, term): value}``: every nonzero coefficient."""
        return {(c.state, c.term): c.value for c in self.coefficients}

    def terms(self, state) -> set:
        """The library terms (as strings) present in ``D(state)``."""
        return {c.term for c in self.coefficients if c.state == str(state)}

    def report(self) -> str:
        """Equations, how sparsity and the formulation were chosen, and the scores, as text."""
        lines = [f"discovered model {self.model.name!r}: {self.model.n_states} states, "
                 f"{len(self.library)} candidate terms, {len(self.coefficients)} chosen"]
        for s, rhs in self.equations.items():
            lines.append(f"  D({s}) = {_pretty(rhs)}")
        lines.append("")
        refined = any(math.isfinite(c.shooting_std) for c in self.coefficients)
        lines.append("coefficients (fitted value; bootstrap mean +- std"
                     + ("; std of the multiple-shooting fit):" if refined else "):"))
        for c in self.coefficients:
            lines.append(f"  {c}")
        lines.append("")
        lines.append("how it was chosen:")
        lines += [f"  - {r}" for r in self.reasons]
        lines.append("")
        lines.append("scores:")
        lines += [f"  {line}" for line in str(self.score).splitlines()]
        lines.append("")
        lines.append("time: " + ", ".join(f"{k} {1e3 * v:.0f} ms" for k, v in self.timings.items()))
        return "\n".join(lines)

    def model_source(self) -> str:
        """The model as the source of a model file (see :func:`model_source`)."""
        span = self.details.get("t_span")
        lines = [f"Model discovered by symdyn.discover ({self.formulation} formulation).", "",
                 "Discovered equations (6 digits shown; the code below has every digit):"]
        lines += [f"    D({s}) = {_pretty(rhs)}" for s, rhs in self.equations.items()]
        return model_source(self.model, span, "\n".join(lines), list_equations=False)

    def write_model(self, path) -> None:
        """Write :meth:`model_source` to ``path``: a file that ``symdyn run`` accepts."""
        from pathlib import Path

        Path(path).write_text(self.model_source())

    def __repr__(self):
        eqs = "; ".join(f"D({s}) = {_pretty(r)}" for s, r in self.equations.items())
        return f"DiscoveryResult({eqs})"


def model_source(model: Model, t_span=None, doc: str = "", list_equations: bool = True) -> str:
    """Python source of a model file: ``build() -> sd.Model`` and ``T_SPAN``, as ``symdyn run`` expects.

    Coefficients are written with 17 significant digits, so the file rebuilds exactly the
    same doubles.

    >>> import symdyn as sd
    >>> m = sd.Model("decay"); x = m.states("x", init=1.0); m.eq(sd.D(x), -0.5 * x)
    >>> "m.eq(sd.D(x), -0.5*x)" in model_source(m, (0.0, 1.0))
    True
    """
    names = model.state_names
    exprs = list(model.rhs) + list(model.observed_exprs.values())
    functions = sorted({type(f).__name__ for rhs in exprs for f in rhs.atoms(sp.Function)})
    lines = ['"""' + (doc.strip() or f"Model {model.name!r}.")]
    if list_equations:
        shown = list(model.equations.items())
        for s, rhs in shown[:MAX_LISTED]:
            lines.append(f"    D({s}) = {_pretty(rhs)}")
        if len(shown) > MAX_LISTED:
            lines.append(f"    ... ({len(shown) - MAX_LISTED} more)")
    lines.append('"""')
    if functions:
        lines.append(f"from sympy import {', '.join(functions)}")
        lines.append("")
    lines.append("import symdyn as sd")
    lines.append("")
    if t_span is not None:
        lines.append(f"T_SPAN = ({float(t_span[0])!r}, {float(t_span[1])!r})")
        lines.append("")
    lines.append("")
    lines.append("def build() -> sd.Model:")
    lines.append(f'    """The model {model.name!r} ({model.n_states} states)."""')
    lines.append(f"    m = sd.Model({model.name!r})")
    init = ", ".join(repr(float(v)) if v is not None else "0.0" for v in model.init)
    lines.append(f"    {', '.join(names)} = m.states({' '.join(names)!r}, init=[{init}])")
    printer = _FullPrecision()
    pnames = model.param_names
    if pnames:
        values = ", ".join(repr(float(v)) for v in model.param_values)
        lines.append(f"    {', '.join(pnames)} = m.params({' '.join(pnames)!r}, values=[{values}])")
    if any(model.t in e.free_symbols for e in exprs):
        lines.append("    t = m.t")
    for sym in model.observed_order():
        lines.append(f"    {sym} = m.observed({str(sym)!r}, {printer.doprint(model.observed_exprs[sym])})")
    for s, rhs in model.equations.items():
        lines.append(f"    m.eq(sd.D({s}), {printer.doprint(rhs)})")
    lines.append("    return m")
    return "\n".join(lines) + "\n"


#: the model file's docstring lists at most this many equations
MAX_LISTED = 12


class _FullPrecision(sp.printing.str.StrPrinter):
    """SymPy's str printer with every Float written with 17 significant digits."""

    def _print_Float(self, expr):
        return repr(float(expr))


def _pretty(expr, digits: int = 6):
    """The expression with its numbers shown to ``digits`` significant digits."""
    return expr.xreplace({n: sp.Float(n, digits) for n in expr.atoms(sp.Float)})
