"""CSV tables as data: parsing, refusals, the split, standardisation, and training through the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vaelab.cli import main
from vaelab.config import DataConfig
from vaelab.data import load_splits
from vaelab.data.table import read_table, split_rows
from vaelab.errors import VaelabError

from test_cli import assert_refused, vaelab_cli

pytestmark = pytest.mark.usefixtures("tiny_torch_defaults")


def write_table(path, n=200, seed=0, extra=""):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(5, 2, n), rng.normal(-1, 0.5, n)
    kinds = ["benign" if v > 5 else "malignant" for v in a]
    lines = ["a,b,c,kind" + ("," + extra if extra else "")]
    for i in range(n):
        lines.append(f"{a[i]:.6f},{b[i]:.6f},{a[i] + b[i]:.6f},{kinds[i]}" + (",x" if extra else ""))
    path.write_text("\n".join(lines) + "\n")
    return np.stack([a, b, a + b], 1), kinds


def test_numbers_labels_and_ignored_columns(tmp_path):
    values, kinds = write_table(tmp_path / "t.csv", extra="note")
    features, table, labels, names = read_table(tmp_path / "t.csv", ignore=("note",), label_column="kind")
    assert features == ["a", "b", "c"] and names == ["benign", "malignant"]
    np.testing.assert_allclose(table, values, atol=1e-6)
    assert labels.tolist() == [names.index(k) for k in kinds]


@pytest.mark.parametrize("text, message", [
    ("", "no data rows"),
    ("a,b\n", "no data rows"),
    ("a,b\n1,2\n3\n", "line 3: 1 values for 2 columns"),
    ("a,b\n1,\n3,4\n", "non-numeric column(s) 'b'"),
    ("a,b\n1,inf\n3,4\n", "missing or infinite"),
    ("a,name\n1,x\n2,y\n", "--ignore name"),
])
def test_bad_tables_are_refused(tmp_path, text, message):
    """As the command line shows them: options named by their flags."""
    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(VaelabError) as info:
        read_table(tmp_path / "t.csv")
    assert message in info.value.render(lambda option: "--" + option.replace("_", "-"))


def test_unknown_column_and_missing_file(tmp_path):
    write_table(tmp_path / "t.csv")
    with pytest.raises(VaelabError, match="no column named 'nope'"):
        read_table(tmp_path / "t.csv", label_column="nope")
    with pytest.raises(VaelabError, match="CSV file not found"):
        read_table(tmp_path / "missing.csv")


def test_split_is_fixed_disjoint_and_standardised_on_the_training_rows(tmp_path):
    write_table(tmp_path / "t.csv", n=500)
    parts = split_rows(500, val_size=30)
    assert len(parts["test"]) == 100 and len(parts["val"]) == 30 and len(parts["train"]) == 370
    assert len(set(np.concatenate(list(parts.values())).tolist())) == 500
    assert all(np.array_equal(parts[k], split_rows(500, 30)[k]) for k in parts)
    s = load_splits(DataConfig(name="csv", path=str(tmp_path / "t.csv"), val_size=30, label_column="kind",
                               binarize="none"))
    torch.testing.assert_close(s.train.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(s.train.std(0, unbiased=False), torch.ones(3), atol=1e-5, rtol=0)
    assert s.shape == (3,) and set(s.standardization) == {"columns", "mean", "std"}


def test_train_on_a_table_saves_its_standardisation(tmp_path, capsys):
    write_table(tmp_path / "t.csv")
    run = tmp_path / "run"
    args = ["train", "--data", f"csv:{tmp_path / 't.csv'}", "--label-column", "kind", "--model", "mlp",
            "--hidden", "16", "--latent-dim", "2", "--likelihood", "gaussian-learned", "--epochs", "2",
            "--batch-size", "16", "--val-size", "10", "--quiet", "--out", str(run)]
    assert main(args) == 0
    stats = json.loads((run / "standardization.json").read_text())
    features, table, _, _ = read_table(tmp_path / "t.csv", label_column="kind")
    train_rows = split_rows(len(table), 10)["train"]
    np.testing.assert_allclose(stats["mean"], table[train_rows].mean(0), rtol=1e-9)
    assert stats["columns"] == features
    assert json.loads((run / "config.json").read_text())["data"]["binarize"] == "none"
    assert main(["evaluate", str(run), "--iwae-k", "5", "--json", "--quiet"]) == 0
    capsys.readouterr()


def test_another_files_text_labels_are_numbered_as_the_run_numbered_them(tmp_path, capsys):
    """A file with only some of the run's label texts, and one it never saw: each keeps the run's
    number (labels.json), the new one gets a number of its own, for training data and scored rows alike."""
    from vaelab import Run
    from vaelab.apps.anomaly import examples_to_score

    values, kinds = write_table(tmp_path / "t.csv")
    run = tmp_path / "run"
    assert main(["train", "--data", f"csv:{tmp_path / 't.csv'}", "--label-column", "kind", "--model", "mlp",
                 "--hidden", "8", "--latent-dim", "2", "--likelihood", "gaussian-learned", "--epochs", "1",
                 "--batch-size", "16", "--val-size", "10", "--quiet", "--out", str(run)]) == 0
    assert json.loads((run / "labels.json").read_text()) == ["benign", "malignant"]
    rows = ["a,b,c,kind"] + [f"{a},{b},{c},malignant" for a, b, c in values[:30]] + \
           [f"{a},{b},{c},unsure" for a, b, c in values[30:40]]
    (tmp_path / "new.csv").write_text("\n".join(rows) + "\n")
    _, y = examples_to_score(Run.open(run), f"csv:{tmp_path / 'new.csv'}", "test")
    assert y.tolist() == [1] * 30 + [2] * 10
    data = Run.open(run).data(f"csv:{tmp_path / 'new.csv'}")
    assert data.label_names == ("benign", "malignant", "unsure")
    assert set(data.train_labels.tolist()) == {1, 2}
    capsys.readouterr()


def test_empty_table_through_the_cli(tmp_path):
    (tmp_path / "empty.csv").write_text("a,b\n")
    proc = vaelab_cli("train", "--data", f"csv:{tmp_path / 'empty.csv'}", "--model", "mlp", "--out",
                      tmp_path / "run", cwd=tmp_path)
    assert_refused(proc, "no data rows")
    assert not (tmp_path / "run").exists()


def test_dynamic_binarization_of_values_outside_0_1_is_refused(tmp_path):
    write_table(tmp_path / "t.csv")
    proc = vaelab_cli("train", "--data", f"csv:{tmp_path / 't.csv'}", "--label-column", "kind", "--binarize",
                      "dynamic", "--model", "mlp", "--out", tmp_path / "run", cwd=tmp_path)
    assert_refused(proc, "use --binarize none")


def test_keeping_a_class_restandardises_on_its_rows(tmp_path):
    write_table(tmp_path / "t.csv", n=400)
    s = load_splits(DataConfig(name="csv", path=str(tmp_path / "t.csv"), val_size=30, label_column="kind",
                               binarize="none", keep_labels=(0,)))
    features, table, labels, _ = read_table(tmp_path / "t.csv", label_column="kind")
    rows = split_rows(400, 30)["train"]
    normal = table[rows][labels[rows] == 0]
    np.testing.assert_allclose(s.standardization["mean"], normal.mean(0), rtol=1e-6)
    torch.testing.assert_close(s.train.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
