"""The semilinear split ``f(u, t) = L u + N(u, t)``, found symbolically.

Each right-hand side is taken apart as a sum; a term that is a state times a coefficient
free of states goes to ``L``, everything else to ``N``.  Products are expanded only when
the expansion can produce such a term (``(1 - x**2)*y`` holds ``y``; ``x*(y - z)`` holds
no linear term and stays as written), and only when the result has at most
:data:`EXPAND_LIMIT` terms; nothing is simplified.  Families of equations with one
template (method-of-lines stencils, :func:`symdyn.passes.find_families`) are split once
per template, so the symbolic work is linear in the number of equations.

Coefficients may hold parameters; ``L`` is evaluated at given parameter values, its
symbolic form is kept (:meth:`Split.symbolic_L`).  Coefficients that depend on ``t``
belong to ``L`` only in the ``'scalar(t)'`` case, ``L = a(t) I`` (every equation's
diagonal coefficient is the same ``a(t)`` and there is no other linear term); otherwise
those terms go to ``N``.

Example
-------
>>> import symdyn as sd
>>> m = sd.Model("m"); x, y = m.states("x y", init=[1.0, 0.0]); k = m.params("k", values=2.0)
>>> m.eq(sd.D(x), -k * x + x * y); m.eq(sd.D(y), (1 - x**2) * y)
>>> s = semilinear_split(m)
>>> s.matrix().toarray().tolist(), s.N
([[-2.0, 0.0], [0.0, 1.0]], [x*y, -x**2*y])
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sps
import sympy as sp

from .. import errors
from ..model import Model
from ..passes import find_families, substitute_observed

#: a product is expanded to find its linear terms only if the expansion has at most this many terms
EXPAND_LIMIT = 64
#: models with at least this many equations are split per family of equations
FAMILY_MIN_STATES = 64


def _has_constant_part(factor, states) -> bool:
    """Whether ``factor`` is a sum with a state-free term (``1 - x**2``, not ``x - y``)."""
    return factor.is_Add and any(not (a.free_symbols & states) for a in factor.args)


def _expansion_size(factors) -> int:
    size = 1
    for f in factors:
        if f.is_Pow:
            size *= len(sp.Add.make_args(f.base)) ** int(f.exp)
        else:
            size *= len(sp.Add.make_args(f))
    return size


def _expandable(factors, states) -> bool:
    """A product of state-dependent factors can hold a linear term only if at most one
    factor lacks a state-free part; expand it then, if the result stays small."""
    lacking = 0
    for f in factors:
        if f.is_Pow:
            if not (f.exp.is_Integer and f.exp > 1 and _has_constant_part(f.base, states)):
                lacking += int(f.exp) if f.exp.is_Integer and f.exp > 0 else 2
        elif not _has_constant_part(f, states):
            lacking += 1
    return lacking <= 1 and _expansion_size(factors) <= EXPAND_LIMIT


def linear_terms(expr, states) -> tuple[dict, list]:
    """``expr = sum(c[s] * s for s in c) + sum(rest)`` with every ``c[s]`` free of ``states``.

    ``states`` is a set of symbols.  Returns ``(c, rest)``: ``c`` maps a state to its
    coefficient (an expression in parameters and ``t``), ``rest`` lists the other terms.
    The identity is exact (``sp.expand`` of the difference is zero).

    >>> import sympy as sp
    >>> x, y, k = sp.symbols("x y k")
    >>> linear_terms(k * (x - 2 * y) + (1 + x) * (1 - y) + sp.sin(x), {x, y})
    ({x: k + 1, y: -2*k - 1}, [1, -x*y, sin(x)])
    """
    lin: dict = {}
    rest: list = []
    stack = [(sp.sympify(expr), sp.S.One)]
    while stack:
        e, c = stack.pop()
        if not (e.free_symbols & states):
            rest.append(c * e)
        elif e in states:
            lin[e] = lin.get(e, sp.S.Zero) + c
        elif e.is_Add:
            stack.extend((a, c) for a in reversed(e.args))
        elif e.is_Mul:
            const, dep = [], []
            for f in e.args:
                (dep if f.free_symbols & states else const).append(f)
            if const:
                c = c * sp.Mul(*const)
            if len(dep) == 1:
                stack.append((dep[0], c))
            elif _expandable(dep, states):
                expanded = sp.expand_mul(sp.expand_multinomial(sp.Mul(*dep), deep=False), deep=False)
                if expanded.is_Add:
                    stack.extend((a, c) for a in reversed(expanded.args))
                else:
                    rest.append(c * expanded)
            else:
                rest.append(c * sp.Mul(*dep))
        elif e.is_Pow and e.exp.is_Integer and e.exp > 1 and _expandable([e], states):
            expanded = sp.expand_multinomial(e, deep=False)
            if expanded.is_Add:
                stack.extend((a, c) for a in reversed(expanded.args))
            else:
                rest.append(c * expanded)
        else:
            rest.append(c * e)
    lin = {s: v for s, v in lin.items() if v != 0}
    return lin, rest


@dataclass(frozen=True)
class LinearBlock:
    """Entries ``L[rows[k], cols[k]] = value`` sharing one coefficient ``coeff`` (symbolic)."""

    rows: np.ndarray
    cols: np.ndarray
    coeff: sp.Expr
    value: float


@dataclass
class _Piece:
    """One equation, or one family of equations written as a template.

    ``symbols[k]`` (a state, or a placeholder of the template) stands for column
    ``rows + offsets[k]`` (family) or ``offsets[k]`` (single equation, ``family=False``).
    """

    rows: np.ndarray
    family: bool
    symbols: tuple
    offsets: tuple
    lin: dict
    rest: list
    has_t: bool
    moved: list = field(default_factory=list)  # linear terms moved to N (t-dependent coefficients)

    def columns(self, sym) -> np.ndarray:
        off = self.offsets[self.symbols.index(sym)]
        return self.rows + off if self.family else np.array([off], dtype=np.int64)

    def template_N(self) -> sp.Expr:
        return sp.Add(*self.rest, *(c * s for s, c in self.moved))


@dataclass
class Split:
    """The result of :func:`semilinear_split`.

    ``kind`` is ``"none"`` (no linear part), ``"constant"`` (``L`` a constant matrix,
    :meth:`matrix`) or ``"scalar(t)"`` (``L = scalar * I`` with ``scalar`` an expression
    in ``t``, parameter values substituted; ``scalar_symbolic`` keeps the parameters).
    ``N`` lists one expression per state (built on first access, linear in model size).
    ``autonomous``: no equation depends on ``t``.
    """

    n: int
    states: list
    t: sp.Symbol
    blocks: list
    kind: str
    scalar: sp.Expr | None
    scalar_symbolic: sp.Expr | None
    pieces: list
    _N: list | None = None

    @property
    def autonomous(self) -> bool:
        return not any(piece.has_t for piece in self.pieces)

    @property
    def N(self) -> list:
        if self._N is None:
            N = [sp.S.Zero] * self.n
            for piece in self.pieces:
                tpl = piece.template_N()
                if not piece.family:
                    N[int(piece.rows[0])] = tpl
                    continue
                used = [(s, o) for s, o in zip(piece.symbols, piece.offsets) if s in tpl.free_symbols]
                for r in piece.rows.tolist():
                    N[r] = tpl.xreplace({s: self.states[r + o] for s, o in used}) if used else tpl
            self._N = N
        return self._N

    def matrix(self) -> sps.csc_matrix:
        """``L`` as a ``scipy.sparse.csc_matrix`` (zero for ``"scalar(t)"``: see ``scalar``).

        >>> import symdyn as sd
        >>> m = sd.Model("m"); x, y = m.states("x y", init=[1.0, 1.0]); m.eq(sd.D(x), y); m.eq(sd.D(y), -x)
        >>> semilinear_split(m).matrix().toarray().tolist()
        [[0.0, 1.0], [-1.0, 0.0]]
        """
        if not self.blocks:
            return sps.csc_matrix((self.n, self.n))
        rows = np.concatenate([b.rows for b in self.blocks])
        cols = np.concatenate([b.cols for b in self.blocks])
        vals = np.concatenate([np.full(len(b.rows), b.value) for b in self.blocks])
        mat = sps.csc_matrix((vals, (rows, cols)), shape=(self.n, self.n))
        mat.eliminate_zeros()
        mat.sort_indices()
        return mat

    def symbolic_L(self) -> sp.SparseMatrix:
        """``L`` with its coefficients as written (parameters kept), as a SymPy matrix.

        >>> import symdyn as sd
        >>> m = sd.Model("m"); x = m.states("x", init=1.0); k = m.params("k", values=2.0)
        >>> m.eq(sd.D(x), -k * x + 1)
        >>> semilinear_split(m).symbolic_L()
        Matrix([[-k]])
        """
        if self.kind == "scalar(t)":
            return sp.SparseMatrix(self.n, self.n, {(i, i): self.scalar_symbolic for i in range(self.n)})
        entries = {}
        for b in self.blocks:
            for r, c in zip(b.rows.tolist(), b.cols.tolist()):
                entries[(r, c)] = b.coeff
        return sp.SparseMatrix(self.n, self.n, entries)


def _value(coeff, pmap, where):
    """A state- and time-free coefficient as a float at the parameter values."""
    v = coeff.xreplace(pmap) if pmap else coeff
    try:
        out = float(v)
    except TypeError:
        try:
            out = complex(v.evalf())
        except TypeError:
            out = math.nan
        out = out.real if isinstance(out, complex) and out.imag == 0 else math.nan
    if not math.isfinite(out):
        raise errors.NonFiniteCoefficientError(where, coeff, v)
    return out


def _pieces(model: Model) -> list:
    states = model.state_symbols
    index = {s: i for i, s in enumerate(states)}
    state_set = set(states)
    rhs = model.rhs
    pieces = []
    if len(states) >= FAMILY_MIN_STATES:
        families, scalar_rows = find_families(model)
    else:
        families, scalar_rows = [], range(len(states))
    t = model.t
    for template, offsets, placeholders, rows in families:
        lin, rest = linear_terms(template, set(placeholders))
        pieces.append(_Piece(np.asarray(rows, dtype=np.int64), True, tuple(placeholders), tuple(offsets), lin, rest,
                             t in template.free_symbols))
    for r in scalar_rows:
        lin, rest = linear_terms(rhs[r], state_set)
        syms = tuple(lin)
        pieces.append(_Piece(np.array([r], dtype=np.int64), False, syms, tuple(index[s] for s in syms), lin, rest,
                             t in rhs[r].free_symbols))
    return pieces


def semilinear_split(model: Model, p=None, *, prepared: bool = False) -> Split:
    """Split ``model``'s right-hand sides into ``L u + N(u, t)`` (see the module docstring).

    ``p`` maps parameter symbols or names to values (default: the model's values);
    ``L`` is evaluated there.  The model is validated and its observed quantities are
    substituted first, unless ``prepared=True`` says that was done (``CompiledModel.model``).

    >>> import symdyn as sd
    >>> m = sd.Model("m"); u, v = m.states("u v", init=[1.0, 0.0])
    >>> m.eq(sd.D(u), -m.t * u + v**2); m.eq(sd.D(v), -m.t * v)
    >>> s = semilinear_split(m)
    >>> s.kind, s.scalar, s.N
    ('scalar(t)', -t, [v**2, 0])
    """
    if not prepared:
        model = substitute_observed(model.validate())
    states, t = model.state_symbols, model.t
    n = len(states)
    pmap = _parameter_map(model, p)
    pieces = _pieces(model)

    def label(piece, sym):
        r = int(piece.rows[0])
        col = int(piece.columns(sym)[0])
        return f"D({states[r]}) (coefficient of {states[col]})"

    constant, timed = [], []  # (piece, symbol, coefficient)
    for piece in pieces:
        for sym, coeff in piece.lin.items():
            (timed if t in coeff.free_symbols else constant).append((piece, sym, coeff))

    scalar = scalar_symbolic = None
    kind = "none"
    if timed:
        common = _common_diagonal(pieces, n, pmap, t)
        if common is not None:
            kind, scalar_symbolic = "scalar(t)", common
            scalar = common.xreplace(pmap) if pmap else common
            for piece in pieces:  # everything linear is a(t) I: N keeps only the rest
                piece.lin = {}
            return Split(n, states, t, [], kind, scalar, scalar_symbolic, pieces)
        for piece, sym, coeff in timed:  # t-dependent linear terms are part of N
            piece.moved.append((sym, coeff))
            del piece.lin[sym]
    blocks = []
    for piece, sym, coeff in constant:
        blocks.append(LinearBlock(piece.rows, piece.columns(sym), coeff, _value(coeff, pmap, label(piece, sym))))
    blocks = [b for b in blocks if b.value != 0.0]
    if blocks:
        kind = "constant"
    return Split(n, states, t, blocks, kind, scalar, scalar_symbolic, pieces)


def _common_diagonal(pieces, n, pmap, t):
    """``a(t)`` if every linear term is diagonal and each row's coefficient is the same
    expression (up to ``sp.expand``) with ``t`` in it; else None."""
    per_row: dict = {}  # coefficient expression -> number of rows
    covered = 0
    for piece in pieces:
        if not piece.lin:
            return None
        if len(piece.lin) != 1:
            return None
        (sym, coeff), = piece.lin.items()
        cols = piece.columns(sym)
        if not np.array_equal(cols, piece.rows):
            return None
        per_row[coeff] = per_row.get(coeff, 0) + len(piece.rows)
        covered += len(piece.rows)
    if covered != n or not per_row:
        return None
    distinct = list(per_row)
    first = distinct[0]
    for other in distinct[1:]:
        if sp.expand((other - first).xreplace(pmap) if pmap else other - first) != 0:
            return None
    if t not in first.free_symbols:
        return None
    return first


def _parameter_map(model: Model, p) -> dict:
    """``{parameter symbol: value}`` from the model's values updated by ``p``."""
    syms = model.param_symbols
    values = dict(zip(syms, model.param_values))
    if p is not None:
        by_name = {s.name: s for s in syms}
        if isinstance(p, dict):
            items = p.items()
        else:
            arr = np.asarray(p, dtype=float).ravel()
            if arr.shape != (len(syms),):
                raise errors.ShapeError("p", (len(syms),), arr.shape)
            items = zip(syms, arr.tolist())
        for key, v in items:
            sym = by_name.get(key) if isinstance(key, str) else (key if key in values else None)
            if sym is None:
                raise errors.UnknownNameError(str(key), "parameter", list(by_name))
            values[sym] = float(v)
    missing = [s.name for s, v in values.items() if v is None]
    if missing:
        raise errors.MissingValueError(missing, "parameter")
    return {s: sp.Float(v) for s, v in values.items()}
