"""Run small dense eigenvalue problems on one BLAS thread.

numpy's bundled OpenBLAS starts its thread pool from about 100 x 100 matrices; for the
eigenvalue problems of the analysis (at most a few hundred states) the threads cost more
than they save, 10x and more on a busy machine (``numpy.linalg.eigvals`` of a 128 x 128
matrix: 0.02 s on one thread, 0.1-0.3 s on two busy cores).  :func:`single_thread` sets
the thread count to one for the duration of a block when it finds OpenBLAS's
``*_set_num_threads`` in numpy's bundled library, and does nothing otherwise.

>>> import numpy as np
>>> with single_thread():
...     lam = np.linalg.eigvals(np.eye(3))
"""
from __future__ import annotations

import contextlib
import ctypes
import glob
import os

import numpy as np

_PREFIXES = ("scipy_openblas", "openblas")
_SUFFIXES = ("64_", "")
_api = None  # (get, set) or False when not found


def _find():
    global _api
    if _api is None:
        _api = False
        libdir = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
        for path in glob.glob(os.path.join(libdir, "*openblas*")):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for pre in _PREFIXES:
                for suf in _SUFFIXES:
                    get = getattr(lib, f"{pre}_get_num_threads{suf}", None)
                    put = getattr(lib, f"{pre}_set_num_threads{suf}", None)
                    if get is not None and put is not None:
                        _api = (get, put)
                        return _api
    return _api


@contextlib.contextmanager
def single_thread():
    """BLAS on one thread inside the block (a no-op when numpy's OpenBLAS is not found)."""
    api = _find()
    if not api:
        yield
        return
    get, put = api
    before = int(get())
    put(1)
    try:
        yield
    finally:
        put(before)
