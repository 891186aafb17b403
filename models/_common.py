"""Helpers shared by the model modules: parameter overrides and the Bari test-set data."""
import functools
import json
from pathlib import Path

import numpy as np

#: the Bari IVP test-set data (equations, constants, reference solutions)
TESTSET_PATH = Path(__file__).resolve().parents[1] / "tests" / "data" / "ivp_testset.json"


def merge_params(defaults: dict, overrides: dict) -> dict:
    """``defaults`` updated by ``overrides``; an unknown name raises ``TypeError``."""
    unknown = set(overrides) - set(defaults)
    if unknown:
        raise TypeError(
            f"unknown parameter(s) {', '.join(sorted(unknown))}; known: {', '.join(defaults)}"
        )
    return {**defaults, **overrides}


@functools.lru_cache(maxsize=None)
def _testset() -> dict:
    with open(TESTSET_PATH, encoding="utf-8") as fh:
        return json.load(fh)["problems"]


def testset_reference(problem: str, variant: str | None = None) -> np.ndarray:
    """The published reference end state of a test-set ``problem`` (and ``variant``)."""
    entry = _testset()[problem]
    if variant is not None:
        entry = entry["variants"][variant]
    return np.array([float(v) for v in entry["reference_solution"]["values"]])


#: test problems with exact solutions (formulas, parameters, sampled values)
EXACT_PATH = Path(__file__).resolve().parents[1] / "tests" / "data" / "exact.json"


@functools.lru_cache(maxsize=None)
def _exact() -> dict:
    with open(EXACT_PATH, encoding="utf-8") as fh:
        return {p["id"]: p for p in json.load(fh)["problems"]}


def exact_entry(problem: str) -> dict:
    """The entry ``problem`` of ``tests/data/exact.json`` (do not modify it: it is shared)."""
    return _exact()[problem]


def exact_number(text: str) -> float:
    """A number of ``exact.json``: ``"0.1"``, ``"20 (suggested)"`` or ``"0.01/pi"``."""
    head = text.split("(")[0].split("=")[0].strip()
    if head.endswith("/pi"):
        return float(head[:-3]) / np.pi
    return float(head)


def check_grid_size(N, minimum: int = 1) -> int:
    """``N`` as an int, or ``ValueError`` unless it is an integer ``>= minimum``."""
    if isinstance(N, bool) or int(N) != N or N < minimum:
        raise ValueError(f"N must be an integer >= {minimum}, got {N!r}")
    return int(N)


def state_tuple(model, prefix: str, values) -> tuple:
    """Declare the states ``prefix1 .. prefixN`` with initial ``values``; always a tuple."""
    syms = model.states([f"{prefix}{i}" for i in range(1, len(values) + 1)], init=list(values))
    return syms if isinstance(syms, tuple) else (syms,)
