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

import time

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


class NativeModule:
    """A JIT-compiled module: ``address(name)`` of each function, the IR and the assembly.

    ``timings`` records seconds spent in each stage (parse, optimise, jit).
    """

    def __init__(self, module: ir.Module, opt_level: int = 2):
        self.timings = {}
        tm = _target_machine(opt_level)
        module.triple = tm.triple
        module.data_layout = str(tm.target_data)
        t0 = time.perf_counter()
        self.ir = str(module)
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
        self._engine.finalize_object()
        t3 = time.perf_counter()
        self._module = parsed
        self._opt_level = opt_level
        self.timings = {"parse": t1 - t0, "optimise": t2 - t1, "jit": t3 - t2}

    def address(self, name: str) -> int:
        """The native address of function ``name`` (see :mod:`codegen.signatures`)."""
        addr = self._engine.get_function_address(name)
        if not addr:
            raise CodegenError(f"no function {name!r} in this module")
        return addr

    def optimised_ir(self) -> str:
        return str(self._module)

    def assembly(self) -> str:
        return _target_machine(self._opt_level).emit_assembly(self._module)
