"""`vaelab mol ...` on the 200 shipped molecules: every subcommand, and how bad input is refused."""
from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from vaelab.cli import main
from vaelab.mol.chem import canonical

from test_cli import assert_refused, vaelab_cli

MOLECULES_FILE = Path(__file__).parent / "data" / "molecules.smi"
TRAIN = ["--repr", "smiles", "--val-size", "20", "--latent-dim", "4", "--hidden", "32", "--embed-dim", "16",
         "--epochs", "2", "--batch-size", "32", "--quiet"]


@pytest.fixture(scope="module")
def mol_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("mol") / "run"
    assert main(["mol", "train", "--data", str(MOLECULES_FILE), *TRAIN, "--out", str(run)]) == 0
    return run


def smoke_mol(tiny_run, tiny_idx, tmp_path, capsys):
    """The `mol` group end to end: train, sample, evaluate, interpolate, optimize."""
    run = tmp_path / "mol"
    assert main(["mol", "train", "--data", str(MOLECULES_FILE), *TRAIN, "--out", str(run)]) == 0
    vocab = json.loads((run / "vocab.json").read_text())
    assert vocab["representation"] == "smiles" and "Cl" in vocab["tokens"] and "[nH]" in vocab["tokens"]
    capsys.readouterr()

    out = tmp_path / "mols.smi"
    assert main(["mol", "sample", str(run), "-n", "30", "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 30

    assert main(["mol", "evaluate", str(run), "-n", "50", "--reconstruct", "10", "--iwae-k", "2", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    for key in ("valid", "unique@1000", "unique@10000", "Novelty", "IntDiv", "reconstruction_accuracy",
                "kl", "active_units", "elbo", "nll_iwae"):
        assert key in r, key
    # 200 molecules: the last 20 are the test split, min(--val-size 20, 10% of 180) = 18 validation
    assert 0 <= r["valid"] <= 1 and r["n"] == 50 and r["training_molecules"] == 200 - 20 - 18

    assert main(["mol", "interpolate", str(run), "--from", "CCO", "--to", "c1ccccc1O", "--steps", "4"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 4

    best = tmp_path / "best.csv"
    assert main(["mol", "optimize", str(run), "--property", "logp", "--seeds", "3", "--steps", "4",
                 "--decode-every", "2", "--head-molecules", "100", "--out", str(best), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["decoder_calls"] == 6 and result["prior_samples"]["outputs"] == 6
    with open(best) as f:
        rows = list(csv.DictReader(f))
    assert all(canonical(row["smiles"]) is not None for row in rows)
    assert (run / "property-logp.safetensors").is_file()


def test_mol_run_holds_the_vocabulary_and_a_sequence_model(mol_run):
    config = json.loads((mol_run / "config.json").read_text())
    assert config["model"]["arch"] == "gru" and config["model"]["likelihood"] == "categorical"
    assert config["model"]["vocab_size"] == len(json.loads((mol_run / "vocab.json").read_text())["tokens"])
    metrics = [json.loads(ln) for ln in (mol_run / "metrics.jsonl").read_text().splitlines()]
    assert all("val_active_units" in m for m in metrics)  # reported every epoch


def test_smiles_files_read_as_smi_csv_and_gzip(tmp_path):
    from vaelab.data.molecules import read_smiles_lines

    lines = MOLECULES_FILE.read_text().splitlines()[1:21]
    (tmp_path / "m.csv").write_text("id,smiles\n" + "".join(f"{i},{s}\n" for i, s in enumerate(lines)))
    with gzip.open(tmp_path / "m.smi.gz", "wt") as f:
        f.write("".join(f"{s} name{i}\n" for i, s in enumerate(lines)))
    assert [s for _, s in read_smiles_lines(tmp_path / "m.csv")] == lines
    assert [s for _, s in read_smiles_lines(tmp_path / "m.smi.gz")] == lines
    assert [n for n, _ in read_smiles_lines(tmp_path / "m.csv")][:2] == [2, 3]  # file line numbers
    (tmp_path / "c.csv").write_text("name,Canonical_SMILES\n" + "".join(f"m{i},{s}\n" for i, s in enumerate(lines)))
    assert [s for _, s in read_smiles_lines(tmp_path / "c.csv")] == lines


@pytest.mark.parametrize("content, message", [
    ("", "holds no SMILES"),
    ("C1CC\nXx\nC(C\n", "none of the 3 SMILES is a valid molecule"),
    ("CCO\nc1ccccc1\nC1CC\nCCN\n", "line 3: 'C1CC'; fix them or pass --skip-invalid"),
])
def test_bad_molecule_files_are_refused_in_one_line(tmp_path, content, message):
    data = tmp_path / "bad.smi"
    data.write_text(content)
    proc = vaelab_cli("mol", "train", "--data", data, *TRAIN, "--out", tmp_path / "run", cwd=tmp_path)
    assert_refused(proc, "vaelab mol train: error:", message)
    assert not (tmp_path / "run").exists()


def test_skip_invalid_drops_bad_lines_and_says_how_many(tmp_path):
    data = tmp_path / "some-bad.smi"
    data.write_text("".join(ln + "\n" for ln in MOLECULES_FILE.read_text().splitlines()[1:41]) + "C1CC\n")
    proc = vaelab_cli("mol", "train", "--data", data, *TRAIN, "--skip-invalid", "--out", tmp_path / "run",
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "skipped 1 invalid SMILES of 41 (first on line 41)" in proc.stderr


def test_bad_requests_to_a_mol_run_are_refused(mol_run, tmp_path, tiny_run):
    long = "C" * 200
    assert_refused(vaelab_cli("mol", "interpolate", mol_run, "--from", long, "--to", "CCO", cwd=tmp_path),
                   "is 200 tokens long; this model reads at most")
    assert_refused(vaelab_cli("mol", "interpolate", mol_run, "--from", "C1CC", "--to", "CCO", cwd=tmp_path),
                   "not a valid molecule: 'C1CC'")
    assert_refused(vaelab_cli("mol", "optimize", mol_run, "--property", "colour", cwd=tmp_path),
                   "unknown property 'colour'; choose one of: logp, qed")
    assert_refused(vaelab_cli("mol", "sample", tiny_run, "-n", "3", cwd=tmp_path), "not a molecule run")
    smiles = Path(__file__).parent / "data" / "molecules.smi"
    assert_refused(vaelab_cli("reconstruct", tiny_run, "--data", smiles, cwd=tmp_path),
                   f"--data: {smiles} holds molecules, and", "was trained on images or table rows")
    assert_refused(vaelab_cli("mol", "sample", mol_run, "-n", "0", cwd=tmp_path), "-n must be at least 1")
    assert_refused(vaelab_cli("mol", "evaluate", mol_run, "--held-out", "scaffolds", cwd=tmp_path),
                   "vaelab mol evaluate: error: --held-out scaffolds needs a run trained on --data moses")


def test_molecules_the_model_cannot_read_are_told_apart(mol_run):
    import vaelab

    mvae = vaelab.load(mol_run)
    assert mvae.fits("CCO") and not mvae.fits("C1CC") and not mvae.fits("C" * 200)
    assert not mvae.fits("[Se]1C=CC=C1")  # selenium: no such token in the 200 molecules


def test_moses_subset_is_canonical_and_split_as_documented():
    from vaelab.config import DataConfig
    from vaelab.data import load_splits
    from vaelab.data.tokens import Vocabulary, detokenize

    s = load_splits(DataConfig(name="moses", limit=60, val_size=10, binarize="none", representation="smiles"))
    assert (len(s.train), len(s.val), len(s.test)) == (54, 6, 10_000)  # val: min(10, 10% of 60)
    vocab = Vocabulary.from_json(s.vocabulary)
    decoded = [detokenize(t, "smiles") for t in vocab.decode(s.train)]
    assert decoded == s.texts["train"] == [canonical(m) for m in s.texts["train"]]


def test_moses_without_the_molsets_wheel_says_how_to_get_it(monkeypatch):
    import importlib.util

    from vaelab.errors import ResourceError
    from vaelab.data.molecules import moses_path

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ResourceError, match="pip install --no-deps molsets"):
        moses_path("train")


def test_mol_train_resumes_a_run_with_more_epochs(tmp_path):
    run = tmp_path / "run"
    args = ["mol", "train", "--data", str(MOLECULES_FILE), *TRAIN, "--out", str(run)]
    assert main(args) == 0
    assert main(["mol", "train", "--resume", "--epochs", "3", "--quiet", "--out", str(run)]) == 0
    epochs = [json.loads(ln)["epoch"] for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3]
    proc = vaelab_cli("mol", "train", "--resume", "--latent-dim", "8", "--out", run, cwd=tmp_path)
    assert_refused(proc, "only --epochs, --device, --precision, --compile, --lr, --grad-clip, --kl-warmup may change",
                   "these differ: --latent-dim 8 (the run has 4)")


MOSES_TABLE_KEYS = ["valid", "unique@1000", "unique@10000", "FCD/Test", "SNN/Test", "Frag/Test", "Scaf/Test",
                    "IntDiv", "IntDiv2", "Filters", "logP", "SA", "QED", "weight", "Novelty"]


def test_mol_evaluate_reports_the_moses_table_under_mosess_names(mol_run, tmp_path, monkeypatch, capsys):
    pytest.importorskip("fcd_torch")
    monkeypatch.setenv("VAELAB_CACHE", str(tmp_path / "cache"))
    samples = tmp_path / "samples.smi"
    # the run's test split is the last 20 of the 200 molecules: 10 of them, 10 training molecules, one invalid
    lines = MOLECULES_FILE.read_text().splitlines()[1:]
    samples.write_text("\n".join(lines[-10:] + lines[:10] + ["C1CC"]) + "\n")
    assert main(["mol", "evaluate", str(mol_run), "--samples", str(samples), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert [k for k in r if k in MOSES_TABLE_KEYS] == MOSES_TABLE_KEYS  # a file run: no scaffold test set
    assert "FCD/TestSF" not in r and r["novelty_against"] == "training split"
    assert r["valid"] == pytest.approx(20 / 21) and r["Novelty"] == pytest.approx(0.5)  # the 10 test molecules
    assert 0.5 < r["SNN/Test"] <= 1 and r["Filters"] == 1.0 and r["FCD/Test"] > 0
    assert (tmp_path / "cache" / "mol-metrics").is_dir()  # the test split's statistics, cached


def test_mol_evaluate_without_the_extra_prints_todays_metrics_and_what_to_install(mol_run, tmp_path, monkeypatch,
                                                                                 capsys):
    import sys

    monkeypatch.setitem(sys.modules, "fcd_torch", None)  # as if the mol-metrics extra were not installed
    samples = tmp_path / "samples.smi"
    samples.write_text("CCO\nc1ccccc1\nCCN\n")
    assert main(["mol", "evaluate", str(mol_run), "--samples", str(samples)]) == 0
    out, err = capsys.readouterr()
    assert "valid" in out and "IntDiv" in out and "Novelty" in out and "FCD" not in out
    line = [ln for ln in err.splitlines() if "mol-metrics" in ln]
    assert len(line) == 1 and "pip install 'vaelab[mol-metrics]'" in line[0] and "FCD" in line[0]


def test_mol_evaluate_refuses_a_sample_without_a_valid_molecule(mol_run, tmp_path):
    samples = tmp_path / "bad.smi"
    samples.write_text("C1CC\nXx\n")
    assert_refused(vaelab_cli("mol", "evaluate", mol_run, "--samples", samples, cwd=tmp_path),
                   "vaelab mol evaluate: error: none of the 2 SMILES of --samples is a valid molecule")
    assert_refused(vaelab_cli("mol", "evaluate", mol_run, "--samples", tmp_path / "none.smi", cwd=tmp_path),
                   "no such SMILES file")
    assert_refused(vaelab_cli("mol", "evaluate", mol_run, "--reference-size", "0", cwd=tmp_path),
                   "--reference-size: must be at least 1, got 0")
