"""Published figures stay reproducible: small real trainings give the recorded weights and numbers bit for bit.

The cases and how they were recorded: tests/golden_cases.py. A difference here means a
computation changed; if that was the intent, re-record and say so in the commit.
"""
from __future__ import annotations

import json

import pytest

from conftest import tiny_torch
from golden_cases import CASES, GOLDEN, observe, recordings


def differences(got: dict, expected: dict) -> list[str]:
    moved = [f"{k}: sum {got['weights'][k]['sum']!r}, recorded {v['sum']!r}"
             for k, v in expected["weights"].items()
             if k in got["weights"] and got["weights"][k]["sha256"] != v["sha256"]]
    if sorted(got["weights"]) != sorted(expected["weights"]):
        moved.append(f"tensors {sorted(got['weights'])}, recorded {sorted(expected['weights'])}")
    for key in ("metrics", "evaluation", "samples_sha256", "reconstructions_sha256"):
        if got.get(key) != expected.get(key):
            moved.append(f"{key}: {got.get(key)!r}, recorded {expected.get(key)!r}")
    return moved


@pytest.mark.parametrize("name", list(CASES))
def test_a_golden_run_gives_the_recorded_weights_metrics_and_evaluation(name, tmp_path):
    with tiny_torch():
        got = json.loads(json.dumps(observe(name, tmp_path / name)))  # the same JSON round trip as recorded
    found = recordings(name)
    report = {where: differences(got, expected) for where, expected in found}
    if not any(not moved for moved in report.values()):
        where, moved = next(iter(report.items()))
        pytest.fail(f"{name} matches none of the recordings {list(report)}; against {where}: " + "; ".join(moved))


def test_every_golden_case_has_a_recording():
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == sorted(CASES)
    for folder in (p for p in GOLDEN.iterdir() if p.is_dir()):  # a CPU's own recordings are complete too
        assert sorted(p.stem for p in folder.glob("*.json")) == sorted(CASES), folder.name
