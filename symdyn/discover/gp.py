"""Genetic-programming symbolic regression: terms outside any library, as SymPy expressions.

:func:`gp_regress` searches expression trees over a set of operators for ``y ~ g(X)``
and returns the Pareto front of complexity against error and one chosen expression;
:func:`gp_discover` fits each state's time derivative that way and returns right-hand
sides (and an :class:`symdyn.Model`).  ``sin(theta)`` in a pendulum or the
Michaelis-Menten rate ``x/(K + x)`` are found without being in any library.

The search (Koza-style GP, sized for two cores):

1. **Trees** are prefix token tuples with separate constants (:mod:`._gp_tree`).
2. **Evaluation in batches of compiled code**: the new structures of a generation are
   compiled into one LLVM module by symdyn's codegen, one function per candidate
   evaluating all samples in one call, constants as parameters (:mod:`._gp_native`).
   Each structure is compiled and fitted once: a cache maps structures to their fit.
3. **Every candidate is fitted**: ``a + b*f(X; c)`` with ``(a, b)`` in closed form
   (linear scaling) and the constants ``c`` by Levenberg-Marquardt, natively, on both cores.
4. **Selection**: tournaments on ``log(max(nmse, ERROR_FLOOR)) + parsimony*size``, plus
   selection of the next population from parents and children (no duplicate structures),
   and an archive holding the best few trees of every size, from which the Pareto front
   is built.
5. **Only the final front meets SymPy**: constants are polished on all samples,
   constants that do not earn their keep (BIC) are rounded to integers or zero, the
   scale ``a``/``b`` dropped when it does not either, the expression simplified (the
   shortest of a few SymPy normal forms that agrees numerically), and the front rebuilt
   with complexity = number of nodes of the SymPy expression.
6. **The chosen expression** (``best``) follows PySR's rule "best" (Cranmer 2023,
   arXiv:2305.01582): among the front members whose error is within
   :data:`SELECT_TOLERANCE` of the smallest, the one with the largest score
   ``-d log(error) / d complexity`` against the next simpler member.  Errors below
   :data:`ERROR_FLOOR` count as equal (exact), so the simplest exact fit wins on clean data.

>>> import numpy as np
>>> x = np.linspace(0.1, 4.0, 60)
>>> res = gp_regress(x, 2.0 * x / (0.5 + x), ["x"], generations=15, seed=1)
>>> res.expression                      # b = 2 rounded: it costs nothing (BIC)
2*x/(x + 0.5)
>>> res.score > 1 - 1e-12
True
"""
from __future__ import annotations

import contextlib
import gc
import math
import random
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import sympy as sp

from .. import errors
from . import _gp_native as native
from ._gp_tree import OPERATORS, Tree, Variation, canonical, evaluate, number, to_string, to_sympy

#: normalised mean squared errors (MSE / variance of y) below this are all "exact"
#: (relative RMS 1e-10): rounding residue is not rewarded, Taylor-like approximations never reach it
ERROR_FLOOR = 1e-20

#: the chosen expression's error is at most this multiple of the front's smallest
SELECT_TOLERANCE = 1.5

#: the default operator set
DEFAULT_OPERATORS = ("+", "-", "*", "/", "sin", "cos", "exp")

#: search size and variation rates (defaults of :func:`gp_regress`)
POPULATION = 200
GENERATIONS = 40
MAX_SIZE = 25
TOURNAMENT = 4
P_CROSSOVER = 0.4
P_IMMIGRANT = 0.05     # share of children that are new random trees
P_FROM_ARCHIVE = 0.15  # share of parents drawn from the Pareto archive
ARCHIVE_PER_SIZE = 3   # distinct structures kept per size: equivalent forms with one more
                       # constant (a + b/(x + c) for b*x/(x + c)) fit noise slightly better
                       # and must not push the simpler form out before SymPy sees both
PARSIMONY = 0.02       # fitness cost of one node, in log(nmse) units
CONST_ITERS = 8        # Levenberg-Marquardt iterations per new candidate
POLISH_ITERS = 100     # ... per front member, on all samples, at the end
MAX_SAMPLES = 500      # the search fits a fixed random subset of at most this many samples
PATIENCE = 10          # stop when the chosen expression has not changed for this many generations,
PATIENCE_EXACT = 4     # ... or for this many once it fits exactly (error below ERROR_FLOOR)
BATCH_SIZE = 512       # at most this many structures per native module (one per generation)


class FrontEntry(NamedTuple):
    """One member of the Pareto front: a plain ``(complexity, error, expression)`` tuple."""

    complexity: int      # nodes of the SymPy expression tree
    error: float         # normalised mean squared error on all samples: MSE / var(y)
    expression: sp.Expr


@dataclass
class GPResult:
    """What :func:`gp_regress` found.

    ``front``: the Pareto front, complexity strictly increasing and error strictly
    decreasing; ``best``: the chosen entry (see the module docstring);
    ``expression``: ``best.expression``; ``score``: R^2 of the chosen expression on all
    samples (``1 - best.error``); ``scores``: the selection score of every front member;
    ``history``: one dict per generation (time, new structures, compile and fit seconds,
    best error); ``timings``: seconds per stage (``programs``, ``ir``, ``llvm``: building
    and JIT-compiling candidates; ``fit``; ``evolve``; ``search``,
    ``front``, ``total``: wall time); ``generations`` run and why the search ``stopped``;
    ``n_compiled`` structures compiled, ``n_evaluations`` native evaluations of a
    candidate on all samples; ``error_floor`` used; ``batches``: size, compile and fit
    seconds of every native module.
    """

    front: list
    best: FrontEntry
    scores: list
    symbols: tuple
    history: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    generations: int = 0
    stopped: str = ""
    n_compiled: int = 0
    n_evaluations: int = 0
    error_floor: float = ERROR_FLOOR
    batches: list = field(default_factory=list)

    @property
    def expression(self) -> sp.Expr:
        return self.best.expression

    @property
    def score(self) -> float:
        return 1.0 - self.best.error

    def report(self) -> str:
        lines = [f"GP: {self.generations} generations ({self.stopped}), {self.n_compiled} structures compiled, "
                 f"{self.timings.get('total', 0.0):.2f} s",
                 f"{'complexity':>10}  {'error':>10}  {'score':>7}  expression"]
        for entry, score in zip(self.front, self.scores):
            mark = " <- chosen" if entry is self.best else ""
            lines.append(f"{entry.complexity:>10}  {entry.error:>10.3e}  {score:>7.3f}  {entry.expression}{mark}")
        return "\n".join(lines)


@dataclass
class _Fitted:
    """A tree with fitted constants, scale and error (search-time, on the search samples)."""

    tree: Tree
    a: float
    b: float
    nmse: float
    fitness: float


# --- input checks --------------------------------------------------------------------------------------
def _check_data(X, y, names):
    from .derivatives import real_array

    X, y = real_array(X, "X"), real_array(y, "y")
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise errors.DiscoveryArgumentError("X", X.shape, "must have shape (n_samples, n_variables)")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise errors.DiscoveryArgumentError("y", y.shape, f"must have shape ({X.shape[0]},): one value per row of X")
    for arg, arr in (("X", X), ("y", y)):
        bad = np.flatnonzero(~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1))
        if bad.size:
            raise errors.NonFiniteDataError(arg, int(bad[0]))
    if X.shape[0] < 8:
        raise errors.TooFewSamplesError("X", X.shape[0], 8, "a regression needs a few samples per constant")
    if np.ptp(y) == 0.0:
        raise errors.DiscoveryArgumentError("y", float(y[0]), "is constant: there is nothing to fit")
    if names is None:
        names = [f"x{i}" for i in range(X.shape[1])]
    if isinstance(names, str):
        names = names.replace(",", " ").split()
    names = list(names)
    if len(names) != X.shape[1]:
        raise errors.DiscoveryArgumentError("names", names, f"gives {len(names)} names for {X.shape[1]} columns of X")
    symbols = tuple(n if isinstance(n, sp.Symbol) else sp.Symbol(str(n), real=True) for n in names)
    return np.ascontiguousarray(X), np.ascontiguousarray(y), symbols


def _check_operators(operators):
    ops = tuple(operators)
    unknown = [o for o in ops if o not in OPERATORS]
    if unknown:
        raise errors.DiscoveryArgumentError("operators", unknown, f"are unknown; known: {', '.join(OPERATORS)}")
    return ops


# --- selection on a front ---------------------------------------------------------------------------
def floored(err: float, floor: float = ERROR_FLOOR) -> float:
    return max(err, floor) if np.isfinite(err) else np.inf


def pareto_front(entries, floor: float = ERROR_FLOOR):
    """Entries ``(complexity, error, ...)`` not dominated, complexity increasing, error decreasing.

    Errors are compared after flooring (``max(error, floor)``), so at most one exact fit stays.

    >>> [e[:2] for e in pareto_front([(3, 0.5), (1, 1.0), (5, 0.5), (4, 0.1), (4, 0.2)])]
    [(1, 1.0), (3, 0.5), (4, 0.1)]
    """
    out = []
    for entry in sorted(entries, key=lambda e: (e[0], floored(e[1], floor))):
        if not np.isfinite(entry[1]):
            continue
        if not out or floored(entry[1], floor) < floored(out[-1][1], floor) and entry[0] > out[-1][0]:
            out.append(entry)
    return out


def selection_scores(front, floor: float = ERROR_FLOOR):
    """``-d log(error)/d complexity`` of each member against the previous one (0 for the first)."""
    scores = [0.0]
    for prev, cur in zip(front, front[1:]):
        scores.append(-(math.log(floored(cur[1], floor)) - math.log(floored(prev[1], floor))) / (cur[0] - prev[0]))
    return scores


def choose(front, floor: float = ERROR_FLOOR) -> int:
    """Index of the chosen member: PySR's "best" rule (see the module docstring).

    >>> choose([(1, 1.0), (2, 1e-3), (5, 0.9e-3), (9, 0.8e-3)])
    1
    """
    scores = selection_scores(front, floor)
    limit = SELECT_TOLERANCE * min(floored(e[1], floor) for e in front)
    eligible = [k for k, e in enumerate(front) if floored(e[1], floor) <= limit]
    return max(eligible, key=lambda k: (scores[k], -k))


# --- the search ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def _gc_paused():
    """Building IR allocates ~100 short-lived objects per node; the cyclic collector, run
    that often over SymPy's caches, cost up to half the compile time: pause it meanwhile."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Search:
    """State of one GP run: data, variation, the fit cache, the archive, timings."""

    def __init__(self, X, y, operators, population, seed, const_opt, max_size, max_samples, verbose, symbols,
                 floor=ERROR_FLOOR):
        self.rng = random.Random(seed)
        n = X.shape[0]
        if n > max_samples:
            idx = np.sort(np.random.default_rng(seed).choice(n, max_samples, replace=False))
            X, y = X[idx], y[idx]
        self.X, self.y = np.ascontiguousarray(X), np.ascontiguousarray(y)
        self.X_flat = self.X.ravel()
        self.var = Variation(operators, X.shape[1], self.rng, max_size)
        self.population = population
        self.iters = CONST_ITERS if const_opt else 0
        self.max_size = max_size
        self.verbose = verbose
        self.symbols = symbols
        self.cache: dict = {}      # structure -> (consts, a, b, nmse)
        self.archive: dict = {}    # size -> up to ARCHIVE_PER_SIZE _Fitted, best first
        self.timings = {"programs": 0.0, "ir": 0.0, "llvm": 0.0, "fit": 0.0, "evolve": 0.0}
        self.n_compiled = 0
        self.n_evaluations = 0
        self.batch_log: list = []
        self.floor = float(floor)

    # --- evaluation ---
    def evaluate(self, trees) -> list:
        todo = {}
        for tree in trees:
            if tree.tokens not in self.cache:
                todo.setdefault(tree.tokens, tree)
        todo = list(todo.values())
        with _gc_paused():
            for start in range(0, len(todo), BATCH_SIZE):
                self._fit_batch(todo[start:start + BATCH_SIZE])
        out = []
        for tree in trees:
            consts, a, b, nmse = self.cache[tree.tokens]
            fitted = _Fitted(Tree(tree.tokens, consts), a, b, nmse, self._fitness(nmse, tree.size))
            out.append(fitted)
            if np.isfinite(nmse):
                self._archive_add(fitted)
        return out

    def _fit_batch(self, trees):
        batch = native.CandidateBatch([t.tokens for t in trees], self.X.shape[1], self.X.shape[0])
        width = max(1, max(t.n_consts for t in trees))
        C = np.zeros((len(trees), width))
        for k, t in enumerate(trees):
            C[k, :t.n_consts] = t.consts
        n_consts = np.array([t.n_consts for t in trees], dtype=np.int64)
        C, a, b, sse, evals, fit_s = native.fit(batch, self.X_flat, self.y, C, n_consts, self.iters)
        syy = float(np.sum((self.y - self.y.mean()) ** 2))
        for k, t in enumerate(trees):
            nmse = float(sse[k]) / syy if np.isfinite(sse[k]) else np.inf
            self.cache[t.tokens] = (tuple(float(v) for v in C[k, :t.n_consts]), float(a[k]), float(b[k]), nmse)
        for key in ("programs", "ir", "llvm"):
            self.timings[key] += batch.timings[key]
        self.timings["fit"] += fit_s
        self.n_compiled += len(trees)
        self.n_evaluations += int(evals.sum())
        self.batch_log.append({"size": len(trees), "compile_s": batch.timings["total"], "fit_s": fit_s})

    def _archive_add(self, fitted):
        kept = self.archive.setdefault(fitted.tree.size, [])
        if any(k.tree.tokens == fitted.tree.tokens for k in kept):
            return
        if len(kept) < ARCHIVE_PER_SIZE or fitted.nmse < kept[-1].nmse:
            kept.append(fitted)
            kept.sort(key=lambda f: f.nmse)
            del kept[ARCHIVE_PER_SIZE:]

    def archive_members(self) -> list:
        """Archived trees not dominated by a strictly smaller one, by size."""
        out, best = [], np.inf
        for size in sorted(self.archive):
            kept = [f for f in self.archive[size] if floored(f.nmse, self.floor) < best]
            out += kept
            best = min([best] + [floored(f.nmse, self.floor) for f in kept])
        return out

    def _fitness(self, nmse, size):
        if not np.isfinite(nmse):
            return np.inf
        return math.log(floored(nmse, self.floor)) + PARSIMONY * size

    # --- variation and selection ---
    def _tournament(self, pop):
        if self.archive and self.rng.random() < P_FROM_ARCHIVE:
            return self.rng.choice(self.archive[self.rng.choice(list(self.archive))])
        contestants = [pop[self.rng.randrange(len(pop))] for _ in range(TOURNAMENT)]
        return min(contestants, key=lambda f: f.fitness)

    def children(self, pop) -> list:
        out, tries = [], 0
        while len(out) < self.population and tries < 20 * self.population:
            tries += 1
            r = self.rng.random()
            if r < P_IMMIGRANT:
                child = self.var.random_tree(self.rng.randint(1, 4))
            elif r < P_IMMIGRANT + P_CROSSOVER:
                child = self.var.crossover(self._tournament(pop).tree, self._tournament(pop).tree)
            else:
                child = self.var.mutate(self._tournament(pop).tree)
            if child.size <= self.max_size:
                out.append(canonical(child))
        return out

    def survivors(self, fitted) -> list:
        unique = {}
        for f in fitted:
            if np.isfinite(f.fitness) and (f.tree.tokens not in unique or f.fitness < unique[f.tree.tokens].fitness):
                unique[f.tree.tokens] = f
        return sorted(unique.values(), key=lambda f: (f.fitness, f.tree.size))[:self.population]

    def archive_choice(self):
        """The structure the selection rule would pick from the archive now and whether it is exact."""
        members = pareto_front([(size, kept[0].nmse, kept[0]) for size, kept in self.archive.items()], self.floor)
        if not members:
            return None, False
        chosen = members[choose(members, self.floor)][2]
        return chosen.tree.tokens, chosen.nmse <= self.floor


def gp_regress(X, y, names=None, *, operators=DEFAULT_OPERATORS, population: int = POPULATION,
               generations: int = GENERATIONS, seed: int = 0, time_budget: float | None = None,
               const_opt: bool = True, max_size: int = MAX_SIZE, max_samples: int = MAX_SAMPLES,
               patience: int = PATIENCE, error_floor: float = ERROR_FLOOR, verbose: bool = False) -> GPResult:
    """Genetic-programming symbolic regression ``y ~ g(X)``; see the module docstring.

    ``X``: shape ``(n_samples, n_variables)`` (1-D for one variable); ``y``: ``(n_samples,)``;
    ``names``: one name (str or SymPy symbol) per column, symbols are created ``real=True``
    as :class:`symdyn.Model` does; ``operators``: names from :data:`._gp_tree.OPERATORS`;
    ``population`` and ``generations``: the search size; ``seed`` fixes the whole run
    (the result is deterministic unless ``time_budget``, in seconds, stops it early);
    ``const_opt``: fit inner constants (otherwise only the linear scale ``a + b*f``);
    ``max_size``: nodes per tree; ``max_samples``: the search uses a fixed random subset
    of at most this many samples (the front is refitted on all); ``patience``: stop when
    the chosen expression has not changed for this many generations; ``error_floor``:
    normalised errors below it count as exact (give the relative variance of the error in
    ``y`` when it is known, e.g. of estimated derivatives: fits below it are not preferred);
    ``verbose``: print one line per generation.
    """
    t_start = time.perf_counter()
    X, y, symbols = _check_data(X, y, names)
    ops = _check_operators(operators)
    if population < 4 or generations < 0:
        raise errors.DiscoveryArgumentError("population", population, "must be at least 4 (and generations >= 0)")
    s = _Search(X, y, ops, int(population), seed, const_opt, int(max_size), int(max_samples), verbose,
                symbols, error_floor)
    return _run(s, X, y, symbols, generations, patience, time_budget, const_opt, t_start)


def _run(s, X, y, symbols, generations, patience, time_budget, const_opt, t_start) -> GPResult:
    """The generational loop, the final front and the choice (see the module docstring)."""
    population, verbose = s.population, s.verbose
    leaves = [Tree((i,), ()) for i in range(X.shape[1])]
    pop = s.survivors(s.evaluate(leaves + [canonical(t) for t in s.var.ramped(population)]))
    history, last_choice, unchanged, stopped = [], None, 0, "generations"
    gen = 0
    for gen in range(1, generations + 1):
        g0 = time.perf_counter()
        compiled0, timings0 = s.n_compiled, dict(s.timings)
        kids = s.children(pop)
        g1 = time.perf_counter()
        pop = s.survivors(pop + s.evaluate(kids))
        choice, exact = s.archive_choice()
        unchanged = unchanged + 1 if choice == last_choice else 0
        last_choice = choice
        g2 = time.perf_counter()
        s.timings["evolve"] += g1 - g0
        entry = {
            "generation": gen, "seconds": g2 - g0, "new_structures": s.n_compiled - compiled0,
            "compile_s": sum(s.timings[k] - timings0[k] for k in ("programs", "ir", "llvm")),
            "fit_s": s.timings["fit"] - timings0["fit"], "best_nmse": pop[0].nmse,
            "best": to_string(pop[0].tree, symbols),
        }
        history.append(entry)
        if verbose:
            print(f"gen {gen:3d}  {entry['seconds'] * 1e3:7.1f} ms  new {entry['new_structures']:4d}  "
                  f"nmse {entry['best_nmse']:.3e}  {entry['best']}")
        if unchanged >= (min(patience, PATIENCE_EXACT) if exact else patience):
            stopped = f"chosen expression unchanged for {unchanged} generations"
            break
        if time_budget is not None and time.perf_counter() - t_start > time_budget:
            stopped = "time budget"
            break
    t_search = time.perf_counter()
    front, scores = _final_front(s, X, y, symbols, const_opt)
    best = front[choose(front, s.floor)]
    timings = dict(s.timings)
    timings.update(search=t_search - t_start, front=time.perf_counter() - t_search,
                   total=time.perf_counter() - t_start)
    return GPResult(front=front, best=best, scores=scores, symbols=symbols, history=history, timings=timings,
                    generations=gen, stopped=stopped, n_compiled=s.n_compiled,
                    n_evaluations=s.n_evaluations, error_floor=s.floor, batches=s.batch_log)


# --- the final front: polish, prune constants, simplify ---------------------------------------------------
def _bic(nmse: float, k: int, n: int, floor: float) -> float:
    return n * math.log(floored(nmse, floor)) + k * math.log(n)


class _Pruning:
    """One front member as ``a + b*f(X; c)`` whose numbers may be fixed one at a time.

    A number is fixed (an inner constant to 0 or its nearest integer, ``a`` to 0, ``b`` to
    1) when the Bayesian information criterion ``N log(nmse) + k log N`` (k free numbers)
    does not increase after the remaining free numbers are refitted (scipy's
    Levenberg-Marquardt, numpy evaluation).  Refitting matters: ``b*x/(x + K)`` without
    the intercept is only as good as ``a + b*x/(x + K)`` once ``K`` has moved.
    """

    #: an inner constant is tried at 0 or at its nearest integer only if it is this close
    #: (relative to max(1, |c|)): far values are never accepted and each trial costs a refit
    ROUND_TOL = 0.05

    def __init__(self, tree: Tree, a: float, b: float, X, y, floor: float):
        self.tokens, self.X, self.y, self.floor = tree.tokens, X, y, floor
        self.values = list(tree.consts) + [a, b]      # inner constants, then a, b
        self.free = [True] * len(self.values)
        self.syy = float(np.sum((y - y.mean()) ** 2))
        self.nmse = self._nmse(self.values)
        self.bic = _bic(self.nmse, sum(self.free), len(y), floor)

    def _nmse(self, values):
        m = len(values) - 2
        f = evaluate(Tree(self.tokens, tuple(values[:m])), self.X)
        r = self.y - values[m] - values[m + 1] * f
        out = float(r @ r) / self.syy
        return out if np.isfinite(out) else np.inf

    def _refit(self, values, free):
        idx = [k for k, fr in enumerate(free) if fr]
        if not idx:
            return values, self._nmse(values)
        from scipy.optimize import least_squares

        m = len(values) - 2
        work = list(values)

        def residual(theta):
            for k, v in zip(idx, theta):
                work[k] = v
            f = evaluate(Tree(self.tokens, tuple(work[:m])), self.X)
            r = self.y - work[m] - work[m + 1] * f
            return np.where(np.isfinite(r), r, 1e150)

        try:
            sol = least_squares(residual, np.array([values[k] for k in idx]), method="lm",
                                max_nfev=50 * (len(idx) + 1))
        except (ValueError, np.linalg.LinAlgError):  # pragma: no cover - degenerate Jacobian
            return values, np.inf
        out = list(values)
        for k, v in zip(idx, sol.x):
            out[k] = float(v)
        return out, self._nmse(out)

    def trial(self, k: int, value: float) -> bool:
        """Fix number ``k`` at ``value`` if BIC allows; True if it was fixed."""
        values = list(self.values)
        values[k] = value
        free = list(self.free)
        free[k] = False
        values, nmse = self._refit(values, free)
        bic = _bic(nmse, sum(free), len(self.y), self.floor)
        if bic <= self.bic:
            self.values, self.free, self.nmse, self.bic = values, free, nmse, bic
            return True
        return False

    def run(self):
        """Try every inner constant near 0 or an integer, then ``a = 0``, then ``b = 1``."""
        m = len(self.values) - 2
        for k in range(m):
            c = self.values[k]
            for v in sorted({0.0, float(round(c))}, key=lambda v: abs(v - c)):
                if abs(c - v) <= self.ROUND_TOL * max(1.0, abs(c)) and self.trial(k, v):
                    break
        self.trial(m, 0.0)
        self.trial(m + 1, 1.0)
        return Tree(self.tokens, tuple(self.values[:m])), self.values[m], self.values[m + 1], self.nmse


def _nodes(expr) -> int:
    return sum(1 for _ in sp.preorder_traversal(expr))


def _simplest(expr, symbols, X, reference):
    """The shortest of a few SymPy normal forms of ``expr`` that agrees with ``reference`` numerically."""
    forms = [expr]
    for rewrite in (sp.expand, sp.cancel, sp.together, sp.factor_terms):
        try:
            forms.append(rewrite(expr))
        except (sp.PolynomialError, TypeError, ValueError, NotImplementedError):  # pragma: no cover
            continue
    forms.sort(key=_nodes)
    scale = max(float(np.max(np.abs(reference))), 1e-300)
    for form in forms:
        if form is expr:
            return expr
        f = sp.lambdify(symbols, form, "numpy")
        with np.errstate(all="ignore"):
            values = np.broadcast_to(np.asarray(f(*X.T), dtype=np.float64), reference.shape)
        if np.all(np.isfinite(values)) and np.max(np.abs(values - reference)) <= 1e-9 * scale:
            return form
    return expr


def _member_expression(tree: Tree, X, y, symbols, floor):
    """Prune, convert and simplify one archived tree: ``(expression, nmse)`` or ``(None, inf)``."""
    f = evaluate(tree, X)
    a, b, _ = native_projection(f, y)
    pruned, a, b, nmse = _Pruning(tree, a, b, X, y, floor).run()
    if not np.isfinite(nmse):
        return None, np.inf
    try:
        inner = to_sympy(pruned, symbols) if b != 0.0 else sp.S.Zero
        expr = number(a) + number(b) * inner
    except (ZeroDivisionError, OverflowError, ValueError):  # e.g. a constant rounded to 0 under a division
        return None, np.inf
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        return None, np.inf
    expr = _simplest(expr, symbols, X, a + b * evaluate(pruned, X))
    return expr, nmse


def native_projection(f, y):
    """``(a, b, sse)`` of ``y ~ a + b f`` (the fit every candidate gets during the search)."""
    ym = float(y.mean())
    return native._project(np.ascontiguousarray(f), y, ym, float(np.sum((y - ym) ** 2)))


def _final_front(s: _Search, X, y, symbols, const_opt):
    members = s.archive_members()
    trees = [m.tree for m in members]
    if const_opt and any(t.n_consts for t in trees):  # polish on all samples
        batch = native.CandidateBatch([t.tokens for t in trees], X.shape[1], X.shape[0])
        width = max(1, max(t.n_consts for t in trees))
        C = np.zeros((len(trees), width))
        for k, t in enumerate(trees):
            C[k, :t.n_consts] = t.consts
        C, *_ = native.fit(batch, np.ascontiguousarray(X).ravel(), y, C,
                           np.array([t.n_consts for t in trees], dtype=np.int64), POLISH_ITERS)
        for key in ("programs", "ir", "llvm"):
            s.timings[key] += batch.timings[key]
        trees = [Tree(t.tokens, tuple(float(v) for v in C[k, :t.n_consts])) for k, t in enumerate(trees)]
    entries = []
    for tree in trees:
        expr, nmse = _member_expression(tree, X, y, symbols, s.floor)
        if expr is not None:
            entries.append(FrontEntry(_nodes(expr), nmse, expr))
    front = pareto_front(entries, s.floor)
    if not front:
        raise errors.NoModelFoundError("y", "every candidate produced NaN or infinite values")
    return front, selection_scores(front, s.floor)


# --- derivatives of trajectories and the ODE hook ---------------------------------------------------------
#: the error floor of each state's fit is this multiple of the estimated relative error
#: variance of its derivative estimate (the estimate is rough; erring high is safe: the
#: selection rule still takes the largest score among the fits under the floor)
FLOOR_SAFETY = 2.0
#: the smallest error floor (relative variance) of a fit to estimated derivatives: 1e-8 relative
#: RMS.  Measured: pendulum data from DOP853 at rtol 1e-10 had fits at 1.57e-18 (omega) and
#: 1.56e-18 (omega + 7e-12/(theta - 0.73)); with the estimated floor of 1e-20 the second won
ESTIMATED_FLOOR = 1e-16


def estimate_derivatives(t, U):
    """Derivatives for :func:`gp_discover`: ``(X, dU, err2, method)`` (ends trimmed).

    Uses :mod:`symdyn.discover.derivatives`: high-order finite differences on clean data,
    else Savitzky-Golay (window per state by the discrepancy principle; the states are
    smoothed by the same filter), or total variation on a non-uniform noisy grid.
    ``err2[i]`` is the mean squared error of ``dU[:, i]``, estimated from the difference to
    a second estimate of higher order (finite differences of accuracy 8 vs 6; Savitzky-Golay
    of order p vs p + 2, whose noise difference is known and replaced by the filter's own
    noise ``sigma^2 ||h||^2``; NaN for total variation).  Half the widest window (or half
    the finite-difference stencil) is dropped at each end: one-sided estimates are worse.
    """
    from scipy.signal import savgol_coeffs

    from . import derivatives as dv

    sigma = dv.estimate_noise(t, U)
    if dv.fd_is_accurate(t, U, sigma):
        trim = dv.FD_ACCURACY // 2
        keep = slice(trim, len(t) - trim)
        dU = dv.finite_difference(t, U)
        alt = dv.finite_difference(t, U, accuracy=dv.FD_ACCURACY - 2)
        err2 = np.mean((dU[keep] - alt[keep]) ** 2, axis=0)
        return U[keep], dU[keep], err2, "finite differences"
    if not dv.is_uniform(t):
        trim = 2
        keep = slice(trim, len(t) - trim)
        return U[keep], dv.tv_derivative(t, U)[keep], np.full(U.shape[1], np.nan), "total variation"
    p = dv.SG_POLYORDER
    windows = [int(w) for w in dv.choose_window(t, U, sigma, p)]
    trim = max(windows) // 2
    keep = slice(trim, len(t) - trim)
    dU = dv.savitzky_golay(t, U, windows, p)
    alt = dv.savitzky_golay(t, U, windows, p + 2)
    h = float(np.mean(np.diff(t)))
    err2 = np.empty(U.shape[1])
    for k, w in enumerate(windows):
        c_p = savgol_coeffs(w, p, deriv=1, delta=h)
        c_alt = savgol_coeffs(w, p + 2, deriv=1, delta=h) if w > p + 2 else c_p
        bias2 = np.mean((dU[keep, k] - alt[keep, k]) ** 2) - sigma[k] ** 2 * float(np.sum((c_p - c_alt) ** 2))
        err2[k] = max(bias2, 0.0) + sigma[k] ** 2 * float(np.sum(c_p ** 2))
    X = dv.smooth(t, U, windows, p)
    return X[keep], dU[keep], err2, f"Savitzky-Golay, windows {windows}"


@dataclass
class GPDiscovery:
    """What :func:`gp_discover` found: one :class:`GPResult` per state.

    ``equations``: ``{state symbol: right-hand side}`` in state order; ``rhs``: the
    right-hand sides as a list; ``results``: ``{name: GPResult}``; ``derivative_method``:
    how the derivatives were obtained; ``error_floors``: each fit's ``error_floor``;
    ``init``: the first sample of the (first) trajectory, the default initial state of
    :meth:`model`.
    """

    symbols: tuple
    equations: dict
    results: dict
    derivative_method: str
    error_floors: list
    init: np.ndarray

    @property
    def rhs(self) -> list:
        return list(self.equations.values())

    def model(self, name: str = "gp_discovered", init=None):
        """An :class:`symdyn.Model` with these equations (initial state: ``init`` unless given)."""
        from ..model import D, Model

        m = Model(name)
        states = m.states(" ".join(s.name for s in self.symbols),
                          init=[float(v) for v in (self.init if init is None else init)])
        states = states if isinstance(states, tuple) else (states,)
        mapping = dict(zip(self.symbols, states))
        for sym, rhs in self.equations.items():
            m.eq(D(mapping[sym]), rhs.xreplace(mapping))
        return m

    def report(self) -> str:
        return "\n\n".join(f"D({name}) = {res.expression}\n{res.report()}" for name, res in self.results.items())


def _trajectories(t, U):
    """``[(t_k, U_k)]`` checked: one trajectory, or lists of them (``t`` may be shared)."""
    if isinstance(U, (list, tuple)):
        ts = list(t) if isinstance(t, (list, tuple)) else [t] * len(U)
        if len(ts) != len(U) or not U:
            raise errors.DiscoveryArgumentError("t", f"{len(ts)} arrays", f"must match the {len(U)} trajectories in U")
        pairs = list(zip(ts, U))
    else:
        pairs = [(t, U)]
    out = []
    for k, (tk, Uk) in enumerate(pairs):
        where = "" if len(pairs) == 1 else f"[{k}]"
        from .derivatives import real_array

        tk, Uk = real_array(tk, "t" + where), real_array(Uk, "U" + where)
        Uk = Uk[:, None] if Uk.ndim == 1 else Uk
        if tk.ndim != 1 or Uk.ndim != 2 or Uk.shape[0] != tk.shape[0]:
            raise errors.DiscoveryArgumentError("U" + where, Uk.shape,
                                                f"must have shape (len(t), n_states) = ({tk.shape[0]}, ...)")
        for arg, arr in (("t" + where, tk), ("U" + where, Uk)):
            bad = np.flatnonzero(~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1))
            if bad.size:
                raise errors.NonFiniteDataError(arg, int(bad[0]))
        if np.any(np.diff(tk) <= 0):
            raise errors.DiscoveryArgumentError("t" + where, "...", "must be strictly increasing")
        if len(tk) < 20:
            raise errors.TooFewSamplesError("t" + where, len(tk), 20, "derivatives need a few samples")
        if out and Uk.shape[1] != out[0][1].shape[1]:
            raise errors.DiscoveryArgumentError("U" + where, Uk.shape, "has another number of states than U[0]")
        out.append((tk, Uk))
    return out


def gp_discover(t, U, names=None, derivatives=None, *, seed: int = 0, **options) -> GPDiscovery:
    """Fit ``D(state_i) = g_i(states)`` for every state with :func:`gp_regress`.

    ``t``: sample times, shape ``(n,)``, strictly increasing; ``U``: states, shape
    ``(n, n_states)``; several trajectories as lists ``t = [t_0, ...]`` (or one shared
    array) and ``U = [U_0, ...]``; ``names``: one per state (default ``x0, x1, ...``);
    ``derivatives``: ``dU/dt`` shaped like ``U`` (lists for several trajectories), or None
    to estimate it with :func:`estimate_derivatives`, which also smooths noisy states and
    sets each fit's ``error_floor`` to :data:`FLOOR_SAFETY` times the estimated relative
    error variance of the derivative; ``seed``: state ``i`` is searched with ``seed + i``;
    ``options``: passed to :func:`gp_regress` (``operators``, ``population``,
    ``generations``, ``time_budget``, ``error_floor`` (overrides the estimate), ...).
    """
    pairs = _trajectories(t, U)
    n_states = pairs[0][1].shape[1]
    if names is None:
        names = [f"x{i}" for i in range(n_states)]
    names = names.replace(",", " ").split() if isinstance(names, str) else list(names)
    if len(names) != n_states:
        raise errors.DiscoveryArgumentError("names", names, f"gives {len(names)} names for {n_states} states")
    Xs, dUs, err2s = [], [], []
    if derivatives is None:
        methods = []
        for tk, Uk in pairs:
            Xk, dUk, err2, method = estimate_derivatives(tk, Uk)
            Xs.append(Xk), dUs.append(dUk), err2s.append(err2 * len(Xk)), methods.append(method)
        method = methods[0] if len(set(methods)) == 1 else "; ".join(methods)
    else:
        given = derivatives if isinstance(derivatives, (list, tuple)) else [derivatives]
        if len(given) != len(pairs):
            raise errors.DiscoveryArgumentError("derivatives", f"{len(given)} arrays", f"must match U ({len(pairs)})")
        for (tk, Uk), dUk in zip(pairs, given):
            dUk = np.asarray(dUk, dtype=np.float64)
            dUk = dUk[:, None] if dUk.ndim == 1 else dUk
            if dUk.shape != Uk.shape or not np.all(np.isfinite(dUk)):
                raise errors.DiscoveryArgumentError("derivatives", dUk.shape,
                                                    f"must be finite and have the shape of U {Uk.shape}")
            Xs.append(Uk), dUs.append(dUk), err2s.append(np.full(n_states, np.nan))
        method = "given"
    X, dU = np.concatenate(Xs), np.concatenate(dUs)
    err2 = np.sum(err2s, axis=0) / len(X)
    var = np.var(dU, axis=0)
    floors = np.where(np.isfinite(err2) & (var > 0), FLOOR_SAFETY * err2 / np.where(var > 0, var, 1.0), ERROR_FLOOR)
    # estimated derivatives are never better than ~1e-8 relative (simulated data carry the solver's
    # error too): fits below that are equally good, and the simplest must win
    floors = np.maximum(floors, ERROR_FLOOR if derivatives is not None else ESTIMATED_FLOOR)
    options = dict(options)
    if "error_floor" in options:
        floors = np.full(n_states, float(options.pop("error_floor")))
    symbols = tuple(sp.Symbol(str(n), real=True) for n in names)
    results, equations = {}, {}
    for i, sym in enumerate(symbols):
        res = gp_regress(X, dU[:, i], symbols, seed=seed + i, error_floor=float(floors[i]), **options)
        results[sym.name] = res
        equations[sym] = res.expression
    return GPDiscovery(symbols, equations, results, method, [float(f) for f in floors], pairs[0][1][0].copy())
