"""The README's promises: its Python example runs as written, and CI runs its test command."""
import re
from pathlib import Path

import torch

from vaelab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaelab.data import Splits
from vaelab.train.trainer import fit

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_python_example_runs_as_written(tmp_path, capsys):
    g = torch.Generator().manual_seed(0)
    images = lambda n: (torch.rand(n, 1, 28, 28, generator=g) > 0.7).float()  # noqa: E731
    config = RunConfig(data=DataConfig(name="tensors"),
                       model=ModelConfig(arch="conv", shape=(1, 28, 28), latent_dim=4, channels=(4, 8)),
                       train=TrainConfig(epochs=1, batch_size=32))
    fit(config, Splits(images(64), images(32), images(32)), tmp_path / "demo", progress=False)
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    blocks = [code for code in blocks if 'MoleculeVAE.load("runs/mol")' not in code
              and "onnxruntime" not in code]  # the ONNX example runs, without torch, in test_export.py
    assert len(blocks) == 2 and all('vaelab.load("runs/demo")' in code for code in blocks)
    for code in blocks:
        exec(compile(code.replace('"runs/demo"', repr(str(tmp_path / "demo"))), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "torch.Size([16, 4]) torch.Size([16, 1, 28, 28]) torch.Size([16, 1, 28, 28])" in out
    assert "torch.Size([8, 1, 28, 28]) torch.Size([3, 9, 1, 28, 28]) torch.Size([4, 3, 1, 28, 28]) (1, 5)" in out


def test_ci_runs_the_readme_test_command():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    assert "make demo" in first_block and "make test" in first_block
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)


def test_molecule_example_runs_as_written(tmp_path, capsys):
    from vaelab.cli import main

    molecules = Path(__file__).parent / "data" / "molecules.smi"
    assert main(["mol", "train", "--data", str(molecules), "--latent-dim", "4", "--hidden", "16", "--epochs", "1",
                 "--val-size", "20", "--quiet", "--out", str(tmp_path / "mol")]) == 0
    code, = [c for c in re.findall(r"```python\n(.*?)```", README, re.S) if 'MoleculeVAE.load("runs/mol")' in c]
    capsys.readouterr()
    exec(compile(code.replace('"runs/mol"', repr(str(tmp_path / "mol"))), "README.md", "exec"), {})
    assert capsys.readouterr().out.strip() == "2 100"
