"""pytest set-up for the whole checkout (tests/, and the doctests of symdyn/, codegen/, models/).

The emitted time loops keep their machine code in an object cache (``$SYMDYN_CACHE_DIR``,
default ``~/.cache/symdyn/llvm``); the test session uses an empty temporary one, so that it
neither depends on nor writes to the user's cache.
"""
import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_object_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("SYMDYN_CACHE_DIR", str(tmp_path_factory.mktemp("symdyn_llvm_cache")))
    yield
    mp.undo()
