"""Bad input of every kind ends in one line and exit code 2, with no traceback and nothing written:
sizes that would exhaust memory, values that are not finite, outputs that cannot be written,
side files of a run folder that are not what vaelab wrote, and strings that would crash RDKit."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vaelab.cli import main

from test_mol_cli import mol_run  # noqa: F401  (a fixture: a small molecule run folder)


def refused(capsys, *args) -> str:
    """Run `vaelab ARGS` in this process; it must refuse in one line. Returns the line."""
    assert main([str(a) for a in args]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vaelab ") and ": error: " in lines[0], captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def copy_run(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    return to


@pytest.mark.parametrize("args,fragment", [
    (["sample", "{run}", "--temperature", "inf"], "--temperature must be finite and > 0"),
    (["sample", "{run}", "--temperature", "nan"], "--temperature must be finite and > 0"),
    (["traverse", "{run}", "--span", "inf"], "--span: a traversal's span must be finite"),
    (["traverse", "{run}", "--steps", "10000000"], "--steps: a traversal takes 2..1000 steps"),
    (["interpolate", "{run}", "--from", "0", "--to", "1", "--steps", "10000000"], "takes 2..1000 steps"),
    (["sample", "{run}", "--out", "/proc/x.png"], "cannot write into /proc"),
    (["inpaint", "{run}", "--mask", "{tmp}/garbage.png"], "not a readable image"),
], ids=["temperature-inf", "temperature-nan", "span-inf", "traverse-steps", "interpolate-steps", "unwritable-out",
        "corrupt-mask"])
def test_values_that_cannot_work_are_refused(tiny_run, tmp_path, capsys, args, fragment):
    (tmp_path / "garbage.png").write_bytes(b"not a picture")
    args = [a.format(run=tiny_run, tmp=tmp_path) for a in args]
    assert fragment in refused(capsys, *args)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.png"]


def test_a_model_too_large_to_build_is_refused_before_anything_is_allocated(tiny_idx, tiny_run, tmp_path, capsys):
    line = refused(capsys, "train", "--data", f"idx:{tiny_idx}", "--latent-dim", 10**9, "--out", tmp_path / "r")
    assert "parameters, more than the 500,000,000 vaelab builds" in line and "--latent-dim" in line
    assert not (tmp_path / "r").exists()
    run = copy_run(tiny_run, tmp_path / "huge")
    config = json.loads((run / "config.json").read_text())
    config["model"]["latent_dim"] = 10**9
    (run / "config.json").write_text(json.dumps(config))
    assert "huge/config.json is not a usable run config: this model would have" in refused(capsys, "sample", run)


@pytest.mark.parametrize("name,content,fragment", [
    ("anomaly.json", '{"threshold": "x"}', "anomaly.json is not a usable anomaly file"),
    ("standardization.json", '{"columns": ["a"], "mean": [0], "std": [0]}', "not a usable standardization file"),
    ("labels.json", '{"a": 1}', "labels.json is not a usable labels file: expected names"),
    ("labels.json", b"\xff\xfe", "labels.json is not a readable labels file"),
])
def test_side_files_that_are_not_what_vaelab_wrote_are_refused(tiny_run, tmp_path, capsys, name, content, fragment):
    run = copy_run(tiny_run, tmp_path / "run")
    (run / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    command = ["anomaly", "score", run] if name == "anomaly.json" else ["evaluate", run, "--iwae-k", 2]
    assert fragment in refused(capsys, *command)


def test_a_corrupt_vocabulary_and_a_huge_smiles_are_one_line(mol_run, tmp_path, capsys):  # noqa: F811
    run = copy_run(mol_run, tmp_path / "mol")
    huge = "C" * 20_000  # RDKit takes minutes on this, or crashes the process
    line = refused(capsys, "mol", "interpolate", run, "--from", huge, "--to", "CCO")
    assert "not a valid molecule" in line and len(line) < 300 and "20,000 characters" in line
    (run / "vocab.json").write_bytes(b"\xff")
    assert "vocab.json is not a usable vocabulary" in refused(capsys, "mol", "sample", run, "-n", 3)


def test_a_refused_resume_leaves_the_config_as_it_was(tiny_run, tmp_path, capsys):
    run = copy_run(tiny_run, tmp_path / "run")
    (run / "checkpoint.safetensors").write_bytes(b"not a checkpoint")
    before = (run / "config.json").read_bytes()
    refused(capsys, "train", "--resume", "--out", run, "--epochs", 5)
    assert (run / "config.json").read_bytes() == before


@pytest.mark.parametrize("args,fragment", [
    (["train", "--epochs", "x"], "vaelab train: error: argument --epochs: invalid int value: 'x'"),
    (["nosuch"], "vaelab: error: argument COMMAND: invalid choice: 'nosuch'"),
    (["mol"], "vaelab mol: error: the following arguments are required: COMMAND"),
    (["sample", "run", "--no-such-flag"], "vaelab: error: unrecognized arguments: --no-such-flag"),
])
def test_usage_errors_are_one_line_too(capsys, args, fragment):
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [err.strip()] and err.startswith(fragment) and "--help)" in err, err


@pytest.mark.parametrize("args,fragment", [
    (["evaluate", "{run}", "--iwae-k", "1000000000000"], "--iwae-k: importance samples must lie in 1..100,000"),
    (["inpaint", "{run}", "--mask", "left", "--steps", "1000000000000"], "--steps: inpainting takes 1..10,000 steps"),
    (["train", "--data", "idx:{idx}", "--nproc", "1000000000000", "--out", "{tmp}/r"], "--nproc: must lie in 1.."),
], ids=["iwae-k", "inpaint-steps", "nproc"])
def test_counts_that_would_run_for_days_are_refused(tiny_run, tiny_idx, tmp_path, capsys, args, fragment):
    """Found by feeding every numeric flag of every command -1, 0, nan, inf and 10^12."""
    args = [a.format(run=tiny_run, idx=tiny_idx, tmp=tmp_path) for a in args]
    assert fragment in refused(capsys, *args)
    assert list(tmp_path.iterdir()) == []


def test_anomaly_and_molecule_counts_are_bounded(mol_run, tmp_path):  # noqa: F811
    import vaelab
    from vaelab.apps.anomaly import anomaly_scores
    from vaelab.errors import InputError
    from vaelab.mol.optimize import optimize_property

    model = vaelab.load(mol_run)
    with pytest.raises(InputError, match="must be at most 10,000"):
        optimize_property(model, ["CCO"] * 10, "qed", seeds=2, steps=10**12)
    with pytest.raises(InputError, match="posterior samples must lie in 1..10,000"):
        anomaly_scores(model, None, "elbo", samples=10**12)


@pytest.mark.parametrize("args", [
    ["sample", "{run}", "-n", "2"], ["reconstruct", "{run}", "-n", "2"], ["traverse", "{run}", "--steps", "3"],
    ["interpolate", "{run}", "--from", "0", "--to", "1", "--steps", "3"], ["map", "{run}"],
    ["encode", "{run}"], ["neighbors", "{run}", "--query", "0"],
    ["denoise", "{run}", "--noise", "gaussian:0.3", "-n", "2", "--measure", "2"],
    ["inpaint", "{run}", "--mask", "bottom", "--steps", "2", "-n", "2", "--measure", "2"], ["evaluate", "{run}", "--iwae-k", "2"],
], ids=lambda args: args[0])
def test_an_existing_out_is_refused_unless_forced(tiny_run, tmp_path, capsys, args):
    """One policy for every command: a named --out that exists is kept, unless --force replaces it."""
    out = tmp_path / "taken"
    out.write_bytes(b"keep me")
    args = [a.format(run=tiny_run) for a in args]
    line = refused(capsys, *args, "--out", out)
    assert f"--out: {out} already exists; add --force to replace it" in line
    assert out.read_bytes() == b"keep me"
    assert main([*args, "--out", str(out), "--force"]) == 0
    assert out.read_bytes() != b"keep me"
