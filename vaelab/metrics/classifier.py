"""A digit classifier used as a judge: does a generated or edited image still look like its class?

A small CNN trained once on MNIST's 50k training images (grey levels, plus one dynamic
binarization per batch so that it also reads binary-looking images), checked on the 10k test
set, and cached as safetensors beside the MNIST cache. Decoded VAE images are pixel
probabilities in [0, 1], the same range it was trained on.
"""
from __future__ import annotations

import json

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ..data import binarize
from ..errors import ResourceError
from ..progress import progress_bar
from ..io import atomic_path

CACHE_NAME = "digit-classifier-v1.safetensors"


class DigitClassifier(nn.Module):
    """(B, 1, 28, 28) in [0, 1] -> (B, classes) logits."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 14x14
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 7x7
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.reshape(-1, 1, 28, 28))

    @torch.no_grad()
    def probabilities(self, x: Tensor, batch_size: int = 1000) -> Tensor:
        self.eval()
        x = x.reshape(-1, 1, 28, 28).float()
        return torch.cat([F.softmax(self(x[i:i + batch_size]), -1) for i in range(0, len(x), batch_size)])

    def predict(self, x: Tensor) -> Tensor:
        return self.probabilities(x).argmax(-1)


def train_classifier(images: Tensor, labels: Tensor, *, classes: int = 10, epochs: int = 3, batch_size: int = 128,
                     lr: float = 1e-3, seed: int = 0, progress: bool = True) -> DigitClassifier:
    torch.manual_seed(seed)
    model = DigitClassifier(classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    x, y = images.reshape(-1, 1, 28, 28).float(), labels.long()
    steps = -(-len(x) // batch_size)
    bar = progress_bar(epochs * steps, "training the digit classifier", progress, unit="batch", lines=True)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(steps):
            idx = perm[i * batch_size:(i + 1) * batch_size]
            xb = x[idx]
            if i % 2:  # every other batch binarized: the judge must read sharp and blurry digits alike
                xb = binarize(xb, g)
            loss = F.cross_entropy(model(xb), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            bar.update()
    bar.close()
    return model.eval()


def digit_classifier(progress: bool = True) -> DigitClassifier:
    """The cached MNIST judge, trained on first use (a minute or two on a laptop's CPU; its test accuracy
    is stored with it, see `classifier_test_accuracy`)."""
    from ..data.mnist import cache_dir, load_mnist

    path = cache_dir() / CACHE_NAME
    model = DigitClassifier()
    if path.is_file():
        try:
            model.load_state_dict(load_file(str(path)))
            return model.eval()
        except (SafetensorError, RuntimeError, OSError):
            pass  # a damaged cache is rebuilt below
    t, denominator = load_mnist()
    model = train_classifier(t["train_images"].float() / denominator, t["train_labels"], progress=progress)
    accuracy = float((model.predict(t["test_images"].float() / denominator) == t["test_labels"]).float().mean())
    if accuracy < 0.97:
        raise ResourceError(f"the digit classifier reached only {accuracy:.3f} test accuracy; not caching it")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp),
                  metadata={"test_accuracy": json.dumps(accuracy), "trained_on": "mnist train (50k)"})
    return model


def classifier_test_accuracy() -> float | None:
    """The MNIST test accuracy recorded when the cached classifier was trained."""
    from safetensors import safe_open

    from ..data.mnist import cache_dir

    path = cache_dir() / CACHE_NAME
    if not path.is_file():
        return None
    with safe_open(str(path), "pt") as f:
        return json.loads((f.metadata() or {}).get("test_accuracy", "null"))
