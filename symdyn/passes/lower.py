"""Lowering: a rewritten model becomes the flat programs of the functions to compile."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ..model import Model


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
        for sym in expr.free_symbols:
            col = index.get(sym)
            if col is None:
                continue
            d = expr.diff(sym)
            if d != 0:
                columns[col].append((row, d))
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
