"""Golden runs: small trainings whose weights, metrics, evaluation and pictures must not move.

Each case trains two epochs on a fixed subset of real MNIST (or the test molecules) on one CPU
thread with a fixed seed, then evaluates and draws. `observe(case, folder)` returns everything a
published figure depends on, in a JSON-able form: per-tensor SHA-256 (and sum, to say how far a
mismatch is) of the kept weights, every metrics.jsonl field but the timings, the evaluation's
numbers, and the SHA-256 of prior samples and reconstructions.

tests/golden/CASE.json holds what the code gave when the case was recorded; tests/test_golden.py
compares bit for bit. A deliberate change of a computation re-records with

    python tests/golden_cases.py --record [CASE ...]

and says so in its commit message.

The same code gives other last bits on another CPU (PyTorch's and MKL's kernels pick their vector
width from the CPU: an AVX-512 machine sums in other orders than the one first recorded on). So
a CPU whose results differ has its own recordings, made from the same commit, in
tests/golden/CAPABILITY/ (`--record --platform`), and a result must equal one recording bit for
bit: a changed computation matches none.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
MOLECULES = HERE / "data" / "molecules.smi"
TRAIN_N, VAL_N, TEST_N = 2000, 500, 200  # the MNIST subset: the first examples of each split
TIMINGS = ("seconds", "images_per_s")

# name -> the options of `vaelab train`, by their flag names (the MNIST subset unless "data" says
# otherwise; every case trains 2 epochs at batch 128, seed 0, on the CPU). The first two are the README's MLP and conv configurations; the others
# each exercise one branch of the objective or the data path.
CASES: dict[str, dict] = {
    "mnist-conv": dict(model="conv", latent_dim=32),
    "mnist-mlp": dict(model="mlp", hidden=(400,), latent_dim=20),
    "conv-res-dense": dict(model="conv", latent_dim=8, channels=(8, 16), dense=(32,), res_blocks=1),
    "tc-mws": dict(model="mlp", hidden=(64,), latent_dim=6, regularizer="tc", beta=4.0),
    "tc-mss": dict(model="mlp", hidden=(64,), latent_dim=6, regularizer="tc", beta=4.0, tc_estimator="mss"),
    "l2-ae": dict(model="mlp", hidden=(64,), latent_dim=6, regularizer="l2", lam=0.01),
    "plain-ae": dict(model="mlp", hidden=(64,), latent_dim=6, regularizer="none"),
    "free-bits-warmup-clip": dict(model="mlp", hidden=(64,), latent_dim=6, free_bits=0.5, kl_warmup=0.5,
                                  grad_clip=5.0, beta=2.0),
    "conditional": dict(model="mlp", hidden=(64,), latent_dim=4, conditional=True),
    "gaussian-pixel": dict(model="mlp", hidden=(64,), latent_dim=6, likelihood="gaussian-learned-pixel",
                           binarize="none"),
    "cbernoulli": dict(model="conv", latent_dim=6, channels=(8, 16), likelihood="cbernoulli", binarize="none"),
    "molecules-gru": dict(data="smiles", latent_dim=4, hidden=(16,), embed_dim=8, word_dropout=0.1,
                          kl_warmup=1.0, grad_clip=50.0, val_size=20),
}


def sha256(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().contiguous().cpu().numpy().tobytes()).hexdigest()


def _numbers(d: dict) -> dict:
    """The JSON-able, non-timing fields of a result dict (tensors and per-example lists dropped)."""
    return {k: v for k, v in d.items() if k not in TIMINGS and k != "run"
            and (v is None or isinstance(v, (int, float, str, bool)))}


def _mnist_subset():
    from vaelab.config import DataConfig
    from vaelab.data import Splits, load_splits

    s = load_splits(DataConfig(name="mnist"))
    return Splits(s.train[:TRAIN_N], s.val[:VAL_N], s.test[:TEST_N],
                  s.train_labels[:TRAIN_N], s.val_labels[:VAL_N], s.test_labels[:TEST_N], name="mnist")


def train_case(name: str, out: Path):
    """Train case `name` into the run folder `out` with the library as it is; return (model, splits)."""
    from vaelab.train.options import build
    from vaelab.train.trainer import train

    options = {"epochs": 2, "batch_size": 128, "seed": 0, "device": "cpu", **CASES[name]}
    if options.pop("data", "mnist") == "smiles":
        options.update(data=str(MOLECULES), repr="selfies", batch_size=32)
        config, splits = build(options)
    else:
        config, splits = build(options, _mnist_subset())
    return train(config, splits, out, progress=False), splits


def observe(name: str, out: Path) -> dict:
    """Train case `name` into `out` and return what must stay bit for bit the same."""
    from safetensors.torch import load_file

    from vaelab.data import presented
    from vaelab.metrics.likelihood import evaluate

    model, splits = train_case(name, out)
    config = model.config
    weights = load_file(str(out / "model.safetensors"))
    metrics = [{k: v for k, v in json.loads(line).items() if k not in TIMINGS}
               for line in (out / "metrics.jsonl").read_text().splitlines()]
    evaluation = _numbers(evaluate(model, splits, "test", iwae_k=20, n=100, seed=0))
    g = torch.Generator().manual_seed(0)
    x, y = splits.split("test")
    labels = y[:8] if config.model.num_classes else None
    record = {
        "weights": {k: {"sha256": sha256(v), "sum": float(v.double().sum()), "shape": list(v.shape)}
                    for k, v in sorted(weights.items())},
        "metrics": metrics,
        "evaluation": evaluation,
    }
    if not config.model.reads_tokens:
        record["samples_sha256"] = sha256(model.sample(8, 1.0, g, y=labels))
        record["reconstructions_sha256"] = sha256(model.reconstruct(presented(x[:8], config.data.binarize), labels))
    return record


def main(argv: list[str]) -> None:
    import tempfile

    sys.path.insert(0, str(HERE))
    from conftest import tiny_torch

    names = [a for a in argv if not a.startswith("-")] or list(CASES)
    if "--record" not in argv:
        raise SystemExit(f"usage: python {Path(__file__).name} --record [--platform] [CASE ...]; "
                         f"cases: {', '.join(CASES)}")
    folder = GOLDEN / platform() if "--platform" in argv else GOLDEN
    folder.mkdir(exist_ok=True)
    for name in names:
        with tempfile.TemporaryDirectory() as tmp, tiny_torch():
            record = observe(name, Path(tmp) / name)
        (folder / f"{name}.json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        print(f"recorded {name} in {folder}")


def platform() -> str:
    """The CPU's vector capability as PyTorch uses it ("avx512", "avx2", ...), with "-amd" on AMD's
    CPUs (MKL takes other paths there): what moves the last bits."""
    capability = torch.backends.cpu.get_cpu_capability().lower()
    try:
        amd = "AuthenticAMD" in Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: the capability alone
        amd = False
    return capability + ("-amd" if amd else "")


def recordings(name: str) -> list[tuple[str, dict]]:
    """(where, recording) of a case: this CPU's own first, then the first one, then other CPUs'."""
    paths = [GOLDEN / platform() / f"{name}.json", GOLDEN / f"{name}.json", *sorted(GOLDEN.glob(f"*/{name}.json"))]
    unique = list(dict.fromkeys(p for p in paths if p.is_file()))
    return [(str(p.relative_to(GOLDEN)), json.loads(p.read_text())) for p in unique]


if __name__ == "__main__":
    main(sys.argv[1:])
