"""Time loops emitted as LLVM IR with a small model's functions: when to build them, and where from.

:func:`erk_address`, :func:`rosenbrock_address` and :func:`radau_address` return the address of
a method's whole time loop for a compiled model (:mod:`codegen.erk`, :mod:`codegen.rosenbrock_loop`,
:mod:`codegen.radau_loop`), for the numba entries ``explicit_fused_solve``,
``rosenbrock_fused_solve`` and ``radau_fused_solve``.  The module holds a copy of the model's
``rhs`` (and ``jac_csc``) and the loop: LLVM inlines them, the coefficients are constants, and
the loops over states, stages and matrix entries are unrolled.  The numbers are those of the
numba steppers.

Compiling a loop takes 0.1 s (DOP853 for Lorenz) to 0.9 s (Radau5 for HIRES).  So a solve asks
with ``build=False``: the loop comes from memory, from the disk cache
(:func:`codegen.module.object_cache_dir`, keyed by :func:`_content_key`), or -- at the
:data:`COMPILE_AT_SOLVE`-th solve of the model and method in the process, or at the first when
the numba stepper itself would have to be compiled (:func:`generic_ready`) -- from a
compilation; otherwise the solve runs the numba stepper.  Explicit loops only for models below
:data:`FUSED_MAX_N` states; stiff loops with the dense LU below :data:`FUSED_MAX_N`
(:data:`RADAU_MAX_N` for Radau5) -- above, the unrolled dense LU outgrows the instruction cache
(POLLU, 20 states: 655 against 572 us) -- and with the sparse LU of
:mod:`codegen.sparse_lu_ir` up to :data:`SPARSE_MAX_N` states.
"""
from __future__ import annotations

import hashlib
import warnings
import weakref
from pathlib import Path

import numpy as np

import codegen
from codegen.erk import ERKSpec, build_erk
from codegen.radau_loop import RadauSpec, build_radau, work_layout
from codegen.rosenbrock_loop import RosenbrockSpec, build_rosenbrock
from codegen.sparse_lu_ir import plan_sparse_lu
from codegen.module import LLVM_LOCK, NativeModule
from symdyn.errors import CodegenError

from . import _status as st
from . import control
from .explicit import NONSTIFF_RESET, STIFF_HITS, STAGE_OUTER_N
from . import radau as _radau
from .rosenbrock import CBRT_EPS, FAC_SINGULAR, NONSTIFF_STEPS

#: models with fewer states get the emitted loop
FUSED_MAX_N = STAGE_OUTER_N
#: ... and for Radau5 fewer than this: its unrolled real and complex LUs grow as n**3 (a 12-state
#: model: 2.2 s to compile, then 87 us per solve against numba's 86; HIRES, 8 states: 128 against
#: 162 us)
RADAU_MAX_N = 10
#: from :data:`FUSED_MAX_N` states (Radau5: :data:`RADAU_MAX_N`) up to this many, a stiff loop
#: factors ``W`` with the sparse LU of :mod:`codegen.sparse_lu_ir` (static pivots; a matrix that
#: needs interchanges hands the solve to the numba stepper) when its elimination takes at most
#: :data:`SPARSE_MAX_FLOPS` multiply-subtracts.  Everything is unrolled, so compiling grows with
#: both: measured on random sparse models, Rodas5P 1.3 s at 32 states (536 multiply-subtracts),
#: 2.3 s at 48 (1054), 3.3 s at 60 (2005); Radau5 (a complex LU too) 2.0 s at 32, 4.1 s at 48,
#: 8 s at 60 -- while running 3-4x faster than the numba steppers.  The limits keep the pause
#: at a model's second solve near 2 s (the machine code is then on disk).
SPARSE_MAX_N = {"rosenbrock": 48, "radau": 32}
SPARSE_MAX_FLOPS = {"rosenbrock": 2500, "radau": 1000}
#: below those sizes too, when the pattern shortens the elimination, the sparse LU factors ``W``
#: first and the dense LU (partial pivoting) only a matrix that fails the threshold test (HIRES,
#: Rodas5P: 139 -> 87 us); False: the dense LU alone, the numba stepper's numbers bit for bit
SMALL_SPARSE = True

_CONSTANTS = dict(SAFETY=control.SAFETY, FACMIN=control.FACMIN, FACMAX=control.FACMAX,
                  FAC_NONFINITE=control.FAC_NONFINITE, ERROLD_MIN=control.ERROLD_MIN,
                  HMIN_ULPS=control.HMIN_ULPS, HMIN_SPAN=control.HMIN_SPAN, EPS=control.EPS,
                  STIFF_HITS=STIFF_HITS, NONSTIFF_RESET=NONSTIFF_RESET)
_ROSENBROCK_CONSTANTS = dict(_CONSTANTS, FAC_SINGULAR=FAC_SINGULAR, CBRT_EPS=CBRT_EPS, NONSTIFF_STEPS=NONSTIFF_STEPS,
                            PRED_FACMIN=control.PRED_FACMIN, PRED_FACMAX=control.PRED_FACMAX,
                            ERRACC_MIN=control.ERRACC_MIN)
_RADAU_CONSTANTS = dict(_ROSENBROCK_CONSTANTS, NIT=_radau.NIT, THET=_radau.THET, QUOT1=_radau.QUOT1,
                       QUOT2=_radau.QUOT2, FAC_DIVERGED=_radau.FAC_DIVERGED, FAC_SINGULAR=_radau.FAC_SINGULAR,
                       FAC_FIRST_REJECT=_radau.FAC_FIRST_REJECT, THETA_DIVERGE=_radau.THETA_DIVERGE)
_CODES = dict(SUCCESS=st.SUCCESS, MAX_STEPS=st.MAX_STEPS, STEP_SIZE_TOO_SMALL=st.STEP_SIZE_TOO_SMALL,
              NON_FINITE=st.NON_FINITE, STIFF=st.STIFF, BUFFER_FULL=st.BUFFER_FULL, NFEV=st.NFEV,
              NSTEPS=st.NSTEPS, NACCEPT=st.NACCEPT, NREJECT=st.NREJECT, LINEAR_SOLVE_FAILED=st.LINEAR_SOLVE_FAILED,
              NONSTIFF=st.NONSTIFF, NEEDS_PIVOTING=st.NEEDS_PIVOTING, NJEV=st.NJEV, NLU=st.NLU)

# compiled model -> {method name: entry (see _address)}; the modules live as long as the model
_LOOPS = weakref.WeakKeyDictionary()
# compiled model -> modules no longer handed out (see needs_pivoting): kept alive with the model,
# since another thread may still be running their code
_RETIRED = weakref.WeakKeyDictionary()
# compiled model -> the sparse LU plan of its Jacobian's pattern (the pattern never changes)
_PLANS = weakref.WeakKeyDictionary()


def spec_for(tab) -> ERKSpec:
    """The :class:`codegen.erk.ERKSpec` of an explicit tableau (:mod:`.tableaus`)."""
    A, c, b, e, e2, dense = tab.native_args()
    return ERKSpec(A=A, c=c, b=b, e=e, e2=e2, dense=dense, fsal=tab.fsal, order=tab.order,
                   q=tab.error_exponent, beta=tab.pi_beta, constants=_CONSTANTS, codes=_CODES)


def erk_address(cm, tab, build: bool = True) -> int:
    """The address of ``tab``'s emitted time loop for compiled model ``cm``, or 0 when it has none
    (too many states, or not a compiled model with programs).  With ``build=False`` the loop is
    compiled only where that is cheap or likely to pay (see :func:`_address`).

    >>> import symdyn as sd, models
    >>> from symdyn.solvers.tableaus import EXPLICIT_METHODS
    >>> erk_address(sd.compile(models.get("lorenz").build()), EXPLICIT_METHODS["tsit5"]) > 0
    True
    """
    return _address(cm, tab, "rhs", build)


def rosenbrock_address(cm, tab, build: bool = True) -> int:
    """The address of the Rosenbrock method ``tab``'s emitted time loop (:mod:`codegen.rosenbrock_loop`)
    for ``cm``, or 0 when it has none (too many states, no Jacobian); ``build`` as in :func:`erk_address`.

    >>> import symdyn as sd, models
    >>> from symdyn.solvers.tableaus import ROSENBROCK_METHODS
    >>> rosenbrock_address(sd.compile(models.get("vdpol").build()), ROSENBROCK_METHODS["rodas5p"]) > 0
    True
    """
    return _address(cm, tab, "jac_csc", build)


def radau_address(cm, tab, build: bool = True) -> int:
    """The address of the Radau IIA method ``tab``'s emitted time loop (:mod:`codegen.radau_loop`)
    for ``cm``, or 0 when it has none (too many states, no Jacobian); ``build`` as in :func:`erk_address`.

    >>> import symdyn as sd, models
    >>> from symdyn.solvers.tableaus import RADAU_METHODS
    >>> radau_address(sd.compile(models.get("vdpol").build()), RADAU_METHODS["radau5"]) > 0
    True
    """
    return _address(cm, tab, "jac_csc", build)


def radau_work_size(cm) -> int:
    """The length of the work array of ``cm``'s emitted Radau loop."""
    return work_layout(cm.n, int(cm.jac_pattern.indptr[-1]))["size"]


#: with ``build=False``, a loop not on disk is compiled at this solve of its model and method in
#: the process: the first solve runs the numba stepper (the same numbers) instead of paying
#: 0.1-0.5 s of compilation for a one-off solve; a second solve suggests more will follow
COMPILE_AT_SOLVE = 2


#: a ``_LOOPS`` entry for a loop that is not emitted: not applicable, or it failed to build
_NEVER = "never"


def _address(cm, tab, needs, build):
    """The loop's address from (in this order) memory, the disk cache, or a compilation -- the
    last only with ``build`` or at the :data:`COMPILE_AT_SOLVE`-th request; else 0.

    ``_LOOPS[cm][method]`` is ``(NativeModule, address)`` once built, the number of requests
    while the loop is not, or :data:`_NEVER`."""
    try:
        loops = _LOOPS.get(cm)
    except TypeError:  # not weakly referenceable: not a compiled model
        return 0
    entry = loops.get(tab.name) if loops is not None else None
    if type(entry) is tuple:
        return entry[1]
    if entry is _NEVER:
        return 0
    with LLVM_LOCK:  # one thread builds; a module in use is never replaced (its code would be freed)
        return _resolve(_LOOPS.setdefault(cm, {}), cm, tab, needs, build)


def _resolve(loops, cm, tab, needs, build):
    """:func:`_address`'s slow path, under the lock."""
    entry = loops.get(tab.name)
    if type(entry) is tuple:
        return entry[1]
    if entry is _NEVER:
        return 0
    programs = getattr(cm, "programs", None)
    n = getattr(cm, "n", None)
    if not programs or needs not in programs or "rhs" not in programs or n is None or n >= _dense_limit(tab) and \
            _sparse_plan(cm, tab) is None:
        loops[tab.name] = _NEVER
        return 0
    requests = (entry or 0) + 1
    module, keepalive = _functions_module(cm, tab, programs)
    key = _content_key(str(module), cm, tab, n)
    native = NativeModule.load(key, OPT_LEVEL)
    if native is None and (build or requests >= COMPILE_AT_SOLVE or not generic_ready(tab, n)):
        try:
            native = _build(module, keepalive, cm, tab, n, key)
        except (CodegenError, ValueError) as exc:  # an emitter's bug must not fail a solve
            warnings.warn(f"symdyn: no emitted {tab.name} loop for model {getattr(cm, 'name', '?')!r} "
                          f"({exc}); its numba stepper runs instead (the same method)", RuntimeWarning,
                          stacklevel=3)
            loops[tab.name] = _NEVER
            return 0
    if native is None:
        loops[tab.name] = requests
        return 0
    loops[tab.name] = (native, native.address("loop"))
    return loops[tab.name][1]


OPT_LEVEL = 3
_SOURCES = None
# family -> True once its generic numba kernel is known compiled (in memory or on disk)
_READY = {}


def generic_ready(tab, n) -> bool:
    """Whether the numba stepper that would run ``tab`` for ``n`` states is compiled: in this
    process, or in numba's disk cache for the current sources.  When it is not (a fresh
    install), a first solve is cheaper through the emitted loop -- 0.1-0.9 s of LLVM and a small
    numba entry -- than through compiling the generic stepper (5.7 s for DOP853); so the loop is
    built at once.  Unknown (numba's cache internals not as expected): True, the usual policy.
    """
    from . import explicit, radau, rosenbrock

    family = _family(tab)
    if family == "radau":
        kernel = radau.radau_solve
    else:
        mod = explicit if family == "explicit" else rosenbrock
        kernel = mod._solve_stage_outer if explicit.stage_outer_for(n) else mod._solve_component_outer
    key = (family, kernel)
    if _READY.get(key):
        return True
    try:
        ready = bool(kernel.signatures) or bool(kernel._cache._cache_file._load_index())
    except Exception:  # noqa: BLE001 - numba internals changed: assume ready (compile at the 2nd solve)
        ready = True
    if ready:
        _READY[key] = True
    return ready


def _sources_hash() -> str:
    """A hash of the code that writes the loops' IR (the emitters and the model's functions)."""
    global _SOURCES
    if _SOURCES is None:
        import codegen as pkg

        h = hashlib.sha256()
        root = Path(pkg.__file__).resolve().parent
        for path in sorted(root.glob("*.py")) + [Path(__file__).resolve()]:
            h.update(path.read_bytes())
        _SOURCES = h.hexdigest()
    return _SOURCES


def _content_key(functions_ir, cm, tab, n) -> str:
    """What determines a loop's IR: the model's functions (their IR), the method's coefficients,
    the solver's constants and codes, and the emitters' sources."""
    h = hashlib.sha256()
    h.update(functions_ir.encode())
    h.update(repr((tab.name, n, sorted(_ROSENBROCK_CONSTANTS.items()), sorted(_CODES.items()))).encode())
    h.update(repr(sorted(_RADAU_CONSTANTS.items())).encode())
    if _family(tab) == "radau":
        arrays = (tab.c, tab.T, tab.TI, tab.dd, tab.dense)
    elif _family(tab) == "rosenbrock":
        arrays = (tab.A, tab.C, tab.c, tab.d, tab.b, tab.e, tab.dense)
    else:
        arrays = tab.native_args()
    for arr in arrays:
        h.update(np.ascontiguousarray(arr, dtype=float).tobytes())
    for x in (getattr(tab, "gamma", 0.0), getattr(tab, "alpha", 0.0), getattr(tab, "beta", 0.0), tab.error_exponent,
              getattr(tab, "pi_beta", 0.0), float(getattr(tab, "order", 0)), float(getattr(tab, "fsal", 0))):
        h.update(np.float64(x).tobytes())
    pattern = getattr(cm, "jac_pattern", None)
    if pattern is not None:
        h.update(np.asarray(pattern.indptr, dtype=np.int64).tobytes())
        h.update(np.asarray(pattern.indices, dtype=np.int64).tobytes())
    plan = _sparse_plan(cm, tab) if pattern is not None else None  # which LU (also set by the limits above)
    h.update(repr(None if plan is None else (plan.order, n < _dense_limit(tab))).encode())
    h.update(_sources_hash().encode())
    return h.hexdigest()


def _sparse_plan(cm, tab):
    """The sparse LU plan of ``cm``'s stiff loop, or None: the dense LU (small models whose
    elimination the pattern does not shorten, or :data:`SMALL_SPARSE` off) or no loop at all
    (an explicit method, over :data:`SPARSE_MAX_N` states or :data:`SPARSE_MAX_FLOPS`)."""
    n, family = cm.n, _family(tab)
    if family == "explicit" or n > SPARSE_MAX_N[family]:
        return None
    small = n < _dense_limit(tab)
    if small and not SMALL_SPARSE:
        return None
    plan = _PLANS.get(cm)
    if plan is None:
        pattern = cm.jac_pattern
        plan = _PLANS[cm] = plan_sparse_lu(n, pattern.indptr, pattern.indices)
    if plan.flops > SPARSE_MAX_FLOPS[family] or small and plan.flops >= sum(k * k for k in range(n)):
        return None
    return plan


def _dense_limit(tab) -> int:
    """Models below this many states get the dense LU (alone, or behind the sparse one)."""
    return RADAU_MAX_N if _family(tab) == "radau" else FUSED_MAX_N


def needs_pivoting(cm, tab) -> None:
    """Record that ``tab``'s emitted loop for ``cm`` met a matrix its static pivots cannot
    factor stably: from now on the numba stepper (partial pivoting) runs that method."""
    with LLVM_LOCK:
        loops = _LOOPS.setdefault(cm, {})
        old = loops.get(tab.name)
        if type(old) is tuple:  # its code may be running in another thread: never freed before cm
            _RETIRED.setdefault(cm, []).append(old)
        loops[tab.name] = _NEVER


def _functions_module(cm, tab, programs):
    """A new module with the model's functions the loop calls (``rhs``, and ``jac_csc`` for a
    Rosenbrock method), emitted as :func:`symdyn.compile` emits them."""
    wanted = ("rhs",) if _family(tab) == "explicit" else ("rhs", "jac_csc")
    return codegen.build_module({k: programs[k] for k in wanted}, name=f"{getattr(cm, 'name', 'model')}_{tab.name}",
                                fastmath=bool(getattr(cm, "fastmath", False)))


def _build(module, keepalive, cm, tab, n, key):
    """Add ``tab``'s loop to the functions' ``module`` and compile it (kept on disk under ``key``)."""
    if _family(tab) == "radau":
        pattern = cm.jac_pattern
        spec = RadauSpec(c=tab.c, T=tab.T, TI=tab.TI, gamma=tab.gamma, alpha=tab.alpha, beta=tab.beta, dd=tab.dd,
                         dense=tab.dense, q=tab.error_exponent, constants=_RADAU_CONSTANTS, codes=_CODES)
        build_radau(module, "loop", module.get_global("rhs"), module.get_global("jac_csc"), n, pattern.indptr,
                    pattern.indices, spec, sparse=_sparse_plan(cm, tab), pivot_fallback=n < _dense_limit(tab))
    elif _family(tab) == "rosenbrock":
        pattern = cm.jac_pattern
        spec = RosenbrockSpec(A=tab.A, C=tab.C, gamma=tab.gamma, c=tab.c, d=tab.d, b=tab.b, e=tab.e, dense=tab.dense,
                              q=tab.error_exponent, constants=_ROSENBROCK_CONSTANTS, codes=_CODES)
        build_rosenbrock(module, "loop", module.get_global("rhs"), module.get_global("jac_csc"), n, pattern.indptr,
                         pattern.indices, spec, sparse=_sparse_plan(cm, tab), pivot_fallback=n < _dense_limit(tab))
    else:
        build_erk(module, "loop", module.get_global("rhs"), n, spec_for(tab))
    # index tables baked into the IR as addresses are process-local: such a module is not cached
    native = NativeModule(module, opt_level=OPT_LEVEL, cache_key=None if keepalive else key)
    native.keepalive = keepalive
    return native


def _family(tab) -> str:
    """"radau", "rosenbrock" or "explicit", from the tableau's fields."""
    if hasattr(tab, "TI"):
        return "radau"
    return "rosenbrock" if hasattr(tab, "gamma") else "explicit"
