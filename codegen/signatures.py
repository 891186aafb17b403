"""The C signatures every generated function follows (plain C ABI: doubles and pointers).

``void f(double t, const double *u, const double *p, double *out)``
    Every generated function has this signature.  ``u`` holds the ``n`` states and
    ``p`` the parameters, in the model's order; the function writes its outputs to
    ``out`` and reads nothing else.  ``u``, ``p`` and ``out`` must not overlap.

``rhs``:  ``out[i] = f_i(t, u, p)``, ``n`` values.
``jac_csc``: the values of the Jacobian's structural nonzeros in CSC order
    (``CompiledModel.jac_pattern`` gives ``indptr``/``indices``), ``nnz`` values.
``jac``:  the dense Jacobian, column-major: ``out[col*n + row] = d f_row / d u_col``;
    all ``n*n`` entries are written (zeros included).

>>> from codegen.signatures import C_SIGNATURE
>>> C_SIGNATURE
'void (double t, const double *u, const double *p, double *out)'
"""
import ctypes

import llvmlite.ir as ir

DOUBLE = ir.DoubleType()
DOUBLE_PTR = DOUBLE.as_pointer()
I64 = ir.IntType(64)
I1 = ir.IntType(1)

#: LLVM type of every generated function
FUNCTION_TYPE = ir.FunctionType(ir.VoidType(), [DOUBLE, DOUBLE_PTR, DOUBLE_PTR, DOUBLE_PTR])

#: the same, as a C declaration (documentation, error messages)
C_SIGNATURE = "void (double t, const double *u, const double *p, double *out)"

#: the same, for ctypes
CTYPES_SIGNATURE = ctypes.CFUNCTYPE(
    None, ctypes.c_double, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p
)

ARG_NAMES = ("t", "u", "p", "out")
