"""`vaelab export`: ONNX files that onnxruntime runs as PyTorch does, at any batch size, without PyTorch.

Tiny models of the exportable kinds are trained for one epoch in-process (about a second in all),
exported once (a few seconds each: torch.export), and compared here with the model's own `encode`
and `decode`, independently of the exporter's built-in check. Bad input is refused in one line,
exit code 2, with nothing written.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import vaelab
import vaelab.export
from vaelab.cli import main
from vaelab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaelab.data import Splits
from vaelab.errors import InputError
from vaelab.export import export_onnx
from vaelab.model import Model
from vaelab.models import VAE
from vaelab.io import save_weights
from vaelab.train.trainer import train

from conftest import tiny_torch
from test_cli import assert_refused, snapshot, vaelab_cli

pytestmark = pytest.mark.usefixtures("tiny_torch_defaults")

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-4
PROTOTYPES = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(11))

# Between them: conv and MLP networks, conditional and not, Bernoulli, continuous Bernoulli, fixed and
# learned Gaussian likelihoods, the VAE and the regularised and plain autoencoders (logvar -inf).
# Four, as each export takes a few seconds (torch.export).
KINDS = {
    "conv-vae-bernoulli": dict(arch="conv", likelihood="bernoulli"),
    "mlp-cvae-cbernoulli": dict(arch="mlp", likelihood="cbernoulli", num_classes=3),
    "conv-cae-gaussian-pixel": dict(arch="conv", likelihood="gaussian-learned-pixel", num_classes=3, regularizer="none"),
    "mlp-rae-gaussian": dict(arch="mlp", likelihood="gaussian", regularizer="l2"),
}


def labelled_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 1, 8, 8) grey images in [0, 1], each a noisy copy of its label's prototype, and the labels."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    return (0.8 * PROTOTYPES[y] + 0.2 * torch.rand(n, 1, 8, 8, generator=g)), y


def train_tiny(out: Path, **model) -> Path:
    (tr, trl), (va, val), (te, tel) = labelled_images(128, 0), labelled_images(32, 1), labelled_images(32, 2)
    binarize = "dynamic" if model["likelihood"] == "bernoulli" else "none"
    config = RunConfig(data=DataConfig(name="arrays", binarize=binarize),
                       model=ModelConfig(shape=(1, 8, 8), latent_dim=3, channels=(4, 8), hidden=(16,), **model),
                       train=TrainConfig(epochs=1, batch_size=32, lr=1e-2, device="cpu"))
    train(config, Splits(tr, va, te, trl, val, tel), out, progress=False)
    return out


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, tuple[Path, Path, dict]]:
    """kind -> (run folder, export folder, manifest): each kind trained and exported once."""
    root = tmp_path_factory.mktemp("export")
    made = {}
    with tiny_torch():
        for kind, model in KINDS.items():
            run = train_tiny(root / kind, **model)
            made[kind] = (run, root / f"{kind}-onnx", export_onnx(run, root / f"{kind}-onnx"))
    return made


def largest_difference(got: np.ndarray, want: torch.Tensor, relative: bool = False) -> float:
    """max |got - want| (divided by max(1, |want|) if `relative`); equal infinities are no difference."""
    want = want.detach().numpy()
    assert got.shape == want.shape and got.dtype == np.float32
    with np.errstate(invalid="ignore"):  # inf - inf
        diff = np.where(got == want, 0.0, np.abs(got - want))
    return float((diff / np.maximum(1.0, np.abs(want)) if relative else diff).max())


# --- the files compute what PyTorch computes ---------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_onnx_equals_pytorch_at_two_batch_sizes(exports, kind):
    run, folder, manifest = exports[kind]
    model = vaelab.load(run)
    encoder = ort.InferenceSession(str(folder / "encoder.onnx"))
    decoder = ort.InferenceSession(str(folder / "decoder.onnx"))
    parameter = "logits" if "bernoulli" in model.config.model.likelihood else "logvar"
    label_input = ["y"] if model.conditional else []
    assert [i.name for i in encoder.get_inputs()] == ["x", *label_input]
    assert [i.name for i in decoder.get_inputs()] == ["z", *label_input]
    assert [o.name for o in decoder.get_outputs()] == ["mean", parameter]
    assert decoder.get_inputs()[0].shape == ["batch", 3] and decoder.get_outputs()[0].shape == ["batch", 1, 8, 8]
    g = torch.Generator().manual_seed(5)
    for n in (1, 7):
        x, y = labelled_images(n, seed=10 + n)
        z = torch.randn(n, 3, generator=g)
        labels = {"y": y.numpy()} if model.conditional else {}
        y = y if model.conditional else None
        mu, logvar = encoder.run(None, {"x": x.numpy(), **labels})
        want_mu, want_logvar = model.encode(x, y)
        assert largest_difference(mu, want_mu) <= TOLERANCE
        assert largest_difference(logvar, want_logvar) <= TOLERANCE
        assert np.isneginf(logvar).all() == (not model.stochastic)  # an autoencoder has no variance
        mean, param = decoder.run(None, {"z": z.numpy(), **labels})
        assert largest_difference(mean, model.decode(z, y)) <= TOLERANCE
        with torch.no_grad():
            px = model.network.px(z, model.condition(y, n))
        want_param = px.logits if parameter == "logits" else px.logvar.expand_as(px.loc)
        assert largest_difference(param, want_param, relative=parameter == "logits") <= TOLERANCE
    if "bernoulli" in model.config.model.likelihood:
        assert 0 <= mean.min() and mean.max() <= 1
    measured = manifest["check"]["max_abs_diff"]  # the exporter's own check, on its own inputs
    assert max(measured["encoder"].values()) <= TOLERANCE and measured["decoder"]["mean"] <= TOLERANCE


def test_conv_decoder_is_the_plain_transposed_convolution(exports):
    """Upsample2x computes no-grad CPU calls from cached sub-pixel weights; the file must hold the real
    transposed convolutions on the real weights, whatever the cache held when it was traced."""
    run, folder, _ = exports["conv-vae-bernoulli"]
    ops = [node.op_type for node in onnx.load(str(folder / "decoder.onnx")).graph.node]
    assert ops.count("ConvTranspose") == 2 and "DepthToSpace" not in ops

    model = vaelab.load(run)
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    model.decode(z)  # fills the sub-pixel cache
    decoder = ort.InferenceSession(str(folder / "decoder.onnx"))
    with torch.enable_grad():  # PyTorch's plain ConvTranspose2d path, for comparison
        plain = model.network.px(z).mean
    assert largest_difference(decoder.run(["mean"], {"z": z.numpy()})[0], plain) <= TOLERANCE


def test_manifest_describes_the_files(exports):
    run, folder, manifest = exports["mlp-cvae-cbernoulli"]
    assert sorted(p.name for p in folder.iterdir()) == ["decoder.onnx", "encoder.onnx", "export.json"]
    assert json.loads((folder / "export.json").read_text()) == manifest
    assert manifest["latent_dim"] == 3 and manifest["shape"] == [1, 8, 8] and manifest["classes"] == 3
    assert manifest["likelihood"] == "cbernoulli" and manifest["opset"] == 18
    assert manifest["vaelab_version"] == vaelab.__version__
    decoder = manifest["files"]["decoder"]
    assert decoder["inputs"] == [{"name": "z", "shape": ["batch", 3], "dtype": "float32"},
                                 {"name": "y", "shape": ["batch"], "dtype": "int64"}]
    assert [o["name"] for o in decoder["outputs"]] == ["mean", "logits"]
    assert manifest["check"]["batch_sizes"] == [1, 7]
    assert 0 < manifest["check"]["max_abs_diff"]["decoder"]["mean"] <= TOLERANCE  # measured, not assumed
    assert onnx.load(str(folder / "encoder.onnx")).opset_import[0].version == 18


def test_the_guide_sample_runs_without_torch_and_equals_vaelab_decode(exports, tmp_path):
    """The export guide's onnxruntime example, as written, in a process where `import torch` fails."""
    run, folder, _ = exports["conv-vae-bernoulli"]
    guide = (ROOT / "docs" / "guide" / "export.md").read_text()
    code, = [c for c in re.findall(r"```python\n(.*?)```", guide, re.S) if "onnxruntime" in c]
    code = code.replace('"exports/demo/', f'"{folder}/')
    script = tmp_path / "sample.py"
    script.write_text("import sys\nsys.modules['torch'] = None  # any import of torch now fails\n" + code
                      + f"\nnp.save({str(tmp_path / 'z.npy')!r}, z)\nnp.save({str(tmp_path / 'x.npy')!r}, images)\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    z, images = np.load(tmp_path / "z.npy"), np.load(tmp_path / "x.npy")
    assert z.shape == (16, 3) and images.shape == (16, 1, 8, 8)
    assert abs(z.mean()) < 0.5 and 0.5 < z.std() < 1.5  # z ~ N(0, I)
    assert largest_difference(images, vaelab.load(run).decode(torch.from_numpy(z))) <= TOLERANCE


# --- the command ----------------------------------------------------------------------------------------
def smoke_export(tiny_run, tiny_idx, tmp_path, capsys):
    out = tmp_path / "onnx"
    assert main(["export", str(tiny_run), "--format", "onnx", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out}: encoder.onnx (x -> mu, logvar), decoder.onnx (z -> mean, logits), export.json" in text
    measured = re.search(r"max abs difference mu (\S+), logvar (\S+), mean (\S+), logits (\S+) ", text)
    assert measured and all(float(d.rstrip(",")) <= TOLERANCE for d in measured.groups())
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["run"] == str(tiny_run) and manifest["shape"] == [1, 8, 8] and manifest["latent_dim"] == 2


def reuse_traces(monkeypatch, folder: Path) -> None:
    """Tracing takes seconds: tests of what happens around it copy the fixture's files instead."""
    monkeypatch.setattr(vaelab.export, "_trace", lambda graph, args, path, *rest: shutil.copy(folder / path.name, path))


def test_force_replaces_the_export_files_and_keeps_the_rest(exports, tmp_path, capsys, monkeypatch):
    run, folder, _ = exports["mlp-rae-gaussian"]
    reuse_traces(monkeypatch, folder)
    out = tmp_path / "onnx"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "decoder.onnx").write_bytes(b"an old export")
    assert main(["export", str(run), "--out", str(out)]) == 2  # not empty: refused, untouched
    assert "already exists and is not empty" in capsys.readouterr().err
    assert (out / "decoder.onnx").read_bytes() == b"an old export"
    assert main(["export", str(run), "--out", str(out), "--force"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["decoder.onnx", "encoder.onnx", "export.json", "notes.txt"]
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "decoder.onnx").read_bytes() == (folder / "decoder.onnx").read_bytes()
    assert not list(tmp_path.glob(".onnx.*"))  # no staging folder left behind


def test_python_api_takes_a_model_and_leaves_it_as_it_was(exports, tmp_path, monkeypatch):
    run, folder, _ = exports["conv-vae-bernoulli"]
    reuse_traces(monkeypatch, folder)
    model = vaelab.load(run)
    model.network.train()  # exporting needs eval mode: on a copy, not on the caller's model
    before = {k: v.clone() for k, v in model.network.state_dict().items()}
    manifest = export_onnx(model, tmp_path / "onnx")
    assert model.network.training and all(torch.equal(v, before[k]) for k, v in model.network.state_dict().items())
    assert manifest["run"] == str(run) and manifest["check"]["max_abs_diff"]["decoder"]["mean"] <= TOLERANCE


def refused_in_process(capsys, *args) -> str:
    assert main(["export", *map(str, args)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vaelab export: error: ") and captured.out == ""
    return lines[0]


def test_corrupt_weights_as_a_user_sees_it(exports, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    source = exports["conv-vae-bernoulli"][0]
    (run / "config.json").write_bytes((source / "config.json").read_bytes())
    (run / "model.safetensors").write_bytes(b"\x00garbage, not safetensors" * 10)
    proc = vaelab_cli("export", run, "--out", tmp_path / "onnx", cwd=tmp_path)
    assert_refused(proc, "vaelab export: error:", "model.safetensors", "corrupt")
    assert not (tmp_path / "onnx").exists() and not list(tmp_path.glob(".onnx.*"))  # nor a staging folder


def test_bad_input_is_one_line_and_writes_nothing(exports, tmp_path, capsys):
    run = exports["conv-vae-bernoulli"][0]
    assert "run folder not found" in refused_in_process(capsys, tmp_path / "no-run", "--out", tmp_path / "a")
    assert "unknown --format 'tflite'" in refused_in_process(capsys, run, "--format", "tflite", "--out", tmp_path / "b")
    (tmp_path / "c").write_text("a file")
    assert "is a file" in refused_in_process(capsys, run, "--out", tmp_path / "c")
    assert "a part of the path is a file" in refused_in_process(capsys, run, "--out", tmp_path / "c" / "d")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"] and (tmp_path / "c").read_text() == "a file"


def test_a_failed_check_writes_nothing(exports, tmp_path, capsys, monkeypatch):
    run, folder, _ = exports["conv-vae-bernoulli"]
    reuse_traces(monkeypatch, folder)
    decode = Model.decode
    monkeypatch.setattr(Model, "decode", lambda self, z, y=None: decode(self, z, y) + 1e-3)  # PyTorch disagrees
    line = refused_in_process(capsys, run, "--out", tmp_path / "new" / "onnx")  # its folder is made, then removed
    assert "decoder's output mean differs from PyTorch by 0.001 (more than 1e-04)" in line
    assert "nothing was written" in line
    assert list(tmp_path.iterdir()) == []


def test_missing_onnxruntime_says_what_to_install(exports, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    line = refused_in_process(capsys, exports["conv-vae-bernoulli"][0], "--out", tmp_path / "onnx")
    assert "onnxruntime is not installed" in line and "pip install 'vaelab[export]'" in line
    assert list(tmp_path.iterdir()) == []


def test_molecule_runs_are_refused(tmp_path, capsys):
    """The GRU decoder is a loop over tokens: refused in one line, from the CLI and from Python."""
    config = RunConfig(data=DataConfig(name="smiles", path="mols.smi", representation="smiles", binarize="none"),
                       model=ModelConfig(arch="gru", likelihood="categorical", shape=(12,), latent_dim=4,
                                         hidden=(16,), vocab_size=8, embed_dim=8))
    run = tmp_path / "mol"
    run.mkdir()
    (run / "config.json").write_text(config.to_json())
    save_weights(VAE(config.model), run / "model.safetensors")
    before = snapshot(tmp_path)
    line = refused_in_process(capsys, run, "--out", tmp_path / "onnx")
    assert "sequence (molecule) runs cannot be exported" in line and "autoregressive" in line
    with pytest.raises(InputError, match="autoregressive"):
        export_onnx(vaelab.Run.open(run).model(), tmp_path / "onnx")
    assert snapshot(tmp_path) == before
