"""The code blocks of the README and the documentation pages, and how the tests run them.

Every fenced block is run as written, or says why not on the line right after its closing fence:

    <!-- not run: REASON -->   never run (a server, an install, output shown, a synopsis)
    <!-- slow: REASON -->      run by `make test-slow` only (tutorials: minutes of training)

A page's blocks run in order, as a reader would type them, in one working folder that starts
with the files the pages name (`prepare`): a folder of photos, IDX files, a CSV table, a SMILES
file, and the small run folders runs/demo and runs/mol. Python blocks run in a fresh interpreter,
bash blocks under `bash -euo pipefail`, both with this environment's `vaelab` first on the PATH.

    python tests/docs_blocks.py docs/tutorials/ae-vs-vae.md --workdir /tmp/tut   # run one page by hand
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<code>.*?)^```\n(?:<!-- (?P<kind>not run|slow): (?P<why>[^>]+?) -->)?",
                   re.S | re.M)
RUNNABLE = ("python", "bash")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    code: str
    kind: str | None  # None (run), "not run" or "slow"
    why: str | None

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    return [Block(page, text.count("\n", 0, m.start()) + 1, m["lang"], m["code"], m["kind"], m["why"])
            for m in FENCE.finditer(text)]


# --- the working folder ----------------------------------------------------------------------------
def vaelab_command(*args: str, cwd: Path) -> None:
    result = subprocess.run([str(Path(sys.executable).parent / "vaelab"), *args], cwd=cwd, capture_output=True,
                            text=True, timeout=600, env=environment())
    if result.returncode != 0:
        raise RuntimeError(f"vaelab {' '.join(args)} failed:\n{result.stderr[-3000:]}")


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("OMP_NUM_THREADS", "1")  # small models on a shared machine: one thread is faster
    return env


def write_photos(folder: Path, n: int = 240) -> None:
    """Colour photos of 48x36 pixels (not square), smooth colour gradients with a blob, in two class folders."""
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:36, 0:48] / 48.0
    for i in range(n):
        cls = ("cats", "dogs")[i % 2]
        (folder / cls).mkdir(parents=True, exist_ok=True)
        base = rng.uniform(0, 1, 3)[None, None, :] * (0.5 + 0.5 * xx[..., None])
        blob = np.exp(-((xx - rng.uniform(0.3, 0.7)) ** 2 + (yy - 0.35) ** 2) * 40)[..., None]
        pixels = np.clip(base * (1 - blob) + rng.uniform(0, 1, 3) * blob, 0, 1)
        Image.fromarray((pixels * 255).astype(np.uint8)).save(folder / cls / f"{i:03d}.jpg", quality=95)


def write_table(path: Path, n: int = 300) -> None:
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 4)) + label[:, None] * [2.0, 0.0, -1.0, 0.5]
    rows = ["a,b,c,d,label"] + [",".join(f"{v:.4f}" for v in row) + f",{'ab'[k]}" for row, k in zip(x, label)]
    path.write_text("\n".join(rows) + "\n")


def prepare(workdir: Path) -> Path:
    """The files the pages name, made once into `workdir` (copy it for each page)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import write_tiny_idx

    workdir.mkdir(parents=True, exist_ok=True)
    write_photos(workdir / "my_photos")
    write_tiny_idx(workdir / "my_idx")
    write_table(workdir / "table.csv")
    shutil.copy(ROOT / "tests" / "data" / "molecules.smi", workdir / "molecules.smi")
    vaelab_command("train", "--limit", "1500", "--epochs", "1", "--latent-dim", "32", "--quiet", "--out", "runs/demo",
                   cwd=workdir)
    vaelab_command("train", "--data", "molecules.smi", "--latent-dim", "4", "--hidden", "16", "--epochs", "1",
                   "--val-size", "20", "--quiet", "--out", "runs/mol", cwd=workdir)
    return workdir


# --- running a page ----------------------------------------------------------------------------------
def run_block(block: Block, workdir: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    if block.lang == "python":
        command = [sys.executable, "-c", block.code]
    else:
        command = ["bash", "-euo", "pipefail", "-c", block.code]
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=environment())


def run_page(page: Path, workdir: Path, slow: bool = False, echo: bool = False) -> list[tuple[Block, str]]:
    """Run the page's blocks in order (the slow ones too with `slow`); (block, stdout) for each run.
    Raises AssertionError naming the block that failed, with its stderr."""
    outputs = []
    for block in blocks(page):
        if block.kind == "not run" or (block.kind == "slow" and not slow):
            continue
        result = run_block(block, workdir)
        if echo:
            print(f"--- {block.name}\n{result.stdout}{result.stderr[-2000:]}")
        assert result.returncode == 0, f"{block.name} failed (exit {result.returncode}):\n{result.stderr[-4000:]}"
        assert "Traceback" not in result.stderr, f"{block.name} printed a traceback:\n{result.stderr[-4000:]}"
        outputs.append((block, result.stdout))
    return outputs


def main() -> None:
    p = argparse.ArgumentParser(description="Run a documentation page's code blocks, slow ones included.")
    p.add_argument("page", type=Path)
    p.add_argument("--workdir", type=Path, required=True, help="a new folder to run them in")
    args = p.parse_args()
    if args.workdir.exists():
        sys.exit(f"{args.workdir} exists: give a new folder")
    run_page(args.page.resolve(), prepare(args.workdir), slow=True, echo=True)


if __name__ == "__main__":
    main()
