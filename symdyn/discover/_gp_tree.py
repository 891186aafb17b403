"""Expression trees for genetic programming: the operator table, variation, conversion.

A tree is a *prefix* token tuple plus the values of its constants, in order of appearance:

- an ``int`` token ``i`` is the variable ``X[:, i]``;
- the token :data:`CONST` is a numeric constant (the next value of ``consts``);
- a ``str`` token is an operator of :data:`OPERATORS` followed by its arguments.

``("*", "c", "sin", 0)`` with ``consts = (-9.8,)`` is ``-9.8*sin(x0)``.  The token tuple
alone is the *structure*: the cache key of a fitted candidate and of its compiled code,
whose constants are fitted numerically, never baked into the code.  A subtree starting at
position ``i`` spans ``tokens[i:subtree_end(tokens, i)]``, so crossover and mutation are
slicing.  Nothing here calls SymPy's simplification: trees are converted to SymPy only
to be compiled (unevaluated, cheap) or once the search is over.

>>> tree = Tree(("/", 0, "+", CONST, 0), (0.5,))
>>> tree.size, tree.n_consts
(5, 1)
>>> import sympy as sp
>>> to_sympy(tree, sp.symbols("x:1"))
x0/(x0 + 0.5)
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import sympy as sp

#: the token of a numeric constant
CONST = "c"


@dataclass(frozen=True)
class Operator:
    """One GP operator: its arity and how to build it in SymPy (evaluated or not) and numpy."""

    name: str
    arity: int
    sympy: object      # evaluated SymPy constructor: results
    raw: object        # unevaluated SymPy constructor: code generation, linear in tree size
    numpy: object      # numpy ufunc-like: the reference evaluator


def _neg(e):
    return sp.Mul(sp.S.NegativeOne, e, evaluate=False)


def _inv(e):
    return sp.Pow(e, sp.S.NegativeOne, evaluate=False)


#: every operator ``gp_regress(operators=...)`` accepts, by name
OPERATORS = {op.name: op for op in (
    Operator("+", 2, lambda a, b: a + b, lambda a, b: sp.Add(a, b, evaluate=False), np.add),
    Operator("-", 2, lambda a, b: a - b, lambda a, b: sp.Add(a, _neg(b), evaluate=False), np.subtract),
    Operator("*", 2, lambda a, b: a * b, lambda a, b: sp.Mul(a, b, evaluate=False), np.multiply),
    Operator("/", 2, lambda a, b: a / b, lambda a, b: sp.Mul(a, _inv(b), evaluate=False), np.divide),
    Operator("sin", 1, sp.sin, lambda a: sp.sin(a, evaluate=False), np.sin),
    Operator("cos", 1, sp.cos, lambda a: sp.cos(a, evaluate=False), np.cos),
    Operator("tan", 1, sp.tan, lambda a: sp.tan(a, evaluate=False), np.tan),
    Operator("exp", 1, sp.exp, lambda a: sp.exp(a, evaluate=False), np.exp),
    Operator("log", 1, sp.log, lambda a: sp.log(a, evaluate=False), np.log),
    Operator("sqrt", 1, sp.sqrt, lambda a: sp.Pow(a, sp.S.Half, evaluate=False), np.sqrt),
    Operator("tanh", 1, sp.tanh, lambda a: sp.tanh(a, evaluate=False), np.tanh),
    Operator("abs", 1, sp.Abs, lambda a: sp.Abs(a, evaluate=False), np.abs),
    Operator("square", 1, lambda a: a**2, lambda a: sp.Mul(a, a, evaluate=False), np.square),
    Operator("neg", 1, lambda a: -a, _neg, np.negative),
)}


def arity(token) -> int:
    return OPERATORS[token].arity if isinstance(token, str) and token != CONST else 0


def subtree_end(tokens, i: int) -> int:
    """One past the last token of the subtree starting at ``i``."""
    need = 1
    while need:
        need += arity(tokens[i]) - 1
        i += 1
    return i


@dataclass(frozen=True)
class Tree:
    """A prefix token tuple and its constants (see the module docstring)."""

    tokens: tuple
    consts: tuple

    @property
    def size(self) -> int:
        """Number of nodes: the complexity the search penalises."""
        return len(self.tokens)

    @property
    def n_consts(self) -> int:
        return len(self.consts)

    def const_index(self, i: int) -> int:
        """How many constants come before position ``i``."""
        return sum(1 for tok in self.tokens[:i] if tok == CONST)

    def replace(self, i: int, j: int, sub: "Tree") -> "Tree":
        """This tree with the span ``tokens[i:j]`` replaced by ``sub``."""
        ci, cj = self.const_index(i), self.const_index(j)
        return Tree(self.tokens[:i] + sub.tokens + self.tokens[j:],
                    self.consts[:ci] + sub.consts + self.consts[cj:])

    def subtree(self, i: int) -> "Tree":
        j = subtree_end(self.tokens, i)
        return Tree(self.tokens[i:j], self.consts[self.const_index(i):self.const_index(j)])

    def with_consts(self, consts) -> "Tree":
        return Tree(self.tokens, tuple(float(c) for c in consts))


# --- conversion and evaluation ---------------------------------------------------------------
def _fold(tree: Tree, leaf_var, leaf_const, apply):
    """Evaluate a prefix tree bottom-up: walk it backwards with a stack."""
    stack = []
    k = tree.n_consts
    for tok in reversed(tree.tokens):
        if isinstance(tok, int):
            stack.append(leaf_var(tok))
        elif tok == CONST:
            k -= 1
            stack.append(leaf_const(k))
        else:
            op = OPERATORS[tok]
            args = [stack.pop() for _ in range(op.arity)]  # first argument on top
            stack.append(apply(op, args))
    return stack[0]


def number(v: float):
    """A SymPy number: integer-valued floats (constants rounded by the final pruning) become
    Integers, so ``x + 0``, ``1*x`` and ``sin(1*x)`` vanish; others become Floats."""
    v = float(v)
    return sp.Integer(int(v)) if v.is_integer() and abs(v) < 2**53 else sp.Float(v)


def to_sympy(tree: Tree, variables, consts=None):
    """The evaluated SymPy expression; ``consts`` are symbols or numbers (default: the tree's values)."""
    values = [number(c) for c in tree.consts] if consts is None else consts
    return _fold(tree, lambda i: variables[i], lambda k: values[k], lambda op, a: op.sympy(*a))


def to_sympy_raw(tree_tokens: tuple, variables, consts):
    """Unevaluated SymPy (for code generation): linear time, no canonicalisation."""
    return _fold(Tree(tree_tokens, (0.0,) * sum(1 for t in tree_tokens if t == CONST)),
                 lambda i: variables[i], lambda k: consts[k], lambda op, a: op.raw(*a))


def evaluate(tree: Tree, X: np.ndarray) -> np.ndarray:
    """The tree on every row of ``X`` (shape ``(N, n_vars)``), with numpy; NaN/Inf as numpy."""
    n = X.shape[0]
    with np.errstate(all="ignore"):
        out = _fold(tree, lambda i: X[:, i], lambda k: np.full(n, tree.consts[k]),
                    lambda op, a: op.numpy(*a))
    return np.broadcast_to(out, (n,)).astype(np.float64, copy=True)


def to_string(tree: Tree, names) -> str:
    """A compact infix string (for progress reports), without SymPy."""
    def app(op, a):
        return f"({a[0]} {op.name} {a[1]})" if op.arity == 2 else f"{op.name}({a[0]})"
    return _fold(tree, lambda i: str(names[i]), lambda k: f"{tree.consts[k]:.4g}", app)


def canonical(tree: Tree) -> Tree:
    """A cheap normal form of a tree (no SymPy), so that equivalent trees share one cache
    entry and one compiled function:

    - the arguments of ``+`` and ``*`` are put in a fixed order (``c + x`` -> ``x + c``);
    - a subtree without variables becomes one constant (``c1*sin(c2)`` -> ``c``);
    - at the root, what the linear scale ``a + b*f`` absorbs is dropped: ``f + c``,
      ``f - c``, ``c - f``, ``c*f``, ``f/c``, ``neg(f)`` -> ``f``.

    >>> canonical(Tree(("+", CONST, 0), (2.0,))).tokens
    (0,)
    >>> canonical(Tree(("sin", "+", "*", CONST, CONST, 0), (2.0, 3.0))).tokens
    ('sin', '+', 'c', 0)
    """
    tokens, consts = tree.tokens, tree.consts
    pos, ci = 0, 0

    def rec():  # -> (tokens, consts, has_variable)
        nonlocal pos, ci
        tok = tokens[pos]
        pos += 1
        if isinstance(tok, int):
            return (tok,), (), True
        if tok == CONST:
            ci += 1
            return (CONST,), (consts[ci - 1],), False
        args = [rec() for _ in range(OPERATORS[tok].arity)]
        if not any(a[2] for a in args):  # a constant subtree: fold it
            with np.errstate(all="ignore"):
                value = float(OPERATORS[tok].numpy(*(a[1][0] for a in args)))
            if np.isfinite(value):
                return (CONST,), (value,), False
        if tok in _COMMUTATIVE:
            args.sort(key=lambda a: tuple(map(repr, a[0])))
        return (tok,) + sum((a[0] for a in args), ()), sum((a[1] for a in args), ()), True

    out_tokens, out_consts, _ = rec()
    out = Tree(out_tokens, out_consts)
    while True:  # strip what the linear scale absorbs
        root = out.tokens[0]
        if root == "neg":
            out = out.subtree(1)
            continue
        if root in ("+", "-", "*", "/"):
            second = subtree_end(out.tokens, 1)
            if out.tokens[1] == CONST and second == 2 and root != "/":    # c + f, c - f, c*f
                out = out.subtree(2)
                continue
            if out.tokens[second] == CONST and second == out.size - 1:  # f + c, f - c, f*c, f/c
                out = out.subtree(1)
                continue
        return out


_COMMUTATIVE = ("+", "*")


# --- random trees and variation ------------------------------------------------------------------
class Variation:
    """Random trees, mutation and crossover for a fixed operator set and number of variables.

    ``rng`` is a :class:`random.Random`, so a seed fixes the whole search.
    """

    #: probability that a new leaf is a variable rather than a constant
    P_VARIABLE = 0.7
    #: range of the initial value of a new constant (it is fitted afterwards)
    CONST_RANGE = 2.0
    #: the mutations and their relative weights
    MUTATIONS = (("point", 3), ("subtree", 3), ("insert", 2), ("delete", 2), ("hoist", 1), ("const", 1))

    def __init__(self, operators, n_vars: int, rng: random.Random, max_size: int):
        self.unary = [o for o in operators if OPERATORS[o].arity == 1]
        self.binary = [o for o in operators if OPERATORS[o].arity == 2]
        self.n_vars = n_vars
        self.rng = rng
        self.max_size = max_size
        names, weights = zip(*self.MUTATIONS)
        self._mut_names, self._mut_weights = names, weights

    # --- random trees ---
    def leaf(self) -> Tree:
        r = self.rng
        if r.random() < self.P_VARIABLE:
            return Tree((r.randrange(self.n_vars),), ())
        return Tree((CONST,), (r.uniform(-self.CONST_RANGE, self.CONST_RANGE),))

    def random_tree(self, depth: int, full: bool = False) -> Tree:
        """A random tree of at most ``depth`` operator levels ("grow", or "full" if ``full``)."""
        r = self.rng
        if depth <= 0 or (not full and r.random() < 0.3):
            return self.leaf()
        use_unary = self.unary and (not self.binary or r.random() < 0.3)
        if use_unary:
            sub = self.random_tree(depth - 1, full)
            return Tree((r.choice(self.unary),) + sub.tokens, sub.consts)
        a, b = self.random_tree(depth - 1, full), self.random_tree(depth - 1, full)
        return Tree((r.choice(self.binary),) + a.tokens + b.tokens, a.consts + b.consts)

    def ramped(self, count: int, max_depth: int = 4) -> list:
        """Ramped half-and-half: depths 1..max_depth, half grown, half full."""
        out = []
        for k in range(count):
            depth = 1 + k % max_depth
            tree = self.random_tree(depth, full=bool(k % 2))
            if tree.size <= self.max_size:
                out.append(tree)
        return out

    # --- variation ---
    def mutate(self, tree: Tree) -> Tree:
        kind = self.rng.choices(self._mut_names, self._mut_weights)[0]
        return getattr(self, "_mut_" + kind)(tree)

    def crossover(self, a: Tree, b: Tree) -> Tree:
        """``a`` with a random subtree replaced by a random subtree of ``b``."""
        r = self.rng
        i = r.randrange(a.size)
        k = r.randrange(b.size)
        return a.replace(i, subtree_end(a.tokens, i), b.subtree(k))

    def _mut_point(self, tree):
        r = self.rng
        i = r.randrange(tree.size)
        tok = tree.tokens[i]
        if isinstance(tok, str) and tok != CONST:
            pool = self.unary if OPERATORS[tok].arity == 1 else self.binary
            new = Tree((r.choice(pool),), ())
            return Tree(tree.tokens[:i] + new.tokens + tree.tokens[i + 1:], tree.consts)
        return tree.replace(i, i + 1, self.leaf())

    def _mut_subtree(self, tree):
        i = self.rng.randrange(tree.size)
        return tree.replace(i, subtree_end(tree.tokens, i), self.random_tree(self.rng.randint(0, 2)))

    def _mut_insert(self, tree):
        """Wrap a subtree in a new operator (unary, or binary with a new leaf)."""
        r = self.rng
        i = r.randrange(tree.size)
        sub = tree.subtree(i)
        if self.unary and (not self.binary or r.random() < 0.4):
            new = Tree((r.choice(self.unary),) + sub.tokens, sub.consts)
        else:
            leaf = self.leaf()
            left, right = (sub, leaf) if r.random() < 0.5 else (leaf, sub)
            new = Tree((r.choice(self.binary),) + left.tokens + right.tokens, left.consts + right.consts)
        return tree.replace(i, i + sub.size, new)

    def _mut_delete(self, tree):
        """Replace an operator node by one of its arguments."""
        r = self.rng
        ops = [i for i, tok in enumerate(tree.tokens) if arity(tok) > 0]
        if not ops:
            return self._mut_point(tree)
        i = r.choice(ops)
        children, j = [], i + 1
        for _ in range(arity(tree.tokens[i])):
            children.append(j)
            j = subtree_end(tree.tokens, j)
        return tree.replace(i, j, tree.subtree(r.choice(children)))

    def _mut_hoist(self, tree):
        return tree.subtree(self.rng.randrange(tree.size))

    def _mut_const(self, tree):
        """Jitter every constant (constant fitting starts from the parents' values otherwise)."""
        if not tree.consts:
            return self._mut_point(tree)
        r = self.rng
        return tree.with_consts(c * (1.0 + r.gauss(0.0, 0.5)) + r.gauss(0.0, 0.1) for c in tree.consts)
