"""The ``symdyn`` command: ``run`` a model file, ``compile`` it and show the generated code,
``discover`` a model from data.

    symdyn run models/lorenz.py --t1 10 --plot lorenz.png
    symdyn compile models/lorenz.py --emit ir
    symdyn discover data.npz --out model.py

A model file is a Python file with a function ``build(**params) -> sd.Model`` (and
optionally ``T_SPAN = (t0, t1)``); ``--set name=value`` passes keyword arguments to it.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

from . import errors


def load_model_file(path: str, settings: dict):
    """Import ``path`` and return ``(model, module)``; errors name the file and the problem."""
    file = Path(path)
    if not file.is_file():
        raise errors.ModelFileError(f"model file {path!r} does not exist")
    file = file.resolve()
    try:
        if (file.parent / "__init__.py").is_file():
            # a file in a package (models/rober.py) is imported as package.module, so its
            # relative imports work
            root = str(file.parent.parent)
            if root not in sys.path:
                sys.path.insert(0, root)
            module = importlib.import_module(f"{file.parent.name}.{file.stem}")
        else:
            spec = importlib.util.spec_from_file_location(f"_symdyn_model_{file.stem}", file)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
    except Exception as exc:
        raise errors.ModelFileError(f"model file {path!r} failed to import: {type(exc).__name__}: {exc}") from exc
    build = getattr(module, "build", None)
    if not callable(build):
        raise errors.ModelFileError(f"model file {path!r} has no function build(**params) -> sd.Model")
    try:
        model = build(**settings)
    except TypeError as exc:
        raise errors.ModelFileError(f"{path}: build({', '.join(settings)}) failed: {exc}") from exc
    return model, module


def _parse_settings(items) -> dict:
    settings = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise errors.ModelFileError(f"--set takes name=value, got {item!r}")
        try:
            settings[name] = int(value)
        except ValueError:
            try:
                settings[name] = float(value)
            except ValueError:
                settings[name] = value
    return settings


def _table(rows, headers):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = "  ".join(f"{h:>{w}}" for h, w in zip(headers, widths))
    out = [line, "-" * len(line)]
    out += ["  ".join(f"{str(c):>{w}}" for c, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


def cmd_run(args) -> int:
    from .compiled import compile

    t0 = time.perf_counter()
    model, module = load_model_file(args.model, _parse_settings(args.set))
    t1 = time.perf_counter()
    cm = compile(model)
    t2 = time.perf_counter()
    span = getattr(module, "T_SPAN", (0.0, 10.0))
    t_start = span[0] if args.t0 is None else args.t0
    t_end = span[1] if args.t1 is None else args.t1
    saveat = np.linspace(t_start, t_end, args.points) if args.points else None
    sol = cm.solve((t_start, t_end), rtol=args.rtol, atol=args.atol, method=args.method, saveat=saveat)
    t3 = time.perf_counter()
    print(f"{model!r}")
    print(f"build {1e3 * (t1 - t0):.1f} ms, compile {1e3 * (t2 - t1):.1f} ms, "
          f"solve {1e3 * (t3 - t2):.2f} ms (a first call loads the compiled integrator from disk, or "
          "compiles it once: a few seconds on a fresh install)")
    stats = ", ".join(f"{k}={v}" for k, v in sol.stats.items())
    print(f"method {sol.method}: {sol.retcode.name}, {stats}")
    reasons = getattr(sol, "reasons", None) or []
    if reasons:
        print("why:" + "".join(f"\n  - {r}" for r in reasons))
    if not sol.success:
        print(f"solver stopped: {sol.message}")
    shown = cm.state_names if cm.n <= 12 else cm.state_names[:6] + ["..."] + cm.state_names[-5:]
    rows = []
    for name in shown:
        if name == "...":
            rows.append(("...", "", ""))
            continue
        k = cm.state_names.index(name)
        rows.append((name, f"{sol.u[0, k]:.6g}", f"{sol.u[-1, k]:.10g}"))
    print(f"\nstate at t = {sol.t[0]:g} and t = {sol.t[-1]:g}:")
    print(_table(rows, ["state", "start", "end"]))
    if args.plot:
        _plot(sol, cm, model.name, args.plot)
        print(f"\nplot written to {args.plot}")
    return 0 if sol.success else 1


def _plot(sol, cm, title, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise errors.SymdynError("--plot needs matplotlib: pip install 'symdyn[plot]'") from None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    n_lines = min(cm.n, 8)
    for k in range(n_lines):
        ax.plot(sol.t, sol.u[:, k], label=cm.state_names[k])
    ax.set_xlabel("t")
    ax.set_title(f"{title} ({sol.method}, {len(sol.t)} points)" + ("" if cm.n <= 8 else f", first 8 of {cm.n} states"))
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cmd_compile(args) -> int:
    from .compiled import compile

    model, _ = load_model_file(args.model, _parse_settings(args.set))
    if args.emit == "equations":
        print(model)
        return 0
    cm = compile(model, opt_level=args.opt)
    if args.emit == "ir":
        print(cm.ir())
    elif args.emit == "ir-opt":
        print(cm.ir(optimised=True))
    elif args.emit == "asm":
        print(cm.assembly())
    elif args.emit == "program":
        for name, chunks in cm.programs.items():
            for k, chunk in enumerate(chunks):
                print(f"# {name}, chunk {k}\n{chunk}")
    timings = ", ".join(f"{k} {1e3 * v:.1f} ms" for k, v in cm.timings.items())
    print(f"; {model.name}: {cm.n} states, {cm.jac_pattern.nnz} Jacobian nonzeros; {timings}", file=sys.stderr)
    return 0


def cmd_discover(args) -> int:
    from .discover import discover

    path = Path(args.data)
    if not path.is_file():
        raise errors.DiscoveryArgumentError("DATA", args.data, "does not exist")
    try:
        data = np.load(path, allow_pickle=False)
        arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise errors.DiscoveryArgumentError("DATA", args.data, f"is not a readable .npz file ({exc})") from None
    for key in ("t", "U"):
        if key not in arrays:
            raise errors.DiscoveryArgumentError(
                "DATA", args.data, f"has no array {key!r} (found: {', '.join(arrays) or 'none'}); "
                "save it with np.savez(path, t=t, U=U, names=np.array([...]))")
    names = args.names or ([str(n) for n in arrays["names"].tolist()] if "names" in arrays else None)
    options = {} if args.degree is None else {"degree": args.degree}
    if "x" in arrays:
        options.update(x=arrays["x"], pde=True)
    res = discover(arrays["t"], arrays["U"], names=names, **options)
    print(res.report())
    stem = "".join(c if c.isalnum() or c == "_" else "_" for c in path.stem)
    out = Path(args.out) if args.out else path.with_name(f"{stem}_model.py")
    res.write_model(out)
    print(f"\nmodel written to {out}; simulate it with: symdyn run {out}")
    return 0


def main(argv=None) -> int:
    """Entry point of the ``symdyn`` command."""
    parser = argparse.ArgumentParser(prog="symdyn", description="symbolic-numeric modeling compiler for ODEs")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="compile and solve a model file, print (and plot) the result")
    run.add_argument("model", help="a Python file with build(**params) -> sd.Model")
    run.add_argument("--t0", type=float, default=None, help="start time (default: the file's T_SPAN or 0)")
    run.add_argument("--t1", type=float, default=None, help="end time (default: the file's T_SPAN or 10)")
    run.add_argument("--rtol", type=float, default=1e-6)
    run.add_argument("--atol", type=float, default=1e-8)
    run.add_argument("--method", default="auto")
    run.add_argument("--points", type=int, default=500, help="output points (0: every step)")
    run.add_argument("--set", action="append", metavar="NAME=VALUE", help="keyword argument for build()")
    run.add_argument("--plot", metavar="FILE.png", help="write a plot of the solution")
    run.set_defaults(func=cmd_run)
    comp = sub.add_parser("compile", help="compile a model file and print the generated code")
    comp.add_argument("model")
    comp.add_argument("--emit", choices=["ir", "ir-opt", "asm", "program", "equations"], default="ir")
    comp.add_argument("--opt", type=int, default=2, choices=[0, 1, 2, 3], help="LLVM optimisation level")
    comp.add_argument("--set", action="append", metavar="NAME=VALUE")
    comp.set_defaults(func=cmd_compile)
    disc = sub.add_parser("discover", help="discover equations from data (.npz with t, U[, names, x]) and "
                                           "write a model file")
    disc.add_argument("data", help="an .npz file: t (m,), U (m, n), optional names (n,), x (grid: a PDE)")
    disc.add_argument("--out", metavar="FILE.py", help="model file to write (default: DATA_model.py)")
    disc.add_argument("--names", help="state names, comma-separated (default: the file's names, else x1..xn)")
    disc.add_argument("--degree", type=int, default=None, help="polynomial degree of the library (default 3; a PDE: powers of u)")
    disc.set_defaults(func=cmd_discover)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except errors.SymdynError as exc:
        print(f"symdyn: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
