"""The README's promises: every Python example runs as written, and CI runs its test command."""
import re
from pathlib import Path

import torch

from vaelab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaelab.data import Splits
from vaelab.train.trainer import train

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def run_block(code: str, folders: dict[str, Path]) -> None:
    for name, path in folders.items():
        code = code.replace(f'"{name}"', repr(str(path)))
    exec(compile(code, "README.md", "exec"), {})


def test_every_python_block_is_run_by_a_test():
    kinds = [("onnxruntime" in c, 'vaelab.load("runs/mol")' in c, 'vaelab.load("runs/demo")' in c,
              "vaelab.fit(" in c) for c in BLOCKS]
    assert all(sum(k) == 1 for k in kinds), "a README block that no test below runs"


def test_python_examples_on_a_run_folder_run_as_written(tmp_path, capsys):
    g = torch.Generator().manual_seed(0)
    images = lambda n: (torch.rand(n, 1, 28, 28, generator=g) > 0.7).float()  # noqa: E731
    config = RunConfig(data=DataConfig(name="arrays"),
                       model=ModelConfig(arch="conv", shape=(1, 28, 28), latent_dim=4, channels=(4, 8)),
                       train=TrainConfig(epochs=1, batch_size=32))
    train(config, Splits(images(64), images(32), images(32)), tmp_path / "demo", progress=False)
    blocks = [code for code in BLOCKS if 'vaelab.load("runs/demo")' in code and "onnxruntime" not in code]
    assert len(blocks) == 2
    for code in blocks:
        run_block(code, {"runs/demo": tmp_path / "demo"})
    out = capsys.readouterr().out
    assert "torch.Size([16, 4]) torch.Size([16, 1, 28, 28]) torch.Size([16, 1, 28, 28])" in out
    assert "torch.Size([8, 1, 28, 28]) torch.Size([3, 9, 1, 28, 28]) torch.Size([4, 3, 1, 28, 28]) (1, 5)" in out


def test_training_from_python_runs_as_written(tmp_path, capsys):
    code, = [c for c in BLOCKS if "vaelab.fit(" in c]
    run_block(code, {"runs/mine": tmp_path / "mine"})
    assert capsys.readouterr().out.strip().splitlines() == [
        "(3, 4)", "4 1 ['config.json', 'model.safetensors', 'checkpoint.safetensors', 'metrics.jsonl']"]
    assert (tmp_path / "mine" / "model.safetensors").is_file()


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
    code, = [c for c in BLOCKS if 'vaelab.load("runs/mol")' in c]
    capsys.readouterr()
    run_block(code, {"runs/mol": tmp_path / "mol"})
    assert capsys.readouterr().out.strip() == "2 100"
