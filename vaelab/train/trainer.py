"""The training loop: Adam, KL warm-up, clipping, a NaN guard, validation, best weights, resume.

It knows nothing of a model beyond `model(x, beta=, generator=) -> LossTerms`, and nothing of
the tools that will read the run folder it writes.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..config import RunConfig
from ..data.datasets import Splits, binarize_levels, byte_levels, presented
from ..errors import TrainingDiverged, VaelabError
from ..metrics.active_units import active_units
from ..models import VAE
from ..objectives import warmup_beta
from ..progress import progress_bar
from ..shard import batch_shard
from .checkpoint import atomic_write_text, load_checkpoint, load_weights, save_checkpoint, save_weights
from .distributed import SINGLE, Group, join, process_device
from .run import (CHECKPOINT, METRICS, STANDARDIZATION, VOCABULARY, WEIGHTS, discard_unfinished_run,
                  prepare_run_dir)

CHECK_EVERY = 50  # steps between host synchronisations (progress bar and NaN check)


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise VaelabError("--device cuda was asked for, but no CUDA device is available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def check_data_fits(config: RunConfig, data: Splits) -> None:
    """Refuse what would train on nonsense, before anything is written."""
    n = len(data.train)
    if config.train.batch_size > n:
        raise VaelabError(f"batch size {config.train.batch_size} is larger than the training set ({n} examples)")
    if tuple(config.model.shape) != data.shape:
        raise VaelabError(f"the model expects examples of shape {config.model.shape}, the data has {data.shape}")
    from ..registry import likelihoods

    if config.model.sequence and config.data.binarize != "none":
        raise VaelabError("a sequence model reads token ids, which are not binarized: use binarize none")
    if config.data.binarize == "dynamic" and len(data.train) and (data.train.min() < 0 or data.train.max() > 1):
        raise VaelabError("dynamic binarization draws pixels from probabilities in [0, 1], and this data has "
                          f"values in {float(data.train.min()):.3g}..{float(data.train.max()):.3g}; "
                          "use --binarize none (tables: with --likelihood gaussian-learned)")
    if likelihoods.get(config.model.likelihood).needs_binary_data and config.data.binarize != "dynamic":
        if not config.data.allow_grey_bernoulli and not data.is_binary():
            raise VaelabError(
                "a Bernoulli likelihood on grey-level pixels is not a likelihood; use --binarize dynamic, "
                "--likelihood cbernoulli or gaussian, or --allow-grey-bernoulli if you mean it")
    if config.data.contrast != "none" and not config.model.likelihood.startswith("gaussian"):
        raise VaelabError(f"--contrast {config.data.contrast} takes pixels out of [0, 1], which a "
                          f"{config.model.likelihood} likelihood cannot model: use a Gaussian likelihood")
    classes = config.model.classes
    if classes:
        for split in ("train", "val"):
            x, y = data.split(split)
            if y is None and len(x):
                raise VaelabError(f"a conditional VAE needs labels, and this data's {split} split has none")
            if y is not None and len(y) and (int(y.min()) < 0 or int(y.max()) >= classes):
                raise VaelabError(f"a conditional VAE with {classes} classes needs labels 0..{classes - 1}; "
                                  f"the {split} split has {int(y.min())}..{int(y.max())}")


# Adam moves every weight by about lr per step whatever the scale of its gradient, and a learned
# log-variance of the likelihood has far to go (from 0 to about -5 for grey MNIST digits): at lr
# 1e-3 that takes thousands of steps, and until then the decoder counts as much noisier than it
# is, which weighs the KL term up and can collapse the posterior (a VAE trained on one MNIST digit,
# 760 steps: no active unit until epoch 18 of 20). So the likelihood's own parameters step faster.
NOISE_LR_SCALE = 30


def parameter_groups(model: VAE, lr: float) -> list[dict]:
    """Adam's parameter groups: the networks at lr, learned likelihood noise at NOISE_LR_SCALE x lr."""
    noise = list(model.likelihood.parameters())
    if not noise:
        return [{"params": list(model.parameters())}]
    ids = {id(p) for p in noise}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return [{"params": rest}, {"params": noise, "lr": lr * NOISE_LR_SCALE}]


def shard_of(group: Group, n: int) -> tuple[int, int, float]:
    """Rows start:stop of an n-row batch this process computes, and their share of the batch.

    A process whose share is empty (fewer rows than processes) computes the last row with share 0:
    it must still take part in the step's collectives and draw what the others draw."""
    start, stop = group.rows(n)
    return (start, stop, (stop - start) / n) if stop > start else (n - 1, n, 0.0)


@torch.no_grad()
def validation_loss(model: VAE, x: Tensor, config: RunConfig, batch_size: int = 1000,
                    cond: Tensor | None = None, group: Group = SINGLE) -> dict[str, float]:
    """Negative ELBO on held-out data, one posterior sample from a fixed seed, so epochs compare.

    With several processes each computes its shard of every batch; the sums are reduced."""
    model.eval()
    g = torch.Generator(device=x.device).manual_seed(config.train.seed + 1)
    totals = torch.zeros(3, dtype=torch.float64, device=x.device)
    mus = torch.zeros(len(x), config.model.latent_dim, device=x.device)  # rows of other processes stay 0
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        start, stop, share = shard_of(group, len(xb))
        with batch_shard(start, stop, len(xb)):
            t = model(xb[start:stop], generator=g, cond=cond[i + start:i + stop] if cond is not None else None)
        totals += torch.stack([t.loss, t.recon, t.reg]).double() * (share * len(xb))
        if share:
            mus[i + start:i + stop] = t.mu
    model.train()
    loss, recon, reg = (group.sum(totals) / len(x)).tolist()
    record = {"val_loss": loss, "val_recon": recon, "val_reg": reg}
    if config.model.stochastic and len(x) > 1:
        record["val_active_units"] = active_units(group.sum(mus))
    return record


class Trainer:
    """One training run. Under torchrun (or `vaelab train --nproc N`) every process builds one; they
    join the process group from the environment, or the `group` given, and only rank 0 writes."""

    def __init__(self, config: RunConfig, data: Splits, out: str | Path | None, *,
                 resume: bool = False, progress: bool = True, log=None, group: Group | None = None):
        check_data_fits(config, data)
        device = pick_device(config.train.device)
        self.group = join(device) if group is None else group
        self.device = process_device(device, self.group)
        self.config, self.data = config, data
        self.progress = progress and self.group.main
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        if not self.group.main:
            self.log = lambda msg: None
        self.creates_run_dir = self.group.main and out is not None and not resume and not Path(out).exists()
        self.out = self._prepare_run_dir(out, resume)

        torch.manual_seed(config.train.seed)  # weight initialisation
        self.model = VAE(config.model).to(self.device)
        self.model.dataset_size = len(data.train)
        fused = self.device.type in ("cpu", "cuda")
        self.optimizer = torch.optim.Adam(parameter_groups(self.model, config.train.lr), lr=config.train.lr,
                                          fused=fused)
        self.generator = torch.Generator(device=self.device).manual_seed(config.train.seed)
        self.x_train = data.train.to(self.device)
        # Dynamic binarization from uint8 levels where the data allow it: a quarter of the random
        # numbers of the float path and a quarter of the bytes gathered per batch.
        self.train_levels = byte_levels(self.x_train) if config.data.binarize == "dynamic" else None
        self.x_val = presented(data.val.to(self.device), config.data.binarize)
        # A conditional model's one-hot labels, made once (checked above), so a step never syncs to check them.
        conditional = config.model.classes > 0
        self.c_train = self.model.condition(data.train_labels) if conditional else None
        self.c_val = self.model.condition(data.val_labels) if conditional and len(data.val) else None
        self.state: dict[str, Any] = {"epoch": 0, "step": 0, "best_val": None, "best_epoch": None}
        self.best_state: dict[str, Tensor] | None = None  # the kept weights, once this process has seen them
        if resume:
            self.state = load_checkpoint(self.out / CHECKPOINT, self.model, self.optimizer, self.generator)
            if self.group.main:
                self._trim_metrics()
        self.step_model = self._step_model()

    def _prepare_run_dir(self, out: str | Path | None, resume: bool) -> Path | None:
        """Rank 0 checks and writes the run folder; every process learns whether that worked."""
        if out is None:
            return None
        problem = None
        if self.group.main:
            try:
                prepare_run_dir(out, self.config, resume)
                data = self.data
                if data.standardization is not None and not resume:
                    # a table's column statistics: what new rows must be scaled by before the model sees them
                    atomic_write_text(Path(out) / STANDARDIZATION, json.dumps(data.standardization, indent=2) + "\n")
                if data.vocabulary is not None and not resume:
                    atomic_write_text(Path(out) / VOCABULARY, data.vocabulary)  # token ids mean nothing without it
            except VaelabError as e:
                problem = e
        if not self.group.all_ok(problem is None, self.device):
            raise problem or VaelabError("stopped: the first training process could not prepare the run folder")
        return Path(out)

    def _step_model(self) -> torch.nn.Module:
        """What the training step calls: the model, wrapped for gradient averaging and compiled as asked.

        Built after a resume has loaded the checkpoint, so every process starts from the same weights."""
        step_model: torch.nn.Module = self.model
        if self.group.distributed:
            from torch.nn.parallel import DistributedDataParallel

            # Not static_graph=True: with it, torch 2.13's DDP silently skips averaging the gradients
            # of a model whose output is a dataclass (LossTerms); tests/test_distributed.py checks.
            # gradient_as_bucket_view: gradients live in DDP's communication buckets, saving a copy per step
            step_model = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                gradient_as_bucket_view=True)
        if self.config.train.compile:
            step_model = torch.compile(step_model)
        return step_model

    @property
    def autocast_bf16(self) -> bool:
        precision = self.config.train.precision
        return precision == "bf16" or (precision == "auto" and self.device.type == "cuda")

    # --- bookkeeping ---------------------------------------------------------------------------
    def _trim_metrics(self) -> None:
        """Drop metric lines of epochs the checkpoint does not hold (killed between the two writes)."""
        path = self.out / METRICS
        if path.exists():
            lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
            kept = [ln for ln in lines if json.loads(ln)["epoch"] <= self.state["epoch"]]
            atomic_write_text(path, "".join(ln + "\n" for ln in kept))

    @torch.no_grad()
    def _flush_subnormal_moments(self) -> None:
        """Zero Adam moments that have decayed into float32's subnormal range.

        Pixels that are almost never on get zero gradients, so their moments shrink by 0.9 per
        step until they are subnormal, where CPU arithmetic is many times slower (on MNIST, 18%
        of the first layer's moments after 4 epochs, costing a fifth of the throughput). Next to
        Adam's eps = 1e-8 they move a weight by under 1e-30, so flushing them changes nothing visible.
        """
        if self.device.type != "cpu":
            return
        tiny = torch.finfo(torch.float32).tiny
        for slots in self.optimizer.state.values():
            for name in ("exp_avg", "exp_avg_sq"):
                moment = slots.get(name)
                if moment is not None:
                    moment.masked_fill_(moment.abs() < tiny, 0.0)

    def _weights_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.model.parameters())

    def _diverged(self, losses: Tensor, first_step: int, epoch: int) -> None:
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            step = first_step + int(bad[0])
            value = float(losses[int(bad[0])])
            kept = f"the checkpoint of epoch {self.state['epoch']} is kept" if self.state["epoch"] else "nothing was saved"
            raise TrainingDiverged(
                f"loss became {value} at epoch {epoch}, step {step + 1} (global step "
                f"{self.state['step'] + step + 1}); {kept}. Try a lower --lr, --grad-clip 10 or --kl-warmup")

    def _training_batch(self, idx: Tensor) -> Tensor:
        if self.train_levels is not None:
            return binarize_levels(self.train_levels.index_select(0, idx), self.generator)
        return presented(self.x_train.index_select(0, idx), self.config.data.binarize, self.generator)

    # --- the loop ------------------------------------------------------------------------------
    def fit(self) -> VAE:
        """Train up to `config.train.epochs`, validating, checkpointing and logging after each epoch.

        Returns the model with the kept weights (the best validation epoch's), the same weights the
        run folder's model.safetensors holds, so a caller measures what `vaelab.load` would give."""
        if self.state["epoch"] >= self.config.train.epochs:
            self.log(f"run already has {self.state['epoch']} epochs (asked for {self.config.train.epochs}); "
                     "nothing to do")
        for epoch in range(self.state["epoch"] + 1, self.config.train.epochs + 1):
            self._end_epoch(epoch, self.train_epoch(epoch))
        self._restore_kept_weights()
        return self.model

    def _restore_kept_weights(self) -> None:
        if self.state["best_epoch"] in (None, self.state["epoch"]):
            return  # the last epoch is the kept one (or nothing was kept): the model already holds it
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        elif self.out is not None:  # resumed after the best epoch: the run folder holds it
            load_weights(self.model, self.out / WEIGHTS)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the shuffled training set. Returns the epoch's mean loss terms and its seconds."""
        cfg = self.config.train
        n = len(self.x_train)
        steps = math.ceil(n / cfg.batch_size)
        warmup_steps = int(round(cfg.kl_warmup * steps))
        self.model.train()
        # Per step: this process's loss, recon, reg (batch means of its rows) and its rows' count.
        # Weighted by the counts and summed over processes, they give the global batch's means.
        terms_log = torch.zeros(steps, 3, device=self.device)  # read rarely: only at checks
        rows = [cfg.batch_size] * (steps - 1) + [n - (steps - 1) * cfg.batch_size]  # each global batch's
        shards = [shard_of(self.group, size) for size in rows]  # (first, stop, share) of this process, per step
        sizes = torch.tensor([[share * size] for (_, _, share), size in zip(shards, rows)], device=self.device)
        batch_sizes = torch.tensor(rows, dtype=torch.float32)
        perm = torch.randperm(n, generator=self.generator, device=self.device)  # the same in every process
        bar = progress_bar(steps, f"epoch {epoch}/{cfg.epochs}", self.progress, unit="batch")
        start, checked, beta = time.perf_counter(), 0, 0.0
        for i in range(steps):
            first, stop, share = shards[i]
            idx = perm[i * cfg.batch_size + first:i * cfg.batch_size + stop]
            cond = self.c_train.index_select(0, idx) if self.c_train is not None else None
            beta = warmup_beta(self.config.model.beta, self.state["step"] + i, warmup_steps)
            with batch_shard(first, stop, rows[i]), \
                    torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast_bf16):
                x = self._training_batch(idx)
                terms = self.step_model(x, beta=beta, generator=self.generator, cond=cond)
            self.optimizer.zero_grad(set_to_none=True)
            # DDP averages gradients over processes; weighting each by its share of the batch (times
            # the world size) makes that average the gradient of the whole batch's mean loss.
            weight = share * self.group.world
            (terms.loss if weight == 1 else terms.loss * weight).backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip, foreach=True)
            self.optimizer.step()
            terms_log[i] = torch.stack([terms.loss, terms.recon, terms.reg]).detach().float()
            if (i + 1) % CHECK_EVERY == 0 or i + 1 == steps:  # the only host synchronisation
                window = self.group.sum(terms_log[checked:i + 1, :1] * sizes[checked:i + 1]).cpu()[:, 0]
                losses = window / batch_sizes[checked:i + 1]
                self._diverged(losses, checked, epoch)
                self._flush_subnormal_moments()
                bar.update(i + 1 - checked)
                seen = min(n, (i + 1) * cfg.batch_size)
                bar.set_postfix(loss=f"{float(losses[-1]):.2f}",
                                img_s=f"{seen / (time.perf_counter() - start):.0f}", refresh=False)
                checked = i + 1
        seconds = time.perf_counter() - start
        bar.close()
        self.state["step"] += steps
        loss, recon, reg = (self.group.sum((terms_log * sizes).sum(0)) / n).tolist()
        return {"loss": loss, "recon": recon, "reg": reg, "seconds": seconds, "beta": beta, "n": n}

    def _end_epoch(self, epoch: int, result: dict[str, float]) -> None:
        if not self._weights_finite():
            raise TrainingDiverged(f"weights became non-finite in epoch {epoch}; "
                                   f"the checkpoint of epoch {self.state['epoch']} is kept. Try a lower --lr")
        record = {"epoch": epoch, "step": self.state["step"], "train_loss": result["loss"],
                  "train_recon": result["recon"], "train_reg": result["reg"], "beta": result["beta"],
                  "seconds": round(result["seconds"], 3), "images_per_s": round(result["n"] / result["seconds"], 1),
                  "processes": self.group.world}
        best = False
        if len(self.x_val):
            record.update(validation_loss(self.model, self.x_val, self.config, cond=self.c_val, group=self.group))
            best = self.state["best_val"] is None or record["val_loss"] < self.state["best_val"]
        else:
            best = True  # no validation split: keep the latest weights
        self.state["epoch"] = epoch
        if best:
            self.state["best_val"], self.state["best_epoch"] = record.get("val_loss"), epoch
            self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        record["best"] = best
        if self.out is not None and self.group.main:
            if best:
                save_weights(self.model, self.out / WEIGHTS, metadata={"epoch": str(epoch)})
            save_checkpoint(self.out / CHECKPOINT, self.model, self.optimizer, self.generator, self.state)
            with open(self.out / METRICS, "a") as f:
                f.write(json.dumps(record) + "\n")
        val = f"  val {record['val_loss']:.2f}" if "val_loss" in record else ""
        if "val_active_units" in record:
            val += f"  active {record['val_active_units']}/{self.config.model.latent_dim}"
        self.log(f"epoch {epoch}/{self.config.train.epochs}  train {result['loss']:.2f} (recon {result['recon']:.2f}, "
                 f"reg {result['reg']:.2f}){val}  {result['seconds']:.1f}s  {record['images_per_s']:.0f} img/s"
                 + ("  *best" if best else ""))




def fit(config: RunConfig, data: Splits, out: str | Path | None = None, *, resume: bool = False,
        progress: bool = True) -> VAE:
    """Train a model on in-memory splits; with `out`, write a run folder (config, weights, metrics)."""
    trainer = Trainer(config, data, out, resume=resume, progress=progress)  # bad input raises before any write
    try:
        return trainer.fit()
    except BaseException:
        if trainer.creates_run_dir:
            discard_unfinished_run(out)  # a run that never finished an epoch leaves no folder behind
        raise
