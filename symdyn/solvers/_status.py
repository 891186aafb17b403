"""Integer codes shared by the native kernels and :mod:`symdyn.solvers.solution`.

Kernels return a status code and fill a counters array; plain ints keep the kernels free of
Python objects.  :class:`symdyn.solvers.solution.RetCode` is the public face of the codes.
"""

# return codes
SUCCESS = 0
MAX_STEPS = 1
STEP_SIZE_TOO_SMALL = 2
NON_FINITE = 3
LINEAR_SOLVE_FAILED = 4
#: internal: an explicit kernel detected stiffness and stopped so that `auto` can switch
STIFF = 100
#: internal: a stiff kernel under `auto` found the problem non-stiff and stopped
NONSTIFF = 101
#: internal: a kernel's time loop (`_steps`) stopped because an output buffer is full; the kernel's
#: entry grows it (:func:`._buffers.grow_outputs`) and calls the loop again
BUFFER_FULL = -1
#: internal: an emitted loop with a static-pivot sparse LU met a matrix that needs row
#: interchanges (:mod:`codegen.sparse_lu_ir`); the solve is run again by the numba stepper
NEEDS_PIVOTING = 102

# indices into the counters array
NFEV, NJEV, NSTEPS, NACCEPT, NREJECT, NLU = 0, 1, 2, 3, 4, 5
STAT_NAMES = ("nfev", "njev", "nsteps", "naccept", "nreject", "nlu")
NSTATS = len(STAT_NAMES)
