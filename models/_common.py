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
