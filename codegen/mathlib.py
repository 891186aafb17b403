"""The table of known functions: SymPy function name -> how to emit it.

``("intrinsic", name)`` is an LLVM intrinsic (lowered to an instruction or to libm);
``("libm", name)`` is a call to the C math library of the process.  Every entry has
NaN/Inf semantics equal to numpy's for real arguments.

>>> FUNCTIONS["sin"]
('intrinsic', 'llvm.sin')
"""

FUNCTIONS = {
    "exp": ("intrinsic", "llvm.exp"),
    "log": ("intrinsic", "llvm.log"),
    "sin": ("intrinsic", "llvm.sin"),
    "cos": ("intrinsic", "llvm.cos"),
    "Abs": ("intrinsic", "llvm.fabs"),
    "floor": ("intrinsic", "llvm.floor"),
    "ceiling": ("intrinsic", "llvm.ceil"),
    "tan": ("libm", "tan"),
    "asin": ("libm", "asin"),
    "acos": ("libm", "acos"),
    "atan": ("libm", "atan"),
    "sinh": ("libm", "sinh"),
    "cosh": ("libm", "cosh"),
    "tanh": ("libm", "tanh"),
    "asinh": ("libm", "asinh"),
    "acosh": ("libm", "acosh"),
    "atanh": ("libm", "atanh"),
    "erf": ("libm", "erf"),
    "erfc": ("libm", "erfc"),
    "atan2": ("libm", "atan2"),
}

#: functions with dedicated emitters in :mod:`codegen.emit` (not table entries)
SPECIAL = ("Pow", "Min", "Max", "sign", "Heaviside", "Piecewise")
