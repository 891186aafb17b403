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
    stored to slot ``positions[k]`` of the output array (slot ``k`` when ``positions``
    is empty).  ``labels[k]`` names the output for error messages (e.g. ``"D(x)"``).
    ``loops`` are :class:`Loop` families of outputs computed by one template each.

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
    positions: tuple = field(default=())
    loops: tuple = field(default=())

    @property
    def n_outputs(self) -> int:
        """Scalar outputs plus the outputs of every loop."""
        return len(self.outputs) + sum(lp.count for lp in self.loops)

    @property
    def slots(self) -> tuple:
        return self.positions if self.positions else tuple(range(len(self.outputs)))

    def split(self, size: int) -> list:
        """Scalar outputs in chunks of at most ``size``, and one program per loop.

        Each piece becomes one native function (see codegen), which keeps LLVM's work
        linear in the size of the model.

        >>> import sympy as sp
        >>> x, t = sp.symbols("x t")
        >>> [c.n_outputs for c in Program(t, (x,), (), (), (x, 2 * x, 3 * x)).split(2)]
        [2, 1]
        """
        if self.assignments:
            raise ValueError("split a program before its assignments are made (before cse)")
        size = max(1, int(size))
        slots, labels = self.slots, self.labels or tuple(str(k) for k in range(len(self.outputs)))
        pieces = [
            Program(self.t, self.states, self.params, (), self.outputs[k:k + size], labels[k:k + size],
                    slots[k:k + size])
            for k in range(0, len(self.outputs), size)
        ]
        pieces += [Program(self.t, self.states, self.params, (), (), (), (), (lp,)) for lp in self.loops]
        return pieces or [self]

    def with_body(self, assignments, outputs) -> "Program":
        return Program(self.t, self.states, self.params, tuple(assignments), tuple(outputs), self.labels,
                       self.positions, self.loops)

    def with_loops(self, loops) -> "Program":
        return Program(self.t, self.states, self.params, self.assignments, self.outputs, self.labels,
                       self.positions, tuple(loops))

    def __str__(self):
        lines = [f"{tmp} = {e}" for tmp, e in self.assignments]
        lines += [f"out[{k}] = {e}" for k, e in zip(self.slots, self.outputs)]
        lines += [str(lp) for lp in self.loops]
        return "\n".join(lines)


@dataclass(frozen=True)
class Loop:
    """``count`` outputs computed by one template at shifted state indices.

    Member ``i`` has anchor ``a = anchor_start + i*anchor_stride``; placeholder
    ``placeholders[j]`` stands for ``u[a + offsets[j]]``; the value of ``body`` (a
    program with those placeholders as its states and one output) is stored to
    ``out[out_positions[i]]``.  Method-of-lines stencils become such loops, so code
    size and compile time do not grow with the grid.
    """

    body: "Program"
    offsets: tuple
    count: int
    anchor_start: int
    anchor_stride: int
    out_positions: np.ndarray
    label: str = ""

    @property
    def placeholders(self) -> tuple:
        return self.body.states

    def with_body(self, body) -> "Loop":
        return Loop(body, self.offsets, self.count, self.anchor_start, self.anchor_stride,
                    self.out_positions, self.label)

    def out_progression(self):
        """``(start, stride)`` if the output positions are an arithmetic progression, else None."""
        pos = self.out_positions
        if len(pos) == 1:
            return int(pos[0]), 0
        d = np.diff(pos)
        return (int(pos[0]), int(d[0])) if np.all(d == d[0]) else None

    def __str__(self):
        body = "\n".join("    " + line for line in str(self.body).splitlines())
        return (f"for i in range({self.count}):  # {self.label}, a = {self.anchor_start} + {self.anchor_stride}*i\n"
                f"    # u[a{{{', '.join(f'{o:+d}' for o in self.offsets)}}}] -> "
                f"{', '.join(map(str, self.placeholders))}; out[positions[i]] = out[0] below\n{body}")


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
            raise errors.DifferentiationError(f"{label or expr}: cannot differentiate by {s}: {d}")
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


#: models with fewer states are compiled as straight-line code only
LOOP_MIN_STATES = 64
#: a family of equations shorter than this stays straight-line code
LOOP_MIN_COUNT = 16


def _placeholder(offset: int) -> sp.Symbol:
    return sp.Symbol(f"_u[a{offset:+d}]", real=True)


def find_families(model: Model, min_count: int = LOOP_MIN_COUNT):
    """Group equations that are one template at shifted state indices.

    Equation ``r`` is keyed by its expression with every state ``u[j]`` replaced by a
    placeholder for offset ``j - r``; equal keys whose rows form an arithmetic
    progression of at least ``min_count`` rows are one family.  Returns
    ``(families, scalar_rows)`` with ``families`` a list of
    ``(template, offsets, placeholders, rows)``.

    >>> import symdyn as sd
    >>> m = sd.Model("chain"); u = [m.states(f"u{i}", init=0.0) for i in range(20)]
    >>> for i in range(20):
    ...     m.eq(sd.D(u[i]), (u[i - 1] if i else 0) - 2 * u[i] + (u[i + 1] if i < 19 else 0))
    >>> families, scalar = find_families(m, min_count=4)
    >>> [(str(f[0]), len(f[3])) for f in families], scalar
    ([('-2*_u[a+0] + _u[a+1] + _u[a-1]', 18)], [0, 19])
    """
    states = model.state_symbols
    index = {s: i for i, s in enumerate(states)}
    placeholders: dict = {}
    groups: dict = {}
    for row, expr in enumerate(model.rhs):
        mapping = {}
        for sym in expr.free_symbols:
            j = index.get(sym)
            if j is not None:
                off = j - row
                ph = placeholders.get(off)
                if ph is None:
                    ph = placeholders[off] = _placeholder(off)
                mapping[sym] = ph
        groups.setdefault(expr.xreplace(mapping), []).append(row)
    families, scalar = [], []
    for template, rows in groups.items():
        for run in _progressions(rows):
            if len(run) >= min_count:
                offs = sorted(int(str(p.name)[4:-1]) for p in template.free_symbols if p.name.startswith("_u[a"))
                families.append((template, tuple(offs), tuple(_placeholder(o) for o in offs), run))
            else:
                scalar.extend(run)
    scalar.sort()
    families.sort(key=lambda f: f[3][0])
    return families, scalar


def _progressions(rows):
    """Split an increasing list into maximal arithmetic progressions (greedy)."""
    runs, k = [], 0
    while k < len(rows):
        end = k + 1
        if end < len(rows):
            step = rows[end] - rows[k]
            while end < len(rows) and rows[end] - rows[end - 1] == step:
                end += 1
        runs.append(rows[k:end])
        k = end
    return runs


def lower(model: Model, jacobian: bool = True, loops: bool | None = None):
    """The programs of a compiled model: ``rhs`` and (optionally) ``jac`` (CSC values).

    Families of equations sharing one template (see :func:`find_families`) become
    :class:`Loop` s — in the right-hand side and, differentiated once per template, in
    the Jacobian — when the model has at least ``LOOP_MIN_STATES`` states (or when
    ``loops=True``).  Returns ``(programs, pattern)``; ``pattern`` is None without a
    Jacobian.

    >>> import symdyn as sd
    >>> m = sd.Model("m"); x = m.states("x", init=1.0); m.eq(sd.D(x), -x)
    >>> programs, pattern = lower(m)
    >>> print(programs["rhs"])
    out[0] = -x
    """
    states = tuple(model.state_symbols)
    params = tuple(model.param_symbols)
    names = model.state_names
    rhs = model.rhs
    if loops is None:
        loops = len(states) >= LOOP_MIN_STATES
    families, scalar_rows = find_families(model) if loops else ([], list(range(len(states))))

    def loop_of(template, offsets, phs, rows, positions, label):
        body = Program(model.t, phs, params, (), (template,), (label,))
        step = rows[1] - rows[0] if len(rows) > 1 else 1
        return Loop(body, offsets, len(rows), rows[0], step, np.asarray(positions, dtype=np.int64), label)

    rhs_loops = [
        loop_of(tpl, offs, phs, rows, rows, f"D({names[rows[0]]})..D({names[rows[-1]]})")
        for tpl, offs, phs, rows in families
    ]
    programs = {
        "rhs": Program(model.t, states, params, (), tuple(rhs[r] for r in scalar_rows),
                       tuple(f"D({names[r]})" for r in scalar_rows), tuple(scalar_rows), tuple(rhs_loops))
    }
    if not jacobian:
        return programs, None

    # every structural nonzero: (row, col, entry) with entry an expression or a loop recipe
    rows_all, cols_all, scalar_entries, loop_entries = [], [], [], []
    index = {s: i for i, s in enumerate(states)}
    for r in scalar_rows:
        expr = rhs[r]
        syms = [s for s in expr.free_symbols if s in index]
        for sym, d in zip(syms, differentiate(expr, syms, f"D({names[r]})")):
            if d != 0:
                scalar_entries.append((len(rows_all), d, f"dD({names[r]})/d{sym}"))
                rows_all.append(r)
                cols_all.append(index[sym])
    for tpl, offs, phs, rows in families:
        rows_arr = np.asarray(rows, dtype=np.int64)
        for off, ph, d in zip(offs, phs, differentiate(tpl, phs, f"D({names[rows[0]]})")):
            if d != 0:
                first = len(rows_all)
                rows_all.extend(rows)
                cols_all.extend((rows_arr + off).tolist())
                loop_entries.append((first, tpl, offs, phs, rows, d, off))
    rows_np = np.asarray(rows_all, dtype=np.int64)
    cols_np = np.asarray(cols_all, dtype=np.int64)
    order = np.lexsort((rows_np, cols_np))  # CSC: by column, then row
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    indptr = np.zeros(len(states) + 1, dtype=np.int32)
    np.cumsum(np.bincount(cols_np, minlength=len(states)), out=indptr[1:])
    pattern = JacobianPattern(len(states), indptr, rows_np[order].astype(np.int32))

    jac_loops = []
    for first, tpl, offs, phs, rows, d, off in loop_entries:
        label = f"dD({names[rows[0]]})/du[a{off:+d}].."
        used = sorted((o, p) for o, p in zip(offs, phs) if p in d.free_symbols)
        jac_loops.append(loop_of(d, tuple(o for o, _ in used), tuple(p for _, p in used), rows,
                                 position[first:first + len(rows)], label))
    programs["jac"] = Program(
        model.t, states, params, (), tuple(d for _, d, _ in scalar_entries),
        tuple(lbl for _, _, lbl in scalar_entries), tuple(int(position[k]) for k, _, _ in scalar_entries),
        tuple(jac_loops),
    )
    return programs, pattern
