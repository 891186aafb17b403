"""Candidate libraries: lists of SymPy expressions in the states, evaluated by compiled code.

A :class:`Library` is symbolic data -- terms such as ``x*y``, ``sin(x)``, ``x/(x + 1)`` --
over a list of state symbols (and optionally the time ``t``).  Libraries compose with
``+`` (union, in order, without duplicates) and ``*`` (all pairwise products).  To
evaluate one on data, its terms become one :class:`~symdyn.passes.Program` (the same
contract the model compiler uses: ``expand_powers`` and ``cse`` run on it, so ``x**3``
is two multiplications and a product shared by several terms is computed once), the
LLVM backend compiles it to one native function ``f(t, u, p, out)`` writing every term
of one sample, and a numba loop calls that function once per sample.

>>> import numpy as np
>>> lib = polynomial(["x", "y"], degree=2)
>>> lib.names
['1', 'x', 'y', 'x**2', 'x*y', 'y**2']
>>> lib.evaluate(np.array([[2.0, 3.0]])).tolist()
[[1.0, 2.0, 3.0, 4.0, 6.0, 9.0]]
>>> (lib + trigonometric(["x"])).names[-2:]
['sin(x)', 'cos(x)']
"""
from __future__ import annotations

import itertools

import numpy as np
import sympy as sp

import codegen

from .. import errors
from ..model import TIME_NAME
from ..passes import Program
from ..passes.pipeline import rewrite_program

_COMPILED: dict = {}  # (symbols, terms) -> NativeModule, in-process cache
_CACHE_SIZE = 32


def state_symbols(names) -> list[sp.Symbol]:
    """SymPy symbols for state names, with the assumptions ``sd.Model`` gives its states."""
    if isinstance(names, str):
        names = names.replace(",", " ").split()
    out = []
    for nm in names:
        if isinstance(nm, sp.Symbol):
            out.append(sp.Symbol(nm.name, real=True))
        else:
            out.append(sp.Symbol(str(nm), real=True))
    return out


#: the time symbol, equal to every ``sd.Model``'s ``m.t``
TIME = sp.Symbol(TIME_NAME, real=True)


class Library:
    """An ordered set of candidate terms (SymPy expressions) over ``symbols``.

    ``names`` are the terms printed by SymPy; ``evaluate(U, t=None)`` returns the
    ``(samples, terms)`` matrix ``Theta``.  Build libraries with :func:`polynomial`,
    :func:`trigonometric`, :func:`exponential`, :func:`rational`, :func:`custom`, and
    combine them with ``+`` and ``*``.

    >>> lib = custom(["x"], ["x/(1 + x)", "exp(-x)"])
    >>> lib.names
    ['x/(x + 1)', 'exp(-x)']
    """

    def __init__(self, symbols, terms):
        self.symbols = state_symbols(symbols)
        if len(set(self.symbols)) != len(self.symbols):
            raise errors.DiscoveryArgumentError("symbols", [s.name for s in self.symbols], "has a name twice")
        allowed = set(self.symbols) | {TIME}
        by_name = {s.name: s for s in self.symbols}
        by_name[TIME_NAME] = TIME
        out, seen = [], set()
        for term in terms:
            expr = _sympify_term(term, by_name)
            # symbols given with other assumptions (sp.Symbol("x")) are the same state
            expr = expr.xreplace({f: by_name[f.name] for f in expr.free_symbols
                                  if isinstance(f, sp.Symbol) and f.name in by_name})
            unknown = expr.free_symbols - allowed
            if unknown:
                raise errors.LibraryError(expr, f"uses {', '.join(sorted(map(str, unknown)))}, which is not a "
                                                f"state ({', '.join(s.name for s in self.symbols)}) or t")
            if codegen.unsupported_nodes(expr) is not None:
                raise errors.LibraryError(expr, f"cannot be compiled ({type(codegen.unsupported_nodes(expr)).__name__})")
            if expr == 0 or expr in seen:
                continue
            seen.add(expr)
            out.append(expr)
        self.terms = out
        self._names = [str(e) for e in out]  # printed once: read in loops by the regression
        self._jacobian = None

    @property
    def names(self) -> list[str]:
        return list(self._names)

    @property
    def uses_time(self) -> bool:
        return any(TIME in e.free_symbols for e in self.terms)

    def __len__(self):
        return len(self.terms)

    def __iter__(self):
        return iter(self.terms)

    def __add__(self, other: "Library") -> "Library":
        syms = self.symbols + [s for s in other.symbols if s not in self.symbols]
        return Library(syms, self.terms + other.terms)

    def __mul__(self, other: "Library") -> "Library":
        syms = self.symbols + [s for s in other.symbols if s not in self.symbols]
        return Library(syms, [a * b for a, b in itertools.product(self.terms, other.terms)])

    def __repr__(self):
        return f"Library({len(self.terms)} terms over {', '.join(s.name for s in self.symbols)}: " \
               f"{', '.join(self.names[:8])}{', ...' if len(self.terms) > 8 else ''})"

    # --- evaluation -----------------------------------------------------------------------------
    def _native(self):
        key = (tuple(self.symbols), tuple(self.terms))
        native = _COMPILED.get(key)
        if native is None:
            prog = Program(TIME, tuple(self.symbols), (), (), tuple(self.terms), tuple(self.names))
            native = codegen.compile_functions({"library": rewrite_program(prog)}, name="library")
            if len(_COMPILED) >= _CACHE_SIZE:
                _COMPILED.pop(next(iter(_COMPILED)))
            _COMPILED[key] = native
        return native

    def evaluate(self, U, t=None, check: bool = True) -> np.ndarray:
        """``Theta[i, j] = term_j(U[i], t[i])``, shape ``(len(U), len(self))``, by compiled code.

        ``U`` is ``(samples, len(symbols))``; ``t`` (samples,) is needed only by terms in ``t``.
        With ``check`` a non-finite value raises :class:`~symdyn.errors.LibraryError` naming
        the term and the sample.
        """
        U = np.ascontiguousarray(np.asarray(U, dtype=float))
        if U.ndim == 1 and len(self.symbols) == 1:
            U = U[:, None]
        if U.ndim != 2 or U.shape[1] != len(self.symbols):
            raise errors.DiscoveryArgumentError("U", U.shape, f"must have shape (samples, {len(self.symbols)})")
        m = U.shape[0]
        if t is None:
            if self.uses_time:
                raise errors.DiscoveryArgumentError("t", None, "is needed: the library has terms in t")
            T = np.zeros(m)
        else:
            T = np.ascontiguousarray(np.asarray(t, dtype=float))
            if T.shape != (m,):
                raise errors.DiscoveryArgumentError("t", T.shape, f"must have shape ({m},) like U's rows")
        out = np.empty((m, len(self.terms)))
        if not self.terms or m == 0:
            return out
        from ._kernels import evaluate_rows

        evaluate_rows(self._native().address("library"), T, U, np.zeros(1), out)
        if check and not np.all(np.isfinite(out)):
            i, j = np.argwhere(~np.isfinite(out))[0]
            raise errors.LibraryError(self.terms[j], f"is {out[i, j]} at sample {i} (state {U[i].tolist()}); "
                                                     "leave the term out or transform the data")
        return out

    def jacobian(self):
        """``(jac_library, index)``: the distinct nonzero derivatives ``d term_j / d symbol_s`` as a
        library, and ``index[j, s]``, the column of each in it (-1 where the derivative is 0).

        >>> lib = polynomial("x y", 2, constant=False)
        >>> jl, index = lib.jacobian()
        >>> jl.names
        ['1', '2*x', 'y', 'x', '2*y']
        >>> index.tolist()
        [[0, -1], [-1, 0], [1, -1], [2, 3], [-1, 4]]
        """
        if self._jacobian is not None:  # (differentiated once: the weak form asks every round)
            return self._jacobian
        derivs = [[sp.diff(term, s) for s in self.symbols] for term in self.terms]
        unique = []
        pos = {}
        index = np.full((len(self.terms), len(self.symbols)), -1, dtype=np.int64)
        for j, row in enumerate(derivs):
            for k, d in enumerate(row):
                if d == 0:
                    continue
                if d not in pos:
                    pos[d] = len(unique)
                    unique.append(d)
                index[j, k] = pos[d]
        self._jacobian = (Library(self.symbols, unique), index)
        return self._jacobian

    def evaluate_sympy(self, U, t=None) -> np.ndarray:
        """The same values by ``sympy.lambdify`` (numpy): a reference for tests."""
        U = np.asarray(U, dtype=float)
        T = np.zeros(U.shape[0]) if t is None else np.asarray(t, dtype=float)
        fns = [sp.lambdify([TIME] + self.symbols, e, "numpy") for e in self.terms]
        cols = [np.broadcast_to(f(T, *U.T), (U.shape[0],)) for f in fns]
        return np.column_stack(cols) if cols else np.empty((U.shape[0], 0))


def _sympify_term(term, by_name):
    if isinstance(term, str):
        try:
            return sp.sympify(term, locals=dict(by_name))
        except (sp.SympifyError, SyntaxError, TypeError) as exc:
            raise errors.LibraryError(term, f"is not a SymPy expression ({exc})") from None
    try:
        expr = sp.sympify(term, strict=True)
    except (sp.SympifyError, TypeError):
        raise errors.LibraryError(term, f"is not a SymPy expression ({type(term).__name__})") from None
    if not isinstance(expr, sp.Expr):
        raise errors.LibraryError(term, "is not a SymPy expression (a value)")
    return expr


# --- the building blocks ----------------------------------------------------------------------------
def polynomial(symbols, degree: int = 3, constant: bool = True) -> Library:
    """All monomials of total degree ``1..degree`` (and ``1`` if ``constant``), graded order.

    >>> polynomial("x y", 2, constant=False).names
    ['x', 'y', 'x**2', 'x*y', 'y**2']
    """
    syms = state_symbols(symbols)
    if not isinstance(degree, (int, np.integer)) or degree < 0:
        raise errors.DiscoveryArgumentError("degree", degree, "must be a non-negative integer")
    terms = [sp.Integer(1)] if constant else []
    for d in range(1, int(degree) + 1):
        for combo in itertools.combinations_with_replacement(syms, d):
            terms.append(sp.Mul(*combo))
    return Library(syms, terms)


def trigonometric(symbols, frequencies=(1,)) -> Library:
    """``sin(k x)`` and ``cos(k x)`` of every state for every frequency ``k``.

    >>> trigonometric("x", frequencies=(1, 2)).names
    ['sin(x)', 'cos(x)', 'sin(2*x)', 'cos(2*x)']
    """
    syms = state_symbols(symbols)
    terms = []
    for k in frequencies:
        k = sp.nsimplify(k)
        for s in syms:
            terms += [sp.sin(k * s), sp.cos(k * s)]
    return Library(syms, terms)


def exponential(symbols, rates=(1, -1)) -> Library:
    """``exp(r x)`` of every state for every rate ``r``.

    >>> exponential("x").names
    ['exp(x)', 'exp(-x)']
    """
    syms = state_symbols(symbols)
    return Library(syms, [sp.exp(sp.nsimplify(r) * s) for s in syms for r in rates])


def rational(symbols, constants=(1,)) -> Library:
    """Saturating terms ``x/(k + x)`` (Michaelis-Menten, Holling type II) for each constant ``k``.

    >>> rational("x y").names
    ['x/(x + 1)', 'y/(y + 1)']
    """
    syms = state_symbols(symbols)
    return Library(syms, [s / (sp.nsimplify(k) + s) for k in constants for s in syms])


def custom(symbols, terms) -> Library:
    """User-supplied terms: SymPy expressions or strings in the state names (and ``t``).

    >>> custom("x", ["sin(t)", "x*sin(t)"]).names
    ['sin(t)', 'x*sin(t)']
    """
    return Library(symbols, list(terms))


def default_library(symbols, degree: int = 3) -> Library:
    """The library :func:`symdyn.discover` uses when none is given: polynomials to ``degree``."""
    return polynomial(symbols, degree)
