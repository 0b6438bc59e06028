"""What a run folder's side files must hold to be used: each check returns what is wrong with a
decoded value, or None. A side file may have been edited by hand, truncated or copied from
elsewhere; `Run.read_artifact` refuses one that fails its check, naming the file."""
from __future__ import annotations

import math
from typing import Any


def _numbers(value: Any, positive: bool = False) -> bool:
    """A list of finite numbers (> 0 if `positive`); an integer must be one a float64 holds exactly (a larger
    one would make numpy build an array of Python objects, and one past 1e308 has no float at all)."""
    return isinstance(value, list) and all(
        (type(v) is float and math.isfinite(v) or type(v) is int and abs(v) <= 2**53) and (v > 0 or not positive)
        for v in value)


def _standardization_problem(s: Any) -> str | None:
    columns = s.get("columns") if isinstance(s, dict) else None
    if not (isinstance(columns, list) and all(isinstance(c, str) for c in columns)):
        return 'expected {"columns": [names], "mean": [...], "std": [...]}'
    if not (_numbers(s.get("mean")) and _numbers(s.get("std"), positive=True)) or \
            not len(s["mean"]) == len(s["std"]) == len(s["columns"]):
        return "mean and std must be finite numbers (std > 0), one per column"
    return None


def _anomaly_problem(a: Any) -> str | None:
    if not isinstance(a, dict):
        return "expected a JSON object"
    samples, classes = a.get("samples"), a.get("normal_classes")
    if not (_numbers([a.get("threshold")]) and _numbers([a.get("fpr")]) and 0 < a["fpr"] < 1
            and a.get("score") in ("recon", "elbo", "iwae") and type(samples) is int and 1 <= samples <= 10_000):
        return ("expected a score (recon, elbo or iwae), a finite threshold, an fpr in (0, 1) and a sample count "
                "in 1..10,000")
    if not (classes is None or (isinstance(classes, list) and all(type(c) is int and -2**63 <= c < 2**63
                                                                  for c in classes))):
        return "normal_classes must be null or a list of integer labels"
    return None


ARTIFACT_CHECKS = {  # the side files of a run folder: name -> what is wrong with a value read (None: fine)
    "standardization": _standardization_problem,
    "labels": lambda v: None if isinstance(v, list) and all(isinstance(n, str) for n in v) else "expected names",
    "anomaly": _anomaly_problem,
    "tracking": lambda v: None if isinstance(v, dict) and all(isinstance(t, dict) for t in v.values())
    else "expected {\"mlflow\": {\"uri\": ..., \"run_id\": ...}}",
}
