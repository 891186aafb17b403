"""Sparse LU with a static pivot order, unrolled, for the emitted time loops of larger models.

The dense unrolled LU of :mod:`codegen.lu_ir` costs ``n**3/3`` operations and as many
instructions: at 20 states (POLLU) it runs no faster than numba's loops and takes seconds to
compile.  The matrices of the stiff solvers, ``W = I/(h gamma) - J``, have the Jacobian's
structure plus the diagonal, so this module plans the elimination once, on the structure
(:func:`plan_sparse_lu`), and emits only the operations on structural nonzeros and their fill.

The pivots are the diagonal entries, taken in a Markowitz order (the pivot minimising
``(r - 1)(c - 1)`` over the active submatrix, Duff, Erisman & Reid, *Direct Methods for Sparse
Matrices*, ch. 7): a symmetric permutation, so that ``W``'s boosted diagonal stays on the
pivots.  A static order cannot interchange rows at run time, so each pivot is tested against its
column with the threshold criterion ``|a_kk| >= tau * max_i |a_ik|`` (:data:`THRESHOLD`; sparse
codes such as MA48 and UMFPACK use 0.1): the multipliers stay below ``1/tau``.  A matrix that
fails the test branches to a block of the caller's (the time loops hand the solve to the numba
stepper, which pivots), so an unstable elimination never produces a number.

>>> import numpy as np
>>> plan = plan_sparse_lu(3, np.array([0, 2, 3, 5]), np.array([0, 2, 1, 0, 2]))
>>> plan.order, plan.size       # state 1 is alone; 0 and 2 are coupled: 3 pivots, l20 and u02
((1, 0, 2), 5)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .loop_ir import const

#: the threshold pivoting test's ``tau``: a pivot smaller than ``tau`` times its column's
#: largest entry fails (the multipliers stay below 1/tau = 10)
THRESHOLD = 0.1


@dataclass(frozen=True)
class SparseLU:
    """The elimination of a pattern: pivots in ``order``; for pivot ``k``, ``lower[k]`` the rows
    and ``upper[k]`` the columns it eliminates (both still active, fill included); ``slots`` maps
    ``("inv", k)``, ``("l", i, k)`` and ``("u", k, j)`` to positions of the factor array of
    ``size`` entries; ``flops`` counts the multiply-subtracts of one factorisation."""

    n: int
    order: tuple
    lower: dict
    upper: dict
    slots: dict
    size: int
    flops: int

    @property
    def nnz(self) -> int:
        """Entries of ``L + U`` (the pivots included)."""
        return self.size


def plan_sparse_lu(n: int, indptr, indices) -> SparseLU:
    """Plan the LU of an ``n x n`` matrix with the CSC pattern ``indptr``/``indices`` plus the
    diagonal: Markowitz order of diagonal pivots, fill, and the factor slots.

    >>> import numpy as np
    >>> p = plan_sparse_lu(2, np.array([0, 2, 4]), np.array([0, 1, 0, 1]))
    >>> p.order, p.flops
    ((0, 1), 1)
    """
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    rows = [set() for _ in range(n)]  # rows[i]: active columns with an entry in row i
    cols = [set() for _ in range(n)]  # cols[j]: active rows with an entry in column j
    for j in range(n):
        for i in indices[indptr[j]:indptr[j + 1]]:
            rows[int(i)].add(j)
            cols[j].add(int(i))
    for k in range(n):
        rows[k].add(k)
        cols[k].add(k)
    active = set(range(n))
    order, lower, upper = [], {}, {}
    flops = 0
    while active:
        k = min(active, key=lambda k: ((len(rows[k]) - 1) * (len(cols[k]) - 1), k))
        below = sorted(i for i in cols[k] if i != k)
        right = sorted(j for j in rows[k] if j != k)
        order.append(k)
        lower[k], upper[k] = tuple(below), tuple(right)
        flops += len(below) * len(right)
        active.discard(k)
        for i in below:
            rows[i].discard(k)
            rows[i].update(right)
        for j in right:
            cols[j].discard(k)
            cols[j].update(below)
    slots = {}
    for k in order:
        slots[("inv", k)] = len(slots)
        for i in lower[k]:
            slots[("l", i, k)] = len(slots)
        for j in upper[k]:
            slots[("u", k, j)] = len(slots)
    return SparseLU(n=n, order=tuple(order), lower=lower, upper=upper, slots=slots, size=len(slots), flops=flops)


def sparse_lu_factor(E, F, plan: SparseLU, value, slot, singular, unstable):
    """Emit the factorisation of ``plan``: ``value(row, col)`` returns entry ``(row, col)`` of the
    matrix (called once for each structural entry and each diagonal entry; the fill starts at
    zero), ``slot(k)`` locates position ``k`` of the factor array.  A zero or non-finite column
    branches to ``singular``, a pivot failing the threshold test to ``unstable``; the builder
    ends in the block after the factorisation."""
    b = E.b
    zero = (const(0.0),) * 2 if isinstance(F.one, tuple) else const(0.0)
    a = {}
    for k in plan.order:  # the matrix's entries, as the elimination first touches them
        a[(k, k)] = value(k, k)
    for k in plan.order:
        for i in plan.lower[k]:
            a.setdefault((i, k), None)
        for j in plan.upper[k]:
            a.setdefault((k, j), None)
    for (i, j) in list(a):
        if a[(i, j)] is None:
            v = value(i, j)
            a[(i, j)] = v if v is not None else zero
    bad = unsure = None
    for k in plan.order:
        piv = a[(k, k)]
        apiv = F.abs1(piv)
        colmax, total = const(0.0), apiv
        for i in plan.lower[k]:
            v = F.abs1(a[(i, k)])
            colmax = E.max(colmax, v)
            total = E.add(total, v)  # (a NaN or an infinity reaches the sum, not always the max)
        # singular: nothing in the column (or not finite); unstable: the threshold test fails
        sing = b.or_(b.fcmp_ordered("==", total, const(0.0)), b.not_(E.finite(total)))
        small = E.lt(apiv, E.mul(const(THRESHOLD), colmax))
        bad = sing if bad is None else b.or_(bad, sing)
        unsure = small if unsure is None else b.or_(unsure, small)
        inv = F.div(F.one, piv)
        F.store(inv, slot(plan.slots[("inv", k)]))
        for i in plan.lower[k]:
            lik = F.mul(a[(i, k)], inv)
            F.store(lik, slot(plan.slots[("l", i, k)]))
            for j in plan.upper[k]:
                a[(i, j)] = F.sub(a[(i, j)], F.mul(lik, a[(k, j)]))
        for j in plan.upper[k]:
            F.store(a[(k, j)], slot(plan.slots[("u", k, j)]))
    if bad is None:  # n == 0
        return
    checked, done = E.block("splu_checked"), E.block("splu_done")
    b.cbranch(bad, singular, checked)
    b.position_at_end(checked)
    b.cbranch(unsure, unstable, done)
    b.position_at_end(done)


def sparse_lu_solve(E, F, plan: SparseLU, slot, x):
    """Emit ``A y = x`` in place with the factors of :func:`sparse_lu_factor`; ``x(k)`` locates
    entry ``k`` of the right-hand side."""
    xs = {k: F.load(x(k)) for k in range(plan.n)}
    for k in plan.order:  # forward: the unit lower triangle
        xk = xs[k]
        for i in plan.lower[k]:
            xs[i] = F.sub(xs[i], F.mul(F.load(slot(plan.slots[("l", i, k)])), xk))
    for k in reversed(plan.order):  # back: U, with the pivots' reciprocals
        acc = xs[k]
        for j in plan.upper[k]:
            acc = F.sub(acc, F.mul(F.load(slot(plan.slots[("u", k, j)])), xs[j]))
        xs[k] = F.mul(acc, F.load(slot(plan.slots[("inv", k)])))
    for k in range(plan.n):
        F.store(xs[k], x(k))
