"""Building, verifying, optimising and JIT-compiling an LLVM module; owning its engine.

Building IR (pure Python, :mod:`codegen.functions`) is kept apart from binding and JIT
(this module), as in llvmlite's own examples.  Each :class:`NativeModule` owns one
MCJIT engine; its functions live as long as it does.

>>> import llvmlite.ir as ir
>>> from codegen.signatures import FUNCTION_TYPE
>>> m = ir.Module("doc"); f = ir.Function(m, FUNCTION_TYPE, "noop")
>>> _ = ir.IRBuilder(f.append_basic_block()).ret_void()
>>> nm = NativeModule(m)
>>> nm.address("noop") > 0
True
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm
import llvmlite.ir as ir

from symdyn.errors import CodegenError

def _target_machine(opt_level: int):
    """A new target machine for the host CPU (MCJIT takes ownership of the one it is given)."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(
        cpu=llvm.get_host_cpu_name(),
        features=llvm.get_host_cpu_features().flatten(),
        opt=opt_level,
        codemodel="jitdefault",
    )


def object_cache_dir() -> Path:
    """Where :class:`NativeModule` keeps compiled objects when asked to (``cache=True``):
    ``$SYMDYN_CACHE_DIR``, else ``$XDG_CACHE_HOME/symdyn/llvm`` (``~/.cache/symdyn/llvm``).

    >>> isinstance(object_cache_dir(), Path)
    True
    """
    env = os.environ.get("SYMDYN_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "symdyn" / "llvm"


def _cache_key(content_key: str, tm, opt_level: int) -> str:
    """The object's file name: a hash of the caller's key for the module's content (anything
    that determines its IR) and of everything else the machine code depends on -- the target,
    the CPU and its features, the optimisation level and the LLVM version."""
    h = hashlib.sha256()
    for part in (content_key, tm.triple, llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten(),
                 str(opt_level), llvmlite.__version__, ".".join(map(str, llvm.llvm_version_info))):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


#: LLVM's parse, optimisation and code generation run under this lock: llvmlite's global context
#: is not safe to use from two threads at once (two threads solving the same model for the first
#: time would both compile)
LLVM_LOCK = threading.RLock()


class NativeModule:
    """A JIT-compiled module: ``address(name)`` of each function, the IR and the assembly.

    ``timings`` records seconds spent in each stage (parse, optimise, jit).  With a
    ``cache_key`` (a string that determines the module's IR: the caller's promise) the machine
    code is also written to disk (:func:`object_cache_dir`), and :meth:`load` finds it in a later
    process without building or compiling anything: for the emitted time loops
    (:mod:`codegen.erk`), whose optimisation and code generation take 0.1-0.5 s, against 1-2 ms
    to load the object.  A cache that cannot be read or written is skipped: it only saves time.
    """

    def __init__(self, module: ir.Module, opt_level: int = 2, cache_key: str | None = None):
        with LLVM_LOCK:
            self._compile(module, opt_level, cache_key)

    def _compile(self, module, opt_level, cache_key):
        self.timings = {}
        tm = _target_machine(opt_level)
        module.triple = tm.triple
        module.data_layout = str(tm.target_data)
        t0 = time.perf_counter()
        self.ir = str(module)
        self._opt_level = opt_level
        path = _object_path(cache_key, tm, opt_level) if cache_key is not None else None
        try:
            parsed = llvm.parse_assembly(self.ir)
            parsed.verify()
        except RuntimeError as exc:  # a bug in our emitter, never the user's input
            raise CodegenError(f"generated LLVM IR is invalid: {exc}") from exc
        t1 = time.perf_counter()
        if opt_level > 0:
            pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
            pb = llvm.create_pass_builder(tm, pto)
            pb.getModulePassManager().run(parsed, pb)
        t2 = time.perf_counter()
        self._engine = llvm.create_mcjit_compiler(parsed, tm)
        if path is not None:
            self._engine.set_object_cache(notify_func=lambda _mod, obj: _store(path, obj))
        self._engine.finalize_object()
        t3 = time.perf_counter()
        self._module = parsed
        self.timings = {"parse": t1 - t0, "optimise": t2 - t1, "jit": t3 - t2}

    @classmethod
    def load(cls, cache_key: str, opt_level: int = 2) -> "NativeModule | None":
        """The module compiled earlier (in any process) with this ``cache_key`` and ``opt_level``,
        loaded from disk; None if there is none (or it is damaged: a checksum guards it).  A
        loaded module has addresses but no IR (``ir`` is None).

        >>> NativeModule.load("no module has this key") is None
        True
        """
        with LLVM_LOCK:
            return cls._load(cache_key, opt_level)

    @classmethod
    def _load(cls, cache_key, opt_level):
        t0 = time.perf_counter()
        tm = _target_machine(opt_level)
        path = _object_path(cache_key, tm, opt_level)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        digest, obj = data[:32], data[32:]
        if hashlib.sha256(obj).digest() != digest:  # damaged: never hand LLVM a broken object
            return None
        self = cls.__new__(cls)
        # an engine over an empty module: MCJIT takes the object from the cache instead of
        # compiling, and the symbols come from the object
        empty = llvm.parse_assembly(f'target triple = "{tm.triple}"\n')
        self._engine = llvm.create_mcjit_compiler(empty, tm)
        self._engine.set_object_cache(getbuffer_func=lambda _mod: obj)
        self._engine.finalize_object()
        self.ir, self._module, self._opt_level = None, None, opt_level
        self.timings = {"load": time.perf_counter() - t0}
        return self

    def address(self, name: str) -> int:
        """The native address of function ``name`` (see :mod:`codegen.signatures`)."""
        addr = self._engine.get_function_address(name)
        if not addr:
            raise CodegenError(f"no function {name!r} in this module")
        return addr

    def optimised_ir(self) -> str:
        return str(self._optimised())

    def assembly(self) -> str:
        return _target_machine(self._opt_level).emit_assembly(self._optimised())

    def _optimised(self):
        if self._module is None:
            raise CodegenError("this module was loaded from the object cache: it has no IR")
        return self._module


def _object_path(cache_key: str, tm, opt_level: int) -> Path:
    return object_cache_dir() / f"{_cache_key(cache_key, tm, opt_level)}.o"


def _store(path: Path, obj: bytes) -> None:
    """Write ``obj`` to ``path`` atomically (a concurrent reader sees all of it or nothing)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        obj = bytes(obj)
        tmp.write_bytes(hashlib.sha256(obj).digest() + obj)
        os.replace(tmp, path)
    except OSError:
        pass
