"""Training throughput of vaelab against a plain PyTorch loop, and against this machine's matmul ceiling.

    python -m bench.throughput [--epochs 50] [--threads 2] [--quick] [--json PATH]

What it measures
----------------
The same model, a 784-400-20 MLP VAE (ReLU, Bernoulli pixels, dynamic binarization, batch 128,
Adam lr 1e-3) on the 50k MNIST training images, is trained twice in one process on the same
threads, alternating epochs (reference epoch k, then vaelab epoch k) so that anything else
loading the machine hits both alike:

* reference: a loop written the way the official PyTorch VAE example (pytorch/examples vae/main.py)
  is: a `DataLoader` over a `TensorDataset`, `torch.bernoulli` per batch, sigmoid decoder with
  summed `F.binary_cross_entropy` + closed-form KL, `loss.item()` every step;
* vaelab: `Trainer.train_epoch`.

Only training is timed. After every epoch both models are scored with the same function on the
fixed binarized MNIST test set: the negative ELBO in nats, from one posterior sample per image
drawn with the same fixed noise for both models. The per-epoch table lets the reader check that
both reach the same losses (within noise), so the speed is not bought with a different objective.

Images/second is the median over epochs 2..E of (50,000 / the epoch's training seconds); epoch 1
is left out as warm-up and the median resists other processes briefly taking a core. "Seconds to
test -ELBO <= 100" is the cumulative training time (epoch 1 included) up to the first epoch whose
test score is at or below 100 nats.

The ceiling: every matrix product of one training step (forward, and in backward the grad-input
and grad-weight products of each layer except the first layer's grad-input, which nothing needs),
with vaelab's layer shapes and the operand layouts autograd uses for `nn.Linear`, is timed alone
with `torch.mm` in a loop after warm-up (best of several repeats). Their sum is the time one step
would take if it did nothing but matrix products; 128 images / that time is the ceiling.

On a shared machine the figures are only as good as the machine is quiet: with 2 torch threads on
2 cores, every parallel region stalls while another process holds one core. So the benchmark also
reports the share of the cores that *other* processes used during each epoch pair and the whole run
(from /proc/stat, Linux only); trust the figures when it is near 0.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from vaelab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaelab.data import fixed_binarization, load_splits
from vaelab.train.trainer import Trainer

from .report import command_line, write_json

PIXELS, HIDDEN, LATENT, BATCH, LR = 784, 400, 20, 128, 1e-3
TARGET_NATS = 100.0


# --- the reference, in the style of pytorch/examples vae/main.py ------------------------------
class ReferenceVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(PIXELS, HIDDEN)
        self.fc21 = nn.Linear(HIDDEN, LATENT)
        self.fc22 = nn.Linear(HIDDEN, LATENT)
        self.fc3 = nn.Linear(LATENT, HIDDEN)
        self.fc4 = nn.Linear(HIDDEN, PIXELS)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode_logits(self, z):  # split out of decode() only so the shared evaluation can use logits
        h3 = F.relu(self.fc3(z))
        return self.fc4(h3)

    def decode(self, z):
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, PIXELS))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def reference_loss(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x.view(-1, PIXELS), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def reference_epoch(model, optimizer, train_loader) -> float:
    """One pass as the example writes it; returns the mean negative ELBO per image (nats)."""
    model.train()
    train_loss = 0.0
    for data, _ in train_loader:
        data = torch.bernoulli(data)  # dynamic binarization, as vaelab trains
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = reference_loss(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
    return train_loss / len(train_loader.dataset)


# --- one evaluation for both models ----------------------------------------------------------
@torch.no_grad()
def test_nelbo(encode, decode_logits, x: torch.Tensor, eps: torch.Tensor, chunk: int = 1000) -> float:
    """Mean negative ELBO (nats) of flat binary images x, with z = mu + sigma * eps (eps fixed)."""
    total = 0.0
    for i in range(0, len(x), chunk):
        xb, e = x[i:i + chunk], eps[i:i + chunk]
        mu, logvar = encode(xb)
        logits = decode_logits(mu + torch.exp(0.5 * logvar) * e)
        recon = F.binary_cross_entropy_with_logits(logits, xb, reduction="sum")
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum()
        total += float(recon + kl)
    return total / len(x)


# --- how busy the rest of the machine was ---------------------------------------------------
def cpu_counters() -> tuple[float, float, float] | None:
    """(CPU seconds all processes used, CPU seconds this process and its finished children used, wall
    seconds), or None off Linux."""
    try:
        with open("/proc/stat") as f:
            user, nice, system, _idle, _iowait, irq, softirq = map(int, f.readline().split()[1:8])
    except (OSError, ValueError):
        return None
    t = os.times()
    ours = t.user + t.system + t.children_user + t.children_system
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK"), ours, time.perf_counter()


def others_share(before, after) -> float | None:
    """Share of all cores that other processes used between two cpu_counters() readings."""
    if before is None or after is None or after[2] <= before[2]:
        return None
    others = (after[0] - before[0]) - (after[1] - before[1])
    return max(0.0, others / ((os.cpu_count() or 1) * (after[2] - before[2])))


def pct(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.0f}%"


# --- the matrix-product ceiling --------------------------------------------------------------
def step_products(batch: int) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, a, b) for every a @ b of one step, in the layouts autograd uses for nn.Linear:
    forward x @ W.t(), grad-input g @ W, grad-weight g.t() @ x, with W stored (out, in)."""
    layers = [(PIXELS, HIDDEN), (HIDDEN, 2 * LATENT), (LATENT, HIDDEN), (HIDDEN, PIXELS)]  # vaelab's: mu|logvar as one 400->40
    products = []
    for i, (fin, fout) in enumerate(layers):
        x, w, g = torch.rand(batch, fin), torch.rand(fout, fin), torch.rand(batch, fout)
        products.append((f"forward      {fin:>3}->{fout:<3}", x, w.t()))
        if i > 0:  # the first layer's input is data: autograd computes no gradient for it
            products.append((f"grad-input   {fin:>3}->{fout:<3}", g, w))
        products.append((f"grad-weight  {fin:>3}->{fout:<3}", g.t(), x))
    return products


def time_products(batch: int, reps: int = 50, repeats: int = 10) -> list[dict]:
    """Seconds per product: the best of `repeats` loops of `reps` calls each. The repeats go round all
    the products in turn, so that a burst of other work on the machine spoils one repeat of each,
    not every repeat of one; the best is kept because a ceiling should not include others' time."""
    products = [(name, a, b, torch.empty(a.shape[0], b.shape[1])) for name, a, b in step_products(batch)]
    for _, a, b, out in products:  # out= preallocated: time the product, not the allocator
        for _ in range(20):
            torch.mm(a, b, out=out)
    best = [float("inf")] * len(products)
    for _ in range(repeats):
        for j, (_, a, b, out) in enumerate(products):
            start = time.perf_counter()
            for _ in range(reps):
                torch.mm(a, b, out=out)
            best[j] = min(best[j], (time.perf_counter() - start) / reps)
    rows = []
    for (name, a, b, _), seconds in zip(products, best):
        flops = 2 * a.shape[0] * a.shape[1] * b.shape[1]
        rows.append({"product": name.strip(), "m_k_n": [a.shape[0], a.shape[1], b.shape[1]],
                     "flops": flops, "seconds": seconds, "gflop_s": flops / seconds / 1e9})
    return rows


# --- the run ---------------------------------------------------------------------------------
def seconds_to_target(rows: list[dict], who: str) -> float | None:
    """Cumulative training seconds up to the first epoch whose test -ELBO is <= TARGET_NATS."""
    elapsed = 0.0
    for r in rows:
        elapsed += r[f"{who}_seconds"]
        if r[f"{who}_test"] <= TARGET_NATS:
            return elapsed
    return None


def train_alternating(splits, epochs: int, seed: int) -> list[dict]:
    """Reference epoch k, then vaelab epoch k, each timed alone, then both scored on the test set."""
    x_test = fixed_binarization(splits.test).view(-1, PIXELS)
    eps = torch.randn(len(x_test), LATENT, generator=torch.Generator().manual_seed(seed + 1))
    torch.manual_seed(seed)
    ref = ReferenceVAE()
    ref_opt = torch.optim.Adam(ref.parameters(), lr=LR)
    loader = DataLoader(TensorDataset(splits.train.view(-1, PIXELS), splits.train_labels),
                        batch_size=BATCH, shuffle=True)
    model = ModelConfig(arch="mlp", shape=(1, 28, 28), latent_dim=LATENT, hidden=(HIDDEN,), likelihood="bernoulli")
    trainer = Trainer(RunConfig(data=DataConfig(name="mnist"), model=model,
                                train=TrainConfig(epochs=epochs, batch_size=BATCH, lr=LR, seed=seed)),
                      splits, out=None, progress=False)
    vae = trainer.network

    def vae_encode(xb):
        qz = vae.posterior(xb.view(-1, 1, 28, 28))
        return qz.mu, qz.logvar

    n, rows = len(splits.train), []
    print(f"{'epoch':>5}  {'train -ELBO':>17}  {'test -ELBO':>17}  {'img/s':>17}  {'others':>6}")
    print(f"{'':>5}  {'ref':>8} {'vaelab':>8}  {'ref':>8} {'vaelab':>8}  {'ref':>8} {'vaelab':>8}  {'busy':>6}")
    for epoch in range(1, epochs + 1):
        before = cpu_counters()
        start = time.perf_counter()
        ref_loss = reference_epoch(ref, ref_opt, loader)
        ref_s = time.perf_counter() - start
        start = time.perf_counter()
        vae_loss = trainer.train_epoch(epoch)["loss"]
        vae_s = time.perf_counter() - start
        busy = others_share(before, cpu_counters())  # read before evaluating, which is not timed
        vae.eval()
        rows.append({"epoch": epoch, "ref_train": ref_loss, "vaelab_train": vae_loss,
                     "ref_test": test_nelbo(ref.encode, ref.decode_logits, x_test, eps),
                     "vaelab_test": test_nelbo(vae_encode, lambda z: vae.decoder(z).flatten(1), x_test, eps),
                     "ref_seconds": ref_s, "vaelab_seconds": vae_s, "others_busy": busy})
        vae.train()
        r = rows[-1]
        print(f"{epoch:>5}  {ref_loss:8.2f} {vae_loss:8.2f}  {r['ref_test']:8.2f} {r['vaelab_test']:8.2f}  "
              f"{n / ref_s:8,.0f} {n / vae_s:8,.0f}  {pct(busy):>6}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=50, help="epochs of each (default 50)")
    p.add_argument("--threads", type=int, default=2, help="torch threads for both (default 2)")
    p.add_argument("--quick", action="store_true", help="2-epoch smoke run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", help="also write the results here as JSON")
    args = p.parse_args(argv)
    epochs = 2 if args.quick else args.epochs
    if epochs < 2:
        p.error("--epochs must be at least 2 (epoch 1 is warm-up)")
    command = command_line("bench.throughput", argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU {torch.backends.cpu.get_cpu_capability()}")
    print(f"command: {command}\n")
    splits = load_splits(DataConfig(name="mnist"))

    run_start = cpu_counters()
    products = time_products(BATCH)
    ceiling_others = others_share(run_start, cpu_counters())
    step_flops, step_seconds = sum(r["flops"] for r in products), sum(r["seconds"] for r in products)
    ceiling = BATCH / step_seconds
    print(f"matrix products of one training step (batch {BATCH}), each timed alone with torch.mm:")
    for r in products:
        print(f"  {r['product']:<26} {r['seconds'] * 1e6:8.1f} us  {r['gflop_s']:6.1f} GFLOP/s")
    print(f"  total {step_flops / 1e6:.1f} MFLOP in {step_seconds * 1e3:.3f} ms = "
          f"{step_flops / step_seconds / 1e9:.1f} GFLOP/s -> ceiling {ceiling:,.0f} img/s "
          f"(other processes used {pct(ceiling_others)} of the cores meanwhile)\n")

    rows = train_alternating(splits, epochs, args.seed)
    run_others = others_share(run_start, cpu_counters())
    n, timed = len(splits.train), rows[1:]  # epoch 1 is warm-up
    ref_rate = statistics.median(n / r["ref_seconds"] for r in timed)
    vae_rate = statistics.median(n / r["vaelab_seconds"] for r in timed)
    ratio, fraction = vae_rate / ref_rate, vae_rate / ceiling
    ref_to, vae_to = seconds_to_target(rows, "ref"), seconds_to_target(rows, "vaelab")
    diffs = [r["vaelab_test"] - r["ref_test"] for r in rows]

    def to(s):
        return f"{s:.1f} s" if s is not None else f"not reached in {epochs} epochs"

    def met(ok):
        return "met" if ok else "NOT met"

    print(f"\nimages/second: median over epochs 2..{epochs} of training time only, {args.threads} threads")
    print(f"reference (DataLoader, pytorch/examples style): {ref_rate:>8,.0f} img/s")
    print(f"vaelab:                                         {vae_rate:>8,.0f} img/s   ratio {ratio:.2f}x "
          f"(target >= 2: {met(ratio >= 2)})")
    print(f"matrix-product ceiling:                         {ceiling:>8,.0f} img/s   vaelab at {fraction:.2f} of it "
          f"(target >= 0.7: {met(fraction >= 0.7)})")
    print(f"seconds to test -ELBO <= {TARGET_NATS:.0f}: reference {to(ref_to)}, vaelab {to(vae_to)}")
    print(f"test -ELBO, vaelab minus reference, per epoch: mean {statistics.mean(diffs):+.2f}, "
          f"largest {max(diffs, key=abs):+.2f} nats; final {rows[-1]['ref_test']:.2f} vs {rows[-1]['vaelab_test']:.2f}")
    print(f"other processes used {pct(run_others)} of the cores during the run (trust the figures near 0%)")
    print(f"command: {command}")

    results = {
        "command": command, "argv": sys.argv, "torch": torch.__version__, "threads": args.threads,
        "epochs": epochs, "batch_size": BATCH, "rate_statistic": f"median of epochs 2..{epochs}",
        "reference_img_s": ref_rate, "vaelab_img_s": vae_rate, "ratio": ratio,
        "reference_img_s_overall": n * len(timed) / sum(r["ref_seconds"] for r in timed),
        "vaelab_img_s_overall": n * len(timed) / sum(r["vaelab_seconds"] for r in timed),
        "ceiling_img_s": ceiling, "vaelab_fraction_of_ceiling": fraction, "step_flops": step_flops,
        "step_matmul_seconds": step_seconds, "matmul_gflop_s": step_flops / step_seconds / 1e9, "products": products,
        "target_nats": TARGET_NATS, "reference_seconds_to_target": ref_to, "vaelab_seconds_to_target": vae_to,
        "others_busy_ceiling": ceiling_others, "others_busy_run": run_others, "per_epoch": rows,
    }
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
