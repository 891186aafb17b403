"""numba's on-disk cache of symdyn's kernels, keyed by all of their sources together.

numba checks a cached function against its *own* source file only: after a change to
``linalg.py`` the kernels of ``radau.py`` that call (and inline) its helpers kept the old code
until ``radau.py`` itself changed -- measured here, a benchmark ran a stale LU.  The locators
below give every cached function of the files in :data:`KERNEL_FILES` one stamp, a hash of all
of those files, so a change to any of them recompiles all kernels.  Everything else about the
cache (where it lives, ``NUMBA_CACHE_DIR``) is numba's.

If numba's cache internals are not as expected, nothing is registered and numba's own
per-file check applies.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent
#: the files whose numba functions are cached (and that call each other's helpers), and the
#: emitted loops' argument layouts (codegen: the numba entries bake their slot indices in)
KERNEL_FILES = tuple(sorted(
    [p for p in (_PACKAGE / "solvers").glob("*.py")]
    + [_PACKAGE / "discover" / "_kernels.py", _PACKAGE / "discover" / "_gp_native.py"]
    + [_PACKAGE.parent / "codegen" / name for name in ("loop_ir.py", "erk.py", "rosenbrock_loop.py",
                                                       "radau_loop.py")]))
_OURS = frozenset(os.path.normcase(str(p)) for p in KERNEL_FILES)
_STAMP: tuple | None = None


def sources_stamp() -> tuple:
    """A hash of the contents of :data:`KERNEL_FILES` (computed once per process).

    >>> len(sources_stamp()[1]) == 64
    True
    """
    global _STAMP
    if _STAMP is None:
        h = hashlib.sha256()
        for path in KERNEL_FILES:
            if path.exists():
                h.update(path.name.encode())
                h.update(path.read_bytes())
        _STAMP = ("symdyn-kernels", h.hexdigest())
    return _STAMP


def _register() -> bool:
    try:
        from numba.core import caching
        bases = (caching.UserProvidedCacheLocator, caching.InTreeCacheLocator, caching.UserWideCacheLocator)
        registry = caching.CacheImpl._locator_classes
    except (ImportError, AttributeError):
        return False

    def make(base):
        class Locator(base):
            def get_source_stamp(self):
                return sources_stamp()

            @classmethod
            def from_function(cls, py_func, py_file):
                if os.path.normcase(os.path.abspath(py_file)) not in _OURS:
                    return None
                return super().from_function(py_func, py_file)

        Locator.__name__ = f"Symdyn{base.__name__}"
        return Locator

    ours = [make(base) for base in bases]
    if not any(getattr(k, "__name__", "").startswith("Symdyn") for k in registry):
        registry[:0] = ours  # before numba's own, in numba's order
    return True


REGISTERED = _register()
