"""The training loop: Adam, KL warm-up, clipping, a NaN guard, validation, best weights, resume.

It knows nothing of a network beyond `network(x, beta=, generator=, cond=, dataset_size=) ->
LossTerms`, and nothing of the tools that will read the run folder it writes (through `Run`).
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..config import RunConfig
from ..data import Splits, binarize_levels, byte_levels, presented
from ..data.values import summarize
from ..errors import ResourceError, TrainingDiverged, VaelabError, excerpt
from ..model import Model
from ..models import VAE, build_network
from ..objectives import warmup_beta
from ..progress import progress_bar
from ..run import Run, unfinished
from ..shard import batch_shard
from .callbacks import Callback, TrainingView
from .checks import check_data_fits, pick_device
from .distributed import Group, join, process_device
from .options import COURSE, describe_likelihood
from .validation import validation_loss

CHECK_EVERY = 50  # steps between host synchronisations (progress bar and NaN check)


# Adam moves every weight by about lr per step whatever the scale of its gradient, and a learned
# log-variance of the likelihood has far to go (from 0 to about -5 for grey MNIST digits): at lr
# 1e-3 that takes thousands of steps, and until then the decoder counts as much noisier than it
# is, which weighs the KL term up and can collapse the posterior (docs/design-notes.md has a case).
# So the likelihood's own parameters step faster.
NOISE_LR_SCALE = 30


def parameter_groups(model: VAE, lr: float) -> list[dict]:
    """Adam's parameter groups: the networks at lr, learned likelihood noise at NOISE_LR_SCALE x lr."""
    noise = list(model.likelihood.parameters())
    if not noise:
        return [{"params": list(model.parameters())}]
    ids = {id(p) for p in noise}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return [{"params": rest}, {"params": noise, "lr": lr * NOISE_LR_SCALE}]


class Trainer:
    """One training run. Under torchrun (or `vaelab train --nproc N`) every process builds one; they
    join the process group from the environment, or the `group` given, and only rank 0 writes."""

    def __init__(self, config: RunConfig, data: Splits, out: str | Path | None, *,
                 resume: bool = False, progress: bool = True, log=None, group: Group | None = None,
                 callbacks: list[Callback] | tuple[Callback, ...] = ()):
        check_data_fits(config, data)
        device = pick_device(config.train.device)
        self.group = join(device) if group is None else group
        self.device = process_device(device, self.group)
        self.config, self.data = config, data
        self.progress = progress and self.group.main
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.callbacks = list(callbacks) if self.group.main else []  # only the first process reports
        if not self.group.main:
            self.log = lambda msg: None
        torch.manual_seed(config.train.seed)  # weight initialisation
        # before any write: a config it cannot build (or that is too large) writes nothing
        self.network = build_network(config.model).to(self.device)
        # a folder that goes again if training fails before its first epoch: a new one, or one a run left unfinished
        self.creates_run_dir = self.group.main and out is not None and (not Path(out).exists() or unfinished(out))
        self.run = self._prepare_run(out, resume)
        try:
            self._set_up(data, resume=self.run is not None and self.run.has_checkpoint)
        except BaseException:  # nothing half-made: the new folder goes, a resumed one is unlocked
            if self.run is not None:
                if self.creates_run_dir:
                    self.run.discard_if_unfinished()
                self.run.release()
            raise

    def _set_up(self, data: Splits, resume: bool) -> None:
        """The optimiser, the data on the device and, resuming, the checkpoint's state."""
        config = self.config
        fused = self.device.type in ("cpu", "cuda")
        self.optimizer = torch.optim.Adam(parameter_groups(self.network, config.train.lr), lr=config.train.lr,
                                          fused=fused)
        self.generator = torch.Generator(device=self.device).manual_seed(config.train.seed)
        self.x_train = data.train.to(self.device)  # uint8 levels where the data hold them: converted per batch
        # Dynamic binarization from uint8 levels where the data allow it: a quarter of the random
        # numbers of the float path and a quarter of the bytes gathered per batch.
        self.train_levels = byte_levels(self.x_train) if config.data.binarize == "dynamic" else None
        self.x_val = presented(data.as_values(data.val.to(self.device)), config.data.binarize)
        # A conditional model's one-hot labels, made once (checked above), so a step never syncs to check them.
        one_hot = lambda y: self.network.one_hot(y.to(self.device))  # noqa: E731
        self.c_train = one_hot(data.train_labels) if config.model.conditional else None
        self.c_val = one_hot(data.val_labels) if config.model.conditional and len(data.val) else None
        self.state: dict[str, Any] = {"epoch": 0, "step": 0, "best_val": None, "best_epoch": None}
        self.best_state: dict[str, Tensor] | None = None  # the kept weights, once this process has seen them
        self.course_change: dict[str, Any] | None = None  # resumed with another lr, clip or warm-up
        if resume:
            self.state = self.run.load_checkpoint(self.network, self.optimizer, self.generator)
            for group, settings in zip(self.optimizer.param_groups, parameter_groups(self.network, config.train.lr)):
                group["lr"] = settings.get("lr", config.train.lr)  # --resume --lr: the new rate from here on
            if self.group.main:  # against the course the checkpoint was made with (older ones: the saved config)
                before = self.state.get("course") or course_of(Run.open(self.run.path).config)
                self.course_change = course_change(before, config, self.state["epoch"])
                self.run.restore_metrics()  # the metrics line a kill after the checkpoint lost, written again
                self.run.save_config()  # only now, once the checkpoint loaded: what changed on resume is recorded
        self.state["course"] = course_of(config)  # kept in each checkpoint, for the next resume to compare
        self.step_model = self._step_model()

    def _prepare_run(self, out: str | Path | None, resume: bool) -> Run | None:
        """Rank 0 makes (or, resuming, updates) the run folder; every process learns whether that worked."""
        if out is None:
            return None
        run, problem = Run(out, self.config), None
        if self.group.main:
            try:
                if resume and run.has_checkpoint:
                    run.claim()
                else:  # a new folder, or one a run left before its first checkpoint: started afresh
                    restarting = unfinished(out)
                    run = Run.create(out, self.config, self.data)
                    if restarting:  # said once the folder is ours
                        self.log(f"{out} holds no finished epoch (stopped before its first checkpoint): "
                                 "training it from the start")
            except Exception as e:  # noqa: BLE001  any failure must reach the other processes, or they wait
                problem = e
        if not self.group.all_ok(problem is None, self.device):
            raise problem or ResourceError("stopped: the first training process could not prepare the run folder")
        return run

    def _step_model(self) -> torch.nn.Module:
        """What the training step calls: the model, wrapped for gradient averaging and compiled as asked.

        Built after a resume has loaded the checkpoint, so every process starts from the same weights."""
        step_model: torch.nn.Module = self.network
        if self.group.distributed:
            from torch.nn.parallel import DistributedDataParallel

            # Not static_graph=True: with it, torch 2.13's DDP silently skips averaging the gradients
            # of a model whose output is a dataclass (LossTerms); tests/test_distributed.py checks.
            # gradient_as_bucket_view: gradients live in DDP's communication buckets, saving a copy per step
            step_model = DistributedDataParallel(
                self.network, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                gradient_as_bucket_view=True)
        if self.config.train.compile:
            step_model = torch.compile(step_model)
        return step_model

    @property
    def autocast_bf16(self) -> bool:
        precision = self.config.train.precision
        return precision == "bf16" or (precision == "auto" and self.device.type == "cuda")

    # --- bookkeeping ---------------------------------------------------------------------------
    @torch.no_grad()
    def _flush_subnormal_moments(self) -> None:
        """Zero Adam moments that have decayed into float32's subnormal range.

        Pixels that are almost never on get zero gradients, so their moments shrink by 0.9 per
        step until they are subnormal, where CPU arithmetic is many times slower (docs/design-notes.md
        measures it on MNIST). Next to Adam's eps = 1e-8 they move a weight by under 1e-30, so
        flushing them changes nothing visible.
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
        return all(bool(torch.isfinite(p).all()) for p in self.network.parameters())

    def _diverged(self, losses: Tensor, first_step: int, epoch: int) -> None:
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            step = first_step + int(bad[0])
            value = float(losses[int(bad[0])])
            kept = self._what_is_kept()
            raise TrainingDiverged(
                f"loss became {value} at epoch {epoch}, step {step + 1} (global step "
                f"{self.state['step'] + step + 1}); {kept}. {self._way_forward()}")

    def _way_forward(self) -> str:
        if self.run is None or not self.state["epoch"]:
            return "Try a lower {lr}, {grad_clip} 10 or {kl_warmup}"
        return "Continue it with {resume} and a lower {lr}, {grad_clip} 10 or {kl_warmup}"

    def _what_is_kept(self) -> str:
        saved = self.state["epoch"]
        if self.run is None or not saved:
            return "nothing was saved"
        return f"the checkpoint of epoch {saved} is kept"

    def _training_batch(self, idx: Tensor) -> Tensor:
        if self.train_levels is not None:
            return binarize_levels(self.train_levels.index_select(0, idx), self.generator)
        x = self.data.as_values(self.x_train.index_select(0, idx))
        return presented(x, self.config.data.binarize, self.generator)

    # --- the loop ------------------------------------------------------------------------------
    def fit(self) -> VAE:
        """Train up to `config.train.epochs`, validating, checkpointing and logging after each epoch.

        Returns the model with the kept weights (the best validation epoch's), the same weights the
        run folder's model.safetensors holds, so a caller measures what `vaelab.load` would give."""
        if self.state["epoch"] == 0 and not self.config.model.reads_tokens:
            self.log(describe_likelihood(self.config, summarize(self.data)))
        if self.state["epoch"] >= self.config.train.epochs:
            self.log(f"run already has {self.state['epoch']} epochs (asked for {self.config.train.epochs}); "
                     "nothing to do")
        view = self._view()
        self._call("on_train_start", view)
        try:
            for epoch in range(self.state["epoch"] + 1, self.config.train.epochs + 1):
                record = self._end_epoch(epoch, self.train_epoch(epoch))
                self._call("on_epoch_end", view, record)
        except BaseException as error:
            self._call("on_train_end", view, error)
            raise
        finally:
            # Drop the DDP wrapper: its reducer holds the process group and hooks on the network's
            # parameters, and the network outlives this trainer (the caller's Model).
            self.step_model = self.network
        self._restore_kept_weights()
        self._call("on_train_end", view, None)  # with the kept weights, which the caller gets
        return self.network

    def _view(self) -> TrainingView:
        examples = self.x_val[:8] if len(self.x_val) else None
        labels = self.data.val_labels[:8] if examples is not None and self.config.model.conditional else None
        return TrainingView(self.config, self.run, self.network, examples, labels, self.state["epoch"] + 1, self.data)

    def _call(self, hook: str, *args) -> None:
        """Call a hook of every callback. A callback's own failure (a tracking server gone) stops the
        training as a ResourceError naming it; at the end of a failed training it is dropped, so the
        failure that ended training is the one reported."""
        for callback in self.callbacks:
            try:
                getattr(callback, hook)(*args)
            except VaelabError:
                if not (hook == "on_train_end" and args[-1] is not None):
                    raise
            except Exception as e:  # noqa: BLE001  whatever the callback's library raises
                if not (hook == "on_train_end" and args[-1] is not None):
                    raise ResourceError(f"the callback {type(callback).__name__} failed in {hook}: "
                                        f"{excerpt(str(e) or type(e).__name__)}") from e

    def _restore_kept_weights(self) -> None:
        if self.state["best_epoch"] in (None, self.state["epoch"]):
            return  # the last epoch is the kept one (or nothing was kept): the model already holds it
        if self.best_state is not None:
            self.network.load_state_dict(self.best_state)
        elif self.run is not None:  # resumed after the best epoch: the run folder holds it
            self.run.load_weights(self.network)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the shuffled training set. Returns the epoch's mean loss terms and its seconds."""
        cfg = self.config.train
        n = len(self.x_train)
        steps = math.ceil(n / cfg.batch_size)
        warmup_steps = int(round(cfg.kl_warmup * steps))
        self.network.train()
        # Per step: this process's loss, recon, reg (batch means of its rows) and its rows' count.
        # Weighted by the counts and summed over processes, they give the global batch's means.
        terms_log = torch.zeros(steps, 3, device=self.device)  # read rarely: only at checks
        rows = [cfg.batch_size] * (steps - 1) + [n - (steps - 1) * cfg.batch_size]  # each global batch's
        shards = [self.group.shard(size) for size in rows]  # (first, stop, share) of this process, per step
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
                terms = self.step_model(x, beta=beta, generator=self.generator, cond=cond, dataset_size=n)
            self.optimizer.zero_grad(set_to_none=True)
            # DDP averages gradients over processes; weighting each by its share of the batch (times
            # the world size) makes that average the gradient of the whole batch's mean loss.
            weight = share * self.group.world
            (terms.loss if weight == 1 else terms.loss * weight).backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.network.parameters(), cfg.grad_clip, foreach=True)
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

    def _end_epoch(self, epoch: int, result: dict[str, float]) -> dict[str, Any]:
        """Validate, keep, checkpoint and log the epoch; return its metrics.jsonl record."""
        if not self._weights_finite():
            raise TrainingDiverged(f"weights became non-finite in epoch {epoch}; {self._what_is_kept()}. "
                                   f"{self._way_forward()}")
        record = {"epoch": epoch, "step": self.state["step"], "train_loss": result["loss"],
                  "train_recon": result["recon"], "train_reg": result["reg"], "beta": result["beta"],
                  "seconds": round(result["seconds"], 3), "images_per_s": round(result["n"] / result["seconds"], 1),
                  "processes": self.group.world}
        best = False
        if len(self.x_val):
            record.update(validation_loss(self.network, self.x_val, self.config, cond=self.c_val, group=self.group,
                                          dataset_size=len(self.x_train)))
            best = self.state["best_val"] is None or record["val_loss"] < self.state["best_val"]
        else:
            best = True  # no validation split: keep the latest weights
        self.state["epoch"] = epoch
        if best:
            self.state["best_val"], self.state["best_epoch"] = record.get("val_loss"), epoch
            self.best_state = {k: v.detach().clone() for k, v in self.network.state_dict().items()}
        record["best"] = best
        if self.course_change is not None:  # the first epoch after a resume that changed course says so
            record["course_change"], self.course_change = self.course_change, None
        if self.run is not None and self.group.main:
            if best:
                self.run.save_weights(self.network, epoch)
            self.run.save_checkpoint(self.network, self.optimizer, self.generator, self.state, record)
            self.run.append_metrics(record)
        val = f"  val {record['val_loss']:.2f}" if "val_loss" in record else ""
        if "val_active_units" in record:
            val += f"  active {record['val_active_units']}/{self.config.model.latent_dim}"
        self.log(f"epoch {epoch}/{self.config.train.epochs}  train {result['loss']:.2f} (recon {result['recon']:.2f}, "
                 f"reg {result['reg']:.2f}){val}  {result['seconds']:.1f}s  {record['images_per_s']:.0f} img/s"
                 + ("  *best" if best else ""))
        return record


def course_of(config: RunConfig) -> dict[str, float]:
    """How the run learns: what `--resume` may change and the metrics then note."""
    return {name: getattr(config.train, name) for name in COURSE}


def course_change(before: dict[str, Any], now: RunConfig, epoch: int) -> dict[str, Any] | None:
    """What a resume changed of how the run learns (lr, clipping, warm-up), for the next metrics line:
    from there on the run is not the one a straight training would have made."""
    changed = {name: {"was": before.get(name), "now": value} for name, value in course_of(now).items()
               if before.get(name) != value}
    return {"after_epoch": epoch, **changed} if changed else None


def train(config: RunConfig, data: Splits, out: str | Path | None = None, *, resume: bool = False,
          progress: bool = True, callbacks: list[Callback] | tuple[Callback, ...] = ()) -> Model:
    """Train on in-memory splits; with `out`, write (or with `resume`, continue) a run folder there."""
    trainer = Trainer(config, data, out, resume=resume, progress=progress,  # bad input raises before any write
                      callbacks=callbacks)
    try:
        network = trainer.fit()
    except BaseException:
        if trainer.creates_run_dir:
            trainer.run.discard_if_unfinished()  # a run that never finished an epoch leaves no folder behind
        raise
    finally:
        if trainer.run is not None:
            trainer.run.release()
    return Model(network, config, trainer.run)
