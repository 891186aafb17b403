#!/usr/bin/env python
"""How good is ``method="auto"``'s choice?  Every library model, every applicable method, one tolerance.

Usage::

    python benchmarks/bench_choice.py            # all models of models/ plus the extra configurations
    python benchmarks/bench_choice.py --quick    # fewer repeats
    python benchmarks/bench_choice.py --only gray_scott_1d,allen_cahn

For each model (``models.NAMES`` with its ``T_SPAN`` and default parameters, plus the configurations
in :data:`EXTRA`), at the default tolerances ``rtol = 1e-6, atol = 1e-8``:

1. ``sd.analyze(model, t_span, rtol)`` gives the recommended method and the stiffness ratio over
   its threshold (``x`` in the table: how many times stability, not accuracy, limits an explicit
   step by the analysis' own yardstick);
2. a reference end state: Radau5 at rtol = atol = 1e-12, checked against Rodas5P at 1e-12 (their
   difference is reported; a model whose two references differ by more than 1e-6 relative is
   marked "unverified");
3. every method of :data:`CANDIDATES` that accepts the model (the structured ones raise an
   ``OptionError`` for models without their structure) is run with ``saveat=[t_end]``: error =
   ``max|u - ref| / max|ref|``, steps, median time (``bench_solvers.timed_rounds``: random order,
   an untimed call before each timed one, GC off).  Each method is first called once untimed (that
   call may compile its kernel when the numba cache is cold); a method that fails, or whose second
   solve takes longer than :data:`SLOW_S`, is reported with that one time.

The verdict compares ``auto`` (what ``cm.solve`` does by default) with the fastest method whose
error is at most ``ERROR_SLACK`` x auto's error (or below ``1e-6``): ``regret = auto time / that
time`` (1.0: auto's pick was the fastest at its accuracy).  Chaotic models (Lorenz, KS to t = 150)
amplify every method's error, so their errors are large and similar; the comparison still holds.

Writes ``benchmarks/results/choice.json`` (``--out``).
"""
from __future__ import annotations

import os
import sys

import _blas_threads  # first: it limits BLAS threads before numpy is imported

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _p in (str(ROOT), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from bench_solvers import fmt_time, loadavg, machine_info, table, timed_rounds  # noqa: E402

#: every method tried on every model (those a model lacks the structure for are skipped)
CANDIDATES = ("tsit5", "dop853", "rodas5p", "radau5", "etdrk4", "exprb43", "expms", "yoshida4")
RTOL, ATOL = 1e-6, 1e-8
#: the reference tolerances
REF_TOL = 1e-12
#: methods whose first solve takes longer than this are timed once
SLOW_S = 2.0
#: bound on steps (an explicit method on ROBER stops here instead of running for minutes)
MAX_STEPS = 200_000
#: auto is compared with the fastest method at most this many times less accurate than auto
ERROR_SLACK = 2.0
#: configurations besides the library defaults: (label, model name, build keywords, t_span)
EXTRA = (
    ("lorenz t=10", "lorenz", {}, (0.0, 10.0)),
    ("kuramoto_sivashinsky N=256", "kuramoto_sivashinsky", {"N": 256}, None),
    ("gray_scott_1d N=1024", "gray_scott_1d", {"N": 1024}, None),
)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def configurations(only):
    import models
    out = [(name, name, {}, None) for name in models.NAMES] + list(EXTRA)
    if only:
        out = [c for c in out if c[0] in only or c[1] in only]
    return out


def run_model(label, name, kwargs, span, repeats):
    import models
    import symdyn as sd
    from symdyn.errors import SymdynError

    mod = models.get(name)
    model = mod.build(**kwargs)
    span = tuple(span or mod.T_SPAN)
    t_end = span[1]
    cm = sd.compile(model)
    t0 = time.perf_counter()
    a = sd.analyze(model, t_span=span, rtol=RTOL)
    rec = {"label": label, "model": name, "kwargs": kwargs, "t_span": list(span), "n": cm.n,
           "recommended": a.recommended, "family": a.family, "stiff": bool(a.stiff),
           "stiffness_ratio": float(a.stiffness_ratio), "threshold": float(a.stiffness_threshold),
           "x": float(a.stiffness_ratio / a.stiffness_threshold), "L_structure": a.L_structure,
           "analyze_s": time.perf_counter() - t0, "reasons": list(a.reasons)}
    ref = cm.solve(span, method="radau5", rtol=REF_TOL, atol=REF_TOL, saveat=[t_end], max_steps=10 ** 7)
    chk = cm.solve(span, method="rodas5p", rtol=REF_TOL, atol=REF_TOL, saveat=[t_end], max_steps=10 ** 7)
    scale = float(np.max(np.abs(ref.u[-1]))) or 1.0
    rec["reference_delta"] = float(np.max(np.abs(ref.u[-1] - chk.u[-1])) / scale)
    rec["verified"] = bool(ref.success and chk.success and rec["reference_delta"] <= 1e-6)

    calls, names, runs = [], [], {}
    for method in ("auto",) + CANDIDATES:
        def call(method=method):
            return cm.solve(span, method=method, rtol=RTOL, atol=ATOL, saveat=[t_end], max_steps=MAX_STEPS)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t1 = time.perf_counter()
                sol = call()  # may compile the method's kernel (numba cache cold): not timed
                compile_s = time.perf_counter() - t1
                t1 = time.perf_counter()
                sol = call()
                first = time.perf_counter() - t1
        except SymdynError as exc:
            if method == "auto":
                raise
            runs[method] = {"skipped": f"{type(exc).__name__}: {str(exc)[:160]}"}
            continue
        r = {"ok": bool(sol.success), "retcode": sol.retcode.name, "method_used": sol.method,
             "nsteps": int(sol.stats["nsteps"]), "first_s": compile_s, "second_s": first}
        if sol.success:
            r["error"] = float(np.max(np.abs(sol.u[-1] - ref.u[-1])) / scale)
        runs[method] = r
        if sol.success and first <= SLOW_S:
            calls.append(call)
            names.append(method)
        else:
            r["time_s"] = first
            r["repeats"] = 1
    reps = [repeats] * len(calls)
    for method, ts in zip(names, timed_rounds(calls, reps)):
        runs[method]["time_s"] = statistics.median(ts)
        runs[method]["repeats"] = len(ts)
    rec["runs"] = runs
    rec["verdict"] = verdict(runs, rec["verified"])
    return rec


def verdict(runs, verified=True):
    auto = runs["auto"]
    if not auto.get("ok"):
        return {"regret": None, "best": None, "detail": f"auto failed: {auto.get('retcode')}"}
    if not verified:
        return {"regret": None, "best": None, "detail": "reference unverified (chaotic over the span)"}
    bound = max(ERROR_SLACK * auto["error"], 1e-6)
    ok = {m: r for m, r in runs.items() if m != "auto" and r.get("ok") and r["error"] <= bound}
    fastest = min((m for m, r in runs.items() if m != "auto" and r.get("ok")), key=lambda m: runs[m]["time_s"])
    if not ok:
        return {"regret": 1.0, "best": auto["method_used"], "fastest_any": fastest,
                "detail": "no other method as accurate"}
    best = min(ok, key=lambda m: ok[m]["time_s"])
    return {"regret": auto["time_s"] / ok[best]["time_s"], "best": best, "best_time_s": ok[best]["time_s"],
            "fastest_any": fastest}


def report(records) -> str:
    headers = ["model", "n", "x", "auto picks", "auto time", "auto error", "best (error <= 2x auto's)",
               "best time", "regret"]
    rows = []
    for rec in records:
        a, v = rec["runs"]["auto"], rec["verdict"]
        rows.append([rec["label"], rec["n"], f"{rec['x']:.3g}", a.get("method_used", "-"), fmt_time(a.get("time_s")),
                     f"{a['error']:.1e}" if "error" in a else a.get("retcode", "-"), v.get("best") or "-",
                     fmt_time(v.get("best_time_s", a.get("time_s"))),
                     f"{v['regret']:.2f}" if v.get("regret") is not None else "-"])
    lines = [table(headers, rows), ""]
    for rec in records:
        parts = []
        for m in CANDIDATES:
            r = rec["runs"].get(m, {})
            if "skipped" in r:
                continue
            if not r.get("ok"):
                parts.append(f"{m} {r.get('retcode', '-')}")
            else:
                parts.append(f"{m} {fmt_time(r['time_s'])} e{r['error']:.1e} s{r['nsteps']}")
        lines.append(f"{rec['label']}: " + "; ".join(parts)
                     + ("" if rec["verified"] else f"  [reference unverified: {rec['reference_delta']:.1e}]"))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    ap.add_argument("--only", default="", help="comma-separated labels or model names")
    ap.add_argument("--out", default=str(HERE / "results" / "choice.json"))
    args = ap.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    repeats = 3 if args.quick else 7
    meta = machine_info()
    meta.update({"load_start": loadavg(), "rtol": RTOL, "atol": ATOL, "repeats": repeats,
                 "blas_threads_env": _blas_threads.environment(), "error_slack": ERROR_SLACK})
    records = []
    t0 = time.perf_counter()
    for label, name, kwargs, span in configurations(only):
        log(f"[{time.perf_counter() - t0:6.1f} s] {label}")
        records.append(run_model(label, name, kwargs, span, repeats))
    meta["load_end"] = loadavg()
    meta["wall_s"] = time.perf_counter() - t0
    text = report(records)
    print(text)
    regrets = [r["verdict"]["regret"] for r in records if r["verdict"].get("regret") is not None]
    summary = {"models": len(records), "auto_fastest": sum(g <= 1.1 for g in regrets),
               "median_regret": statistics.median(regrets) if regrets else None,
               "max_regret": max(regrets) if regrets else None}
    print(f"\nauto within 10% of the fastest at its accuracy on {summary['auto_fastest']} of {len(regrets)} "
          f"configurations; median regret {summary['median_regret']:.2f}, max {summary['max_regret']:.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump({"meta": meta, "summary": summary, "records": records}, fh, indent=1, default=str)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
