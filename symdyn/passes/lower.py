"""Lowering: a rewritten model becomes the flat programs of the functions to compile."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from .. import errors
from ..model import Model
from .constants import fold_constant_subtrees

try:  # symengine differentiates big models fast; SymPy remains the reference
    import symengine as _se
except ImportError:  # pragma: no cover - symengine is a dependency, but keep working without
    _se = None


@dataclass(frozen=True)
class Program:
    """A straight-line program: the contract between the rewrite passes and codegen.

    ``assignments`` is a topologically ordered list ``(tmp, expr)`` where ``expr`` uses
    the inputs (``t``, ``states``, ``params``) and earlier temporaries; ``outputs[k]`` is
    the value stored in slot ``k`` of the output array.  ``labels[k]`` names the output
    for error messages (e.g. ``"D(x)"`` or ``"dD(x)/dy"``).

    >>> import sympy as sp
    >>> x, t = sp.symbols("x t")
    >>> p = Program(t=t, states=(x,), params=(), assignments=(), outputs=(-x,), labels=("D(x)",))
    >>> p.n_outputs
    1
    """

    t: sp.Symbol
    states: tuple
    params: tuple
    assignments: tuple
    outputs: tuple
    labels: tuple = field(default=())

    @property
    def n_outputs(self) -> int:
        return len(self.outputs)

    def split(self, size: int) -> list:
        """The outputs in chunks of at most ``size``, as separate programs (see codegen).

        >>> import sympy as sp
        >>> x, t = sp.symbols("x t")
        >>> [c.n_outputs for c in Program(t, (x,), (), (), (x, 2 * x, 3 * x)).split(2)]
        [2, 1]
        """
        if self.assignments:
            raise ValueError("split a program before its assignments are made (before cse)")
        size = max(1, int(size))
        return [
            Program(self.t, self.states, self.params, (), self.outputs[k:k + size], self.labels[k:k + size])
            for k in range(0, max(len(self.outputs), 1), size)
        ]

    def with_body(self, assignments, outputs) -> "Program":
        return Program(self.t, self.states, self.params, tuple(assignments), tuple(outputs), self.labels)

    def __str__(self):
        lines = [f"{tmp} = {e}" for tmp, e in self.assignments]
        lines += [f"out[{k}] = {e}" for k, e in enumerate(self.outputs)]
        return "\n".join(lines)


@dataclass(frozen=True)
class JacobianPattern:
    """The structural nonzeros of the Jacobian in compressed sparse column (CSC) order.

    ``indptr`` and ``indices`` are those of ``scipy.sparse.csc_matrix``: the values of
    column ``j`` are ``vals[indptr[j]:indptr[j+1]]`` at rows ``indices[...]``.
    """

    n: int
    indptr: np.ndarray
    indices: np.ndarray

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def dense_positions(self) -> np.ndarray:
        """Column-major positions ``col*n + row`` of every nonzero, in CSC order."""
        cols = np.repeat(np.arange(self.n, dtype=np.int64), np.diff(self.indptr))
        return cols * self.n + self.indices.astype(np.int64)


def _almost_everywhere(d: sp.Expr) -> sp.Expr:
    """Derivatives of steps (``DiracDelta``, ``d floor/dx``) are zero almost everywhere."""
    if d.has(sp.DiracDelta):
        d = d.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero)
    if d.has(sp.Derivative):
        d = d.replace(
            lambda e: isinstance(e, sp.Derivative) and isinstance(e.expr, (sp.floor, sp.ceiling)),
            lambda e: sp.S.Zero,
        )
    return d


def differentiate(expr: sp.Expr, symbols, label: str = "") -> list:
    """``[d expr / d s for s in symbols]``; symengine when it can, SymPy where it cannot.

    symengine differentiates about 50x faster than SymPy, which matters for 10^4
    equations; any entry it leaves as an unevaluated ``Derivative`` is redone by SymPy.

    >>> import sympy as sp
    >>> x, y = sp.symbols("x y", real=True)
    >>> differentiate(sp.Abs(x) * y, [x, y])
    [y*sign(x), Abs(x)]
    """
    out = None
    if _se is not None:
        try:
            e = _se.sympify(expr)
            # symengine drops assumptions: map its plain symbols back to the model's
            back = {sp.Symbol(s.name): s for s in expr.free_symbols}
            out = [sp.sympify(e.diff(_se.Symbol(s.name))).xreplace(back) for s in symbols]
        except (RuntimeError, TypeError, ValueError, NotImplementedError, AttributeError):
            out = None
    if out is None:
        out = [expr.diff(s) for s in symbols]
    result = []
    for s, d in zip(symbols, out):
        if d.has(sp.Derivative):
            d = expr.diff(s)
        d = _almost_everywhere(d)
        if d.has(sp.Derivative):
            raise errors.ModelError(f"{label or expr}: cannot differentiate by {s}: {d}")
        result.append(fold_constant_subtrees(d) if d.atoms(sp.NumberSymbol) else d)
    return result


def sparse_jacobian(model: Model):
    """The symbolic Jacobian, differentiating each equation only by the states it contains.

    Returns ``(pattern, entries)`` with ``entries`` in CSC order.  The cost is linear in
    the number of structural nonzeros.

    >>> import symdyn as sd
    >>> m = sd.Model("m"); x, y = m.states("x y", init=[1.0, 1.0])
    >>> m.eq(sd.D(x), x * y); m.eq(sd.D(y), -y)
    >>> pattern, entries = sparse_jacobian(m)
    >>> pattern.indptr.tolist(), pattern.indices.tolist(), entries
    ([0, 1, 3], [0, 0, 1], [y, x, -1])
    """
    states = model.state_symbols
    index = {s: i for i, s in enumerate(states)}
    columns: list[list] = [[] for _ in states]
    for row, (state, expr) in enumerate(zip(states, model.rhs)):
        syms = [sym for sym in expr.free_symbols if sym in index]
        for sym, d in zip(syms, differentiate(expr, syms, f"D({state})")):
            if d != 0:
                columns[index[sym]].append((row, d))
    indptr = np.zeros(len(states) + 1, dtype=np.int32)
    indices, entries = [], []
    for col, items in enumerate(columns):
        items.sort(key=lambda it: it[0])
        indices.extend(r for r, _ in items)
        entries.extend(d for _, d in items)
        indptr[col + 1] = len(indices)
    return JacobianPattern(len(states), indptr, np.asarray(indices, dtype=np.int32)), entries


def lower(model: Model, jacobian: bool = True):
    """The programs of a compiled model: ``rhs`` and (optionally) ``jac`` (CSC values).

    Returns ``(programs, pattern)``; ``pattern`` is None without a Jacobian.

    >>> import symdyn as sd
    >>> m = sd.Model("m"); x = m.states("x", init=1.0); m.eq(sd.D(x), -x)
    >>> programs, pattern = lower(m)
    >>> print(programs["rhs"])
    out[0] = -x
    """
    states = tuple(model.state_symbols)
    params = tuple(model.param_symbols)
    names = model.state_names
    programs = {
        "rhs": Program(model.t, states, params, (), tuple(model.rhs), tuple(f"D({s})" for s in names))
    }
    pattern = None
    if jacobian:
        pattern, entries = sparse_jacobian(model)
        labels = []
        for col in range(pattern.n):
            for k in range(pattern.indptr[col], pattern.indptr[col + 1]):
                labels.append(f"dD({names[pattern.indices[k]]})/d{names[col]}")
        programs["jac"] = Program(model.t, states, params, (), tuple(entries), tuple(labels))
    return programs, pattern
