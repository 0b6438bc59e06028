"""Training throughput on one device: fp32 against bf16 autocast, eager against torch.compile.

    python -m bench.gpu [--models mlp,conv] [--batch-sizes 128,1024] [--epochs 3] [--json PATH]

For each model (the throughput benchmark's 784-400-20 MLP VAE; the `make demo` conv VAE, latent
32), batch size, precision and compile setting, vaelab's Trainer trains on MNIST's 50k training
images (kept on the device) for E epochs; images/second is the median over epochs 2..E (epoch 1
is warm-up, and pays the compiling). The floating-point work of one step (forward and backward,
counted by torch.utils.flop_counter on a real batch) times the steps per second gives the rate the
step achieves, set against the device's peak for dense matrix products in the same precision,
measured here with a large torch.mm (not a datasheet figure). Written for CUDA; `--device cpu`
runs the same on the CPU (slowly; useful to check the script).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from vaelab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaelab.data import load_splits
from vaelab.train.trainer import Trainer

from .report import command_line, write_json

MODELS = {
    "mlp": dict(arch="mlp", latent_dim=20, hidden=(400,)),
    "conv": dict(arch="conv", latent_dim=32),
}


def matmul_peak(device: torch.device, dtype: torch.dtype, size: int = 8192, reps: int = 20) -> float:
    """FLOP/s of a large square matrix product on this device: the practical peak."""
    if device.type == "cpu":
        size, reps = 2048, 5
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * size**3 * reps / (time.perf_counter() - start)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_flops(trainer: Trainer) -> int:
    """Floating-point operations of one training step's forward and backward, on a real batch."""
    cfg = trainer.config.train
    idx = torch.arange(cfg.batch_size, device=trainer.device)
    with FlopCounterMode(display=False) as counter:
        with torch.autocast(trainer.device.type, dtype=torch.bfloat16, enabled=trainer.autocast_bf16):
            terms = trainer.network(trainer._training_batch(idx), generator=trainer.generator)
        terms.loss.backward()
    trainer.optimizer.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def measure(splits, model: str, batch: int, precision: str, compiled: bool, epochs: int, device: str) -> dict:
    config = RunConfig(data=DataConfig(name="mnist"), model=ModelConfig(shape=(1, 28, 28), **MODELS[model]),
                       train=TrainConfig(epochs=epochs, batch_size=batch, precision=precision, compile=compiled,
                                         device=device))
    trainer = Trainer(config, splits, out=None, progress=False)
    flops = step_flops(trainer)
    rates = []
    for epoch in range(1, epochs + 1):
        result = trainer.train_epoch(epoch)
        rates.append(result["n"] / result["seconds"])
    img_s = statistics.median(rates[1:])
    return {"model": model, "batch_size": batch, "precision": precision, "compile": compiled, "img_s": img_s,
            "per_epoch_img_s": rates, "step_flops": flops, "achieved_flop_s": flops / batch * img_s}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.split("\n")[0])
    p.add_argument("--models", default="mlp,conv")
    p.add_argument("--batch-sizes", default="128,1024")
    p.add_argument("--epochs", type=int, default=3, help="epochs per setting, the first one warm-up (default 3)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile settings")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: the GPU figures stay pending (--device cpu runs the script on the CPU)")
    if args.epochs < 2:
        p.error("--epochs must be at least 2 (epoch 1 is warm-up)")
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else torch.backends.cpu.get_cpu_capability()
    command = command_line("bench.gpu", argv)
    print(f"torch {torch.__version__}, device {name}")
    print(f"command: {command}\n")
    peaks = {"fp32": matmul_peak(device, torch.float32), "bf16": matmul_peak(device, torch.bfloat16)}
    print("measured matrix-product peak: " + ", ".join(f"{k} {v / 1e12:.1f} TFLOP/s" for k, v in peaks.items()))
    splits = load_splits(DataConfig(name="mnist"))
    rows = []
    print(f"\n{'model':<5} {'batch':>6} {'precision':>9} {'compile':>8} {'img/s':>11} {'TFLOP/s':>8} {'of peak':>8}")
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        for batch in [int(b) for b in args.batch_sizes.split(",") if b.strip()]:
            for precision in ("fp32", "bf16"):
                for compiled in (False,) if args.no_compile else (False, True):
                    r = measure(splits, model, batch, precision, compiled, args.epochs, args.device)
                    r["fraction_of_peak"] = r["achieved_flop_s"] / peaks[precision]
                    rows.append(r)
                    print(f"{model:<5} {batch:>6} {precision:>9} {str(compiled):>8} {r['img_s']:>11,.0f} "
                          f"{r['achieved_flop_s'] / 1e12:>8.3f} {r['fraction_of_peak']:>8.1%}", flush=True)
    print(f"\ncommand: {command}")
    results = {"command": command, "torch": torch.__version__, "device": name, "epochs": args.epochs,
               "matmul_peak_flop_s": peaks, "rows": rows}
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
