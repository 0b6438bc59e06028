"""vaelab installs with pip as a library: the wheel a user gets, in a fresh virtual environment.

The environment already has torch (as a user's would); installing vaelab must leave it alone and
bring only the core dependencies. There, `vaelab train` on a small image folder and `vaelab.load`
work, and a command whose extra is missing says in one line what to install.

Building the wheel and installing torch into the new environment takes a minute and a half, so the
tests in it run under `make test-slow`; the declared extras are checked in every run.
"""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vaelab.extras import EXTRAS

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = ("rdkit", "selfies", "fastapi", "uvicorn", "onnx", "onnxruntime", "mkdocs", "pytest")


def run(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kw)


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_each_feature_extra_is_declared_in_pyproject():
    extras = pyproject()["project"]["optional-dependencies"]
    for extra, modules in EXTRAS.items():
        assert extra in extras, extra
        assert f"vaelab[{','.join(EXTRAS)}]" in extras["all"]
    core = " ".join(pyproject()["project"]["dependencies"])
    for heavy in ("rdkit", "selfies", "fastapi", "uvicorn", "onnx", "==2.13"):
        assert heavy not in core, f"{heavy} is a core dependency"


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory):
    """A wheel of this checkout, installed into a new venv that had torch (and nothing else) first."""
    tmp = tmp_path_factory.mktemp("wheel")
    built = run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", tmp / "dist", ROOT)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp / "dist").glob("vaelab-*.whl"))
    venv = tmp / "venv"
    assert run(sys.executable, "-m", "venv", venv).returncode == 0
    python = venv / "bin" / "python"
    torch_in = run(python, "-m", "pip", "install", "-q", "-c", ROOT / "constraints.txt", "torch")
    assert torch_in.returncode == 0, torch_in.stderr[-2000:]
    before = run(python, "-c", "import torch; print(torch.__version__)").stdout.strip()
    installed = run(python, "-m", "pip", "install", "-q", wheel)
    assert installed.returncode == 0, installed.stderr[-2000:]
    return venv, before


@pytest.mark.slow
def test_the_wheel_leaves_torch_alone_and_brings_only_the_core(fresh_env):
    venv, torch_before = fresh_env
    python = venv / "bin" / "python"
    assert run(python, "-c", "import torch; print(torch.__version__)").stdout.strip() == torch_before
    present = run(python, "-c", "import importlib.util as u; print(' '.join(n for n in "
                  f"{OPTIONAL!r} if u.find_spec(n)))").stdout.split()
    assert present == [], f"installed without being asked for: {present}"


@pytest.mark.slow
def test_train_on_an_image_folder_and_load_in_the_fresh_env(fresh_env, tmp_path):
    venv, _ = fresh_env
    rng = np.random.default_rng(0)
    for i in range(40):  # small colour images, two classes
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(tmp_path / f"{i:02d}.png")
    out = tmp_path / "run"
    trained = run(venv / "bin" / "vaelab", "train", "--data", f"folder:{tmp_path}", "--model", "mlp",
                  "--latent-dim", "2", "--epochs", "1", "--batch-size", "8", "--out", out)
    assert trained.returncode == 0, trained.stderr[-2000:]
    loaded = run(venv / "bin" / "python", "-c", f"import vaelab; m = vaelab.load({str(out)!r}); "
                 "print(tuple(m.sample(3).shape))")
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.strip() == "(3, 3, 12, 12)"


@pytest.mark.slow
def test_a_command_whose_extra_is_missing_names_the_install(fresh_env, tmp_path):
    venv, _ = fresh_env
    vaelab = venv / "bin" / "vaelab"
    (tmp_path / "mols.smi").write_text("CCO\nc1ccccc1\nCC(=O)O\n" * 5)
    for args, extra in ((["train", "--data", tmp_path / "mols.smi", "--out", tmp_path / "m"], "mol"),
                        (["serve", tmp_path], "serve")):
        result = run(vaelab, *args)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and f"pip install 'vaelab[{extra}]'" in lines[0], result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "m").exists()
