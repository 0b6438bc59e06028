"""Published figures stay reproducible: small real trainings give the recorded weights and numbers bit for bit.

The cases and how they were recorded: tests/golden_cases.py. A difference here means a
computation changed; if that was the intent, re-record and say so in the commit.
"""
from __future__ import annotations

import json

import pytest

from conftest import tiny_torch
from golden_cases import CASES, GOLDEN, observe


@pytest.mark.parametrize("name", list(CASES))
def test_a_golden_run_gives_the_recorded_weights_metrics_and_evaluation(name, tmp_path):
    expected = json.loads((GOLDEN / f"{name}.json").read_text())
    with tiny_torch():
        got = json.loads(json.dumps(observe(name, tmp_path / name)))  # the same JSON round trip as recorded
    moved = [f"{k}: sum {got['weights'][k]['sum']!r}, recorded {v['sum']!r}"
             for k, v in expected["weights"].items()
             if k in got["weights"] and got["weights"][k]["sha256"] != v["sha256"]]
    assert sorted(got["weights"]) == sorted(expected["weights"])
    assert not moved, "weights moved: " + "; ".join(moved)
    assert got["metrics"] == expected["metrics"]
    assert got["evaluation"] == expected["evaluation"]
    assert got.get("samples_sha256") == expected.get("samples_sha256")
    assert got.get("reconstructions_sha256") == expected.get("reconstructions_sha256")


def test_every_golden_case_has_a_recording():
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == sorted(CASES)
