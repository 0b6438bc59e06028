"""bench.disentangle_sweep end to end on a tiny dSprites subset: the network each --net trains, the
beta-1 run shared by both models, finished runs reused rather than retrained, and the
disentanglement_lib columns (DCI from boosted trees, or with --dci-model forest the earlier forest)."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root holds `bench`, not installed
from bench.disentangle_sweep import main


def sweep(tmp_path: Path, *extra: str) -> dict:
    return main(["--limit", "400", "--epochs", "1", "--betas", "1,4", "--threads", "1", "--quiet",
                 "--out", str(tmp_path / "runs"), "--plot", str(tmp_path / "plot.png"),
                 "--json", str(tmp_path / "sweep.json"), *extra])


@pytest.mark.slow
def test_conv_sweep_trains_locatellos_network_and_reuses_finished_runs(tmp_path):
    first = sweep(tmp_path)
    rows = {(r["model"], r["beta"]): r for r in first["rows"]}
    assert set(rows) == {("beta-VAE", 1), ("beta-VAE", 4), ("beta-TCVAE", 1), ("beta-TCVAE", 4)}
    assert rows[("beta-TCVAE", 1)]["run"] == rows[("beta-VAE", 1)]["run"]  # the same loss: one run
    assert rows[("beta-TCVAE", 1)]["MIG post."] == rows[("beta-VAE", 1)]["MIG post."]  # measured once
    config = json.loads((Path(rows[("beta-TCVAE", 4)]["run"]) / "config.json").read_text())
    assert config["model"]["arch"] == "conv" and config["model"]["channels"] == [32, 32, 64, 64]
    assert config["model"]["dense"] == [256] and config["model"]["regularizer"] == "tc"
    assert config["train"]["batch_size"] == 64 and config["train"]["lr"] == 5e-4
    for r in first["rows"]:
        assert 0 <= r["MIG"] <= 1 and 0 <= r["FactorVAE"] <= 1 and r["recon"] > 0
        for column in ("BetaVAE", "SAP", "modular.", "explicit.", "IRS", "DCI dis."):  # the disentanglement_lib set
            assert 0 <= r[column] <= 1, column
        assert r["dci_model"] == "gbt" and len(r["sap_per_factor"]) == 5
    assert json.loads((tmp_path / "sweep.json").read_text())["net"] == "conv"

    weights = sorted((tmp_path / "runs").glob("*/model.safetensors"))
    assert len(weights) == 3  # vae-beta-1, vae-beta-4, tcvae-beta-4
    written = [w.stat().st_mtime_ns for w in weights]
    again = sweep(tmp_path, "--dci-model", "forest")  # every run is finished: measured again, not retrained
    assert [w.stat().st_mtime_ns for w in weights] == written
    assert again["dci_model"] == "forest"  # the random-forest DCI of the earlier tables; nothing else moves
    for before, after in zip(first["rows"], again["rows"]):
        assert after["MIG"] == before["MIG"] and after["recon"] == before["recon"]
        assert after["SAP"] == before["SAP"] and after["IRS"] == before["IRS"]


def test_mlp_net_takes_chens_widths_and_its_own_defaults(tmp_path):
    result = sweep(tmp_path, "--net", "mlp", "--hidden", "64", "--models", "tcvae", "--betas", "4")
    (row,) = result["rows"]
    config = json.loads((Path(row["run"]) / "config.json").read_text())
    assert config["model"]["arch"] == "mlp" and config["model"]["hidden"] == [64]
    assert config["train"]["batch_size"] == 128 and config["train"]["lr"] == 1e-3


@pytest.mark.parametrize("extra, message", [
    (("--batch-size", "0"), "batch size must be at least 1"),
    (("--limit", "3"), "is larger than the training set"),
    (("--hidden", "64"), "use it with --net mlp"),
])
def test_bad_settings_end_in_one_line_before_anything_is_written(tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit) as stop:
        sweep(tmp_path, *extra)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "\n".join(err)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "sweep.json").exists()
