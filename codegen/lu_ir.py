"""Dense LU with partial pivoting, unrolled, for the emitted time loops: real and complex.

The same operations in the same order as :func:`symdyn.solvers.linalg.lu_factor` and
``lu_solve`` (Golub & Van Loan, Alg. 3.4.1; column-major ``M[col, row]``), so that the emitted
Rosenbrock and Radau loops reproduce the numba steppers' numbers.  Every index is a constant
except the row interchanges.  A *field* supplies the arithmetic: :class:`RealField` (doubles) or
:class:`ComplexField` (pairs of doubles, with numba's -- that is CPython's -- complex product
and quotient, ``_Py_c_prod`` / ``_Py_c_quot``).  A *matrix* is a function ``at(col, row)``
returning where entry ``(row, col)`` lives (a pointer, or a pair of pointers for complex), ``row``
possibly a run-time int64.

>>> import llvmlite.ir as ir
>>> from codegen.loop_ir import LoopEmitter, const
>>> from codegen.signatures import FUNCTION_TYPE
>>> fn = ir.Function(ir.Module("doc"), FUNCTION_TYPE, "f")
>>> E = LoopEmitter(fn.module, fn)
>>> z = ComplexField(E).div((const(1.0), const(0.0)), (fn.args[0], const(2.0)))
>>> len(z)
2
"""
from __future__ import annotations

from .loop_ir import const, iconst


class RealField:
    """Real arithmetic for :func:`lu_factor` / :func:`lu_solve`; values are doubles."""

    def __init__(self, E):
        self.E = E
        self.one = const(1.0)

    def load(self, ptr):
        return self.E.ld(ptr)

    def store(self, value, ptr):
        self.E.st(value, ptr)

    def abs1(self, x):  # linalg._cabs1 of a real number
        return self.E.fabs(x)

    def nonzero(self, x):  # x != 0.0 (true for NaN)
        return self.E.b.fcmp_unordered("!=", x, const(0.0))

    def mul(self, x, y):
        return self.E.mul(x, y)

    def sub(self, x, y):
        return self.E.sub(x, y)

    def div(self, x, y):
        return self.E.div(x, y)

    def select(self, cond, x, y):
        return self.E.b.select(cond, x, y)


class ComplexField:
    """Complex arithmetic as numba compiles it; values are ``(re, im)`` pairs of doubles."""

    def __init__(self, E):
        self.E = E
        self.one = (const(1.0), const(0.0))

    def load(self, ptrs):
        return self.E.ld(ptrs[0]), self.E.ld(ptrs[1])

    def store(self, value, ptrs):
        self.E.st(value[0], ptrs[0])
        self.E.st(value[1], ptrs[1])

    def abs1(self, z):  # linalg._cabs1: |Re z| + |Im z|
        return self.E.add(self.E.fabs(z[0]), self.E.fabs(z[1]))

    def nonzero(self, z):
        b = self.E.b
        return b.or_(b.fcmp_unordered("!=", z[0], const(0.0)), b.fcmp_unordered("!=", z[1], const(0.0)))

    def mul(self, z, w):  # _Py_c_prod
        E = self.E
        a, bb = z
        c, d = w
        return E.sub(E.mul(a, c), E.mul(bb, d)), E.add(E.mul(a, d), E.mul(bb, c))

    def sub(self, z, w):
        return self.E.sub(z[0], w[0]), self.E.sub(z[1], w[1])

    def div(self, z, w):  # _Py_c_quot (numba's complex_div; w is never zero here: a pivot)
        E, b = self.E, self.E.b
        areal, aimag = z
        breal, bimag = w
        ratio1 = E.div(bimag, breal)
        denom1 = E.add(breal, E.mul(bimag, ratio1))
        q1 = (E.div(E.add(areal, E.mul(aimag, ratio1)), denom1), E.div(E.sub(aimag, E.mul(areal, ratio1)), denom1))
        ratio2 = E.div(breal, bimag)
        denom2 = E.add(E.mul(breal, ratio2), bimag)
        q2 = (E.div(E.add(E.mul(areal, ratio2), aimag), denom2), E.div(E.sub(E.mul(aimag, ratio2), areal), denom2))
        by_real = E.ge(E.fabs(breal), E.fabs(bimag))
        by_imag = E.ge(E.fabs(bimag), E.fabs(breal))
        nan = const(float("nan"))
        return tuple(b.select(by_real, x1, b.select(by_imag, x2, nan)) for x1, x2 in zip(q1, q2))

    def select(self, cond, z, w):
        return self.E.b.select(cond, z[0], w[0]), self.E.b.select(cond, z[1], w[1])


def lu_factor(E, F, at, n, pivots, fail):
    """Emit ``P A = L U`` in place (``linalg.lu_factor``): ``at(col, row)`` locates ``A[row, col]``,
    ``pivots[k]`` are int64 variables receiving the pivot rows, and a zero or non-finite pivot
    branches to the block ``fail``.  The builder ends in the block after the factorisation."""
    b = E.b
    for kk in range(n):
        pivot = iconst(kk)
        big = F.abs1(F.load(at(kk, kk)))
        for i in range(kk + 1, n):
            v = F.abs1(F.load(at(kk, i)))
            better = E.gt(v, big)
            big = b.select(better, v, big)
            pivot = b.select(better, iconst(i), pivot)
        E.st(pivot, pivots[kk])
        go = E.block(f"lu_col{kk}")
        b.cbranch(b.or_(b.fcmp_ordered("==", big, const(0.0)), b.not_(E.finite(big))), fail, go)
        b.position_at_end(go)
        if kk < n - 1:  # swap rows kk and pivot in every column (a no-op when pivot == kk)
            for j in range(n):
                pk, pp = at(j, kk), at(j, pivot)
                x_k, x_p = F.load(pk), F.load(pp)
                F.store(x_k, pp)
                F.store(x_p, pk)
        inv = F.div(F.one, F.load(at(kk, kk)))
        for i in range(kk + 1, n):
            F.store(F.mul(F.load(at(kk, i)), inv), at(kk, i))
        for j in range(kk + 1, n):
            mkj = F.load(at(j, kk))
            nonzero = F.nonzero(mkj)
            for i in range(kk + 1, n):
                old = F.load(at(j, i))
                F.store(F.select(nonzero, F.sub(old, F.mul(F.load(at(kk, i)), mkj)), old), at(j, i))
        F.store(inv, at(kk, kk))  # the pivot's reciprocal, as linalg.lu_factor keeps it


def lu_solve(E, F, at, n, pivots, x):
    """Emit ``A y = x`` in place (``linalg.lu_solve``) with the factors of :func:`lu_factor`:
    ``pivots`` are int64 values, ``x(k)`` locates entry ``k`` (``k`` possibly a run-time index)."""
    b = E.b
    for k in range(n - 1):  # the interchanges (a no-op when piv[k] == k)
        pk = x(pivots[k])
        xk, xp = F.load(x(k)), F.load(pk)
        F.store(xk, pk)
        F.store(xp, x(k))
    xs = [F.load(x(k)) for k in range(n)]
    for j in range(n):  # forward substitution, unit lower triangle
        nz = F.nonzero(xs[j])
        for i in range(j + 1, n):
            xs[i] = F.select(nz, F.sub(xs[i], F.mul(F.load(at(j, i)), xs[j])), xs[i])
    for j in range(n - 1, -1, -1):  # back substitution
        xs[j] = F.mul(xs[j], F.load(at(j, j)))
        nz = F.nonzero(xs[j])
        for i in range(j):
            xs[i] = F.select(nz, F.sub(xs[i], F.mul(F.load(at(j, i)), xs[j])), xs[i])
    for k in range(n):
        F.store(xs[k], x(k))
    return b
