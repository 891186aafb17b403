"""The exact solutions of tests/data/exact.json (copied unchanged from the shared reference data),
loaded once for every test file that uses them.

>>> variant("scalar_linear_sin", **{"lambda": -1, "u0": 1})["lambda"]
'-1'
"""
import json
import pathlib

DATA = json.loads((pathlib.Path(__file__).parent / "data" / "exact.json").read_text())
PROBLEMS = {p["id"]: p for p in DATA["problems"]}


def variant(problem, **match):
    """The variant of ``problem`` whose parameters equal ``match`` (compared as floats)."""
    for v in PROBLEMS[problem]["variants"]:
        if all(float(v[k]) == float(x) for k, x in match.items()):
            return v
    raise LookupError(problem, match)
