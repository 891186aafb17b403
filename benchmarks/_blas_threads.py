"""``--blas-threads N`` applied before numpy is imported: import this module first.

Sets ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` (unless already set)
to ``N`` from the command line (default 1; ``0`` leaves the environment alone).  On a loaded
2-core machine multi-threaded OpenBLAS made a 199x199 ``numpy.linalg.eig`` 8x slower.
"""
import os
import sys

VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def threads_from_argv(argv) -> str:
    """The value of ``--blas-threads`` in ``argv`` (``"1"`` when absent)."""
    for i, a in enumerate(argv):
        if a == "--blas-threads" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--blas-threads="):
            return a.split("=", 1)[1]
    return "1"


def environment() -> dict:
    """The BLAS thread variables as they are now (for a benchmark's ``meta``)."""
    return {k: os.environ.get(k) for k in VARIABLES}


THREADS = threads_from_argv(sys.argv)
if THREADS != "0":
    for _var in VARIABLES:
        os.environ.setdefault(_var, THREADS)
