"""Anomaly detection: the statistics, the threshold, the metrics, and the commands on tables and images."""
from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
import torch

from vaelab.apps.anomaly import anomaly_scores, detection_metrics, threshold_at_fpr
from vaelab import Run
from vaelab.cli import main
from vaelab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaelab.data import Splits
from vaelab.errors import InputError
from vaelab.train.trainer import train

from conftest import TINY_TRAIN_ARGS
from test_cli import assert_refused, vaelab_cli

pytestmark = pytest.mark.usefixtures("tiny_torch_defaults")


def tiny_vae(regularizer="kl"):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(200, 1, 6, 6, generator=g) > 0.5).float()
    config = RunConfig(data=DataConfig(name="arrays", binarize="none"),
                       model=ModelConfig(arch="mlp", shape=(1, 6, 6), latent_dim=2, hidden=(16,),
                                         regularizer=regularizer),
                       train=TrainConfig(epochs=2, batch_size=50, device="cpu"))
    return train(config, Splits(x, x[:20], x[:20]), progress=False), x[:30]


def test_the_three_statistics_are_ordered_as_bounds():
    model, x = tiny_vae()
    recon, elbo = anomaly_scores(model, x, "recon", samples=50), anomaly_scores(model, x, "elbo", samples=50)
    iwae = anomaly_scores(model, x, "iwae", iwae_k=200)
    assert (elbo >= recon).all()  # the KL is part of the score, and never negative
    assert iwae.mean() <= elbo.mean() + 0.05  # the IWAE bound is tighter than the ELBO
    torch.testing.assert_close(anomaly_scores(model, x, "elbo", seed=3), anomaly_scores(model, x, "elbo", seed=3))


def test_an_autoencoder_has_only_the_reconstruction_score():
    model, x = tiny_vae(regularizer="none")
    assert anomaly_scores(model, x, "recon").shape == (30,)
    with pytest.raises(InputError, match="no elbo score"):
        anomaly_scores(model, x, "elbo")


def test_threshold_and_metrics():
    scores = torch.arange(100, dtype=torch.float64)
    assert threshold_at_fpr(scores, 0.05) == pytest.approx(94.05)
    assert (scores > threshold_at_fpr(scores, 0.05)).sum() == 5
    labels = torch.arange(100) >= 90
    m = detection_metrics(scores, labels)
    assert m["auroc"] == 1.0 and m["average_precision"] == pytest.approx(1.0) and m["anomalies"] == 10
    assert detection_metrics(-scores, labels)["auroc"] == 0.0
    with pytest.raises(InputError, match="both normal and anomalous"):
        detection_metrics(scores, torch.zeros(100, dtype=torch.bool))
    with pytest.raises(InputError, match="strictly between 0 and 1"):
        threshold_at_fpr(scores, 1.0)


def write_csv(path, rows, header):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def auroc_of(text: str) -> float:
    return float(re.search(r"AUROC (\d\.\d{4})", text).group(1))


TABLE_ARGS = ["--model", "mlp", "--hidden", "32", "--latent-dim", "2", "--likelihood", "gaussian-learned",
              "--batch-size", "32", "--lr", "0.003", "--val-size", "40", "--quiet"]


def test_planted_outliers_in_a_synthetic_table(tmp_path, capsys):
    """Normal rows lie near a 2-D plane in 8-D; the planted outliers do not. Class 1 = normal."""
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(2, 8))
    normal = rng.normal(size=(600, 2)) @ basis + 0.05 * rng.normal(size=(600, 8))
    outliers = rng.normal(scale=2.0, size=(60, 8))
    rows = [[*r, 1] for r in normal] + [[*r, 0] for r in outliers]
    rng.shuffle(rows)
    write_csv(tmp_path / "t.csv", rows, [f"x{i}" for i in range(8)] + ["normal"])
    run = tmp_path / "run"
    assert main(["anomaly", "fit", "--data", f"csv:{tmp_path / 't.csv'}", "--label-column", "normal",
                 "--normal-class", "1", *TABLE_ARGS, "--epochs", "40", "--out", str(run)]) == 0
    record = json.loads((run / "anomaly.json").read_text())
    assert record["score"] == "elbo" and record["normal_classes"] == [1] and record["fpr"] == 0.05
    assert main(["anomaly", "score", str(run), "--out", str(tmp_path / "s.csv")]) == 0
    text = capsys.readouterr().out
    assert auroc_of(text) > 0.95
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == "index,score,flagged,label,anomaly" and len(lines) == 1 + round(0.2 * 660)
    flagged = [int(ln.split(",")[2]) for ln in lines[1:]]
    scores = [float(ln.split(",")[1]) for ln in lines[1:]]
    assert all(f == (s > record["threshold"]) for f, s in zip(flagged, scores))
    # new rows, with the run's standardisation: the outliers still score higher
    write_csv(tmp_path / "new.csv", [[*r] for r in normal[:20]] + [[*r] for r in outliers[:20]],
              [f"x{i}" for i in range(8)])
    assert main(["anomaly", "score", str(run), "--data", f"csv:{tmp_path / 'new.csv'}",
                 "--out", str(tmp_path / "new_scores.csv")]) == 0
    new = [float(ln.split(",")[1]) for ln in (tmp_path / "new_scores.csv").read_text().splitlines()[1:]]
    assert np.mean(new[20:]) > np.mean(new[:20])


def test_breast_cancer_benign_as_normal(tmp_path, capsys):
    from sklearn.datasets import load_breast_cancer  # bundled with scikit-learn: no download

    d = load_breast_cancer()
    write_csv(tmp_path / "cancer.csv", [[*r, int(t)] for r, t in zip(d.data, d.target)],
              [*d.feature_names, "target"])  # target 1 = benign
    run = tmp_path / "run"
    assert main(["anomaly", "fit", "--data", f"csv:{tmp_path / 'cancer.csv'}", "--label-column", "target",
                 "--normal-class", "1", *TABLE_ARGS, "--epochs", "40", "--out", str(run)]) == 0
    assert main(["anomaly", "score", str(run), "--score", "iwae", "--out", str(tmp_path / "s.csv")]) == 0
    assert auroc_of(capsys.readouterr().out) > 0.8


def smoke_anomaly(tiny_run, tiny_idx, tmp_path, capsys):
    run = tmp_path / "normal0"
    assert main(["anomaly", "fit", "--data", f"idx:{tiny_idx}", "--normal-class", "0", *TINY_TRAIN_ARGS,
                 "--out", str(run)]) == 0
    assert main(["anomaly", "score", str(run), "--out", str(tmp_path / "s.csv")]) == 0
    text = capsys.readouterr().out
    assert "100 examples scored with elbo" in text and 0 <= auroc_of(text) <= 1
    assert main(["anomaly", "score", str(tiny_run), "--score", "recon", "--fpr", "0.1",
                 "--out", str(tmp_path / "t.csv")]) == 0  # any run: no labels of normality, a fresh threshold
    assert "set now at 10%" in capsys.readouterr().out


def test_scoring_other_kinds_of_data_is_refused(tiny_run, tmp_path):
    write_csv(tmp_path / "t.csv", [[1, 2], [3, 4]], ["a", "b"])
    proc = vaelab_cli("anomaly", "score", tiny_run, "--data", f"csv:{tmp_path / 't.csv'}",
                      "--out", tmp_path / "s.csv", cwd=tmp_path)
    assert_refused(proc, "was not trained on a CSV table")
    assert not (tmp_path / "s.csv").exists()


def test_the_normal_classes_are_the_labels_the_run_kept(tiny_idx, tmp_path, capsys):
    """However the normal labels were given (--normal-class, --keep-labels), and after --resume, the
    record names them, so scoring reports AUROC; a split with no anomaly scores without it."""
    run = tmp_path / "run"
    args = ["anomaly", "fit", "--data", f"idx:{tiny_idx}", *TINY_TRAIN_ARGS, "--keep-labels", "0", "--out", str(run)]
    assert main(args) == 0
    assert json.loads((run / "anomaly.json").read_text())["normal_classes"] == [0]
    assert main([*args, "--resume", "--epochs", "3"]) == 0
    assert json.loads((run / "anomaly.json").read_text())["normal_classes"] == [0]
    capsys.readouterr()
    assert main(["anomaly", "score", str(run), "--out", str(tmp_path / "all.csv")]) == 0
    assert "AUROC" in capsys.readouterr().out
    assert main(["anomaly", "score", str(run), "-n", "1", "--out", str(tmp_path / "one.csv")]) == 0
    assert "AUROC" not in capsys.readouterr().out  # one example: nothing to rank
    assert (tmp_path / "one.csv").read_text().splitlines()[0] == "index,score,flagged,label,anomaly"


def test_normal_class_and_keep_labels_together_are_refused(tiny_idx, tmp_path):
    proc = vaelab_cli("anomaly", "fit", "--data", f"idx:{tiny_idx}", *TINY_TRAIN_ARGS, "--normal-class", "3",
                      "--keep-labels", "4", "--out", tmp_path / "run", cwd=tmp_path)
    assert_refused(proc, "vaelab anomaly fit: error: --normal-class and --keep-labels both say")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_anomaly_fit_trains_in_several_processes(tiny_idx, tmp_path):
    proc = vaelab_cli("anomaly", "fit", "--data", f"idx:{tiny_idx}", *TINY_TRAIN_ARGS, "--normal-class", "1",
                      "--nproc", "2", "--out", tmp_path / "run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [r["processes"] for r in Run.open(tmp_path / "run").metrics()] == [2, 2]
    assert json.loads((tmp_path / "run" / "anomaly.json").read_text())["normal_classes"] == [1]
