"""bench.udr_selection on tiny dSprites runs: settings grouped by everything but the seed, UDR within a
setting, and MIG measured as bench.disentangle_sweep measures it."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root holds `bench`, not installed
from bench.disentangle_sweep import main as sweep
from bench.udr_selection import main as select


def test_udr_is_taken_within_settings_and_mig_as_the_sweep_measures_it(tmp_path, capsys):
    swept = sweep(["--limit", "400", "--epochs", "1", "--betas", "4,8", "--models", "tcvae", "--seeds", "0,1",
                   "--net", "mlp", "--hidden", "64", "--threads", "1", "--quiet", "--out", str(tmp_path / "runs"),
                   "--plot", str(tmp_path / "plot.png")])
    runs = sorted(str(p) for p in (tmp_path / "runs").iterdir() if p.is_dir())
    assert len(runs) == 4
    result = select([*runs, "--json", str(tmp_path / "udr.json")])
    assert json.loads((tmp_path / "udr.json").read_text())["runs"] == result["runs"]
    by_run = {r["run"]: r for r in result["runs"]}
    for row in swept["rows"]:  # the same estimators, examples and seeds as the sweep
        mine = by_run[row["run"]]
        assert mine["MIG"] == pytest.approx(row["MIG"]) and mine["MIG post."] == pytest.approx(row["MIG post."])
    settings = {s["setting"]: s for s in result["settings"]}
    assert len(settings) == 2 and all(sorted(s["seeds"]) == [0, 1] for s in settings.values())
    for label, s in settings.items():
        members = [r for r in result["runs"] if r["setting"] == label]
        assert members[0]["UDR"] == members[1]["UDR"]  # two seeds: one pair, the same median for both
        assert 0 <= members[0]["UDR"] <= 1
        assert s["picked_seed"] is None and s["picked_MIG"] is None  # one pair: a tie, no pick
        assert s["best_MIG"] == max(r["MIG"] for r in members)
    assert sorted(settings) == ["beta=4", "beta=8"]  # labelled by what differs
    assert -1 <= result["spearman_udr_mig"] <= 1
    assert result["top_udr"]["UDR"] == max(r["UDR"] for r in result["runs"])
    assert "UDR ties: no pick" in capsys.readouterr().out


def test_a_lone_run_has_no_udr(tmp_path):
    sweep(["--limit", "400", "--epochs", "1", "--betas", "4", "--models", "tcvae", "--net", "mlp", "--hidden", "64",
           "--threads", "1", "--quiet", "--out", str(tmp_path / "runs"), "--plot", str(tmp_path / "plot.png")])
    (run,) = (tmp_path / "runs").iterdir()
    result = select([str(run)])
    assert result["runs"][0]["UDR"] is None and result["settings"] == [] and "top_udr" not in result


def test_the_pick_is_the_highest_udr_of_its_setting():
    from bench.udr_selection import summarise

    rows = [{"run": f"r{i}", "setting": "beta=4", "seed": i, "UDR": u, "MIG": m, "MIG post.": m}
            for i, (u, m) in enumerate([(0.3, 0.10), (0.5, 0.20), (0.4, 0.30)])]
    s = summarise(rows)
    (setting,) = s["settings"]
    assert setting["picked_seed"] == 1 and setting["picked_MIG"] == 0.20
    assert setting["median_MIG"] == 0.20 and setting["best_MIG"] == 0.30
    assert s["spearman_udr_mig"] == 0.5 and s["top_udr"]["run"] == "r1"
