#!/usr/bin/env python
"""Compile-time and call-time benchmark of symdyn against the ``sympy.lambdify`` baseline.

Usage::

    python benchmarks/bench_compile.py [--quick] [--sizes 100,1000,10000] [--timeout 300]
                                       [--out benchmarks/results/compile.json] [--strict]

Measures

1. for every model in ``models/`` (brusselator_1d at its default N), in a fresh process
   each: build time, compile time (``sd.compile``: total and the stages of ``cm.timings``);
   then, in this process, the per-call time of ``cm.rhs`` / ``cm.jac`` from Python, of the
   raw native ``rhs`` / dense ``jac`` called N times from a numba loop (no Python per call),
   and of ``sympy.lambdify(modules="numpy")`` of the same observed-substituted equations /
   their dense Jacobian called from Python with numpy arrays, and the ratio lambdify/native;
2. brusselator_1d build + compile for each N of ``--sizes``, each in a fresh subprocess
   killed after ``--timeout`` seconds (recorded as a timeout, not waited for);
3. the targets of the issue, printed as PASS/FAIL lines.

Call times are the median over repeats (the machine is shared and noisy), per call.
Prints tables and writes JSON (``--out``).  ``--strict`` exits 1 if a target fails.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import timeit
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(ROOT), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

DEFAULT_SIZES = (100, 1000, 10000)
QUICK_SIZES = (100, 1000, 10000)
DEFAULT_OUT = HERE / "results" / "compile.json"

#: the issue's targets
POLLU_CALLABLE_S = 0.3
POLLU_SPEEDUP = 100.0
BRUSS_N = 10000
BRUSS_CALLABLE_S = 10.0
#: max |native - lambdify| / max(1, |lambdify|) accepted as agreement (else the row is flagged)
AGREE_TOL = 1e-9


# ----------------------------------------------------------------------------------------
# child process: import, build, compile one model, report JSON on stdout
# ----------------------------------------------------------------------------------------
def child(name: str, N: int | None) -> None:
    t0 = time.perf_counter()
    import symdyn as sd
    import symdyn.compiled  # noqa: F401  (sd.compile is lazy; import it before timing)
    import models
    t1 = time.perf_counter()
    kwargs = {} if N is None else {"N": N}
    model = models.get(name).build(**kwargs)
    t2 = time.perf_counter()
    # reported before compiling, so that a run killed by the timeout still has its build time
    print("@@BUILD@@" + json.dumps({"n": model.n_states, "import_s": t1 - t0, "build_s": t2 - t1}), flush=True)
    cm = sd.compile(model)
    t3 = time.perf_counter()
    try:
        import resource
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    except ImportError:  # not on Linux/macOS
        peak_mb = None
    out = {
        "model": name, "N": N, "n": cm.n, "n_params": cm.n_params,
        "nnz": int(cm.jac_pattern.nnz) if cm.jac_pattern is not None else None,
        "import_s": t1 - t0, "build_s": t2 - t1, "compile_s": t3 - t2,
        "callable_s": t3 - t1, "timings": {k: float(v) for k, v in cm.timings.items()},
        "peak_rss_mb": peak_mb,
    }
    print("@@RESULT@@" + json.dumps(out))


def run_child(name: str, N: int | None, timeout: float) -> dict:
    """Run :func:`child` in a fresh interpreter; a timeout or a crash is recorded, not raised."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name]
    if N is not None:
        cmd += ["--N", str(N)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))
    except subprocess.TimeoutExpired as exc:  # subprocess.run has killed the child
        res = {"model": name, "N": N, "status": "timeout", "timeout_s": timeout}
        stdout = exc.stdout or ""
        stdout = stdout.decode(errors="replace") if isinstance(stdout, bytes) else stdout
        for line in stdout.splitlines():
            if line.startswith("@@BUILD@@"):
                res.update(json.loads(line[len("@@BUILD@@"):]))
        return res
    wall = time.perf_counter() - t0
    for line in proc.stdout.splitlines():
        if line.startswith("@@RESULT@@"):
            res = json.loads(line[len("@@RESULT@@"):])
            res.update(status="ok", process_wall_s=wall)
            return res
    return {"model": name, "N": N, "status": "error", "returncode": proc.returncode,
            "stderr_tail": proc.stderr[-2000:]}


def median_child(name: str, N: int | None, timeout: float, repeats: int) -> dict:
    """Median (per timing) of ``repeats`` fresh-process runs; stops at the first failure."""
    runs = []
    for _ in range(repeats):
        r = run_child(name, N, timeout)
        if r["status"] != "ok":
            return r
        runs.append(r)
    res = dict(runs[0])
    for key in ("import_s", "build_s", "compile_s", "callable_s", "process_wall_s", "peak_rss_mb"):
        vals = [r[key] for r in runs if r.get(key) is not None]
        if vals:
            res[key] = statistics.median(vals)
    res["timings"] = {k: statistics.median(r["timings"][k] for r in runs if k in r["timings"])
                      for k in runs[0]["timings"]}
    res["callable_s_all"] = [r["callable_s"] for r in runs]
    res["repeats"] = len(runs)
    return res


# ----------------------------------------------------------------------------------------
# per-call timing
# ----------------------------------------------------------------------------------------
def per_call(run, target: float, repeats: int) -> dict:
    """``run(k)`` makes k calls and returns the seconds taken.  Choose k so one repeat
    takes about ``target`` seconds, then return the median and min seconds per call."""
    run(1)  # warm-up (numba compiles or loads call_loop here), not timed
    k = 1
    el = run(k)
    while el < 0.5 * target:
        k = min(k * 100, max(2 * k, int(k * target / max(el, 1e-9))))
        el = run(k)
    samples = [run(k) / k for _ in range(repeats)]
    return {"median_s": statistics.median(samples), "min_s": min(samples), "calls_per_repeat": k,
            "repeats": repeats}


def py_runner(fn, *args):
    timer = timeit.Timer("fn(*args)", globals={"fn": fn, "args": args})
    return timer.timeit


def native_runner(addr: int, t: float, u, p, out):
    from _native_loop import call_loop

    def run(k):
        t0 = time.perf_counter()
        call_loop(addr, t, u, p, out, k)
        return time.perf_counter() - t0
    return run


def substituted_rhs(model):
    """The right-hand sides with every observed quantity replaced by its definition
    (done here with the public Model API, independent of symdyn's passes)."""
    observed = model.observed_exprs
    resolved = {}
    for sym in model.observed_order():
        resolved[sym] = observed[sym].xreplace(resolved)
    return [e.xreplace(resolved) for e in model.rhs]


def bench_calls(name: str, target: float, repeats: int) -> dict:
    import numpy as np
    import sympy as sp

    import models
    import symdyn as sd

    model = models.get(name).build()
    model.validate()
    cm = sd.compile(model)
    u = cm.u0
    p_native = cm.params_array()  # a valid pointer even without parameters
    p_user = cm.p0
    t = 0.0
    n = cm.n
    res = {"model": name, "n": n}

    # the lambdify baseline
    t0 = time.perf_counter()
    rhs_exprs = substituted_rhs(model)
    args = (model.t, model.state_symbols, model.param_symbols)
    f_lamb = sp.lambdify(args, rhs_exprs, modules="numpy")
    t1 = time.perf_counter()
    J = sp.Matrix(rhs_exprs).jacobian(model.state_symbols)
    j_lamb = sp.lambdify(args, J, modules="numpy")
    t2 = time.perf_counter()
    res["lambdify_setup_s"] = {"rhs": t1 - t0, "jac": t2 - t1}

    # agreement (a benchmark of wrong code is worthless)
    ref = np.asarray(f_lamb(t, u, p_user), dtype=float)
    got = cm.rhs(t, u)
    res["rhs_max_rel_diff"] = float(np.max(np.abs(got - ref) / np.maximum(1.0, np.abs(ref))))
    Jref = np.asarray(j_lamb(t, u, p_user), dtype=float)
    res["jac_max_rel_diff"] = float(np.max(np.abs(cm.jac(t, u) - Jref) / np.maximum(1.0, np.abs(Jref))))

    out_rhs = np.empty(n)
    out_jac = np.empty(n * n)
    res["rhs"] = {
        "python": per_call(py_runner(cm.rhs, t, u), target, repeats),
        "native": per_call(native_runner(cm.addresses["rhs"], t, u, p_native, out_rhs), target, repeats),
        "lambdify": per_call(py_runner(f_lamb, t, u, p_user), target, repeats),
    }
    res["jac"] = {
        "python": per_call(py_runner(cm.jac, t, u), target, repeats),
        "native": per_call(native_runner(cm.addresses["jac"], t, u, p_native, out_jac), target, repeats),
        "lambdify": per_call(py_runner(j_lamb, t, u, p_user), target, repeats),
    }
    # the native loop computes what cm.rhs / cm.jac return
    res["native_loop_max_abs_diff"] = max(float(np.max(np.abs(out_rhs - got))),
                                          float(np.max(np.abs(out_jac - cm.jac(t, u).ravel(order="F")))))
    res["agrees"] = bool(res["rhs_max_rel_diff"] <= AGREE_TOL and res["jac_max_rel_diff"] <= AGREE_TOL
                         and res["native_loop_max_abs_diff"] == 0.0)
    for fn in ("rhs", "jac"):
        r = res[fn]
        r["lambdify_over_native"] = r["lambdify"]["median_s"] / r["native"]["median_s"]
        r["lambdify_over_python"] = r["lambdify"]["median_s"] / r["python"]["median_s"]
    return res


# ----------------------------------------------------------------------------------------
# reporting
# ----------------------------------------------------------------------------------------
def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 1.0:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.2f} us"
    if s >= 1e-7:
        return f"{s * 1e9:.0f} ns"
    return f"{s * 1e9:.1f} ns"


def table(headers, rows) -> str:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(str(c).rjust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([line(headers), sep] + [line(r) for r in rows])


#: stages of cm.timings that are parts of "codegen" (shown in parentheses after it)
CODEGEN_PARTS = ("parse", "optimise", "jit")


def stages(timings: dict) -> str:
    parts = [k for k in CODEGEN_PARTS if k in timings] if "codegen" in timings else []
    out = []
    for k, v in timings.items():
        if k in parts:
            continue
        out.append(f"{k} {fmt_time(v)}")
        if k == "codegen" and parts:
            out[-1] += " (" + ", ".join(f"{q} {fmt_time(timings[q])}" for q in parts) + ")"
    return ", ".join(out)


def compile_table(results: list[dict]) -> str:
    rows = []
    for r in results:
        if r["status"] != "ok":
            rows.append([r["model"], "-", "-", r["status"].upper(), "-", "-", "-"])
            continue
        rows.append([r["model"], r["n"], r["nnz"], fmt_time(r["build_s"]), fmt_time(r["compile_s"]),
                     fmt_time(r["callable_s"]), stages(r["timings"])])
    return table(["model", "n", "nnz(J)", "build", "compile", "build+compile", "compile stages"], rows)


def calls_table(results: list[dict]) -> str:
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["model"], r.get("n", "-"), "ERROR"] + ["-"] * 7)
            continue
        row = [r["model"] + ("" if r["agrees"] else " (MISMATCH)"), r["n"]]
        for fn in ("rhs", "jac"):
            d = r[fn]
            row += [fmt_time(d["python"]["median_s"]), fmt_time(d["native"]["median_s"]),
                    fmt_time(d["lambdify"]["median_s"]), f"{d['lambdify_over_native']:.0f}x"]
        rows.append(row)
    return table(["model", "n", "rhs py", "rhs native", "rhs lambdify", "lamb/native",
                  "jac py", "jac native", "jac lambdify", "lamb/native"], rows)


def scaling_table(results: list[dict]) -> str:
    rows = []
    for r in results:
        if r["status"] != "ok":
            what = f"TIMEOUT (> {r['timeout_s']:.0f} s)" if r["status"] == "timeout" else "ERROR"
            rows.append([r["N"], 2 * r["N"], "-", fmt_time(r.get("build_s")), what, what, "-", "-"])
            continue
        rows.append([r["N"], r["n"], r["nnz"], fmt_time(r["build_s"]), fmt_time(r["compile_s"]),
                     fmt_time(r["callable_s"]), f"{r['peak_rss_mb']:.0f}" if r["peak_rss_mb"] else "-",
                     stages(r["timings"])])
    return table(["N", "states", "nnz(J)", "build", "compile", "build+compile", "peak RSS MB",
                  "compile stages"], rows)


def check_targets(compile_res, call_res, scaling_res) -> list[dict]:
    targets = []
    pol = next((r for r in compile_res if r["model"] == "pollu"), None)
    if pol is None:
        targets.append({"target": f"POLLU build+compile <= {POLLU_CALLABLE_S} s", "status": "SKIP",
                        "detail": "pollu not in --models"})
    elif pol["status"] != "ok":
        targets.append({"target": f"POLLU build+compile <= {POLLU_CALLABLE_S} s", "status": "FAIL",
                        "detail": pol["status"]})
    else:
        v = pol["callable_s"]
        targets.append({"target": f"POLLU build+compile <= {POLLU_CALLABLE_S} s",
                        "status": "PASS" if v <= POLLU_CALLABLE_S else "FAIL", "value": v,
                        "detail": f"{v:.3f} s (build {pol['build_s']:.3f} s + compile {pol['compile_s']:.3f} s; "
                                  f"fresh process, median of {pol.get('repeats', 1)}, imports excluded: "
                                  f"{pol['import_s']:.2f} s)"})
    polc = next((r for r in call_res if r["model"] == "pollu"), None)
    if polc is None or "error" in polc:
        targets.append({"target": f"native POLLU rhs >= {POLLU_SPEEDUP:.0f}x faster than lambdify",
                        "status": "SKIP" if polc is None else "FAIL",
                        "detail": "pollu not in --models" if polc is None else polc["error"]})
    else:
        v = polc["rhs"]["lambdify_over_native"]
        targets.append({"target": f"native POLLU rhs >= {POLLU_SPEEDUP:.0f}x faster than lambdify",
                        "status": "PASS" if v >= POLLU_SPEEDUP else "FAIL", "value": v,
                        "detail": f"{v:.0f}x (native {fmt_time(polc['rhs']['native']['median_s'])}, "
                                  f"lambdify {fmt_time(polc['rhs']['lambdify']['median_s'])} per call; "
                                  f"cm.rhs from Python {fmt_time(polc['rhs']['python']['median_s'])}, "
                                  f"{polc['rhs']['lambdify_over_python']:.1f}x)"})
    br = next((r for r in scaling_res if r["N"] == BRUSS_N), None)
    name = f"brusselator_1d N={BRUSS_N} build+compile <= {BRUSS_CALLABLE_S:.0f} s"
    if br is None:
        targets.append({"target": name, "status": "SKIP", "detail": f"N={BRUSS_N} not in --sizes"})
    elif br["status"] == "timeout":
        targets.append({"target": name, "status": "FAIL",
                        "detail": f"timed out after {br['timeout_s']:.0f} s"
                                  + (f" (build took {br['build_s']:.2f} s)" if "build_s" in br else "")})
    elif br["status"] != "ok":
        targets.append({"target": name, "status": "FAIL", "detail": "error: " + br["stderr_tail"][-300:]})
    else:
        v = br["callable_s"]
        targets.append({"target": name, "status": "PASS" if v <= BRUSS_CALLABLE_S else "FAIL", "value": v,
                        "detail": f"{v:.2f} s (build {br['build_s']:.2f} s + compile {br['compile_s']:.2f} s)"})
    return targets


def machine_info() -> dict:
    import llvmlite
    import numba
    import numpy
    import sympy
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=str(ROOT)).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "symdyn", "codegen", "models"],
                                    capture_output=True, text=True, cwd=str(ROOT)).stdout.strip())
    except OSError:
        commit, dirty = None, None
    return {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": numpy.__version__, "sympy": sympy.__version__,
            "llvmlite": llvmlite.__version__, "numba": numba.__version__,
            "git_commit": commit, "uncommitted_changes_in_symdyn_codegen_models": dirty}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="one compile per model, short call repeats, a 30 s timeout unless given (< 1 min)")
    ap.add_argument("--sizes", type=str, default=None,
                    help="brusselator_1d grid sizes N, comma separated (default 100,1000,10000)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds allowed per fresh-process compile (default 300; 30 with --quick)")
    ap.add_argument("--models", type=str, default=None, help="comma-separated subset of models (default all)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output file")
    ap.add_argument("--strict", action="store_true", help="exit status 1 if a target fails")
    ap.add_argument("--child", type=str, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--N", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        child(args.child, args.N)
        return 0

    import models
    names = models.NAMES if args.models is None else tuple(s.strip() for s in args.models.split(",") if s.strip())
    if args.sizes is not None:
        sizes = tuple(int(s) for s in args.sizes.split(",") if s.strip())
    else:
        sizes = QUICK_SIZES if args.quick else DEFAULT_SIZES
    timeout = args.timeout if args.timeout is not None else (30.0 if args.quick else 300.0)
    compile_repeats = 1 if args.quick else 3
    call_target, call_repeats = (0.01, 5) if args.quick else (0.1, 9)
    t_start = time.perf_counter()

    print(f"== 1a. build + compile per model (fresh process each, median of {compile_repeats})", flush=True)
    compile_res = []
    for name in names:
        r = median_child(name, None, timeout, compile_repeats)
        compile_res.append(r)
        print(f"  {name}: {r['status']}" + (f", {fmt_time(r['callable_s'])}" if r["status"] == "ok" else ""),
              flush=True)
    print(compile_table(compile_res))

    print(f"\n== 1b. per-call time (median of {call_repeats} repeats of ~{call_target * 1e3:.0f} ms)", flush=True)
    call_res = []
    for name in names:
        try:
            r = bench_calls(name, call_target, call_repeats)
        except Exception as exc:  # keep going: one broken model must not lose the other results
            r = {"model": name, "error": f"{type(exc).__name__}: {exc}"}
            print(f"  {name}: ERROR {r['error']}", flush=True)
        call_res.append(r)
    print(calls_table(call_res))
    for r in call_res:
        if "error" not in r and not r["agrees"]:
            print(f"  WARNING {r['model']}: native and lambdify disagree (rhs rel diff {r['rhs_max_rel_diff']:.2g}, "
                  f"jac rel diff {r['jac_max_rel_diff']:.2g}, loop vs cm {r['native_loop_max_abs_diff']:.2g})")
    print("  rhs/jac py = cm.rhs/cm.jac from Python; native = raw address in a numba loop; "
          "lambdify = sympy.lambdify(modules='numpy') from Python")

    print(f"\n== 2. brusselator_1d scaling (fresh process each, timeout {timeout:.0f} s)", flush=True)
    scaling_res = []
    for N in sizes:
        r = run_child("brusselator_1d", N, timeout)
        scaling_res.append(r)
        print(f"  N={N}: {r['status']}" + (f", {fmt_time(r['callable_s'])}" if r["status"] == "ok" else ""),
              flush=True)
    print(scaling_table(scaling_res))

    print("\n== 3. targets")
    targets = check_targets(compile_res, call_res, scaling_res)
    for tg in targets:
        print(f"{tg['status']}: {tg['target']}: {tg['detail']}")

    result = {"meta": {**machine_info(), "args": {"quick": args.quick, "sizes": list(sizes), "timeout_s": timeout,
                                                  "compile_repeats": compile_repeats,
                                                  "call_repeats": call_repeats, "call_target_s": call_target},
                       "wall_s": time.perf_counter() - t_start},
              "compile": compile_res, "calls": call_res, "brusselator_scaling": scaling_res,
              "targets": targets}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out} ({result['meta']['wall_s']:.0f} s)")
    if args.strict and any(tg["status"] == "FAIL" for tg in targets):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
